"""The ISAPI client and the command executor against the simulated terminal, which
speaks real HTTP with real digest auth and keeps its own person/card/face table; and the
remote check, from the terminal's question to the answer it receives."""

from __future__ import annotations

import contextlib
import http.server
import json
import threading
from collections.abc import Iterator
from typing import Any

import pytest
from django.core.files.base import ContentFile
from django.test import Client
from django.utils import timezone

from kezekshi.access import services
from kezekshi.access.models import AccessEvent, Device
from kezekshi.devices import queue, sync
from kezekshi.devices.hikvision import push_url
from kezekshi.devices.hikvision.client import (
    AddressRefused,
    IsapiClient,
    IsapiError,
    check_address,
)
from kezekshi.devices.hikvision.executor import execute_pending
from kezekshi.devices.models import Command, Link
from kezekshi.devices.simulator.hikvision import (
    DEFAULT_PASSWORD,
    HikvisionTerminal,
    event_json,
    multipart_body,
    tiny_jpeg,
)
from kezekshi.privacy import services as privacy
from kezekshi.privacy.models import Kind
from kezekshi.privacy.tests.family import make_family

pytestmark = pytest.mark.django_db
SERIAL = "DS-K1T671M0120251202"
MONDAY_0752 = "2025-12-01T07:52:00+05:00"


@pytest.fixture(autouse=True)
def _simulator_on_this_machine(settings: Any) -> None:
    """The simulated terminal listens on 127.0.0.1, which the client refuses unless
    ``ISAPI_ALLOW_LOOPBACK`` is set (as for development)."""
    settings.ISAPI_ALLOW_LOOPBACK = True


@pytest.fixture
def simulated() -> Iterator[HikvisionTerminal]:
    with HikvisionTerminal(serial=SERIAL) as terminal:
        yield terminal


@pytest.fixture
def face_terminal(school: Any, main_door: Any, simulated: HikvisionTerminal) -> Device:
    device, _secret = services.register_device(
        school=school, name="Face 1", kind="face_terminal", door=main_door, serial_number=SERIAL
    )
    Link.objects.create(
        device=device,
        protocol="hikvision",
        address=simulated.address,
        username="admin",
        password=DEFAULT_PASSWORD,
    )
    return device


def user_command(person: Any, **data: Any) -> dict[str, Any]:
    return {
        "pin": str(person.pk),
        "name": f"{person.first_name} {person.last_name}",
        "card": None,
        "valid_from": "2025-09-01T00:00:00+05:00",
        "valid_until": None,
        "doors": [1],
        **data,
    }


def grant_face_consent(pupil: Any) -> None:
    policy = privacy.publish_policy(
        policy=privacy.draft_policy(operator_name="ТОО «Kezekshi»", operator_bin=pupil.school.bin),
        by=None,
    )
    family = make_family(pupil)
    privacy.accept_policy(user=family.mother, policy=policy, context=privacy.Context())
    privacy.decide_biometrics(
        user=family.mother,
        child=pupil.person,
        kind=Kind.FACE,
        grant=True,
        context=privacy.Context(),
    )


def test_the_client_answers_the_digest_challenge_and_the_terminal_keeps_the_person(
    simulated: HikvisionTerminal,
) -> None:
    client = IsapiClient(simulated.address, "admin", DEFAULT_PASSWORD)
    client.user_upsert("15", "Әлия\tСейтқали\nDATA DELETE", valid_from="2025-09-01T00:00:00+05:00")
    client.card_upsert("15", "8106606")
    assert simulated.challenges >= 2  # every call was challenged and answered
    assert simulated.users["15"]["name"] == "Әлия Сейтқали DATA DELETE"
    assert simulated.users["15"]["Valid"]["beginTime"] == "2025-09-01T00:00:00"
    assert simulated.cards == {"8106606": "15"}
    assert client.user_count() == (1, 0)


def test_a_wrong_password_is_a_401_after_a_single_attempt(simulated: HikvisionTerminal) -> None:
    with pytest.raises(IsapiError) as refused:
        IsapiClient(simulated.address, "admin", "not-the-password").user_count()
    assert refused.value.status == 401 and not refused.value.unreachable
    # One refused login, not six: terminals lock an address out after a few.
    assert simulated.refused_logins == 1


