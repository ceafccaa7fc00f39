"""Free meals: who is entitled, the approval flow, once per meal and day, never from the
parents' balance, and the monthly report (given / when / then)."""

from __future__ import annotations

import csv
import datetime as dt
import io
from decimal import Decimal
from typing import Any

import pytest
from openpyxl import load_workbook

from kezekshi.accounts.roles import Role
from kezekshi.canteen import free_meals
from kezekshi.canteen.menu import local_today
from kezekshi.canteen.models import FreeMeal, FreeMealEntitlement, LedgerTransaction, Wallet
from kezekshi.canteen.selectors import check_ledger
from kezekshi.canteen.tests.conftest import Menu, Terminal, balance
from kezekshi.conftest import make_school, verified_client
from kezekshi.core.errors import ServiceError
from kezekshi.core.models import School
from kezekshi.people import services as people_services
from kezekshi.people.models import Pupil, SchoolClass

pytestmark = pytest.mark.django_db


def lunch_costs(school: School, lunch: str = "500.00", breakfast: str = "0.00") -> None:
    from kezekshi.canteen.models import CanteenSettings

    CanteenSettings.objects.update_or_create(
        school=school,
        defaults={"free_lunch_cost": Decimal(lunch), "free_breakfast_cost": Decimal(breakfast)},
    )


@pytest.fixture
def first_grader(school: School) -> Pupil:
    school_class = SchoolClass.objects.create(school=school, grade=2, letter="А")
    return people_services.create_pupil(
        school=school, last_name="Кішкентай", first_name="Айым", school_class=school_class
    )


@pytest.fixture
def first_wallet(first_grader: Pupil, kaspi: Any) -> Wallet:
    from kezekshi.canteen import services
    from kezekshi.canteen.tests.conftest import top_up

    wallet = services.wallet_for(pupil=first_grader)
    top_up(wallet, kaspi, "1000.00", "grader-1")
    return wallet


def test_pupils_of_grades_1_to_4_in_state_schools_are_entitled_without_an_application(
    first_grader: Pupil, pupil: Pupil
) -> None:
    today = local_today()
    assert free_meals.basis_on(first_grader, today) == "grades_1_4"
    assert free_meals.basis_on(pupil, today) is None  # grade 5
    assert first_grader.pk in free_meals.entitled_ids(first_grader.school, today)


def test_grades_1_to_4_of_a_private_school_are_not_entitled_by_grade(db: None) -> None:
    private = make_school(prefix=3001, ownership=School.Ownership.PRIVATE)
    school_class = SchoolClass.objects.create(school=private, grade=1, letter="А")
    child = people_services.create_pupil(
        school=private, last_name="Жеке", first_name="Бала", school_class=school_class
    )
    assert free_meals.basis_on(child, local_today()) is None
    assert free_meals.entitled_ids(private, local_today()) == {}


def test_a_free_lunch_is_paid_by_the_fund_and_extras_by_the_wallet(
    terminal: Terminal, menu: Menu, first_grader: Pupil, first_wallet: Wallet, school: School
) -> None:
    # given the school's free lunch covers 500 ₸
    lunch_costs(school)
    # when the first-grader takes borscht and plov (950 ₸) for lunch
    response = terminal.sell(first_grader, "FM-1", menu.item["borscht"], menu.item["plov"])
    # then the fund pays 500, the wallet only the 450 beyond it
    assert response.status_code == 200, response.content
    answer = response.json()
    assert (answer["total"], answer["free_meal"], answer["charged"]) == (
        "950.00",
        "500.00",
        "450.00",
    )
    assert balance(first_wallet) == Decimal("550.00")
    free = LedgerTransaction.objects.get(kind=LedgerTransaction.Kind.FREE_MEAL)
    legs = {(e.account.kind if e.account else "wallet"): e.amount for e in free.entries.all()}
    assert legs == {"free_meal_fund": Decimal("-500.00"), "revenue": Decimal("500.00")}
    assert FreeMeal.objects.get().cost == Decimal("500.00")
    assert check_ledger(school=school).ok


def test_a_free_meal_within_its_cost_never_touches_the_wallet(
    terminal: Terminal, menu: Menu, first_grader: Pupil, school: School
) -> None:
    # given a first-grader with no money at all
    lunch_costs(school)
    # when they take a plain lunch within the free meal's cost
    response = terminal.sell(first_grader, "FM-2", menu.item["borscht"], menu.item["compote"])
    # then it is served, and the wallet is untouched
    assert response.status_code == 200, response.content
    assert response.json()["charged"] == "0.00"
    assert not LedgerTransaction.objects.filter(kind=LedgerTransaction.Kind.SALE).exists()
    from kezekshi.canteen.models import Wallet as W

    assert W.objects.get(pupil=first_grader).balance == 0


