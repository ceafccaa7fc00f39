"""The daily reconciliation against a provider's register, and the pages that show it."""

from __future__ import annotations

import datetime as dt
import io
import re
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from django.core.management import CommandError, call_command
from django.test import Client
from django.utils import timezone

from kezekshi.accounts.roles import ROLE_PERMISSIONS, Perm, Role
from kezekshi.canteen import services
from kezekshi.canteen.models import PaymentProvider, Reconciliation, ReconciliationLine
from kezekshi.canteen.reconciliation import RegisterError, reconcile
from kezekshi.canteen.tests.conftest import top_up
from kezekshi.conftest import make_school, verified_client
from kezekshi.people import services as people_services
from kezekshi.people.models import Person, Pupil
from kezekshi.privacy.models import AuditEntry

pytestmark = pytest.mark.django_db
DAY = dt.date(2025, 9, 4)
Kind = ReconciliationLine.Kind


@pytest.fixture
def booked_day(pupil: Pupil, kaspi: PaymentProvider) -> dict[str, Any]:
    """Our ledger on 4 September: K1 500, K2 700, K3 300 (23:30 Almaty: still the 4th),
    and K9 on the 5th (another day's register)."""
    wallet = services.wallet_for(pupil=pupil)
    top_up(wallet, kaspi, "500.00", "K1", at="2025-09-04 08:15")
    top_up(wallet, kaspi, "700.00", "K2", at="2025-09-04 12:00")
    top_up(wallet, kaspi, "300.00", "K3", at="2025-09-04 23:30")
    top_up(wallet, kaspi, "900.00", "K9", at="2025-09-05 00:10")
    return {"wallet": wallet, "account": pupil.account_number}


def register(*rows: str, header: str = "txn_id,date,account,sum") -> bytes:
    return ("\n".join([header, *rows]) + "\n").encode()


def test_a_register_that_agrees_has_no_mismatches(
    booked_day: dict[str, Any], kaspi: PaymentProvider
) -> None:
    account = booked_day["account"]
    data = register(
        f"K1,2025-09-04 08:15:00,{account},500.00",
        f"K2,20250904120000,{account},700",
        f"K3,2025-09-04 23:30:00,{account},300.00",
    )

    result = reconcile(provider=kaspi, date=DAY, data=data, file_name="kaspi-0904.csv")

    assert result.lines.count() == 0
    assert (result.their_count, result.our_count, result.matched) == (3, 3, 3)
    assert result.their_total == result.our_total == Decimal("1500.00")


def test_every_kind_of_mismatch_is_listed_with_its_school(
    booked_day: dict[str, Any], kaspi: PaymentProvider, pupil: Pupil
) -> None:
    account = booked_day["account"]
    data = register(
        f"K1,2025-09-04 08:15:00,{account},500.00",  # agrees
        f"K2,2025-09-04 12:00:00,{account},750.00",  # amounts differ
        f"K4,2025-09-04 13:00:00,{account},100.00",  # we never got it
        "K5,2025-09-04 13:05:00,10019999993,100.00",  # an account nobody has
        f"K9,2025-09-05 00:10:00,{account},900.00",  # ours, booked the next day: matches
    )  # and K3 (ours) is not in the register

    result = reconcile(provider=kaspi, date=DAY, data=data, file_name="kaspi-0904.csv")

    found = {(line.kind, line.txn_id, line.school_id) for line in result.lines.all()}
    assert found == {
        (Kind.AMOUNT_DIFFERS, "K2", pupil.school_id),
        (Kind.MISSING_OURS, "K4", pupil.school_id),
        (Kind.MISSING_OURS, "K5", None),
        (Kind.MISSING_THEIRS, "K3", pupil.school_id),
    }
    differs = result.lines.get(txn_id="K2")
    assert (differs.their_amount, differs.our_amount) == (Decimal("750.00"), Decimal("700.00"))
    assert result.lines.get(txn_id="K3").account == account
    assert result.matched == 2


@pytest.mark.parametrize(
    ("data", "problem"),
    [
        (
            b"txn,when,acc,amount\nK1,2025-09-04 08:15:00,1,5\n",
            "columns txn_id, date, account, sum",
        ),
        (register("K1,2025-09-04 08:15:00,1,1e5"), "line 2: sum '1e5' is not an amount"),
        (register("K1,04/09/2025,1,5.00"), "line 2: date '04/09/2025' is not a time"),
        ("txn_id,date,account,sum\nK1,2025-09-04 08:15:00,1,5\n".encode("utf-16"), "not UTF-8"),
    ],
)
def test_a_register_that_cannot_be_read_is_refused_whole(
    kaspi: PaymentProvider, data: bytes, problem: str
) -> None:
    with pytest.raises(RegisterError) as refused:
        reconcile(provider=kaspi, date=DAY, data=data, file_name="bad.csv")
    assert any(problem in text for text in refused.value.problems), refused.value.problems
    assert not Reconciliation.objects.exists()


