"""Pushes from Hikvision terminals, sent as the raw bytes a terminal sends: passes stored
once, heartbeats, and clear refusals that store nothing."""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

import pytest
from django.test import Client
from django.utils import timezone

from kezekshi.access import services
from kezekshi.access.models import AccessEvent, Device
from kezekshi.access.tests.conftest import ALMATY
from kezekshi.devices.hikvision import push_url
from kezekshi.devices.models import Link, PendingTerminal
from kezekshi.devices.simulator.hikvision import (
    event_json,
    heartbeat_xml,
    multipart_body,
    tiny_jpeg,
)

pytestmark = pytest.mark.django_db
SERIAL = "DS-K1T671M0120251201"
MONDAY_0752 = "2025-12-01T07:52:00+05:00"
CARD_DECIMAL = "8106606"  # the card fixture "123,45678" as the reader gives it


@pytest.fixture
def face_terminal(school: Any, main_door: Any) -> Device:
    device, _secret = services.register_device(
        school=school,
        name="Face terminal 1",
        kind="face_terminal",
        door=main_door,
        serial_number=SERIAL,
    )
    Link.objects.create(device=device, protocol="hikvision")
    return device


def push(device: Device, document: dict[str, Any], *, picture: bool = True) -> Any:
    content_type, body = multipart_body(document, picture=tiny_jpeg() if picture else None)
    return Client().post(push_url(device), data=body, content_type=content_type)


def raw_post(path: str, body: bytes, content_type: str) -> Any:
    """The body's bytes as they are (``post`` would re-encode them to a declared charset)."""
    return Client().generic("POST", path, data=body, content_type=content_type)


def test_a_card_pass_with_its_picture_is_stored_once_however_often_it_is_pushed(
    face_terminal: Device, card: Any, groups: Any
) -> None:
    document = event_json(serial_no=4711, when=MONDAY_0752, minor=0x01, card_no=CARD_DECIMAL)

    answers = [push(face_terminal, document) for _ in range(3)]

    assert [a.status_code for a in answers] == [200, 200, 200]
    event = AccessEvent.objects.get()
    assert event.record_no == "hik:4711"
    assert event.person_id == card.person_id and event.credential_id == card.pk
    assert event.allowed is True and event.reason == "ok" and event.direction == "in"
    assert event.door_id == face_terminal.door_id
    assert event.occurred_at.isoformat() == "2025-12-01T02:52:00+00:00"
    assert answers[0].json()["stored"] == 1


def test_the_event_picture_is_not_kept_anywhere(
    face_terminal: Device, card: Any, settings: Any
) -> None:
    document = event_json(serial_no=1, when=MONDAY_0752, minor=0x01, card_no=CARD_DECIMAL)
    assert push(face_terminal, document).status_code == 200
    media = settings.MEDIA_ROOT
    assert not media.exists() or not any(p.is_file() for p in media.rglob("*"))


def test_a_face_pass_names_the_person_only_with_the_face_consent(
    face_terminal: Device, pupil: Any
) -> None:
    document = event_json(
        serial_no=12, when=MONDAY_0752, minor=0x4B, employee_no=str(pupil.person_id)
    )
    assert push(face_terminal, document).status_code == 200
    event = AccessEvent.objects.get()
    # No consent: the terminal should not have matched; the pass is kept without the name.
    assert event.credential_kind == "face" and event.person_id is None
    assert event.reason == "biometric_no_consent"


def test_with_the_face_consent_a_face_pass_is_the_persons(
    face_terminal: Device, pupil: Any
) -> None:
    from kezekshi.devices.tests.test_hikvision_client import grant_face_consent

    grant_face_consent(pupil)
    document = event_json(
        serial_no=13, when=MONDAY_0752, minor=0x4B, employee_no=f"{pupil.person_id:06d}"
    )
    assert push(face_terminal, document).status_code == 200
    event = AccessEvent.objects.get()
    assert event.person_id == pupil.person_id and event.allowed and event.reason == "ok"


