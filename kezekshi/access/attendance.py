"""Attendance: each pupil's day, per class and day, per class and month, the whole school
right now, the staff's time sheets, and the class teachers' absence alerts.

A pupil's day is *present* (entered), *late* (first entry after the shift's start plus
the school's grace minutes), *excused* (no entry, and an ``Excuse`` covers the day),
*absent* (a working day of the school, no entry, not excused) — or, for today before
the shift has started, *expected*. Entries and exits are ``DailyAttendance`` rows kept by
``services.record_passes``; times are shown in ``settings.SCHOOL_TIME_ZONE``.

Every report costs a fixed handful of queries (pupils, shifts, settings, calendar,
attendance rows, excuses), never one per pupil. The one write here is
``send_absence_alerts``; excuses and exit permits are in ``kezekshi.access.excuses``.
"""

from __future__ import annotations

import calendar as month_calendar
import datetime as dt
from collections import Counter, defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field

from django.db import models, transaction
from django.db.models import Q, QuerySet
from django.utils import timezone, translation
from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext

from kezekshi.access.decisions import local_time, settings_for
from kezekshi.access.models import AbsenceAlert, AccessSettings, DailyAttendance, Excuse
from kezekshi.accounts.models import User
from kezekshi.accounts.permissions import roles_in
from kezekshi.accounts.roles import ROLE_PERMISSIONS, Perm, Role
from kezekshi.core.calendar import WorkingCalendar
from kezekshi.core.models import School, Shift
from kezekshi.notifications import services as notifications
from kezekshi.people.models import Pupil, SchoolClass, StaffMember

# How far back an absence streak is followed when telling its length.
STREAK_LOOKBACK_DAYS = 60


class Mark(models.TextChoices):
    PRESENT = "present", _("Present")
    LATE = "late", _("Late")
    ABSENT = "absent", _("Absent")
    EXCUSED = "excused", _("Excused")
    EXPECTED = "expected", _("Not yet arrived")
    DAY_OFF = "day_off", _("Day off")
    UPCOMING = "upcoming", _("Upcoming")


# The marks that count in a report's totals, in the order the pages show them.
COUNTED = (Mark.PRESENT, Mark.LATE, Mark.ABSENT, Mark.EXCUSED, Mark.EXPECTED)


@dataclass(frozen=True)
class Day:
    """One person's day: the mark and the local times of the first entry and last exit."""

    date: dt.date
    mark: Mark
    first_in: dt.time | None = None
    last_out: dt.time | None = None
    excuse: str = ""

    @property
    def came(self) -> bool:
        return self.mark in (Mark.PRESENT, Mark.LATE)


@dataclass
class PupilDays:
    pupil: Pupil
    days: list[Day]

    @property
    def counts(self) -> Counter[str]:
        return Counter(day.mark.value for day in self.days)


@dataclass
class ClassDay:
    school_class: SchoolClass
    date: dt.date
    working_day: bool
    shift: Shift | None
    rows: list[PupilDays]
    # Marks of pupils counted but not listed (blocked, for a role that may not see them):
    # aggregates count every pupil, named rows hide the blocked (docs/privacy.md).
    unlisted: Counter[str] = field(default_factory=Counter)

    @property
    def counts(self) -> Counter[str]:
        listed = Counter(row.days[0].mark.value for row in self.rows)
        return listed + self.unlisted


@dataclass
class ClassMonth:
    school_class: SchoolClass
    days: list[dt.date]
    working: list[bool]
    rows: list[PupilDays]


@dataclass
class ClassNow:
    school_class: SchoolClass
    counts: Counter[str] = field(default_factory=Counter)

    @property
    def total(self) -> int:
        return sum(self.counts[mark] for mark in COUNTED)


@dataclass
class SchoolNow:
    date: dt.date
    at: dt.datetime  # local
    working_day: bool
    classes: list[ClassNow]

    @property
    def totals(self) -> Counter[str]:
        total: Counter[str] = Counter()
        for row in self.classes:
            total.update(row.counts)
        return total

    @property
    def total(self) -> int:
        return sum(row.total for row in self.classes)


