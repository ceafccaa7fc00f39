"""The gateway as it runs at a school: ``manage.py run_edge`` in its own process with its
own SQLite file, against a live server. A terminal talks to it with the same signed bytes
it would send the server.

Slow by nature (each gateway start migrates a fresh database): about 20 s for the file.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import sqlite3
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from kezekshi.access import services
from kezekshi.access.credentials import normalise_card_uid
from kezekshi.access.device_auth import signed_headers
from kezekshi.access.models import AccessEvent, Credential
from kezekshi.access.tests.conftest import Terminal
from kezekshi.devices.models import Command, Link, PendingTerminal
from kezekshi.devices.simulator.zkteco import ZktecoTerminal
from kezekshi.devices.tests.conftest import bind_terminal
from kezekshi.people.models import Person, Pupil

ROOT = Path(__file__).resolve().parents[3]
MONDAY = "2025-12-01T07:52:03+05:00"

pytestmark = pytest.mark.django_db(transaction=True, serialized_rollback=True)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class Gateway:
    """One ``run_edge`` process on a data directory."""

    def __init__(self, data_dir: Path, server: str, gateway: Terminal) -> None:
        self.data_dir, self.port = data_dir, free_port()
        env = {
            **os.environ,
            "DJANGO_SETTINGS_MODULE": "kezekshi.edge.settings",
            "EDGE_DATA_DIR": str(data_dir),
            "DEBUG": "0",
            "LOG_LEVEL": "WARNING",
            "PYTHONWARNINGS": "ignore:No directory at",
        }
        env.pop("DATABASE_URL", None)
        env.pop("SECRET_KEY", None)  # the gateway makes its own
        self.process = subprocess.Popen(  # noqa: S603 - our interpreter, our command
            [sys.executable, "manage.py", "run_edge", "--server", server,
             "--device-id", str(gateway.device.pk), f"--secret={gateway.secret}",
             "--listen", f"127.0.0.1:{self.port}", "--data-dir", str(data_dir),
             "--sync-every", "1"],
            cwd=ROOT, env=env, start_new_session=True,
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
        )  # fmt: skip
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                output = self.process.stdout.read().decode() if self.process.stdout else ""
                raise AssertionError(f"run_edge exited: {output}")
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{self.port}/healthz", timeout=1):
                    return
            except OSError:
                time.sleep(0.1)
        raise AssertionError("run_edge did not answer within 60 s")

    def post(self, terminal: Terminal, path: str, payload: Any) -> tuple[int, Any]:
        body = json.dumps(payload).encode()
        headers = signed_headers(
            device_id=terminal.device.pk,
            secret=terminal.secret,
            method="POST",
            path=path,
            body=body,
        )
        request = urllib.request.Request(
            f"http://127.0.0.1:{self.port}{path}",
            data=body,
            headers={**headers, "Content-Type": "application/json"},
        )
        try:
            with urllib.request.urlopen(request, timeout=10) as answer:  # noqa: S310
                return answer.status, json.loads(answer.read())
        except urllib.error.HTTPError as exc:
            text = exc.read()
            try:
                return exc.code, json.loads(text)
            except ValueError:
                return exc.code, text.decode(errors="replace")

    def output(self) -> str:
        self.stop()
        return self.process.stdout.read().decode() if self.process.stdout else ""

    def kill(self) -> None:
        os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait()

    def stop(self) -> None:
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.kill()

    def rows(self, sql: str) -> list[tuple[Any, ...]]:
        """Read the gateway's own database, as an engineer at the school would."""
        db = sqlite3.connect(self.data_dir / "edge.sqlite3", timeout=10)
        try:
            return db.execute(sql).fetchall()
        finally:
            db.close()


@pytest.fixture
def start(tmp_path: Path, gateway: Terminal) -> Iterator[Callable[..., Gateway]]:
    started: list[Gateway] = []

    def start_one(server: str) -> Gateway:
        started.append(Gateway(tmp_path / "edge", server, gateway))
        return started[-1]

    yield start_one
    for one in started:
        one.stop()


@pytest.fixture
def card_holder(school: Any, school_class: Any) -> Credential:
    """A pupil with a card, written straight to the tables (no audit entry: the live
    server's database is flushed after the test)."""
    person = Person.objects.create(school=school, last_name="Сейтқали", first_name="Әлия")
    Pupil.objects.create(
        school=school, person=person, school_class=school_class, account_number="10010000001"
    )
    card = Credential.objects.create(
        school=school, person=person, kind="card", value=normalise_card_uid("123,45678")
    )
    services.bump_rules(school_id=school.pk)
    return card


def wait_for(check: Callable[[], bool], seconds: float = 20.0) -> None:
    deadline = time.monotonic() + seconds
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError("the condition did not hold in time")
        time.sleep(0.2)


def passes(count: int) -> list[dict[str, Any]]:
    return [
        {"record_no": f"e-{n}", "time": MONDAY, "credential_kind": "card",
         "credential": "123,45678", "direction": "in" if n % 2 else "out", "allowed": True}
        for n in range(count)
    ]  # fmt: skip