def test_refusals_keep_the_terminals_reason(face_terminal: Device, card: Any) -> None:
    pushes = [
        event_json(serial_no=20, when=MONDAY_0752, minor=0x09, card_no="99887766"),
        event_json(serial_no=21, when=MONDAY_0752, minor=0x4C),
        event_json(serial_no=22, when=MONDAY_0752, minor=0x03, card_no=CARD_DECIMAL),
    ]
    pushes[1]["AccessControllerEvent"]["currentVerifyMode"] = "face"
    for document in pushes:
        assert push(face_terminal, document).status_code == 200
    events = {e.record_no: e for e in AccessEvent.objects.all()}
    assert not any(e.allowed for e in events.values())
    assert events["hik:20"].reason == "unknown_credential"
    assert events["hik:20"].presented  # the guard sees which card it was
    assert events["hik:21"].reason == "unknown_credential"
    assert events["hik:21"].credential_kind == "face"
    assert events["hik:22"].reason == "hik_3" and events["hik:22"].person_id == card.person_id


def test_check_out_is_a_pass_out_and_an_unknown_employee_number_keeps_the_pass(
    face_terminal: Device, card: Any
) -> None:
    document = event_json(
        serial_no=30,
        when=MONDAY_0752,
        minor=0x01,
        card_no=CARD_DECIMAL,
        employee_no="99999999",
        attendance="checkOut",
    )
    assert push(face_terminal, document).status_code == 200
    event = AccessEvent.objects.get()
    assert event.direction == "out" and event.person_id == card.person_id


def test_door_states_and_remote_opens_are_status_not_passes(face_terminal: Device) -> None:
    door_closed = event_json(serial_no=40, when=MONDAY_0752, minor=0x16)
    remote_open = event_json(serial_no=41, when=MONDAY_0752, minor=0x400, major=3)
    for document in (door_closed, remote_open):
        assert push(face_terminal, document, picture=False).status_code == 200
    assert not AccessEvent.objects.exists()
    face_terminal.refresh_from_db()
    assert face_terminal.last_seen_at is not None


def test_a_plain_json_event_is_taken_like_a_multipart_one(face_terminal: Device, card: Any) -> None:
    document = event_json(serial_no=50, when=MONDAY_0752, minor=0x01, card_no=CARD_DECIMAL)
    body = json.dumps(document).encode()
    for _ in range(2):
        assert raw_post(push_url(face_terminal), body, "application/json").status_code == 200
    assert AccessEvent.objects.get().record_no == "hik:50"


def test_a_heartbeat_only_says_the_terminal_is_alive_and_its_clock(
    face_terminal: Device,
) -> None:
    ahead = (timezone.now() + dt.timedelta(minutes=10)).astimezone(ALMATY)
    answer = raw_post(
        push_url(face_terminal),
        heartbeat_xml(ahead.isoformat(timespec="seconds")),
        "application/xml; charset=UTF-8",
    )
    assert answer.status_code == 200
    json_beat = json.dumps({"ipAddress": "192.168.1.64", "eventType": "heartBeat"}).encode()
    assert raw_post(push_url(face_terminal), json_beat, "application/json").status_code == 200
    face_terminal.refresh_from_db()
    assert face_terminal.last_seen_at is not None
    assert 590 <= face_terminal.clock_skew_seconds <= 610
    assert not AccessEvent.objects.exists()


def test_a_wrong_token_an_unknown_serial_and_a_disabled_terminal_are_refused(
    face_terminal: Device, card: Any
) -> None:
    document = event_json(serial_no=60, when=MONDAY_0752, minor=0x01, card_no=CARD_DECIMAL)
    content_type, body = multipart_body(document, picture=tiny_jpeg())
    good = push_url(face_terminal)
    for token in ("0" * 32, "ключ", ""):
        wrong_token = good.replace(good.split("/")[3], token)
        answer = raw_post(wrong_token, body, content_type)
        assert answer.status_code in (403, 404), token
    cyrillic = raw_post(good.replace(good.split("/")[3], "ключ"), body, content_type)
    assert cyrillic.json()["code"] == "bad_token"

    unknown = f"/isapi/DS-UNKNOWN-1/{'a' * 32}/events"
    first = raw_post(unknown, body, content_type)
    raw_post(unknown, body, content_type)
    assert first.status_code == 403 and first.json()["code"] == "unknown_terminal"
    waiting = PendingTerminal.objects.get()
    assert waiting.serial_number == "DS-UNKNOWN-1" and waiting.protocol == "hikvision"
    assert waiting.contacts == 2

    Device.objects.filter(pk=face_terminal.pk).update(is_active=False)
    disabled = raw_post(good, body, content_type)
    assert disabled.status_code == 403 and disabled.json()["code"] == "terminal_disabled"
    assert not AccessEvent.objects.exists()


