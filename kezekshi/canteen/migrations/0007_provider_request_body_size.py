"""A stored provider request keeps its body's size: a body over 64 KB is stored cut, and
its size shows it. Requests stored before were never cut: their size is their body's."""

from django.db import migrations, models


def sizes(apps, schema_editor):
    ProviderRequest = apps.get_model("canteen", "ProviderRequest")
    for pk, body in ProviderRequest.objects.values_list("pk", "body").iterator():
        ProviderRequest.objects.filter(pk=pk).update(body_size=len(bytes(body or b"")))


class Migration(migrations.Migration):

    dependencies = [
        ('canteen', '0006_reconciliation_account_and_repeats'),
    ]

    operations = [
        migrations.AddField(
            model_name='providerrequest',
            name='body_size',
            field=models.PositiveIntegerField(default=0),
        ),
        migrations.RunPython(sizes, migrations.RunPython.noop),
    ]
