"""ZKTeco: what a terminal's word is worth. Its clock is measured from what it sends in
real time; an impossible time is kept at arrival and flagged, never dropped; a line
that cannot be stored is not acknowledged; a paired access terminal must show its token;
an attendance terminal's change of address shows; the terminal's own record of a
background refusal is the refusal we stored; no line content reaches the logs; a photo
over 1 MB is not sent; two writers of a link's options keep each other's keys."""

from __future__ import annotations

import datetime as dt
import logging
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from django.core.files.base import ContentFile
from django.test import Client
from django.utils import timezone

from kezekshi.access.models import AccessEvent, Device, Door, Zone
from kezekshi.devices import queue
from kezekshi.devices.models import Command, Link
from kezekshi.devices.tests.test_zkteco_commands import _consent
from kezekshi.devices.zkteco import services

pytestmark = pytest.mark.django_db
ALMATY = ZoneInfo("Asia/Almaty")


def local(moment: dt.datetime) -> str:
    """A moment as a terminal writes it: Almaty wall time, no zone."""
    return moment.astimezone(ALMATY).strftime("%Y-%m-%d %H:%M:%S")


def rtlog(index: int, at: str, *, pin: Any = 0, card: str = "0", event: int = 0) -> str:
    return (
        f"time={at}\tpin={pin}\tcardno={card}\teventaddr=1\tevent={event}\t"
        f"inoutstatus=0\tverifytype=4\tindex={index}\n"
    )


def skew_of(device: Device) -> int:
    return Device.objects.values_list("clock_skew_seconds", flat=True).get(pk=device.pk)


def test_the_clock_of_an_access_terminal_is_measured_from_realtime_lines(
    acc: Any, pupil: Any
) -> None:
    pin = pupil.person_id
    ahead = timezone.now() + dt.timedelta(minutes=10)
    assert acc.post("cdata", rtlog(1, local(ahead), pin=pin), table="rtlog").content == b"OK\n"
    assert 595 <= skew_of(acc.device) <= 600
    event = AccessEvent.objects.get(record_no="rt:1")
    assert event.clock_flagged and 595 <= event.clock_skew_seconds <= 600
    # Its time is moved back by the skew: the pass happened about now.
    assert abs((event.occurred_at - timezone.now()).total_seconds()) < 10
    # A backlog after an outage (many new lines, hours old) does not say the clock is
    # behind: the last estimate stays, and flags these too.
    old = timezone.now() - dt.timedelta(hours=3)
    backlog = "".join(
        rtlog(i, local(old + dt.timedelta(minutes=i)), pin=pin, event=0) for i in range(2, 12)
    )
    assert acc.post("cdata", backlog, table="rtlog").status_code == 200
    assert 595 <= skew_of(acc.device) <= 600
    # Re-sent old lines say nothing either.
    assert acc.post("cdata", rtlog(3, local(old), pin=pin), table="rtlog").status_code == 200
    assert 595 <= skew_of(acc.device) <= 600
    assert AccessEvent.objects.filter(device=acc.device).count() == 11
    assert AccessEvent.objects.filter(clock_flagged=True).count() == 11


def test_the_clock_of_an_attendance_terminal_is_measured_from_its_newest_line(
    att: Any, pupil: Any
) -> None:
    pin = pupil.person_id
    behind = local(timezone.now() - dt.timedelta(minutes=8))
    body = f"{pin}\t{behind}\t0\t4\t0\t0\t0\n"
    assert att.post("cdata", body, table="ATTLOG", Stamp="1").content == b"OK\n"
    assert -482 <= skew_of(att.device) <= -479
    assert AccessEvent.objects.get().clock_flagged
    # A right clock: the newest line now tells so (the old sample leaves the window).
    right = local(timezone.now())
    att.link.refresh_from_db()
    opts = att.link.options
    old = timezone.now() - services.SKEW_WINDOW - dt.timedelta(minutes=1)
    opts["clock_samples"] = [[old.timestamp(), -480]]
    Link.objects.filter(pk=att.link.pk).update(options=opts)
    assert att.post("cdata", f"{pin}\t{right}\t1\t4\t0\t0\t0\n", table="ATTLOG").status_code == 200
    assert -3 <= skew_of(att.device) <= 0
    assert not AccessEvent.objects.get(direction="out").clock_flagged