@dataclass(frozen=True)
class WorkDay:
    date: dt.date
    first_in: dt.time | None
    last_out: dt.time | None
    worked: dt.timedelta | None  # from the first entry to the last exit, when both are known


@dataclass
class StaffMonth:
    staff: StaffMember
    days: list[WorkDay]

    @property
    def worked(self) -> dt.timedelta:
        return sum((day.worked for day in self.days if day.worked), dt.timedelta(0))

    @property
    def days_present(self) -> int:
        return sum(1 for day in self.days if day.first_in or day.last_out)


# --- who sees which classes -------------------------------------------------------------


def classes_for(user: User, school: School, perm: Perm) -> QuerySet[SchoolClass]:
    """The classes of ``school`` whose attendance ``user`` may see or change under ``perm``.

    A user who holds ``perm`` only as a class teacher gets the classes they lead; any
    other role that grants it (the school admin, the social pedagogue) gets every class.
    """
    classes = SchoolClass.objects.filter(school=school).order_by("grade", "letter")
    granting = {role for role in roles_in(user, school) if perm in ROLE_PERMISSIONS[role]}
    if granting - {Role.CLASS_TEACHER}:
        return classes
    if Role.CLASS_TEACHER in granting:
        return classes.filter(class_teacher__person__user=user)
    return classes.none()


# --- marking days -------------------------------------------------------------------------


class _Marker:
    """What marking days of one school needs, read once: settings, shifts, calendar, now."""

    def __init__(self, school: School, now: dt.datetime | None = None) -> None:
        self.now = local_time(now or timezone.now())
        self.today = self.now.date()
        self.grace = dt.timedelta(minutes=settings_for(school.pk).late_grace_minutes)
        self.shifts = {shift.number: shift for shift in Shift.objects.filter(school=school)}
        self.calendar = WorkingCalendar(school=school)
        self._working: dict[dt.date, bool] = {}

    def working(self, day: dt.date) -> bool:
        if day not in self._working:
            self._working[day] = self.calendar.is_working_day(day)
        return self._working[day]

    def starts(self, shift_number: int | None, day: dt.date) -> dt.datetime | None:
        """The local moment after which an entry on ``day`` is late; None: no shift known."""
        shift = self.shifts.get(shift_number) if shift_number else None
        if shift is None:
            return None
        return dt.datetime.combine(day, shift.starts_at) + self.grace

    def mark(
        self,
        day: dt.date,
        *,
        shift_number: int | None,
        row: DailyAttendance | None,
        excuse: Excuse | None,
    ) -> Day:
        first = local_time(row.first_in) if row is not None and row.first_in else None
        last = local_time(row.last_out) if row is not None and row.last_out else None
        if first is not None or last is not None:
            late_after = self.starts(shift_number, day) if self.working(day) else None
            late = first is not None and late_after is not None
            late = late and first.replace(tzinfo=None) > late_after  # type: ignore[union-attr,operator]
            return Day(
                day,
                Mark.LATE if late else Mark.PRESENT,
                first.time() if first else None,
                last.time() if last else None,
            )
        if excuse is not None:
            return Day(day, Mark.EXCUSED, excuse=excuse.reason)
        if day > self.today:
            return Day(day, Mark.UPCOMING)
        if not self.working(day):
            return Day(day, Mark.DAY_OFF)
        if day == self.today:
            late_after = self.starts(shift_number, day)
            # Without a shift we cannot tell when the day starts: not absent until tomorrow.
            if late_after is None or self.now.replace(tzinfo=None) <= late_after:
                return Day(day, Mark.EXPECTED)
        return Day(day, Mark.ABSENT)


def _attendance(
    school: School, start: dt.date, end: dt.date, people: Q
) -> dict[tuple[int, dt.date], DailyAttendance]:
    rows = DailyAttendance.objects.filter(school=school, date__range=(start, end)).filter(people)
    return {(row.person_id, row.date): row for row in rows}


