"""Device sync through the gateway, the server's side: which terminals are relayed, the
commands handed over (face photos only under the consent check), and the answers the
gateway brings back (idempotent, never about another school's terminal)."""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
from pathlib import Path
from typing import Any

import pytest
from django.core.cache import cache
from django.core.files.base import ContentFile
from django.utils import timezone

from kezekshi.access import services
from kezekshi.access.models import Device
from kezekshi.access.tests.conftest import Terminal
from kezekshi.devices import sync
from kezekshi.devices.models import Command, Enrolment, Link, Protocol
from kezekshi.devices.simulator.hikvision import DEFAULT_PASSWORD, HikvisionTerminal, tiny_jpeg
from kezekshi.devices.tests.conftest import terminal
from kezekshi.devices.tests.test_sync import with_face_consent
from kezekshi.edge import relay

STATUS = "/api/v1/edge/status"
COMMANDS = "/api/v1/edge/commands"
ANSWERS = "/api/v1/edge/answers"
JPEG = b"\xff\xd8\xff\xe0" + b"face" * 100


@pytest.fixture(autouse=True)
def _fresh() -> None:
    cache.clear()
    sync.forget_checks()


def report(gateway: Terminal, seen: dict[int, dt.datetime], **extra: Any) -> None:
    body = {"backlog": 0, "devices": {str(k): v.isoformat() for k, v in seen.items()}, **extra}
    answer = gateway.post(STATUS, body)
    assert answer.status_code == 200, answer.content


def handed(gateway: Terminal, holding: list[int] | None = None) -> dict[str, Any]:
    answer = gateway.post(COMMANDS, {"holding": holding or []})
    assert answer.status_code == 200, answer.content
    return answer.json()  # type: ignore[no-any-return]


def test_a_terminal_the_gateway_reports_gets_its_commands_through_it(
    gateway: Terminal, main_door: Any, pupil: Any, groups: Any, other_school: Any
) -> None:
    services.issue_card(person=pupil.person, uid="123,45678", by=None)
    zk = terminal(pupil.school, main_door, Protocol.ZKTECO_ACC, name="ZK")
    quiet = terminal(pupil.school, main_door, Protocol.ZKTECO_ACC, name="ZK2")
    foreign, _ = services.register_device(school=other_school, name="F", kind="turnstile",
                                          door=None)  # fmt: skip
    Link.objects.create(device=foreign, protocol=Protocol.ZKTECO_ACC)
    # Given nothing reported yet, the gateway gets nothing
    assert handed(gateway)["commands"] == []
    # When it reports the ZK terminal seen now, the other one an hour ago, and a
    # terminal of another school
    now = timezone.now()
    report(gateway, {zk.pk: now, quiet.pk: now - dt.timedelta(hours=1), foreign.pk: now})
    # Then only the fresh terminal of its own school is relayed
    assert list(Link.objects.filter(gateway=gateway.device).values_list("device_id", flat=True)) \
        == [zk.pk]  # fmt: skip
    first = handed(gateway)
    assert [(c["device"], c["kind"]) for c in first["commands"]] == [(zk.pk, "user.upsert")]
    assert first["commands"][0]["data"]["card"] == "8106606"
    # and the command counts as sent: asked again at once, nothing new comes
    assert handed(gateway)["commands"] == []
    command = Command.objects.get(pk=first["commands"][0]["id"])
    assert command.status == Command.Status.SENT
    # When the resend time passed, a command the gateway still holds is not handed again
    # (it resends it itself), one it does not hold is
    Command.objects.filter(pk=command.pk).update(sent_at=now - dt.timedelta(minutes=5))
    assert handed(gateway, holding=[command.pk])["commands"] == []
    Command.objects.filter(pk=command.pk).update(sent_at=now - dt.timedelta(minutes=5))
    assert [c["id"] for c in handed(gateway)["commands"]] == [command.pk]
    command.refresh_from_db()
    assert command.attempts == 2
    # When the gateway brings the terminal's answer (twice, and one about a foreign id)
    answer = {"id": command.pk, "device": zk.pk, "return_code": 0, "error": ""}
    stray = {"id": command.pk, "device": foreign.pk, "return_code": -1, "error": "x"}
    body = gateway.post(ANSWERS, {"answers": [answer, stray]}).json()
    again = gateway.post(ANSWERS, {"answers": [answer]}).json()
    # Then it is recorded once, as if the terminal had answered the server
    assert (body["counted"], again["counted"]) == (1, 0)
    command.refresh_from_db()
    assert command.status == Command.Status.DONE
    assert Enrolment.objects.get(device=zk).pin == str(pupil.person_id)


def test_garbage_answers_are_refused_whole(gateway: Terminal) -> None:
    for body in (
        {"answers": [{"id": "x", "device": 1, "return_code": 0}]},
        {"answers": [{"id": 1, "device": 1, "return_code": 0, "error": "e" * 301}]},
        {"answers": "none"},
        {},
    ):
        answer = gateway.post(ANSWERS, body)
        assert answer.status_code == 422, (body, answer.content)


