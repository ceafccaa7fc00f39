"""A terminal speaking Kezekshi's own signed JSON API, against a server or an edge gateway.

    manage.py simulate_device --protocol native --server http://127.0.0.1:8800 \
        --device-id 17 --secret ... --passes 50 --rate 5 --reboot

Each pass asks ``/api/v1/access/decide`` with the terminal's own record number (so it is
recorded with the answer) and is kept in the terminal's log; the log is then reported in
``/api/v1/access/events`` batches of at most 1,000, as a terminal does after being
offline. ``--reboot`` sends the whole log again, as terminals do after a restart: the
server stores nothing twice and answers with the same event ids. Tests drive
``NativeTerminal`` directly.
"""

from __future__ import annotations

import datetime as dt
import time
from dataclasses import dataclass, field
from typing import Any, TextIO
from zoneinfo import ZoneInfo

from kezekshi.edge.uploader import Server

ALMATY = ZoneInfo("Asia/Almaty")
MAX_BATCH = 1000


@dataclass
class Record:
    record_no: str
    time: str
    credential: str
    direction: str
    allowed: bool
    reason: str


@dataclass
class NativeTerminal:
    """One simulated terminal: ``present`` a card, ``report`` its log, ``reboot``."""

    server: str
    device_id: int
    secret: str
    cards: list[str] = field(default_factory=lambda: ["123,45678"])
    log: list[Record] = field(default_factory=list)
    boots: int = 0
    # Record numbers run on across runs of the simulator, as a terminal's counter does.
    series: str = field(default_factory=lambda: str(int(time.time())))

    def __post_init__(self) -> None:
        self.client = Server(self.server, self.device_id, self.secret, timeout=15.0)

    def present(
        self, credential: str, *, direction: str = "in", at: dt.datetime | None = None
    ) -> dict[str, Any]:
        """A card at the reader: the decision, recorded under the terminal's next record number."""
        moment = (at or dt.datetime.now(ALMATY)).astimezone(ALMATY).isoformat(timespec="seconds")
        record_no = f"{self.series}-{len(self.log) + 1}"
        status, answer = self.client.request(
            "POST",
            "/api/v1/access/decide",
            {
                "credential": credential,
                "direction": direction,
                "time": moment,
                "record_no": record_no,
            },
        )
        if status != 200:
            raise RuntimeError(f"decide answered {status}: {answer}")
        self.log.append(
            Record(record_no, moment, credential, direction, answer["allowed"], answer["reason"])
        )
        return answer  # type: ignore[no-any-return]

    def report(self) -> list[dict[str, Any]]:
        """Send the whole log in batches; the results of every event, in order."""
        results: list[dict[str, Any]] = []
        for start in range(0, len(self.log), MAX_BATCH):
            events = [
                {"record_no": r.record_no, "time": r.time, "credential_kind": "card",
                 "credential": r.credential, "direction": r.direction, "allowed": r.allowed,
                 "reason": r.reason}
                for r in self.log[start : start + MAX_BATCH]
            ]  # fmt: skip
            status, answer = self.client.request(
                "POST", "/api/v1/access/events", {"events": events}
            )
            if status != 200:
                raise RuntimeError(f"events answered {status}: {answer}")
            results += answer["results"]
        return results

    def state(self) -> dict[str, Any]:
        status, answer = self.client.request("GET", "/api/v1/access/state")
        if status != 200:
            raise RuntimeError(f"state answered {status}: {answer}")
        return answer  # type: ignore[no-any-return]

    def reboot(self) -> None:
        """A restart: the connection drops; the log (the terminal's flash) stays."""
        self.client.close()
        self.boots += 1


def run(options: dict[str, Any], out: TextIO) -> None:
    """The management command's entry point (see the module's docstring)."""
    if not options.get("device_id") or not options.get("secret"):
        raise SystemExit("native: give --device-id and --secret")
    terminal = NativeTerminal(
        server=options["server"],
        device_id=int(options["device_id"]),
        secret=options["secret"],
        cards=list(options.get("cards") or ["123,45678"]),
    )
    mode = terminal.state()
    out.write(f"native: device {terminal.device_id}, school mode {mode['mode']}\n")
    pause = 1.0 / options["rate"] if options.get("rate") else 0.0
    allowed = 0
    for n in range(int(options.get("passes") or 0)):
        answer = terminal.present(
            terminal.cards[n % len(terminal.cards)], direction="in" if n % 2 == 0 else "out"
        )
        allowed += bool(answer["allowed"])
        if pause:
            time.sleep(pause)
    out.write(f"native: {len(terminal.log)} passes, {allowed} allowed\n")
    first = terminal.report()
    out.write(f"native: reported {len(first)} records\n")
    if options.get("reboot"):
        terminal.reboot()
        again = terminal.report()
        same = [r.get("event_id") for r in again] == [r.get("event_id") for r in first]
        out.write(f"native: after a reboot re-sent {len(again)} records, same answers: {same}\n")
