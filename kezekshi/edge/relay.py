"""Device sync through the gateway: ZKTeco and Hikvision terminals that call the school's
gateway instead of the server get the server's commands from it.

The server stays the one place that works out what each terminal must hold
(``devices.sync``): only it has the photos and the consent ledger. A terminal the gateway
reports as calling it (``note_terminals``, from the gateway's status report) is
*relayed*:

1. the gateway asks for its due commands (``hand_over``), saying which it still holds;
   a face command comes with the photo, read on the server under the consent check, as
   for a terminal of its own;
2. the gateway keeps them in its own queue under the server's ids (``receive``), so a
   command handed over twice (an answer lost on the way) is one command, and a newer
   command for the same person supersedes an older one there as on the server;
3. a ZKTeco terminal polls the gateway for them; the gateway calls a Hikvision terminal
   itself (``execute_hikvision``), with the address and account the server sent;
4. the gateway reports the terminals' answers (``answers``); the server records them as
   if the terminal had answered it (``take_answers``), so the terminals page, the face
   removals waiting for confirmation and the retries work as for any terminal. The
   gateway then forgets the commands (``forget``), photos included.

While the server is unreachable the gateway keeps giving out what it already holds and
keeps the answers until it can report them.
"""

from __future__ import annotations

import base64
import datetime as dt
from collections import defaultdict
from collections.abc import Iterable
from typing import Any

from django.db import transaction
from django.db.models import QuerySet
from django.utils import timezone

from kezekshi.access.models import Device
from kezekshi.devices import queue, sync
from kezekshi.devices.hikvision import executor
from kezekshi.devices.models import Command, Link, Protocol
from kezekshi.devices.zkteco import protocol as zk_protocol
from kezekshi.devices.zkteco import services as zk_services
from kezekshi.people.models import Person

RELAYED = (Protocol.ZKTECO_ACC, Protocol.ZKTECO_ATT, Protocol.HIKVISION)
# A terminal stays relayed this long after it last called the gateway.
FRESH = dt.timedelta(minutes=15)
# Per terminal and call; photos are up to 1 MB, so one answer stays a few MB ("more").
PER_TERMINAL = 20
PHOTO_BUDGET = 8 * 1024 * 1024
# The most unanswered commands the gateway lists as held in one call.
MAX_HOLDING = 10_000


# --- the server ---------------------------------------------------------------------


def note_terminals(gateway: Device, seen: dict[int, dt.datetime], *, now: dt.datetime) -> int:
    """Mark the gateway's school's terminals that called the gateway within ``FRESH`` as
    relayed by it. Returns how many."""
    fresh = [pk for pk, moment in seen.items() if moment >= now - FRESH]
    if not fresh:
        return 0
    return Link.objects.filter(
        device_id__in=fresh, device__school_id=gateway.school_id, protocol__in=RELAYED
    ).update(gateway=gateway, gateway_seen_at=now)


def relayed_links(gateway: Device, *, now: dt.datetime) -> QuerySet[Link]:
    return (
        Link.objects.filter(
            gateway=gateway,
            gateway_seen_at__gte=now - FRESH,
            device__school_id=gateway.school_id,
            device__is_active=True,
            protocol__in=RELAYED,
        )
        .select_related("device")
        .order_by("device_id")
    )


def hand_over(gateway: Device, *, holding: Iterable[int] = ()) -> dict[str, Any]:
    """The due commands of the terminals behind ``gateway``, marked sent.

    ``holding``: the ids the gateway still holds unanswered. Those stay with it — it
    gives them to the terminal again itself, and counts the attempts by the terminal's
    polls, so a terminal switched off for an hour does not fail its commands here. A
    command sent and neither answered nor held (a gateway that lost its database) is
    handed over again after the queue's resend time.

    ``commands``: id, device, kind, data, person, and for a face command ``photo``
    (base64). A face command whose photo may not or cannot go fails here, visibly, as it
    would for a terminal calling the server. ``terminals``: how to reach each relayed
    Hikvision terminal. ``more``: call again at once."""
    now = timezone.now()
    links = list(relayed_links(gateway, now=now))
    commands: list[dict[str, Any]] = []
    terminals: list[dict[str, Any]] = []
    if not links:
        return {"commands": commands, "terminals": terminals, "more": False}
    held = list(holding)
    for start in range(0, len(held), 1000):
        Command.objects.filter(
            pk__in=held[start : start + 1000],
            device_id__in=[link.device_id for link in links],
            status=Command.Status.SENT,
        ).update(sent_at=now)
    sync.reconcile_if_changed(gateway.school_id)
    photo_bytes = 0
    more = False
    for link in links:
        if photo_bytes >= PHOTO_BUDGET:
            more = True
            break
        if link.protocol == Protocol.HIKVISION:
            terminals.append(
                {
                    "device": link.device_id,
                    "address": link.address,
                    "username": link.username,
                    "password": link.password,
                }
            )
        due = queue.due(link.device, limit=PER_TERMINAL)
        more = more or len(due) == PER_TERMINAL
        for command in due:
            data = dict(command.data)
            if command.kind == Command.Kind.FACE_UPSERT:
                try:
                    photo = _photo(link, command)
                except (zk_protocol.Unrenderable, executor.NotSendable) as refusal:
                    queue.fail([command], str(refusal))
                    continue
                photo_bytes += len(photo)
                data["photo"] = base64.b64encode(photo).decode()
            commands.append(
                {
                    "id": command.pk,
                    "device": command.device_id,
                    "kind": command.kind,
                    "data": data,
                    "person": command.person_id,
                }
            )
    return {"commands": commands, "terminals": terminals, "more": more}


