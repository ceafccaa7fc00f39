from __future__ import annotations

import datetime as dt

import pytest

from kezekshi.core.calendar import add_working_days, is_working_day, national_days_off
from kezekshi.core.models import CalendarDay, School, Vacation

pytestmark = pytest.mark.django_db
D = dt.date


def test_fixed_holidays_are_days_off_and_ordinary_weekdays_are_not() -> None:
    assert not is_working_day(D(2025, 12, 16))  # Independence Day, a Tuesday
    assert not is_working_day(D(2026, 3, 23))  # Nauryz, a Monday
    assert is_working_day(D(2025, 12, 15))
    assert not is_working_day(D(2025, 12, 13))  # a Saturday


def test_a_state_holiday_on_a_weekend_moves_to_the_next_working_day() -> None:
    # 7 May 2022 was a Saturday, 9 May (Victory Day) the Monday: the 7th moves to Tuesday.
    days_off = national_days_off(2022)
    assert D(2022, 5, 9) in days_off
    assert D(2022, 5, 10) in days_off
    assert is_working_day(D(2022, 5, 11))


def test_religious_holidays_do_not_move() -> None:
    # 7 January 2024 (Orthodox Christmas) was a Sunday; 8 January was a working day.
    assert is_working_day(D(2024, 1, 8))


def test_movable_holidays_and_transfers_come_from_the_table() -> None:
    CalendarDay.objects.create(
        date=D(2026, 5, 27),
        kind=CalendarDay.Kind.HOLIDAY,
        name_kk="Құрбан айт",
        name_ru="Курбан айт",
    )
    CalendarDay.objects.create(
        date=D(2026, 1, 5), kind=CalendarDay.Kind.DAY_OFF, name_kk="Ауыстыру", name_ru="Перенос"
    )
    CalendarDay.objects.create(
        date=D(2026, 1, 3), kind=CalendarDay.Kind.WORKING_DAY, name_kk="Жұмыс", name_ru="Рабочий"
    )
    assert not is_working_day(D(2026, 5, 27))
    assert not is_working_day(D(2026, 1, 5))
    assert is_working_day(D(2026, 1, 3))  # a Saturday worked instead


def test_adding_working_days_skips_weekends_and_holidays() -> None:
    # Friday 12 Dec 2025 + 3 working days: Mon 15, (Tue 16 holiday), Wed 17, Thu 18.
    assert add_working_days(D(2025, 12, 12), 3) == D(2025, 12, 18)
    moment = dt.datetime(2025, 12, 12, 17, 30, tzinfo=dt.UTC)
    assert add_working_days(moment, 1) == dt.datetime(2025, 12, 15, 17, 30, tzinfo=dt.UTC)
    assert add_working_days(D(2025, 12, 13), 0) == D(2025, 12, 15)
    with pytest.raises(ValueError):
        add_working_days(D(2025, 12, 13), -1)


def test_a_school_adds_its_six_day_week_and_vacations(school: School) -> None:
    saturday = D(2025, 11, 1)
    assert not is_working_day(saturday, school=school)
    school.working_days_per_week = 6
    school.save()
    assert is_working_day(saturday, school=school)
    Vacation.objects.create(
        school=school, name="Күзгі каникул", starts_on=D(2025, 10, 27), ends_on=D(2025, 11, 2)
    )
    assert not is_working_day(saturday, school=school)
    assert is_working_day(saturday, school=None) is False
    assert is_working_day(D(2025, 11, 3), school=school)
