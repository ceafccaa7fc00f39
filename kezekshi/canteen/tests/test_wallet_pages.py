"""The staff pages for pupils' wallets — the list, a pupil's statement and the overdraft —
through the real URL stack (given / when / then)."""

from __future__ import annotations

import re
from decimal import Decimal
from typing import Any

import pytest
from django.test import Client

from kezekshi.accounts.roles import Role
from kezekshi.canteen import services
from kezekshi.canteen.models import PaymentProvider, Sale, Wallet
from kezekshi.canteen.tests.conftest import Menu, balance, top_up
from kezekshi.canteen.tests.test_till_refund import sell
from kezekshi.conftest import make_school, verified_client
from kezekshi.core.models import School
from kezekshi.people import services as people_services
from kezekshi.people.models import Pupil, SchoolClass
from kezekshi.privacy.models import AuditEntry
from kezekshi.privacy.requests import block_person

pytestmark = pytest.mark.django_db


@pytest.fixture
def admin(school: School, make_user: Any) -> Client:
    return verified_client(make_user(Role.SCHOOL_ADMIN, school, language="en"))


@pytest.fixture
def cashier(school: School, make_user: Any) -> Client:
    return verified_client(make_user(Role.CASHIER, school, language="en"))


@pytest.fixture
def classmate(school: School) -> Pupil:
    """A pupil of another class, with no wallet yet."""
    other = SchoolClass.objects.create(school=school, grade=7, letter="Б", shift=1)
    return people_services.create_pupil(
        school=school, last_name="Абенов", first_name="Нұрлан", school_class=other
    )


def overdraft_changes(wallet: Wallet) -> int:
    return AuditEntry.objects.filter(target=f"canteen:overdraft:{wallet.pk}").count()


# --- the wallets page ---------------------------------------------------------------------


def test_the_admin_lists_wallets_by_class_and_finds_by_name_or_account(
    admin: Client, funded: Wallet, pupil: Pupil, classmate: Pupil
) -> None:
    # given a pupil with 2,000 ₸ and a classmate of another class without a wallet
    page = admin.get("/canteen/wallets/")
    assert page.status_code == 200
    text = page.content.decode()
    assert pupil.person.full_name in text and classmate.person.full_name in text
    assert pupil.account_number in text and "2000.00" in text
    # the list of names and money is a read of personal data
    assert AuditEntry.objects.filter(
        target="/canteen/wallets/", details__list="canteen_wallets"
    ).exists()

    by_class = admin.get("/canteen/wallets/", {"class": str(classmate.school_class_id)})
    assert classmate.person.full_name in by_class.content.decode()
    assert pupil.person.full_name not in by_class.content.decode()

    for search in ("сейтқали", "Әлия", pupil.account_number[:10]):
        found = admin.get("/canteen/wallets/", {"q": search}).content.decode()
        assert pupil.person.full_name in found, search
        assert classmate.person.full_name not in found, search


def test_a_wallet_below_zero_shows_its_debt(
    admin: Client, funded: Wallet, school: School, make_user: Any
) -> None:
    # given 2,000 ₸, an overdraft of 3,000 ₸ and 3,000 ₸ spent
    manager = make_user(Role.SCHOOL_ADMIN, school)
    services.set_overdraft(wallet=funded, limit=Decimal("3000.00"), by=manager, reason="agreed")
    services.charge_sale(
        wallet=funded, amount=Decimal("3000.00"), external_id="till-1", items="lunches"
    )
    row = _row_of(admin.get("/canteen/wallets/").content.decode(), funded.pupil)
    assert "<td>-1000.00</td>" in row and "<td>3000.00</td>" in row
    assert "<b>1000.00</b>" in row


def _row_of(page: str, pupil: Pupil) -> str:
    row = re.search(rf'<tr><td><a href="/canteen/wallets/{pupil.pk}/">.*?</tr>', page, re.S)
    assert row is not None, "the pupil is not listed"
    return row.group(0)


@pytest.mark.parametrize("role", [Role.CASHIER, Role.ACCOUNTANT, Role.GUARD, Role.CLASS_TEACHER])
def test_only_canteen_managers_open_the_wallet_pages(
    role: Role, school: School, pupil: Pupil, funded: Wallet, make_user: Any
) -> None:
    client = verified_client(make_user(role, school, language="en"))
    assert client.get("/canteen/wallets/").status_code == 403
    assert client.get(f"/canteen/wallets/{pupil.pk}/").status_code == 403
    refused = client.post(
        f"/canteen/wallets/{pupil.pk}/", {"limit": "1000", "reason": "let them eat"}
    )
    assert refused.status_code == 403
    assert balance(funded) == Decimal("2000.00")
    funded.refresh_from_db()
    assert funded.overdraft_limit == 0