def test_a_terminal_of_another_protocol_does_not_take_hikvision_pushes(
    face_terminal: Device,
) -> None:
    Link.objects.filter(device=face_terminal).update(protocol="zkteco-acc")
    content_type, body = multipart_body(event_json(serial_no=1, when=MONDAY_0752))
    assert raw_post(push_url(face_terminal), body, content_type).status_code == 403


def test_an_oversized_push_is_refused_before_anything_is_read(face_terminal: Device) -> None:
    document = event_json(serial_no=70, when=MONDAY_0752, minor=0x4B)
    content_type, body = multipart_body(document, picture=b"\xff\xd8" + b"\0" * (4 * 1024 * 1024))
    answer = raw_post(push_url(face_terminal), body, content_type)
    assert answer.status_code == 413 and answer.json()["code"] == "too_large"
    assert not AccessEvent.objects.exists()


@pytest.mark.parametrize(
    ("body", "content_type", "code"),
    [
        (b'{"eventType": "AccessControllerEvent", "AccessCon', "application/json", "bad_json"),
        (b"[1, 2, 3]", "application/json", "bad_json"),
        (b"\x00\x01binary", "application/octet-stream", "unsupported_body"),
        (
            b'<?xml version="1.0"?><!DOCTYPE a [<!ENTITY b "c">]><a>&b;</a>',
            "application/xml",
            "bad_xml",
        ),
        (b"<EventNotificationAlert><ipAddress>1", "application/xml", "bad_xml"),
        (
            b"--x\r\nContent-Type: image/jpeg\r\n\r\n\xff\xd8\r\n--x--\r\n",
            "multipart/form-data; boundary=x",
            "bad_multipart",
        ),
        (b"no parts at all", "multipart/form-data", "bad_multipart"),
        (
            b'--x\r\nContent-Disposition: form-data; name="AccessControllerEvent"\r\n'
            b"Content-Type: application/json\r\n\r\n{not json\r\n--x--\r\n",
            "multipart/form-data; boundary=x",
            "bad_json",
        ),
    ],
)
def test_garbage_gets_a_clear_refusal_and_stores_nothing(
    face_terminal: Device, body: bytes, content_type: str, code: str
) -> None:
    answer = raw_post(push_url(face_terminal), body, content_type)
    assert answer.status_code == 400 and answer.json()["code"] == code
    assert not AccessEvent.objects.exists()


def test_an_event_without_a_time_is_refused_not_acknowledged(
    face_terminal: Device, card: Any
) -> None:
    document = event_json(serial_no=80, when=MONDAY_0752, minor=0x01, card_no=CARD_DECIMAL)
    del document["dateTime"]
    answer = push(face_terminal, document)
    assert answer.status_code == 400 and answer.json()["code"] == "invalid_event"
    weird = event_json(serial_no=81, when=MONDAY_0752, minor=0x01, card_no=CARD_DECIMAL)
    weird["AccessControllerEvent"]["subEventType"] = "seventy-five"
    assert push(face_terminal, weird).status_code == 400
    assert not AccessEvent.objects.exists()


def test_only_post_is_taken(face_terminal: Device) -> None:
    assert Client().get(push_url(face_terminal)).status_code == 405


