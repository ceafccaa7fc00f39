"""What the ZKTeco adapter writes: terminals waiting for approval, what a terminal tells
about itself, its uploads (through ``access.ingest``), background verification and the
command queue in its dialect.

Every function here is safe to repeat: terminals re-send whatever they did not see
acknowledged, after timeouts and reboots.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import hashlib
import hmac
import logging
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any
from zoneinfo import ZoneInfo

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import F
from django.utils import timezone
from django.utils.translation import gettext as _

from kezekshi.access import decisions, services
from kezekshi.access.credentials import school_key
from kezekshi.access.ingest import EARLIEST, MAX_BATCH, aware, ingest
from kezekshi.access.models import AccessEvent, Credential, Device
from kezekshi.devices import queue, sync
from kezekshi.devices.models import Command, Link, PendingTerminal, Protocol
from kezekshi.devices.zkteco import protocol
from kezekshi.people.models import Person
from kezekshi.privacy.services import biometric_state

logger = logging.getLogger("kezekshi.devices.zkteco")

DIALECTS = {Protocol.ZKTECO_ACC: protocol.ACC, Protocol.ZKTECO_ATT: protocol.ATT}
LAST_SEEN_EVERY = 5.0  # seconds between two writes of a terminal's last_seen_at
MAX_PHOTO = 1024 * 1024  # bytes of a face photo a terminal is sent (as for Hikvision)
# Clock: a realtime upload carries one or a few lines; more is a backlog, too late to
# tell the time by. Samples older than the window are forgotten.
PROMPT_LINES = 5
SKEW_WINDOW = dt.timedelta(minutes=15)
SKEW_SAMPLES = 8
MAX_SKEW = 10 * 366 * 86400  # seconds; Device.clock_skew_seconds is a 32-bit integer
AUTH_MATCH = 2  # seconds between our refusal and the terminal's own record of it
_seen: dict[int, float] = {}
_seen_lock = threading.Lock()


@dataclass
class Terminal:
    device: Device
    link: Link

    @property
    def dialect(self) -> str:
        return DIALECTS[Protocol(self.link.protocol)]

    @property
    def serial(self) -> str:
        return self.device.serial_number


def find_terminal(serial: str) -> Device | None:
    """The device bound to ``serial`` through a ZKTeco link (with its link and school)."""
    return (
        Device.objects.filter(serial_number=serial, link__protocol__in=list(DIALECTS))
        .select_related("link", "school")
        .order_by("pk")
        .first()
    )


def guess_protocol(*, path: str, params: dict[str, str]) -> str:
    """Which dialect an unknown terminal speaks: registry/push, ``DeviceType=acc`` or a
    push version of 3 and up mean the access dialect."""
    version = params.get("pushver", "").strip()
    major = version.split(".", 1)[0]
    if (
        path in ("registry", "push")
        or params.get("DeviceType", "").lower() == "acc"
        or (major.isdecimal() and int(major) >= 3)
    ):
        return Protocol.ZKTECO_ACC
    return Protocol.ZKTECO_ATT


def note_unknown(
    *, serial: str, protocol_name: str, remote_addr: str | None, info: dict[str, str]
) -> None:
    """Put an unknown terminal in the waiting list (or count one more contact of it).

    Idempotent by serial number; what it told about itself is merged into ``info``."""
    info = {key[:64]: value[:200] for key, value in list(info.items())[:60]}
    for _attempt in range(2):
        row = PendingTerminal.objects.filter(serial_number=serial).first()
        if row is None:
            try:
                with transaction.atomic():
                    PendingTerminal.objects.create(
                        serial_number=serial,
                        protocol=protocol_name,
                        remote_addr=remote_addr,
                        info=info,
                    )
                return
            except IntegrityError:
                continue  # another request of the same terminal created it
        PendingTerminal.objects.filter(pk=row.pk).update(
            contacts=F("contacts") + 1,
            protocol=protocol_name,
            remote_addr=remote_addr,
            info={**row.info, **info},
            last_seen_at=timezone.now(),
        )
        return


def touch(device: Device) -> None:
    """Mark the terminal seen; written at most once per ``LAST_SEEN_EVERY`` seconds."""
    now = time.monotonic()
    last = _seen.get(device.pk)
    if last is not None and now - last < LAST_SEEN_EVERY:
        return
    with _seen_lock:
        _seen[device.pk] = now
    Device.objects.filter(pk=device.pk).update(last_seen_at=timezone.now())


def forget_seen() -> None:
    with _seen_lock:
        _seen.clear()


Merge = Callable[[dict[str, Any]], dict[str, Any]]


def update_link(link: Link, merge: Merge | None = None, **fields: Any) -> None:
    """Write some fields of a link; ``merge`` gets its current options and returns the
    keys to change in them. The options are read under a row lock in a short
    transaction, so a poll and an upload of the same terminal at once keep each other's
    keys (the row is never written back whole from what a request read earlier)."""
    if merge is None:
        if fields:
            Link.objects.filter(pk=link.pk).update(**fields)
    else:
        with transaction.atomic():
            current = (
                Link.objects.select_for_update().values_list("options", flat=True).get(pk=link.pk)
            )
            current = current if isinstance(current, dict) else {}
            changes = merge(current)
            if changes:
                fields["options"] = {**current, **changes}
            if fields:
                Link.objects.filter(pk=link.pk).update(**fields)
            link.options = fields.get("options", current)
    for name, value in fields.items():
        setattr(link, name, value)


def note_address(terminal: Terminal, address: str | None) -> None:
    """The attendance dialect has no token: the address a terminal calls from is kept
    from its first contact, and a change shows as the link's last error (not refused:
    schools hand addresses out by DHCP)."""
    link = terminal.link
    known = link.options.get("remote_addr")
    if not address or known == address:
        return
    fields: dict[str, Any] = {}
    if known:
        logger.warning("zkteco SN=%s: address changed from %s to %s", terminal.serial,
                       known, address)  # fmt: skip
        fields["last_error"] = protocol.clean(
            _("address changed from %(old)s to %(new)s") % {"old": known, "new": address},
            limit=300,
        )
        fields["last_error_at"] = timezone.now()
    update_link(link, lambda _current: {"remote_addr": address}, **fields)


# --- what terminals tell about themselves ---------------------------------------------

_COUNTS = {
    # key the terminal sends → Link field
    "UserCount": "users_count",
    "~MaxUserCount": "users_capacity",
    "MaxUserCount": "users_capacity",
    "FaceCount": "faces_count",
    "~MaxFaceCount": "faces_capacity",
    "MaxFaceCount": "faces_capacity",
    "~MaxAttLogCount": "events_capacity",
    "MaxAttLogCount": "events_capacity",
    "~MaxTransactionCount": "events_capacity",
}
_FIRMWARE_KEYS = ("FWVersion", "FirmVer", "~FirmVer", "FirmwareVersion")


def _number(text: str) -> int | None:
    text = text.strip()
    if text.isascii() and text.isdecimal() and len(text) < 10:
        return int(text)
    return None


def remember_info(terminal: Terminal, info: dict[str, str]) -> None:
    """Store what a terminal said about itself: firmware on the device, counts and
    capacities on the link, the rest in ``Link.options["info"]``."""
    if not info:
        return
    link = terminal.link
    fields: dict[str, Any] = {}
    trimmed = {key[:64]: value[:200] for key, value in list(info.items())[:80]}
    for key, attribute in _COUNTS.items():
        value = _number(info.get(key, "")) if key in info else None
        if value is not None and getattr(link, attribute) != value:
            fields[attribute] = value
    backlog = _number(info.get("TransactionCount", "")) if "TransactionCount" in info else None
    if backlog is not None and link.event_backlog != backlog:
        fields["event_backlog"] = backlog
    version = info.get("pushver") or info.get("PushVersion") or info.get("PushProtVer")
    if version and link.push_version != version[:20]:
        fields["push_version"] = version[:20]

    def merge(current: dict[str, Any]) -> dict[str, Any]:
        stored = _dict(current.get("info"))
        return {} if {**stored, **trimmed} == stored else {"info": {**stored, **trimmed}}

    known = _dict(link.options.get("info"))
    update_link(link, merge if {**known, **trimmed} != known else None, **fields)
    firmware = next((info[key] for key in _FIRMWARE_KEYS if info.get(key)), "")
    if firmware and terminal.device.firmware != firmware[:100]:
        terminal.device.firmware = firmware[:100]
        Device.objects.filter(pk=terminal.device.pk).update(firmware=firmware[:100])


def _dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def att_info(text: str) -> dict[str, str]:
    """The ``INFO=`` parameter of an attendance terminal's poll: ``firmware,users,
    fingerprints,records,ip,fp algorithm,face algorithm,faces needed,faces,...``."""
    parts = text.split(",")
    names = ("FWVersion", "UserCount", "FPCount", "TransactionCount", "IPAddress")
    info = {name: parts[i].strip() for i, name in enumerate(names) if i < len(parts)}
    if len(parts) > 8:
        info["FaceCount"] = parts[8].strip()
    return info


# --- the access dialect's registration ------------------------------------------------


def _pairing(terminal: Terminal, what: str, length: int) -> str:
    """A registry code or session id derived from the school's key, the terminal and the
    link's pairing epoch: the school's edge gateway derives the same, so a terminal paired
    with either is paired with both."""
    key = school_key(terminal.device.school_id, "zk")
    link = terminal.link
    text = f"{what}:{link.device_id}:{terminal.serial}:{link.pairing_epoch}"
    return hmac.new(key, text.encode(), hashlib.sha256).hexdigest()[:length]


def register(terminal: Terminal, info: dict[str, str]) -> str:
    """The terminal's registry code: the same on every re-registration (until "pair
    again" in the portal)."""
    link = terminal.link
    if not link.registry_code:
        code = _pairing(terminal, "registry", 16)
        Link.objects.filter(pk=link.pk, registry_code="").update(registry_code=code)
        link.registry_code = Link.objects.values_list("registry_code", flat=True).get(pk=link.pk)
    remember_info(terminal, info)
    return link.registry_code