def test_a_refusal_carries_the_terminals_sub_status(simulated: HikvisionTerminal) -> None:
    client = IsapiClient(simulated.address, "admin", DEFAULT_PASSWORD)
    with pytest.raises(IsapiError) as refused:
        client.card_upsert("404", "8106606")  # no such person on the terminal
    assert refused.value.status == 400 and refused.value.sub_status == "employeeNoNotExist"


def test_an_unreachable_terminal_is_a_clear_error() -> None:
    with pytest.raises(IsapiError) as refused:
        IsapiClient("http://127.0.0.1:9", "admin", "x", timeout=1).user_count()
    assert refused.value.unreachable


def test_the_executor_applies_persons_cards_and_faces_and_confirms_each_command(
    face_terminal: Device, simulated: HikvisionTerminal, pupil: Any
) -> None:
    grant_face_consent(pupil)
    pupil.person.photo.save("face.jpg", ContentFile(tiny_jpeg()), save=True)
    pin = str(pupil.person_id)
    commands = [
        queue.enqueue(
            face_terminal, Command.Kind.USER_UPSERT, user_command(pupil.person, card="8106606")
        ),
        queue.enqueue(
            face_terminal, Command.Kind.FACE_UPSERT, {"pin": pin}, person_id=pupil.person_id
        ),
        queue.enqueue(face_terminal, Command.Kind.DOOR_OPEN, {"door": 1, "seconds": 5}),
        queue.enqueue(face_terminal, Command.Kind.QUERY_USERS, {}),
    ]

    assert execute_pending(face_terminal) == (4, 0)

    assert simulated.users[pin]["name"] == "Әлия Сейтқали"
    assert simulated.cards == {"8106606": pin}
    assert pin in simulated.faces and simulated.doors_opened == [1]
    sent = Command.objects.filter(pk__in=[c.pk for c in commands])
    assert set(sent.values_list("status", flat=True)) == {Command.Status.DONE}
    link = Link.objects.get(device=face_terminal)
    assert (link.users_count, link.faces_count) == (1, 1)

    # A new card replaces the old one; then the person leaves the terminal entirely.
    queue.enqueue(face_terminal, Command.Kind.USER_UPSERT, user_command(pupil.person, card="777"))
    queue.enqueue(face_terminal, Command.Kind.FACE_DELETE, {"pin": pin})
    assert execute_pending(face_terminal) == (2, 0)
    assert simulated.cards == {"777": pin} and simulated.faces == {}
    queue.enqueue(face_terminal, Command.Kind.USER_DELETE, {"pin": pin})
    assert execute_pending(face_terminal) == (1, 0)
    assert simulated.users == {} and simulated.cards == {}
    assert execute_pending(face_terminal) == (0, 0)  # nothing left to send


def test_a_face_without_consent_fails_and_is_never_sent(
    face_terminal: Device, simulated: HikvisionTerminal, pupil: Any
) -> None:
    pupil.person.photo.save("face.jpg", ContentFile(tiny_jpeg()), save=True)
    queue.enqueue(face_terminal, Command.Kind.USER_UPSERT, user_command(pupil.person))
    face = queue.enqueue(
        face_terminal,
        Command.Kind.FACE_UPSERT,
        {"pin": str(pupil.person_id)},
        person_id=pupil.person_id,
    )

    assert execute_pending(face_terminal) == (1, 1)

    face.refresh_from_db()
    assert face.status == Command.Status.FAILED and face.error == "no biometric consent"
    assert simulated.faces == {}


def test_a_refused_command_fails_with_the_terminals_reason(
    face_terminal: Device, simulated: HikvisionTerminal
) -> None:
    bad_card = queue.enqueue(
        face_terminal, Command.Kind.USER_UPSERT, {"pin": "12", "name": "A", "card": "12-AB"}
    )
    assert execute_pending(face_terminal) == (0, 1)
    bad_card.refresh_from_db()
    assert bad_card.status == Command.Status.FAILED and bad_card.return_code == -400
    assert "badParameters" in bad_card.error

    simulated.password = "changed-on-the-terminal"
    door = queue.enqueue(face_terminal, Command.Kind.DOOR_OPEN, {"door": 1})
    assert execute_pending(face_terminal) == (0, 1)
    door.refresh_from_db()
    assert door.status == Command.Status.FAILED and door.return_code == -401
    assert simulated.doors_opened == []


