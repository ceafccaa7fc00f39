"""ZKTeco PUSH (ADMS/iclock) on the wire: what terminals send, parsed; what we answer,
rendered. No database here: the views call these and the services.

Two dialects. The attendance dialect ("att", push 2.x) uploads positional ATTLOG lines
and takes ``USERINFO`` commands; the security/access dialect ("acc", push 3.x,
``DeviceType=acc``) registers, uploads ``key=value`` rtlog lines and takes ``user`` /
``userauthorize`` / ``biophoto`` commands. Terminals keep Almaty local time, without a
zone, in every timestamp.
"""

from __future__ import annotations

import base64
import datetime as dt
import re
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

ACC = "acc"
ATT = "att"

# --- reading -------------------------------------------------------------------------

_TIME_FORMATS = ("%Y-%m-%d %H:%M:%S", "%Y-%m-%dT%H:%M:%S", "%Y/%m/%d %H:%M:%S")
MAX_PIN = 24  # devices.Enrolment.pin


def lines_of(body: bytes) -> list[str]:
    """The non-empty lines of an upload (devices use LF or CRLF; names are UTF-8)."""
    # No NUL goes further: PostgreSQL keeps none in text, and a terminal would re-send a
    # refused body forever.
    text = body.decode("utf-8", errors="replace").replace("\x00", "")
    return [line for line in text.replace("\r\n", "\n").replace("\r", "\n").split("\n") if line]


def parse_time(text: str) -> dt.datetime | None:
    """A terminal's local time, naive (it is Almaty time), or None if it is not one."""
    text = text.strip()
    for layout in _TIME_FORMATS:
        try:
            return dt.datetime.strptime(text, layout)  # terminals keep local time
        except ValueError:
            continue
    return None


def key_values(line: str) -> dict[str, str]:
    """``key=value`` fields separated by tabs (rtlog, rtstate, OPERLOG USER, ...).
    Keys are matched without regard to case: firmwares differ."""
    fields: dict[str, str] = {}
    for part in line.split("\t"):
        key, sep, value = part.partition("=")
        key = key.strip()
        if sep and key:
            fields[key.lower()] = value.strip()
    return fields


def device_info(text: str) -> dict[str, str]:
    """What a terminal tells about itself: ``~DeviceName=..,FirmVer=..,~MaxUserCount=..``
    separated by commas, tabs or new lines (a comma inside a value stays in it)."""
    info: dict[str, str] = {}
    last = ""
    for piece in re.split(r"[\t\r\n]+", text.replace("\x00", "")):
        for token in piece.split(","):
            key, sep, value = token.partition("=")
            if sep and re.fullmatch(r"~?[A-Za-z][\w.~-]{0,63}", key.strip()):
                last = key.strip()
                info[last] = value.strip()
            elif last and token:
                info[last] += "," + token
    return info


def is_pin(text: str) -> bool:
    return 0 < len(text) <= MAX_PIN and text.isascii() and text.isalnum()


def person_of(pin: str) -> int | None:
    """The person a terminal's user is: device sync writes ``str(person.pk)`` as the pin."""
    if pin.isascii() and pin.isdecimal() and 0 < len(pin) < 19 and int(pin) > 0:
        return int(pin)
    return None


def card_of(cardno: str) -> str | None:
    """A card number as the terminal reports it (decimal); None for "no card" (0/empty)."""
    cardno = cardno.strip()
    if not cardno or cardno.strip("0") == "":
        return None
    return cardno[:64]


# verifytype / Verify codes of both dialects (the ones that name the credential).
VERIFY_KINDS = {"1": "fingerprint", "3": "pin", "4": "card", "15": "face"}


# A malformed line: its number in the body (from 1) and the field that failed. Never the
# line itself: it holds names, pins and card numbers, which stay out of the logs.
Bad = tuple[int, str]