def _excuses(school: School, start: dt.date, end: dt.date, pupils: Q) -> dict[int, list[Excuse]]:
    found: dict[int, list[Excuse]] = defaultdict(list)
    rows = Excuse.objects.filter(school=school, starts_on__lte=end, ends_on__gte=start)
    for excuse in rows.filter(pupils).order_by("pk"):
        found[excuse.pupil_id].append(excuse)
    return found


def _covering(excuses: Iterable[Excuse], day: dt.date) -> Excuse | None:
    return next((e for e in excuses if e.starts_on <= day <= e.ends_on), None)


def _pupils(school_class: SchoolClass, *, include_blocked: bool) -> list[Pupil]:
    pupils = Pupil.objects.filter(school_class=school_class, is_active=True).select_related(
        "person", "school_class"
    )
    if not include_blocked:
        pupils = pupils.filter(person__blocked_at__isnull=True)
    return list(pupils.order_by("person__last_name", "person__first_name", "pk"))


def _month_days(year: int, month: int) -> list[dt.date]:
    last = month_calendar.monthrange(year, month)[1]
    return [dt.date(year, month, day) for day in range(1, last + 1)]


def _span(
    school: School,
    pupils: list[Pupil],
    days: list[dt.date],
    *,
    pupil_filter: Q,
    person_filter: Q,
    marker: _Marker,
) -> list[PupilDays]:
    start, end = days[0], days[-1]
    rows = _attendance(school, start, end, person_filter)
    excuses = _excuses(school, start, end, pupil_filter)
    result = []
    for pupil in pupils:
        shift = pupil.school_class.shift if pupil.school_class else None
        own = excuses.get(pupil.pk, [])
        result.append(
            PupilDays(
                pupil,
                [
                    marker.mark(
                        day,
                        shift_number=shift,
                        row=rows.get((pupil.person_id, day)),
                        excuse=_covering(own, day),
                    )
                    for day in days
                ],
            )
        )
    return result


# --- reports --------------------------------------------------------------------------------


def class_day(
    *,
    school_class: SchoolClass,
    day: dt.date,
    include_blocked: bool = False,
    now: dt.datetime | None = None,
) -> ClassDay:
    """Each pupil of the class on ``day``, by last name, with their mark and times.

    ``include_blocked``: list pupils whose data are blocked (only for the safety roles).
    Either way ``counts`` counts them: a number, not a person.
    """
    school = school_class.school
    marker = _Marker(school, now)
    pupils = _pupils(school_class, include_blocked=True)
    every = _span(
        school,
        pupils,
        [day],
        pupil_filter=Q(pupil__school_class=school_class),
        person_filter=Q(person__pupil__school_class=school_class),
        marker=marker,
    )
    rows = [row for row in every if include_blocked or row.pupil.person.blocked_at is None]
    unlisted = Counter(
        row.days[0].mark.value
        for row in every
        if not include_blocked and row.pupil.person.blocked_at is not None
    )
    return ClassDay(
        school_class,
        day,
        marker.working(day),
        marker.shifts.get(school_class.shift),
        rows,
        unlisted,
    )


def class_month(
    *,
    school_class: SchoolClass,
    year: int,
    month: int,
    include_blocked: bool = False,
    now: dt.datetime | None = None,
) -> ClassMonth:
    """The class's grid, pupil × day of the month, with marks and times."""
    school = school_class.school
    marker = _Marker(school, now)
    days = _month_days(year, month)
    pupils = _pupils(school_class, include_blocked=include_blocked)
    rows = _span(
        school,
        pupils,
        days,
        pupil_filter=Q(pupil__school_class=school_class),
        person_filter=Q(person__pupil__school_class=school_class),
        marker=marker,
    )
    return ClassMonth(school_class, days, [marker.working(day) for day in days], rows)


def pupil_month(
    *, pupil: Pupil, year: int, month: int, now: dt.datetime | None = None
) -> list[Day]:
    """One pupil's days of the month (for the parents' app)."""
    school = pupil.school
    marker = _Marker(school, now)
    rows = _span(
        school,
        [pupil],
        _month_days(year, month),
        pupil_filter=Q(pupil=pupil),
        person_filter=Q(person_id=pupil.person_id),
        marker=marker,
    )
    return rows[0].days