def test_killed_gateway_loses_no_acknowledged_pass_and_uploads_each_once(
    live_server: Any, start: Callable[..., Gateway], groups: Any, card_holder: Credential,
    turnstile: Terminal,
) -> None:  # fmt: skip
    first = start(live_server.url)
    # When the turnstile asks the gateway and uploads 300 passes to it
    status, decided = first.post(
        turnstile,
        "/api/v1/access/decide",
        {"credential": "123,45678", "direction": "in", "time": MONDAY, "record_no": "d-1"},
    )
    assert status == 200, (decided, first.output())
    assert (decided["allowed"], decided["person_id"]) == (True, card_holder.person_id)
    assert decided["display"]["name"] == "Әлия С."
    status, stored = first.post(turnstile, "/api/v1/access/events", {"events": passes(300)})
    assert status == 200 and stored["stored"] == 300, stored
    # and the gateway is killed right after acknowledging them
    first.kill()
    # Then every acknowledged pass is on its disk
    assert first.rows("SELECT COUNT(*) FROM access_accessevent") == [(301,)]
    # When it starts again, it uploads the rest: the server holds each pass exactly once
    second = start(live_server.url)
    on_server = AccessEvent.objects.filter(device=turnstile.device)
    wait_for(lambda: on_server.count() >= 301)
    wait_for(lambda: second.rows("SELECT COUNT(*) FROM edge_uploadedevent") == [(301,)])
    assert on_server.count() == 301
    assert set(on_server.values_list("person_id", flat=True)) == {card_holder.person_id}
    # and no guardian's notice was made at the gateway (it holds no guardians)
    assert second.rows("SELECT COUNT(*) FROM notifications_notification") == [(0,)]
    # When the card is blocked on the server, the gateway refuses it after its next sync
    services.block_credential(credential=card_holder, by=None, reason="lost", lost=True)

    def refused() -> bool:
        _status, answer = second.post(
            turnstile, "/api/v1/access/decide", {"credential": "123,45678", "time": MONDAY}
        )
        return answer["reason"] == "credential_blocked"  # type: ignore[no-any-return]

    wait_for(refused)


def test_gateway_decides_from_its_mirror_while_the_server_is_down(
    live_server: Any, start: Callable[..., Gateway], groups: Any, card_holder: Credential,
    turnstile: Terminal,
) -> None:  # fmt: skip
    synced = start(live_server.url)
    synced.stop()
    # Given the gateway restarted with the server unreachable
    down = start(f"http://127.0.0.1:{free_port()}")
    # Then it still decides, from its mirror, and buffers the passes
    status, answer = down.post(
        turnstile,
        "/api/v1/access/decide",
        {"credential": "123,45678", "time": MONDAY, "record_no": "offline-1"},
    )
    assert status == 200 and answer["allowed"] is True, answer
    status, answer = down.post(
        turnstile, "/api/v1/access/decide", {"credential": "200,12345", "time": MONDAY}
    )
    assert (answer["allowed"], answer["reason"]) == (False, "unknown_credential")
    waiting = "SELECT COUNT(*) FROM access_accessevent a LEFT JOIN edge_uploadedevent u "
    waiting += "ON u.event_id = a.id WHERE u.event_id IS NULL"
    assert down.rows(waiting) == [(2,)]
    assert not AccessEvent.objects.exists()
    # and notes why it could not upload
    wait_for(lambda: down.rows("SELECT last_error FROM edge_mirrorstate")[0][0] != "")


def test_a_zkteco_terminal_behind_the_gateway_follows_the_portal(
    live_server: Any, start: Callable[..., Gateway], groups: Any, card_holder: Credential,
    main_door: Any, tmp_path: Path,
) -> None:  # fmt: skip
    # Given a ZKTeco terminal approved on the server and pointed at the gateway
    serial = "CKJX201860077"
    bound = bind_terminal(school=card_holder.school, door=main_door, serial=serial,
                          protocol="zkteco-acc")  # fmt: skip
    gateway = start(live_server.url)
    url = f"http://127.0.0.1:{gateway.port}"
    terminal = ZktecoTerminal(url, serial, "acc", state_path=str(tmp_path / "zk.json"))
    wait_for(terminal.handshake)
    # Then the pupil with a card reaches the terminal's own table through the gateway
    pin = str(card_holder.person_id)

    def holds(card: str | None) -> Callable[[], bool]:
        def check() -> bool:
            terminal.poll()
            user = terminal.users.get(pin)
            return user is not None and (card is None or user.get("card") == card)

        return check

    wait_for(holds("8106606"), seconds=40)
    # and the terminal's answer reaches the server, which counts the command done
    upserts = Command.objects.filter(device=bound.device, kind="user.upsert")
    wait_for(lambda: upserts.filter(status=Command.Status.DONE).exists(), seconds=30)
    assert Link.objects.get(device=bound.device).gateway is not None
    # and the gateway forgets the commands once the server has the answers
    wait_for(lambda: gateway.rows("SELECT COUNT(*) FROM devices_command") == [(0,)], 30)
    # When the card is blocked in the portal, the terminal loses it through the gateway
    services.block_credential(credential=card_holder, by=None, reason="lost", lost=True)
    wait_for(lambda: (terminal.poll(), pin not in terminal.users
                      or not terminal.users[pin].get("card"))[1], seconds=40)  # fmt: skip
    # and a new terminal that calls only the gateway waits for approval on the server
    stranger = ZktecoTerminal(url, "CKJX209990001", "acc")
    assert stranger.handshake() is False
    wait_for(lambda: PendingTerminal.objects.filter(serial_number="CKJX209990001").exists(), 30)