def test_an_unreachable_terminal_keeps_its_commands_for_later(
    face_terminal: Device, simulated: HikvisionTerminal, pupil: Any
) -> None:
    Link.objects.filter(device=face_terminal).update(address="http://127.0.0.1:9")
    command = queue.enqueue(face_terminal, Command.Kind.USER_UPSERT, user_command(pupil.person))

    assert execute_pending(face_terminal) == (0, 0)

    command.refresh_from_db()
    assert command.status == Command.Status.SENT  # the queue sends it again later
    link = Link.objects.get(device=face_terminal)
    assert "unreachable" in link.last_error and link.last_error_at is not None


def test_configure_push_points_the_terminal_at_its_push_url(
    face_terminal: Device, simulated: HikvisionTerminal
) -> None:
    url = push_url(face_terminal, "http://192.168.1.10:8000")
    IsapiClient(simulated.address, "admin", DEFAULT_PASSWORD).configure_push(url)
    assert simulated.push_url == url
    assert simulated.http_host["ipAddress"] == "192.168.1.10"


def test_a_remote_check_is_decided_recorded_and_answered_on_the_terminal(
    face_terminal: Device, simulated: HikvisionTerminal, card: Any, groups: Any
) -> None:
    Link.objects.filter(device=face_terminal).update(decision_mode="server")
    document = event_json(
        serial_no=901, when=MONDAY_0752, minor=0x01, card_no="8106606", remote_check=True
    )
    unknown = event_json(
        serial_no=902, when=MONDAY_0752, minor=0x09, card_no="99887766", remote_check=True
    )
    content_type, body = multipart_body(document, picture=tiny_jpeg())
    url = push_url(face_terminal)

    answer = Client().post(url, data=body, content_type=content_type)
    Client().post(url, data=body, content_type=content_type)  # the terminal asks again
    content_type, body = multipart_body(unknown, picture=tiny_jpeg())
    Client().post(url, data=body, content_type=content_type)

    assert answer.status_code == 200
    assert answer.json()["results"][0]["answered"] is True
    checks = {c["serialNo"]: c for c in simulated.remote_checks}
    assert checks[901]["checkResult"] == "success" and checks[901]["info"] == "Қош келдіңіз!"
    assert checks[902]["checkResult"] == "failed"
    events = {e.record_no: e for e in AccessEvent.objects.all()}
    assert len(events) == 2
    assert events["hik:901"].allowed and events["hik:901"].person_id == card.person_id
    assert not events["hik:902"].allowed and events["hik:902"].reason == "unknown_credential"


def test_a_remote_check_the_terminal_cannot_hear_is_still_recorded(
    face_terminal: Device, card: Any, groups: Any
) -> None:
    Link.objects.filter(device=face_terminal).update(address="http://127.0.0.1:9")
    document = event_json(
        serial_no=903, when=MONDAY_0752, minor=0x01, card_no="8106606", remote_check=True
    )
    content_type, body = multipart_body(document, picture=tiny_jpeg())

    answer = Client().post(push_url(face_terminal), data=body, content_type=content_type)

    assert answer.status_code == 200 and answer.json()["results"][0]["answered"] is False
    assert AccessEvent.objects.get().record_no == "hik:903"
    assert "unreachable" in Link.objects.get(device=face_terminal).last_error


def test_device_sync_and_the_executor_bring_the_terminal_in_line(
    face_terminal: Device, simulated: HikvisionTerminal, card: Any, groups: Any
) -> None:
    sync.forget_fingerprint(face_terminal.school_id)  # rolled-back tests reuse the school id
    done, failed = execute_pending(face_terminal)

    pin = str(card.person_id)
    assert failed == 0 and done >= 1
    assert pin in simulated.users and simulated.cards == {"8106606": pin}
    assert execute_pending(face_terminal) == (0, 0)  # nothing changed, nothing sent


