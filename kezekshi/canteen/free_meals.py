"""Free school meals: who is entitled, the approval of social entitlements, the school's
cost per free meal, and the monthly report for the state Social Wallet.

Who is entitled (see docs/canteen-pos.md):
- every pupil of grades 1–4 of a state school, by grade (no row, nothing to approve);
- a pupil of any grade with an approved ``FreeMealEntitlement`` valid that day: the
  social pedagogue enters it with its social basis, the director (school
  administrator) approves or rejects it; nobody approves their own entry.

A free meal is booked by the till (``pos.sell``) from the school's free-meal fund,
never from the parents' balance, at most once per pupil, meal and day (a unique
constraint). What the pupil takes beyond the free meal's cost is an ordinary purchase.
"""

from __future__ import annotations

import calendar
import csv
import datetime as dt
import io
import time
from collections.abc import Iterator
from dataclasses import dataclass
from decimal import Decimal
from zoneinfo import ZoneInfo

from django.conf import settings
from django.db import transaction
from django.db.models import Q, QuerySet
from django.http import HttpRequest
from django.utils import timezone
from django.utils.translation import gettext as _

from kezekshi.accounts.models import User
from kezekshi.canteen import reports
from kezekshi.canteen.menu import day_range, local_today
from kezekshi.canteen.models import ZERO, CanteenSettings, FreeMeal, FreeMealEntitlement, Meal
from kezekshi.canteen.money import LARGEST, is_money, plain
from kezekshi.core.errors import Forbidden, ServiceError
from kezekshi.core.models import School
from kezekshi.people.models import Pupil
from kezekshi.privacy import audit

Status = FreeMealEntitlement.Status
GRADES_BY_LAW = range(1, 5)
BY_GRADE = "grades_1_4"
# An entitlement lasts at most a school year and a summer.
LONGEST = dt.timedelta(days=400)


# --- the school's settings ---------------------------------------------------------------


def settings_of(school_id: int) -> CanteenSettings:
    """The school's canteen settings (defaults until someone saves them)."""
    found = CanteenSettings.objects.filter(school_id=school_id).first()
    return found or CanteenSettings(school_id=school_id)


# The tills read the settings at every sale of an entitled pupil; a change reaches every
# web process within this time (at once in the process that saved it).
SETTINGS_SECONDS = 30.0
_settings: dict[int, tuple[float, CanteenSettings]] = {}


def cached_settings(school_id: int) -> CanteenSettings:
    now = time.monotonic()
    cached = _settings.get(school_id)
    if cached is not None and now - cached[0] < SETTINGS_SECONDS:
        return cached[1]
    found = settings_of(school_id)
    _settings[school_id] = (now, found)
    return found


def forget_settings(school_id: int | None = None) -> None:
    if school_id is None:
        _settings.clear()
    else:
        _settings.pop(school_id, None)


@transaction.atomic
def save_settings(
    *,
    school: School,
    by: User,
    free_breakfast_cost: Decimal,
    free_lunch_cost: Decimal,
    free_snack_cost: Decimal,
    offline_limit: Decimal,
    request: HttpRequest | None = None,
) -> CanteenSettings:
    """Set the free meals' costs (0: that meal is not subsidised) and the offline limit.
    Audited (the school's rules for children's money). Raises ``invalid_amount``."""
    values = {
        "free_breakfast_cost": free_breakfast_cost,
        "free_lunch_cost": free_lunch_cost,
        "free_snack_cost": free_snack_cost,
        "offline_limit": offline_limit,
    }
    for value in values.values():
        if not (value == ZERO or is_money(value)):
            raise ServiceError(
                "invalid_amount",
                _("Give amounts in tenge, 0 or more, with at most 2 decimal places."),
                status=422,
                largest=str(LARGEST),
            )
    row, _created = CanteenSettings.objects.select_for_update().get_or_create(school=school)
    before = {name: plain(getattr(row, name)) if getattr(row, name) else "0.00" for name in values}
    for name, value in values.items():
        setattr(row, name, value)
    row.updated_at = timezone.now()
    row.save()
    transaction.on_commit(lambda: forget_settings(school.pk))
    audit.record(
        action=audit.Action.CHANGE,
        actor=by,
        school=school,
        target="canteen:settings",
        details={
            name: {"from": before[name], "to": plain(v) if v else "0.00"}
            for name, v in values.items()
        },
        request=request,
    )
    return row


