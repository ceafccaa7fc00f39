"""The canteen's reports for its operator and the school's accountant: sales by item and
day, a till's shift close (Z-report), every pupil's balance at a date, and top-ups by
provider — each as tables a page shows and CSV and XLSX files carry.

Read-only and scoped to one school. Every figure is summed by the database (one grouped
query per table, no query per row): a month of a 3,000-pupil school is a few queries.
Days are school days in Asia/Almaty. Amounts are ``Decimal`` KZT rounded to whole tiyn
after summing (SQLite sums decimals as binary floats). See docs/canteen-reports.md.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
import re
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from functools import partial
from typing import Any

from django.db import connection
from django.db.models import Count, DateField, Expression, F, Func, Q, Sum
from django.db.models.functions import TruncDate
from django.utils.translation import gettext as _

from kezekshi.access.models import Device
from kezekshi.accounts.models import User
from kezekshi.accounts.roles import Role
from kezekshi.canteen.menu import day_range, zone
from kezekshi.canteen.models import (
    ZERO,
    Dish,
    Entry,
    LedgerTransaction,
    PaymentProvider,
    Sale,
    SaleLine,
)
from kezekshi.canteen.money import CENT, plain, tenge
from kezekshi.core.models import School
from kezekshi.people.models import Pupil, SchoolClass

Kind = LedgerTransaction.Kind
# The longest period a report covers: a school year and a bit.
LONGEST_PERIOD = dt.timedelta(days=400)


# --- tables, and how they are written --------------------------------------------------


TEXT, MONEY, COUNT, DATE = "text", "money", "count", "date"


@dataclass(frozen=True)
class Column:
    title: str
    kind: str = TEXT
    width: int = 14

    @property
    def numeric(self) -> bool:
        return self.kind in (MONEY, COUNT)


@dataclass
class Table:
    """A titled table: cells are ``str``, ``int``, ``Decimal`` (money) or ``date``.

    ``named`` says its rows name pupils (viewing or exporting it is an audited read).
    """

    key: str
    title: str
    columns: list[Column]
    rows: list[list[Any]] = field(default_factory=list)
    total: list[Any] | None = None
    named: bool = False
    empty: str = ""

    def shown(self) -> list[list[tuple[str, bool]]]:
        """Rows as the page shows them: text, and whether the cell is a number."""
        return [self._shown(row) for row in self.rows]

    def shown_total(self) -> list[tuple[str, bool]] | None:
        return self._shown(self.total) if self.total is not None else None

    def _shown(self, row: Sequence[Any]) -> list[tuple[str, bool]]:
        return [
            (_text(cell, column.kind), column.numeric)
            for cell, column in zip(row, self.columns, strict=True)
        ]


@dataclass
class Report:
    slug: str  # the files' name: ``<slug>-<school BIN>-<period>.csv``
    title: str
    period: str  # as the headings name it: ``01.09.2026–30.09.2026``
    tables: list[Table]

    def table(self, key: str | None) -> Table:
        """The table ``key`` (the first one when unknown or not given)."""
        return next((table for table in self.tables if table.key == key), self.tables[0])

    @property
    def named_rows(self) -> int:
        return sum(len(table.rows) for table in self.tables if table.named)


def _text(cell: Any, kind: str, *, amount: Any = tenge) -> str:
    """A cell as text: amounts by ``amount`` (``1 200.50`` on pages, ``1200.50`` in CSV),
    dates ``dd.mm.yyyy``."""
    if cell is None or cell == "":
        return ""
    if kind == MONEY:
        return str(amount(Decimal(cell)))
    if isinstance(cell, dt.date):
        return cell.strftime("%d.%m.%Y")
    return str(cell)


# What makes a spreadsheet compute a cell instead of showing it ("CSV injection"): text
# typed at a till (a void's reason, a transaction id), a dish's or a pupil's name may
# start with any of these.
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def csv_text(text: str) -> str:
    """Text for a CSV cell: a leading ``'`` on what would start a formula, so Excel and
    LibreOffice show it as typed rather than run it."""
    return "'" + text if text.startswith(_FORMULA_START) else text


def xlsx_cell(sheet: Any, value: Any) -> Any:
    """A cell of ``sheet`` holding ``value``; text is always a text cell, never a formula
    (openpyxl makes one of text starting with ``=``), less the control characters an
    XLSX cannot hold (openpyxl refuses them)."""
    from openpyxl.cell import WriteOnlyCell
    from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE

    if isinstance(value, str):
        value = ILLEGAL_CHARACTERS_RE.sub("", value)
    written = WriteOnlyCell(sheet, value=value)
    if isinstance(value, str):
        written.data_type = "s"
    return written


def as_csv(table: Table) -> bytes:
    """One table as CSV: UTF-8 with a BOM and ``;`` between cells, as Excel opens it in
    Kazakh and Russian locales (like the free-meal report); amounts ``1200.50``, dates
    ``dd.mm.yyyy``; text that would start a formula behind a ``'`` (``csv_text``)."""
    out = io.StringIO()
    writer = csv.writer(out, delimiter=";")
    writer.writerow([csv_text(column.title) for column in table.columns])
    for row in [*table.rows, *([table.total] if table.total is not None else [])]:
        writer.writerow(
            [
                csv_text(_text(cell, column.kind))
                if column.kind == TEXT
                else _text(cell, column.kind, amount=plain)
                for cell, column in zip(row, table.columns, strict=True)
            ]
        )
    return ("\ufeff" + out.getvalue()).encode()


