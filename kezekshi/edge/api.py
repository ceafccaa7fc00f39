"""The server's side of the edge gateway, at ``/api/v1/edge/``: the mirror's delta sync,
the gateway's buffered passes, and its health. Signed like every device call; the caller
must be a device of kind ``edge_gateway``, and it sees only its own school."""

from __future__ import annotations

import datetime as dt
from typing import Any, Literal

from django.db import connection, transaction
from django.db.models import Q
from django.http import HttpRequest
from django.utils import timezone
from django.utils.translation import gettext as _
from ninja import Field, Router, Schema

from kezekshi.access import ingest
from kezekshi.access.api import device_api
from kezekshi.access.device_auth import DeviceSignature
from kezekshi.access.models import Device
from kezekshi.core.errors import ServiceError
from kezekshi.devices.models import Link, Protocol
from kezekshi.devices.zkteco import services as zk_services
from kezekshi.edge import mirror, relay

router = Router(tags=["edge gateway"], auth=DeviceSignature())
MAX_BATCHES = 20


def _gateway(request: HttpRequest) -> Device:
    device: Device = request.auth  # type: ignore[attr-defined]
    if device.kind != Device.Kind.EDGE_GATEWAY:
        raise ServiceError(
            "not_a_gateway",
            _("Only a device registered as an edge gateway may call this."),
            status=403,
        )
    return device


@router.get("/snapshot", summary="The school's mirror, changed since the cursor")
@device_api
def snapshot(request: HttpRequest, since: str | None = None) -> dict[str, Any]:
    """Rows changed since ``since`` (the cursor of the previous answer), the full id lists
    of persons and cards for deletions, and the next cursor. Without ``since``: everything."""
    gateway = _gateway(request)
    return {**mirror.snapshot(school=gateway.school, since=since), "upload": _upload_shape()}


def _upload_shape() -> dict[str, int]:
    """How to send a backlog: PostgreSQL stores uploads side by side; SQLite has one
    writer, so requests one after another, as large as the gateway sends, are fastest."""
    if connection.vendor == "sqlite":
        return {"connections": 1, "batches": 3}
    return {"connections": 4, "batches": 2}


class Batch(Schema):
    device: int = Field(..., ge=1, le=2**63 - 1)
    events: list[Any] = Field(..., description=f"At most {ingest.MAX_BATCH} events.")


class BatchesIn(Schema):
    batches: list[Batch] = Field(..., max_length=MAX_BATCHES)


@router.post("/events", summary="Upload passes the gateway recorded, per device (idempotent)")
@device_api
def events(request: HttpRequest, payload: BatchesIn) -> dict[str, Any]:
    """Each batch is stored as if its device had sent it (``access.ingest``): once per
    device and record number, so a retried upload stores nothing twice. A device of
    another school (or none) gets a per-batch error and nothing of it is stored."""
    gateway = _gateway(request)
    skew: dt.timedelta = request.device_skew  # type: ignore[attr-defined]
    ids = {batch.device for batch in payload.batches}
    devices = {
        device.pk: device
        for device in Device.objects.filter(pk__in=ids, school_id=gateway.school_id)
    }
    # One transaction for the whole upload: on SQLite the write lock is taken once, not
    # once per device, and the request fails or lands as a whole (the gateway retries).
    with transaction.atomic():
        answers = [_store(batch, devices.get(batch.device), skew) for batch in payload.batches]
    return {"batches": answers, "server_time": timezone.now()}


def _store(batch: Any, device: Device | None, skew: dt.timedelta) -> dict[str, Any]:
    if device is None:
        return {
            "device": batch.device,
            "error": {"code": "unknown_device", "message": _("No such device at this school.")},
        }
    result = ingest.ingest(device, batch.events, skew)
    return {
        "device": device.pk,
        "stored": result.stored,
        "errors": result.errors,
        "results": result.results,
    }