# --- who is entitled ---------------------------------------------------------------------


def by_grade(pupil: Pupil) -> bool:
    """Grades 1–4 of a state school: entitled by law, without an application."""
    school_class = pupil.school_class
    return (
        school_class is not None
        and school_class.grade in GRADES_BY_LAW
        and pupil.school.ownership == School.Ownership.STATE
    )


def in_force_on(day: dt.date) -> Q:
    """Entitlements that make ``day`` free: approved, or revoked after ``day`` ended
    (a revocation ends an entitlement yesterday: the days before it stay free, which an
    offline sale of such a day, uploaded after the revocation, needs), within their dates.
    """
    return Q(valid_from__lte=day, valid_until__gte=day) & (
        Q(status=Status.APPROVED) | Q(status=Status.REVOKED, decided_at__gte=day_range(day)[1])
    )


def basis_on(pupil: Pupil, day: dt.date) -> str | None:
    """Why ``pupil`` eats free on ``day`` (``"grades_1_4"`` or an entitlement's basis),
    or None. An entitlement counts only once approved, within its dates and before the
    day it was revoked (``in_force_on``)."""
    if not pupil.is_active:
        return None
    if by_grade(pupil):
        return BY_GRADE
    return (
        FreeMealEntitlement.objects.filter(in_force_on(day), school_id=pupil.school_id, pupil=pupil)
        .values_list("basis", flat=True)
        .first()
    )


def entitled_ids(school: School, day: dt.date) -> dict[int, str]:
    """Every pupil of the school entitled on ``day`` → basis (for the terminals' sync)."""
    found: dict[int, str] = {}
    if school.ownership == School.Ownership.STATE:
        found.update(
            dict.fromkeys(
                Pupil.objects.filter(
                    school=school, is_active=True, school_class__grade__in=list(GRADES_BY_LAW)
                ).values_list("pk", flat=True),
                BY_GRADE,
            )
        )
    for pupil_id, basis in FreeMealEntitlement.objects.filter(
        in_force_on(day), school=school, pupil__is_active=True
    ).values_list("pupil_id", "basis"):
        found.setdefault(pupil_id, basis)
    return found


def subsidised_meals(rules: CanteenSettings) -> list[str]:
    return [meal.value for meal in Meal if rules.free_meal_cost(meal.value) > 0]


# --- the approval flow -------------------------------------------------------------------


@transaction.atomic
def propose(
    *,
    pupil: Pupil,
    basis: str,
    valid_from: dt.date,
    valid_until: dt.date,
    by: User,
    note: str = "",
    request: HttpRequest | None = None,
) -> FreeMealEntitlement:
    """The social pedagogue enters a pupil entitled for a social reason; it waits for the
    director's approval. Raises ``invalid_basis``, ``invalid_dates`` (until before from,
    or longer than a school year), ``already_entitled`` (an overlapping entry waiting or
    approved), ``not_studying``. Audited."""
    if basis not in FreeMealEntitlement.Basis.values:
        raise ServiceError("invalid_basis", _("Choose the basis from the list."), status=422)
    if valid_until < valid_from or valid_until - valid_from > LONGEST:
        raise ServiceError(
            "invalid_dates",
            _("The end must follow the start, within one school year."),
            status=422,
        )
    if not pupil.is_active:
        raise ServiceError("not_studying", _("The pupil no longer studies here."), status=422)
    overlapping = FreeMealEntitlement.objects.filter(
        school_id=pupil.school_id,
        pupil=pupil,
        status__in=[Status.PROPOSED, Status.APPROVED],
        valid_from__lte=valid_until,
        valid_until__gte=valid_from,
    )
    if overlapping.exists():
        raise ServiceError(
            "already_entitled",
            _("This pupil already has an entry for these dates."),
            status=409,
        )
    row = FreeMealEntitlement.objects.create(
        school_id=pupil.school_id,
        pupil=pupil,
        basis=basis,
        valid_from=valid_from,
        valid_until=valid_until,
        note=" ".join(note.split())[:300],
        proposed_by=by,
    )
    _audit(row, by, "proposed", request)
    return row