def school_now(
    *,
    school: School,
    classes: QuerySet[SchoolClass] | None = None,
    now: dt.datetime | None = None,
) -> SchoolNow:
    """Today's counts of present, late, absent, excused and expected pupils by class.

    ``classes`` narrows the report (a class teacher's own classes); counts only, no
    names, so pupils whose data are blocked are counted too (docs/privacy.md: aggregates
    may count them), whoever asks.
    """
    marker = _Marker(school, now)
    today = marker.today
    classes = classes if classes is not None else SchoolClass.objects.filter(school=school)
    class_list = list(classes.order_by("grade", "letter"))
    by_class = {school_class.pk: ClassNow(school_class) for school_class in class_list}
    pupils = Pupil.objects.filter(
        school=school, is_active=True, school_class__in=list(by_class)
    ).select_related("school_class")
    rows = _attendance(school, today, today, Q(person__pupil__school_class__in=list(by_class)))
    excuses = _excuses(school, today, today, Q(pupil__school_class__in=list(by_class)))
    for pupil in pupils:
        assert pupil.school_class is not None
        day = marker.mark(
            today,
            shift_number=pupil.school_class.shift,
            row=rows.get((pupil.person_id, today)),
            excuse=_covering(excuses.get(pupil.pk, []), today),
        )
        by_class[pupil.school_class_id].counts[day.mark.value] += 1  # type: ignore[index]
    return SchoolNow(today, marker.now, marker.working(today), list(by_class.values()))


def staff_month(
    *, school: School, year: int, month: int, include_blocked: bool = False
) -> list[StaffMonth]:
    """Each active staff member's month: first entry, last exit and time inside, per day."""
    days = _month_days(year, month)
    staff = StaffMember.objects.filter(school=school, is_active=True).select_related("person")
    if not include_blocked:
        staff = staff.filter(person__blocked_at__isnull=True)
    rows = _attendance(school, days[0], days[-1], Q(person__staff__isnull=False))
    result = []
    for member in staff.order_by("person__last_name", "person__first_name", "pk"):
        work_days = []
        for day in days:
            row = rows.get((member.person_id, day))
            first = local_time(row.first_in) if row is not None and row.first_in else None
            last = local_time(row.last_out) if row is not None and row.last_out else None
            worked = last - first if first and last and last > first else None
            work_days.append(
                WorkDay(
                    day,
                    first.time() if first else None,
                    last.time() if last else None,
                    worked,
                )
            )
        result.append(StaffMonth(member, work_days))
    return result


# --- absence alerts -------------------------------------------------------------------------


def _working_days_back(marker: _Marker, until: dt.date, count: int) -> list[dt.date]:
    """The last ``count`` working days up to and including ``until``, oldest first."""
    found: list[dt.date] = []
    day = until
    # A year back is more than any vacation; beyond it the school is simply not open.
    while len(found) < count and (until - day).days <= 366:
        if marker.working(day):
            found.append(day)
        day -= dt.timedelta(days=1)
    return list(reversed(found))


def _absence_text(*, language: str, name: str, school_class: str, days: int) -> str:
    with translation.override(language):
        return ngettext(
            "%(name)s (%(class)s) has been absent without an excuse for %(days)d school day"
            " running.",
            "%(name)s (%(class)s) has been absent without an excuse for %(days)d school days"
            " running.",
            days,
        ) % {"name": name, "class": school_class, "days": days}


