"""What Hikvision terminals push to us: ``POST /isapi/<serial>/<token>/events``.

The terminal's "HTTP listening host" is set to this URL (``push_url``). A push is one of:

- ``multipart/form-data`` (or ``multipart/mixed``) with a JSON part named
  ``AccessControllerEvent`` (or ``event_log``) and usually a ``Picture`` JPEG part;
- a plain JSON body of the same document;
- an XML ``EventNotificationAlert`` (a heartbeat, as most firmware sends it).

Passes go through ``access.ingest`` (stored once per terminal and ``serialNo``: a re-push
after a reboot stores nothing new) and the terminal gets 200 only after they are
committed; a storage failure is a 500 and the terminal pushes again. The event picture
is only counted toward the size limit, never stored: it is a child's face taken at the
door, and the guard's screen shows the enrolled photo instead.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import json
import logging
import re
from email.message import Message
from email.parser import BytesParser
from typing import Any

from django.db.models import F
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.utils import timezone
from django.utils.dateparse import parse_datetime
from django.utils.translation import gettext as _
from django.views.decorators.csrf import csrf_exempt

from kezekshi.access import decisions, ingest, services
from kezekshi.access.models import Credential, Device
from kezekshi.devices.hikvision import push_token, xml_fields
from kezekshi.devices.hikvision.client import IsapiClient, IsapiError
from kezekshi.devices.models import Link, PendingTerminal, Protocol
from kezekshi.people.models import Person

logger = logging.getLogger(__name__)

MAX_BODY = 4 * 1024 * 1024  # a push with its picture is ~100 KB
SERIAL = re.compile(r"^[A-Za-z0-9._-]{1,100}$")
JSON_PARTS = {"AccessControllerEvent", "event_log"}
XML_TYPES = {"application/xml", "text/xml"}
# An XML document in UTF-16 (or UTF-8 with a mark) starts with one of these, not "<".
BYTE_ORDER_MARKS = (b"\xff\xfe", b"\xfe\xff", b"\xef\xbb\xbf")
# serialNo is the terminal's event counter; it goes back to the terminal in a remote
# check's answer, so it must be a plain non-negative integer.
MAX_SERIAL_NO = 2**53
MAJOR_EVENT = 5
# Minor codes of major 5 ("event"). Passes the terminal let through, by credential kind:
ALLOWED = {0x01: "card", 0x02: "card", 0x26: "fingerprint", 0x4B: "face"}
# Refusals with a reason of ours; any other refusal is stored as ``hik_<minor>``.
DENIED = {
    0x06: "no_access_here",  # the card has no right to this door
    0x07: "outside_hours",  # outside its schedule
    0x08: "credential_not_valid_now",  # the card expired
    0x09: "unknown_credential",  # no such card on the terminal
    0x0A: "anti_passback",
    0x27: "unknown_credential",  # fingerprint did not match
    0x4C: "unknown_credential",  # face did not match
}
FACE_MINORS = {0x4B, 0x4C}
FINGERPRINT_MINORS = {0x26, 0x27}
# Door and relay states, alarms and remote operations: the terminal's status, not a pass.
STATUS_MINORS = set(range(0x15, 0x25)) | set(range(0x400, 0x500))
DIRECTIONS = {
    "checkIn": "in",
    "breakIn": "in",
    "overtimeIn": "in",
    "checkOut": "out",
    "breakOut": "out",
    "overtimeOut": "out",
}


class Refused(Exception):
    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status, self.code, self.message = status, code, message

    def response(self) -> JsonResponse:
        return JsonResponse({"code": self.code, "message": self.message}, status=self.status)


def token_matches(device: Device, serial: str, token: str) -> bool:
    return hmac.compare_digest(push_token(device.secret, serial).encode(), token.encode())


@csrf_exempt
def events(request: HttpRequest, serial: str, token: str) -> HttpResponse:
    """Take one push from a terminal. 200 once everything in it is committed; 403 for an
    unknown terminal, a wrong token or a disabled one; 413 over 4 MB; 400 for a body
    that is not an ISAPI event."""
    if request.method not in ("POST", "PUT"):
        return Refused(405, "method_not_allowed", _("Terminals POST their events.")).response()
    try:
        device = _terminal(request, serial, token)
        body = _body(request)
        documents = parse_push(request.headers.get("Content-Type", ""), body)
    except Refused as refused:
        return refused.response()
    now = timezone.now()
    Device.objects.filter(pk=device.pk).update(last_seen_at=now)
    passes: list[dict[str, Any]] = []
    checks: list[tuple[int, dict[str, Any], dict[str, Any]]] = []
    for document in documents:
        kind = document.get("eventType")
        if kind == "heartBeat":
            _note_clock(device, document.get("dateTime"), now)
            continue
        event = document.get("AccessControllerEvent")
        if kind != "AccessControllerEvent" or not isinstance(event, dict):
            continue  # other alarm types: seen, nothing to keep
        try:
            found = event_to_pass(document, event)
        except (TypeError, ValueError, OverflowError):
            return Refused(400, "invalid_event", _("The event is not valid.")).response()
        if found is None:
            continue
        if event.get("remoteCheck") is True:
            serial_no = serial_number(event.get("serialNo"))
            if serial_no is None:
                # The terminal waits for an answer to this serial number: without one
                # it cannot be answered.
                return Refused(
                    400, "invalid_event", _("A remote check needs its serial number.")
                ).response()
            checks.append((serial_no, found, event))
        else:
            passes.append(found)
    skew = dt.timedelta(seconds=device.clock_skew_seconds)
    _known_persons(device, [p for p in passes] + [c[1] for c in checks])
    answer: dict[str, Any] = {"stored": 0, "results": []}
    if passes:
        batch = ingest.ingest(device, passes, skew)
        errors = [r for r in batch.results if r["status"] == "error"]
        if errors:
            # Nothing of those was stored: say so, so nobody thinks the terminal's log is in.
            return JsonResponse(
                {
                    "code": "invalid_event",
                    "message": _("The event is not valid."),
                    "results": batch.results,
                },
                status=400,
            )
        answer = {"stored": batch.stored, "results": batch.results}
    for serial_no, found, _event in checks:
        answer["results"].append(remote_check(device, serial_no, found, skew))
    return JsonResponse(answer)


def _terminal(request: HttpRequest, serial: str, token: str) -> Device:
    if not SERIAL.match(serial):
        raise Refused(400, "bad_serial", _("This is not a terminal serial number."))
    candidates = list(
        Device.objects.filter(serial_number=serial, link__protocol=Protocol.HIKVISION)
        .select_related("school", "link")
        .order_by("pk")
    )
    if not candidates:
        _wait_for_approval(serial, request.META.get("REMOTE_ADDR") or None)
        raise Refused(
            403,
            "unknown_terminal",
            _("This terminal is not registered. A school admin can approve it."),
        )
    device = next((d for d in candidates if token_matches(d, serial, token)), None)
    if device is None:
        raise Refused(403, "bad_token", _("The address of this terminal is not right."))
    if not device.is_active or not device.school.is_active:
        raise Refused(403, "terminal_disabled", _("This terminal is disabled."))
    return device


def _wait_for_approval(serial: str, address: str | None) -> None:
    row, created = PendingTerminal.objects.get_or_create(
        serial_number=serial,
        defaults={"protocol": Protocol.HIKVISION, "remote_addr": address},
    )
    if not created:
        PendingTerminal.objects.filter(pk=row.pk).update(
            contacts=F("contacts") + 1, last_seen_at=timezone.now(), remote_addr=address
        )


def _body(request: HttpRequest) -> bytes:
    try:
        declared = int(request.META.get("CONTENT_LENGTH") or 0)
    except ValueError:
        declared = 0
    too_big = Refused(413, "too_large", _("A push may be at most 4 MB."))
    if declared > MAX_BODY:
        raise too_big
    # Read the stream ourselves: Django's own body limit is smaller than a push may be.
    body = request.read(MAX_BODY + 1)
    if len(body) > MAX_BODY:
        raise too_big
    return body


def parse_push(content_type: str, body: bytes) -> list[dict[str, Any]]:
    """The event documents of a push (JSON objects; an XML alert as its fields).
    Raises ``Refused`` (400) for anything that is not one."""
    media = content_type.split(";", 1)[0].strip().lower()
    stripped = body.lstrip()
    if media.startswith("multipart/"):
        return _multipart(content_type, body)
    if stripped.startswith((b"<", *BYTE_ORDER_MARKS)) or media in XML_TYPES:
        return [_xml(stripped)]
    if media in ("application/json", "text/json", "text/plain", "") or stripped.startswith(b"{"):
        return [_json(body)]
    raise Refused(400, "unsupported_body", _("Send the event as JSON, XML or multipart."))


def _json(raw: bytes) -> dict[str, Any]:
    try:
        document = json.loads(raw)
    except (ValueError, UnicodeDecodeError):
        raise Refused(400, "bad_json", _("The event is not valid JSON.")) from None
    if not isinstance(document, dict):
        raise Refused(400, "bad_json", _("The event is not valid JSON."))
    return document


def _xml(raw: bytes) -> dict[str, Any]:
    fields = dict(xml_fields(raw))
    if not fields.get("eventType"):
        raise Refused(400, "bad_xml", _("The alert is not a valid EventNotificationAlert."))
    return fields


def _multipart(content_type: str, body: bytes) -> list[dict[str, Any]]:
    bad = Refused(400, "bad_multipart", _("The multipart body could not be read."))
    if "boundary=" not in content_type.lower():
        raise bad
    # compat32 (the default policy) parses headers several times faster than HTTP's.
    message = BytesParser().parsebytes(
        f"Content-Type: {content_type}\r\n\r\n".encode("latin-1", "replace") + body
    )
    if not message.is_multipart():
        raise bad
    documents = []
    parts = message.get_payload()
    for part in parts if isinstance(parts, list) else []:
        if not isinstance(part, Message):
            continue
        name = part.get_param("name", header="content-disposition")
        kind = part.get_content_type()
        is_json = name in JSON_PARTS or kind in ("application/json", "text/json")
        if not is_json and kind not in XML_TYPES:
            continue  # the picture (image/jpeg) is not kept: see the module's docstring
        payload = part.get_payload(decode=True)
        if not isinstance(payload, bytes):
            continue
        documents.append(_json(payload) if is_json else _xml(payload.lstrip()))
    if not documents:
        raise bad
    return documents


def event_to_pass(document: dict[str, Any], event: dict[str, Any]) -> dict[str, Any] | None:
    """The pass of an AccessControllerEvent for ``ingest`` (``EventIn`` fields), or None
    when it is the terminal's status (a door opened, a remote open, an alarm)."""
    major = int(event.get("majorEventType") or 0)
    minor = int(event.get("subEventType") or 0)
    employee = str(event.get("employeeNoString") or event.get("employeeNo") or "").strip()
    card = str(event.get("cardNo") or "").strip()
    asks = event.get("remoteCheck") is True
    if major != MAJOR_EVENT:
        return None
    if asks or minor in ALLOWED:
        allowed, reason = True, "ok"
    elif minor in DENIED:
        allowed, reason = False, DENIED[minor]
    elif minor in STATUS_MINORS or not (employee or card):
        return None
    else:
        allowed, reason = False, f"hik_{minor}"
    kind: str | None = None
    if card:
        kind = "card"
    elif minor in FACE_MINORS or str(event.get("currentVerifyMode") or "") == "face":
        kind = "face"
    elif minor in FINGERPRINT_MINORS:
        kind = "fingerprint"
    elif asks and employee:
        kind = "face"
    when = document.get("dateTime")
    if not isinstance(when, str):
        raise ValueError("a pass needs its dateTime as text")
    serial_no = serial_number(event.get("serialNo"))
    if serial_no is not None:
        record_no = f"hik:{serial_no}"
    else:
        # No serial number: a key from what the event says, the same on every re-push.
        key = f"{when}|{minor}|{employee}|{card}".encode()
        record_no = "hik:t:" + hashlib.sha256(key).hexdigest()[:32]
    return {
        "record_no": record_no,
        "time": when,
        "direction": DIRECTIONS.get(str(event.get("attendanceStatus") or "")),
        "door": None,
        "credential_kind": kind,
        "credential": card or None,
        "person": int(employee) if _digits(employee) and len(employee) < 19 else None,
        "allowed": allowed,
        "reason": reason,
    }


