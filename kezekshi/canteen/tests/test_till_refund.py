"""A partial refund at the cashier's page, through the real URL stack: what the wallet
paid for a sale, given back in part, once per form (given / when / then)."""

from __future__ import annotations

import re
from decimal import Decimal
from typing import Any

import pytest
from django.test import Client

from kezekshi.accounts.roles import Role
from kezekshi.canteen.models import LedgerTransaction, Sale, Wallet
from kezekshi.canteen.tests.conftest import Menu, balance
from kezekshi.canteen.tests.test_staff_pages import txn_of
from kezekshi.conftest import verified_client
from kezekshi.core.models import School
from kezekshi.people.models import Pupil
from kezekshi.privacy.models import AuditEntry

pytestmark = pytest.mark.django_db


@pytest.fixture
def cashier(school: School, make_user: Any) -> Client:
    return verified_client(make_user(Role.CASHIER, school, language="en"))


def sell(cashier: Client, pupil: Pupil, *items: Any) -> Any:
    """Find the pupil at the till by account number and sell one of each item."""
    page = cashier.get("/canteen/till/", {"find": pupil.account_number, "kind": "account"})
    form = {"pupil": pupil.pk, "txn_id": txn_of(page.content.decode())}
    form |= {f"qty_{item.pk}": "1" for item in items}
    return cashier.post("/canteen/till/sell/", form)


def refund_form(cashier: Client, sale: Sale) -> dict[str, str]:
    """The hidden key of ``sale``'s refund form on the till page, as the form sends it."""
    page = cashier.get("/canteen/till/").content.decode()
    assert f'<tr id="sale-{sale.pk}">' in page, "the sale is not listed"
    row = re.search(rf'<tr id="refund-{sale.pk}">.*?</tr>', page, re.S)
    key = re.search(r'name="refund_id" value="([0-9a-f]{32})"', row.group(0) if row else "")
    assert key is not None, "no refund form for the sale"
    return {"refund_id": key.group(1)}


def test_a_partial_refund_credits_the_wallet_once_even_when_the_form_is_sent_twice(
    cashier: Client, funded: Wallet, pupil: Pupil, menu: Menu
) -> None:
    # given plov and compote sold for 750 ₸
    sell(cashier, pupil, menu.item["plov"], menu.item["compote"])
    sale = Sale.objects.get()
    assert balance(funded) == Decimal("1250.00")
    # when the compote is given back and the form is sent twice
    form = refund_form(cashier, sale) | {"amount": "150", "reason": "compote spilt"}
    first = cashier.post(f"/canteen/till/sales/{sale.pk}/refund/", form)
    second = cashier.post(f"/canteen/till/sales/{sale.pk}/refund/", form)
    # then 150 ₸ is back once
    assert first.status_code == 302 and second.status_code == 302
    assert balance(funded) == Decimal("1400.00")
    refunds = LedgerTransaction.objects.filter(kind=LedgerTransaction.Kind.SALE_REFUND)
    assert refunds.count() == 1
    assert refunds.get().reason == "compote spilt" and refunds.get().created_by is not None
    assert AuditEntry.objects.filter(target=f"canteen:sale_refund:{refunds.get().pk}").exists()
    page = cashier.get("/canteen/till/").content.decode()
    assert "150.00 ₸ returned to the balance of" in page
    # and the next form on the page offers at most what is left
    assert "up to 600.00 ₸" in page


def test_a_refund_above_what_the_wallet_paid_is_refused(
    cashier: Client, funded: Wallet, pupil: Pupil, menu: Menu
) -> None:
    sell(cashier, pupil, menu.item["plov"])
    sale = Sale.objects.get()
    form = refund_form(cashier, sale) | {"amount": "400", "reason": "half a plov"}
    cashier.post(f"/canteen/till/sales/{sale.pk}/refund/", form)
    assert balance(funded) == Decimal("1800.00")
    # a second refund (a new form) of 400 ₸ would be 800 of 600 ₸ paid
    again = refund_form(cashier, sale) | {"amount": "400", "reason": "the other half"}
    cashier.post(f"/canteen/till/sales/{sale.pk}/refund/", again)
    page = cashier.get("/canteen/till/").content.decode()
    assert "Refunds cannot exceed the original payment." in page
    assert "At most 200.00 ₸ can still be refunded." in page
    assert balance(funded) == Decimal("1800.00")
    assert LedgerTransaction.objects.filter(kind="sale_refund").count() == 1