# --- Only terminals on a network are called ----------------------------------------------


@pytest.mark.parametrize(
    ("address", "base"),
    [
        ("http://10.0.0.7", "http://10.0.0.7"),
        (" http://10.0.0.7:80/ ", "http://10.0.0.7:80"),
        ("HTTPS://192.168.1.64:8443", "https://192.168.1.64:8443"),
        ("http://172.31.255.1", "http://172.31.255.1"),
        ("http://[fd12:3456::64]:8080", "http://[fd12:3456::64]:8080"),
    ],
)
def test_a_lan_address_is_taken_as_the_base_url(address: str, base: str) -> None:
    assert check_address(address) == base


@pytest.mark.parametrize(
    "address",
    [
        "http://169.254.169.254",  # the cloud's metadata service
        "http://[fd00:ec2::254]",
        "http://100.100.100.200",
        "http://127.0.0.1:5432",  # this server's database
        "http://localhost",
        "http://0x7f.0.0.1",
        "http://[::1]",
        "http://[::ffff:127.0.0.1]",
        "http://0.0.0.0",
        "http://[fe80::1]",
        "http://224.0.0.1",
        "http://255.255.255.255",
    ],
)
def test_this_server_link_local_multicast_and_metadata_addresses_are_refused(
    address: str, settings: Any
) -> None:
    settings.ISAPI_ALLOW_LOOPBACK = False
    with pytest.raises(AddressRefused) as refused:
        check_address(address)
    assert refused.value.code == "invalid_address" and refused.value.status == 422
    assert "metadata" in str(refused.value.message)


@pytest.mark.parametrize(
    "address",
    [
        "localhost?x=1",
        "http://localhost?x=1",
        "http://10.0.0.7/ISAPI",
        "http://10.0.0.7#x",
        "http://admin:12345@10.0.0.7",
        "http://10.0.0.7\\@127.0.0.1",
        "ftp://10.0.0.7",
        "file:///etc/passwd",
        "http://10.0.0.7:0",
        "http://10.0.0.7:99999",
        "http://10.0.0.7:http",
        "http://10.0.\n0.7",
        "http://2130706433",
        "http://127.1",
        "http://терминал.local",
        "",
    ],
)
def test_anything_but_scheme_host_and_port_is_refused(address: str) -> None:
    with pytest.raises(AddressRefused) as refused:
        check_address(address)
    assert "http://host:port" in str(refused.value.message)


def test_a_name_that_does_not_resolve_is_refused() -> None:
    with pytest.raises(AddressRefused) as refused:
        check_address("http://no-such-terminal.invalid")
    assert "cannot be found" in str(refused.value.message)


def test_the_client_never_connects_to_a_refused_address(
    face_terminal: Device, simulated: HikvisionTerminal, pupil: Any, settings: Any
) -> None:
    settings.ISAPI_ALLOW_LOOPBACK = False  # what production does: the simulator is loopback
    with pytest.raises(IsapiError) as refused:
        IsapiClient(simulated.address, "admin", DEFAULT_PASSWORD).user_count()
    assert refused.value.unreachable and refused.value.sub_status == "addressRefused"

    command = queue.enqueue(face_terminal, Command.Kind.USER_UPSERT, user_command(pupil.person))
    assert execute_pending(face_terminal) == (0, 0)
    command.refresh_from_db()
    assert command.status == Command.Status.SENT  # waits until the address is put right
    assert "addressRefused" in Link.objects.get(device=face_terminal).last_error
    assert simulated.challenges == 0 and simulated.users == {}  # not one request reached it


class _Canned(http.server.BaseHTTPRequestHandler):
    """Answers every request with ``server.answer`` (raw bytes) and counts the requests."""

    def _any(self) -> None:
        self.server.hits += 1  # type: ignore[attr-defined]
        length = int(self.headers.get("Content-Length") or 0)
        self.rfile.read(length)
        self.wfile.write(self.server.answer)  # type: ignore[attr-defined]
        self.close_connection = True

    do_GET = do_PUT = do_POST = _any

    def log_message(self, format: str, *args: Any) -> None:
        pass