def test_another_schools_admin_finds_no_wallet_here(
    pupil: Pupil, funded: Wallet, make_user: Any
) -> None:
    elsewhere = make_school(prefix=2002, region_code="astana")
    client = verified_client(make_user(Role.SCHOOL_ADMIN, elsewhere, language="en"))
    listed = client.get("/canteen/wallets/", {"q": pupil.account_number})
    assert listed.status_code == 200
    assert pupil.person.last_name not in listed.content.decode()
    assert client.get(f"/canteen/wallets/{pupil.pk}/").status_code == 404
    refused = client.post(f"/canteen/wallets/{pupil.pk}/", {"limit": "1000", "reason": "x"})
    assert refused.status_code == 404
    funded.refresh_from_db()
    assert funded.overdraft_limit == 0 and overdraft_changes(funded) == 0
    # nor a class of this school as a filter
    assert client.get("/canteen/wallets/", {"class": str(pupil.school_class_id)}).status_code == 404


# --- the statement and the overdraft --------------------------------------------------------


def test_the_statement_lists_movements_newest_first_with_the_balance_after_each(
    admin: Client, funded: Wallet, kaspi: PaymentProvider, pupil: Pupil
) -> None:
    # given 2,000 ₸ on 1 September, 500 ₸ more on the 4th, and a 350 ₸ purchase after it
    top_up(funded, kaspi, "500.00", "fund-2", at="2025-09-04 08:15")
    services.charge_sale(
        wallet=funded, amount=Decimal("350.00"), external_id="till-1", items="Borscht"
    )
    page = admin.get(f"/canteen/wallets/{pupil.pk}/")
    assert page.status_code == 200
    text = page.content.decode()
    assert 'id="balance">2150.00 ₸' in text
    statement = text.split('id="statement"', 1)[1]
    cells = re.findall(r"<td>([+-]?\d+\.\d\d)</td>", statement)
    # amount and balance after, newest first
    assert cells == ["-350.00", "2150.00", "+500.00", "2500.00", "+2000.00", "2000.00"]
    assert "Borscht" in statement
    # the pupil's money, movement by movement: a read of their data, naming them
    entry = AuditEntry.objects.get(target=f"/canteen/wallets/{pupil.pk}/")
    assert entry.person_id == pupil.person_id and entry.action == "view"
    assert entry.details["list"] == "canteen_wallet_statement"


def test_a_long_statement_pages_and_keeps_the_running_balance(
    admin: Client, wallet: Wallet, kaspi: PaymentProvider, pupil: Pupil
) -> None:
    # given 60 top-ups of 10 ₸ (one a minute)
    for n in range(60):
        top_up(wallet, kaspi, "10.00", f"t-{n}", at=f"2025-09-04 08:{n:02d}")
    first = admin.get(f"/canteen/wallets/{pupil.pk}/").content.decode()
    second = admin.get(f"/canteen/wallets/{pupil.pk}/", {"page": 2}).content.decode()
    balances = [
        re.findall(r"<td>([+-]?\d+\.\d\d)</td>", page.split('id="statement"', 1)[1])[1::2]
        for page in (first, second)
    ]
    assert balances[0][0] == "600.00" and balances[0][-1] == "110.00"
    assert balances[1] == ["100.00", "90.00", "80.00", "70.00", "60.00", "50.00", "40.00",
                           "30.00", "20.00", "10.00"]  # fmt: skip


def test_the_admin_sets_an_overdraft_with_a_reason_and_it_is_audited(
    admin: Client, funded: Wallet, pupil: Pupil
) -> None:
    answer = admin.post(
        f"/canteen/wallets/{pupil.pk}/", {"limit": "1500", "reason": "the family asked"}
    )
    assert answer.status_code == 302
    assert answer["Location"] == f"/canteen/wallets/{pupil.pk}/"
    funded.refresh_from_db()
    assert funded.overdraft_limit == Decimal("1500.00")
    entry = AuditEntry.objects.get(target=f"canteen:overdraft:{funded.pk}")
    assert entry.action == "change" and entry.person_id == pupil.person_id
    assert entry.details == {
        "overdraft": {"from": "0.00", "to": "1500.00"},
        "reason": "the family asked",
    }
    page = admin.get(f"/canteen/wallets/{pupil.pk}/").content.decode()
    assert "The overdraft is set to 1\u202f500.00 ₸." in page
    assert 'id="overdraft">1500.00 ₸' in page


