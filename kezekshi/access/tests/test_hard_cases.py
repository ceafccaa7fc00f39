"""Cases that real doors produce: two readers on one pass, late uploads, broken clocks,
terminals that decide by themselves, expired watch-list entries, garbage headers."""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

import pytest
from django.utils import timezone

from kezekshi.access import services
from kezekshi.access.device_auth import signed_headers
from kezekshi.access.models import (
    AccessEvent,
    Credential,
    ExitPermit,
    Presence,
    RollCallEntry,
    WatchAlert,
    WatchEntry,
)
from kezekshi.core.errors import ServiceError
from kezekshi.notifications.models import Notification
from kezekshi.privacy.models import Kind
from kezekshi.privacy.tests.family import make_family

pytestmark = pytest.mark.django_db
DECIDE = "/api/v1/access/decide"
EVENTS = "/api/v1/access/events"


def _event(record_no: str, at: dt.datetime, **fields: Any) -> dict[str, Any]:
    return {
        "record_no": record_no, "time": at.isoformat(), "credential_kind": "card",
        "credential": "123,45678", "allowed": True, **fields,
    }  # fmt: skip


@pytest.fixture
def face_terminal(school: Any, main_door: Any) -> Any:
    from django.test import Client

    from kezekshi.access.tests.conftest import Terminal

    device, secret = services.register_device(
        school=school, name="Face 1", kind="face_terminal", door=main_door
    )
    return Terminal(device, secret, Client())


def test_one_pass_seen_by_two_readers_is_told_once(
    turnstile: Any, face_terminal: Any, card: Any, pupil: Any
) -> None:
    family = make_family(pupil)
    at = timezone.now() - dt.timedelta(minutes=1)
    turnstile.post(EVENTS, {"events": [_event("1", at)]})
    face_terminal.post(EVENTS, {"events": [_event("77", at)]})
    assert AccessEvent.objects.count() == 2
    assert Notification.objects.filter(recipient=family.mother).count() == 1


def test_a_late_upload_just_before_a_told_pass_is_not_told_again(
    turnstile: Any, card: Any, pupil: Any
) -> None:
    family = make_family(pupil)
    now = timezone.now()
    turnstile.post(EVENTS, {"events": [_event("2", now - dt.timedelta(minutes=1))]})
    turnstile.post(EVENTS, {"events": [_event("1", now - dt.timedelta(minutes=4))]})
    assert Notification.objects.filter(recipient=family.mother).count() == 1


def test_an_expired_watch_list_entry_no_longer_refuses(
    turnstile: Any, groups: Any, pupil: Any, school: Any, make_user: Any, card: Any
) -> None:
    entry = WatchEntry.objects.create(
        school=school, full_name="x", person=pupil.person, reason="order",
        valid_until=dt.date(2020, 1, 1), added_by=make_user(),
    )  # fmt: skip
    services.bump_rules(school_id=school.pk)
    body = turnstile.post(DECIDE, {"credential": "123,45678", "time": "2025-12-01T08:00:00+05:00"})
    assert body.json()["allowed"] is True
    entry.valid_until = None
    entry.save()
    services.bump_rules(school_id=school.pk)
    refused = turnstile.post(
        DECIDE, {"credential": "123,45678", "time": "2025-12-01T08:01:00+05:00"}
    )
    assert refused.json()["reason"] == "watch_list"


def test_a_watched_person_let_in_by_a_device_alerts_the_guard_even_in_a_mixed_batch(
    turnstile: Any, groups: Any, pupil: Any, school: Any, make_user: Any, card: Any
) -> None:
    WatchEntry.objects.create(
        school=school, full_name="x", person=pupil.person, reason="order", added_by=make_user()
    )
    services.bump_rules(school_id=school.pk)
    at = timezone.now() - dt.timedelta(minutes=5)
    batch = [
        {"record_no": "1", "time": at.isoformat(), "credential": "123,45678"},  # server decides
        _event("2", at + dt.timedelta(minutes=1)),  # the device let them in
    ]
    body = turnstile.post(EVENTS, {"events": batch}).json()
    assert body["results"][0]["reason"] == "watch_list"
    assert WatchAlert.objects.count() == 2


def test_a_qr_pass_reported_by_a_terminal_counts_for_attendance(turnstile: Any, pupil: Any) -> None:
    text = services.qr_text(services.qr_credential(person=pupil.person))
    at = timezone.now() - dt.timedelta(minutes=1)
    turnstile.post(EVENTS, {"events": [_event("1", at, credential_kind="qr", credential=text)]})
    assert AccessEvent.objects.get().person_id == pupil.person_id
    assert Presence.objects.get().person_id == pupil.person_id