@dataclass
class Parsed:
    """An upload split into events for ``access.ingest`` and what is not a pass."""

    events: list[dict[str, Any]] = field(default_factory=list)
    line_nos: list[int] = field(default_factory=list)  # the line of each event
    status: list[dict[str, str]] = field(default_factory=list)  # device events, alarms
    bad: list[Bad] = field(default_factory=list)
    # (record index or None, the terminal's local time) of every well-formed line, for
    # measuring the terminal's clock.
    stamps: list[tuple[int | None, dt.datetime]] = field(default_factory=list)

    @property
    def lines(self) -> int:
        return len(self.events) + len(self.status) + len(self.bad)


def parse_attlog(body: bytes) -> Parsed:
    """``PIN\\tYYYY-MM-DD HH:MM:SS\\tStatus\\tVerify\\tWorkcode\\t...`` (attendance dialect).

    The terminal has no record number of its own here; a pass is named by its holder and
    time (``att:<pin>:<time>``), which is what it re-sends after a reboot. Status 0 is
    check-in, 1 check-out; the others (breaks, overtime) take the device's direction.
    """
    parsed = Parsed()
    for number, line in enumerate(lines_of(body), 1):
        parts = [part.strip() for part in line.split("\t")]
        moment = parse_time(parts[1]) if len(parts) > 1 else None
        if not is_pin(parts[0]):
            parsed.bad.append((number, "pin"))
            continue
        if moment is None:
            parsed.bad.append((number, "time"))
            continue
        parsed.stamps.append((None, moment))
        parsed.line_nos.append(number)
        pin = parts[0]
        status = parts[2] if len(parts) > 2 else ""
        verify = parts[3] if len(parts) > 3 else ""
        stamp = moment.isoformat()
        parsed.events.append(
            {
                "record_no": f"att:{pin}:{stamp}",
                "time": stamp,
                "direction": {"0": "in", "1": "out"}.get(status),
                "door": None,
                "credential_kind": VERIFY_KINDS.get(verify),
                "credential": None,
                "person": person_of(pin),
                "allowed": True,
                "reason": "ok",
            }
        )
    return parsed


# rtlog event codes (security dialect). 0-19 and 200-253 are normal events, 20-99
# denials, 100-199 alarms. Only the normal events that are a person passing become
# passes; the others (door opened/closed, exit button, device start, remote open...)
# are the door's state, kept as device status.
PASS_EVENTS = frozenset({0, 1, 2, 3, 5, 14, 15, 16, 17, 18, 19, 203})
# Denials that mean what one of our own reasons means are stored as that reason (the
# portal shows and counts them the same way); the rest as ``zk_<code>``.
DENIAL_REASONS = {
    21: "outside_hours",  # door inactive time zone
    22: "outside_hours",  # illegal time period
    23: "no_access_here",  # access denied (illegal access)
    24: "anti_passback",
    27: "unknown_credential",  # card not registered
    29: "credential_not_valid_now",  # user expired
    30: "invalid_credential",  # password error
    44: "zk_background_failed",
    45: "zk_background_timeout",
}


BACKGROUND_DENIALS = frozenset({44, 45})


def auth_record_no(pin: str, card: str | None, moment: dt.datetime) -> str:
    """The record number of a background-verification refusal: holder and local time
    (``auth:<pin or card>:<YYYY-MM-DDTHH:MM:SS>``), the same whether it is stored when we
    refuse or when the terminal uploads its own denial (events 44/45)."""
    pin = pin.strip()
    holder = pin if is_pin(pin) and pin.strip("0") else (card or "")
    stamp = moment.replace(tzinfo=None, microsecond=0).isoformat()
    return f"auth:{clean(holder, limit=20)}:{stamp}"[:64]


def denial_reason(code: int) -> str:
    return DENIAL_REASONS.get(code, f"zk_{code}")


