"""The command queue every adapter shares: sync puts commands in, adapters take them
out, send them in their protocol and report what the device answered.

A command is sent, then confirmed by the device (``complete``). A command sent but not
confirmed within ``RESEND_AFTER`` goes out again (the device may have rebooted before
answering); devices apply commands idempotently (an upsert twice is one person), and a
result for a command already completed changes nothing.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import Any

from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from kezekshi.access.models import Device
from kezekshi.devices.models import Command, Enrolment

RESEND_AFTER = dt.timedelta(minutes=2)
MAX_ATTEMPTS = 5


def enqueue(
    device: Device, kind: str, data: dict[str, Any], *, person_id: int | None = None
) -> Command:
    """Queue one command (see ``enqueue_many``)."""
    command = Command(device=device, kind=kind, data=data, person_id=person_id)
    enqueue_many(device, [command])
    return command


_SUPERSEDABLE = (Command.Kind.USER_UPSERT, Command.Kind.FACE_UPSERT)
_CHUNK = 500


def enqueue_many(device: Device, commands: Sequence[Command]) -> None:
    """Queue new commands for ``device``. An older command still waiting for the same
    device user and kind is superseded: only the newest state needs to reach it."""
    for kind in _SUPERSEDABLE:
        pins = [c.data["pin"] for c in commands if c.kind == kind and "pin" in c.data]
        for start in range(0, len(pins), _CHUNK):
            Command.objects.filter(
                device=device,
                kind=kind,
                status=Command.Status.PENDING,
                data__pin__in=pins[start : start + _CHUNK],
            ).update(status=Command.Status.SUPERSEDED)
    Command.objects.bulk_create(commands, batch_size=_CHUNK)


def due(device: Device, *, limit: int = 20) -> list[Command]:
    """Commands to send now, oldest first: the waiting ones and those sent long ago
    without an answer. They are marked sent (and counted) before they are returned."""
    now = timezone.now()
    with transaction.atomic():
        commands = list(
            Command.objects.select_for_update()
            .filter(device=device)
            .filter(
                Q(status=Command.Status.PENDING)
                | Q(status=Command.Status.SENT, sent_at__lt=now - RESEND_AFTER)
            )
            .order_by("id")[:limit]
        )
        for command in commands:
            command.status = Command.Status.SENT
            command.sent_at = now
            command.attempts += 1
        Command.objects.bulk_update(commands, ["status", "sent_at", "attempts"])
        # Sent too often without an answer: give up on it, visibly.
        Command.objects.filter(
            device=device, status=Command.Status.SENT, attempts__gte=MAX_ATTEMPTS,
            sent_at__lt=now - RESEND_AFTER,
        ).update(status=Command.Status.FAILED, error="no answer from the device")  # fmt: skip
    return commands


def complete(device: Device, command_id: int, *, return_code: int, error: str = "") -> bool:
    """Record the device's answer to a command. Returns False for an id that is not this
    device's or was already answered (a replay): nothing changes then."""
    with transaction.atomic():
        command = (
            Command.objects.select_for_update()
            .filter(pk=command_id, device=device)
            .exclude(status__in=[Command.Status.DONE, Command.Status.FAILED])
            .first()
        )
        if command is None:
            return False
        ok = return_code >= 0
        command.status = Command.Status.DONE if ok else Command.Status.FAILED
        command.return_code = return_code
        command.error = error[:300]
        command.done_at = timezone.now()
        command.save(update_fields=["status", "return_code", "error", "done_at"])
        if ok:
            _apply(command)
    return True


def fail(commands: Sequence[Command], error: str) -> None:
    """Commands that cannot be sent at all (e.g. the consent for a photo is gone)."""
    Command.objects.filter(pk__in=[c.pk for c in commands]).update(
        status=Command.Status.FAILED, error=error[:300], done_at=timezone.now()
    )


def _apply(command: Command) -> None:
    """What the device now holds, once it confirmed."""
    pin = command.data.get("pin")
    if pin is None:
        return
    rows = Enrolment.objects.filter(device_id=command.device_id, pin=pin)
    if command.kind == Command.Kind.USER_DELETE:
        rows.delete()
    elif command.kind == Command.Kind.FACE_DELETE:
        rows.update(has_face=False, face_confirmed=False)
    elif command.kind == Command.Kind.FACE_UPSERT:
        rows.update(face_confirmed=True)
