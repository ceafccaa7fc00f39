"""What the ZKTeco adapter writes: terminals waiting for approval, what a terminal tells
about itself, its uploads (through ``access.ingest``), background verification and the
command queue in its dialect.

Every function here is safe to repeat: terminals re-send whatever they did not see
acknowledged, after timeouts and reboots.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import logging
import secrets
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from django.db import IntegrityError, transaction
from django.db.models import F
from django.utils import timezone

from kezekshi.access import decisions, services
from kezekshi.access.ingest import MAX_BATCH, ingest
from kezekshi.access.models import Credential, Device
from kezekshi.devices import queue, sync
from kezekshi.devices.models import Command, Link, PendingTerminal, Protocol
from kezekshi.devices.zkteco import protocol
from kezekshi.people.models import Person
from kezekshi.privacy.services import biometric_state

logger = logging.getLogger("kezekshi.devices.zkteco")

DIALECTS = {Protocol.ZKTECO_ACC: protocol.ACC, Protocol.ZKTECO_ATT: protocol.ATT}
LAST_SEEN_EVERY = 5.0  # seconds between two writes of a terminal's last_seen_at
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
    changed: set[str] = set()
    stored = dict(link.options.get("info", {}))
    trimmed = {key[:64]: value[:200] for key, value in list(info.items())[:80]}
    if {**stored, **trimmed} != stored:
        link.options = {**link.options, "info": {**stored, **trimmed}}
        changed.add("options")
    for key, attribute in _COUNTS.items():
        value = _number(info.get(key, "")) if key in info else None
        if value is not None and getattr(link, attribute) != value:
            setattr(link, attribute, value)
            changed.add(attribute)
    backlog = _number(info.get("TransactionCount", "")) if "TransactionCount" in info else None
    if backlog is not None and link.event_backlog != backlog:
        link.event_backlog = backlog
        changed.add("event_backlog")
    version = info.get("pushver") or info.get("PushVersion") or info.get("PushProtVer")
    if version and link.push_version != version[:20]:
        link.push_version = version[:20]
        changed.add("push_version")
    if changed:
        link.save(update_fields=sorted(changed))
    firmware = next((info[key] for key in _FIRMWARE_KEYS if info.get(key)), "")
    if firmware and terminal.device.firmware != firmware[:100]:
        terminal.device.firmware = firmware[:100]
        Device.objects.filter(pk=terminal.device.pk).update(firmware=firmware[:100])


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


def register(terminal: Terminal, info: dict[str, str]) -> str:
    """The terminal's registry code: made once, then the same on every re-registration."""
    link = terminal.link
    if not link.registry_code:
        code = secrets.token_hex(8)
        Link.objects.filter(pk=link.pk, registry_code="").update(registry_code=code)
        link.registry_code = Link.objects.values_list("registry_code", flat=True).get(pk=link.pk)
    remember_info(terminal, info)
    return link.registry_code


def session(terminal: Terminal) -> str:
    """The session id handed out by ``push``: one per link, kept across re-pushes."""
    link = terminal.link
    if not link.session_id:
        Link.objects.filter(pk=link.pk, session_id="").update(session_id=secrets.token_hex(16))
        link.session_id = Link.objects.values_list("session_id", flat=True).get(pk=link.pk)
    return link.session_id


def token_matches(terminal: Terminal, token: str) -> bool:
    """A cookie token must be MD5 of this terminal's registry code, serial and session
    (firmwares put the three in different orders; any of them is accepted)."""
    link = terminal.link
    if not link.registry_code or not link.session_id:
        return False
    parts = (link.registry_code, terminal.serial, link.session_id)
    orders = ((0, 1, 2), (1, 0, 2), (0, 2, 1), (1, 2, 0), (2, 0, 1), (2, 1, 0))
    wanted = token.strip().lower()
    return any(
        hashlib.md5("".join(parts[i] for i in order).encode(), usedforsecurity=False).hexdigest()
        == wanted
        for order in orders
    )


# --- uploads --------------------------------------------------------------------------


@dataclass
class Upload:
    lines: int
    stored: int = 0
    refused: int = 0  # valid lines ingest refused (e.g. an unknown door)
    skipped: int = 0  # malformed lines
    status: int = 0