def as_xlsx(report: Report, school: School) -> bytes:
    """The report as an Excel workbook: a sheet per table, a heading line, a bold header,
    amounts as numbers with two places, dates as dates, the total in bold. Written in
    openpyxl's streaming mode: 3,000 rows take a fraction of a second."""
    from openpyxl import Workbook
    from openpyxl.styles import Alignment, Font
    from openpyxl.utils import get_column_letter

    bold = Font(bold=True)
    formats = {MONEY: "#,##0.00", DATE: "DD.MM.YYYY", COUNT: "0"}
    book = Workbook(write_only=True)
    used: set[str] = set()
    for table in report.tables:
        sheet = book.create_sheet(_sheet_title(table.title, used))
        for number, column in enumerate(table.columns, start=1):
            sheet.column_dimensions[get_column_letter(number)].width = column.width
        sheet.freeze_panes = "A3"
        cell = partial(_written, sheet, bold)
        sheet.append([cell(f"{school.name} — {report.title}, {report.period}", strong=True)])
        header = []
        for column in table.columns:
            title = cell(column.title, strong=True)
            title.alignment = Alignment(wrap_text=True, vertical="top")
            header.append(title)
        sheet.append(header)
        for line, strong in [
            *((row, False) for row in table.rows),
            *([(table.total, True)] if table.total is not None and table.rows else []),
        ]:
            sheet.append(
                [
                    cell(
                        _xlsx_cell(value, column.kind),
                        strong=strong,
                        number_format=formats.get(column.kind, ""),
                    )
                    for value, column in zip(line, table.columns, strict=True)
                ]
            )
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def _written(
    sheet: Any, bold: Any, value: Any, *, strong: bool = False, number_format: str = ""
) -> Any:
    written = xlsx_cell(sheet, value)
    if strong:
        written.font = bold
    if number_format:
        written.number_format = number_format
    return written


def _xlsx_cell(cell: Any, kind: str) -> Any:
    if cell is None or cell == "":
        return None
    if kind == MONEY:
        return Decimal(cell).quantize(CENT)
    return cell


def _sheet_title(title: str, used: set[str]) -> str:
    """Excel's rules for a sheet's name: at most 31 characters, none of ``[]:*?/\\``, unique."""
    base = re.sub(r"[\[\]:*?/\\]", " ", title).strip()[:28] or "Sheet"
    name, number = base, 2
    while name.lower() in used:
        name, number = f"{base} {number}", number + 1
    used.add(name.lower())
    return name


# --- days in Almaty, counted by the database --------------------------------------------


def _shifted_date(name: str, seconds: int) -> Expression:
    """SQLite: the date of a UTC time (stored as text) moved by a fixed offset, by SQLite's
    own ``date()`` — ``TruncDate`` with a time zone calls Python for every row there. The
    offset is an int of ours written into the SQL: the same text in SELECT and GROUP BY."""
    return Func(
        F(name),
        function="DATE",
        template="%(function)s(%(expressions)s, '%(shift)s')",
        shift=f"{int(seconds):+d} seconds",
        output_field=DateField(),
    )


