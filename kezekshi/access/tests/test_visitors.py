"""Visitors and the watch list: registration, the QR pass at a real turnstile, sign-in and
sign-out, and alerts for watched names, phones and persons."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from django.core.exceptions import ValidationError
from django.utils import timezone

from kezekshi.access import services, visitors, watchlist
from kezekshi.access.models import AccessSettings, Credential, Door, Visitor, WatchAlert, Zone
from kezekshi.accounts.roles import Role
from kezekshi.core import fanout
from kezekshi.core.errors import ServiceError

pytestmark = pytest.mark.django_db

DECIDE = "/api/v1/access/decide"
MONDAY_0752 = "2026-11-30T07:52:00+05:00"


@pytest.fixture
def guard(make_user: Any, school: Any) -> Any:
    return make_user(Role.GUARD, school)


@pytest.fixture
def canteen_door(school: Any, building: Zone) -> Door:
    canteen = Zone.objects.create(
        school=school, kind="canteen", name_kk="Асхана", name_ru="Столовая", parent=building
    )
    return Door.objects.create(
        school=school, zone=canteen, name_kk="Асхана", name_ru="Столовая", is_exit=False
    )


@pytest.fixture
def published(monkeypatch: Any) -> list[tuple[str, dict[str, Any]]]:
    sent: list[tuple[str, dict[str, Any]]] = []
    monkeypatch.setattr(fanout, "publish", lambda channel, message: sent.append((channel, message)))
    return sent


def register(school: Any, guard: Any, **fields: Any) -> visitors.Registration:
    values = {
        "full_name": "Ерлан Жұмабаев",
        "phone": "8 (701) 123-45-67",
        "host": "the director",
        "purpose": "a meeting",
    }
    return visitors.register_visitor(school=school, by=guard, **{**values, **fields})


def test_a_registration_gets_a_two_hour_pass_for_the_exit_doors(
    school: Any, guard: Any, main_door: Door, canteen_door: Door
) -> None:
    # given a school with an exit door and a canteen door inside
    before = timezone.now()
    # when the guard registers a visitor without choosing a window or doors
    registered = register(school, guard)
    # then the pass is for now → +2 h at the exit doors, with an active QR credential
    visitor = registered.visitor
    assert visitor.status == Visitor.Status.EXPECTED
    assert visitor.phone == "+77011234567"
    assert before <= visitor.valid_from <= timezone.now()
    assert visitor.valid_until - visitor.valid_from == dt.timedelta(hours=2)
    assert list(visitor.doors.all()) == [main_door]
    credential = registered.credential
    assert credential.kind == Credential.Kind.QR and credential.status == "active"
    assert credential.visitor == visitor and credential.valid_until == visitor.valid_until
    assert registered.alerts == []


def test_bad_input_records_nothing(school: Any, guard: Any, main_door: Door) -> None:
    with pytest.raises(ValidationError):
        register(school, guard, phone="12345")
    with pytest.raises(ServiceError) as empty:
        register(school, guard, full_name="   ")
    assert empty.value.code == "invalid_full_name"
    now = timezone.now()
    with pytest.raises(ServiceError) as window:
        register(school, guard, valid_from=now, valid_until=now - dt.timedelta(minutes=1))
    assert window.value.code == "invalid_window"
    assert not Visitor.objects.exists() and not Credential.objects.exists()


def test_the_printed_pass_opens_the_turnstile_until_the_visitor_signs_out(
    school: Any, guard: Any, turnstile: Any
) -> None:
    # given a registered visitor with the text of their printed QR code
    registered = register(school, guard)
    text = visitors.pass_text(registered.credential, visitor=registered.visitor)
    # when they show it at the turnstile
    entry = turnstile.post(
        DECIDE, {"credential_kind": "qr", "credential": text, "direction": "in", "record_no": "1"}
    ).json()
    # then they pass, the event names them, and they are inside
    assert entry["allowed"] is True and entry["reason"] == "ok", entry
    assert entry["visitor_id"] == registered.visitor.pk
    assert entry["display"]["name"] == "Ерлан Жұмабаев"
    registered.visitor.refresh_from_db()
    assert registered.visitor.status == Visitor.Status.INSIDE
    assert registered.visitor.signed_in_at is not None
    # when the guard signs them out, the same code is refused at once
    visitors.sign_out_visitor(visitor=registered.visitor, by=guard)
    again = turnstile.post(DECIDE, {"credential_kind": "qr", "credential": text}).json()
    assert again["allowed"] is False and again["reason"] == "credential_blocked"


def test_the_pass_opens_only_its_doors_and_only_in_its_window(
    school: Any, guard: Any, turnstile: Any, main_door: Door, canteen_door: Door
) -> None:
    only_canteen = register(school, guard, doors=[canteen_door])
    text = visitors.pass_text(only_canteen.credential, visitor=only_canteen.visitor)
    refused = turnstile.post(DECIDE, {"credential_kind": "qr", "credential": text}).json()
    assert refused["reason"] == "no_access_here"
    tomorrow = timezone.now() + dt.timedelta(days=1)
    later = register(school, guard, full_name="Гость Завтра", valid_from=tomorrow)
    text = visitors.pass_text(later.credential, visitor=later.visitor)
    early = turnstile.post(DECIDE, {"credential_kind": "qr", "credential": text}).json()
    assert early["allowed"] is False


def test_a_door_of_another_school_is_refused(school: Any, guard: Any, other_school: Any) -> None:
    zone = Zone.objects.create(school=other_school, kind="building", name_kk="Г", name_ru="З")
    foreign = Door.objects.create(school=other_school, zone=zone, name_kk="К", name_ru="В")
    with pytest.raises(ServiceError) as refused:
        register(school, guard, doors=[foreign])
    assert refused.value.code == "foreign_door"


def test_sign_in_sign_out_and_cancel_move_the_status_once(school: Any, guard: Any) -> None:
    visitor = register(school, guard).visitor
    inside = visitors.sign_in_visitor(visitor=visitor, by=guard)
    assert inside.status == Visitor.Status.INSIDE and inside.signed_in_at is not None
    first = inside.signed_in_at
    assert visitors.sign_in_visitor(visitor=visitor, by=guard).signed_in_at == first
    with pytest.raises(ServiceError) as not_cancellable:
        visitors.cancel_visitor(visitor=visitor, by=guard)
    assert not_cancellable.value.status == 409
    left = visitors.sign_out_visitor(visitor=visitor, by=guard)
    assert left.status == Visitor.Status.LEFT and left.signed_out_at is not None
    assert visitors.sign_out_visitor(visitor=visitor, by=guard).signed_out_at == left.signed_out_at
    assert not Credential.objects.filter(visitor=visitor, status="active").exists()
    with pytest.raises(ServiceError) as closed:
        visitors.sign_in_visitor(visitor=visitor, by=guard)
    assert closed.value.code == "visitor_not_expected"

    other = register(school, guard, full_name="Не пришёл").visitor
    with pytest.raises(ServiceError) as never_in:
        visitors.sign_out_visitor(visitor=other, by=guard)
    assert never_in.value.code == "visitor_not_inside"
    cancelled = visitors.cancel_visitor(visitor=other, by=guard)
    assert cancelled.status == Visitor.Status.CANCELLED
    assert Credential.objects.get(visitor=other).status == Credential.Status.BLOCKED


def test_an_expired_pass_cannot_be_signed_in(school: Any, guard: Any) -> None:
    past = timezone.now() - dt.timedelta(hours=3)
    visitor = register(school, guard, valid_from=past).visitor
    with pytest.raises(ServiceError) as expired:
        visitors.sign_in_visitor(visitor=visitor, by=guard)
    assert expired.value.code == "visitor_pass_expired"


def test_the_days_list_has_todays_passes_and_anyone_still_inside(school: Any, guard: Any) -> None:
    today = register(school, guard).visitor
    yesterday = register(
        school,
        guard,
        full_name="Вчерашний",
        valid_from=timezone.now() - dt.timedelta(days=1, hours=3),
    ).visitor
    visitors.Visitor.objects.filter(pk=yesterday.pk).update(status=Visitor.Status.INSIDE)
    gone = register(
        school, guard, full_name="Давний", valid_from=timezone.now() - dt.timedelta(days=2)
    ).visitor
    listed = set(visitors.visitors_on(school, timezone.localdate()))
    assert today in listed and yesterday in listed and gone not in listed


def test_a_watched_name_or_phone_raises_a_published_alert_but_the_visitor_is_recorded(
    school: Any, guard: Any, make_user: Any, published: Any, django_capture_on_commit_callbacks: Any
) -> None:
    # given an entry with a name spelled with «ё» and a phone
    admin = make_user(Role.SCHOOL_ADMIN, school)
    entry = watchlist.add_entry(
        school=school, full_name="Иванов Пётр", phone="+7 777 000 11 22", reason="court", by=admin
    )
    # when a visitor registers under the same name in other case and spacing
    with django_capture_on_commit_callbacks(execute=True):
        by_name = register(school, guard, full_name="  иванов   ПЕТР ", phone="")
    # then an alert is raised and published on the school's live channel
    alert = WatchAlert.objects.get(visitor=by_name.visitor)
    assert alert.entry == entry and by_name.alerts == [alert]
    assert published == [
        (services.live_channel(school.pk), {"type": "watch", "alerts": [alert.pk]})
    ]
    # and a different name with the watched phone is caught too
    by_phone = register(school, guard, full_name="Someone Else", phone="87770001122")
    assert [a.entry for a in by_phone.alerts] == [entry]
    assert Visitor.objects.count() == 2


def test_inactive_and_expired_entries_raise_nothing(
    school: Any, guard: Any, make_user: Any
) -> None:
    admin = make_user(Role.SCHOOL_ADMIN, school)
    old = watchlist.add_entry(
        school=school,
        full_name="Иванов Пётр",
        phone="",
        reason="court",
        by=admin,
        valid_until=timezone.localdate() - dt.timedelta(days=1),
    )
    off = watchlist.add_entry(
        school=school, full_name="Петров Иван", phone="", reason="x", by=admin
    )
    watchlist.deactivate_entry(entry=off, by=admin)
    assert register(school, guard, full_name="Иванов Пётр").alerts == []
    assert register(school, guard, full_name="Петров Иван").alerts == []
    assert old.is_active and not WatchAlert.objects.exists()


def test_a_linked_person_is_stopped_at_the_door_until_taken_off_the_list(
    school: Any, make_user: Any, turnstile: Any, card: Any, groups: Any, pupil: Any
) -> None:
    # given a pupil whose card opens the door
    admin = make_user(Role.SCHOOL_ADMIN, school)
    assert turnstile.post(DECIDE, {"credential": "123,45678", "time": MONDAY_0752}).json()[
        "allowed"
    ]
    version = AccessSettings.objects.get(school=school).rules_version
    # when the pupil's person is put on the watch list
    entry = watchlist.add_entry(
        school=school, full_name="x", phone="", reason="court", by=admin, person=pupil.person
    )
    # then the rules move on, the card is refused and the guard is alerted
    assert AccessSettings.objects.get(school=school).rules_version > version
    refused = turnstile.post(DECIDE, {"credential": "123,45678", "time": MONDAY_0752}).json()
    assert refused["allowed"] is False and refused["reason"] == "watch_list"
    assert WatchAlert.objects.filter(entry=entry, event_id=refused["event_id"]).exists()
    # when the entry is taken off the list, the card works again
    watchlist.deactivate_entry(entry=entry, by=admin)
    back = turnstile.post(DECIDE, {"credential": "123,45678", "time": MONDAY_0752}).json()
    assert back["allowed"] is True


def test_a_person_of_another_school_cannot_be_linked(
    school: Any, other_school: Any, make_user: Any, pupil: Any
) -> None:
    admin = make_user(Role.PLATFORM_OPERATOR)
    with pytest.raises(ServiceError) as refused:
        watchlist.add_entry(
            school=other_school, full_name="x", phone="", reason="r", by=admin, person=pupil.person
        )
    assert refused.value.code == "foreign_person"


def test_the_first_acknowledgement_stays(school: Any, guard: Any, make_user: Any) -> None:
    admin = make_user(Role.SCHOOL_ADMIN, school)
    watchlist.add_entry(school=school, full_name="Иванов Пётр", phone="", reason="r", by=admin)
    alert = register(school, guard, full_name="Иванов Пётр").alerts[0]
    first = watchlist.acknowledge_alert(alert=alert, by=guard)
    assert first.acknowledged_by == guard and first.acknowledged_at is not None
    again = watchlist.acknowledge_alert(alert=alert, by=admin)
    assert again.acknowledged_by == guard and again.acknowledged_at == first.acknowledged_at