def session(terminal: Terminal) -> str:
    """The session id handed out by ``push``: one per link, kept across re-pushes."""
    link = terminal.link
    if not link.session_id:
        session_id = _pairing(terminal, "session", 32)
        Link.objects.filter(pk=link.pk, session_id="").update(session_id=session_id)
        link.session_id = Link.objects.values_list("session_id", flat=True).get(pk=link.pk)
    return link.session_id


def token_matches(terminal: Terminal, token: str) -> bool:
    """A cookie token must be MD5 of this terminal's registry code, serial and session
    (firmwares put the three in different orders; any of them is accepted). Codes not
    stored here yet are the derived ones (a gateway whose mirror has not caught up)."""
    link = terminal.link
    registry = link.registry_code or _pairing(terminal, "registry", 16)
    session_id = link.session_id or _pairing(terminal, "session", 32)
    parts = (registry, terminal.serial, session_id)
    orders = ((0, 1, 2), (1, 0, 2), (0, 2, 1), (1, 2, 0), (2, 0, 1), (2, 1, 0))
    wanted = token.strip().lower()
    return any(
        hmac.compare_digest(
            hashlib.md5(
                "".join(parts[i] for i in order).encode(), usedforsecurity=False
            ).hexdigest(),
            wanted,
        )
        for order in orders
    )


