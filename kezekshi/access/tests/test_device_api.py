"""The device API end to end: signed requests, decisions, idempotent batches, bad input."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from django.utils import timezone

from kezekshi.access import services
from kezekshi.access.models import AccessEvent, AccessSettings, DailyAttendance, Presence
from kezekshi.conftest import run_tasks
from kezekshi.core.models import SmsMessage
from kezekshi.notifications.models import Notification
from kezekshi.people import services as people_services

pytestmark = pytest.mark.django_db

DECIDE = "/api/v1/access/decide"
EVENTS = "/api/v1/access/events"
# A Monday in term time, 07:52 in Almaty.
MONDAY_0752 = "2026-11-30T07:52:00+05:00"


def test_the_same_card_in_every_spelling_decides_the_same(
    turnstile: Any, card: Any, groups: Any, pupil: Any
) -> None:
    for spelling in ("123,45678", "8106606", "01007BB26E", "7b:b2:6e"):
        body = turnstile.post(DECIDE, {"credential": spelling, "time": MONDAY_0752}).json()
        assert body["allowed"] is True, (spelling, body)
        assert body["reason"] == "ok"
        assert body["person_id"] == pupil.person_id
        assert body["display"]["name"] == "Әлия С."
        assert body["display"]["school_class"] == "5 Ә"
        assert body["display"]["message"]["ru"] == "Добро пожаловать!"
        assert body["display"]["message"]["kk"] != body["display"]["message"]["ru"]
        assert body["mode"] == "normal"


def test_an_unknown_card_is_denied_and_recorded(turnstile: Any, groups: Any) -> None:
    body = turnstile.post(DECIDE, {"credential": "04A23B1C", "time": MONDAY_0752}).json()
    assert body["allowed"] is False and body["reason"] == "unknown_credential"
    event = AccessEvent.objects.get(pk=body["event_id"])
    assert event.allowed is False and event.presented == "04A23B1C" and event.person is None


def test_outside_the_window_and_on_sunday_the_pupil_is_refused(
    turnstile: Any, card: Any, groups: Any
) -> None:
    late = turnstile.post(DECIDE, {"credential": "123,45678", "time": "2025-12-01T21:00:00+05:00"})
    assert late.json()["reason"] == "outside_hours"
    sunday = turnstile.post(
        DECIDE, {"credential": "123,45678", "time": "2025-11-30T09:00:00+05:00"}
    )
    assert sunday.json()["reason"] == "day_off"
    holiday = turnstile.post(
        DECIDE, {"credential": "123,45678", "time": "2025-12-16T09:00:00+05:00"}
    )
    assert holiday.json()["reason"] == "day_off"  # Independence Day


def test_a_lost_card_is_refused_at_once_and_the_replacement_works(
    turnstile: Any, card: Any, groups: Any, pupil: Any
) -> None:
    new = services.replace_card(credential=card, new_uid="04:A2:3B:1C", by=None, reason="lost")
    old = turnstile.post(DECIDE, {"credential": "123,45678", "time": MONDAY_0752}).json()
    assert old["allowed"] is False and old["reason"] == "credential_blocked"
    fresh = turnstile.post(DECIDE, {"credential": "04a23b1c", "time": MONDAY_0752}).json()
    assert fresh["allowed"] is True and fresh["person_id"] == pupil.person_id
    card.refresh_from_db()
    assert card.replaced_by == new


def test_evacuation_opens_every_exit_and_lockdown_admits_only_staff(
    turnstile: Any, card: Any, groups: Any, school: Any, make_user: Any
) -> None:
    admin = make_user()
    services.set_mode(school=school, mode="evacuation", by=admin)
    out = turnstile.post(
        DECIDE, {"credential": "FFFFFFFF", "direction": "out", "time": MONDAY_0752}
    )
    assert out.json()["allowed"] is True and out.json()["mode"] == "evacuation"
    entry = turnstile.post(DECIDE, {"credential": "123,45678", "time": MONDAY_0752})
    assert entry.json()["reason"] == "evacuation_no_entry"
    assert turnstile.get("/api/v1/access/state").json()["open_exits"] is True
    services.set_mode(school=school, mode="lockdown", by=admin)
    locked = turnstile.post(DECIDE, {"credential": "123,45678", "time": MONDAY_0752})
    assert locked.json()["reason"] == "lockdown"


def test_young_pupils_leave_during_lessons_only_with_a_permit(
    turnstile: Any, groups: Any, shifts: Any, school: Any, school_class: Any, make_user: Any
) -> None:
    from kezekshi.access.models import ExitPermit

    school_class.grade = 2
    school_class.save()
    child = people_services.create_pupil(
        school=school, last_name="Ахметов", first_name="Нұрлан", school_class=school_class
    )
    services.issue_card(person=child.person, uid="555", by=None)
    during = {"credential": "555", "direction": "out", "time": "2026-11-30T10:00:00+05:00"}
    assert turnstile.post(DECIDE, during).json()["reason"] == "exit_permit_required"
    after = {**during, "time": "2026-11-30T14:00:00+05:00"}
    assert turnstile.post(DECIDE, after).json()["allowed"] is True
    teacher = make_user()
    ExitPermit.objects.create(
        school=school,
        pupil=child,
        date=dt.date(2026, 11, 30),
        leave_from=dt.time(9, 30),
        reason="dentist",
        issued_by=teacher,
        issued_as="class_teacher",
    )
    assert turnstile.post(DECIDE, during).json()["allowed"] is True


def test_anti_passback_refuses_a_second_entry_within_the_window(
    turnstile: Any, card: Any, groups: Any, school: Any
) -> None:
    AccessSettings.objects.filter(school=school).update(anti_passback_minutes=10)
    first = turnstile.post(
        DECIDE, {"credential": "123,45678", "time": MONDAY_0752, "record_no": "1"}
    ).json()
    assert first["allowed"] is True
    again = turnstile.post(DECIDE, {"credential": "123,45678", "time": "2026-11-30T07:55:00+05:00"})
    assert again.json()["reason"] == "anti_passback"


def test_requests_without_a_valid_signature_are_refused(turnstile: Any, groups: Any) -> None:
    body = {"credential": "123,45678"}
    bad = turnstile.post(DECIDE, body)
    assert bad.status_code == 200
    unsigned = turnstile.client.post(DECIDE, data=body, content_type="application/json")
    assert unsigned.status_code == 401
    assert unsigned.json()["code"] == "device_not_authenticated"
    turnstile.secret = "not-the-secret"
    forged = turnstile.post(DECIDE, body)
    assert forged.status_code == 401 and forged.json()["code"] == "bad_signature"
    turnstile.device.is_active = False
    turnstile.device.save()
    from kezekshi.access.device_auth import forget

    forget(turnstile.device.pk)
    turnstile.device.pk = 999_999
    unknown = turnstile.post(DECIDE, body)
    assert unknown.status_code == 401 and unknown.json()["code"] == "unknown_device"


def _event(record_no: str, **fields: Any) -> dict[str, Any]:
    return {
        "record_no": record_no,
        "time": fields.pop("time", timezone.now().isoformat()),
        "credential_kind": "card",
        "credential": "123,45678",
        "allowed": True,
        **fields,
    }


def test_a_batch_is_stored_once_and_a_replay_answers_the_same(
    turnstile: Any, card: Any, groups: Any, pupil: Any
) -> None:
    batch = {"events": [_event("101"), _event("102", direction="out")]}
    first = turnstile.post(EVENTS, batch)
    assert first.status_code == 200, first.content
    again = turnstile.post(EVENTS, batch)
    assert [r["event_id"] for r in first.json()["results"]] == [
        r["event_id"] for r in again.json()["results"]
    ]
    assert first.json()["results"] == again.json()["results"]
    assert AccessEvent.objects.filter(device=turnstile.device).count() == 2


def test_garbage_in_a_batch_gets_its_own_error_and_the_rest_lands(
    turnstile: Any, card: Any, groups: Any
) -> None:
    batch = {
        "events": [
            _event("1"),
            "not an event",
            {"record_no": "3"},
            _event("4", time="yesterday"),
            _event("5", door=999_999),
            _event("6", direction="sideways"),
            _event("7", person=123_456_789),
            _event("8"),
        ]
    }
    body = turnstile.post(EVENTS, batch).json()
    statuses = [(r["index"], r["status"]) for r in body["results"]]
    assert statuses == [
        (0, "stored"),
        (1, "error"),
        (2, "error"),
        (3, "error"),
        (4, "error"),
        (5, "error"),
        (6, "error"),
        (7, "stored"),
    ]
    codes = {r["index"]: r["error"]["code"] for r in body["results"] if r["status"] == "error"}
    assert codes == {
        1: "invalid_event",
        2: "invalid_event",
        3: "invalid_event",
        4: "unknown_door",
        5: "invalid_event",
        6: "unknown_person",
    }
    assert body["stored"] == 2 and body["errors"] == 6
    assert AccessEvent.objects.count() == 2


def test_an_oversized_batch_takes_the_first_thousand(turnstile: Any, card: Any) -> None:
    batch = {"events": [_event(str(n)) for n in range(1005)]}
    body = turnstile.post(EVENTS, batch).json()
    assert body["stored"] == 1000 and body["errors"] == 5
    assert body["results"][-1]["error"]["code"] == "batch_too_large"


def test_malformed_json_is_a_clear_400(turnstile: Any) -> None:
    response = turnstile.post(EVENTS, None, raw=b'{"events": [')
    assert response.status_code == 400 and response.json()["code"] == "malformed_body"


def test_late_events_are_placed_by_their_time(
    turnstile: Any, card: Any, main_door: Any, pupil: Any
) -> None:
    morning = dt.datetime(2025, 12, 1, 7, 52, tzinfo=dt.timezone(dt.timedelta(hours=5)))
    afternoon = morning.replace(hour=14, minute=5)
    turnstile.post(EVENTS, {"events": [_event("2", direction="out", time=afternoon.isoformat())]})
    # The morning entry arrives after the afternoon exit (the gateway was offline).
    turnstile.post(EVENTS, {"events": [_event("1", time=morning.isoformat())]})
    presence = Presence.objects.get(person=pupil.person)
    assert presence.zone is None and presence.since == afternoon  # still outside
    day = DailyAttendance.objects.get(person=pupil.person)
    assert (day.first_in, day.last_out) == (morning, afternoon)


def test_a_device_clock_off_by_more_than_five_minutes_is_flagged(turnstile: Any, card: Any) -> None:
    off = (timezone.now() + dt.timedelta(minutes=9)).isoformat(timespec="seconds")
    body = turnstile.post(EVENTS, {"events": [_event("1")]}, device_time=off).json()
    assert body["clock_flagged"] is True
    assert AccessEvent.objects.get().clock_flagged is True


def test_each_pass_tells_the_guardians_once_in_their_language(
    turnstile: Any, card: Any, pupil: Any, school: Any, make_user: Any
) -> None:
    mother = make_user(phone="+77010000001", language="ru")
    father = make_user(phone="+77010000002", language="kk")
    for user, relation in ((mother, "mother"), (father, "father")):
        people_services.add_guardian(
            pupil=pupil,
            last_name="Сейтқали",
            first_name=relation,
            phone=user.phone,
            relation=relation,
        )
        people_services.link_guardian_accounts(user=user)
    now = timezone.now()
    turnstile.post(EVENTS, {"events": [_event("1", time=now.isoformat())]})
    # Back and forth within the repeat window: no flood.
    turnstile.post(EVENTS, {"events": [
        _event("2", direction="out", time=(now + dt.timedelta(minutes=1)).isoformat()),
        _event("3", time=(now + dt.timedelta(minutes=2)).isoformat()),
    ]})  # fmt: skip
    notices = Notification.objects.order_by("recipient_id", "created_at")
    assert [n.recipient_id for n in notices] == [mother.pk, mother.pk, father.pk, father.pk]
    assert "Әлия вошла" in notices[0].text or "Әлия" in notices[0].text
    assert "главный" in notices[0].text.lower() or "Главный" in notices[0].text
    run_tasks()
    assert SmsMessage.objects.filter(phone=mother.phone).count() == 2
    assert set(Notification.objects.values_list("status", flat=True)) == {"sent"}
    run_tasks()  # a second worker pass sends nothing again
    assert SmsMessage.objects.count() == 4
