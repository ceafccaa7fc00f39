"""Database triggers that refuse UPDATE and DELETE on ledger transactions and entries.

The application already refuses; these make the database refuse too, so a stray script
or an admin shell cannot rewrite the money's history without dropping a trigger first.
"""

from django.db import migrations

from kezekshi.canteen.triggers import create_ledger_triggers, drop_ledger_triggers


def create(apps, schema_editor):
    with schema_editor.connection.cursor() as cursor:
        create_ledger_triggers(schema_editor.connection, cursor)


def drop(apps, schema_editor):
    with schema_editor.connection.cursor() as cursor:
        drop_ledger_triggers(schema_editor.connection, cursor)


class Migration(migrations.Migration):
    dependencies = [("canteen", "0001_ledger")]
    operations = [migrations.RunPython(create, drop)]