def test_an_account_that_differs_is_a_mismatch_even_when_the_amount_agrees(
    booked_day: dict[str, Any], kaspi: PaymentProvider, pupil: Pupil
) -> None:
    account = booked_day["account"]
    data = register(
        "K1,2025-09-04 08:15:00,10019999993,500.00",  # our K1 went to another account
        f"K2,2025-09-04 12:00:00,{account},700.00",
        f"K3,2025-09-04 23:30:00,{account},300.00",
    )

    result = reconcile(provider=kaspi, date=DAY, data=data, file_name="kaspi.csv")

    line = result.lines.get()
    assert (line.kind, line.txn_id, line.school_id) == (Kind.ACCOUNT_DIFFERS, "K1", pupil.school_id)
    assert line.account == "10019999993" and line.our_account == account
    assert result.matched == 2


def test_a_txn_id_repeated_in_the_register_is_a_mismatch_not_a_refused_file(
    booked_day: dict[str, Any], kaspi: PaymentProvider, pupil: Pupil
) -> None:
    account = booked_day["account"]
    data = register(
        f"K1,2025-09-04 08:15:00,{account},500.00",
        f"K2,2025-09-04 12:00:00,{account},700.00",
        f"K2,2025-09-04 12:00:00,{account},700.00",  # the provider listed K2 twice
        f"K3,2025-09-04 23:30:00,{account},300.00",
    )

    result = reconcile(provider=kaspi, date=DAY, data=data, file_name="kaspi.csv")

    line = result.lines.get()
    assert (line.kind, line.txn_id, line.school_id) == (
        Kind.DUPLICATE_IN_REGISTER, "K2", pupil.school_id,
    )  # fmt: skip
    assert line.their_amount == Decimal("700.00")
    assert result.matched == 3 and result.their_count == 4


def test_semicolons_and_a_byte_order_mark_are_read(
    booked_day: dict[str, Any], kaspi: PaymentProvider
) -> None:
    account = booked_day["account"]
    data = "\ufeff" + "\n".join(
        [
            "Sum;Account;Date;TXN_ID",
            f"500.00;{account};2025-09-04 08:15:00;K1",
            f"700.00;{account};2025-09-04 12:00:00;K2",
            f"300.00;{account};2025-09-04 23:30:00;K3",
        ]
    )
    result = reconcile(provider=kaspi, date=DAY, data=data.encode(), file_name="x.csv")
    assert result.matched == 3 and result.lines.count() == 0


def test_the_command_imports_a_file_and_lists_the_mismatches(
    booked_day: dict[str, Any], kaspi: PaymentProvider, tmp_path: Path
) -> None:
    path = tmp_path / "kaspi-2025-09-04.csv"
    path.write_bytes(register(f"K1,2025-09-04 08:15:00,{booked_day['account']},500.00"))
    out = io.StringIO()

    call_command(
        "reconcile_payments", str(path), "--provider", "kaspi", "--date", "2025-09-04", stdout=out
    )

    text = out.getvalue()
    assert "register 1 payments, 500.00; ledger 3 top-ups, 1500.00; matched 1" in text
    assert "missing_theirs  txn K2" in text and "missing_theirs  txn K3" in text
    assert "2 mismatches" in text
    with pytest.raises(CommandError):
        call_command(
            "reconcile_payments", str(path), "--provider", "nobody", "--date", "2025-09-04"
        )
    with pytest.raises(CommandError):
        call_command("reconcile_payments", str(path), "--provider", "kaspi", "--date", "4.9.2025")


# --- the pages -----------------------------------------------------------------------------


def in_cell(page: str, text: str) -> bool:
    """``text`` as the whole content of an element (a table cell), not inside a token."""
    return re.search(rf">\s*{re.escape(text)}\s*<", page) is not None


@pytest.fixture
def mismatches(booked_day: dict[str, Any], kaspi: PaymentProvider) -> Reconciliation:
    other = make_school(prefix=1004, region_code="astana")
    stranger = people_services.create_pupil(school=other, last_name="Бекқали", first_name="Нұр")
    top_up(services.wallet_for(pupil=stranger), kaspi, "400.00", "S1", at="2025-09-04 09:00")
    data = register(f"K1,2025-09-04 08:15:00,{booked_day['account']},500.00")
    return reconcile(provider=kaspi, date=DAY, data=data, file_name="kaspi.csv")