def _digits(text: str) -> bool:
    return text.isascii() and text.isdigit()


def serial_number(value: Any) -> int | None:
    """The event's ``serialNo`` as a number (JSON gives a number, XML a string), or None
    when it is missing or not a plain non-negative integer."""
    if isinstance(value, str) and _digits(value) and len(value) <= 16:
        value = int(value)
    if isinstance(value, int) and not isinstance(value, bool) and 0 <= value < MAX_SERIAL_NO:
        return value
    return None


def _known_persons(device: Device, passes: list[dict[str, Any]]) -> None:
    """The employeeNo a terminal holds is our person's id (device sync writes it); one
    that is not a person of this school (typed in on the terminal) is dropped, so the
    pass is still kept."""
    ids = {p["person"] for p in passes if p["person"] is not None}
    if not ids:
        return
    known = set(
        Person.objects.filter(school_id=device.school_id, pk__in=ids).values_list("pk", flat=True)
    )
    for found in passes:
        if found["person"] not in known:
            found["person"] = None


def _note_clock(device: Device, stamp: Any, now: dt.datetime) -> None:
    """The terminal's clock from a heartbeat. A time that is no date (2025-02-30, year 0)
    is ignored: the heartbeat still says the terminal is alive."""
    try:
        moment = parse_datetime(stamp) if isinstance(stamp, str) else None
        if moment is None:
            return
        moment = ingest.aware(moment)
        seconds = (moment - now).total_seconds()
    except (ValueError, OverflowError):
        return
    skew = max(-3650 * 86400, min(3650 * 86400, int(seconds)))
    Device.objects.filter(pk=device.pk).update(clock_skew_seconds=skew)
    device.clock_skew_seconds = skew