@transaction.atomic
def decide(
    *,
    entitlement: FreeMealEntitlement,
    approve: bool,
    by: User,
    note: str = "",
    request: HttpRequest | None = None,
) -> FreeMealEntitlement:
    """The director approves or rejects an entry waiting for approval. Nobody decides on
    their own entry (``own_entry``, 403); a decided entry stays decided
    (``already_decided``, 409). Audited."""
    row = FreeMealEntitlement.objects.select_for_update().get(pk=entitlement.pk)
    if row.status != Status.PROPOSED:
        raise ServiceError("already_decided", _("This entry was decided already."), status=409)
    if row.proposed_by_id == by.pk:
        raise Forbidden("own_entry", _("Another person must approve what you entered."))
    row.status = Status.APPROVED if approve else Status.REJECTED
    row.decided_by, row.decided_at = by, timezone.now()
    if note:
        row.note = " ".join(note.split())[:300]
    row.save(update_fields=["status", "decided_by", "decided_at", "note"])
    _audit(row, by, row.status, request)
    return row


@transaction.atomic
def revoke(
    *,
    entitlement: FreeMealEntitlement,
    by: User,
    note: str,
    request: HttpRequest | None = None,
) -> FreeMealEntitlement:
    """End an approved entitlement from today (the family no longer qualifies). Meals
    already served stay in the report. Raises ``reason_required``, ``not_approved``."""
    why = " ".join(note.split())[:300]
    if not why:
        raise ServiceError("reason_required", _("Say why."), status=422)
    row = FreeMealEntitlement.objects.select_for_update().get(pk=entitlement.pk)
    if row.status != Status.APPROVED:
        raise ServiceError("not_approved", _("Only an approved entry can be revoked."), status=409)
    yesterday = local_today() - dt.timedelta(days=1)
    row.status = Status.REVOKED
    row.note = why
    row.decided_by, row.decided_at = by, timezone.now()
    row.valid_until = max(row.valid_from, min(row.valid_until, yesterday))
    row.save(update_fields=["status", "note", "decided_by", "decided_at", "valid_until"])
    _audit(row, by, "revoked", request)
    return row


def _audit(row: FreeMealEntitlement, by: User, what: str, request: HttpRequest | None) -> None:
    audit.record(
        action=audit.Action.CHANGE,
        actor=by,
        school=row.school,
        person=row.pupil.person,
        target=f"canteen:free_meals:{row.pk}",
        details={
            "entitlement": what,
            "basis": row.basis,
            "valid_from": row.valid_from.isoformat(),
            "valid_until": row.valid_until.isoformat(),
        },
        request=request,
    )


# --- the monthly report ------------------------------------------------------------------


@dataclass(frozen=True)
class ReportLine:
    account_number: str
    pupil: str
    school_class: str
    date: dt.date
    time: str
    meal: str
    basis: str
    cost: Decimal


def month_bounds(year: int, month: int) -> tuple[dt.date, dt.date]:
    return dt.date(year, month, 1), dt.date(year, month, calendar.monthrange(year, month)[1])


def served(school: School, year: int, month: int) -> QuerySet[FreeMeal]:
    first, last = month_bounds(year, month)
    return (
        FreeMeal.objects.filter(
            school=school, date__gte=first, date__lte=last, voided_at__isnull=True
        )
        .select_related("pupil__person", "pupil__school_class")
        .order_by("date", "served_at", "pk")
    )


