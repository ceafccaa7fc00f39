"""Attendance marks, reports, excuses, exit permits and the class teachers' absence alerts.

Passes enter through ``services.record_passes`` as they would from a turnstile. The week
used is real: Saturday 8 March 2025 (Women's Day) moves the day off to Monday 10 March.
"""

from __future__ import annotations

import datetime as dt
import itertools
from typing import Any
from unittest import mock

import pytest
from django.core.management import call_command
from django.db import connection
from django.test.utils import CaptureQueriesContext

from kezekshi.access import attendance, excuses
from kezekshi.access.attendance import Mark
from kezekshi.access.models import AbsenceAlert, AccessSettings, Door, Excuse, ExitPermit
from kezekshi.access.services import bump_rules
from kezekshi.access.tests.conftest import almaty_at, record_pass
from kezekshi.accounts.models import User
from kezekshi.accounts.roles import Role
from kezekshi.core.calendar import WorkingCalendar
from kezekshi.core.errors import ServiceError
from kezekshi.core.models import School, Shift
from kezekshi.notifications.models import Notification
from kezekshi.people import services as people_services
from kezekshi.people.models import Person, Pupil, SchoolClass, StaffMember
from kezekshi.privacy.models import AuditEntry

pytestmark = pytest.mark.django_db
_numbers = itertools.count(1)


def another_pupil(school: School, school_class: SchoolClass, first_name: str) -> Pupil:
    return people_services.create_pupil(
        school=school, last_name="Бекова", first_name=first_name, school_class=school_class
    )


@pytest.fixture
def teacher(school: School, school_class: SchoolClass, make_user: Any) -> User:
    """The class teacher of ``school_class``, who signs in and has the class_teacher role."""
    user = make_user(Role.CLASS_TEACHER, school, language="ru")
    person = Person.objects.create(
        school=school, last_name="Ахметова", first_name="Сауле", user=user
    )
    staff = StaffMember.objects.create(school=school, person=person, position="Teacher")
    school_class.class_teacher = staff
    school_class.save(update_fields=["class_teacher"])
    return user


# --- marks ------------------------------------------------------------------------------------


def test_a_day_is_present_late_absent_or_excused(
    school: School, school_class: SchoolClass, pupil: Pupil, shifts: list[Shift], turnstile: Any
) -> None:
    # given: the first shift starts at 08:00 with 5 minutes' grace; four pupils
    late = another_pupil(school, school_class, "Дана")
    away = another_pupil(school, school_class, "Ерлан")
    ill = another_pupil(school, school_class, "Жанар")
    record_pass(turnstile, pupil.person_id, almaty_at("2025-03-04", "07:52"))
    record_pass(turnstile, pupil.person_id, almaty_at("2025-03-04", "13:35"), "out")
    record_pass(turnstile, late.person_id, almaty_at("2025-03-04", "08:06"))
    _excuse(ill, "2025-03-04", "2025-03-05")
    # when
    report = attendance.class_day(
        school_class=school_class, day=dt.date(2025, 3, 4), now=almaty_at("2025-03-04", "20:00")
    )
    # then
    marks = {row.pupil.pk: row.days[0] for row in report.rows}
    assert marks[pupil.pk].mark == Mark.PRESENT
    assert marks[pupil.pk].first_in == dt.time(7, 52)
    assert marks[pupil.pk].last_out == dt.time(13, 35)
    assert marks[late.pk].mark == Mark.LATE and marks[late.pk].first_in == dt.time(8, 6)
    assert marks[away.pk].mark == Mark.ABSENT
    assert marks[ill.pk].mark == Mark.EXCUSED and marks[ill.pk].excuse == "ill"
    assert report.counts == {"present": 1, "late": 1, "absent": 1, "excused": 1}


def _excuse(pupil: Pupil, starts: str, ends: str) -> None:
    """An excuse as it stands in the database (dates this far back are refused by the service)."""
    Excuse.objects.create(
        school=pupil.school,
        pupil=pupil,
        starts_on=dt.date.fromisoformat(starts),
        ends_on=dt.date.fromisoformat(ends),
        reason="ill",
        entered_by=User.objects.create_user(email=f"e{next(_numbers)}@example.kz"),
    )