def send_absence_alerts(*, school: School, now: dt.datetime | None = None) -> list[AbsenceAlert]:
    """Tell each class teacher about pupils absent and not excused for the school's
    ``absence_alert_days`` working days running, up to and including today.

    Idempotent: one alert per pupil and day (``AbsenceAlert`` is unique on it), and a
    pupil already alerted within the current streak's window is not alerted again until
    the absence has gone on for another full window. One transaction per school, under
    the lock of the school's access settings, so two runs at once send nothing twice.
    Pupils whose data are blocked, and classes without a class teacher who can sign
    in, are skipped. Run it after the last shift has ended: today counts.
    """
    with transaction.atomic():
        access = AccessSettings.objects.select_for_update().filter(
            school=school
        ).first() or settings_for(school.pk)
        days_needed = access.absence_alert_days
        if days_needed <= 0:
            return []
        marker = _Marker(school, now)
        today = marker.today
        if not marker.working(today):
            return []
        window = _working_days_back(marker, today, days_needed)
        if len(window) < days_needed:
            return []
        pupils = list(
            Pupil.objects.filter(
                school=school,
                is_active=True,
                person__blocked_at__isnull=True,
                school_class__class_teacher__person__user__is_active=True,
            ).select_related("person", "school_class__class_teacher__person__user")
        )
        absent = _absent_throughout(school, pupils, window, marker)
        if not absent:
            return []
        alerted = set(
            AbsenceAlert.objects.filter(
                school=school, pupil__in=absent, date__range=(window[0], today)
            ).values_list("pupil_id", flat=True)
        )
        absent = [pupil for pupil in absent if pupil.pk not in alerted]
        streaks = _streak_lengths(school, absent, marker, today)
        alerts = [
            AbsenceAlert(school=school, pupil=pupil, date=today, days=min(streaks[pupil.pk], 32767))
            for pupil in absent
        ]
        AbsenceAlert.objects.bulk_create(alerts)
        notices = []
        for alert in alerts:
            pupil = alert.pupil
            assert pupil.school_class is not None and pupil.school_class.class_teacher is not None
            teacher = pupil.school_class.class_teacher.person.user
            assert teacher is not None
            language = teacher.language or "kk"
            notices.append(
                notifications.Notice(
                    school_id=school.pk,
                    recipient_id=teacher.pk,
                    kind="absence",
                    key=f"absence:{pupil.pk}:{today.isoformat()}",
                    text=_absence_text(
                        language=language,
                        name=pupil.person.full_name,
                        school_class=str(pupil.school_class),
                        days=alert.days,
                    ),
                    person_id=pupil.person_id,
                )
            )
        notifications.enqueue(notices)
        return alerts


def _absent_throughout(
    school: School, pupils: list[Pupil], days: list[dt.date], marker: _Marker
) -> list[Pupil]:
    """The pupils absent, not excused, on every one of ``days``."""
    came = set(
        DailyAttendance.objects.filter(school=school, date__in=days)
        .filter(Q(first_in__isnull=False) | Q(last_out__isnull=False))
        .values_list("person_id", flat=True)
    )
    excused = set(
        Excuse.objects.filter(
            school=school, starts_on__lte=days[-1], ends_on__gte=days[0]
        ).values_list("pupil_id", "starts_on", "ends_on")
    )
    excused_ids = {
        pupil_id for pupil_id, start, end in excused if any(start <= d <= end for d in days)
    }
    return [
        pupil for pupil in pupils if pupil.person_id not in came and pupil.pk not in excused_ids
    ]


def _streak_lengths(
    school: School, pupils: list[Pupil], marker: _Marker, today: dt.date
) -> dict[int, int]:
    """How many working days running, up to today, each pupil has been absent unexcused."""
    if not pupils:
        return {}
    days = _working_days_back(marker, today, STREAK_LOOKBACK_DAYS)
    person_ids = [pupil.person_id for pupil in pupils]
    came: dict[int, set[dt.date]] = defaultdict(set)
    for person_id, day in DailyAttendance.objects.filter(
        school=school, person_id__in=person_ids, date__range=(days[0], today)
    ).values_list("person_id", "date"):
        came[person_id].add(day)
    excuses: dict[int, list[tuple[dt.date, dt.date]]] = defaultdict(list)
    for pupil_id, start, end in Excuse.objects.filter(
        school=school, pupil__in=pupils, ends_on__gte=days[0], starts_on__lte=today
    ).values_list("pupil_id", "starts_on", "ends_on"):
        excuses[pupil_id].append((start, end))
    lengths = {}
    for pupil in pupils:
        length = 0
        for day in reversed(days):
            if day in came[pupil.person_id] or any(
                start <= day <= end for start, end in excuses[pupil.pk]
            ):
                break
            length += 1
        lengths[pupil.pk] = length
    return lengths
