"""A top-up keeps the provider's time when it could not be the booking time.

On SQLite adding a column with a default rebuilds the table, which drops its triggers:
the ledger's append-only triggers (0002) are made again after it.
"""

from django.db import migrations, models

from kezekshi.canteen.triggers import create_ledger_triggers


def triggers(apps, schema_editor):
    with schema_editor.connection.cursor() as cursor:
        create_ledger_triggers(schema_editor.connection, cursor)


class Migration(migrations.Migration):

    dependencies = [
        ('canteen', '0004_provider_answer_account_amount'),
    ]

    operations = [
        migrations.AddField(
            model_name='ledgertransaction',
            name='provider_time',
            field=models.CharField(blank=True, max_length=40, verbose_name="provider's time, not used"),
        ),
        migrations.RunPython(triggers, migrations.RunPython.noop),
    ]
