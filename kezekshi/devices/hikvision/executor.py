"""Carrying out queued commands on a Hikvision terminal, through its ISAPI.

Unlike a ZKTeco terminal, which polls for commands, a Hikvision terminal is called by
us: ``execute_pending`` takes the device's due commands and performs each one as ISAPI
calls, then records the terminal's answer in the queue. When the terminal cannot be
reached the remaining commands stay *sent*, and the queue hands them out again later.
"""

from __future__ import annotations

import io
import logging

from django.conf import settings
from django.utils import timezone

from kezekshi.access.models import Device
from kezekshi.devices import queue, sync
from kezekshi.devices.hikvision.client import IsapiClient, IsapiError
from kezekshi.devices.models import Command, Link
from kezekshi.devices.zkteco.protocol import Unrenderable
from kezekshi.devices.zkteco.services import relayed_photo
from kezekshi.people.models import Person
from kezekshi.privacy.services import biometric_state

logger = logging.getLogger(__name__)
MAX_PHOTO = 1024 * 1024  # terminals take face photos up to ~200 KB; ours are smaller


class NotSendable(Exception):
    """A command that must not or cannot go to the terminal at all."""


def execute_pending(device: Device) -> tuple[int, int]:
    """Bring the terminal in line: queue what changed, send what is due. Returns (done,
    failed). Idempotent: the terminal's upserts and deletes can be repeated safely."""
    if settings.DEVICE_SYNC_LOCAL:
        sync.reconcile_if_changed(device.school_id)
    link = Link.objects.get(device=device)
    done = failed = 0
    try:
        client = IsapiClient.for_link(link)
    except IsapiError as exc:
        _note_error(link, str(exc))
        return 0, 0
    commands = queue.due(device)
    for position, command in enumerate(commands):
        try:
            perform(client, link, command)
        except NotSendable as refusal:
            queue.fail([command], str(refusal))
            failed += 1
        except IsapiError as exc:
            if exc.unreachable:
                # The rest stay sent; the queue hands them out again after RESEND_AFTER.
                _note_error(link, str(exc))
                logger.info("%s unreachable, %d commands wait", device, len(commands) - position)
                break
            queue.complete(device, command.pk, return_code=-(exc.status or 1), error=str(exc))
            failed += 1
        else:
            queue.complete(device, command.pk, return_code=0)
            done += 1
    else:
        if link.last_error and commands:
            Link.objects.filter(pk=link.pk).update(last_error="", last_error_at=None)
    return done, failed


def perform(client: IsapiClient, link: Link, command: Command) -> None:
    """One command as ISAPI calls. Raises ``IsapiError`` or ``NotSendable``."""
    data = command.data
    pin = str(data.get("pin", ""))
    kind = command.kind
    if kind in (
        Command.Kind.USER_UPSERT,
        Command.Kind.USER_DELETE,
        Command.Kind.FACE_UPSERT,
        Command.Kind.FACE_DELETE,
    ) and not (pin.isascii() and pin.isalnum() and len(pin) <= 24):
        raise NotSendable("no valid pin in the command")
    if kind == Command.Kind.USER_UPSERT:
        client.user_upsert(
            pin,
            str(data.get("name", "")),
            valid_from=data.get("valid_from"),
            valid_until=data.get("valid_until"),
            doors=[int(door) for door in data.get("doors") or [1]],
        )
        # The card the person holds now replaces whatever the terminal had for them.
        client.card_delete(pin)
        card = str(data.get("card") or "").strip()
        if card:
            client.card_upsert(pin, card)
    elif kind == Command.Kind.USER_DELETE:
        client.user_delete(pin)
    elif kind == Command.Kind.FACE_UPSERT:
        client.face_upsert(pin, face_photo(command, link))
    elif kind == Command.Kind.FACE_DELETE:
        client.face_delete(pin)
    elif kind == Command.Kind.DOOR_OPEN:
        client.open_door(int(data.get("door") or 1))
    elif kind == Command.Kind.REBOOT:
        client.reboot()
    elif kind == Command.Kind.QUERY_USERS:
        users, faces = client.user_count()
        Link.objects.filter(pk=link.pk).update(users_count=users, faces_count=faces)
    else:
        raise NotSendable(f"not supported by Hikvision: {kind}")


def face_photo(command: Command, link: Link) -> bytes:
    """The person's photo as JPEG, read now and only while their face consent holds (or,
    on an edge gateway, the one the server sent with the command)."""
    try:
        relayed = relayed_photo(command)
    except Unrenderable as exc:
        raise NotSendable(str(exc)) from None
    if relayed is not None:
        return relayed if relayed.startswith(b"\xff\xd8") else _as_jpeg(relayed)
    person = command.person
    if person is None:
        pin = str(command.data.get("pin", ""))
        person = (
            Person.objects.filter(school_id=link.device.school_id, pk=int(pin)).first()
            if pin.isdigit()
            else None
        )
    if person is None:
        raise NotSendable("no such person")
    if not biometric_state(person, "face").allowed:
        raise NotSendable("no biometric consent")
    if not person.photo:
        raise NotSendable("no photo")
    with person.photo.open("rb") as photo:
        content = photo.read(MAX_PHOTO + 1)
    if len(content) > MAX_PHOTO:
        raise NotSendable("the photo is over 1 MB")
    if not content.startswith(b"\xff\xd8"):
        content = _as_jpeg(content)  # terminals take JPEG only
    return content


def _as_jpeg(content: bytes) -> bytes:
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(io.BytesIO(content)) as image:
            buffer = io.BytesIO()
            image.convert("RGB").save(buffer, format="JPEG", quality=85)
    except (UnidentifiedImageError, OSError):
        raise NotSendable("the photo is not an image") from None
    return buffer.getvalue()


def _note_error(link: Link, error: str) -> None:
    Link.objects.filter(pk=link.pk).update(last_error=error[:300], last_error_at=timezone.now())