def test_an_impossible_time_is_stored_at_arrival_and_flagged(
    acc: Any, att: Any, pupil: Any
) -> None:
    pin = pupil.person_id
    body = rtlog(7, "1999-12-31 23:59:59", pin=pin) + rtlog(8, "2025-12-01 08:00:00", pin=pin)
    before = timezone.now()
    for _resend in range(2):
        assert acc.post("cdata", body, table="rtlog").content == b"OK\n"
    event = AccessEvent.objects.get(record_no="rt:7")
    assert before <= event.occurred_at <= timezone.now()
    assert event.clock_flagged and event.clock_skew_seconds <= -9 * 365 * 86400  # clamped
    assert AccessEvent.objects.filter(device=acc.device).count() == 2
    ahead = f"{pin}\t2099-01-01 08:00:00\t0\t4\t0\t0\t0\n"
    assert att.post("cdata", ahead, table="ATTLOG").content == b"OK\n"
    assert att.post("cdata", ahead, table="ATTLOG").content == b"OK\n"
    kept = AccessEvent.objects.get(device=att.device)
    assert kept.clock_flagged and kept.clock_skew_seconds > 0
    assert before <= kept.occurred_at <= timezone.now()


def test_a_line_ingest_will_not_take_is_not_acknowledged(
    acc: Any, pupil: Any, other_school: Any
) -> None:
    zone = Zone.objects.create(school=other_school, kind="building", name_kk="Б", name_ru="Б")
    foreign = Door.objects.create(school=other_school, zone=zone, name_kk="Е", name_ru="В")
    home = acc.device.door_id
    Device.objects.filter(pk=acc.device.pk).update(door=foreign)
    body = rtlog(21, "2025-12-01 08:00:00", pin=pupil.person_id)
    refused = acc.post("cdata", body, table="rtlog")
    assert refused.status_code == 503 and b"send them again" in refused.content
    assert not AccessEvent.objects.exists()
    Device.objects.filter(pk=acc.device.pk).update(door=home)  # the admin fixes the door
    assert acc.post("cdata", body, table="rtlog").content == b"OK\n"
    assert AccessEvent.objects.get().record_no == "rt:21"


def test_a_paired_access_terminal_must_show_its_token(acc: Any) -> None:
    token = acc.pair()
    assert acc.get("getrequest").status_code == 200
    assert acc.post("registry", "DeviceType=acc").status_code == 200  # re-registers, token
    stranger = Client()  # knows the serial, not the token
    for endpoint in ("getrequest", "ping", "rtdata"):
        answer = stranger.get(acc.url(endpoint, type="time"))
        assert answer.status_code == 401 and b"token" in answer.content
    upload = stranger.generic("POST", acc.url("cdata", table="rtlog"),
                              rtlog(1, "2025-12-01 08:00:00", pin=5), "text/plain")  # fmt: skip
    assert upload.status_code == 401 and not AccessEvent.objects.exists()
    for endpoint in ("registry", "push"):
        answer = stranger.generic("POST", acc.url(endpoint), b"DeviceType=acc", "text/plain")
        assert answer.status_code == 403 and b"paired" in answer.content
        assert b"RegistryCode" not in answer.content and b"SessionID" not in answer.content
    stranger.cookies["token"] = "0" * 32
    assert stranger.get(acc.url("getrequest")).status_code == 403
    stranger.cookies["token"] = token
    assert stranger.get(acc.url("getrequest")).status_code == 200


def test_an_attendance_terminal_that_changes_address_is_noted_not_refused(att: Any) -> None:
    first = Client(REMOTE_ADDR="10.0.0.5")
    assert first.get(att.url("cdata", options="all")).status_code == 200
    att.refresh()
    assert att.link.options["remote_addr"] == "10.0.0.5" and att.link.last_error == ""
    moved = Client(REMOTE_ADDR="10.0.0.9")
    assert moved.get(att.url("getrequest")).status_code == 200
    att.refresh()
    assert att.link.last_error == "address changed from 10.0.0.5 to 10.0.0.9"
    assert att.link.options["remote_addr"] == "10.0.0.9" and att.link.last_error_at


