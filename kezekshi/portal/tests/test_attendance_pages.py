"""The staff's attendance pages: who sees which class, the reports and their XLSX files,
the time sheet, and the forms to excuse an absence and to give an exit permit."""

from __future__ import annotations

import datetime as dt
import io
from typing import Any

import pytest
from openpyxl import load_workbook

from kezekshi.access.models import Excuse, ExitPermit
from kezekshi.access.tests import conftest as access_fixtures
from kezekshi.access.tests.conftest import ALMATY, almaty_at, record_pass
from kezekshi.accounts.models import User
from kezekshi.accounts.roles import ROLE_PERMISSIONS, Perm, Role
from kezekshi.conftest import verified_client
from kezekshi.core.models import School
from kezekshi.people import services as people_services
from kezekshi.people.models import Person, Pupil, SchoolClass, StaffMember
from kezekshi.privacy.models import AuditEntry

pytestmark = pytest.mark.django_db
# The access app's fixtures: a building, its main entrance, the shifts, a turnstile.
building = access_fixtures.building
main_door = access_fixtures.main_door
shifts = access_fixtures.shifts
turnstile = access_fixtures.turnstile
DAY = "2025-03-04"  # a Tuesday


def client_of(user: User) -> Any:
    """A verified staff client reading English, so the assertions hold once translated."""
    client = verified_client(user)
    client.defaults["HTTP_ACCEPT_LANGUAGE"] = "en"
    return client


def _staff(school: School, user: User, last_name: str) -> StaffMember:
    person = Person.objects.create(school=school, last_name=last_name, first_name="А", user=user)
    return StaffMember.objects.create(school=school, person=person, position="Teacher")


@pytest.fixture
def teacher(school: School, school_class: SchoolClass, make_user: Any) -> User:
    user = make_user(Role.CLASS_TEACHER, school)
    school_class.class_teacher = _staff(school, user, "Ахметова")
    school_class.save(update_fields=["class_teacher"])
    return user


@pytest.fixture
def other_class(school: School) -> SchoolClass:
    other = SchoolClass.objects.create(school=school, grade=9, letter="Б")
    people_services.create_pupil(
        school=school, last_name="Жұмабек", first_name="Тимур", school_class=other
    )
    return other


@pytest.fixture
def admin(school: School, make_user: Any) -> User:
    return make_user(Role.SCHOOL_ADMIN, school)


ATTENDANCE_PAGES = [
    ("/attendance/", Perm.ATTENDANCE_VIEW),
    ("/attendance/day/", Perm.ATTENDANCE_VIEW),
    ("/attendance/month/", Perm.ATTENDANCE_VIEW),
    ("/attendance/staff/", Perm.SCHOOL_MANAGE),
    ("/attendance/excuse/", Perm.ATTENDANCE_EXCUSE),
    ("/attendance/permits/", Perm.ATTENDANCE_EXCUSE),
]


@pytest.mark.parametrize("role", [role for role in Role if role != Role.AUTHORITY_VIEWER])
def test_each_role_opens_exactly_the_attendance_pages_it_may(
    role: Role, school: School, pupil: Pupil, make_user: Any
) -> None:
    client = client_of(make_user(role, school))
    for url, perm in ATTENDANCE_PAGES:
        expected = 200 if perm in ROLE_PERMISSIONS[role] else 403
        assert client.get(url).status_code == expected, (role, url)


def test_a_class_teacher_sees_only_their_class(
    school_class: SchoolClass, pupil: Pupil, teacher: User, other_class: SchoolClass
) -> None:
    client = client_of(teacher)
    dashboard = client.get("/attendance/").content.decode()
    assert "5 Ә" in dashboard and "9 Б" not in dashboard
    day = client.get("/attendance/day/").content.decode()
    assert pupil.person.full_name in day
    assert client.get(f"/attendance/day/?class={other_class.pk}").status_code == 404
    assert client.get(f"/attendance/month/?class={other_class.pk}").status_code == 404
    assert client.get(f"/attendance/excuse/?class={other_class.pk}").status_code == 404


def test_the_class_day_shows_times_and_is_audited(
    school_class: SchoolClass, pupil: Pupil, shifts: Any, turnstile: Any, admin: User
) -> None:
    # given: Әлия came at 08:12 (late) and left at 13:40
    record_pass(turnstile, pupil.person_id, almaty_at(DAY, "08:12"))
    record_pass(turnstile, pupil.person_id, almaty_at(DAY, "13:40"), "out")
    client = client_of(admin)
    # when
    page = client.get(f"/attendance/day/?class={school_class.pk}&date={DAY}")
    # then
    text = page.content.decode()
    assert page.status_code == 200
    assert "08:12" in text and "13:40" in text and "Late" in text
    entry = AuditEntry.objects.get(details__list="attendance_day")
    assert entry.action == "view" and entry.details["shown"] == 1