def parse_rtlog(body: bytes) -> Parsed:
    """``time=..\\tpin=..\\tcardno=..\\teventaddr=..\\tevent=..\\tinoutstatus=..\\t
    verifytype=..\\tindex=..`` (security dialect), parsed by key.

    ``index`` is the terminal's record number, stable across re-sends (``rt:<index>``).
    A pass or denial needs a holder: a pin or a card. Events without one (pin 0) and
    alarms are status.
    """
    parsed = Parsed()
    for number, line in enumerate(lines_of(body), 1):
        fields = key_values(line)
        moment = parse_time(fields.get("time", ""))
        index = fields.get("index", "")
        code_text = fields.get("event", "")
        if moment is None:
            parsed.bad.append((number, "time"))
            continue
        if not (index.isascii() and index.isdecimal() and len(index) <= 18):
            parsed.bad.append((number, "index"))
            continue
        if not (code_text.isascii() and code_text.isdecimal() and len(code_text) <= 4):
            parsed.bad.append((number, "event"))
            continue
        code = int(code_text)
        parsed.stamps.append((int(index), moment))
        pin = fields.get("pin", "").strip()
        card = card_of(fields.get("cardno", ""))
        person = person_of(pin)
        holder = person is not None or card is not None or (is_pin(pin) and pin.strip("0"))
        denial = 20 <= code <= 99
        if not holder or not (code in PASS_EVENTS or denial):
            parsed.status.append({**fields, "time": moment.isoformat()})
            continue
        stamp = moment.isoformat()
        kind = "card" if card else VERIFY_KINDS.get(fields.get("verifytype", ""))
        # The terminal's own record of a background verification we refused: named as
        # the refusal stored at verification time, so the two are one event.
        if code in BACKGROUND_DENIALS:
            record_no = auth_record_no(pin, card, moment)
        else:
            record_no = f"rt:{int(index)}"
        parsed.line_nos.append(number)
        parsed.events.append(
            {
                "record_no": record_no,
                "time": stamp,
                "direction": {"0": "in", "1": "out"}.get(fields.get("inoutstatus", "")),
                "door": None,
                "credential_kind": kind,
                "credential": card,
                "person": person,
                "allowed": not denial,
                "reason": denial_reason(code) if denial else "ok",
            }
        )
    return parsed


def is_alarm(status: dict[str, str]) -> bool:
    code = status.get("event", "")
    return code.isdecimal() and 100 <= int(code) <= 199


@dataclass
class OperLog:
    users: set[str] = field(default_factory=set)
    fingerprints: int = 0
    faces: int = 0
    operations: int = 0
    bad: list[Bad] = field(default_factory=list)


def parse_operlog(body: bytes) -> OperLog:
    """OPERLOG: ``USER PIN=..\\tName=..``, ``FP PIN=..``, ``FACE PIN=..``, ``BIOPHOTO``
    and ``OPLOG <code>\\t...`` lines: what the terminal holds and what its admin did.
    Never passes."""
    log = OperLog()
    for number, line in enumerate(lines_of(body), 1):
        head, _sep, rest = line.partition(" ")
        head = head.upper()
        if head == "USER":
            pin = key_values(rest).get("pin", "")
            if not is_pin(pin):
                log.bad.append((number, "pin"))
                continue
            log.users.add(pin)
        elif head == "FP":
            log.fingerprints += 1
        elif head in ("FACE", "BIOPHOTO", "BIODATA"):
            log.faces += 1
        elif head == "OPLOG":
            log.operations += 1
        else:
            log.bad.append((number, "kind"))
    return log


def table_rows(body: bytes, table: str) -> tuple[int, list[Bad]]:
    """Rows of a ``tabledata`` upload (``user uid=1\\tpin=1\\t...``): how many, and the
    malformed lines."""
    rows, bad = 0, []
    for number, line in enumerate(lines_of(body), 1):
        head, _sep, rest = line.partition(" ")
        if head.lower() == table.lower() and "=" in rest:
            rows += 1
        else:
            bad.append((number, "table"))
    return rows, bad


@dataclass(frozen=True)
class CommandResult:
    command_id: int
    return_code: int
    command: str