@pytest.mark.parametrize(
    ("limit", "reason", "field", "message"),
    [
        ("-1", "the family asked", "limit", "The overdraft must be between 0 and"),
        ("50000.01", "the family asked", "limit", "The overdraft must be between 0 and"),
        ("1000000", "the family asked", "limit", "The overdraft must be between 0 and"),
        ("a lot", "the family asked", "limit", "Enter a number."),
        ("100.005", "the family asked", "limit", "no more than 2 decimal places"),
        ("", "the family asked", "limit", "This field is required."),
        ("1000", "", "reason", "Say why."),
        ("1000", "   ", "reason", "Say why."),
    ],
)
def test_bad_overdraft_input_is_refused_on_the_form_and_changes_nothing(
    admin: Client,
    funded: Wallet,
    pupil: Pupil,
    make_user: Any,
    limit: str,
    reason: str,
    field: str,
    message: str,
) -> None:
    services.set_overdraft(wallet=funded, limit=Decimal("200.00"), by=make_user(), reason="before")
    answer = admin.post(f"/canteen/wallets/{pupil.pk}/", {"limit": limit, "reason": reason})
    assert answer.status_code == 422
    text = answer.content.decode()
    errors = re.search(rf'<div[^>]*>\s*<label for="id_{field}".*?</div>', text, re.S)
    assert errors is not None and message in errors.group(0), text
    funded.refresh_from_db()
    assert funded.overdraft_limit == Decimal("200.00")
    assert overdraft_changes(funded) == 1  # only the one before


def test_a_pupil_without_a_wallet_gets_one_only_when_the_overdraft_is_saved(
    admin: Client, classmate: Pupil
) -> None:
    page = admin.get(f"/canteen/wallets/{classmate.pk}/")
    assert page.status_code == 200 and 'id="balance">0.00 ₸' in page.content.decode()
    refused = admin.post(f"/canteen/wallets/{classmate.pk}/", {"limit": "-5", "reason": "x"})
    assert refused.status_code == 422
    assert not Wallet.objects.filter(pupil=classmate).exists()
    admin.post(f"/canteen/wallets/{classmate.pk}/", {"limit": "800", "reason": "new pupil"})
    assert Wallet.objects.get(pupil=classmate).overdraft_limit == Decimal("800.00")


def test_after_an_overdraft_a_sale_below_zero_goes_through(
    admin: Client, cashier: Client, wallet: Wallet, pupil: Pupil, menu: Menu
) -> None:
    # given an empty wallet: the till refuses plov
    refused = sell(cashier, pupil, menu.item["plov"])
    assert refused.status_code == 409
    assert "There is not enough money on the pupil" in refused.content.decode()
    # when the school allows 1,000 ₸ below zero
    admin.post(f"/canteen/wallets/{pupil.pk}/", {"limit": "1000", "reason": "pay on Friday"})
    # then the same plov sells and the wallet owes 600 ₸
    assert sell(cashier, pupil, menu.item["plov"]).status_code == 302
    assert Sale.objects.count() == 1 and balance(wallet) == Decimal("-600.00")
    row = _row_of(admin.get("/canteen/wallets/").content.decode(), pupil)
    assert "<b>600.00</b>" in row
    # and lowering the overdraft below the debt stops purchases, and says so
    admin.post(f"/canteen/wallets/{pupil.pk}/", {"limit": "0", "reason": "not paid"})
    page = admin.get(f"/canteen/wallets/{pupil.pk}/").content.decode()
    assert "The overdraft is removed." in page and 'id="below-floor"' in page
    assert sell(cashier, pupil, menu.item["tea"]).status_code == 409


def test_a_blocked_pupils_statement_is_not_shown_nor_the_overdraft_changed(
    admin: Client, funded: Wallet, pupil: Pupil
) -> None:
    block_person(person=pupil.person, by=None, reason="the mother asked")
    page = admin.get(f"/canteen/wallets/{pupil.pk}/")
    assert page.status_code == 200
    text = page.content.decode()
    assert 'id="statement"' not in text and "2000.00" not in text
    refused = admin.post(f"/canteen/wallets/{pupil.pk}/", {"limit": "500", "reason": "x"})
    assert refused.status_code == 403
    funded.refresh_from_db()
    assert funded.overdraft_limit == 0
