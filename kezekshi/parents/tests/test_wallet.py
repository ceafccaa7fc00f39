"""The child's canteen wallet in the parents' app: balance, movements, top-up by account
number seen within seconds, moving money to a sibling; own children only."""

from __future__ import annotations

import base64
import datetime as dt
import re
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from django.utils import timezone

from kezekshi.canteen import services
from kezekshi.canteen.models import LedgerTransaction, PaymentProvider
from kezekshi.canteen.payments.common import password_digest
from kezekshi.conftest import run_tasks
from kezekshi.core.models import SmsMessage
from kezekshi.people.models import Pupil
from kezekshi.privacy.requests import block_person
from kezekshi.privacy.tests.family import Family, make_family, signed_in, stranger_with_child

pytestmark = pytest.mark.django_db
ALMATY = ZoneInfo("Asia/Almaty")


@pytest.fixture
def family(pupil: Pupil) -> Family:
    return make_family(pupil)


@pytest.fixture
def kaspi(db: None) -> PaymentProvider:
    return PaymentProvider.objects.create(
        code="kaspi",
        name="Kaspi.kz",
        protocol="kaspi",
        username="kaspi",
        password_digest=password_digest("secret-password"),
        allowed_networks="194.187.247.0/24",
    )


def kaspi_pays(
    client: Any, account: str, amount: str, txn_id: str, paid_at: dt.datetime | None = None
) -> Any:
    token = base64.b64encode(b"kaspi:secret-password").decode()
    when = paid_at or timezone.now() - dt.timedelta(hours=1)
    txn_date = when.astimezone(ALMATY).strftime("%Y%m%d%H%M%S")
    return client.get(
        f"/payments/kaspi/?command=pay&txn_id={txn_id}&account={account}&sum={amount}"
        f"&txn_date={txn_date}",
        headers={"Authorization": f"Basic {token}"},
        REMOTE_ADDR="194.187.247.1",
    )


def test_a_new_child_has_an_empty_wallet_and_the_account_number_to_top_up(family: Family) -> None:
    response = signed_in(family.mother).get(f"/app/children/{family.first.pk}/wallet/")

    assert response.status_code == 200
    page = response.content.decode()
    assert 'id="balance">0.00 ₸' in page or 'id="balance">0 ₸' in page
    assert family.first.account_number in page
    assert "No movements yet." in page
    assert f"/app/children/{family.first.pk}/wallet/live/" in page and "setTimeout" in page


def test_a_kaspi_top_up_shows_at_the_next_refresh_and_the_parent_is_told(
    family: Family, kaspi: PaymentProvider, client: Any
) -> None:
    mother = signed_in(family.mother)
    before = mother.get(f"/app/children/{family.first.pk}/wallet/live/").content.decode()

    # when: the grandmother pays 1,500 tenge through Kaspi
    paid_at = timezone.now() - dt.timedelta(hours=2)
    kaspi_pays(client, family.first.account_number, "1500.00", "9001", paid_at)

    # then: the live part of the page shows it at once, with the provider
    after = mother.get(f"/app/children/{family.first.pk}/wallet/live/")
    assert "no-store" in after["Cache-Control"]
    page = after.content.decode()
    assert "0.00" in before and 'id="balance">1500.00 ₸' in page
    assert (
        "+1500.00" in page
        and "Top-up: Kaspi.kz" in page
        and paid_at.astimezone(ALMATY).strftime("%d.%m.%Y %H:%M") in page
    )
    # and the mother gets an SMS about it (the notice was committed with the money)
    run_tasks()
    text = SmsMessage.objects.get(phone=family.mother.phone).text
    assert "1\u202f500.00" in text and "Kaspi.kz" in text


def test_a_wallet_within_its_overdraft_is_not_said_to_stop_purchases(
    family: Family, kaspi: PaymentProvider, school: Any, make_user: Any
) -> None:
    wallet = services.wallet_for(pupil=family.first)
    admin = make_user(None, school)
    services.set_overdraft(wallet=wallet, limit=Decimal("500"), by=admin, reason="Келісім")
    services.charge_sale(wallet=wallet, amount=Decimal("200.00"), external_id="t1", items="Ас")
    live = f"/app/children/{family.first.pk}/wallet/live/"
    mother = signed_in(family.mother)

    within = mother.get(live).content.decode()
    services.set_overdraft(wallet=wallet, limit=Decimal("100"), by=admin, reason="Азайту")
    below = mother.get(live).content.decode()

    assert 'id="balance">-200.00 ₸' in within
    assert "purchases resume after a top-up" not in within
    assert "purchases resume after a top-up" in below