# --- uploads --------------------------------------------------------------------------


class NotStored(Exception):
    """Lines ingest refused for a reason other than their syntax: the upload must not
    be acknowledged (the terminal sends it again)."""


def store_passes(
    terminal: Terminal,
    events: Sequence[dict[str, Any]],
    *,
    skew: dt.timedelta = dt.timedelta(0),
    received: dt.datetime | None = None,
    line_nos: Sequence[int] = (),
) -> tuple[int, int]:
    """Hand passes to ``access.ingest`` in batches it takes; returns (stored, skipped).

    ``skew`` is the terminal's clock minus ours (``measure_clock``). A pin that is no
    person of the school (an installer's user on the terminal) is kept as a pass without
    a holder rather than lost. A pass at a time no clock can be right about (before
    2000, more than a day ahead) is kept at ``received`` with its batch flagged. A line
    ingest finds malformed is skipped (logged by line and field); any other refusal
    raises ``NotStored``, and a database failure propagates: the caller must then not
    acknowledge anything."""
    received = received or timezone.now()
    stored = skipped = 0
    events = _match_refusals(terminal, events)
    for start in range(0, len(events), MAX_BATCH):
        batch = list(events[start : start + MAX_BATCH])
        lines = list(line_nos[start : start + MAX_BATCH])
        result = ingest(terminal.device, batch, skew)
        stored += result.stored
        orphans, clockless = [], []
        for answer in result.results:
            if answer["status"] == "stored":
                continue
            index = answer["index"]
            event, error = batch[index], answer["error"]
            line = lines[index] if index < len(lines) else start + index + 1
            if error["code"] == "unknown_person":
                orphans.append((line, {**event, "person": None}))
            elif error["code"] == "invalid_event" and "time" in error.get("fields", {}):
                clockless.append((line, event))
            elif error["code"] == "invalid_event":
                skipped += 1
                logger.warning("zkteco SN=%s: line %d not stored: %s", terminal.serial, line,
                               ", ".join(sorted(error.get("fields", {}))) or "invalid")  # fmt: skip
            else:
                _not_stored(terminal, line, error["code"])
        if orphans:
            again = ingest(terminal.device, [event for _line, event in orphans], skew)
            stored += again.stored
            for answer in again.results:
                if answer["status"] != "stored":
                    _not_stored(terminal, orphans[answer["index"]][0], answer["error"]["code"])
        for line, event in clockless:
            stored += _store_clockless(terminal, line, event, received)
    return stored, skipped