def test_a_storage_failure_is_a_500_and_the_re_push_stores_the_pass_once(
    face_terminal: Device, card: Any
) -> None:
    from django.db import OperationalError, connection

    def disk_full(execute: Any, sql: str, params: Any, many: bool, context: Any) -> Any:
        # The pass is inserted, then its presence update fails: all of it rolls back.
        if "access_presence" in sql:
            raise OperationalError("database or disk is full")
        return execute(sql, params, many, context)

    document = event_json(serial_no=90, when=MONDAY_0752, minor=0x01, card_no=CARD_DECIMAL)
    content_type, body = multipart_body(document, picture=tiny_jpeg())
    client = Client(raise_request_exception=False)
    with connection.execute_wrapper(disk_full):
        failed = client.post(push_url(face_terminal), data=body, content_type=content_type)
    assert failed.status_code == 500  # never acknowledged: the terminal pushes it again
    assert not AccessEvent.objects.exists()

    again = client.post(push_url(face_terminal), data=body, content_type=content_type)
    assert again.status_code == 200 and AccessEvent.objects.get().record_no == "hik:90"


# --- Garbage that once answered 500, and XML with a DTD in any encoding -----------------


def utf16_heartbeat(when: str, *, dtd: str = "") -> bytes:
    """A heartbeat in UTF-16 (with its byte order mark), optionally with a DTD."""
    text = (
        heartbeat_xml(when)
        .decode()
        .replace('encoding="UTF-8"?>', f'encoding="UTF-16"?>{dtd}')
        .replace("<ipAddress>192.168.1.64</ipAddress>", "<ipAddress>&x;</ipAddress>" if dtd else "")
    )
    return text.encode("utf-16")


def test_a_utf16_alert_with_a_dtd_and_an_entity_is_refused_and_changes_nothing(
    face_terminal: Device,
) -> None:
    body = utf16_heartbeat(MONDAY_0752, dtd='<!DOCTYPE a [<!ENTITY x "192.168.1.64">]>')
    assert body.startswith(b"\xff\xfe") and b"<!DOCTYPE" not in body  # a byte search misses it

    for content_type in ("application/xml; charset=UTF-16", "text/plain", ""):
        answer = raw_post(push_url(face_terminal), body, content_type)
        assert answer.status_code == 400 and answer.json()["code"] == "bad_xml", content_type
    big_endian = body.decode("utf-16").encode("utf-16-be")  # no byte order mark at all
    answer = raw_post(push_url(face_terminal), big_endian, "application/xml")
    assert answer.status_code == 400 and answer.json()["code"] == "bad_xml"
    boundary = "MIME_boundary"
    part = (
        f'--{boundary}\r\nContent-Disposition: form-data; name="alert"\r\n'
        "Content-Type: application/xml\r\n\r\n"
    ).encode()
    multipart = part + body + f"\r\n--{boundary}--\r\n".encode()
    answer = raw_post(
        push_url(face_terminal), multipart, f"multipart/form-data; boundary={boundary}"
    )
    assert answer.status_code == 400 and answer.json()["code"] == "bad_xml"

    face_terminal.refresh_from_db()
    assert face_terminal.last_seen_at is None and face_terminal.clock_skew_seconds == 0
    assert not AccessEvent.objects.exists()


def test_a_utf16_alert_without_a_dtd_is_read(face_terminal: Device) -> None:
    ahead = (timezone.now() + dt.timedelta(minutes=10)).astimezone(ALMATY)
    body = utf16_heartbeat(ahead.isoformat(timespec="seconds"))
    assert raw_post(push_url(face_terminal), body, "application/xml").status_code == 200
    face_terminal.refresh_from_db()
    assert 590 <= face_terminal.clock_skew_seconds <= 610


def test_an_external_dtd_and_an_undeclared_entity_are_refused(face_terminal: Device) -> None:
    external = heartbeat_xml(MONDAY_0752).replace(
        b"?>\r\n", b'?>\r\n<!DOCTYPE EventNotificationAlert SYSTEM "file:///etc/passwd">', 1
    )
    undeclared = heartbeat_xml(MONDAY_0752).replace(b"192.168.1.64", b"&passwd;")
    for body in (external, undeclared):
        answer = raw_post(push_url(face_terminal), body, "application/xml")
        assert answer.status_code == 400 and answer.json()["code"] == "bad_xml"
    face_terminal.refresh_from_db()
    assert face_terminal.last_seen_at is None