@pytest.mark.parametrize("amount", ["0", "-5", "abc", "1.005", "", "1e3"])
def test_a_refund_of_an_impossible_amount_is_refused(
    amount: str, cashier: Client, funded: Wallet, pupil: Pupil, menu: Menu
) -> None:
    sell(cashier, pupil, menu.item["plov"])
    sale = Sale.objects.get()
    form = refund_form(cashier, sale) | {"amount": amount, "reason": "why not"}
    assert cashier.post(f"/canteen/till/sales/{sale.pk}/refund/", form).status_code == 302
    page = cashier.get("/canteen/till/").content.decode()
    assert "The amount must be positive, in tenge with at most 2 decimal places." in page
    assert balance(funded) == Decimal("1400.00")
    assert not LedgerTransaction.objects.filter(kind="sale_refund").exists()


def test_a_refund_needs_a_reason_and_a_voided_sale_has_nothing_to_refund(
    cashier: Client, funded: Wallet, pupil: Pupil, menu: Menu
) -> None:
    sell(cashier, pupil, menu.item["plov"])
    sale = Sale.objects.get()
    form = refund_form(cashier, sale) | {"amount": "100", "reason": ""}
    cashier.post(f"/canteen/till/sales/{sale.pk}/refund/", form)
    assert "Say why." in cashier.get("/canteen/till/").content.decode()
    cashier.post(f"/canteen/till/sales/{sale.pk}/void/", {"reason": "wrong pupil"})
    # the voided sale offers no refund, and a form sent anyway is refused
    page = cashier.get("/canteen/till/").content.decode()
    assert 'name="refund_id"' not in page
    form["reason"] = "again"
    cashier.post(f"/canteen/till/sales/{sale.pk}/refund/", form)
    assert "Nothing of this sale was paid from the balance." in (
        cashier.get("/canteen/till/").content.decode()
    )
    assert balance(funded) == Decimal("2000.00")
    assert not LedgerTransaction.objects.filter(kind="sale_refund").exists()


def test_a_refund_without_the_forms_key_is_refused(
    cashier: Client, funded: Wallet, pupil: Pupil, menu: Menu
) -> None:
    sell(cashier, pupil, menu.item["plov"])
    sale = Sale.objects.get()
    for key in ("", "not-a-key", "A" * 32):
        cashier.post(
            f"/canteen/till/sales/{sale.pk}/refund/",
            {"refund_id": key, "amount": "100", "reason": "x"},
        )
    assert "The form has expired. Open the page again." in (
        cashier.get("/canteen/till/").content.decode()
    )
    assert balance(funded) == Decimal("1400.00")


def test_refunds_at_the_till_are_for_the_tills_staff_of_this_school_only(
    cashier: Client,
    funded: Wallet,
    pupil: Pupil,
    menu: Menu,
    school: School,
    other_school: School,
    make_user: Any,
) -> None:
    sell(cashier, pupil, menu.item["plov"])
    sale = Sale.objects.get()
    form = refund_form(cashier, sale) | {"amount": "100", "reason": "x"}
    accountant = verified_client(make_user(Role.ACCOUNTANT, school, language="en"))
    assert accountant.post(f"/canteen/till/sales/{sale.pk}/refund/", form).status_code == 403
    foreign = verified_client(make_user(Role.CASHIER, other_school, language="en"))
    assert foreign.post(f"/canteen/till/sales/{sale.pk}/refund/", form).status_code == 404
    assert balance(funded) == Decimal("1400.00")