def remote_check(
    device: Device, serial_no: int, found: dict[str, Any], skew: dt.timedelta
) -> dict[str, Any]:
    """Decide a pass the terminal asked us about, record it, and tell the terminal
    (``PUT /ISAPI/AccessControl/remoteCheck``). Idempotent: a re-asked serial number
    gets the answer first recorded."""
    door_id, direction = ingest.door_and_direction(device, None, found["direction"])
    now = timezone.now()
    try:
        when = parse_datetime(found["time"]) if isinstance(found["time"], str) else None
        at = ingest.aware(when)
        plausible = ingest.EARLIEST <= at <= now + dt.timedelta(days=1)
    except (ValueError, OverflowError):
        when, plausible = None, False
    if when is None or not plausible or abs(skew) > services.CLOCK_TOLERANCE:
        at = now  # a terminal with a wrong clock (or no date at all): decide by ours
    kind, value = found["credential_kind"] or "card", found["credential"] or ""
    if not value and found["person"] is not None:
        # A face or fingerprint matched on the terminal: the person's template of that kind.
        value = (
            Credential.objects.filter(
                school_id=device.school_id,
                person_id=found["person"],
                kind=kind,
                status=Credential.Status.ACTIVE,
            )
            .values_list("value", flat=True)
            .first()
            or ""
        )
    decision = decisions.decide(
        school_id=device.school_id,
        door_id=door_id,
        direction=direction,
        at=at,
        credential_kind=kind,
        credential_value=value,
    )
    stored = services.record_decision(
        device=device, decision=decision, record_no=found["record_no"], clock_skew=skew
    )
    text = decision.messages()["kk"]
    result = {
        "record_no": stored.record_no,
        "status": "stored",
        "event_id": stored.event_id,
        "allowed": stored.allowed,
        "reason": stored.reason,
    }
    link: Link = device.link  # type: ignore[attr-defined]
    try:
        IsapiClient.for_link(link).remote_check(serial_no, stored.allowed, text)
    except IsapiError as exc:
        logger.warning("remote check answer to %s failed: %s", device.serial_number, exc)
        Link.objects.filter(pk=link.pk).update(
            last_error=str(exc)[:300], last_error_at=timezone.now()
        )
        result["answered"] = False
    else:
        result["answered"] = True
    return result