def local_day(name: str, first: dt.date, last: dt.date) -> Expression:
    """The Almaty date of the time field ``name``, for rows between ``first`` and ``last``.

    On SQLite, when the zone's offset is the same on every day of the period (Almaty has
    kept UTC+5 since March 2024 and has had no summer time since 2005), a fixed shift;
    otherwise (and on PostgreSQL, where it is native) ``TruncDate`` in the zone.
    """
    if connection.vendor == "sqlite":
        offsets = {
            day_range(first + dt.timedelta(days=n))[0].utcoffset()
            for n in range((last - first).days + 2)
        }
        if len(offsets) == 1:
            offset = offsets.pop()
            assert offset is not None
            return _shifted_date(name, int(offset.total_seconds()))
    return TruncDate(name, tzinfo=zone())


def _period(first: dt.date, last: dt.date) -> tuple[dt.datetime, dt.datetime]:
    return day_range(first)[0], day_range(last)[1]


def _money(value: Any) -> Decimal:
    return Decimal(value or ZERO).quantize(CENT)


def period_name(first: dt.date, last: dt.date) -> str:
    if first == last:
        return first.strftime("%d.%m.%Y")
    return f"{first:%d.%m.%Y}–{last:%d.%m.%Y}"


# --- 1. sales by item and day ------------------------------------------------------------


def sales_by_item(school: School, first: dt.date, last: dt.date) -> Report:
    """What was sold, per day and dish (quantity and amount), and per day how it was paid:
    the free-meal fund, the wallets, and what was refunded to the wallets that day.

    Voided sales are not sales: they are left out (the shift close lists them). Refunds
    are counted on the day they were given.
    """
    start, end = _period(first, last)
    sold = Sale.objects.filter(
        school=school, status=Sale.Status.SOLD, sold_at__gte=start, sold_at__lt=end
    )
    per_day = {
        row["day"]: row
        for row in sold.order_by()
        .values(day=local_day("sold_at", first, last))
        .annotate(
            sales=Count("id"),
            total=Sum("total"),
            free=Sum("free_amount"),
            wallet=Sum("wallet_amount"),
        )
    }
    refunds = {
        row["day"]: row
        for row in LedgerTransaction.objects.filter(
            school=school, kind=Kind.SALE_REFUND, booked_at__gte=start, booked_at__lt=end
        )
        .order_by()
        .values(day=local_day("booked_at", first, last))
        .annotate(count=Count("id"), amount=Sum("amount"))
    }
    # Scoped through the sale (a line is always its sale's school's): a second school_id
    # filter on the lines tempts PostgreSQL, before its statistics catch up with a bulk
    # import, into intersecting that index for every sale.
    lines = list(
        SaleLine.objects.filter(
            sale__school=school,
            sale__status=Sale.Status.SOLD,
            sale__sold_at__gte=start,
            sale__sold_at__lt=end,
        )
        .order_by()
        .values("dish_id", day=local_day("sale__sold_at", first, last))
        .annotate(quantity=Sum("quantity"), amount=Sum("amount"))
    )
    dishes = (
        Dish.objects.filter(school=school)
        .select_related("category")
        .in_bulk({line["dish_id"] for line in lines})
    )

    days = Table(
        "days",
        _("By day"),
        [
            Column(_("Date"), DATE, 12),
            Column(_("Sales"), COUNT, 9),
            Column(_("Sold, ₸"), MONEY),
            Column(_("Free meals (fund), ₸"), MONEY, 16),
            Column(_("From wallets, ₸"), MONEY),
            Column(_("Refunded to wallets, ₸"), MONEY, 16),
            Column(_("Net from wallets, ₸"), MONEY, 16),
        ],
        empty=_("Nothing was sold in this period."),
    )
    sums = [0, ZERO, ZERO, ZERO, ZERO, ZERO]
    for day in sorted(set(per_day) | set(refunds)):
        row: Any = per_day.get(day, {})
        back: Any = refunds.get(day, {})
        wallet, refunded = _money(row.get("wallet")), _money(back.get("amount"))
        cells = [
            row.get("sales", 0),
            _money(row.get("total")),
            _money(row.get("free")),
            wallet,
            refunded,
            wallet - refunded,
        ]
        days.rows.append([day, *cells])
        sums = [a + b for a, b in zip(sums, cells, strict=True)]
    days.total = [_("Total"), *sums]

    by_day_and_dish = Table(
        "items",
        _("By day and dish"),
        [
            Column(_("Date"), DATE, 12),
            Column(_("Dish"), TEXT, 34),
            Column(_("Category"), TEXT, 18),
            Column(_("Quantity"), COUNT, 10),
            Column(_("Amount, ₸"), MONEY),
        ],
        empty=_("Nothing was sold in this period."),
    )
    per_dish: dict[int, list[Any]] = defaultdict(lambda: [0, ZERO])

    def dish_cells(dish_id: int) -> list[str]:
        dish = dishes.get(dish_id)
        return [dish.name, dish.category.name] if dish is not None else [f"#{dish_id}", ""]

    order = sorted(
        lines, key=lambda line: (line["day"], *(_sort_name(dish_cells(line["dish_id"]))))
    )
    quantity, amount = 0, ZERO
    for line in order:
        count, value = int(line["quantity"]), _money(line["amount"])
        by_day_and_dish.rows.append([line["day"], *dish_cells(line["dish_id"]), count, value])
        quantity, amount = quantity + count, amount + value
        per_dish[line["dish_id"]][0] += count
        per_dish[line["dish_id"]][1] += value
    by_day_and_dish.total = [_("Total"), "", "", quantity, amount]

    by_dish = Table(
        "dishes",
        _("By dish, whole period"),
        [
            Column(_("Dish"), TEXT, 34),
            Column(_("Category"), TEXT, 18),
            Column(_("Quantity"), COUNT, 10),
            Column(_("Amount, ₸"), MONEY),
        ],
        empty=_("Nothing was sold in this period."),
    )
    for dish_id, (count, value) in sorted(per_dish.items(), key=lambda item: -item[1][1]):
        by_dish.rows.append([*dish_cells(dish_id), count, value])
    by_dish.total = [_("Total"), "", quantity, amount]
    return Report("sales", _("Sales by item and day"), period_name(first, last), [
        days, by_day_and_dish, by_dish
    ])  # fmt: skip


