"""The demo school: generated people of every role, importable, and usable for sign-in."""

from __future__ import annotations

import datetime as dt
import io
import re
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from django.conf import settings
from django.core.management import call_command
from django.test import Client
from django.utils import timezone

from kezekshi.access import decisions
from kezekshi.access.models import (
    AccessEvent,
    AccessGroup,
    AccessSettings,
    Credential,
    DailyAttendance,
    Device,
    Door,
    Zone,
)
from kezekshi.access.services import NOTIFY_WITHIN
from kezekshi.accounts.models import Membership, User
from kezekshi.accounts.roles import STAFF_ROLES
from kezekshi.core.models import School, Shift
from kezekshi.core.validators import normalize_phone, validate_iin
from kezekshi.notifications.models import Notification
from kezekshi.people.models import Guardian, Guardianship, Person, Pupil, SchoolClass, StaffMember

pytestmark = pytest.mark.django_db


def seed(*args: str) -> str:
    out = io.StringIO()
    call_command("seed_demo", "--pupils", "120", "--classes", "8", *args, stdout=out)
    return out.getvalue()


def test_the_demo_school_has_pupils_guardians_and_every_staff_role() -> None:
    output = seed()
    school = School.objects.get()
    assert Pupil.objects.filter(school=school).count() == 120
    assert SchoolClass.objects.filter(school=school).count() == 8
    assert set(Shift.objects.filter(school=school).values_list("number", flat=True)) == {1, 2}
    assert Guardian.objects.filter(school=school).count() >= 100
    assert Guardianship.objects.filter(school=school).count() >= 120
    roles = set(Membership.objects.filter(school=school).values_list("role", flat=True))
    assert roles >= {role.value for role in STAFF_ROLES}
    assert SchoolClass.objects.filter(school=school, class_teacher__isnull=False).count() == 8
    for person in Person.objects.filter(school=school):
        if person.iin:
            validate_iin(person.iin)
        if person.phone:
            assert normalize_phone(person.phone) == person.phone
    assert "kezekshi-demo" in output and "school-admin@demo.kezekshi.kz" in output


def test_seeding_twice_with_if_empty_leaves_the_school_alone() -> None:
    seed()
    assert "left as it is" in seed("--if-empty")
    assert School.objects.count() == 1


def test_the_printed_accounts_work(settings: Any) -> None:
    output = seed()
    client = Client()
    response = client.post(
        "/login/", {"login": "guard@demo.kezekshi.kz", "password": "kezekshi-demo"}
    )
    assert response.status_code == 302
    assert client.get("/pupils/").status_code == 200
    phone = re.search(r"sign in with (\+7\d{10})", output)
    assert phone
    parent = Client()
    assert parent.post("/app/code/", {"phone": phone.group(1)}).status_code == 200


def test_the_demo_school_has_doors_turnstiles_and_access_rules() -> None:
    output = seed()
    school = School.objects.get()
    building = Zone.objects.get(school=school, kind="building")
    assert Zone.objects.get(school=school, kind="canteen").parent == building
    main = Door.objects.get(school=school, zone=building)
    assert (main.lanes, main.is_exit) == (8, True)
    assert Door.objects.get(school=school, zone__kind="canteen").is_exit is False
    turnstiles = Device.objects.filter(school=school, door=main, is_active=True)
    assert turnstiles.count() == 2
    for device in turnstiles:
        assert device.secret and device.secret not in output  # nothing secret is printed
    groups = {group.members: group for group in AccessGroup.objects.filter(school=school)}
    assert set(groups) == {"pupils_shift_1", "pupils_shift_2", "staff"}
    for group in groups.values():
        assert group.name_kk and group.name_ru and group.name_en
        assert set(group.doors.all()) == set(Door.objects.filter(school=school))
    for members in ("pupils_shift_1", "pupils_shift_2"):
        weekdays = set(groups[members].windows.values_list("weekday", flat=True))
        assert weekdays == {0, 1, 2, 3, 4, 5}
    assert groups["staff"].open_on_days_off and not groups["staff"].windows.exists()
    assert AccessSettings.objects.filter(school=school).exists()


def test_everyone_has_a_card_and_the_cards_open_the_door() -> None:
    seed()
    school = School.objects.get()
    holders = Pupil.objects.filter(school=school).count() + StaffMember.objects.count()
    cards = Credential.objects.filter(school=school, kind="card", status="active")
    assert cards.count() == holders
    assert cards.values("person").distinct().count() == holders
    assert all(
        re.fullmatch(r"[0-9A-F]{8}", value) for value in cards.values_list("value", flat=True)
    )
    # a staff member's card opens the main entrance now (staff may pass any time)
    staff_card = cards.filter(person__staff__isnull=False).first()
    assert staff_card is not None
    decision = decisions.decide(
        school_id=school.pk,
        door_id=Door.objects.get(school=school, is_exit=True).pk,
        direction="in",
        at=timezone.now(),
        credential_kind="card",
        credential_value=staff_card.value,
    )
    assert decision.allowed, decision.reason


def test_this_morning_most_pupils_came_some_late_a_few_absent() -> None:
    seed()
    school = School.objects.get()
    zone = ZoneInfo(settings.SCHOOL_TIME_ZONE)
    today = timezone.now().astimezone(zone).date()
    first_shift = set(
        Pupil.objects.filter(school=school, school_class__shift=1).values_list(
            "person_id", flat=True
        )
    )
    days = {
        row.person_id: row.first_in.astimezone(zone).time()
        for row in DailyAttendance.objects.filter(
            school=school, date=today, person_id__in=first_shift
        )
        if row.first_in is not None
    }
    assert 0.8 * len(first_shift) <= len(days) < len(first_shift)  # a few absent
    on_time = [t for t in days.values() if dt.time(7, 30) <= t <= dt.time(8, 5)]
    late = [t for t in days.values() if t > dt.time(8, 5)]
    assert len(on_time) > len(days) / 2 and late
    events = AccessEvent.objects.filter(school=school)
    assert events.filter(allowed=True, credential__kind="card").count() == events.count() > 0
    # the demo parent is told of their children's passes that are recent enough to tell
    parent = User.objects.get(phone__in=Guardian.objects.values("person__phone"))
    children = Pupil.objects.filter(guardianships__guardian__person__user=parent)
    recent = events.filter(
        person__pupil__in=children,
        door__is_exit=True,
        occurred_at__gt=timezone.now() - NOTIFY_WITHIN,
    )
    told = Notification.objects.filter(recipient=parent, kind="pass")
    assert told.count() == recent.count()


def test_the_demo_canteen_has_wallets_and_this_weeks_published_menus() -> None:
    from kezekshi.canteen import menu
    from kezekshi.canteen.models import DailyMenu, Wallet

    seed()
    school = School.objects.get()
    assert (
        Wallet.objects.filter(school=school).count() == Pupil.objects.filter(school=school).count()
    )
    weekdays = [day for day in menu.week_of(menu.local_today()) if day.weekday() < 5]
    published = set(
        DailyMenu.objects.filter(school=school, is_published=True).values_list("date", "meal")
    )
    meals = ("breakfast", "lunch", "snack")
    assert published == {(day, meal) for day in weekdays for meal in meals}