def test_a_background_refusal_and_the_terminals_own_denial_are_one_event(
    acc: Any, groups: Any, pupil: Any, card: Any
) -> None:
    unknown = "time=2025-12-01 08:01:00\tpin=0\tcardno=42424242\tinoutstatus=0\tverifytype=4\n"
    assert acc.post("cdata", unknown, AuthType="device").content.startswith(b"AUTH=FAILED")
    face = f"time=2025-12-01 08:02:00\tpin={pupil.person_id}\tcardno=0\tverifytype=15\n"
    assert acc.post("cdata", face, AuthType="device").content.startswith(b"AUTH=FAILED")
    assert AccessEvent.objects.count() == 2
    # The terminal's own records of the two denials, a second or two off our moment.
    body = rtlog(31, "2025-12-01 08:01:01", card="42424242", event=44) + rtlog(
        32, "2025-12-01 08:01:58", pin=pupil.person_id, event=44
    )
    for _resend in range(2):
        assert acc.post("cdata", body, table="rtlog").content == b"OK\n"
    events = AccessEvent.objects.order_by("occurred_at")
    assert [e.record_no for e in events] == [
        "auth:42424242:2025-12-01T08:01:00",
        f"auth:{pupil.person_id}:2025-12-01T08:02:00",
    ]
    assert [e.reason for e in events] == ["unknown_credential", "biometric_no_consent"]
    # A denial 44 with no refusal of ours near it (a timeout) is stored once by itself.
    lone = rtlog(33, "2025-12-01 09:00:00", card="777", event=45)
    acc.post("cdata", lone, table="rtlog")
    acc.post("cdata", lone, table="rtlog")
    assert AccessEvent.objects.get(record_no="auth:777:2025-12-01T09:00:00").reason == (
        "zk_background_timeout"
    )


def test_malformed_lines_are_logged_without_their_content(
    att: Any, caplog: pytest.LogCaptureFixture
) -> None:
    body = "7\t2025-12-01 08:00:00\t0\t4\n7\tnever\t0\t4\nНұрлан Әлиев\t2025-12-01 08:00:00\n"
    operlog = "USER PIN=\tName=Нұрлан Әлиев\tCard=8106606\n"
    with caplog.at_level(logging.INFO, logger="kezekshi.devices.zkteco"):
        assert att.post("cdata", body, table="ATTLOG").status_code == 200
        assert att.post("cdata", operlog, table="OPERLOG").status_code == 200
    text = caplog.text
    assert "line 2 skipped: bad time" in text and "line 3 skipped: bad pin" in text
    assert "line 1 skipped: bad pin" in text
    for secret in ("Нұрлан", "Әлиев", "8106606", "never"):
        assert secret not in text


def test_a_face_photo_over_one_megabyte_is_not_sent(acc: Any, pupil: Any, school: Any) -> None:
    _consent(pupil, school)
    person = pupil.person
    person.photo.save("face.jpg", ContentFile(b"\xff\xd8" + b"\x00" * services.MAX_PHOTO))
    command = queue.enqueue(acc.device, "face.upsert", {"pin": str(person.pk)},
                            person_id=person.pk)  # fmt: skip
    assert acc.get("getrequest").content == b"OK\n"
    command.refresh_from_db()
    assert command.status == Command.Status.FAILED
    assert "larger than 1024 KB" in command.error


def test_two_writers_of_a_links_options_keep_each_others_keys(acc: Any) -> None:
    # A poll and an upload of the same terminal, each holding the link as it was read.
    poll = services.Terminal(acc.device, Link.objects.get(pk=acc.link.pk))
    upload = services.Terminal(acc.device, Link.objects.get(pk=acc.link.pk))
    services.note_state(upload, ["time=2025-12-01 08:00:00\tsensor=01\trelay=00"])
    services.remember_info(poll, {"~DeviceName": "Gate", "UserCount": "3"})
    services.note_table(upload, "user", 3)
    services.note_status(poll, [{"event": "206", "time": "2025-12-01T08:00:00"}])
    options = Link.objects.get(pk=acc.link.pk).options
    assert options["state"]["sensor"] == "01"
    assert options["info"] == {"~DeviceName": "Gate", "UserCount": "3"}
    assert options["tables"] == {"user": 3}
    assert options["last_events"][0]["event"] == "206"