@pytest.mark.parametrize(
    "serial_no", [b'"abc"', b'"12a"', b"-5", b"1.5", b"true", b"null", b"1e400", b"[1]", b"9" * 30]
)
def test_a_remote_check_without_a_usable_serial_number_is_a_400(
    face_terminal: Device, card: Any, serial_no: bytes
) -> None:
    document = event_json(
        serial_no=123456789, when=MONDAY_0752, minor=0x01, card_no=CARD_DECIMAL, remote_check=True
    )
    body = json.dumps(document).encode().replace(b"123456789", serial_no)
    client = Client(raise_request_exception=False)
    answer = client.post(push_url(face_terminal), data=body, content_type="application/json")
    assert answer.status_code == 400 and answer.json()["code"] == "invalid_event"
    assert not AccessEvent.objects.exists()


def test_a_pass_whose_serial_number_is_text_is_kept_under_its_own_key(
    face_terminal: Device, card: Any
) -> None:
    document = event_json(serial_no=1, when=MONDAY_0752, minor=0x01, card_no=CARD_DECIMAL)
    body = json.dumps(document).encode().replace(b'"serialNo": 1', b'"serialNo": "abc"')
    for _ in range(2):
        assert raw_post(push_url(face_terminal), body, "application/json").status_code == 200
    assert AccessEvent.objects.get().record_no.startswith("hik:t:")


@pytest.mark.parametrize(
    "when", ["2025-02-30T07:52:00+05:00", "2025-13-01T07:52:00", "2025-12-01T07:52:00+99:00"]
)
def test_a_heartbeat_with_an_impossible_date_is_alive_and_its_clock_ignored(
    face_terminal: Device, when: str
) -> None:
    client = Client(raise_request_exception=False)
    beat = json.dumps({"eventType": "heartBeat", "dateTime": when}).encode()
    answer = client.post(push_url(face_terminal), data=beat, content_type="application/json")
    assert answer.status_code == 200
    answer = client.post(
        push_url(face_terminal), data=heartbeat_xml(when), content_type="application/xml"
    )
    assert answer.status_code == 200
    face_terminal.refresh_from_db()
    assert face_terminal.last_seen_at is not None and face_terminal.clock_skew_seconds == 0


@pytest.mark.parametrize(
    ("old", "new"),
    [
        (b'"2025-12-01T07:52:00+05:00"', b'"2025-02-30T07:52:00+05:00"'),
        (b'"2025-12-01T07:52:00+05:00"', b'"2025-12-01T25:52:00+05:00"'),
        (b'"2025-12-01T07:52:00+05:00"', b'"0001-01-01T00:00:00+05:00"'),
        (b'"2025-12-01T07:52:00+05:00"', b"1764557520"),
        (b'"subEventType": 1', b'"subEventType": Infinity'),
        (b'"majorEventType": 5', b'"majorEventType": NaN'),
        (b'"subEventType": 1', b'"subEventType": {"a": 1}'),
    ],
)
def test_an_event_with_an_impossible_date_or_code_is_a_400(
    face_terminal: Device, card: Any, old: bytes, new: bytes
) -> None:
    document = event_json(serial_no=95, when=MONDAY_0752, minor=0x01, card_no=CARD_DECIMAL)
    body = json.dumps(document).encode()
    assert old in body
    client = Client(raise_request_exception=False)
    answer = client.post(
        push_url(face_terminal), data=body.replace(old, new), content_type="application/json"
    )
    assert answer.status_code == 400 and answer.json()["code"] == "invalid_event"
    assert not AccessEvent.objects.exists()


def test_an_employee_number_of_other_digits_keeps_the_pass_without_a_person(
    face_terminal: Device,
) -> None:
    document = event_json(serial_no=96, when=MONDAY_0752, minor=0x4B, employee_no="²٣")
    body = json.dumps(document).encode()
    assert raw_post(push_url(face_terminal), body, "application/json").status_code == 200
    assert AccessEvent.objects.get().person_id is None
