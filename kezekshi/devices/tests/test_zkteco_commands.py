"""ZKTeco commands and background verification: queued commands rendered in each
dialect (no value can inject a field or a command), confirmed once by ``devicecmd``,
face photos only with consent; ``AuthType=device`` answered from the access decision."""

from __future__ import annotations

import base64
from typing import Any

import pytest
from django.core.files.base import ContentFile

from kezekshi.access import services as access_services
from kezekshi.access.models import AccessEvent
from kezekshi.devices import queue
from kezekshi.devices.models import Command
from kezekshi.devices.zkteco import protocol
from kezekshi.people.models import Person, StaffMember
from kezekshi.privacy import services as privacy
from kezekshi.privacy.models import Kind
from kezekshi.privacy.tests.family import make_family

pytestmark = pytest.mark.django_db
# (PostgreSQL keeps no NUL in text: the rendering test adds one on its own.)
INJECTION = "Әлия\tPin=1\nC:9:DATA DELETE user Pin=1\r\x85\u2028X"
JPEG = b"\xff\xd8\xff\xe0\x00\x10JFIF\x00\x01\x01\x00\x00\x01\x00\x01\x00\x00\xff\xd9"


def commands_of(text: str) -> list[tuple[int, str]]:
    lines = text.split("\n")
    assert lines[-1] == "", "every command line ends with a new line"
    out = []
    for line in lines[:-1]:
        prefix, command_id, body = line.split(":", 2)
        assert prefix == "C"
        out.append((int(command_id), body))
    return out


def test_user_commands_in_both_dialects() -> None:
    data = {"pin": "15", "name": "Әлия С.", "card": "8106606", "doors": [1, 2],
            "valid_from": "2025-09-01", "valid_until": "2026-05-31"}  # fmt: skip
    acc = protocol.render("user.upsert", data, protocol.ACC)
    assert acc == [
        "DATA UPDATE user CardNo=8106606\tPin=15\tPassword=\tGroup=1\tStartTime=824947200\t"
        "EndTime=849052799\tName=Әлия С.\tPrivilege=0",
        "DATA UPDATE userauthorize Pin=15\tAuthorizeTimezoneId=1\tAuthorizeDoorId=3",
    ]
    assert protocol.render("user.upsert", data, protocol.ATT) == [
        "DATA UPDATE USERINFO PIN=15\tName=Әлия С.\tPri=0\tCard=8106606"
    ]
    assert protocol.render("user.delete", {"pin": "15"}, protocol.ACC) == [
        "DATA DELETE userauthorize Pin=15",
        "DATA DELETE user Pin=15",
    ]
    assert protocol.render("user.delete", {"pin": "15"}, protocol.ATT) == [
        "DATA DELETE USERINFO PIN=15"
    ]
    assert protocol.render("door.open", {"door": 2, "seconds": 7}, protocol.ACC) == [
        "CONTROL DEVICE 01020107"
    ]
    assert protocol.render("device.reboot", {}, protocol.ACC) == ["CONTROL DEVICE 03000000"]
    assert protocol.render("device.reboot", {}, protocol.ATT) == ["REBOOT"]
    assert protocol.render("device.query_users", {}, protocol.ACC) == [
        "DATA QUERY tablename=user,fielddesc=*,filter=*"
    ]


@pytest.mark.parametrize("dialect", [protocol.ACC, protocol.ATT])
def test_no_value_can_inject_a_field_or_a_command(dialect: str) -> None:
    data = {"pin": "15", "name": INJECTION + "\x00", "card": "81066\t06\nC:9:REBOOT"}
    for text in protocol.render("user.upsert", data, dialect):
        assert not any(ord(ch) < 32 and ch != "\t" for ch in text)
        assert "\u2028" not in text and "\x85" not in text
        fields = text.split("\t")
        keys = [f.split("=", 1)[0].split(" ")[-1] for f in fields]
        assert sum(1 for key in keys if key in ("Pin", "PIN")) == 1
        name = next((f for f in fields if f.startswith("Name=")), None)
        if name is not None:
            assert name == "Name=Әлия Pin=1 C:9:DATA DELETE user Pin=1 X"
        card = next((f for f in fields if f.startswith(("CardNo=", "Card="))), None)
        if card is not None:
            assert card.endswith("=")  # not a number: no card rather than a broken line
    with pytest.raises(protocol.Unrenderable):
        protocol.render("user.delete", {"pin": "1\nC:9:REBOOT"}, dialect)