def test_only_one_free_meal_of_a_kind_per_day(
    terminal: Terminal, menu: Menu, first_grader: Pupil, first_wallet: Wallet, school: School
) -> None:
    lunch_costs(school)
    assert terminal.sell(first_grader, "FM-3", menu.item["borscht"]).json()["free_meal"] == "350.00"
    # a second lunch the same day (at another till, too) is paid from the wallet
    second = terminal.sell(first_grader, "FM-4", menu.item["borscht"])
    assert second.json()["free_meal"] == "0.00" and second.json()["charged"] == "350.00"
    assert FreeMeal.objects.count() == 1
    # and the database itself refuses a second subsidised lunch that day
    from django.db import IntegrityError, transaction

    original = FreeMeal.objects.get()
    with pytest.raises(IntegrityError), transaction.atomic():
        FreeMeal.objects.create(
            school=school, pupil=first_grader, date=original.date, meal="lunch",
            cost=Decimal("1.00"), served_at=original.served_at, sale=original.sale, basis="x",
        )  # fmt: skip


def test_a_meal_the_school_does_not_subsidise_is_an_ordinary_purchase(
    terminal: Terminal, menu: Menu, first_grader: Pupil, first_wallet: Wallet, school: School
) -> None:
    lunch_costs(school, lunch="500.00", breakfast="0.00")
    response = terminal.sell(first_grader, "FM-5", menu.item["tea"])  # breakfast
    assert response.json()["free_meal"] == "0.00" and response.json()["charged"] == "50.00"


def test_voiding_a_free_lunch_gives_the_days_lunch_back(
    terminal: Terminal, menu: Menu, first_grader: Pupil, first_wallet: Wallet, school: School
) -> None:
    lunch_costs(school)
    assert terminal.sell(first_grader, "FM-6", menu.item["plov"]).status_code == 200
    assert terminal.post("/sales/FM-6/void", {"reason": "wrong child"}).status_code == 200
    assert balance(first_wallet) == Decimal("1000.00")
    again = terminal.sell(first_grader, "FM-7", menu.item["plov"])
    assert again.json()["free_meal"] == "500.00"
    assert check_ledger(school=school).ok


# --- social entitlements: entered by the social pedagogue, approved by the director ------


def test_the_approval_flow_for_a_pupil_of_a_social_category(
    pupil: Pupil, school: School, make_user: Any, terminal: Terminal, menu: Menu, funded: Wallet
) -> None:
    lunch_costs(school)
    pedagogue = make_user(Role.SOCIAL_PEDAGOGUE, school)
    director = make_user(Role.SCHOOL_ADMIN, school)
    today = local_today()
    # given the social pedagogue enters the grade-5 pupil (family on social assistance)
    entry = free_meals.propose(
        pupil=pupil, basis="social_assistance", valid_from=today,
        valid_until=today + dt.timedelta(days=120), by=pedagogue,
    )  # fmt: skip
    # then nothing is free until the director approves
    assert free_meals.basis_on(pupil, today) is None
    assert terminal.sell(pupil, "SA-1", menu.item["borscht"]).json()["free_meal"] == "0.00"
    # and the pedagogue cannot approve their own entry
    with pytest.raises(ServiceError) as refused:
        free_meals.decide(entitlement=entry, approve=True, by=pedagogue)
    assert refused.value.code == "own_entry"
    # when the director approves
    free_meals.decide(entitlement=entry, approve=True, by=director)
    # then the pupil's next lunch is free
    assert free_meals.basis_on(pupil, today) == "social_assistance"
    assert terminal.sell(pupil, "SA-2", menu.item["plov"]).json()["free_meal"] == "500.00"
    # and a decided entry stays decided
    with pytest.raises(ServiceError) as again:
        free_meals.decide(entitlement=entry, approve=False, by=director)
    assert again.value.code == "already_decided"


