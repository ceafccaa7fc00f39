"""The ZKTeco simulator against a live server, end to end: approval, handshake, commands
applied to the terminal's own table, passes uploaded, a reboot that sends them again."""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

import pytest
from django.core.management import call_command

from kezekshi.access.models import AccessEvent
from kezekshi.devices import queue
from kezekshi.devices.models import Command, Link
from kezekshi.devices.simulator.zkteco import ZktecoTerminal
from kezekshi.devices.tests.conftest import bind_terminal
from kezekshi.devices.zkteco import services


@pytest.mark.parametrize("protocol", ["zkteco-acc", "zkteco-att"])
def test_the_simulator_end_to_end(
    live_server: Any, school: Any, main_door: Any, pupil: Any, tmp_path: Path, protocol: str
) -> None:
    serial = f"SIM{protocol[-3:].upper()}0001"
    out = io.StringIO()
    waiting = ZktecoTerminal(live_server.url, serial, protocol[-3:], out=out)
    assert waiting.handshake() is False  # not approved yet
    terminal = bind_terminal(school=school, door=main_door, serial=serial, protocol=protocol)
    services.forget_seen()
    pin = str(pupil.person_id)
    upsert = queue.enqueue(terminal.device, "user.upsert", {"pin": pin, "name": "Әлия С.",
                           "card": "8106606"}, person_id=pupil.person_id)  # fmt: skip
    state = tmp_path / "zk.json"
    options = {
        "protocol": protocol, "server": live_server.url, "serial": serial, "polls": 2,
        "passes": 3, "rate": 0, "reboot": True, "state": str(state),
    }  # fmt: skip
    call_command("simulate_device", *_argv(options), stdout=out)
    upsert.refresh_from_db()
    assert upsert.status == Command.Status.DONE
    held = json.loads(state.read_text(encoding="utf-8"))
    assert held["users"][pin]["name"] == "Әлия С."
    events = list(AccessEvent.objects.filter(device=terminal.device).order_by("occurred_at"))
    # Three passes, sent again after the reboot, are three events.
    assert [e.direction for e in events] == ["in", "out", "in"]
    if protocol == "zkteco-acc":
        assert [e.record_no for e in events] == ["rt:1", "rt:2", "rt:3"]
    assert {e.person_id for e in events} == {pupil.person_id}
    assert "re-sent" in out.getvalue()
    link = Link.objects.get(device=terminal.device)
    assert link.push_version


def _argv(options: dict[str, Any]) -> list[str]:
    argv = ["--protocol", options["protocol"], "--server", options["server"],
            "--serial", options["serial"], "--polls", str(options["polls"]),
            "--passes", str(options["passes"]), "--rate", str(options["rate"]),
            "--state", options["state"]]  # fmt: skip
    return [*argv, "--reboot"] if options["reboot"] else argv
