"""Setting providers up: ``manage.py payment_provider`` and the admin page."""

from __future__ import annotations

import io
from decimal import Decimal

import pytest
from django.core.management import CommandError, call_command

from kezekshi.accounts.models import User
from kezekshi.canteen.models import PaymentProvider
from kezekshi.conftest import verified_client

pytestmark = pytest.mark.django_db


def provider_command(*args: str) -> str:
    out = io.StringIO()
    call_command("payment_provider", *args, stdout=out)
    return out.getvalue()


def test_editing_a_deactivated_provider_keeps_it_deactivated() -> None:
    provider_command("kaspi", "--protocol", "kaspi", "--allow", "194.187.247.0/24")
    provider_command("kaspi", "--deactivate")

    provider_command("kaspi", "--name", "Kaspi.kz")
    assert not PaymentProvider.objects.get(code="kaspi").is_active

    provider_command("kaspi", "--activate")
    assert PaymentProvider.objects.get(code="kaspi").is_active


@pytest.mark.parametrize("amount", ["0", "-5", "0.00", "abc", "1e5", "NaN", "99999999999"])
def test_a_largest_payment_that_is_not_a_positive_amount_is_refused(amount: str) -> None:
    provider_command("kaspi", "--protocol", "kaspi")

    with pytest.raises(CommandError):
        provider_command("kaspi", "--max-amount", amount)

    assert PaymentProvider.objects.get(code="kaspi").max_amount == Decimal("500000.00")


def test_the_largest_payment_can_be_set() -> None:
    provider_command("kaspi", "--protocol", "kaspi", "--max-amount", "200000")
    assert PaymentProvider.objects.get(code="kaspi").max_amount == Decimal("200000.00")


def test_the_code_is_read_only_in_admin_once_the_provider_exists(db: None) -> None:
    operator = User.objects.create_superuser(email="ops@kezekshi.kz", password="x" * 20)
    client = verified_client(operator)
    provider_command("kaspi", "--protocol", "kaspi", "--max-amount", "1000")
    provider = PaymentProvider.objects.get(code="kaspi")

    adding = client.get("/admin/canteen/paymentprovider/add/").content.decode()
    changing = client.get(f"/admin/canteen/paymentprovider/{provider.pk}/change/")
    client.post(
        f"/admin/canteen/paymentprovider/{provider.pk}/change/",
        {"code": "other", "name": "Kaspi.kz", "protocol": "kaspi", "is_active": "on",
         "allowed_networks": "", "max_amount": "1000.00"},
    )  # fmt: skip

    assert 'name="code"' in adding
    assert changing.status_code == 200 and 'name="code"' not in changing.content.decode()
    provider.refresh_from_db()
    assert provider.code == "kaspi" and provider.name == "Kaspi.kz"