def _not_stored(terminal: Terminal, line: int, code: str) -> None:
    logger.error("zkteco SN=%s: line %d refused (%s); not acknowledged", terminal.serial,
                 line, code)  # fmt: skip
    raise NotStored(code)


def _store_clockless(
    terminal: Terminal, line: int, event: dict[str, Any], received: dt.datetime
) -> int:
    """A pass whose time is impossible (the terminal's clock was reset or runs wild):
    kept at the time we received it, flagged with how far off the terminal's clock is."""
    moment = protocol.parse_time(str(event.get("time", "")))
    offset = MAX_SKEW
    if moment is not None:
        offset = int((_local(moment) - received).total_seconds())
    skew = dt.timedelta(seconds=max(-MAX_SKEW, min(MAX_SKEW, offset)))
    if abs(skew) <= services.CLOCK_TOLERANCE:
        skew = services.CLOCK_TOLERANCE + dt.timedelta(seconds=1)
    logger.warning("zkteco SN=%s: line %d has an impossible time; kept at its arrival",
                   terminal.serial, line)  # fmt: skip
    result = ingest(terminal.device, [{**event, "time": received}], skew)
    for answer in result.results:
        if answer["status"] != "stored":
            _not_stored(terminal, line, answer["error"]["code"])
    return result.stored


def _local(moment: dt.datetime) -> dt.datetime:
    """A terminal's naive local time, made aware (years before 1 or after 9999 clamp)."""
    try:
        return aware(moment)
    except (OverflowError, ValueError):
        return EARLIEST