def test_the_accountant_sees_only_this_schools_mismatches(
    mismatches: Reconciliation, school: Any, make_user: Any
) -> None:
    client = verified_client(make_user(Role.ACCOUNTANT, school))

    listing = client.get("/canteen/reconciliations/")
    detail = client.get(f"/canteen/reconciliations/{mismatches.pk}/")

    assert listing.status_code == 200 and detail.status_code == 200
    assert b"<b>2</b>" in listing.content  # K2 and K3; the other school's S1 is not counted
    page = detail.content.decode()
    # as cells: a random CSRF token may hold "S1" anywhere on the page
    assert in_cell(page, "K2") and in_cell(page, "K3") and not in_cell(page, "S1")


def test_wallets_in_debt_are_listed_and_the_list_is_audited(
    pupil: Pupil, card: PaymentProvider, school: Any, make_user: Any
) -> None:
    wallet = services.wallet_for(pupil=pupil)
    topup = top_up(wallet, card, "1000.00", "555").transaction
    services.charge_sale(wallet=wallet, amount=Decimal("600.00"), external_id="t", items="Ас")
    services.refund_topup(topup=topup, amount=Decimal("1000.00"), refund_id="556")
    accountant = make_user(Role.ACCOUNTANT, school)

    page = verified_client(accountant).get("/canteen/reconciliations/").content.decode()

    assert pupil.person.full_name in page and "-600.00" in page
    assert AuditEntry.objects.filter(
        actor=accountant, details__list="canteen_wallets_in_debt"
    ).exists()
    # a pupil whose data are blocked stays on the list (the debt is real), unnamed
    Person.objects.filter(pk=pupil.person_id).update(blocked_at=timezone.now())
    page = verified_client(accountant).get("/canteen/reconciliations/").content.decode()
    assert "-600.00" in page
    assert pupil.person.last_name not in page and pupil.account_number not in page


def test_top_ups_whose_provider_time_was_not_used_are_listed_for_the_accountant(
    pupil: Pupil, kaspi: PaymentProvider, school: Any, make_user: Any
) -> None:
    wallet = services.wallet_for(pupil=pupil)
    services.credit_topup(
        wallet=wallet, provider=kaspi, amount=Decimal("250.00"), txn_id="K77",
        booked_at=dt.datetime(2025, 9, 4, 3, 0, tzinfo=dt.UTC), provider_time="20000101000000",
    )  # fmt: skip
    top_up(wallet, kaspi, "100.00", "K78")  # booked at its own time: not listed

    page = (
        verified_client(make_user(Role.ACCOUNTANT, school))
        .get("/canteen/reconciliations/")
        .content.decode()
    )

    listed = page.split('id="provider-time"', 1)[1].split("</table>", 1)[0]
    assert "K77" in listed and "20000101000000" in listed and "250.00" in listed
    assert "K78" not in listed


def canteen_pages(reconciliation_id: int) -> list[str]:
    return ["/canteen/reconciliations/", f"/canteen/reconciliations/{reconciliation_id}/"]


@pytest.mark.parametrize("role", list(Role))
def test_each_role_reaches_the_pages_exactly_as_its_permissions_allow(
    role: Role, mismatches: Reconciliation, school: Any, make_user: Any
) -> None:
    client = verified_client(make_user(role, school))
    allowed = Perm.CANTEEN_REPORTS in ROLE_PERMISSIONS[role]

    for url in canteen_pages(mismatches.pk):
        response = client.get(url)
        assert response.status_code == (200 if allowed else 403), (role, url)
    if allowed:
        assert client.get("/canteen/reconciliations/999999/").status_code == 404


def test_only_the_accountant_admins_and_operators_hold_the_reports_permission() -> None:
    holders = {role for role, perms in ROLE_PERMISSIONS.items() if Perm.CANTEEN_REPORTS in perms}
    assert holders == {Role.ACCOUNTANT, Role.SCHOOL_ADMIN, Role.PLATFORM_OPERATOR}


def test_another_schools_accountant_sees_none_of_this_schools_lines(
    mismatches: Reconciliation, make_user: Any, pupil: Pupil
) -> None:
    elsewhere = make_school(prefix=2005, region_code="turkistan")
    client = verified_client(make_user(Role.ACCOUNTANT, elsewhere, language="en"))

    page = client.get(f"/canteen/reconciliations/{mismatches.pk}/").content.decode()

    assert not in_cell(page, "K2") and pupil.account_number not in page
    assert "No mismatches for this school" in page


def test_anonymous_visitors_are_sent_to_sign_in(mismatches: Reconciliation) -> None:
    for url in canteen_pages(mismatches.pk):
        response = Client().get(url)
        assert response.status_code == 302 and response["Location"].startswith("/login/")