def test_getrequest_then_devicecmd_completes_once(acc: Any, pupil: Any, zk_terminal: Any) -> None:
    device = acc.device
    upsert = queue.enqueue(device, "user.upsert", {"pin": str(pupil.person_id), "name": INJECTION,
                           "card": "8106606"}, person_id=pupil.person_id)  # fmt: skip
    door = queue.enqueue(device, "door.open", {"door": 1, "seconds": 5})
    text = acc.get("getrequest").content.decode()
    sent = commands_of(text)
    assert [command_id for command_id, _body in sent] == [upsert.pk, upsert.pk, door.pk]
    assert sent[0][1].startswith(f"DATA UPDATE user CardNo=8106606\tPin={pupil.person_id}\t")
    assert sent[2][1] == "CONTROL DEVICE 01010105"
    assert acc.get("getrequest").content == b"OK\n"  # sent, waiting for the answers
    results = (
        f"ID={upsert.pk}&Return=0&CMD=DATA UPDATE\n"
        f"id={upsert.pk}&return=0&cmd=DATA UPDATE\r\n"
        f"ID={door.pk}&Return=-1004&CMD=CONTROL DEVICE\n"
        "ID=&Return=0\nsomething else\nID=99999999&Return=0&CMD=DATA\n"
    )
    assert acc.post("devicecmd", results).content == b"OK\n"
    upsert.refresh_from_db()
    door.refresh_from_db()
    assert upsert.status == Command.Status.DONE and upsert.return_code == 0
    assert door.status == Command.Status.FAILED and door.return_code == -1004
    done_at = upsert.done_at
    # A replay, or the answer to another terminal's command, changes nothing.
    other = queue.enqueue(device, "device.reboot", {})
    Command.objects.filter(pk=other.pk).update(device=zk_terminal("CKJX2018600XX").device)
    acc.post("devicecmd", f"ID={upsert.pk}&Return=-13&CMD=DATA\nID={other.pk}&Return=0&CMD=X\n")
    upsert.refresh_from_db()
    other.refresh_from_db()
    assert upsert.status == Command.Status.DONE and upsert.done_at == done_at
    assert other.status == Command.Status.PENDING


def test_attendance_dialect_commands(att: Any, pupil: Any) -> None:
    command = queue.enqueue(att.device, "user.upsert", {"pin": "7", "name": "Арман",
                            "card": ""})  # fmt: skip
    assert commands_of(att.get("getrequest").content.decode()) == [
        (command.pk, "DATA UPDATE USERINFO PIN=7\tName=Арман\tPri=0\tCard=")
    ]


def _consent(pupil: Any, school: Any) -> Any:
    draft = privacy.draft_policy(operator_name="ТОО «Kezekshi»", operator_bin=school.bin)
    policy = privacy.publish_policy(policy=draft, by=None)
    family = make_family(pupil)
    privacy.accept_policy(user=family.mother, policy=policy, context=privacy.Context())
    privacy.decide_biometrics(user=family.mother, child=pupil.person, kind=Kind.FACE,
                              grant=True, context=privacy.Context())  # fmt: skip
    return family