def _photo(link: Link, command: Command) -> bytes:
    if link.protocol == Protocol.HIKVISION:
        return executor.face_photo(command, link)
    return zk_services.face_photo(command)


def take_answers(gateway: Device, answers: Iterable[dict[str, Any]]) -> int:
    """Record what the terminals behind ``gateway`` answered, as if they had answered the
    server. A replayed answer, or one about another school's terminal or a command that
    is not that terminal's, changes nothing. Returns how many answers counted."""
    answers = list(answers)
    devices = {
        device.pk: device
        for device in Device.objects.filter(
            pk__in={a["device"] for a in answers}, school_id=gateway.school_id
        )
    }
    counted = 0
    for answer in answers:
        device = devices.get(answer["device"])
        if device is not None and queue.complete(
            device, answer["id"], return_code=answer["return_code"], error=answer["error"]
        ):
            counted += 1
    return counted


# --- the gateway --------------------------------------------------------------------


@transaction.atomic
def receive(handed: dict[str, Any]) -> int:
    """Put the commands the server handed over in this gateway's queue, under the server's
    ids; ids already here are kept as they are. Returns how many were new."""
    for terminal in handed.get("terminals", ()):
        Link.objects.filter(device_id=terminal["device"], protocol=Protocol.HIKVISION).update(
            address=terminal["address"],
            username=terminal["username"],
            password=terminal["password"],
        )
    commands = handed.get("commands", [])
    ids = [int(c["id"]) for c in commands]
    known = set(Command.objects.filter(pk__in=ids).values_list("pk", flat=True))
    devices = set(
        Device.objects.filter(pk__in={c["device"] for c in commands}).values_list("pk", flat=True)
    )
    persons = set(
        Person.objects.filter(pk__in={c["person"] for c in commands if c["person"]}).values_list(
            "pk", flat=True
        )
    )
    by_device: dict[int, list[Command]] = defaultdict(list)
    for command in commands:
        if command["id"] in known or command["device"] not in devices:
            continue
        by_device[command["device"]].append(
            Command(
                pk=command["id"],
                device_id=command["device"],
                kind=command["kind"],
                data=command["data"],
                person_id=command["person"] if command["person"] in persons else None,
            )
        )
    for device_id, new in by_device.items():
        queue.enqueue_many(Device(pk=device_id), sorted(new, key=lambda c: c.pk or 0))
    return sum(len(new) for new in by_device.values())


def holding() -> list[int]:
    """The relayed commands this gateway holds that no terminal has answered yet."""
    return list(
        Command.objects.filter(status__in=[Command.Status.PENDING, Command.Status.SENT])
        .order_by("pk")
        .values_list("pk", flat=True)[:MAX_HOLDING]
    )


def answers() -> list[dict[str, Any]]:
    """The answers the terminals gave here, to report to the server."""
    return [
        # A command failed here without an answer (never delivered) counts as refused.
        {"id": pk, "device": device_id, "return_code": -1 if code is None else code,
         "error": error}
        for pk, device_id, code, error in Command.objects.filter(
            status__in=[Command.Status.DONE, Command.Status.FAILED]
        )
        .order_by("pk")
        .values_list("pk", "device_id", "return_code", "error")
    ]  # fmt: skip


def forget(ids: Iterable[int]) -> None:
    """Drop the commands whose answers the server has, and those a newer one superseded
    (the server superseded them too, when it queued the newer one)."""
    Command.objects.filter(pk__in=list(ids)).delete()
    Command.objects.filter(status=Command.Status.SUPERSEDED).delete()


def execute_hikvision() -> tuple[int, int]:
    """Call each Hikvision terminal that has relayed commands waiting. Returns (done,
    failed); an unreachable terminal keeps its commands for the next round."""
    done = failed = 0
    waiting = (
        Command.objects.filter(
            status__in=[Command.Status.PENDING, Command.Status.SENT],
            device__link__protocol=Protocol.HIKVISION,
        )
        .values_list("device_id", flat=True)
        .distinct()
    )
    for device in Device.objects.filter(pk__in=list(waiting)).order_by("pk"):
        ok, bad = executor.execute_pending(device)
        done, failed = done + ok, failed + bad
    return done, failed
