"""The school admin's access set-up pages: zones, doors, devices, groups, settings."""

from __future__ import annotations

from typing import Any

import pytest
from django.test import Client

from kezekshi.access import setup
from kezekshi.access.device_auth import signed_headers
from kezekshi.access.models import AccessGroup, AccessSettings, Device, Door, TimeWindow, Zone
from kezekshi.accounts.roles import Role
from kezekshi.conftest import verified_client
from kezekshi.people import services as people_services
from kezekshi.people.models import Pupil
from kezekshi.privacy.models import AuditEntry
from kezekshi.privacy.requests import block_person

pytestmark = pytest.mark.django_db


@pytest.fixture
def admin(school: Any, make_user: Any) -> Client:
    client = verified_client(make_user(Role.SCHOOL_ADMIN, school))
    client.defaults["HTTP_ACCEPT_LANGUAGE"] = "en"
    return client


@pytest.fixture
def door(school: Any) -> Door:
    zone = setup.save_zone(school=school, name_kk="Ғимарат", name_ru="Здание", kind="building")
    return setup.save_door(
        school=school, name_kk="Басты кіреберіс", name_ru="Главный вход", zone=zone, lanes=4
    )


def test_a_building_and_its_door_are_set_up_from_the_pages(admin: Client, school: Any) -> None:
    # when the admin adds a zone and a door through the forms
    response = admin.post(
        "/access/setup/zones/new/",
        {"name_kk": "Ғимарат", "name_ru": "Здание", "name_en": "Building", "kind": "building"},
    )
    assert response.status_code == 302
    zone = Zone.objects.get(school=school)
    response = admin.post(
        "/access/setup/doors/new/",
        {
            "name_kk": "Басты кіреберіс",
            "name_ru": "Главный вход",
            "zone": zone.pk,
            "lanes": 8,
            "is_exit": "on",
        },
    )
    assert response.status_code == 302
    # then both are listed, and the rules' version moved for each change
    page = admin.get("/access/setup/").content.decode()
    assert "Building" in page and "Басты кіреберіс" in page  # no English name: Kazakh
    door = Door.objects.get(school=school)
    assert (door.lanes, door.is_exit) == (8, True)
    assert AccessSettings.objects.get(school=school).rules_version == 2


def test_a_door_without_its_russian_name_is_not_saved(admin: Client, school: Any) -> None:
    zone = setup.save_zone(school=school, name_kk="Ғимарат", name_ru="Здание", kind="building")
    response = admin.post(
        "/access/setup/doors/new/", {"name_kk": "Кіреберіс", "zone": zone.pk, "lanes": 1}
    )
    assert response.status_code == 422
    assert not Door.objects.exists()


def test_a_registered_device_shows_its_secret_once_and_it_signs(
    admin: Client, school: Any, door: Door
) -> None:
    # when the admin registers a turnstile on lane 2
    response = admin.post(
        "/access/setup/devices/new/",
        {"name": "Турникет 2", "kind": "turnstile", "door": door.pk, "lane": 2, "direction": "in"},
    )
    # then the page shows its id and secret, never to be cached
    assert response.status_code == 200
    assert "no-store" in response["Cache-Control"]
    device = Device.objects.get(school=school)
    assert response.context["device"].pk == device.pk
    secret = response.context["secret"]
    page = response.content.decode()
    assert secret in page and "X-Signature" in page and f"X-Device-Id: {device.pk}" in page
    # and the secret is not shown on any later page
    assert secret not in admin.get(f"/access/setup/devices/{device.pk}/").content.decode()
    listing = admin.get("/access/setup/devices/").content.decode()
    assert "Турникет 2" in listing and secret not in listing
    # and a request signed with it is accepted by the device API
    path = "/api/v1/access/state"
    headers = signed_headers(device_id=device.pk, secret=secret, method="GET", path=path, body=b"")
    assert Client().get(path, headers=headers).status_code == 200  # type: ignore[arg-type]


def test_rotating_a_secret_shows_a_new_one(admin: Client, school: Any, door: Door) -> None:
    device, old = setup.add_device(school=school, name="T1", kind="turnstile", door=door)
    response = admin.post(f"/access/setup/devices/{device.pk}/rotate/")
    assert response.status_code == 200
    new = response.context["secret"]
    assert new != old and new in response.content.decode()
    device.refresh_from_db()
    assert device.secret == new


def test_switching_a_device_off_and_on(admin: Client, school: Any, door: Door) -> None:
    device, _secret = setup.add_device(school=school, name="T1", kind="turnstile", door=door)
    admin.post(f"/access/setup/devices/{device.pk}/active/", {"active": "0"})
    device.refresh_from_db()
    assert device.is_active is False
    assert "switched off" in admin.get("/access/setup/devices/").content.decode()
    admin.post(f"/access/setup/devices/{device.pk}/active/", {"active": "1"})
    device.refresh_from_db()
    assert device.is_active is True