def store_passes(terminal: Terminal, events: Sequence[dict[str, Any]]) -> tuple[int, int]:
    """Hand passes to ``access.ingest`` in batches it takes; returns (stored, refused).

    A pin that is no person of the school (an installer's user on the terminal) is kept
    as a pass without a holder rather than lost. A database failure propagates: the
    caller must then not acknowledge anything."""
    stored = refused = 0
    skew = dt.timedelta(0)
    for start in range(0, len(events), MAX_BATCH):
        batch = list(events[start : start + MAX_BATCH])
        result = ingest(terminal.device, batch, skew)
        stored += result.stored
        retry = []
        for answer in result.results:
            if answer["status"] == "stored":
                continue
            event = batch[answer["index"]]
            if answer["error"]["code"] == "unknown_person":
                retry.append({**event, "person": None})
            else:
                refused += 1
                logger.warning(
                    "zkteco SN=%s: %s refused: %s",
                    terminal.serial,
                    answer.get("record_no"),
                    answer["error"],
                )
        if retry:
            again = ingest(terminal.device, retry, skew)
            stored += again.stored
            refused += again.errors
    return stored, refused


def note_status(terminal: Terminal, statuses: Sequence[dict[str, str]]) -> None:
    """Door and device events (no holder) and alarms: the latest kept on the link, an
    alarm as the link's last error."""
    if not statuses:
        return
    link = terminal.link
    fields = {"options"}
    events = [dict(s) for s in statuses][-20:]
    link.options = {**link.options, "last_events": events}
    alarms = [s for s in statuses if protocol.is_alarm(s)]
    if alarms:
        alarm = alarms[-1]
        link.last_error = protocol.clean(
            f"alarm {alarm.get('event')} at {alarm.get('time')} "
            f"(door {alarm.get('eventaddr', '?')})",
            limit=300,
        )
        link.last_error_at = timezone.now()
        fields |= {"last_error", "last_error_at"}
    link.save(update_fields=sorted(fields))


def note_state(terminal: Terminal, lines: Sequence[str]) -> int:
    """rtstate lines (``time=..\\tsensor=..\\trelay=..\\talarm=..``): the latest is kept."""
    states = [protocol.key_values(line) for line in lines]
    good = [state for state in states if "time" in state]
    if good:
        link = terminal.link
        link.options = {**link.options, "state": good[-1]}
        link.save(update_fields=["options"])
    return len(states) - len(good)


def note_operlog(terminal: Terminal, log: protocol.OperLog) -> None:
    """OPERLOG: the users a terminal reports holding, counted (never passes)."""
    link = terminal.link
    seen = sorted(set(link.options.get("users_seen", [])) | log.users)
    if len(seen) > 100_000:
        seen = seen[-100_000:]
    link.options = {
        **link.options,
        "users_seen": seen,
        "operations": int(link.options.get("operations", 0)) + log.operations,
    }
    update = ["options"]
    if log.users and (link.users_count or 0) < len(seen):
        link.users_count = len(seen)
        update.append("users_count")
    link.save(update_fields=update)


def note_table(terminal: Terminal, table: str, count: int) -> None:
    """A ``tabledata`` reply (answer to a DATA QUERY): how many rows the terminal holds."""
    link = terminal.link
    tables = {**link.options.get("tables", {}), table.lower()[:30]: count}
    link.options = {**link.options, "tables": tables}
    update = ["options"]
    if table.lower() == "user":
        link.users_count = count
        update.append("users_count")
    elif table.lower() in ("biophoto", "biodata"):
        link.faces_count = count
        update.append("faces_count")
    link.save(update_fields=update)


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
        stamp = fields.get("time", "")[:19] or now.isoformat(timespec="seconds")
        record_no = f"auth:{protocol.clean(pin or card, limit=20)}:{protocol.clean(stamp)}"
        stored = services.record_passes(
            device=device, reports=[services.report_of(decision, record_no[:64])]
        )[0]
        decision.allowed, decision.reason = stored.allowed, stored.reason
    return Verdict(decision.allowed, decision.reason, decision.messages()["kk"])


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
    sync.reconcile_if_changed(terminal.device.school_id)
    due = queue.due(terminal.device)
    out: list[str] = []
    for command in due:
        photo = None
        try:
            if command.kind == Command.Kind.FACE_UPSERT:
                photo = _photo_for(command)
            texts = protocol.render(command.kind, command.data, terminal.dialect, photo=photo)
        except protocol.Unrenderable as exc:
            queue.fail([command], str(exc))
            continue
        out.append(protocol.command_lines(command.pk, texts))
    return "".join(out)


def _photo_for(command: Command) -> bytes:
    person = command.person
    if person is None:
        raise protocol.Unrenderable("the person is gone")
    if not biometric_state(person, "face").allowed:
        raise protocol.Unrenderable("no biometric consent")
    if not person.photo:
        raise protocol.Unrenderable("no photo on file")
    try:
        with person.photo.open("rb") as photo:
            return photo.read()
    except OSError as exc:
        raise protocol.Unrenderable("the photo file cannot be read") from exc


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
