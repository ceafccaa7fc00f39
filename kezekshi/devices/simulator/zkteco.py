"""A ZKTeco terminal over real HTTP (urllib), in either dialect.

    manage.py simulate_device --protocol zkteco-acc --server http://127.0.0.1:8000 \
        --serial DEMO0001 --polls 3 --passes 20 --rate 5 --reboot --state /tmp/zk.json

It does what the firmware does: the handshake of its dialect (attendance: ``GET
cdata?options=all``; access: ``registry`` then ``push``, and the cookie token after),
polls ``getrequest``, applies the commands to its own user table and answers them on
``devicecmd``, uploads passes of the users it holds (rtlog or ATTLOG) and, after a
simulated reboot, sends its recent records again. Tests drive ``ZktecoTerminal``
directly; ``run`` is the management command's entry point.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any, TextIO
from urllib.parse import urlencode
from zoneinfo import ZoneInfo

ALMATY = ZoneInfo("Asia/Almaty")
RECENT = 200  # records a terminal keeps to send again after a reboot


def _fields(text: str) -> dict[str, str]:
    fields = {}
    for part in text.split("\t"):
        key, sep, value = part.partition("=")
        if sep:
            fields[key.strip().lower()] = value
    return fields


class ZktecoTerminal:
    """One simulated terminal: ``handshake``, ``poll``, ``pass_``, ``reboot``."""

    def __init__(
        self,
        server: str,
        serial: str,
        dialect: str = "acc",
        *,
        state_path: str | None = None,
        out: TextIO | None = None,
        timeout: float = 15.0,
    ) -> None:
        if dialect not in ("acc", "att"):
            raise ValueError("dialect is acc or att")
        self.base = server.rstrip("/")
        self.serial = serial
        self.dialect = dialect
        self.timeout = timeout
        self.out = out
        self.state_path = Path(state_path) if state_path else None
        self.users: dict[str, dict[str, Any]] = {}
        self.recent: list[str] = []  # lines uploaded, newest last
        self.unsent: list[str] = []  # lines not yet acknowledged
        self.next_index = 1
        self.registry_code = ""
        self.session_id = ""
        self.handled: list[tuple[int, str, int]] = []  # (command id, text, return code)
        self._last_at: dt.datetime | None = None
        self._load()

    # --- state ----------------------------------------------------------------------

    def _load(self) -> None:
        if self.state_path is None or not self.state_path.exists():
            return
        state = json.loads(self.state_path.read_text(encoding="utf-8"))
        self.users = state.get("users", {})
        self.recent = state.get("recent", [])
        self.unsent = state.get("unsent", [])
        self.next_index = int(state.get("next_index", 1))
        self.registry_code = str(state.get("registry_code", ""))
        self.session_id = str(state.get("session_id", ""))

    def save(self) -> None:
        if self.state_path is None:
            return
        state = {
            "serial": self.serial,
            "dialect": self.dialect,
            "users": self.users,
            "recent": self.recent[-RECENT:],
            "unsent": self.unsent,
            "next_index": self.next_index,
            "registry_code": self.registry_code,
            "session_id": self.session_id,
        }
        self.state_path.write_text(json.dumps(state, ensure_ascii=False, indent=1), "utf-8")

    def say(self, text: str) -> None:
        if self.out is not None:
            self.out.write(f"[{self.serial}] {text}\n")

    # --- HTTP -----------------------------------------------------------------------

    def request(self, method: str, endpoint: str, body: str = "", **params: str) -> tuple[int, str]:
        url = f"{self.base}/iclock/{endpoint}?{urlencode({'SN': self.serial, **params})}"
        headers = {"Content-Type": "text/plain", "User-Agent": "iClock Proxy/1.09"}
        if self.dialect == "acc" and self.registry_code and self.session_id:
            token = hashlib.md5(
                f"{self.registry_code}{self.serial}{self.session_id}".encode(),
                usedforsecurity=False,
            ).hexdigest()
            headers["Cookie"] = f"token={token}"
        data = body.encode("utf-8") if method == "POST" else None
        call = urllib.request.Request(url, data=data, method=method, headers=headers)  # noqa: S310
        try:
            with urllib.request.urlopen(call, timeout=self.timeout) as answer:  # noqa: S310
                return int(answer.status), answer.read().decode("utf-8", "replace")
        except urllib.error.HTTPError as refused:
            return int(refused.code), refused.read().decode("utf-8", "replace")

    # --- the protocol ---------------------------------------------------------------

    def handshake(self) -> bool:
        """First contact; False while the server does not know this terminal."""
        if self.dialect == "att":
            status, text = self.request(
                "GET", "cdata", options="all", pushver="2.4.1", language="69"
            )
            self.say(f"options: {status} {text.splitlines()[:1]}")
            return status == 200
        info = (
            "DeviceType=acc,~DeviceName=Kezekshi-Sim,FirmVer=SIM-1.0,PushVersion=3.1.2,"
            f"~MaxUserCount=3000,~MaxFaceCount=3000,UserCount={len(self.users)},"
            f"FaceCount={sum(1 for u in self.users.values() if u.get('face'))}"
        )
        # A paired terminal keeps its registry code and session (in its state) and
        # shows its token when it registers again; only the first handshake goes without.
        status, text = self.request("POST", "registry", info, pushver="3.1.2")
        if status != 200:
            self.say(f"registry refused: {status} {text.strip()}")
            return False
        self.registry_code = text.strip().partition("RegistryCode=")[2].splitlines()[0]
        status, text = self.request("POST", "push", "")
        if status != 200:
            self.say(f"push refused: {status} {text.strip()}")
            return False
        for line in text.splitlines():
            if line.startswith("SessionID="):
                self.session_id = line[len("SessionID=") :].strip()
        self.say(f"registered (code {self.registry_code}), session {self.session_id[:8]}…")
        return status == 200

    def poll(self) -> list[tuple[int, str, int]]:
        """One ``getrequest``: apply each command, answer them all on ``devicecmd``."""
        status, text = self.request("GET", "getrequest")
        if status != 200:
            self.say(f"poll refused: {status} {text.strip()}")
            return []
        done: list[tuple[int, str, int]] = []
        for line in text.splitlines():
            if not line.startswith("C:"):
                continue
            _c, command_id, command = line.split(":", 2)
            code = self.apply(command)
            done.append((int(command_id), command, code))
        if done:
            body = "".join(
                f"ID={command_id}&Return={code}&CMD={' '.join(command.split(' ')[:2])}\n"
                for command_id, command, code in done
            )
            self.request("POST", "devicecmd", body)
            self.handled += done
            self.say(f"applied {len(done)} command(s); holds {len(self.users)} user(s)")
        self.save()
        return done

    def apply(self, command: str) -> int:
        """What the firmware does with one command; the return code it reports."""
        words = command.split(" ", 3)
        head = " ".join(words[:3]).upper()
        fields = _fields(words[3]) if len(words) > 3 else {}
        pin = fields.get("pin", "")
        if head in ("DATA UPDATE USER", "DATA UPDATE USERINFO"):
            if not pin:
                return -1002
            card = fields.get("cardno", fields.get("card", ""))
            self.users[pin] = {**self.users.get(pin, {}), "name": fields.get("name", ""),
                               "card": card}  # fmt: skip
            return 0
        if head == "DATA UPDATE USERAUTHORIZE":
            return 0 if pin in self.users else -1002
        if head in ("DATA DELETE USER", "DATA DELETE USERINFO"):
            self.users.pop(pin, None)
            return 0
        if head == "DATA DELETE USERAUTHORIZE":
            return 0
        if head == "DATA UPDATE BIOPHOTO":
            if pin not in self.users or not fields.get("content"):
                return -1002
            self.users[pin]["face"] = True
            return 0
        if head in ("DATA DELETE BIOPHOTO", "DATA DELETE BIODATA"):
            if pin in self.users:
                self.users[pin]["face"] = False
            return 0
        if head == "DATA QUERY TABLENAME=USER,FIELDDESC=*,FILTER=*" or command.startswith(
            "DATA QUERY tablename=user"
        ):
            rows = "".join(
                f"user uid={n}\tcardno={u.get('card', '')}\tpin={pin_}\tname={u.get('name', '')}\n"
                for n, (pin_, u) in enumerate(sorted(self.users.items()), 1)
            )
            self.request("POST", "querydata", rows, type="tabledata", tablename="user",
                         count=str(len(self.users)), packcnt="1", packidx="1")  # fmt: skip
            return 0
        if command.startswith(("CONTROL DEVICE", "AC_UNLOCK", "REBOOT", "INFO")):
            return 0
        return -1004

    def line_for(self, pin: str, *, direction: str, at: dt.datetime) -> str:
        stamp = at.astimezone(ALMATY).strftime("%Y-%m-%d %H:%M:%S")
        status = "0" if direction == "in" else "1"
        user = self.users.get(pin, {})
        if self.dialect == "att":
            verify = "15" if user.get("face") else "4"
            return f"{pin}\t{stamp}\t{status}\t{verify}\t0\t0\t0"
        index = self.next_index
        self.next_index += 1
        card = user.get("card") or "0"
        verify = "4" if card != "0" else "15"
        return (
            f"time={stamp}\tpin={pin}\tcardno={card}\teventaddr=1\tevent=0\t"
            f"inoutstatus={status}\tverifytype={verify}\tindex={index}"
        )

    def pass_(self, pin: str, *, direction: str = "in", at: dt.datetime | None = None) -> bool:
        """A person passes; the record is uploaded at once (Realtime=1)."""
        moment = (at or dt.datetime.now(ALMATY)).replace(microsecond=0)
        if at is None and self._last_at is not None and moment <= self._last_at:
            # Two passes within a second: a turnstile takes longer than that.
            moment = self._last_at + dt.timedelta(seconds=1)
        self._last_at = moment
        self.unsent.append(self.line_for(pin, direction=direction, at=moment))
        return self.upload()

    def upload(self) -> bool:
        """Send what is not yet acknowledged; keep it on a refusal or error."""
        if not self.unsent:
            return True
        table = "rtlog" if self.dialect == "acc" else "ATTLOG"
        body = "".join(f"{line}\n" for line in self.unsent)
        try:
            status, text = self.request("POST", "cdata", body, table=table, Stamp="9999")
        except OSError as exc:
            self.say(f"upload failed: {exc}; kept {len(self.unsent)} record(s)")
            return False
        if status == 200 and text.startswith("OK"):
            self.recent = (self.recent + self.unsent)[-RECENT:]
            self.unsent = []
            return True
        self.say(f"upload not acknowledged: {status} {text.strip()[:80]}")
        return False

    def reboot(self) -> bool:
        """Restart: handshake again and send the recent records once more."""
        self.say("rebooting")
        if not self.handshake():
            return False
        self.unsent = self.recent[-RECENT:] + self.unsent
        sent = len(self.unsent)
        ok = self.upload()
        self.say(f"re-sent {sent} record(s) after the reboot: {'OK' if ok else 'refused'}")
        self.save()
        return ok


def run(options: dict[str, Any], out: Any) -> None:
    """``simulate_device --protocol zkteco-acc|zkteco-att``: handshake, ``--polls``
    command polls, ``--passes`` passes of the users held at ``--rate`` per second, and
    with ``--reboot`` a reboot that re-sends the recent records."""
    dialect = "acc" if options["protocol"] == "zkteco-acc" else "att"
    terminal = ZktecoTerminal(
        options["server"], options["serial"], dialect, state_path=options.get("state"), out=out
    )
    if not terminal.handshake():
        out.write("The server does not know this terminal yet: approve it in the portal.\n")
        return
    for _ in range(max(0, int(options.get("polls") or 0))):
        terminal.poll()
    pins = sorted(terminal.users)
    passes = int(options.get("passes") or 0)
    rate = float(options.get("rate") or 0)
    if passes and not pins:
        out.write("No users on this terminal yet: nothing to pass.\n")
    elif passes:
        inside: set[str] = set()
        uploaded = 0
        for number in range(passes):
            pin = pins[number % len(pins)]
            direction = "out" if pin in inside else "in"
            inside.symmetric_difference_update({pin})
            uploaded += terminal.pass_(pin, direction=direction)
            if rate > 0:
                time.sleep(1 / rate)
        out.write(f"[{terminal.serial}] {passes} pass(es), {uploaded} acknowledged at once\n")
    if options.get("reboot"):
        terminal.reboot()
    terminal.save()