def _match_refusals(terminal: Terminal, events: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """The terminal's own record of a background-verification denial (``auth:...``) takes
    the record number of the refusal we stored when it asked, if one is within
    ``AUTH_MATCH`` seconds: the two clocks read the moment a second or two apart."""
    wanted: dict[int, list[str]] = {}
    for position, event in enumerate(events):
        record_no = str(event.get("record_no", ""))
        if not record_no.startswith("auth:"):
            continue
        _auth, holder, stamp = record_no.split(":", 2)
        try:
            moment = dt.datetime.fromisoformat(stamp)
        except ValueError:
            continue
        offsets = sorted(range(-AUTH_MATCH, AUTH_MATCH + 1), key=abs)
        wanted[position] = [
            protocol.auth_record_no(holder, holder, moment + dt.timedelta(seconds=offset))
            for offset in offsets
        ]
    if not wanted:
        return list(events)
    names = {name for candidates in wanted.values() for name in candidates}
    known = set(
        AccessEvent.objects.filter(device=terminal.device, record_no__in=names).values_list(
            "record_no", flat=True
        )
    )
    out = list(events)
    for position, candidates in wanted.items():
        match = next((name for name in candidates if name in known), None)
        if match is not None:
            out[position] = {**out[position], "record_no": match}
    return out


# --- the terminal's clock -------------------------------------------------------------


def measure_clock(
    terminal: Terminal, stamps: Sequence[tuple[int | None, dt.datetime]], received: dt.datetime
) -> dt.timedelta:
    """How far the terminal's clock is ahead of ours (negative: behind), from what it
    sends in real time; stored on the device and returned for the upload's passes.

    A line tells the time only if it is new (a record index above the highest seen, or
    for the attendance dialect, which has no index, a time after the newest seen) and
    came in a realtime upload (at most ``PROMPT_LINES`` lines; a longer one is a backlog).
    Its time minus our receive time is the skew less the delivery delay, so never more
    than the skew: the estimate is the largest sample of the last ``SKEW_WINDOW``. An
    upload that tells nothing keeps the last estimate."""
    device = terminal.device
    latest = received + dt.timedelta(days=1)
    good = [(i, m) for i, m in stamps if EARLIEST <= _local(m) <= latest]
    if not good:
        return dt.timedelta(seconds=device.clock_skew_seconds)
    newest = max(good, key=lambda s: (s[0] if s[0] is not None else -1, s[1]))
    mark = terminal.link.options.get("clock_mark")
    mark = mark if isinstance(mark, dict) else {}
    mark_index, mark_time = mark.get("index"), str(mark.get("time", ""))
    stamp = newest[1].isoformat()
    fresh = (
        not mark
        or (newest[0] is not None and isinstance(mark_index, int) and newest[0] > mark_index)
        or stamp > mark_time
    )
    if not fresh:
        return dt.timedelta(seconds=device.clock_skew_seconds)
    sample = int((_local(newest[1]) - received).total_seconds())
    prompt = len(stamps) <= PROMPT_LINES
    result: dict[str, Any] = {}

    def merge(current: dict[str, Any]) -> dict[str, Any]:
        changes: dict[str, Any] = {"clock_mark": {"index": newest[0], "time": stamp}}
        if prompt:
            kept = current.get("clock_samples")
            kept = kept if isinstance(kept, list) else []
            since = (received - SKEW_WINDOW).timestamp()
            recent = [
                pair for pair in kept
                if isinstance(pair, list) and len(pair) == 2 and pair[0] >= since
            ][-(SKEW_SAMPLES - 1) :]  # fmt: skip
            samples = [*recent, [received.timestamp(), sample]]
            changes["clock_samples"] = samples
            result["skew"] = max(-MAX_SKEW, min(MAX_SKEW, max(int(s) for _t, s in samples)))
        return changes

    update_link(terminal.link, merge)
    if "skew" not in result:
        return dt.timedelta(seconds=device.clock_skew_seconds)
    skew = int(result["skew"])
    if skew != device.clock_skew_seconds:
        Device.objects.filter(pk=device.pk).update(clock_skew_seconds=skew)
        device.clock_skew_seconds = skew
    return dt.timedelta(seconds=skew)


# --- status ---------------------------------------------------------------------------


def note_status(terminal: Terminal, statuses: Sequence[dict[str, str]]) -> None:
    """Door and device events (no holder) and alarms: the latest kept on the link, an
    alarm as the link's last error."""
    if not statuses:
        return
    events = [dict(s) for s in statuses][-20:]
    fields: dict[str, Any] = {}
    alarms = [s for s in statuses if protocol.is_alarm(s)]
    if alarms:
        alarm = alarms[-1]
        fields["last_error"] = protocol.clean(
            f"alarm {alarm.get('event')} at {alarm.get('time')} "
            f"(door {alarm.get('eventaddr', '?')})",
            limit=300,
        )
        fields["last_error_at"] = timezone.now()
    update_link(terminal.link, lambda _current: {"last_events": events}, **fields)


def note_state(terminal: Terminal, lines: Sequence[str]) -> int:
    """rtstate lines (``time=..\\tsensor=..\\trelay=..\\talarm=..``): the latest is kept."""
    states = [protocol.key_values(line) for line in lines]
    good = [state for state in states if "time" in state]
    if good:
        update_link(terminal.link, lambda _current: {"state": good[-1]})
    return len(states) - len(good)


def note_operlog(terminal: Terminal, log: protocol.OperLog) -> None:
    """OPERLOG: users and operations the terminal reports, counted (never passes).

    Only counts are kept, added up in the database: an upload costs the same whatever
    the terminal holds. A terminal reports each user it adds or changes, so the users
    count rises to at least the users of one upload; the exact count comes from its
    options (``UserCount``) and the ``DATA QUERY`` answer."""
    users, operations = len(log.users), log.operations + log.fingerprints + log.faces
    if not users and not operations:
        return

    def merge(current: dict[str, Any]) -> dict[str, Any]:
        counted = current.get("operlog")
        counted = counted if isinstance(counted, dict) else {}
        return {
            "operlog": {
                "users": int(counted.get("users", 0) or 0) + users,
                "operations": int(counted.get("operations", 0) or 0) + operations,
            }
        }

    fields: dict[str, Any] = {}
    if users and (terminal.link.users_count or 0) < users:
        fields["users_count"] = users
    update_link(terminal.link, merge, **fields)


def note_table(terminal: Terminal, table: str, count: int) -> None:
    """A ``tabledata`` reply (answer to a DATA QUERY): how many rows the terminal holds."""
    name = table.lower()[:30]
    fields: dict[str, Any] = {}
    if name == "user":
        fields["users_count"] = count
    elif name in ("biophoto", "biodata"):
        fields["faces_count"] = count

    def merge(current: dict[str, Any]) -> dict[str, Any]:
        tables = current.get("tables")
        return {"tables": {**(tables if isinstance(tables, dict) else {}), name: count}}

    update_link(terminal.link, merge, **fields)


# --- background verification ----------------------------------------------------------


@dataclass
class Verdict:
    allowed: bool
    reason: str
    message_kk: str


def verify(terminal: Terminal, fields: dict[str, str]) -> Verdict:
    """Decide a pass the terminal asks about (``AuthType=device``), now.

    A card is decided as a card. A pin alone (the terminal matched a face or a
    fingerprint) is decided through the person's credential of that kind, or else their
    card; a biometric match without that consent is refused. A refusal is recorded once
    per terminal, holder and time; an admitted pass is recorded when the terminal
    uploads it (as the signed device API does)."""
    device = terminal.device
    now = timezone.now()
    card = protocol.card_of(fields.get("cardno", ""))
    pin = fields.get("pin", "").strip()
    direction = {"0": "in", "1": "out"}.get(fields.get("inoutstatus", ""))
    direction = direction or device.direction or "in"
    kind, value = "card", card or ""
    biometric = protocol.VERIFY_KINDS.get(fields.get("verifytype", ""))
    person_id = protocol.person_of(pin)
    refusal = None
    if card is None:
        kind, value, refusal = _credential_of(device.school_id, person_id, biometric)
    if refusal is not None:
        decision = decisions.Decision(
            allowed=False, reason=refusal, direction=direction, at=now, door_id=device.door_id,
            credential_kind=biometric or "",
        )  # fmt: skip
    else:
        decision = decisions.decide(
            school_id=device.school_id,
            door_id=device.door_id,
            direction=direction,
            at=now,
            credential_kind=kind,
            credential_value=value,
        )
    if not decision.allowed:
        # Named by holder and the terminal's time, as the terminal's own record of the
        # denial (rtlog event 44/45) will be: the two are one event.
        moment = protocol.parse_time(fields.get("time", ""))
        if moment is None:
            moment = timezone.localtime(now, _almaty()).replace(tzinfo=None)
        record_no = protocol.auth_record_no(pin, card, moment)
        services.record_decision(device=device, decision=decision, record_no=record_no)
    return Verdict(decision.allowed, decision.reason, decision.messages()["kk"])


def _almaty() -> ZoneInfo:
    return ZoneInfo(settings.SCHOOL_TIME_ZONE)


def _credential_of(
    school_id: int, person_id: int | None, biometric: str | None
) -> tuple[str, str, str | None]:
    """(kind, value, refusal) for a pin-only verification."""
    if person_id is None:
        return "card", "", "unknown_credential"
    person = Person.objects.filter(pk=person_id, school_id=school_id).first()
    if person is None:
        return "card", "", "unknown_credential"
    if biometric in ("face", "fingerprint") and not biometric_state(person, biometric).allowed:
        return biometric, "", "biometric_no_consent"
    kinds = [biometric] if biometric in ("face", "fingerprint") else []
    for kind in [*kinds, Credential.Kind.CARD]:
        credential = (
            Credential.objects.filter(
                school_id=school_id, person=person, kind=kind, status=Credential.Status.ACTIVE
            )
            .order_by("-pk")
            .first()
        )
        if credential is not None:
            value = f"0x{credential.value}" if kind == Credential.Kind.CARD else credential.value
            return kind, value, None
    return "card", "", "unknown_credential"


# --- commands -------------------------------------------------------------------------


def commands_for(terminal: Terminal) -> str:
    """The commands due for this terminal as ``C:<id>:<text>`` lines ("" if none).

    Reconciles the school first (cheap when nothing changed). A face photo goes out only
    while the person's biometric consent holds; otherwise the command fails visibly."""
    if settings.DEVICE_SYNC_LOCAL:
        sync.reconcile_if_changed(terminal.device.school_id)
    due = queue.due(terminal.device)
    out: list[str] = []
    for command in due:
        photo = None
        try:
            if command.kind == Command.Kind.FACE_UPSERT:
                photo = face_photo(command)
            texts = protocol.render(command.kind, command.data, terminal.dialect, photo=photo)
        except protocol.Unrenderable as exc:
            queue.fail([command], str(exc))
            continue
        out.append(protocol.command_lines(command.pk, texts))
    return "".join(out)


def face_photo(command: Command) -> bytes:
    """The photo a face.upsert sends: read from the person now, only while their face
    consent holds (or, on an edge gateway, the one the server sent with the command)."""
    relayed = relayed_photo(command)
    if relayed is not None:
        return relayed
    person = command.person
    if person is None:
        raise protocol.Unrenderable("the person is gone")
    if not biometric_state(person, "face").allowed:
        raise protocol.Unrenderable("no biometric consent")
    if not person.photo:
        raise protocol.Unrenderable("no photo on file")
    too_big = protocol.Unrenderable(
        f"the photo is larger than {MAX_PHOTO // 1024} KB: upload a smaller one"
    )
    try:
        if person.photo.size > MAX_PHOTO:
            raise too_big
        with person.photo.open("rb") as photo:
            content = photo.read(MAX_PHOTO + 1)
    except OSError as exc:
        raise protocol.Unrenderable("the photo file cannot be read") from exc
    if len(content) > MAX_PHOTO:
        raise too_big
    return content


def relayed_photo(command: Command) -> bytes | None:
    """The photo an edge gateway got with a relayed face.upsert: the server read it under
    its consent check when it handed the command over (``edge.relay``). None elsewhere."""
    text = command.data.get("photo") if settings.EDGE_GATEWAY else None
    if not text:
        return None
    try:
        return base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        raise protocol.Unrenderable("the relayed photo is damaged") from None


def results(terminal: Terminal, answers: Sequence[protocol.CommandResult]) -> int:
    """Record the terminal's answers; replayed or foreign ids change nothing. Returns how
    many answers completed a command."""
    done = 0
    for answer in answers:
        error = "" if answer.return_code >= 0 else f"the device answered {answer.return_code}"
        if queue.complete(terminal.device, answer.command_id, return_code=answer.return_code,
                          error=error):  # fmt: skip
            done += 1
    return done