def _sort_name(cells: list[str]) -> tuple[str]:
    return (cells[0].casefold(),)


# --- 2. a till's shift close (Z-report) ---------------------------------------------------


@dataclass(frozen=True)
class Till:
    """Whose shift: a cashier at the cashier's page, a POS terminal, or (both ``None``)
    every till of the school."""

    cashier: User | None = None
    device: Device | None = None

    @property
    def key(self) -> str:
        if self.cashier is not None:
            return f"c{self.cashier.pk}"
        if self.device is not None:
            return f"d{self.device.pk}"
        return ""

    @property
    def name(self) -> str:
        if self.cashier is not None:
            return self.cashier.full_name or str(self.cashier)
        if self.device is not None:
            return self.device.name
        return _("All tills")


def tills_of(school: School, day: dt.date) -> list[Till]:
    """Who could have a shift: the school's POS terminals, its cashiers, and whoever sold
    on ``day`` (a school administrator at the cashier's page, say)."""
    start, end = day_range(day)
    sold = Sale.objects.filter(school=school, sold_at__gte=start, sold_at__lt=end).order_by()
    user_ids = set(sold.filter(cashier__isnull=False).values_list("cashier_id", flat=True))
    user_ids |= set(
        User.objects.filter(
            memberships__school=school, memberships__role=Role.CASHIER, is_active=True
        ).values_list("pk", flat=True)
    )
    device_ids = set(sold.filter(device__isnull=False).values_list("device_id", flat=True))
    devices = Device.objects.filter(school=school).filter(
        Q(kind=Device.Kind.POS_TERMINAL) | Q(pk__in=device_ids)
    )
    users = User.objects.filter(pk__in=user_ids).order_by("full_name", "pk")
    return [Till(cashier=user) for user in users] + [
        Till(device=device) for device in devices.order_by("name", "pk")
    ]