def test_a_face_pass_without_consent_is_kept_without_the_person(
    turnstile: Any, pupil: Any, school: Any
) -> None:
    Credential.objects.create(school=school, person=pupil.person, kind=Kind.FACE, value="t-9")
    at = timezone.now() - dt.timedelta(minutes=1)
    face = _event("1", at, credential_kind="face", credential="t-9")
    named = _event("2", at, credential_kind="face", credential="", person=pupil.person_id)
    body = turnstile.post(EVENTS, {"events": [face, named]}).json()
    assert [r["reason"] for r in body["results"]] == ["biometric_no_consent"] * 2
    assert set(AccessEvent.objects.values_list("person_id", flat=True)) == {None}
    assert not Presence.objects.exists()


def test_events_must_say_what_happened_or_carry_a_credential(turnstile: Any, pupil: Any) -> None:
    at = timezone.now().isoformat()
    batch = [{"record_no": "1", "time": at, "person": pupil.person_id}]
    body = turnstile.post(EVENTS, {"events": batch}).json()
    assert body["results"][0]["error"]["code"] == "invalid_event"


@pytest.mark.parametrize(
    "bad",
    [
        {"time": "0001-01-01T01:00:00+05:00"},
        {"time": "9999-12-31T23:00:00-05:00"},
        {"person": 10**30},
        {"door": 10**30},
        {"time": "1999-12-31T23:59:00+00:00"},
    ],
)
def test_absurd_times_and_ids_are_refused_per_event(turnstile: Any, card: Any, bad: Any) -> None:
    batch = [_event("1", timezone.now()), {**_event("2", timezone.now()), **bad}]
    response = turnstile.post(EVENTS, {"events": batch})
    assert response.status_code == 200
    body = response.json()
    assert [r["status"] for r in body["results"]] == ["stored", "error"]
    assert body["results"][1]["error"]["code"] == "invalid_event"


def test_a_broken_clock_in_the_future_is_brought_back(turnstile: Any, card: Any) -> None:
    ahead = timezone.now() + dt.timedelta(hours=3)
    body = turnstile.post(
        EVENTS, {"events": [_event("1", ahead)]}, device_time=ahead.isoformat(timespec="seconds")
    ).json()
    assert body["clock_flagged"] is True
    event = AccessEvent.objects.get()
    assert abs(event.occurred_at - timezone.now()) < dt.timedelta(minutes=1)
    turnstile.device.refresh_from_db()
    assert turnstile.device.clock_skew_seconds > 3 * 3600 - 60


@pytest.mark.parametrize(
    ("header", "value"),
    [("X-Device-Id", "²"), ("X-Device-Id", "9" * 40), ("X-Device-Time", "99999999999999999")],
)
def test_garbage_headers_are_refused_not_crashed(turnstile: Any, header: str, value: str) -> None:
    body = json.dumps({"credential": "1"}).encode()
    headers = signed_headers(
        device_id=turnstile.device.pk, secret=turnstile.secret, method="POST", path=DECIDE,
        body=body, device_time=value if header == "X-Device-Time" else None,
    )  # fmt: skip
    headers[header] = value
    response = turnstile.client.post(
        DECIDE, data=body, content_type="application/json", headers=headers
    )
    assert response.status_code == 401


def test_leaving_with_a_permit_marks_it_used(
    turnstile: Any, card: Any, pupil: Any, school: Any, make_user: Any
) -> None:
    at = dt.datetime(2025, 12, 1, 10, 30, tzinfo=dt.timezone(dt.timedelta(hours=5)))
    permit = ExitPermit.objects.create(
        school=school, pupil=pupil, date=at.date(), leave_from=dt.time(10, 0), reason="doctor",
        issued_by=make_user(), issued_as="guardian",
    )  # fmt: skip
    turnstile.post(EVENTS, {"events": [_event("1", at, direction="out")]})
    permit.refresh_from_db()
    assert permit.used_at == at


def test_a_blocked_qr_pass_stays_blocked_until_staff_issue_a_new_one(
    pupil: Any, make_user: Any
) -> None:
    first = services.qr_credential(person=pupil.person)
    services.block_credential(credential=first, by=None, reason="phone stolen")
    with pytest.raises(ServiceError) as refused:
        services.qr_credential(person=pupil.person)
    assert refused.value.code == "qr_blocked"
    new = services.reissue_qr(person=pupil.person, by=make_user())
    assert services.qr_credential(person=pupil.person) == new != first


def test_the_roll_call_leaves_out_people_last_seen_on_an_earlier_day(
    turnstile: Any, card: Any, pupil: Any, school: Any, make_user: Any
) -> None:
    from kezekshi.people import services as people_services

    other = people_services.create_pupil(school=school, last_name="Ким", first_name="Ли")
    services.issue_card(person=other.person, uid="999", by=None)
    now = timezone.now()
    turnstile.post(EVENTS, {"events": [
        _event("1", now),
        _event("2", now - dt.timedelta(days=3), credential="999"),  # never seen leaving
    ]})  # fmt: skip
    services.set_mode(school=school, mode="evacuation", by=make_user())
    assert list(RollCallEntry.objects.values_list("person_id", flat=True)) == [pupil.person_id]