def test_purchases_and_refunds_are_listed_newest_first(
    family: Family, kaspi: PaymentProvider
) -> None:
    wallet = services.wallet_for(pupil=family.first)
    services.credit_topup(
        wallet=wallet,
        provider=kaspi,
        amount=Decimal("1000"),
        txn_id="1",
        booked_at=timezone.now() - dt.timedelta(minutes=5),
    )
    services.charge_sale(
        wallet=wallet, amount=Decimal("350.00"), external_id="t1", items="Палау, компот"
    )

    page = signed_in(family.mother).get(f"/app/children/{family.first.pk}/wallet/").content.decode()

    rows = re.findall(r"<td>([^<]*)</td>\s*<td>(-?\+?[0-9.]+)</td>", page)
    assert [amount for _what, amount in rows] == ["-350.00", "+1000.00"]
    assert "Purchase: Палау, компот" in page
    assert 'id="balance">650.00 ₸' in page


def test_someone_elses_child_has_no_wallet_page(family: Family, school: Any) -> None:
    stranger, _child = stranger_with_child(school)
    client = signed_in(stranger)
    for path in ("", "live/"):
        assert client.get(f"/app/children/{family.first.pk}/wallet/{path}").status_code == 404
    response = client.post(
        f"/app/children/{family.first.pk}/wallet/transfer/", {"to": family.second.pk, "amount": "1"}
    )
    assert response.status_code == 404


def test_a_blocked_child_is_shown_only_to_the_legal_representative(family: Family) -> None:
    block_person(person=family.first.person, by=None, reason="request")

    assert (
        signed_in(family.grandmother).get(f"/app/children/{family.first.pk}/wallet/").status_code
        == 404
    )
    assert (
        signed_in(family.mother).get(f"/app/children/{family.first.pk}/wallet/").status_code == 200
    )


def test_a_parent_moves_money_to_a_sibling_once_per_form(
    family: Family, kaspi: PaymentProvider
) -> None:
    first = services.wallet_for(pupil=family.first)
    services.credit_topup(
        wallet=first,
        provider=kaspi,
        amount=Decimal("1000.00"),
        txn_id="1",
        booked_at=timezone.now(),
    )
    client = signed_in(family.mother)
    page = client.get(f"/app/children/{family.first.pk}/wallet/").content.decode()
    key = re.search(r'name="key" value="([0-9a-f]+)"', page).group(1)  # type: ignore[union-attr]
    form = {"to": family.second.pk, "amount": "250,50", "key": key}

    response = client.post(f"/app/children/{family.first.pk}/wallet/transfer/", form, follow=True)
    client.post(f"/app/children/{family.first.pk}/wallet/transfer/", form)  # pressed twice

    assert "250.50 ₸ moved to Арман." in response.content.decode()
    first.refresh_from_db()
    second = services.wallet_for(pupil=family.second)
    assert (first.balance, second.balance) == (Decimal("749.50"), Decimal("250.50"))
    assert LedgerTransaction.objects.filter(kind="transfer").count() == 1


@pytest.mark.parametrize(
    ("amount", "message"),
    [
        ("abc", "Enter an amount in tenge"),
        ("-5", "Enter an amount in tenge"),
        ("5000", "There is not enough money on the pupil&#x27;s balance."),
    ],
)
def test_a_transfer_that_cannot_be_done_says_why_and_moves_nothing(
    family: Family, amount: str, message: str
) -> None:
    client = signed_in(family.mother)
    response = client.post(
        f"/app/children/{family.first.pk}/wallet/transfer/",
        {"to": family.second.pk, "amount": amount, "key": "abc123"},
        follow=True,
    )
    assert message in response.content.decode()
    assert not LedgerTransaction.objects.exists()


def test_the_grandmother_who_does_not_represent_the_child_gets_no_transfer_form(
    family: Family,
) -> None:
    page = signed_in(family.grandmother).get(f"/app/children/{family.first.pk}/wallet/")
    assert page.status_code == 200
    assert "Move money to a sibling" not in page.content.decode()


def test_the_api_gives_the_wallet_with_amounts_as_text(
    family: Family, kaspi: PaymentProvider, school: Any
) -> None:
    wallet = services.wallet_for(pupil=family.first)
    services.credit_topup(
        wallet=wallet, provider=kaspi, amount=Decimal("0.10"), txn_id="1", booked_at=timezone.now()
    )

    answer = signed_in(family.mother).get(f"/api/v1/canteen/children/{family.first.pk}/wallet")
    stranger, _child = stranger_with_child(school)
    refused = signed_in(stranger).get(f"/api/v1/canteen/children/{family.first.pk}/wallet")

    assert answer.status_code == 200
    body = answer.json()
    assert body["balance"] == "0.10" and body["account_number"] == family.first.account_number
    assert body["movements"][0]["amount"] == "0.10" and body["movements"][0]["kind"] == "topup"
    assert refused.status_code == 404


def test_the_childs_wallet_is_in_the_familys_export_of_everything_held(
    family: Family, kaspi: PaymentProvider
) -> None:
    wallet = services.wallet_for(pupil=family.first)
    services.credit_topup(
        wallet=wallet, provider=kaspi, amount=Decimal("700"), txn_id="1", booked_at=timezone.now()
    )

    response = signed_in(family.mother).get(f"/app/privacy/{family.first.pk}/export.json")

    assert response.status_code == 200
    text = response.content.decode()
    assert "canteen_wallet" in text and "700.00" in text and family.first.account_number in text