def test_a_group_with_its_weekly_windows(admin: Client, school: Any, door: Door) -> None:
    # when the admin creates the first shift's group
    response = admin.post(
        "/access/setup/groups/new/",
        {
            "name_kk": "1-ауысым",
            "name_ru": "1 смена",
            "members": "pupils_shift_1",
            "doors": [door.pk],
            "valid_from": "2026-09-01",
            "valid_until": "2027-08-31",
        },
    )
    group = AccessGroup.objects.get(school=school)
    assert response.status_code == 302 and response["Location"].endswith(f"/{group.pk}/")
    # and gives it windows on Monday (two) and Saturday, with other days closed
    week = {f"day{day}": "" for day in range(7)}
    week |= {"day0": "06:30-13:00, 13:10–14:30", "day5": "7.00-12.00"}
    response = admin.post(f"/access/setup/groups/{group.pk}/week/", week)
    assert response.status_code == 302
    # then the windows are stored, and the edit page shows them back as typed
    stored = list(
        TimeWindow.objects.filter(group=group).values_list("weekday", "starts_at", "ends_at")
    )
    assert [(day, f"{s:%H:%M}", f"{e:%H:%M}") for day, s, e in stored] == [
        (0, "06:30", "13:00"),
        (0, "13:10", "14:30"),
        (5, "07:00", "12:00"),
    ]
    page = admin.get(f"/access/setup/groups/{group.pk}/").content.decode()
    assert 'value="06:30-13:00, 13:10-14:30"' in page


def test_a_window_that_is_not_a_time_is_refused(admin: Client, school: Any, door: Door) -> None:
    group = setup.save_group(school=school, name_kk="Қ", name_ru="С", members="staff", doors=[door])
    response = admin.post(f"/access/setup/groups/{group.pk}/week/", {"day0": "25:00-26:00"})
    assert response.status_code == 422
    assert "not a time of day" in response.content.decode()
    overlap = admin.post(
        f"/access/setup/groups/{group.pk}/week/", {"day0": "8:00-12:00, 9:00-10:00"}
    )
    assert overlap.status_code == 422 and "overlap" in overlap.content.decode()
    assert not TimeWindow.objects.exists()


def test_the_access_settings_form(admin: Client, school: Any) -> None:
    values = {
        "anti_passback_minutes": 2,
        "permit_grade_from": 1,
        "permit_grade_to": 4,
        "late_grace_minutes": 7,
        "absence_alert_days": 3,
        "notify_repeat_minutes": 15,
    }
    assert admin.post("/access/setup/settings/", values).status_code == 302
    assert AccessSettings.objects.get(school=school).late_grace_minutes == 7
    wrong = admin.post("/access/setup/settings/", values | {"permit_grade_from": 6})
    assert wrong.status_code == 422
    assert AccessSettings.objects.get(school=school).permit_grade_from == 1


def test_a_guard_cannot_open_the_set_up(school: Any, make_user: Any) -> None:
    guard = verified_client(make_user(Role.GUARD, school))
    assert guard.get("/access/setup/").status_code == 403
    assert guard.post("/access/setup/zones/new/", {"name_kk": "x"}).status_code == 403


def test_another_schools_door_is_not_found(
    admin: Client, other_school: Any, make_user: Any
) -> None:
    zone = setup.save_zone(school=other_school, name_kk="Ғ", name_ru="З", kind="building")
    foreign = setup.save_door(school=other_school, name_kk="Е", name_ru="Д", zone=zone)
    assert admin.get(f"/access/setup/doors/{foreign.pk}/").status_code == 404
    assert admin.get(f"/access/setup/zones/{zone.pk}/").status_code == 404


def test_saving_a_listed_group_keeps_its_blocked_members(
    admin: Client, school: Any, door: Door, pupil: Pupil, make_user: Any
) -> None:
    # given a listed group with a pupil whose data were blocked afterwards
    other = people_services.create_pupil(
        school=school, last_name="Бекова", first_name="Дана", school_class=pupil.school_class
    )
    group = setup.save_group(
        school=school,
        name_kk="Тізім",
        name_ru="Список",
        members="listed",
        doors=[door],
        persons=[pupil.person],
    )
    block_person(
        person=pupil.person, by=make_user(Role.DPO, school), reason="dispute", request=None
    )
    # when the admin opens the group, the blocked member is still offered, selected, marked
    page = admin.get(f"/access/setup/groups/{group.pk}/").content.decode()
    assert f'value="{pupil.person.pk}" selected' in page and "(blocked)" in page
    # and saving the form as shown keeps them in the group
    response = admin.post(
        f"/access/setup/groups/{group.pk}/",
        {
            "name_kk": "Тізім",
            "name_ru": "Список",
            "members": "listed",
            "doors": [door.pk],
            "persons": [pupil.person.pk],
        },
    )
    assert response.status_code == 302
    assert list(group.persons.all()) == [pupil.person]
    # but a blocked person who is not a member cannot be added to another group
    block_person(person=other.person, by=make_user(Role.DPO, school), reason="x", request=None)
    response = admin.post(
        f"/access/setup/groups/{group.pk}/",
        {
            "name_kk": "Тізім",
            "name_ru": "Список",
            "members": "listed",
            "doors": [door.pk],
            "persons": [pupil.person.pk, other.person.pk],
        },
    )
    assert response.status_code == 422
    assert list(group.persons.all()) == [pupil.person]


def test_the_group_page_listing_pupils_and_staff_is_an_audited_read(
    admin: Client, school: Any, door: Door, pupil: Pupil
) -> None:
    # given an access group
    group = setup.save_group(school=school, name_kk="Қ", name_ru="С", members="staff", doors=[door])
    # when the admin opens its page, whose form lists every pupil and staff member
    page = admin.get(f"/access/setup/groups/{group.pk}/").content.decode()
    # then one view of that list is recorded
    assert pupil.person.full_name in page
    entry = AuditEntry.objects.get(action="view", details__list="access_group_persons")
    assert entry.details["group"] == group.pk and entry.details["shown"] >= 1