def shift_close(school: School, day: dt.date, till: Till, *, show_blocked: bool) -> Report:
    """The shift of ``till`` on ``day``: sales rung up (count and sum, the free-meal fund's
    part and the wallets'), the voids among them with their reasons, the refunds given
    at that till that day with theirs, and the net; the dishes sold.

    Refunds are the till's when a terminal gave them (its transaction ids) or the cashier
    booked them. A pupil whose data are blocked is named only to ``show_blocked``.
    """
    start, end = day_range(day)
    sales = Sale.objects.filter(school=school, sold_at__gte=start, sold_at__lt=end)
    refunds = LedgerTransaction.objects.filter(
        school=school, kind=Kind.SALE_REFUND, booked_at__gte=start, booked_at__lt=end
    )
    if till.cashier is not None:
        sales = sales.filter(cashier=till.cashier)
        refunds = refunds.filter(created_by=till.cashier)
    elif till.device is not None:
        sales = sales.filter(device=till.device)
        refunds = refunds.filter(external_id__startswith=f"d{till.device.pk}:")

    by_status: dict[str, Any] = {
        row["status"]: row
        for row in sales.order_by()
        .values("status")
        .annotate(
            count=Count("id"),
            total=Sum("total"),
            free=Sum("free_amount"),
            wallet=Sum("wallet_amount"),
            offline=Count("id", filter=Q(offline=True)),
        )
    }

    def part(status: str | None, key: str) -> Any:
        rows = [by_status.get(status)] if status else list(by_status.values())
        values = [row[key] for row in rows if row is not None]
        return sum(values) if key in ("count", "offline") else sum(map(_money, values), ZERO)

    refunded = refunds.order_by().aggregate(count=Count("id"), amount=Sum("amount"))
    refund_count, refund_sum = refunded["count"], _money(refunded["amount"])
    gross = [part(None, "count"), part(None, "total"), part(None, "free"), part(None, "wallet")]
    voided = [part(Sale.Status.VOIDED, key) for key in ("count", "total", "free", "wallet")]
    net_total = gross[1] - voided[1] - refund_sum
    summary = Table(
        "summary",
        _("Shift close"),
        [
            Column("", TEXT, 30),
            Column(_("Count"), COUNT, 9),
            Column(_("Amount, ₸"), MONEY),
            Column(_("Free meals (fund), ₸"), MONEY, 16),
            Column(_("From wallets, ₸"), MONEY, 16),
        ],
    )
    summary.rows = [
        [_("Sales rung up"), *gross],
        [_("of them sold offline"), part(None, "offline"), "", "", ""],
        [_("Voided"), voided[0], -voided[1], -voided[2], -voided[3]],
        [_("Refunded"), refund_count, -refund_sum, ZERO, -refund_sum],
    ]
    summary.total = [
        _("Net"),
        gross[0] - voided[0],
        net_total,
        gross[2] - voided[2],
        gross[3] - voided[3] - refund_sum,
    ]

    voids = Table(
        "voids",
        _("Voids"),
        [
            Column(_("Sold at"), TEXT, 8),
            Column(_("Voided at"), TEXT, 16),
            Column(_("Till's transaction"), TEXT, 22),
            Column(_("Personal account"), TEXT, 14),
            Column(_("Pupil"), TEXT, 30),
            Column(_("Amount, ₸"), MONEY),
            Column(_("Reason"), TEXT, 40),
        ],
        named=True,
        empty=_("No voids."),
    )
    local = zone()
    for sale in (
        sales.filter(status=Sale.Status.VOIDED)
        .select_related("pupil__person")
        .order_by("sold_at", "pk")
    ):
        account, name = pupil_cells(sale.pupil, show_blocked)
        voids.rows.append([
            sale.sold_at.astimezone(local).strftime("%H:%M"),
            sale.voided_at.astimezone(local).strftime("%d.%m %H:%M") if sale.voided_at else "",
            sale.external_id.split(":", 1)[-1],
            account,
            name,
            _money(sale.total),
            sale.void_reason,
        ])  # fmt: skip
    voids.total = [_("Total"), "", "", "", "", voided[1], ""]

    given = Table(
        "refunds",
        _("Refunds"),
        [
            Column(_("Time"), TEXT, 8),
            Column(_("Refund"), TEXT, 22),
            Column(_("Sale"), TEXT, 22),
            Column(_("Personal account"), TEXT, 14),
            Column(_("Pupil"), TEXT, 30),
            Column(_("Amount, ₸"), MONEY),
            Column(_("Reason"), TEXT, 40),
        ],
        named=True,
        empty=_("No refunds."),
    )
    # The refunds first (a handful), then their wallets' entries by transaction id.
    booked_refunds = list(refunds.select_related("reverses").order_by("booked_at", "pk"))
    wallets_of = {
        entry.transaction_id: entry.wallet
        for entry in Entry.objects.filter(
            transaction_id__in=[booked.pk for booked in booked_refunds], wallet__isnull=False
        ).select_related("wallet__pupil__person")
    }
    for booked in booked_refunds:
        wallet = wallets_of.get(booked.pk)
        account, name = pupil_cells(wallet.pupil, show_blocked) if wallet else ("", "")
        original = booked.reverses.external_id if booked.reverses is not None else ""
        given.rows.append([
            booked.booked_at.astimezone(local).strftime("%H:%M"),
            booked.external_id.split(":", 1)[-1],
            original.split(":", 1)[-1],
            account,
            name,
            _money(booked.amount),
            booked.reason,
        ])  # fmt: skip
    given.total = [_("Total"), "", "", "", "", refund_sum, ""]

    items = Table(
        "items",
        _("Dishes sold (voids left out)"),
        [
            Column(_("Dish"), TEXT, 34),
            Column(_("Quantity"), COUNT, 10),
            Column(_("Amount, ₸"), MONEY),
        ],
        empty=_("Nothing was sold."),
    )
    lines = list(
        SaleLine.objects.filter(sale__in=sales.filter(status=Sale.Status.SOLD).values("pk"))
        .order_by()
        .values("dish_id")
        .annotate(quantity=Sum("quantity"), amount=Sum("amount"))
    )
    dishes = Dish.objects.filter(school=school).in_bulk({line["dish_id"] for line in lines})
    for line in sorted(lines, key=lambda line: -_money(line["amount"])):
        dish = dishes.get(line["dish_id"])
        items.rows.append(
            [dish.name if dish else f"#{line['dish_id']}", line["quantity"], _money(line["amount"])]
        )
    items.total = [
        _("Total"),
        sum(row[1] for row in items.rows),
        sum((row[2] for row in items.rows), ZERO),
    ]
    return Report(
        f"shift-{till.key}" if till.key else "shift",
        _("Shift close: %(till)s") % {"till": till.name},
        period_name(day, day),
        [summary, voids, given, items],
    )