@contextlib.contextmanager
def canned(answer: bytes = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n{}") -> Iterator[Any]:
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Canned)
    server.answer, server.hits = answer, 0  # type: ignore[attr-defined]
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()


def test_a_redirect_is_not_followed() -> None:
    with canned() as elsewhere:
        target = f"http://127.0.0.1:{elsewhere.server_address[1]}/"
        redirect = f"HTTP/1.1 302 Found\r\nLocation: {target}\r\nContent-Length: 0\r\n\r\n"
        with canned(redirect.encode()) as terminal:
            address = f"http://127.0.0.1:{terminal.server_address[1]}"
            with pytest.raises(IsapiError) as refused:
                IsapiClient(address, "admin", "x").user_count()
        assert refused.value.status == 302 and refused.value.sub_status == "redirect"
        assert terminal.hits == 1 and elsewhere.hits == 0


def test_no_proxy_is_used(simulated: HikvisionTerminal, monkeypatch: Any) -> None:
    with canned() as proxy:
        for name in ("HTTP_PROXY", "http_proxy", "HTTPS_PROXY", "https_proxy"):
            monkeypatch.setenv(name, f"http://127.0.0.1:{proxy.server_address[1]}")
        for name in ("NO_PROXY", "no_proxy"):
            monkeypatch.delenv(name, raising=False)
        assert IsapiClient(simulated.address, "admin", DEFAULT_PASSWORD).user_count() == (0, 0)
    assert proxy.hits == 0


@pytest.mark.parametrize(
    ("answer", "sub_status"),
    [
        (
            '{"statusCode": 4, "statusString": "Invalid Operation", '
            '"subStatusCode": "notSupport", "errorMsg": "<b>Call 555-0100, password 12345</b>"}',
            "notSupport",
        ),
        (
            '{"statusCode": 6, "statusString": "Invalid Content", '
            '"subStatusCode": "see http://evil.example/ now <script>", "errorMsg": "x"}',
            "error",
        ),
        ('{"statusCode": 4, "subStatusCode": "' + "a" * 500 + '"}', "error"),
        ("<html>Call 555-0100, password 12345</html>", "error"),
    ],
)
def test_a_refusal_keeps_our_summary_and_a_short_code_not_the_terminals_text(
    answer: str, sub_status: str
) -> None:
    body = answer.encode()
    raw = b"HTTP/1.1 400 Bad Request\r\nContent-Length: %d\r\n\r\n%s" % (len(body), body)
    with canned(raw) as terminal, pytest.raises(IsapiError) as refused:
        IsapiClient(f"http://127.0.0.1:{terminal.server_address[1]}", "a", "b").user_count()
    assert refused.value.status == 400 and refused.value.sub_status == sub_status
    text = str(refused.value)
    assert len(text) < 100
    for foreign in ("555-0100", "12345", "evil", "script", "Invalid", "aaaa"):
        assert foreign not in text


def test_an_answer_that_is_not_http_is_unreachable_without_its_text() -> None:
    not_http = b"SSH-2.0-OpenSSH_9.6 password 12345\r\n"
    with canned(not_http) as service, pytest.raises(IsapiError) as refused:
        IsapiClient(f"http://127.0.0.1:{service.server_address[1]}", "a", "b").user_count()
    assert refused.value.unreachable and "12345" not in str(refused.value)


def test_a_remote_check_with_an_impossible_date_is_decided_by_our_clock(
    face_terminal: Device, simulated: HikvisionTerminal, card: Any, groups: Any
) -> None:
    Link.objects.filter(device=face_terminal).update(decision_mode="server")
    document = event_json(
        serial_no=905, when=MONDAY_0752, minor=0x01, card_no="8106606", remote_check=True
    )
    body = json.dumps(document).encode().replace(MONDAY_0752.encode(), b"2025-02-30T07:52:00")
    before = timezone.now()
    answer = Client().post(push_url(face_terminal), data=body, content_type="application/json")
    assert answer.status_code == 200 and answer.json()["results"][0]["answered"] is True
    event = AccessEvent.objects.get()
    assert event.record_no == "hik:905" and event.occurred_at >= before
    assert [c["serialNo"] for c in simulated.remote_checks] == [905]