def test_an_entitlement_counts_only_within_its_dates_and_until_revoked(
    pupil: Pupil, school: School, make_user: Any
) -> None:
    pedagogue = make_user(Role.SOCIAL_PEDAGOGUE, school)
    director = make_user(Role.SCHOOL_ADMIN, school)
    today = local_today()
    entry = free_meals.propose(
        pupil=pupil, basis="orphan", valid_from=today + dt.timedelta(days=1),
        valid_until=today + dt.timedelta(days=30), by=pedagogue,
    )  # fmt: skip
    free_meals.decide(entitlement=entry, approve=True, by=director)
    assert free_meals.basis_on(pupil, today) is None
    assert free_meals.basis_on(pupil, today + dt.timedelta(days=1)) == "orphan"
    assert free_meals.basis_on(pupil, today + dt.timedelta(days=31)) is None
    with pytest.raises(ServiceError) as overlapping:
        free_meals.propose(
            pupil=pupil,
            basis="low_income",
            valid_from=today,
            valid_until=today + dt.timedelta(days=5),
            by=pedagogue,
        )
    assert overlapping.value.code == "already_entitled"
    free_meals.revoke(entitlement=entry, by=director, note="the family moved")
    assert free_meals.basis_on(pupil, today + dt.timedelta(days=1)) is None


def test_a_lunch_eaten_before_a_revocation_and_uploaded_after_it_is_still_free(
    pupil: Pupil, school: School, make_user: Any, terminal: Terminal, menu: Menu, funded: Wallet
) -> None:
    # given a grade-5 orphan entitled since last week
    from kezekshi.canteen import menu as menus
    from kezekshi.canteen.tests.conftest import almaty

    lunch_costs(school)
    pedagogue = make_user(Role.SOCIAL_PEDAGOGUE, school)
    director = make_user(Role.SCHOOL_ADMIN, school)
    today = local_today()
    yesterday = today - dt.timedelta(days=1)
    entry = free_meals.propose(
        pupil=pupil, basis="orphan", valid_from=today - dt.timedelta(days=7),
        valid_until=today + dt.timedelta(days=30), by=pedagogue,
    )  # fmt: skip
    free_meals.decide(entitlement=entry, approve=True, by=director)
    # and yesterday's plov, sold by a terminal that had lost its connection
    lunch = menus.set_menu(
        school=school, date=yesterday, meal="lunch", items=[(menu.dish["plov"], None)]
    )
    sale = {
        "txn_id": "OFF-REV-1",
        "pupil_id": pupil.pk,
        "sold_at": almaty(f"{yesterday} 12:30").isoformat(),
        "items": [{"menu_item_id": lunch.items.get().pk, "quantity": 1}],
    }
    # when the director revokes the entitlement this morning (it ends yesterday), and the
    # terminal uploads yesterday's sale only after that
    free_meals.revoke(entitlement=entry, by=director, note="placed with a family")
    upload = terminal.post("/offline-sales", {"sales": [sale]})
    # then yesterday's lunch is the fund's, as it was the day it was eaten
    assert upload.status_code == 200, upload.content
    booked = upload.json()["results"][0]["sale"]
    assert (booked["free_meal"], booked["charged"]) == ("500.00", "100.00")
    assert balance(funded) == Decimal("1900.00")
    assert free_meals.basis_on(pupil, yesterday) == "orphan"
    # and from today on nothing is free
    assert free_meals.basis_on(pupil, today) is None
    assert pupil.pk not in free_meals.entitled_ids(school, today)
    assert terminal.sell(pupil, "ON-REV-1", menu.item["plov"]).json()["free_meal"] == "0.00"
    assert check_ledger(school=school).ok


def test_a_rejected_entry_gives_nothing(pupil: Pupil, school: School, make_user: Any) -> None:
    pedagogue = make_user(Role.SOCIAL_PEDAGOGUE, school)
    director = make_user(Role.SCHOOL_ADMIN, school)
    today = local_today()
    entry = free_meals.propose(
        pupil=pupil, basis="low_income", valid_from=today, valid_until=today, by=pedagogue
    )
    free_meals.decide(entitlement=entry, approve=False, by=director, note="no certificate")
    assert FreeMealEntitlement.objects.get().status == "rejected"
    assert free_meals.basis_on(pupil, today) is None


# --- the monthly report ------------------------------------------------------------------


