"""The guard's pages: registering a visitor and printing the pass, the day's list with its
buttons, pre-registration by staff, the watch list and its alerts, and pick-ups."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from django.test import Client
from django.utils import timezone

from kezekshi.access import pickups, visitors, watchlist
from kezekshi.access.models import Credential, Door, PickUp, Visitor, WatchAlert, WatchEntry, Zone
from kezekshi.accounts.models import User
from kezekshi.accounts.roles import Role
from kezekshi.conftest import verified_client
from kezekshi.notifications.models import Notification
from kezekshi.people import services as people_services
from kezekshi.people.models import Guardian, Pupil
from kezekshi.privacy.models import AuditEntry
from kezekshi.privacy.requests import block_person
from kezekshi.privacy.tests.family import make_family

pytestmark = pytest.mark.django_db


@pytest.fixture
def door(school: Any) -> Door:
    zone = Zone.objects.create(school=school, kind="building", name_kk="Ғимарат", name_ru="Здание")
    return Door.objects.create(
        school=school, zone=zone, name_kk="Кіреберіс", name_ru="Вход", name_en="Main entrance"
    )


@pytest.fixture
def guard(make_user: Any, school: Any) -> User:
    return make_user(Role.GUARD, school)


@pytest.fixture
def admin(make_user: Any, school: Any) -> User:
    return make_user(Role.SCHOOL_ADMIN, school)


def client_of(user: User) -> Client:
    client = verified_client(user)
    client.cookies["django_language"] = "en"
    return client


def local_input(moment: dt.datetime) -> str:
    return timezone.localtime(moment, timezone=dt.timezone(dt.timedelta(hours=5))).strftime(
        "%Y-%m-%dT%H:%M"
    )


def registration(**fields: Any) -> dict[str, Any]:
    now = timezone.now()
    return {
        "full_name": "Ерлан Жұмабаев",
        "phone": "+7 701 123 45 67",
        "host": "Director",
        "purpose": "Meeting",
        "valid_from": local_input(now),
        "valid_until": local_input(now + dt.timedelta(hours=2)),
        **fields,
    }


def test_the_guard_registers_a_visitor_and_gets_a_printable_qr_pass(
    guard: User, door: Door, school: Any
) -> None:
    # given the registration form with the exit doors ticked and no ID-document field
    client = client_of(guard)
    form = client.get("/visitors/new/").content.decode()
    assert f'name="doors" value="{door.pk}" id="id_doors_0" checked' in form
    assert "document" in form.lower()  # the page tells the guard not to copy one
    # when the guard submits it
    response = client.post("/visitors/new/", registration())
    # then the visitor is recorded and the pass page shows the QR code
    visitor = Visitor.objects.get()
    assert response.status_code == 302 and response["Location"] == f"/visitors/{visitor.pk}/pass/"
    assert list(visitor.doors.all()) == [door]
    page = client.get(response["Location"]).content.decode()
    assert "<svg" in page and "Ерлан Жұмабаев" in page and "window.print()" in page
    assert "Main entrance" in page
    assert "watch-alert" not in page


def test_a_bad_phone_is_shown_and_nothing_is_recorded(guard: User, door: Door) -> None:
    response = client_of(guard).post("/visitors/new/", registration(phone="123"))
    assert response.status_code == 422
    assert "Kazakh mobile number" in response.content.decode()
    assert not Visitor.objects.exists()


def test_a_watched_visitor_shows_a_red_warning_until_acknowledged(
    guard: User, admin: User, door: Door, school: Any
) -> None:
    # given a parent barred by a court order
    watchlist.add_entry(
        school=school, full_name="Иванов Пётр", phone="", reason="Court order 12", by=admin
    )
    client = client_of(guard)
    # when the guard registers him
    response = client.post("/visitors/new/", registration(full_name="ИВАНОВ ПЕТР"), follow=True)
    # then the pass page warns in red, and the visitor is still recorded
    page = response.content.decode()
    assert "watch-alert" in page and "Court order 12" in page
    visitor = Visitor.objects.get()
    alert = WatchAlert.objects.get(visitor=visitor)
    assert "watch list!" in client.get("/visitors/").content.decode()
    # when the guard acknowledges it, the warning goes
    back = client.post(f"/watch-list/alerts/{alert.pk}/acknowledge/", {"back": "pass"}, follow=True)
    assert "watch-alert" not in back.content.decode()
    alert.refresh_from_db()
    assert alert.acknowledged_by == guard


def test_the_days_list_signs_visitors_in_and_out(guard: User, door: Door, school: Any) -> None:
    visitor = visitors.register_visitor(
        school=school, full_name="Гость", phone="", host="Teacher", purpose="Talk", by=guard
    ).visitor
    client = client_of(guard)
    page = client.get("/visitors/").content.decode()
    assert "Гость" in page and f"/visitors/{visitor.pk}/sign-in/" in page
    client.post(f"/visitors/{visitor.pk}/sign-in/")
    visitor.refresh_from_db()
    assert visitor.status == Visitor.Status.INSIDE
    assert f"/visitors/{visitor.pk}/sign-out/" in client.get("/visitors/").content.decode()
    client.post(f"/visitors/{visitor.pk}/sign-out/")
    visitor.refresh_from_db()
    assert visitor.status == Visitor.Status.LEFT
    assert Credential.objects.get(visitor=visitor).status == Credential.Status.BLOCKED
    # a second sign-in is refused with a message, not an error page
    again = client.post(f"/visitors/{visitor.pk}/sign-in/", follow=True)
    assert again.status_code == 200 and "register the visitor again" in again.content.decode()
    assert AuditEntry.objects.filter(details__list="visitors").exists()


def test_a_teacher_announces_a_visitor_the_guard_then_sees(
    make_user: Any, guard: User, door: Door, school: Any
) -> None:
    # given a class teacher (no guard rights)
    teacher = make_user(Role.CLASS_TEACHER, school, full_name="Айжан Серікқызы")
    client = client_of(teacher)
    assert client.get("/visitors/").status_code == 403
    tomorrow = timezone.localdate() + dt.timedelta(days=1)
    # when she announces a parent for tomorrow 15:00
    response = client.post(
        "/visitors/expect/",
        {
            "full_name": "Марат Ахметов",
            "purpose": "Parent meeting",
            "valid_from": f"{tomorrow:%Y-%m-%d}T15:00",
            "hours": "1",
        },
        follow=True,
    )
    assert "Марат Ахметов" in response.content.decode()
    visitor = Visitor.objects.get()
    assert visitor.host == "Айжан Серікқызы" and visitor.status == Visitor.Status.EXPECTED
    # typed in school time (UTC+5), not UTC
    assert visitor.valid_from.astimezone(dt.UTC).hour == 10
    # then the guard finds him on tomorrow's list
    page = client_of(guard).get(f"/visitors/?date={tomorrow:%Y-%m-%d}").content.decode()
    assert "Марат Ахметов" in page and "Parent meeting" in page
    assert "Марат Ахметов" not in client_of(guard).get("/visitors/").content.decode()


def test_only_the_list_keepers_change_the_watch_list(
    guard: User, admin: User, school: Any, pupil: Pupil
) -> None:
    # the admin adds an entry linked to a person by IIN
    keeper = client_of(admin)
    response = keeper.post(
        "/watch-list/new/",
        {
            "full_name": "Сейтқали Әлия",
            "phone": "",
            "reason": "Court order",
            "iin": "120503600127",
        },
    )
    assert response.status_code == 302
    entry = WatchEntry.objects.get()
    assert entry.person == pupil.person and entry.added_by == admin
    # the guard sees the active entry but cannot change it
    client = client_of(guard)
    page = client.get("/watch-list/").content.decode()
    assert "Court order" in page and "/watch-list/new/" not in page
    assert client.get("/watch-list/new/").status_code == 403
    assert client.post(f"/watch-list/{entry.pk}/deactivate/").status_code == 403
    # the admin edits, unlinks and takes it off the list; the guard no longer sees it
    keeper.post(
        f"/watch-list/{entry.pk}/",
        {"full_name": "Сейтқали Әлия", "reason": "Court order 2", "unlink": "on", "iin": ""},
    )
    entry.refresh_from_db()
    assert entry.reason == "Court order 2" and entry.person is None
    keeper.post(f"/watch-list/{entry.pk}/deactivate/")
    assert "Court order" not in client.get("/watch-list/").content.decode()
    assert "Court order 2" in keeper.get("/watch-list/").content.decode()


def test_an_unknown_iin_is_refused_on_the_watch_list_form(admin: User) -> None:
    response = client_of(admin).post(
        "/watch-list/new/", {"full_name": "X", "reason": "r", "iin": "120503600127"}
    )
    assert response.status_code == 422 and not WatchEntry.objects.exists()


def test_the_alerts_page_lists_and_acknowledges(
    guard: User, admin: User, door: Door, school: Any
) -> None:
    watchlist.add_entry(school=school, full_name="Иванов Пётр", phone="", reason="r", by=admin)
    visitors.register_visitor(
        school=school, full_name="Иванов Пётр", phone="", host="h", purpose="p", by=guard
    )
    alert = WatchAlert.objects.get()
    client = client_of(guard)
    page = client.get("/watch-list/alerts/").content.decode()
    assert "Registered as a visitor" in page and "Acknowledge" in page
    client.post(f"/watch-list/alerts/{alert.pk}/acknowledge/")
    assert "Acknowledge</button>" not in client.get("/watch-list/alerts/").content.decode()


@pytest.fixture
def family_with_aunt(pupil: Pupil) -> Any:
    family = make_family(pupil)
    people_services.add_guardian(
        pupil=pupil,
        last_name="Сейтқали",
        first_name="Серік",
        phone="+77015550104",
        relation="father",
        may_pick_up=False,
    )
    aunt = pickups.add_trusted_adult(
        pupil=pupil, full_name="Айгүл", phone="+77015557788", relation="aunt", by=family.mother
    )
    return family, aunt


def test_the_guard_finds_the_child_and_records_who_took_them(
    guard: User, pupil: Pupil, family_with_aunt: Any
) -> None:
    family, aunt = family_with_aunt
    client = client_of(guard)
    found = client.get("/pick-ups/", {"q": "Сейт"}).content.decode()
    assert f"/pick-ups/{pupil.pk}/" in found
    page = client.get(f"/pick-ups/{pupil.pk}/").content.decode()
    assert "Айгүл" in page and "Гүлнар" in page and "Серік" not in page
    assert AuditEntry.objects.filter(person=pupil.person, details__page="pickup").exists()
    response = client.post(f"/pick-ups/{pupil.pk}/record/", {"collector": f"trusted:{aunt.pk}"})
    assert response.status_code == 302
    assert PickUp.objects.get().trusted_adult == aunt
    assert Notification.objects.filter(kind="pickup", recipient=family.mother).exists()
    log = client.get("/pick-ups/log/").content.decode()
    assert "Айгүл" in log and pupil.person.full_name in log


def test_a_guardian_not_allowed_to_collect_is_refused_on_the_page(
    guard: User, pupil: Pupil, family_with_aunt: Any
) -> None:
    father = Guardian.objects.get(person__first_name="Серік")
    client = client_of(guard)
    refused = client.post(f"/pick-ups/{pupil.pk}/record/", {"collector": f"guardian:{father.pk}"})
    assert refused.status_code == 409
    assert "may not collect the child" in refused.content.decode()
    empty = client.post(f"/pick-ups/{pupil.pk}/record/", {})
    assert empty.status_code == 422
    assert not PickUp.objects.exists()


def test_the_pick_up_page_marks_a_blocked_guardian_without_their_phone(
    guard: User, pupil: Pupil, family_with_aunt: Any, make_user: Any, school: Any
) -> None:
    # given the mother's data are blocked
    mother = Guardian.objects.get(person__user=family_with_aunt[0].mother, school=school)
    block_person(
        person=mother.person, by=make_user(Role.DPO, school), reason="dispute", request=None
    )
    # when the guard opens the child's pick-up page
    page = client_of(guard).get(f"/pick-ups/{pupil.pk}/").content.decode()
    # then the mother is listed, marked blocked, and her phone is not on the page
    assert mother.person.full_name in page and "data-blocked" in page
    assert mother.person.phone not in page


def test_opening_a_visitors_pass_is_an_audited_read(guard: User, door: Door) -> None:
    # given a registered visitor
    client = client_of(guard)
    client.post("/visitors/new/", registration())
    visitor = Visitor.objects.get()
    # when the guard opens the pass page twice
    client.get(f"/visitors/{visitor.pk}/pass/")
    client.get(f"/visitors/{visitor.pk}/pass/")
    # then each page load is one view entry naming the visitor
    entries = AuditEntry.objects.filter(action="view", details__list="visitor_pass")
    assert entries.count() == 2
    assert {entry.details["visitor"] for entry in entries} == {visitor.pk}
    assert {entry.actor for entry in entries} == {guard}