def test_the_class_day_export_is_a_workbook_and_an_audited_export(
    school_class: SchoolClass, pupil: Pupil, shifts: Any, turnstile: Any, admin: User
) -> None:
    record_pass(turnstile, pupil.person_id, almaty_at(DAY, "07:55"))
    response = client_of(admin).get(
        f"/attendance/day/?class={school_class.pk}&date={DAY}&format=xlsx"
    )
    assert response["Content-Type"].startswith("application/vnd.openxmlformats")
    rows = list(load_workbook(io.BytesIO(response.content)).active.values)
    assert rows[1][:3] == ("Сейтқали Әлия", "Present", "07:55")
    export = AuditEntry.objects.get(action="export")
    assert export.details["list"] == "attendance_day" and export.details["form"] == "xlsx"


def test_the_month_grid_and_its_export(
    school_class: SchoolClass, pupil: Pupil, shifts: Any, turnstile: Any, admin: User
) -> None:
    record_pass(turnstile, pupil.person_id, almaty_at(DAY, "07:55"))
    client = client_of(admin)
    page = client.get(f"/attendance/month/?class={school_class.pk}&month=2025-03")
    assert page.status_code == 200 and "07:55" in page.content.decode()
    response = client.get(f"/attendance/month/?class={school_class.pk}&month=2025-03&format=xlsx")
    rows = list(load_workbook(io.BytesIO(response.content)).active.values)
    assert rows[0][0] == "Pupil" and rows[0][4] == "04.03"
    assert rows[1][0] == "Сейтқали Әлия" and rows[1][4] == "P 07:55"
    assert rows[1][3] == "A"  # Monday 3 March, no entry
    assert AuditEntry.objects.filter(action="export", details__list="attendance_month").exists()


def test_the_staff_time_sheet_is_for_the_school_admin(
    school: School, turnstile: Any, admin: User, teacher: User
) -> None:
    staff = StaffMember.objects.get(person__user=teacher)
    record_pass(turnstile, staff.person_id, almaty_at(DAY, "07:30"))
    record_pass(turnstile, staff.person_id, almaty_at(DAY, "15:45"), "out")
    assert client_of(teacher).get("/attendance/staff/?month=2025-03").status_code == 403
    client = client_of(admin)
    page = client.get("/attendance/staff/?month=2025-03").content.decode()
    assert "Ахметова" in page and "8:15" in page
    response = client.get("/attendance/staff/?month=2025-03&format=xlsx")
    rows = list(load_workbook(io.BytesIO(response.content)).active.values)
    assert rows[1][:2] == ("Ахметова А", "Teacher") and rows[1][3:] == ("07:30", "15:45", "8:15")
    assert AuditEntry.objects.filter(action="export", details__list="staff_time_sheet").exists()


def test_the_class_teacher_excuses_an_absence(
    school_class: SchoolClass, pupil: Pupil, teacher: User
) -> None:
    client = client_of(teacher)
    today = dt.datetime.now(ALMATY).date()
    form = client.get(f"/attendance/excuse/?class={school_class.pk}&pupil={pupil.pk}")
    assert pupil.person.full_name in form.content.decode()
    values = {
        "pupil": pupil.pk,
        "starts_on": today.isoformat(),
        "ends_on": (today + dt.timedelta(days=1)).isoformat(),
        "reason": "Ill, a doctor's note",
    }
    reversed_dates = client.post(
        f"/attendance/excuse/?class={school_class.pk}",
        {**values, "ends_on": (today - dt.timedelta(days=1)).isoformat()},
    )
    assert reversed_dates.status_code == 422
    assert "before the first" in reversed_dates.content.decode()
    done = client.post(f"/attendance/excuse/?class={school_class.pk}", values)
    assert done.status_code == 302 and done["Location"].startswith("/attendance/day/")
    assert Excuse.objects.get().entered_by == teacher


def test_a_pupil_of_another_class_cannot_be_posted_to_the_form(
    pupil: Pupil, teacher: User, other_class: SchoolClass
) -> None:
    stranger = Pupil.objects.get(school_class=other_class)
    today = dt.datetime.now(ALMATY).date().isoformat()
    response = client_of(teacher).post(
        "/attendance/excuse/",
        {"pupil": stranger.pk, "starts_on": today, "ends_on": today, "reason": "ill"},
    )
    assert response.status_code == 422 and not Excuse.objects.exists()