def test_the_monthly_report_lists_each_free_meal_in_csv_and_xlsx(
    terminal: Terminal, menu: Menu, first_grader: Pupil, school: School, make_user: Any
) -> None:
    lunch_costs(school)
    assert terminal.sell(first_grader, "RP-1", menu.item["borscht"]).status_code == 200
    accountant = verified_client(make_user(Role.ACCOUNTANT, school))
    today = local_today()
    month = f"{today:%Y-%m}"
    page = accountant.get(f"/canteen/free-meals/report/?month={month}")
    assert page.status_code == 200
    assert first_grader.person.last_name in page.content.decode()
    csv_file = accountant.get(f"/canteen/free-meals/report.csv?month={month}")
    assert csv_file.status_code == 200
    text = csv_file.content.decode("utf-8-sig")
    assert first_grader.account_number in text and "350.00" in text
    xlsx = accountant.get(f"/canteen/free-meals/report.xlsx?month={month}")
    assert xlsx.status_code == 200
    sheet = load_workbook(io.BytesIO(xlsx.content)).active
    assert sheet is not None
    rows = [row for row in sheet.iter_rows(values_only=True)]
    line = next(row for row in rows if row[0] == first_grader.account_number)
    assert line[1] == first_grader.person.full_name
    assert line[3].date() == today
    assert line[7] == 350
    # a cashier may not read it
    cashier = verified_client(make_user(Role.CASHIER, school))
    assert cashier.get(f"/canteen/free-meals/report.csv?month={month}").status_code == 403


def test_a_name_that_looks_like_a_formula_is_text_in_the_reports_csv_and_xlsx(
    terminal: Terminal, menu: Menu, school: School, make_user: Any
) -> None:
    # given a first-grader whose name (as imported) starts like a spreadsheet formula
    lunch_costs(school)
    school_class = SchoolClass.objects.create(school=school, grade=1, letter="Б")
    child = people_services.create_pupil(
        school=school, last_name='=HYPERLINK("http://evil.example","x")', first_name="@A1",
        school_class=school_class,
    )  # fmt: skip
    assert terminal.sell(child, "INJ-1", menu.item["borscht"]).status_code == 200
    accountant = verified_client(make_user(Role.ACCOUNTANT, school, language="en"))
    month = f"{local_today():%Y-%m}"
    # when the accountant downloads the month as CSV and XLSX
    text = accountant.get(f"/canteen/free-meals/report.csv?month={month}").content.decode()
    xlsx = accountant.get(f"/canteen/free-meals/report.xlsx?month={month}")
    # then the CSV cell starts with a quote, so the spreadsheet shows it as text
    rows = list(csv.reader(io.StringIO(text[1:]), delimiter=";"))
    line = next(row for row in rows if row[0] == child.account_number)
    assert line[1] == "'" + child.person.full_name
    # and the XLSX cell is a text cell holding the name as it is
    sheet = load_workbook(io.BytesIO(xlsx.content)).active
    assert sheet is not None
    cell = next(row[1] for row in sheet.iter_rows() if row[0].value == child.account_number)
    assert (cell.data_type, cell.value) == ("s", child.person.full_name)


def test_a_blocked_pupils_free_meals_count_but_are_named_only_to_the_safety_roles(
    terminal: Terminal, menu: Menu, first_grader: Pupil, school: School, make_user: Any
) -> None:
    from django.utils import timezone

    from kezekshi.people.models import Person

    # given a free lunch served, and then the child's data blocked at the parents' request
    lunch_costs(school)
    assert terminal.sell(first_grader, "BL-1", menu.item["borscht"]).status_code == 200
    Person.objects.filter(pk=first_grader.person_id).update(blocked_at=timezone.now())
    month = f"{local_today():%Y-%m}"

    def texts(client: Any) -> dict[str, str]:
        page = client.get(f"/canteen/free-meals/report/?month={month}")
        csv_file = client.get(f"/canteen/free-meals/report.csv?month={month}")
        xlsx = client.get(f"/canteen/free-meals/report.xlsx?month={month}")
        assert {page.status_code, csv_file.status_code, xlsx.status_code} == {200}
        sheet = load_workbook(io.BytesIO(xlsx.content)).active
        assert sheet is not None
        cells = " ".join(str(v) for row in sheet.iter_rows(values_only=True) for v in row)
        return {
            "page": page.content.decode(),
            "csv": csv_file.content.decode("utf-8-sig"),
            "xlsx": cells,
        }

    # when the accountant (not a safety role) reads the month
    for kind, text in texts(verified_client(make_user(Role.ACCOUNTANT, school))).items():
        # then the meal and its cost are there, the child is not
        assert "Кішкентай" not in text and first_grader.account_number not in text, kind
        assert "350" in text, kind
    # and the school administrator (a safety role) sees the child marked, without account
    admin = make_user(Role.SCHOOL_ADMIN, school, language="en")
    for kind, text in texts(verified_client(admin)).items():
        assert "Кішкентай Айым (blocked)" in text, kind
        assert first_grader.account_number not in text, kind