def test_today_before_the_shift_starts_is_expected_not_absent(
    school_class: SchoolClass, pupil: Pupil, shifts: list[Shift]
) -> None:
    early = attendance.class_day(
        school_class=school_class, day=dt.date(2025, 3, 4), now=almaty_at("2025-03-04", "08:04")
    )
    later = attendance.class_day(
        school_class=school_class, day=dt.date(2025, 3, 4), now=almaty_at("2025-03-04", "08:06")
    )
    assert early.rows[0].days[0].mark == Mark.EXPECTED
    assert later.rows[0].days[0].mark == Mark.ABSENT


def test_the_grace_period_is_the_schools(
    school: School, school_class: SchoolClass, pupil: Pupil, shifts: list[Shift], turnstile: Any
) -> None:
    AccessSettings.objects.update_or_create(school=school, defaults={"late_grace_minutes": 10})
    record_pass(turnstile, pupil.person_id, almaty_at("2025-03-04", "08:08"))
    report = attendance.class_day(
        school_class=school_class, day=dt.date(2025, 3, 4), now=almaty_at("2025-03-04", "20:00")
    )
    assert report.rows[0].days[0].mark == Mark.PRESENT


def test_a_pass_through_an_inner_door_is_not_attendance(
    school: School, school_class: SchoolClass, pupil: Pupil, shifts: list[Shift], turnstile: Any
) -> None:
    Door.objects.filter(pk=turnstile.device.door_id).update(is_exit=False)
    record_pass(turnstile, pupil.person_id, almaty_at("2025-03-04", "07:50"))
    report = attendance.class_day(
        school_class=school_class, day=dt.date(2025, 3, 4), now=almaty_at("2025-03-04", "20:00")
    )
    assert report.rows[0].days[0].mark == Mark.ABSENT


def test_the_month_grid_knows_weekends_and_moved_holidays(
    school: School, school_class: SchoolClass, pupil: Pupil, shifts: list[Shift], turnstile: Any
) -> None:
    record_pass(turnstile, pupil.person_id, almaty_at("2025-03-03", "07:40"))
    month = attendance.class_month(
        school_class=school_class, year=2025, month=3, now=almaty_at("2025-03-12", "20:00")
    )
    days = {day.date.day: day.mark for day in month.rows[0].days}
    assert len(month.days) == 31
    assert days[3] == Mark.PRESENT
    assert days[4] == Mark.ABSENT
    assert days[8] == Mark.DAY_OFF and days[9] == Mark.DAY_OFF
    assert days[10] == Mark.DAY_OFF  # Women's Day fell on a Saturday
    assert days[13] == Mark.UPCOMING
    # 4–7 March and 11–12 March are the six working days without an entry
    assert [d for d, mark in days.items() if mark == Mark.ABSENT] == [4, 5, 6, 7, 11, 12]


def test_reports_cost_a_handful_of_queries_whatever_the_class_size(
    school: School, school_class: SchoolClass, pupil: Pupil, shifts: list[Shift], turnstile: Any
) -> None:
    def queries() -> int:
        with CaptureQueriesContext(connection) as captured:
            attendance.class_month(
                school_class=school_class, year=2025, month=3, now=almaty_at("2025-03-12", "20:00")
            )
            attendance.school_now(school=school, now=almaty_at("2025-03-12", "09:00"))
        return len(captured)

    queries()  # the first run creates the school's settings row
    few = queries()
    for n in range(10):
        child = another_pupil(school, school_class, f"Бала{n}")
        record_pass(turnstile, child.person_id, almaty_at("2025-03-05", "07:45"))
    assert queries() == few <= 20