def parse_results(body: bytes) -> tuple[list[CommandResult], list[Bad], dict[str, str]]:
    """``ID=295&Return=0&CMD=DATA UPDATE`` lines (key case varies, several per body).

    Returns the results, the malformed lines, and any ``key=value`` lines some firmwares
    add after an INFO command (``UserCount=..``)."""
    results: list[CommandResult] = []
    bad: list[Bad] = []
    extra: dict[str, str] = {}
    for number, line in enumerate(lines_of(body), 1):
        if "&" not in line:
            key, sep, value = line.partition("=")
            if sep and re.fullmatch(r"~?[A-Za-z][\w~]{0,40}", key.strip()):
                extra[key.strip()] = value.strip()
            else:
                bad.append((number, "key"))
            continue
        fields = {}
        for part in line.split("&"):
            key, _sep, value = part.partition("=")
            fields[key.strip().lower()] = value.strip()
        raw_id, raw_return = fields.get("id", ""), fields.get("return", "")
        if not (raw_id.isascii() and raw_id.isdecimal() and 0 < len(raw_id) < 19):
            bad.append((number, "ID"))
            continue
        if not re.fullmatch(r"-?\d{1,9}", raw_return):
            bad.append((number, "Return"))
            continue
        results.append(CommandResult(int(raw_id), int(raw_return), fields.get("cmd", "")[:100]))
    return results, bad, extra


# --- writing -------------------------------------------------------------------------

_UNSAFE_CATEGORIES = {"Cc", "Cf", "Zl", "Zp", "Cs", "Co", "Cn"}


def clean(value: Any, *, limit: int = 64) -> str:
    """A value safe inside a command line: no TAB, CR, LF or any other control or format
    character (each would let a name start a field or a command of its own), trimmed."""
    text = "" if value is None else str(value)
    safe = "".join(" " if unicodedata.category(ch) in _UNSAFE_CATEGORIES else ch for ch in text)
    return " ".join(safe.split())[:limit]


def digits(value: Any, *, limit: int = 20) -> str:
    """A number field (card, pin as the device takes it): digits only, or empty."""
    text = clean(value, limit=limit)
    return text if text.isascii() and text.isdecimal() else ""


class Unrenderable(ValueError):
    """A command that cannot be sent as it is (a pin that is not one, a missing photo)."""


def zk_time(moment: dt.datetime | None) -> int:
    """ZKTeco's packed time (31-day months, 372-day years), 0 for "not set"."""
    if moment is None:
        return 0
    return (
        ((moment.year - 2000) * 12 * 31 + (moment.month - 1) * 31 + (moment.day - 1)) * 86400
        + moment.hour * 3600
        + moment.minute * 60
        + moment.second
    )


def _validity(value: Any, *, end: bool) -> int:
    if not value:
        return 0
    try:
        moment = dt.datetime.fromisoformat(str(value))
    except ValueError:
        return 0
    if len(str(value)) <= 10 and end:  # a date: the whole day
        moment = moment.replace(hour=23, minute=59, second=59)
    return max(0, zk_time(moment.replace(tzinfo=None)))


def door_mask(doors: Iterable[Any]) -> int:
    mask = 0
    for door in doors:
        if isinstance(door, int) and 1 <= door <= 16:
            mask |= 1 << (door - 1)
    return mask or 1


