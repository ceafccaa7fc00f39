"""Passes uploaded by devices, whatever protocol brought them: validated one by one,
resolved to their holders (or decided), and stored once per device and record number.

The signed device API, the ZKTeco and Hikvision adapters and the edge gateway all hand
their events here as plain dicts of the fields of ``EventIn``.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Annotated, Any, Literal
from zoneinfo import ZoneInfo

from django.conf import settings
from django.utils import timezone
from django.utils.translation import gettext as _
from pydantic import AfterValidator, BaseModel, Field
from pydantic import ValidationError as PydanticError

from kezekshi.access import decisions, services
from kezekshi.access.credentials import BadCredential, normalise_card_uid
from kezekshi.access.models import Credential, Device
from kezekshi.people.models import Person
from kezekshi.privacy.services import biometric_state

MAX_BATCH = 1000
DbId = Annotated[int, Field(ge=1, le=2**63 - 1)]
# Passes from before this or more than a day ahead of the server are a broken clock.
EARLIEST = dt.datetime(2000, 1, 1, tzinfo=dt.UTC)


def aware(moment: dt.datetime | None) -> dt.datetime:
    if moment is None:
        return timezone.now()
    if moment.tzinfo is None:  # terminals keep local time
        return moment.replace(tzinfo=ZoneInfo(settings.SCHOOL_TIME_ZONE))
    return moment


def _plausible(moment: dt.datetime | None) -> dt.datetime | None:
    if moment is None:
        return None
    moment = aware(moment)
    if not EARLIEST <= moment <= timezone.now() + dt.timedelta(days=1):
        raise ValueError("the time is not plausible: before 2000 or more than a day ahead")
    return moment


PassTime = Annotated[dt.datetime, AfterValidator(_plausible)]


def door_and_direction(
    device: Device, door: int | None, direction: str | None
) -> tuple[int | None, str]:
    door_id = door if door is not None else device.door_id
    return door_id, direction or device.direction or "in"


class EventIn(BaseModel):
    """One event of a batch. A plain pydantic model, validated one by one so each event
    gets its own error (ninja's ``Schema`` wraps every input for Django objects: five
    times the cost, for a thousand events a batch)."""

    record_no: str = Field(..., min_length=1, max_length=64)
    time: PassTime
    direction: Literal["in", "out"] | None = None
    door: DbId | None = None
    credential_kind: Literal["card", "qr", "pin", "face", "fingerprint"] | None = None
    credential: str | None = Field(None, max_length=512)
    person: DbId | None = None
    # What the device did. Without it the server decides by the rules at ``time``.
    allowed: bool | None = None
    reason: str | None = Field(None, max_length=40)


@dataclass
class Ingested:
    """The answer to a batch: one result per event, in the order sent."""

    results: list[dict[str, Any]]
    stored: int
    errors: int


def ingest(device: Device, events: Sequence[Any], skew: dt.timedelta) -> Ingested:
    """Validate, resolve and store a batch; each bad event gets its own error.

    A result is ``{"index", "record_no", "status": "stored", "event_id", "allowed",
    "reason"}`` or ``{"index", "record_no", "status": "error", "error": {"code",
    "message", ...}}``. Nothing is stored for an event with an error; the rest land.
    """
    results: dict[int, dict[str, Any]] = {}
    valid: list[tuple[int, EventIn]] = []
    doors = decisions.school_doors(device.school_id)
    for index, raw in enumerate(events):
        record_no = raw.get("record_no") if isinstance(raw, dict) else None
        if index >= MAX_BATCH:
            results[index] = _error(
                index, record_no, "batch_too_large",
                _("Only the first %(max)d events of a batch are taken; send the rest again.")
                % {"max": MAX_BATCH},
            )  # fmt: skip
            continue
        if not isinstance(raw, dict):
            results[index] = _error(index, None, "invalid_event", _("An event is a JSON object."))
            continue
        try:
            event = EventIn.model_validate(raw)
        except PydanticError as exc:
            fields = {".".join(map(str, e["loc"])): e["msg"] for e in exc.errors()}
            results[index] = _error(
                index, record_no, "invalid_event", _("The event is not valid."), fields=fields
            )
            continue
        door_id, _direction = door_and_direction(device, event.door, event.direction)
        if door_id is not None and door_id not in doors:
            results[index] = _error(index, record_no, "unknown_door", _("No such door here."))
            continue
        valid.append((index, event))
    reports, report_index = _resolve(device, valid, results, skew)
    stored = (
        services.record_passes(device=device, reports=reports, clock_skew=skew) if reports else []
    )
    for position, answer in enumerate(stored):
        index = report_index[position]
        results[index] = {
            "index": index,
            "record_no": answer.record_no,
            "status": "stored",
            "event_id": answer.event_id,
            "allowed": answer.allowed,
            "reason": answer.reason,
        }
    ordered = [results[i] for i in sorted(results)]
    return Ingested(
        results=ordered,
        stored=len(stored),
        errors=sum(1 for r in ordered if r["status"] == "error"),
    )


def _error(index: int, record_no: Any, code: str, message: str, **extra: Any) -> dict[str, Any]:
    return {
        "index": index,
        "record_no": record_no if isinstance(record_no, str) else None,
        "status": "error",
        "error": {"code": code, "message": message, **extra},
    }


def _resolve(
    device: Device,
    valid: list[tuple[int, EventIn]],
    results: dict[int, dict[str, Any]],
    skew: dt.timedelta,
) -> tuple[list[services.PassReport], list[int]]:
    """Turn valid events into pass reports: holders found, undecided ones decided.

    Cards (most events) are looked up in one query; a QR pass, PIN or template one by
    one. A face or fingerprint pass of a person without that biometric consent is kept
    without the person (the device should not have matched it), reason
    ``biometric_no_consent``. An event time ahead of our clock from a device whose clock
    is off is moved back by the device's skew.
    """
    school_id = device.school_id
    card_values = {}
    for index, event in valid:
        if event.credential_kind == "card" and event.credential and event.allowed is not None:
            try:
                card_values[index] = normalise_card_uid(event.credential)
            except BadCredential:
                card_values[index] = ""
    # value → (credential, person, visitor): plain tuples, a thousand instances cost more.
    cards: dict[str, tuple[int, int | None, int | None]] = {}
    if card_values:
        cards = {
            value: (pk, person_id, visitor_id)
            for value, pk, person_id, visitor_id in Credential.objects.filter(
                school_id=school_id, kind="card", value__among=set(card_values.values())
            ).values_list("value", "pk", "person_id", "visitor_id")
        }
    person_ids = {event.person for _i, event in valid if event.person is not None}
    known_persons = (
        set(
            Person.objects.filter(school_id=school_id, pk__among=person_ids).values_list(
                "pk", flat=True
            )
        )
        if person_ids
        else set()
    )
    reports: list[services.PassReport] = []
    positions: list[int] = []
    now = timezone.now()
    for index, event in valid:
        door_id, direction = door_and_direction(device, event.door, event.direction)
        at = aware(event.time)
        if at > now + services.CLOCK_TOLERANCE:
            at = min(at - skew, now) if skew > services.CLOCK_TOLERANCE else now
        if event.person is not None and event.person not in known_persons:
            results[index] = _error(
                index, event.record_no, "unknown_person", _("No such person here.")
            )
            continue
        if event.allowed is None:
            if not event.credential:
                results[index] = _error(
                    index, event.record_no, "invalid_event",
                    _("Say whether the device let the person pass (allowed), or send the "
                      "credential for the server to decide."),
                )  # fmt: skip
                continue
            decision = decisions.decide(
                school_id=school_id,
                door_id=door_id,
                direction=direction,
                at=at,
                credential_kind=event.credential_kind or "card",
                credential_value=event.credential,
            )
            reports.append(services.report_of(decision, event.record_no))
            positions.append(index)
            continue
        allowed = bool(event.allowed)
        reason = event.reason or ("ok" if allowed else "refused_by_device")
        credential_id: int | None = None
        visitor_id: int | None = None
        person_id = event.person
        presented = ""
        found: Credential | None = None
        if index in card_values:
            card = cards.get(card_values[index])
            if card is None:
                presented = card_values[index]
            else:
                credential_id, person_id, visitor_id = card
        elif event.credential and event.credential_kind:
            try:
                found = decisions.find_credential(
                    school_id=school_id, kind=event.credential_kind, value=event.credential, at=at
                )
            except decisions.Unrecognised:
                found = None
            if found is not None:
                credential_id, person_id, visitor_id = found.pk, found.person_id, found.visitor_id
        kind = event.credential_kind or ""
        if person_id is not None and kind in ("face", "fingerprint"):
            holder = found.person if found else Person.objects.get(pk=person_id)
            if holder is None or not biometric_state(holder, kind).allowed:
                person_id, credential_id, visitor_id = None, None, None
                reason = "biometric_no_consent"
        reports.append(
            services.PassReport(
                record_no=event.record_no,
                direction=direction,
                occurred_at=at,
                allowed=allowed,
                reason=reason,
                door_id=door_id,
                credential_id=credential_id,
                credential_kind=kind,
                person_id=person_id,
                visitor_id=visitor_id,
                presented=presented,
            )
        )
        positions.append(index)
    return reports, positions