def test_the_school_right_now_counts_by_class(
    school: School, school_class: SchoolClass, pupil: Pupil, shifts: list[Shift], turnstile: Any
) -> None:
    second = SchoolClass.objects.create(school=school, grade=7, letter="Б", shift=2)
    another_pupil(school, second, "Дана")
    record_pass(turnstile, pupil.person_id, almaty_at("2025-03-04", "08:20"))
    now = attendance.school_now(school=school, now=almaty_at("2025-03-04", "09:00"))
    by_class = {row.school_class.pk: row.counts for row in now.classes}
    assert by_class[school_class.pk] == {"late": 1}
    assert by_class[second.pk] == {"expected": 1}  # the second shift starts at 13:30
    assert now.total == 2 and now.totals["late"] == 1


def test_blocked_pupils_are_left_out_unless_asked_for(
    school: School, school_class: SchoolClass, pupil: Pupil, shifts: list[Shift]
) -> None:
    from django.utils import timezone

    pupil.person.blocked_at = timezone.now()
    pupil.person.save(update_fields=["blocked_at"])
    day = dt.date(2025, 3, 4)
    assert attendance.class_day(school_class=school_class, day=day).rows == []
    shown = attendance.class_day(school_class=school_class, day=day, include_blocked=True)
    assert len(shown.rows) == 1


def test_staff_time_sheet_has_hours_per_day(school: School, turnstile: Any, teacher: User) -> None:
    staff = StaffMember.objects.get(person__user=teacher)
    record_pass(turnstile, staff.person_id, almaty_at("2025-03-04", "07:30"))
    record_pass(turnstile, staff.person_id, almaty_at("2025-03-04", "16:15"), "out")
    record_pass(turnstile, staff.person_id, almaty_at("2025-03-05", "07:45"))
    sheet = attendance.staff_month(school=school, year=2025, month=3)
    assert [row.staff for row in sheet] == [staff]
    days = {day.date.day: day for day in sheet[0].days}
    assert days[4].first_in == dt.time(7, 30) and days[4].last_out == dt.time(16, 15)
    assert days[4].worked == dt.timedelta(hours=8, minutes=45)
    assert days[5].worked is None and days[5].first_in == dt.time(7, 45)
    assert sheet[0].worked == dt.timedelta(hours=8, minutes=45) and sheet[0].days_present == 2


# --- who sees which classes --------------------------------------------------------------------


def test_a_class_teacher_sees_only_their_classes(
    school: School, school_class: SchoolClass, teacher: User, make_user: Any
) -> None:
    other = SchoolClass.objects.create(school=school, grade=6, letter="А")
    from kezekshi.accounts.roles import Perm

    assert list(attendance.classes_for(teacher, school, Perm.ATTENDANCE_VIEW)) == [school_class]
    admin = make_user(Role.SCHOOL_ADMIN, school)
    assert set(attendance.classes_for(admin, school, Perm.ATTENDANCE_VIEW)) == {
        school_class,
        other,
    }
    pedagogue = make_user(Role.SOCIAL_PEDAGOGUE, school)
    assert attendance.classes_for(pedagogue, school, Perm.ATTENDANCE_VIEW).count() == 2
    assert not attendance.classes_for(pedagogue, school, Perm.ATTENDANCE_EXCUSE).exists()


# --- excuses and exit permits ------------------------------------------------------------------


def _guardian(pupil: Pupil, phone: str, *, legal: bool = True) -> User:
    people_services.add_guardian(
        pupil=pupil,
        last_name="Сейтқали",
        first_name="Гүлнар",
        phone=phone,
        relation="mother" if legal else "grandparent",
        is_legal_representative=legal,
    )
    user = User.objects.create_user(phone=phone)
    people_services.link_guardian_accounts(user=user)
    return user


def test_a_guardian_excuses_their_child_and_it_is_audited(pupil: Pupil) -> None:
    mother = _guardian(pupil, "+77015550201")
    today = dt.date.today()
    excuse = excuses.excuse_absence(
        pupil=pupil,
        starts_on=today,
        ends_on=today + dt.timedelta(days=2),
        reason=" ill  ",
        by=mother,
    )
    assert excuse.reason == "ill"
    entry = AuditEntry.objects.get(target="access.excuse")
    assert entry.person_id == pupil.person_id and entry.details["as"] == "guardian"
    assert "ill" not in str(entry.details)