def pupil_cells(pupil: Pupil, show_blocked: bool) -> tuple[str, str]:
    """(personal account, name) of a pupil in a report: a pupil whose data are blocked is
    named, marked and without the account, only to ``show_blocked`` (the safety roles)."""
    if pupil.person.blocked_at is None:
        return pupil.account_number, pupil.person.full_name
    if show_blocked:
        return "", f"{pupil.person.full_name} ({_('blocked')})"
    return "", _("(data blocked)")


# --- 3. balances at a date ----------------------------------------------------------------


def balances_at(
    school: School, day: dt.date, *, school_class: SchoolClass | None, show_blocked: bool
) -> Report:
    """Every pupil's balance at the end of ``day`` (Almaty), summed from the ledger entries
    booked up to then — never the cached balance, so later movements do not show. The
    pupils studying here now and everyone with a wallet are listed (no wallet: 0);
    wallets in debt first (the deepest first), then by class and name.

    A pupil whose data are blocked is named only to ``show_blocked``; for others their
    balances are one unnamed line, so the totals stay whole.
    """
    end = day_range(day)[1]
    entries = Entry.objects.filter(
        school=school, wallet__isnull=False, transaction__booked_at__lt=end
    )
    pupils = Pupil.objects.filter(school=school).filter(Q(is_active=True) | Q(wallet__isnull=False))
    if school_class is not None:
        entries = entries.filter(wallet__pupil__school_class=school_class)
        pupils = pupils.filter(school_class=school_class)
    sums = dict(
        entries.order_by()
        .values("wallet_id")
        .annotate(total=Sum("amount"))
        .values_list("wallet_id", "total")
    )
    rows: list[tuple[Decimal, Any]] = []
    for found in pupils.order_by().values(
        "account_number",
        "is_active",
        "wallet",
        "person__last_name",
        "person__first_name",
        "person__patronymic",
        "person__blocked_at",
        "school_class__grade",
        "school_class__letter",
    ):
        rows.append((_money(sums.get(found["wallet"])), found))

    def order(item: tuple[Decimal, Any]) -> tuple[Any, ...]:
        amount, pupil = item
        in_debt = amount < 0
        return (
            not in_debt,
            amount if in_debt else ZERO,
            pupil["school_class__grade"] if pupil["school_class__grade"] is not None else 99,
            pupil["school_class__letter"] or "",
            pupil["person__last_name"].casefold(),
            pupil["person__first_name"].casefold(),
        )

    table = Table(
        "balances",
        _("Balances"),
        [
            Column(_("Personal account"), TEXT, 14),
            Column(_("Pupil"), TEXT, 34),
            Column(_("Class"), TEXT, 8),
            Column(_("Balance, ₸"), MONEY),
            Column(_("Note"), TEXT, 22),
        ],
        named=True,
        empty=_("No pupils."),
    )
    hidden, hidden_sum = 0, ZERO
    held, owed, in_debt = ZERO, ZERO, 0
    for amount, pupil in sorted(rows, key=order):
        if amount < 0:
            owed, in_debt = owed + amount, in_debt + 1
        else:
            held += amount
        blocked = pupil["person__blocked_at"] is not None
        if blocked and not show_blocked:
            hidden, hidden_sum = hidden + 1, hidden_sum + amount
            continue
        name = " ".join(
            part
            for part in (
                pupil["person__last_name"],
                pupil["person__first_name"],
                pupil["person__patronymic"],
            )
            if part
        )
        grade, letter = pupil["school_class__grade"], pupil["school_class__letter"]
        notes = []
        if amount < 0:
            notes.append(_("in debt"))
        if not pupil["is_active"]:
            notes.append(_("left the school"))
        if blocked:
            notes.append(_("blocked"))
        table.rows.append([
            "" if blocked else pupil["account_number"],
            name,
            f"{grade} {letter}" if grade is not None else "",
            amount,
            ", ".join(notes),
        ])  # fmt: skip
    if hidden:
        table.rows.append([
            "",
            _("Pupils whose data are blocked: %(count)s") % {"count": hidden},
            "",
            hidden_sum,
            "",
        ])  # fmt: skip
    table.total = [_("Total"), _("%(count)s pupils") % {"count": len(rows)}, "", held + owed, ""]
    summary = Table(
        "summary",
        _("Summary"),
        [
            Column(_("Pupils"), COUNT, 10),
            Column(_("In debt"), COUNT, 10),
            Column(_("Held for pupils, ₸"), MONEY, 18),
            Column(_("Owed by pupils, ₸"), MONEY, 18),
            Column(_("Balance of all wallets, ₸"), MONEY, 20),
        ],
        rows=[[len(rows), in_debt, held, -owed, held + owed]],
    )
    period = day.strftime("%d.%m.%Y")
    if school_class is not None:
        period = f"{period}, {school_class}"
    return Report("balances", _("Balances at the end of the day"), period, [table, summary])