def test_a_face_goes_only_with_consent(acc: Any, pupil: Any, school: Any) -> None:
    person = pupil.person
    person.photo.save("face.jpg", ContentFile(JPEG))
    pin = str(person.pk)
    refused = queue.enqueue(acc.device, "face.upsert", {"pin": pin}, person_id=person.pk)
    assert acc.get("getrequest").content == b"OK\n"
    refused.refresh_from_db()
    assert refused.status == Command.Status.FAILED and refused.error == "no biometric consent"
    family = _consent(pupil, school)
    sent = queue.enqueue(acc.device, "face.upsert", {"pin": pin}, person_id=person.pk)
    [(command_id, body)] = commands_of(acc.get("getrequest").content.decode())
    content = base64.b64encode(JPEG).decode()
    assert command_id == sent.pk
    assert body == (
        f"DATA UPDATE biophoto PIN={pin}\tType=9\tSize={len(content)}\tContent={content}\tFormat=0"
    )
    # The consent is withdrawn before the next one goes out: it does not go.
    privacy.decide_biometrics(user=family.mother, child=person, kind=Kind.FACE, grant=False,
                              context=privacy.Context())  # fmt: skip
    late = queue.enqueue(acc.device, "face.upsert", {"pin": pin}, person_id=person.pk)
    assert acc.get("getrequest").content == b"OK\n"
    late.refresh_from_db()
    assert late.status == Command.Status.FAILED
    gone = queue.enqueue(acc.device, "face.delete", {"pin": pin}, person_id=person.pk)
    assert [b for _i, b in commands_of(acc.get("getrequest").content.decode())] == [
        f"DATA DELETE biophoto PIN={pin}",
        f"DATA DELETE biodata Pin={pin}\tType=9",
    ]
    assert gone.pk


def _staff_with_card(school: Any) -> Person:
    person = Person.objects.create(school=school, last_name="Омарова", first_name="Дина")
    StaffMember.objects.create(school=school, person=person, position="Күзетші")
    access_services.issue_card(person=person, uid="5555123", by=None)
    return person


def test_background_verification_allows_and_refuses(acc: Any, groups: Any, school: Any) -> None:
    staff = _staff_with_card(school)
    body = "time=2025-12-01 08:00:00\tpin=0\tcardno=5555123\teventaddr=1\tevent=0\tinoutstatus=0\tverifytype=4\n"  # noqa: E501
    answer = acc.post("cdata", body, AuthType="device")
    assert answer.status_code == 200
    lines = answer.content.decode().splitlines()
    assert lines[0] == "AUTH=SUCCEED"
    assert lines[1] == "TIPS=Қош келдіңіз!" or lines[1].startswith("TIPS=")
    assert not AccessEvent.objects.exists()  # recorded when the terminal uploads the pass
    by_pin = f"time=2025-12-01 08:00:05\tpin={staff.pk}\tcardno=0\tinoutstatus=0\tverifytype=4\n"
    assert acc.post("cdata", by_pin, AuthType="device").content.startswith(b"AUTH=SUCCEED\n")
    unknown = "time=2025-12-01 08:01:00\tpin=0\tcardno=42424242\tinoutstatus=0\tverifytype=4\n"
    refused = acc.post("cdata", unknown, AuthType="device").content.decode().splitlines()
    assert refused[0] == "AUTH=FAILED"
    tips = refused[1].removeprefix("TIPS=")
    assert tips and "\t" not in tips
    acc.post("cdata", unknown, AuthType="device")  # the terminal asks again: recorded once
    event = AccessEvent.objects.get()
    assert not event.allowed and event.reason == "unknown_credential"
    assert acc.post("cdata", "time=2025-12-01 08:01:00", AuthType="device").status_code == 400


def test_a_face_match_without_consent_is_refused_online(
    acc: Any, groups: Any, pupil: Any, card: Any
) -> None:
    body = f"time=2025-12-01 08:02:00\tpin={pupil.person_id}\tcardno=0\tverifytype=15\n"
    answer = acc.post("cdata", body, AuthType="device").content.decode().splitlines()
    assert answer[0] == "AUTH=FAILED"
    assert AccessEvent.objects.get().reason == "biometric_no_consent"