@pytest.mark.parametrize(
    ("starts", "ends", "reason", "code"),
    [
        (0, -1, "ill", "invalid_dates"),
        (-40, -35, "ill", "invalid_dates"),
        (0, 70, "ill", "invalid_dates"),
        (0, 0, "   ", "reason_required"),
    ],
)
def test_bad_excuses_are_refused(
    pupil: Pupil, starts: int, ends: int, reason: str, code: str
) -> None:
    mother = _guardian(pupil, "+77015550202")
    today = dt.date.today()
    with pytest.raises(ServiceError) as error:
        excuses.excuse_absence(
            pupil=pupil,
            starts_on=today + dt.timedelta(days=starts),
            ends_on=today + dt.timedelta(days=ends),
            reason=reason,
            by=mother,
        )
    assert error.value.code == code


def test_strangers_and_other_class_teachers_may_not_excuse(
    school: School, pupil: Pupil, make_user: Any
) -> None:
    grandmother = _guardian(pupil, "+77015550203", legal=False)
    other_teacher = make_user(Role.CLASS_TEACHER, school)  # leads no class
    pedagogue = make_user(Role.SOCIAL_PEDAGOGUE, school)
    today = dt.date.today()
    for user in (grandmother, other_teacher, pedagogue):
        with pytest.raises(ServiceError) as error:
            excuses.excuse_absence(
                pupil=pupil, starts_on=today, ends_on=today, reason="ill", by=user
            )
        assert error.value.status == 403
    assert not AuditEntry.objects.filter(target="access.excuse").exists()


def test_the_class_teacher_gives_and_cancels_an_exit_permit(pupil: Pupil, teacher: User) -> None:
    permit = excuses.give_exit_permit(
        pupil=pupil, leave_from=dt.time(11, 0), reason="dentist", by=teacher
    )
    assert permit.issued_as == "class_teacher" and permit.cancelled_at is None
    cancelled = excuses.cancel_exit_permit(permit=permit, by=teacher)
    again = excuses.cancel_exit_permit(permit=permit, by=teacher)
    assert cancelled.cancelled_at is not None and again.cancelled_at == cancelled.cancelled_at
    assert AuditEntry.objects.filter(target="access.exit_permit").count() == 2


def test_a_guardian_permit_lets_the_pupil_out_during_lessons(
    school: School, pupil: Pupil, shifts: list[Shift], groups: Any, card: Any, turnstile: Any
) -> None:
    # given: grade 5 needs permits, and at 10:00 on the next school day lessons go on
    AccessSettings.objects.filter(school=school).update(permit_grade_to=5)
    bump_rules(school_id=school.pk)
    mother = _guardian(pupil, "+77015550204")
    day = WorkingCalendar(school=school).add_working_days(dt.date.today(), 1)
    body = {
        "credential": "123,45678",
        "direction": "out",
        "time": almaty_at(day.isoformat(), "10:00").isoformat(),
    }
    refused = turnstile.post("/api/v1/access/decide", body)
    assert refused.json()["reason"] == "exit_permit_required"
    # when: the mother lets the child leave from 09:30 that day
    excuses.give_exit_permit(
        pupil=pupil, leave_from=dt.time(9, 30), reason="family", by=mother, day=day
    )
    # then
    assert turnstile.post("/api/v1/access/decide", body).json()["allowed"] is True
    assert ExitPermit.objects.get().issued_as == "guardian"


def test_a_permit_for_yesterday_is_refused(pupil: Pupil, teacher: User) -> None:
    with pytest.raises(ServiceError) as error:
        excuses.give_exit_permit(
            pupil=pupil,
            leave_from=dt.time(11, 0),
            reason="dentist",
            by=teacher,
            day=dt.date.today() - dt.timedelta(days=2),
        )
    assert error.value.code == "invalid_date"


# --- absence alerts ---------------------------------------------------------------------------


