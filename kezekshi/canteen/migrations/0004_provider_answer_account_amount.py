"""A stored answer remembers the account and the sum its call asked for: only a call
asking the same is a repeat that gets the stored bytes. Answers stored before this
learn them from the request they answered."""

import json
import re
from decimal import Decimal
from urllib.parse import parse_qs

from django.db import migrations, models

AMOUNT = re.compile(r"^(0|[1-9][0-9]{0,11})(\.[0-9]{1,2})?$")
FIELDS = {"kaspi": ("account", "sum"), "osmp": ("account", "sum"),
          "cloudpayments": ("AccountId", "Amount")}


def _amount_key(text):
    if AMOUNT.fullmatch(text) and Decimal(text) > 0:
        return f"{Decimal(text).quantize(Decimal('0.01')):f}"
    return text[:20]


def _fields(request):
    body = bytes(request.body or b"")
    values = {key: items[-1] for key, items in parse_qs(request.query).items()}
    if request.content_type == "application/json":
        try:
            data = json.loads(body, parse_float=str, parse_int=str)
        except ValueError:
            data = {}
        if isinstance(data, dict):
            values.update({str(k): "" if v is None else str(v) for k, v in data.items()})
    else:
        text = body.decode("utf-8", errors="replace")
        values.update({key: items[-1] for key, items in parse_qs(text).items()})
    return values


def backfill(apps, schema_editor):
    ProviderAnswer = apps.get_model("canteen", "ProviderAnswer")
    for answer in ProviderAnswer.objects.select_related("request", "provider").iterator():
        account_field, amount_field = FIELDS.get(answer.provider.protocol, ("", ""))
        values = _fields(answer.request)
        ProviderAnswer.objects.filter(pk=answer.pk).update(
            account=values.get(account_field, "")[:40],
            amount=_amount_key(values.get(amount_field, "")),
        )


class Migration(migrations.Migration):

    dependencies = [
        ('canteen', '0003_menu_sales_free_meals'),
    ]

    operations = [
        migrations.AddField(
            model_name='provideranswer',
            name='account',
            field=models.CharField(blank=True, max_length=40),
        ),
        migrations.AddField(
            model_name='provideranswer',
            name='amount',
            field=models.CharField(blank=True, max_length=20),
        ),
        migrations.RunPython(backfill, migrations.RunPython.noop),
    ]