class WaitingTerminal(Schema):
    serial: str = Field(..., min_length=1, max_length=100)
    protocol: Literal["zkteco-acc", "zkteco-att"]
    info: dict[str, str] = Field(default_factory=dict, max_length=60)


class StatusIn(Schema):
    backlog: int = Field(..., ge=0, le=2**31 - 1)
    oldest_pending: dt.datetime | None = None
    disk_bytes: int = Field(0, ge=0)
    version: str = Field("", max_length=50)
    last_sync: dt.datetime | None = None
    # When each terminal behind the gateway last called it (device id → time).
    devices: dict[int, dt.datetime] = Field(default_factory=dict, max_length=1000)
    # ZKTeco terminals of unknown serial numbers that called the gateway.
    waiting: list[WaitingTerminal] = Field(default_factory=list, max_length=50)


@router.post("/status", summary="The gateway's backlog and health")
@device_api
def status(request: HttpRequest, payload: StatusIn) -> dict[str, Any]:
    gateway = _gateway(request)
    now = timezone.now()
    options = {
        "oldest_pending": payload.oldest_pending.isoformat() if payload.oldest_pending else None,
        "disk_bytes": payload.disk_bytes,
        "version": payload.version,
        "last_sync": payload.last_sync.isoformat() if payload.last_sync else None,
        "reported_at": now.isoformat(),
    }
    Link.objects.update_or_create(
        device=gateway,
        defaults={"protocol": Protocol.EDGE, "event_backlog": payload.backlog, "options": options},
    )
    Device.objects.filter(pk=gateway.pk).update(last_seen_at=now)
    # The terminals behind the gateway call only the gateway: their "last seen" (and so
    # the silent-terminal alert) comes with its report. Never later than our clock.
    for device_id, seen in payload.devices.items():
        seen = min(seen, now)
        Device.objects.filter(pk=device_id, school_id=gateway.school_id).filter(
            Q(last_seen_at__isnull=True) | Q(last_seen_at__lt=seen)
        ).update(last_seen_at=seen)
    # Those terminals get their commands through the gateway (edge.relay).
    relay.note_terminals(gateway, payload.devices, now=now)
    # A new terminal pointed at the gateway waits in the portal as if it had called us.
    for terminal in payload.waiting:
        if not Device.objects.filter(serial_number=terminal.serial).exists():
            zk_services.note_unknown(
                serial=terminal.serial,
                protocol_name=terminal.protocol,
                remote_addr=None,
                info=terminal.info,
            )
    return {"ok": True, "server_time": now}


class CommandsIn(Schema):
    # The relayed commands the gateway holds unanswered: they stay with it.
    holding: list[int] = Field(default_factory=list, max_length=relay.MAX_HOLDING)


@router.post("/commands", summary="Commands for the terminals behind the gateway")
@device_api
def commands(request: HttpRequest, payload: CommandsIn) -> dict[str, Any]:
    """The due commands of the ZKTeco and Hikvision terminals that call the gateway (as
    its status report said), face photos included; they count as sent. Repeating the
    call after a lost answer is safe: commands neither answered nor held are handed out
    again after the queue's resend time."""
    return relay.hand_over(_gateway(request), holding=payload.holding)


class Answer(Schema):
    id: int = Field(..., ge=1, le=2**63 - 1)
    device: int = Field(..., ge=1, le=2**63 - 1)
    return_code: int = Field(..., ge=-(2**31), le=2**31 - 1)
    error: str = Field("", max_length=300)


class AnswersIn(Schema):
    answers: list[Answer] = Field(..., max_length=2000)


@router.post("/answers", summary="What the terminals behind the gateway answered (idempotent)")
@device_api
def answers(request: HttpRequest, payload: AnswersIn) -> dict[str, Any]:
    """Recorded as if each terminal had answered the server; a replay changes nothing."""
    gateway = _gateway(request)
    counted = relay.take_answers(gateway, [answer.dict() for answer in payload.answers])
    return {"ok": True, "counted": counted}