def test_a_face_goes_through_the_gateway_with_its_photo_only_under_consent(
    gateway: Terminal, main_door: Any, pupil: Any, groups: Any, settings: Any, tmp_path: Path
) -> None:
    settings.MEDIA_ROOT = str(tmp_path)
    services.issue_card(person=pupil.person, uid="123,45678", by=None)
    person = pupil.person
    person.photo.save("aliya.jpg", ContentFile(JPEG), save=True)
    hik = terminal(pupil.school, main_door, Protocol.HIKVISION, name="HIK", kind="face_terminal")
    Link.objects.filter(device=hik).update(address="http://192.168.10.31", username="admin",
                                           password="Hik12345")  # fmt: skip
    report(gateway, {hik.pk: timezone.now()})
    # Without the consent the person goes, the face does not
    first = handed(gateway)
    assert [c["kind"] for c in first["commands"]] == ["user.upsert"]
    # and the gateway learns how to reach the Hikvision terminal
    assert first["terminals"] == [{"device": hik.pk, "address": "http://192.168.10.31",
                                   "username": "admin", "password": "Hik12345"}]  # fmt: skip
    relay.take_answers(gateway.device, [{"id": first["commands"][0]["id"], "device": hik.pk,
                                         "return_code": 0, "error": ""}])  # fmt: skip
    # With the consent, the face command comes with the photo
    with_face_consent(pupil, pupil.school)
    sync.forget_checks()
    faces = handed(gateway)["commands"]
    assert [c["kind"] for c in faces] == ["face.upsert"]
    assert base64.b64decode(faces[0]["data"]["photo"]) == JPEG
    # and the photo never enters the server's own queue
    assert "photo" not in Command.objects.get(pk=faces[0]["id"]).data


def test_a_face_command_whose_photo_may_not_go_fails_on_the_server(
    gateway: Terminal, main_door: Any, pupil: Any, groups: Any
) -> None:
    zk = terminal(pupil.school, main_door, Protocol.ZKTECO_ACC, name="ZK")
    report(gateway, {zk.pk: timezone.now()})
    # Given a face command queued for a person without consent (an older queue entry)
    command = Command.objects.create(
        device=zk, kind="face.upsert", data={"pin": str(pupil.person_id)}, person=pupil.person
    )
    # Then it is not handed over, and fails where the terminals page shows it
    assert command.pk not in {c["id"] for c in handed(gateway)["commands"]}
    command.refresh_from_db()
    assert (command.status, command.error) == (Command.Status.FAILED, "no biometric consent")


def test_the_gateway_keeps_relayed_commands_once_and_newest_last(
    main_door: Any, pupil: Any
) -> None:
    zk: Device = terminal(pupil.school, main_door, Protocol.ZKTECO_ACC, name="ZK")
    pin = str(pupil.person_id)

    def command(pk: int, kind: str, **data: Any) -> dict[str, Any]:
        return {"id": pk, "device": zk.pk, "kind": kind, "data": {"pin": pin, **data},
                "person": pupil.person_id}  # fmt: skip

    # When the server hands over an upsert, then again with a newer removal
    assert relay.receive({"commands": [command(9001, "user.upsert", name="Әлия С.")]}) == 1
    again = [command(9001, "user.upsert", name="Әлия С."), command(9002, "user.delete")]
    assert relay.receive({"commands": again}) == 1
    # Then the gateway holds each once, and the older one is superseded by the newer
    statuses = dict(Command.objects.filter(device=zk).values_list("pk", "status"))
    assert statuses == {9001: Command.Status.SUPERSEDED, 9002: Command.Status.PENDING}
    # When the terminal confirmed the removal, its answer is reported, then forgotten
    Command.objects.filter(pk=9002).update(status=Command.Status.DONE, return_code=0)
    assert relay.answers() == [{"id": 9002, "device": zk.pk, "return_code": 0, "error": ""}]
    relay.forget([9002])
    assert not Command.objects.filter(device=zk).exists()


def test_the_gateway_calls_a_hikvision_terminal_with_the_relayed_photo(
    main_door: Any, pupil: Any, settings: Any
) -> None:
    # Given the gateway's settings and a Hikvision terminal on the school's network
    settings.EDGE_GATEWAY, settings.DEVICE_SYNC_LOCAL = True, False
    settings.ISAPI_ALLOW_LOOPBACK = True  # the simulated terminal listens on 127.0.0.1
    hik = terminal(pupil.school, main_door, Protocol.HIKVISION, name="HIK", kind="face_terminal")
    pin = str(pupil.person_id)
    photo = tiny_jpeg()
    with HikvisionTerminal(serial="SN-HIK") as device:
        # When the server's commands and the terminal's address arrive
        relay.receive({
            "terminals": [{"device": hik.pk, "address": device.address, "username": "admin",
                           "password": DEFAULT_PASSWORD}],
            "commands": [
                {"id": 9101, "device": hik.pk, "kind": "user.upsert", "person": None,
                 "data": {"pin": pin, "name": "Әлия С.", "card": "8106606"}},
                {"id": 9102, "device": hik.pk, "kind": "face.upsert", "person": None,
                 "data": {"pin": pin, "photo": base64.b64encode(photo).decode()}},
            ],
        })  # fmt: skip
        # Then the gateway calls the terminal itself, photo included
        assert relay.execute_hikvision() == (2, 0)
    assert device.users[pin]["name"] == "Әлия С." and device.cards == {"8106606": pin}
    assert device.faces[pin] == hashlib.sha256(photo).hexdigest()
    # and both answers wait to be reported to the server
    assert [(a["id"], a["return_code"]) for a in relay.answers()] == [(9101, 0), (9102, 0)]


def test_only_a_gateway_may_fetch_commands_and_garbage_is_refused_whole(
    gateway: Terminal, turnstile: Terminal
) -> None:
    # A terminal that is not a gateway gets 403, and nothing is handed over
    refused = turnstile.post(COMMANDS, {"holding": []})
    assert refused.status_code == 403 and refused.json()["code"] == "not_a_gateway"
    # Garbage in the list of held commands: 422, nothing marked sent
    for body in ({"holding": ["x"]}, {"holding": "all"}, {"holding": [1] * 10_001}):
        answer = gateway.post(COMMANDS, body)
        assert answer.status_code == 422, (str(body)[:40], answer.content[:200])
    assert not Command.objects.filter(status=Command.Status.SENT).exists()