# --- 4. top-ups by provider ---------------------------------------------------------------


def topups_by_provider(school: School, first: dt.date, last: dt.date) -> Report:
    """Per payment provider and day: the top-ups (count, sum), the card refunds of top-ups
    (count, sum) and the net; then per provider over the period. By the providers' own
    times (``booked_at``), the day their registers count them."""
    start, end = _period(first, last)
    grouped = (
        LedgerTransaction.objects.filter(
            school=school,
            kind__in=[Kind.TOPUP, Kind.TOPUP_REFUND],
            booked_at__gte=start,
            booked_at__lt=end,
        )
        .order_by()
        .values("provider_id", "kind", day=local_day("booked_at", first, last))
        .annotate(count=Count("id"), amount=Sum("amount"))
    )
    cells: dict[tuple[int | None, dt.date], list[Any]] = defaultdict(lambda: [0, ZERO, 0, ZERO])
    for row in grouped:
        target = cells[(row["provider_id"], row["day"])]
        at = 0 if row["kind"] == Kind.TOPUP else 2
        target[at] += row["count"]
        target[at + 1] += _money(row["amount"])
    providers = PaymentProvider.objects.in_bulk({provider for provider, _day in cells})

    def provider_name(pk: int | None) -> str:
        found = providers.get(pk) if pk is not None else None
        return found.name if found is not None else "—"

    columns = [
        Column(_("Top-ups"), COUNT, 10),
        Column(_("Topped up, ₸"), MONEY, 16),
        Column(_("Card refunds"), COUNT, 12),
        Column(_("Refunded, ₸"), MONEY, 14),
        Column(_("Net, ₸"), MONEY, 16),
    ]
    by_day = Table(
        "days",
        _("By provider and day"),
        [Column(_("Provider"), TEXT, 24), Column(_("Date"), DATE, 12), *columns],
        empty=_("No top-ups in this period."),
    )
    per_provider: dict[int | None, list[Any]] = defaultdict(lambda: [0, ZERO, 0, ZERO])
    for (pk, day), (count, amount, back_count, back) in sorted(
        cells.items(), key=lambda item: (provider_name(item[0][0]).casefold(), item[0][1])
    ):
        by_day.rows.append([provider_name(pk), day, count, amount, back_count, back, amount - back])
        totals = per_provider[pk]
        for at, value in enumerate((count, amount, back_count, back)):
            totals[at] += value
    by_provider = Table(
        "providers",
        _("By provider, whole period"),
        [Column(_("Provider"), TEXT, 24), *columns],
        empty=_("No top-ups in this period."),
    )
    for pk, (count, amount, back_count, back) in sorted(
        per_provider.items(), key=lambda item: provider_name(item[0]).casefold()
    ):
        by_provider.rows.append([provider_name(pk), count, amount, back_count, back, amount - back])
    grand = _column_sums(by_provider.rows, start=1)
    by_provider.total = [_("Total"), *grand]
    by_day.total = [_("Total"), "", *grand]
    return Report(
        "topups", _("Top-ups by provider"), period_name(first, last), [by_day, by_provider]
    )


