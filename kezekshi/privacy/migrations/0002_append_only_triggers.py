"""Database triggers that refuse UPDATE and DELETE on the consent ledger and the audit log.

The application already refuses; these make the database refuse too, so a stray script
or an admin shell cannot rewrite history without dropping a trigger first (and the hash
chain would still show it).
"""

from django.db import migrations

from kezekshi.privacy.triggers import create_append_only_triggers, drop_append_only_triggers


def create(apps, schema_editor):
    with schema_editor.connection.cursor() as cursor:
        create_append_only_triggers(schema_editor.connection, cursor)


def drop(apps, schema_editor):
    with schema_editor.connection.cursor() as cursor:
        drop_append_only_triggers(schema_editor.connection, cursor)


class Migration(migrations.Migration):
    dependencies = [("privacy", "0001_initial")]
    operations = [migrations.RunPython(create, drop)]