def test_exit_permits_are_given_and_cancelled(
    school_class: SchoolClass, pupil: Pupil, teacher: User
) -> None:
    client = client_of(teacher)
    today = dt.datetime.now(ALMATY).date().isoformat()
    given = client.post(
        f"/attendance/permits/?class={school_class.pk}",
        {"pupil": pupil.pk, "date": today, "leave_from": "11:30", "reason": "dentist"},
    )
    assert given.status_code == 302
    permit = ExitPermit.objects.get()
    assert permit.leave_from == dt.time(11, 30) and permit.issued_as == "class_teacher"
    listed = client.get("/attendance/permits/").content.decode()
    assert "dentist" in listed and pupil.person.full_name in listed
    cancelled = client.post(f"/attendance/permits/{permit.pk}/cancel/")
    assert cancelled.status_code == 302
    permit.refresh_from_db()
    assert permit.cancelled_at is not None


def test_another_teacher_cannot_cancel_a_permit(
    school: School, school_class: SchoolClass, pupil: Pupil, teacher: User, make_user: Any
) -> None:
    permit = ExitPermit.objects.create(
        school=school,
        pupil=pupil,
        date=dt.datetime.now(ALMATY).date(),
        leave_from=dt.time(11, 0),
        reason="dentist",
        issued_by=teacher,
        issued_as="class_teacher",
    )
    other = make_user(Role.CLASS_TEACHER, school)
    response = client_of(other).post(f"/attendance/permits/{permit.pk}/cancel/")
    assert response.status_code == 404
    permit.refresh_from_db()
    assert permit.cancelled_at is None


def test_blocked_pupils_are_shown_only_to_the_safety_roles(
    school_class: SchoolClass, pupil: Pupil, teacher: User, admin: User
) -> None:
    from django.utils import timezone

    Person.objects.filter(pk=pupil.person_id).update(blocked_at=timezone.now())
    url = f"/attendance/day/?class={school_class.pk}&date={DAY}"
    assert pupil.person.last_name not in client_of(teacher).get(url).content.decode()
    shown = client_of(admin).get(url).content.decode()
    assert pupil.person.last_name in shown and '<strong class="error">' in shown


def test_the_dashboard_counts_today_and_exports_them(
    school: School, school_class: SchoolClass, pupil: Pupil, turnstile: Any, admin: User
) -> None:
    # given: no shifts are set up (nobody is absent yet today) and Әлия came in just now
    from django.utils import timezone

    record_pass(turnstile, pupil.person_id, timezone.now() - dt.timedelta(minutes=1))
    people_services.create_pupil(
        school=school, last_name="Бекова", first_name="Дана", school_class=school_class
    )
    client = client_of(admin)
    # when
    page = client.get("/attendance/").content.decode()
    response = client.get("/attendance/?format=xlsx")
    # then
    assert '<div class="mark-present"><b>1</b>' in page
    assert '<div class="mark-expected"><b>1</b>' in page
    rows = list(load_workbook(io.BytesIO(response.content)).active.values)
    assert rows[0][:3] == ("Class", "Present", "Late")
    assert rows[1][0] == "5 Ә" and rows[1][1] == 1 and rows[1][-1] == 2
    assert not AuditEntry.objects.filter(action="export").exists()  # counts, not names


def test_counts_include_blocked_pupils_while_their_names_stay_hidden(
    school: School, school_class: SchoolClass, pupil: Pupil, turnstile: Any, teacher: User
) -> None:
    from django.utils import timezone

    # given: Әлия came in just now and her data are blocked; a classmate has not come
    record_pass(turnstile, pupil.person_id, timezone.now() - dt.timedelta(minutes=1))
    people_services.create_pupil(
        school=school, last_name="Бекова", first_name="Дана", school_class=school_class
    )
    Person.objects.filter(pk=pupil.person_id).update(blocked_at=timezone.now())
    client = client_of(teacher)
    # when the class teacher (not a safety role) opens the dashboard and the class day
    dashboard = client.get("/attendance/").content.decode()
    day = client.get(f"/attendance/day/?class={school_class.pk}").content.decode()
    # then both pupils are counted (a number, not a person)…
    assert '<div class="mark-present"><b>1</b>' in dashboard
    assert "<td>2</td></tr>" in dashboard  # the class's total
    assert "<b>1</b>" in day.split('<span class="mark-present">', 1)[1][:80]
    # …but Әлия is not named
    assert pupil.person.last_name not in dashboard + day
    assert "Бекова" in day


def test_the_excuse_form_listing_a_class_is_an_audited_read(
    school_class: SchoolClass, pupil: Pupil, teacher: User
) -> None:
    # when the class teacher opens the excuse form of their class
    response = client_of(teacher).get(f"/attendance/excuse/?class={school_class.pk}")
    # then the page names the pupils, and one view of that list is recorded
    assert pupil.person.full_name in response.content.decode()
    entry = AuditEntry.objects.get(action="view", details__list="excuse_form")
    assert entry.actor == teacher and entry.details["class_id"] == school_class.pk
    assert entry.details["shown"] == 1
