"""The command queue every adapter shares: sync puts commands in, adapters take them
out, send them in their protocol and report what the device answered.

A command is sent, then confirmed by the device (``complete``). A command sent but not
confirmed within ``RESEND_AFTER`` goes out again (the device may have rebooted before
answering), up to ``MAX_ATTEMPTS`` times; then it fails. Devices apply commands
idempotently (an upsert twice is one person), and a result for a command already
completed changes nothing.

Only the newest state of a device user matters: a newer command for the same pin
*supersedes* the older ones still waiting or sent without an answer (``SUPERSEDES``),
and a superseded command is never sent again. Its late answer is recorded but changes
nothing we believe the terminal holds.

``Enrolment`` is what we believe a terminal holds. Sync writes the state it commands
when it queues; the queue corrects it with the device's answers: a confirmation applies
what only the answer proves (a face removed, a person deleted), and a *failure* marks
the part concerned unknown, so the next reconcile queues it again (``RETRIES`` times in
a row for the same pin and kind; then the failure stays on the terminals page).

The digest layout (``sync`` computes the halves): 64 characters, the first 32 the user
record, the last 32 the face (``NO_FACE`` when none belongs there, ``UNKNOWN`` when a
command about it failed); ``DELETING`` while a removal is on its way; "" when nothing is
known (a full resync, a removal that failed).
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Iterable, Sequence
from typing import Any

from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from kezekshi.access.models import Device
from kezekshi.devices.models import Command, Enrolment

RESEND_AFTER = dt.timedelta(minutes=2)
MAX_ATTEMPTS = 5
# A command that failed is queued again by the next reconcile, this many times in a row
# for the same pin and kind; after that the failure stays (the terminals page shows it).
RETRIES = 3

NO_FACE = "0" * 32
UNKNOWN = "?" * 32
# A user.delete is queued and not yet confirmed: nothing more to send for this pin.
DELETING = "deleting"

Kind = Command.Kind
# A new command of the key kind supersedes older commands of these kinds for the same
# pin. A face removal is not superseded by the person's removal: not every firmware
# drops the photo with the person, and sending the removal twice harms nothing.
SUPERSEDES: dict[str, tuple[str, ...]] = {
    Kind.USER_UPSERT: (Kind.USER_UPSERT, Kind.USER_DELETE),
    Kind.USER_DELETE: (Kind.USER_UPSERT, Kind.USER_DELETE, Kind.FACE_UPSERT),
    Kind.FACE_UPSERT: (Kind.FACE_UPSERT, Kind.FACE_DELETE),
    Kind.FACE_DELETE: (Kind.FACE_UPSERT, Kind.FACE_DELETE),
}
_OPEN = (Command.Status.PENDING, Command.Status.SENT)
_CHUNK = 500


def enqueue(
    device: Device, kind: str, data: dict[str, Any], *, person_id: int | None = None
) -> Command:
    """Queue one command (see ``enqueue_many``)."""
    command = Command(device=device, kind=kind, data=data, person_id=person_id)
    enqueue_many(device, [command])
    return command


def enqueue_many(device: Device, commands: Sequence[Command]) -> None:
    """Queue new commands for ``device``. Older commands for the same device user that
    are still waiting or sent without an answer are superseded (``SUPERSEDES``): only
    the newest state needs to reach the terminal, and an old one must never go out
    after it."""
    for kind, victims in SUPERSEDES.items():
        pins = sorted({str(c.data["pin"]) for c in commands if c.kind == kind and "pin" in c.data})
        for start in range(0, len(pins), _CHUNK):
            Command.objects.filter(
                device=device,
                kind__in=victims,
                status__in=_OPEN,
                data__pin__in=pins[start : start + _CHUNK],
            ).update(status=Command.Status.SUPERSEDED)
    Command.objects.bulk_create(commands, batch_size=_CHUNK)


def due(device: Device, *, limit: int = 20) -> list[Command]:
    """Commands to send now, oldest first: the waiting ones and those sent long ago
    without an answer. They are marked sent (and counted) before they are returned.

    A poll with nothing due costs one read and writes nothing. Commands sent
    ``MAX_ATTEMPTS`` times without an answer fail here (only when some are overdue),
    and a command a newer one superseded is never handed out again."""
    now = timezone.now()
    overdue = Q(status=Command.Status.SENT, sent_at__lt=now - RESEND_AFTER)
    waiting = Command.objects.filter(device=device).filter(
        Q(status=Command.Status.PENDING) | overdue
    )
    if not waiting.exists():
        return []
    with transaction.atomic():
        if Command.objects.filter(device=device).filter(overdue).exists():
            _give_up(device, now)
        commands = list(waiting.select_for_update().order_by("id")[:limit])
        stale = _superseded(device, commands)
        if stale:
            Command.objects.filter(pk__in=[c.pk for c in stale]).update(
                status=Command.Status.SUPERSEDED
            )
            commands = [c for c in commands if c not in stale]
        for command in commands:
            command.status = Command.Status.SENT
            command.sent_at = now
            command.attempts += 1
        Command.objects.bulk_update(commands, ["status", "sent_at", "attempts"])
    return commands


def _give_up(device: Device, now: dt.datetime) -> None:
    """Sent too often without an answer: fail it, visibly, and let sync send it again."""
    given_up = list(
        Command.objects.select_for_update().filter(
            device=device,
            status=Command.Status.SENT,
            attempts__gte=MAX_ATTEMPTS,
            sent_at__lt=now - RESEND_AFTER,
        )
    )
    if not given_up:
        return
    Command.objects.filter(pk__in=[c.pk for c in given_up]).update(
        status=Command.Status.FAILED, error="no answer from the device", done_at=now
    )
    _forget(device.pk, given_up)


def _superseded(device: Device, commands: Sequence[Command]) -> list[Command]:
    """Of ``commands``, those a newer command for the same pin supersedes (whatever
    became of the newer one). ``enqueue_many`` marks them already; this also holds for
    commands written to the table by other means."""
    about = [c for c in commands if c.kind in SUPERSEDES and "pin" in c.data]
    if not about:
        return []
    pins = sorted({str(c.data["pin"]) for c in about})
    newer: dict[str, list[tuple[int, str]]] = defaultdict(list)
    for pk, kind, pin in (
        Command.objects.filter(
            device=device,
            pk__gt=min(c.pk for c in about),
            kind__in=list(SUPERSEDES),
            data__pin__in=pins,
        )
        .order_by()
        .values_list("pk", "kind", "data__pin")
    ):
        newer[str(pin)].append((pk, kind))
    return [
        c
        for c in about
        if any(pk > c.pk and c.kind in SUPERSEDES[kind] for pk, kind in newer[str(c.data["pin"])])
    ]


def complete(device: Device, command_id: int, *, return_code: int, error: str = "") -> bool:
    """Record the device's answer to a command. Returns False for an id that is not this
    device's or was already answered (a replay): nothing changes then.

    A refusal (``return_code`` < 0) fails the command and makes sync send it again. The
    late answer to a superseded command is recorded and changes nothing else: the newer
    command decides what the terminal holds."""
    with transaction.atomic():
        command = (
            Command.objects.select_for_update()
            .filter(pk=command_id, device=device)
            .exclude(status__in=[Command.Status.DONE, Command.Status.FAILED])
            .first()
        )
        if command is None or (
            command.status == Command.Status.SUPERSEDED and command.done_at is not None
        ):
            return False
        ok = return_code >= 0
        if command.status != Command.Status.SUPERSEDED:
            command.status = Command.Status.DONE if ok else Command.Status.FAILED
        command.return_code = return_code
        command.error = error[:300]
        command.done_at = timezone.now()
        command.save(update_fields=["status", "return_code", "error", "done_at"])
        if command.status == Command.Status.DONE:
            _apply(command)
        elif command.status == Command.Status.FAILED:
            _forget(device.pk, [command])
    return True


def fail(commands: Sequence[Command], error: str) -> None:
    """Commands that cannot be sent at all (e.g. the consent for a photo is gone): they
    fail, and sync works out again what the terminal should get."""
    with transaction.atomic():
        Command.objects.filter(pk__in=[c.pk for c in commands]).update(
            status=Command.Status.FAILED, error=error[:300], done_at=timezone.now()
        )
        by_device: dict[int, list[Command]] = defaultdict(list)
        for command in commands:
            by_device[command.device_id].append(command)
        for device_id, failed in by_device.items():
            _forget(device_id, failed)


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


def _forget(device_id: int, failed: Iterable[Command]) -> None:
    """The device did not apply ``failed``: the part each one was about becomes unknown,
    so the next reconcile queues it again — unless the same kind failed ``RETRIES``
    times in a row for that pin already (no confirmed command for the pin since)."""
    about = {
        (str(c.data["pin"]), c.kind) for c in failed if c.kind in SUPERSEDES and "pin" in c.data
    }
    if not about:
        return
    pins = sorted({pin for pin, _kind in about})
    last_done: dict[str, int] = {}
    failures: dict[tuple[str, str], list[int]] = defaultdict(list)
    for pk, kind, pin, status in (
        Command.objects.filter(
            device_id=device_id,
            data__pin__in=pins,
            status__in=[Command.Status.DONE, Command.Status.FAILED],
        )
        .order_by()
        .values_list("pk", "kind", "data__pin", "status")
    ):
        if status == Command.Status.DONE:
            last_done[str(pin)] = max(pk, last_done.get(str(pin), 0))
        else:
            failures[(str(pin), kind)].append(pk)
    rows = {
        row.pin: row
        for row in Enrolment.objects.select_for_update().filter(device_id=device_id, pin__in=pins)
    }
    changed = []
    for pin, kind in sorted(about):
        in_a_row = sum(pk > last_done.get(pin, 0) for pk in failures[(pin, kind)])
        row = rows.get(pin)
        if row is None or in_a_row > RETRIES:
            continue
        if kind == Command.Kind.USER_DELETE:
            if row.digest == DELETING:
                row.digest = ""
        elif len(row.digest) == 64:
            if kind == Command.Kind.USER_UPSERT:
                row.digest = UNKNOWN + row.digest[32:]
            else:  # the face: whether it is there is not known any more
                row.digest = row.digest[:32] + UNKNOWN
                row.has_face, row.face_confirmed = True, False
        changed.append(row)
    now = timezone.now()
    for row in changed:
        row.updated_at = now
    Enrolment.objects.bulk_update(changed, ["digest", "has_face", "face_confirmed", "updated_at"])
