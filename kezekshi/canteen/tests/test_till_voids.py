"""Who may void and refund at the cashier's page: a cashier their own sales of today, the
canteen's manager (``canteen.manage``) any of today's sales of the school
(given / when / then)."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

import pytest
from django.test import Client

from kezekshi.accounts.roles import Role
from kezekshi.canteen.models import LedgerTransaction, Sale, Wallet
from kezekshi.canteen.tests.conftest import Menu, balance
from kezekshi.canteen.tests.test_till_refund import refund_form, sell
from kezekshi.conftest import verified_client
from kezekshi.core.models import School
from kezekshi.people.models import Pupil

pytestmark = pytest.mark.django_db


@pytest.fixture
def cashier(school: School, make_user: Any) -> Client:
    return verified_client(make_user(Role.CASHIER, school, language="en"))


@pytest.fixture
def colleague(school: School, make_user: Any) -> Client:
    """Another cashier of the same school, at the next till."""
    return verified_client(make_user(Role.CASHIER, school, language="en"))


@pytest.fixture
def manager(school: School, make_user: Any) -> Client:
    """The school's administrator: ``canteen.manage``."""
    return verified_client(make_user(Role.SCHOOL_ADMIN, school, language="en"))


def void(client: Client, sale: Sale, reason: str = "sold to the wrong pupil") -> Any:
    return client.post(f"/canteen/till/sales/{sale.pk}/void/", {"reason": reason})


def test_a_cashier_cannot_void_or_refund_another_cashiers_sale(
    cashier: Client, colleague: Client, funded: Wallet, pupil: Pupil, menu: Menu
) -> None:
    # given a sale of 600 ₸ made by the cashier, and its refund form's key
    sell(cashier, pupil, menu.item["plov"])
    sale = Sale.objects.get()
    form = refund_form(cashier, sale) | {"amount": "100", "reason": "cold"}
    # when the cashier at the next till sends a void and a refund of it
    assert void(colleague, sale).status_code == 404
    assert colleague.post(f"/canteen/till/sales/{sale.pk}/refund/", form).status_code == 404
    # then nothing is given back
    sale.refresh_from_db()
    assert sale.status == Sale.Status.SOLD
    assert balance(funded) == Decimal("1400.00")
    assert not LedgerTransaction.objects.filter(kind="sale_refund").exists()


def test_a_cashier_voids_and_refunds_their_own_sales(
    cashier: Client, funded: Wallet, pupil: Pupil, menu: Menu
) -> None:
    sell(cashier, pupil, menu.item["plov"])
    sell(cashier, pupil, menu.item["compote"])
    plov, compote = Sale.objects.order_by("pk")
    form = refund_form(cashier, plov) | {"amount": "100", "reason": "cold"}
    assert cashier.post(f"/canteen/till/sales/{plov.pk}/refund/", form).status_code == 302
    assert void(cashier, compote).status_code == 302
    compote.refresh_from_db()
    assert compote.status == Sale.Status.VOIDED
    assert balance(funded) == Decimal("1500.00")  # 2000 − 600 + 100


def test_the_canteens_manager_voids_and_refunds_any_of_todays_sales(
    cashier: Client, manager: Client, funded: Wallet, pupil: Pupil, menu: Menu
) -> None:
    sell(cashier, pupil, menu.item["plov"])
    sell(cashier, pupil, menu.item["compote"])
    plov, compote = Sale.objects.order_by("pk")
    form = refund_form(manager, plov) | {"amount": "100", "reason": "cold"}
    assert manager.post(f"/canteen/till/sales/{plov.pk}/refund/", form).status_code == 302
    assert void(manager, compote).status_code == 302
    compote.refresh_from_db()
    assert compote.status == Sale.Status.VOIDED
    assert balance(funded) == Decimal("1500.00")


def test_nobody_voids_or_refunds_an_earlier_days_sale_at_the_till(
    cashier: Client, manager: Client, funded: Wallet, pupil: Pupil, menu: Menu
) -> None:
    # given a sale the cashier made, seen as of yesterday
    sell(cashier, pupil, menu.item["plov"])
    sale = Sale.objects.get()
    form = refund_form(cashier, sale) | {"amount": "100", "reason": "cold"}
    Sale.objects.filter(pk=sale.pk).update(sold_at=sale.sold_at - dt.timedelta(days=1))
    # when the cashier or the manager voids or refunds it, then nothing is given back
    for client in (cashier, manager):
        void(client, sale)
        client.post(f"/canteen/till/sales/{sale.pk}/refund/", form)
    sale.refresh_from_db()
    assert sale.status == Sale.Status.SOLD
    assert balance(funded) == Decimal("1400.00")
    assert not LedgerTransaction.objects.filter(kind="sale_refund").exists()