def _column_sums(rows: Iterable[list[Any]], *, start: int) -> list[Any]:
    sums: list[Any] = []
    for row in rows:
        values = row[start:]
        sums = list(values) if not sums else [a + b for a, b in zip(sums, values, strict=True)]
    return sums or [0, ZERO, 0, ZERO, ZERO]


# --- 5. offline sales to check ------------------------------------------------------------


def _warning_text(warning: dict[str, Any]) -> str:
    code = warning.get("code")
    if code == "allergen":
        return _("contains an allergen of the pupil")
    if code == "banned_item":
        return _("an item the parents banned")
    if code == "daily_limit":
        return _("past the parents' daily limit (%(left)s ₸ was left)") % {
            "left": tenge(Decimal(str(warning.get("left", "0"))))
        }
    if code == "offline_limit":
        return _("past the school's offline limit (%(spent)s ₸ of %(limit)s ₸)") % {
            "spent": tenge(Decimal(str(warning.get("spent", "0")))),
            "limit": tenge(Decimal(str(warning.get("limit", "0")))),
        }
    return str(code)


def offline_checks(school: School, first: dt.date, last: dt.date, *, show_blocked: bool) -> Report:
    """The offline sales a manager must look at: booked although they broke a rule the
    server knew (an allergen, a ban, the daily or the offline limit: the food was eaten
    before the till could ask) or although the wallet could not cover them (the part not
    covered is the wallet's debt). Names pupils: an audited read."""
    start, end = _period(first, last)
    sales = (
        Sale.objects.filter(
            school=school,
            offline=True,
            status=Sale.Status.SOLD,
            sold_at__gte=start,
            sold_at__lt=end,
        )
        .select_related("pupil__person", "device")
        .order_by("sold_at", "pk")
    )
    table = Table(
        "offline",
        _("Offline sales to check"),
        [
            Column(_("Sold at"), TEXT, 17),
            Column(_("Till"), TEXT, 18),
            Column(_("Personal account"), TEXT, 14),
            Column(_("Pupil"), TEXT, 28),
            Column(_("Items"), TEXT, 36),
            Column(_("From the balance, ₸"), MONEY, 14),
            Column(_("Not covered, ₸"), MONEY, 14),
            Column(_("What to check"), TEXT, 48),
        ],
        named=True,
        empty=_("No offline sale in this period broke a rule or left a debt."),
    )
    for sale in sales:
        answer = json.loads(sale.answer or "{}")
        warnings = [_warning_text(w) for w in answer.get("warnings", [])]
        if sale.shortfall > 0:
            warnings.append(_("the balance did not cover it"))
        if not warnings:
            continue
        items = ", ".join(
            f"{line.get('name', '')} ×{line.get('quantity', 1)}" for line in answer.get("items", [])
        )
        account, name = pupil_cells(sale.pupil, show_blocked)
        till = sale.device.name if sale.device is not None else _("cashier's page")
        table.rows.append(
            [
                f"{sale.sold_at.astimezone(zone()):%d.%m.%Y %H:%M}",
                till,
                account,
                name,
                items,
                _money(sale.wallet_amount),
                _money(sale.shortfall),
                "; ".join(warnings),
            ]
        )
    if table.rows:
        charged = sum((row[5] for row in table.rows), ZERO)
        uncovered = sum((row[6] for row in table.rows), ZERO)
        table.total = [_("Total"), "", "", "", "", charged, uncovered, ""]
    return Report("offline", _("Offline sales to check"), period_name(first, last), [table])
