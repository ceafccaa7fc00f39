"""End to end over real sockets: ``simulate_device --protocol hikvision`` pushes to a
running server, reboots and pushes again; ``hikvision_push`` sends queued commands to
the simulated terminal."""

from __future__ import annotations

import io
import json
from typing import Any

import pytest
from django.core.management import call_command

from kezekshi.access import services
from kezekshi.access.models import AccessEvent
from kezekshi.devices import queue
from kezekshi.devices.models import Command, Link, PendingTerminal
from kezekshi.devices.simulator.hikvision import DEFAULT_PASSWORD, HikvisionTerminal

SERIAL = "DS-K1T671M0120251203"


@pytest.fixture(autouse=True)
def _simulator_on_this_machine(settings: Any) -> None:
    """The simulated terminal listens on 127.0.0.1, which the client refuses unless
    ``ISAPI_ALLOW_LOOPBACK`` is set (as for development)."""
    settings.ISAPI_ALLOW_LOOPBACK = True


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_the_simulator_pushes_to_a_running_server_a_reboot_stores_nothing_twice(
    live_server: Any, school: Any, main_door: Any, pupil: Any, tmp_path: Any
) -> None:
    device, secret = services.register_device(
        school=school, name="Face 1", kind="face_terminal", door=main_door, serial_number=SERIAL
    )
    Link.objects.create(device=device, protocol="hikvision")
    state = tmp_path / "terminal.json"
    person = str(pupil.person_id)
    state.write_text(json.dumps({"users": {person: {"name": "Әлия С."}}}))
    out = io.StringIO()

    call_command(
        "simulate_device",
        protocol="hikvision",
        server=live_server.url,
        serial=SERIAL,
        secret=secret,
        listen="127.0.0.1:0",
        passes=3,
        rate=0,
        reboot=True,
        polls=0,
        state=str(state),
        stdout=out,
    )

    assert "rebooted, pushed again -> [200, 200, 200]" in out.getvalue()
    events = AccessEvent.objects.filter(device=device).order_by("record_no")
    assert [e.record_no for e in events] == ["hik:1", "hik:2", "hik:3"]
    assert all(e.credential_kind == "face" for e in events)
    assert json.loads(state.read_text())["serial_no"] == 3  # kept across restarts

    # A terminal nobody registered yet: refused, and waiting for a school admin.
    with HikvisionTerminal(
        serial="DS-NEW-0001", push_url=f"{live_server.url}/isapi/DS-NEW-0001/{'0' * 32}/events"
    ) as stranger:
        assert stranger.heartbeat() == 403
    assert PendingTerminal.objects.get().serial_number == "DS-NEW-0001"


@pytest.mark.django_db
def test_hikvision_push_sends_the_queued_commands(school: Any, main_door: Any, pupil: Any) -> None:
    with HikvisionTerminal(serial=SERIAL) as terminal:
        device, _secret = services.register_device(
            school=school, name="Face 1", kind="face_terminal", door=main_door, serial_number=SERIAL
        )
        Link.objects.create(
            device=device,
            protocol="hikvision",
            address=terminal.address,
            username="admin",
            password=DEFAULT_PASSWORD,
        )
        pin = str(pupil.person_id)
        queue.enqueue(
            device, Command.Kind.USER_UPSERT, {"pin": pin, "name": "Әлия Сейтқали", "card": "777"}
        )
        out = io.StringIO()
        call_command("hikvision_push", stdout=out)
    assert terminal.users[pin]["name"] == "Әлия Сейтқали" and terminal.cards == {"777": pin}
    assert f"{SERIAL}: 1 done, 0 failed" in out.getvalue()