def render(
    kind: str, data: dict[str, Any], dialect: str, *, photo: bytes | None = None
) -> list[str]:
    """The command text(s) for one queued command, in the terminal's dialect, without the
    ``C:<id>:`` prefix. Every value is cleaned; a pin that is not one raises
    ``Unrenderable``."""
    pin = clean(data.get("pin"), limit=MAX_PIN)
    needs_pin = kind.startswith(("user.", "face."))
    if needs_pin and not is_pin(pin):
        raise Unrenderable(f"not a terminal pin: {pin!r}")
    card = digits(data.get("card"))
    name = clean(data.get("name"), limit=50)
    if kind == "user.upsert":
        if dialect == ACC:
            start = _validity(data.get("valid_from"), end=False)
            end = _validity(data.get("valid_until"), end=True)
            doors = data.get("doors") or [1]
            return [
                f"DATA UPDATE user CardNo={card}\tPin={pin}\tPassword=\tGroup=1\t"
                f"StartTime={start}\tEndTime={end}\tName={name}\tPrivilege=0",
                f"DATA UPDATE userauthorize Pin={pin}\tAuthorizeTimezoneId=1\t"
                f"AuthorizeDoorId={door_mask(doors if isinstance(doors, list) else [1])}",
            ]
        return [f"DATA UPDATE USERINFO PIN={pin}\tName={name}\tPri=0\tCard={card}"]
    if kind == "user.delete":
        if dialect == ACC:
            return [f"DATA DELETE userauthorize Pin={pin}", f"DATA DELETE user Pin={pin}"]
        return [f"DATA DELETE USERINFO PIN={pin}"]
    if kind == "face.upsert":
        if not photo:
            raise Unrenderable("no photo on file")
        content = base64.b64encode(photo).decode("ascii")
        table = "biophoto" if dialect == ACC else "BIOPHOTO"
        return [
            f"DATA UPDATE {table} PIN={pin}\tType=9\tSize={len(content)}\t"
            f"Content={content}\tFormat=0"
        ]
    if kind == "face.delete":
        # The photo and the template the terminal made of it: both go.
        if dialect == ACC:
            return [f"DATA DELETE biophoto PIN={pin}", f"DATA DELETE biodata Pin={pin}\tType=9"]
        return [f"DATA DELETE BIOPHOTO PIN={pin}", f"DATA DELETE BIODATA PIN={pin}\tType=9"]
    if kind == "door.open":
        door = _bounded(data.get("door"), 1, 1, 16)
        seconds = _bounded(data.get("seconds"), 5, 1, 99)
        if dialect == ACC:
            return [f"CONTROL DEVICE 01{door:02d}01{seconds:02d}"]
        return ["AC_UNLOCK"]
    if kind == "device.reboot":
        return ["CONTROL DEVICE 03000000"] if dialect == ACC else ["REBOOT"]
    if kind == "device.query_users":
        if dialect == ACC:
            return ["DATA QUERY tablename=user,fielddesc=*,filter=*"]
        return ["INFO"]
    raise Unrenderable(f"unknown command kind {kind!r}")


def _bounded(value: Any, default: int, low: int, high: int) -> int:
    return min(high, max(low, value)) if isinstance(value, int) else default


def command_lines(command_id: int, texts: Iterable[str]) -> str:
    return "".join(f"C:{command_id}:{text}\n" for text in texts)


def att_options(serial: str, *, stamps: dict[str, str] | None = None) -> str:
    """The first reply of the attendance dialect (``GET cdata?options=all``)."""
    stamps = stamps or {}
    lines = [
        f"GET OPTION FROM: {clean(serial, limit=100)}",
        f"ATTLOGStamp={stamps.get('ATTLOGStamp', 'None')}",
        f"OPERLOGStamp={stamps.get('OPERLOGStamp', '9999')}",
        "ATTPHOTOStamp=None",
        "ErrorDelay=30",
        "Delay=10",
        "TransTimes=00:00;14:05",
        "TransInterval=1",
        "TransFlag=TransData AttLog OpLog EnrollUser ChgUser",
        "TimeZone=5",
        "Realtime=1",
        "Encrypt=None",
        "ServerVer=3.1.2",
        "PushProtVer=2.4.1",
    ]
    return "\n".join(lines) + "\n"


def acc_registry(registry_code: str) -> str:
    return f"RegistryCode={registry_code}\n"


def acc_config(session_id: str, *, request_delay: int = 2) -> str:
    """The reply to ``push``: how the access dialect should talk to us."""
    lines = [
        "ServerVersion=3.1.2",
        "ServerName=ADMS",
        "PushProtVer=3.1.2",
        "ErrorDelay=30",
        f"RequestDelay={request_delay}",
        "TransTimes=00:00\t14:00",
        "TransInterval=1",
        "TransTables=User\tTransaction",
        "Realtime=1",
        f"SessionID={session_id}",
        "TimeoutSec=10",
        "TimeZone=5",
    ]
    return "\n".join(lines) + "\n"