def report_lines(
    school: School, year: int, month: int, *, show_blocked: bool
) -> Iterator[ReportLine]:
    """The month's free meals, a line each. A pupil whose data are blocked is named only
    to ``show_blocked`` (the safety roles), as in the other canteen reports; to others
    the line stays (the total is whole) without the name, account and class."""
    bases = {code: str(label) for code, label in FreeMealEntitlement.Basis.choices}
    bases[BY_GRADE] = _("Grades 1–4")
    meals = dict(Meal.choices)
    zone = ZoneInfo(settings.SCHOOL_TIME_ZONE)
    for row in served(school, year, month).iterator(chunk_size=2000):
        account, name = reports.pupil_cells(row.pupil, show_blocked)
        hidden = row.pupil.person.blocked_at is not None and not show_blocked
        yield ReportLine(
            account_number=account,
            pupil=name,
            school_class="" if hidden else str(row.pupil.school_class or ""),
            date=row.date,
            time=row.served_at.astimezone(zone).strftime("%H:%M"),
            meal=str(meals.get(row.meal, row.meal)),
            basis=str(bases.get(row.basis, row.basis)),
            cost=row.cost,
        )


def report_headers() -> list[str]:
    return [
        _("Personal account"),
        _("Pupil"),
        _("Class"),
        _("Date"),
        _("Time"),
        _("Meal"),
        _("Basis"),
        _("Cost, ₸"),
    ]


def _cells(line: ReportLine) -> list[object]:
    return [
        line.account_number,
        line.pupil,
        line.school_class,
        line.date,
        line.time,
        line.meal,
        line.basis,
        line.cost,
    ]


def report_csv(school: School, year: int, month: int, *, show_blocked: bool) -> bytes:
    """The report as CSV (UTF-8 with a BOM, so Excel opens Cyrillic right; ``;``-separated
    as Excel expects with a Kazakh or Russian locale)."""
    out = io.StringIO()
    writer = csv.writer(out, delimiter=";")
    writer.writerow(report_headers())
    total = ZERO
    for line in report_lines(school, year, month, show_blocked=show_blocked):
        cells = _cells(line)
        cells[3] = line.date.strftime("%d.%m.%Y")
        cells[7] = plain(line.cost)
        writer.writerow([reports.csv_text(str(cell)) for cell in cells])
        total += line.cost
    writer.writerow(["", _("Total"), "", "", "", "", "", plain(total)])
    return ("\ufeff" + out.getvalue()).encode()


def report_xlsx(school: School, year: int, month: int, *, show_blocked: bool) -> bytes:
    """The report as an Excel workbook: one sheet, a header row, a total."""
    from openpyxl import Workbook
    from openpyxl.styles import Font

    book = Workbook(write_only=False)
    sheet = book.active
    assert sheet is not None
    sheet.title = f"{year}-{month:02d}"
    sheet.append(
        [reports.xlsx_cell(sheet, f"{school.name} — {_('Free meals')} {month:02d}.{year}")]
    )
    sheet.append(report_headers())
    for cell in sheet[2]:
        cell.font = Font(bold=True)
    total = ZERO
    for line in report_lines(school, year, month, show_blocked=show_blocked):
        sheet.append([reports.xlsx_cell(sheet, cell) for cell in _cells(line)])
        row = sheet.max_row
        sheet.cell(row=row, column=4).number_format = "DD.MM.YYYY"
        sheet.cell(row=row, column=8).number_format = "#,##0.00"
        total += line.cost
    sheet.append(["", _("Total"), "", "", "", "", "", total])
    sheet.cell(row=sheet.max_row, column=8).number_format = "#,##0.00"
    for column, width in zip("ABCDEFGH", (14, 34, 8, 12, 8, 12, 30, 12), strict=True):
        sheet.column_dimensions[column].width = width
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()