def test_the_class_teacher_is_alerted_after_three_working_days_away(
    school: School,
    school_class: SchoolClass,
    pupil: Pupil,
    shifts: list[Shift],
    turnstile: Any,
    teacher: User,
) -> None:
    # given: both pupils came on Thursday 6 March; Әлия was away from Friday on, and the
    # weekend and the moved Women's Day (Mon 10) do not count; Дана is excused on Tuesday
    excused = another_pupil(school, school_class, "Дана")
    for child in (pupil, excused):
        record_pass(turnstile, child.person_id, almaty_at("2025-03-06", "07:50"))
    _excuse(excused, "2025-03-11", "2025-03-11")
    # when: the alerts run on Tuesday 11 March (two working days away) and Wednesday 12
    tuesday = attendance.send_absence_alerts(school=school, now=almaty_at("2025-03-11", "19:30"))
    wednesday = attendance.send_absence_alerts(school=school, now=almaty_at("2025-03-12", "19:30"))
    again = attendance.send_absence_alerts(school=school, now=almaty_at("2025-03-12", "21:00"))
    # then: one alert, on Wednesday, about Әлия only, in the teacher's language
    assert tuesday == [] and again == []
    assert [(a.pupil_id, a.date, a.days) for a in wednesday] == [
        (pupil.pk, dt.date(2025, 3, 12), 3)
    ]
    notice = Notification.objects.get(kind="absence")
    assert notice.recipient_id == teacher.pk and notice.person_id == pupil.person_id
    assert "Сейтқали Әлия" in notice.text
    assert AbsenceAlert.objects.count() == 1


def test_an_alert_repeats_only_after_another_full_window(
    school: School,
    school_class: SchoolClass,
    pupil: Pupil,
    shifts: list[Shift],
    turnstile: Any,
    teacher: User,
) -> None:
    # given: Әлия came on Thursday 6 March and not since
    record_pass(turnstile, pupil.person_id, almaty_at("2025-03-06", "07:50"))
    runs = [
        attendance.send_absence_alerts(school=school, now=almaty_at(day, "19:30"))
        for day in ("2025-03-12", "2025-03-13", "2025-03-14", "2025-03-17")
    ]
    assert [len(run) for run in runs] == [1, 0, 0, 1]
    assert (runs[0][0].days, runs[3][0].days) == (3, 6)


def test_the_command_runs_for_today_and_is_idempotent(
    school: School, school_class: SchoolClass, pupil: Pupil, shifts: list[Shift], teacher: User
) -> None:
    moment = almaty_at("2025-03-12", "19:30")
    with mock.patch("django.utils.timezone.now", return_value=moment.astimezone(dt.UTC)):
        call_command("absence_alerts", verbosity=0)
        call_command("absence_alerts", verbosity=0)
    assert AbsenceAlert.objects.filter(pupil=pupil, date=dt.date(2025, 3, 12)).count() == 1
    assert Notification.objects.filter(kind="absence").count() == 1


def test_no_alerts_when_the_school_turned_them_off(
    school: School, school_class: SchoolClass, pupil: Pupil, shifts: list[Shift], teacher: User
) -> None:
    AccessSettings.objects.update_or_create(school=school, defaults={"absence_alert_days": 0})
    assert attendance.send_absence_alerts(school=school, now=almaty_at("2025-03-12", "19:30")) == []


def test_counts_include_blocked_pupils_whom_the_rows_leave_out(
    school: School, school_class: SchoolClass, pupil: Pupil, shifts: list[Shift], turnstile: Any
) -> None:
    from django.utils import timezone

    # given a pupil who came late and whose data are then blocked
    record_pass(turnstile, pupil.person_id, almaty_at("2025-03-04", "08:20"))
    pupil.person.blocked_at = timezone.now()
    pupil.person.save(update_fields=["blocked_at"])
    # when the counts are asked for by a role that does not see blocked pupils
    now = attendance.school_now(school=school, now=almaty_at("2025-03-04", "09:00"))
    day = attendance.class_day(
        school_class=school_class, day=dt.date(2025, 3, 4), now=almaty_at("2025-03-04", "09:00")
    )
    # then the pupil is counted, but not listed
    assert now.totals["late"] == 1 and now.total == 1
    assert day.rows == [] and day.counts == {"late": 1}
