"""The device API: decisions, event batches and the school's state, for signed devices."""

from __future__ import annotations

import datetime as dt
from typing import Any, Literal

from django.core.serializers.json import DjangoJSONEncoder
from django.http import HttpRequest, JsonResponse
from django.urls import reverse
from django.utils import timezone
from ninja import Field, Router, Schema

from kezekshi.access import decisions, ingest, services
from kezekshi.access.device_auth import DeviceSignature
from kezekshi.access.ingest import MAX_BATCH, DbId, PassTime, door_and_direction
from kezekshi.access.models import AccessSettings, Device

router = Router(tags=["access (devices)"], auth=DeviceSignature())


def device_api(handler: Any) -> Any:
    """Mark a handler as authenticated by the device signature, not by a user's role."""
    handler.required_permission = None
    return handler


class DecideIn(Schema):
    credential_kind: Literal["card", "qr", "pin", "face", "fingerprint"] = "card"
    credential: str = Field(..., min_length=1, max_length=512)
    door: DbId | None = None
    direction: Literal["in", "out"] | None = None
    time: PassTime | None = None
    # Give the device's record number to have the pass recorded with the answer.
    record_no: str | None = Field(None, min_length=1, max_length=64)


class Display(Schema):
    name: str
    school_class: str
    message: dict[str, str]
    photo_url: str | None


class DecideOut(Schema):
    allowed: bool
    reason: str
    display: Display
    person_id: int | None
    visitor_id: int | None
    event_id: int | None
    mode: str
    server_time: dt.datetime


@router.post("/decide", response=DecideOut, summary="Decide a pass (and record it)")
@device_api
def decide(request: HttpRequest, payload: DecideIn) -> dict[str, Any]:
    device: Device = request.auth  # type: ignore[attr-defined]
    skew: dt.timedelta = request.device_skew  # type: ignore[attr-defined]
    door_id, direction = door_and_direction(device, payload.door, payload.direction)
    at = ingest.aware(payload.time)
    if abs(skew) > services.CLOCK_TOLERANCE:
        at = timezone.now()  # a device with a wrong clock: decide by ours
    decision = decisions.decide(
        school_id=device.school_id,
        door_id=door_id,
        direction=direction,
        at=at,
        credential_kind=payload.credential_kind,
        credential_value=payload.credential,
    )
    event_id = None
    if payload.record_no or not decision.allowed:
        record_no = payload.record_no or f"decide:{timezone.now().timestamp():.6f}"
        stored = services.record_decision(
            device=device, decision=decision, record_no=record_no, clock_skew=skew
        )
        event_id = stored.event_id
    person = decision.person
    photo = (
        reverse("portal:person_photo", args=[person.pk])
        if person is not None and person.photo
        else None
    )
    return {
        "allowed": decision.allowed,
        "reason": decision.reason,
        "display": {
            "name": decision.display_name,
            "school_class": decision.pupil_class,
            "message": decision.messages(),
            "photo_url": photo,
        },
        "person_id": person.pk if person is not None else None,
        "visitor_id": decision.visitor.pk if decision.visitor is not None else None,
        "event_id": event_id,
        "mode": decision.mode,
        "server_time": timezone.now(),
    }


class EventsIn(Schema):
    events: list[Any] = Field(..., description=f"At most {MAX_BATCH} events per batch.")


class EventResult(Schema):
    index: int
    record_no: str | None
    status: Literal["stored", "error"]
    event_id: int | None = None
    allowed: bool | None = None
    reason: str | None = None
    error: dict[str, Any] | None = None


class EventsOut(Schema):
    stored: int
    errors: int
    clock_flagged: bool
    results: list[EventResult]
    mode: str
    server_time: dt.datetime


@router.post("/events", response=EventsOut, summary="Upload a batch of passes (idempotent)")
@device_api
def events(request: HttpRequest, payload: EventsIn) -> dict[str, Any]:
    """Each event is stored once per device and record number; a replay answers the same.

    Invalid events get their own error and the valid ones of the batch still land.
    """
    device: Device = request.auth  # type: ignore[attr-defined]
    skew: dt.timedelta = request.device_skew  # type: ignore[attr-defined]
    batch = ingest.ingest(device, payload.events, skew)
    answer = {
        "stored": batch.stored,
        "errors": batch.errors,
        "clock_flagged": abs(skew) > services.CLOCK_TOLERANCE,
        "results": batch.results,
        "mode": decisions.current_settings(device.school_id).mode,
        "server_time": timezone.now(),
    }
    # Written as it is (the schema above documents it): checking a thousand results we
    # built ourselves against it took a sixth of the upload's time.
    return JsonResponse(answer, encoder=DjangoJSONEncoder)  # type: ignore[return-value]


class StateOut(Schema):
    mode: str
    open_exits: bool
    server_time: dt.datetime
    rules_version: int


@router.get("/state", response=StateOut, summary="The school's mode, for devices to poll")
@device_api
def state(request: HttpRequest) -> dict[str, Any]:
    device: Device = request.auth  # type: ignore[attr-defined]
    row = decisions.settings_for(device.school_id)
    return {
        "mode": row.mode,
        "open_exits": row.mode == AccessSettings.Mode.EVACUATION,
        "server_time": timezone.now(),
        "rules_version": row.rules_version,
    }
