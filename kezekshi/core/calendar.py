"""Working days in Kazakhstan, nationally and for one school.

The national calendar: Monday to Friday, minus public holidays. Fixed-date holidays are
built in (Labour Code art. 84 and the Law on holidays); a state holiday that falls on a
weekend moves to the next working day (religious holidays do not move). What changes
from year to year — Kurban Ait, and the government's transfers of days off — is entered
as ``CalendarDay`` rows. A school adds its own working week (5 or 6 days) and vacations.

Deadlines under the personal-data law count national working days (``school=None``);
attendance counts the school's.
"""

from __future__ import annotations

import datetime as dt
from typing import TypeVar

from kezekshi.core.models import CalendarDay, School, Vacation

# (month, day, moves when on a weekend)
FIXED_HOLIDAYS: tuple[tuple[int, int, bool], ...] = (
    (1, 1, True),  # New Year
    (1, 2, True),
    (1, 7, False),  # Orthodox Christmas (religious)
    (3, 8, True),  # International Women's Day
    (3, 21, True),  # Nauryz meirami
    (3, 22, True),
    (3, 23, True),
    (5, 1, True),  # Unity Day of the people of Kazakhstan
    (5, 7, True),  # Defender of the Fatherland Day
    (5, 9, True),  # Victory Day
    (7, 6, True),  # Capital Day
    (8, 30, True),  # Constitution Day
    (10, 25, True),  # Republic Day
    (12, 16, True),  # Independence Day
)

When = TypeVar("When", dt.date, dt.datetime)


def national_days_off(year: int) -> set[dt.date]:
    """Every weekday that is a day off nationally in ``year``, plus worked Saturdays removed."""
    exceptions = list(CalendarDay.objects.filter(date__year=year).values_list("date", "kind"))
    holidays = {dt.date(year, month, day) for month, day, _moves in FIXED_HOLIDAYS}
    holidays |= {day for day, kind in exceptions if kind == CalendarDay.Kind.HOLIDAY}
    days_off = set(holidays)
    for month, day, moves in FIXED_HOLIDAYS:
        date = dt.date(year, month, day)
        if moves and date.weekday() >= 5:
            carry = date + dt.timedelta(days=1)
            while carry.weekday() >= 5 or carry in days_off:
                carry += dt.timedelta(days=1)
            days_off.add(carry)
    days_off |= {day for day, kind in exceptions if kind == CalendarDay.Kind.DAY_OFF}
    return days_off


def _worked_saturdays(year: int) -> set[dt.date]:
    return set(
        CalendarDay.objects.filter(date__year=year, kind=CalendarDay.Kind.WORKING_DAY).values_list(
            "date", flat=True
        )
    )


class WorkingCalendar:
    """Answers "is this a working day" for a span of years with a handful of queries."""

    def __init__(self, *, school: School | None = None) -> None:
        self.school = school
        self._years: dict[int, tuple[set[dt.date], set[dt.date]]] = {}
        self._vacations: list[tuple[dt.date, dt.date]] | None = None

    def _year(self, year: int) -> tuple[set[dt.date], set[dt.date]]:
        if year not in self._years:
            self._years[year] = (national_days_off(year), _worked_saturdays(year))
        return self._years[year]

    def _in_vacation(self, day: dt.date) -> bool:
        if self.school is None:
            return False
        if self._vacations is None:
            self._vacations = list(
                Vacation.objects.filter(school=self.school).values_list("starts_on", "ends_on")
            )
        return any(start <= day <= end for start, end in self._vacations)

    def is_working_day(self, day: dt.date) -> bool:
        days_off, worked = self._year(day.year)
        if day in days_off:
            return False
        last_weekday = 4 if self.school is None else self.school.working_days_per_week - 1
        if day.weekday() > last_weekday and day not in worked:
            return False
        return not self._in_vacation(day)

    def add_working_days(self, start: When, days: int) -> When:
        """The moment ``days`` working days after ``start`` (same time of day).

        ``days=0`` gives ``start`` itself when that is a working day, else the next one.
        """
        if days < 0:
            raise ValueError("days must not be negative")
        step = dt.timedelta(days=1)
        moment = start
        if days == 0:
            while not self.is_working_day(_date(moment)):
                moment += step
            return moment
        while days:
            moment += step
            if self.is_working_day(_date(moment)):
                days -= 1
        return moment


def _date(value: dt.date | dt.datetime) -> dt.date:
    return value.date() if isinstance(value, dt.datetime) else value


def is_working_day(day: dt.date, *, school: School | None = None) -> bool:
    """Whether ``day`` is a working day nationally (``school=None``) or for that school."""
    return WorkingCalendar(school=school).is_working_day(day)


def add_working_days(start: When, days: int, *, school: School | None = None) -> When:
    """``start`` moved forward by ``days`` working days; see ``WorkingCalendar``."""
    return WorkingCalendar(school=school).add_working_days(start, days)
