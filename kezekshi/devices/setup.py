"""The school admin's writes about terminals: approving a terminal that called us with
an unknown serial number (or forgetting it), how we talk to a terminal (its link), a
full resync, opening the door and restarting the terminal.

Each function is one transaction with keyword-only arguments; a refusal is a
``ServiceError`` with a code and a message for the form.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

from django.db import transaction
from django.utils.translation import gettext as _

from kezekshi.access import setup as access_setup
from kezekshi.access.models import Device, Door
from kezekshi.core.errors import ServiceError
from kezekshi.core.models import School
from kezekshi.devices import queue, sync
from kezekshi.devices.models import Command, DecisionMode, Link, PendingTerminal, Protocol

DOOR_OPEN_SECONDS = 5


def _check_decision_mode(decision_mode: str) -> None:
    if decision_mode not in DecisionMode.values:
        raise ServiceError("invalid_decision_mode", _("Unknown decision mode."), status=422)


def _isapi_fields(address: str, username: str) -> dict[str, str]:
    """A Hikvision terminal's address, checked: ``http(s)://host[:port]``, nothing else."""
    address = address.strip().rstrip("/")
    refused = ServiceError(
        "invalid_address", _("Give the terminal's address as http://host:port."), status=422
    )
    if address:
        parts = urlsplit(address)
        try:
            _port = parts.port  # a port that is not a number raises
        except ValueError as exc:
            raise refused from exc
        if parts.scheme not in ("http", "https") or not parts.hostname or parts.path:
            raise refused
    return {"address": address[:200], "username": username.strip()[:100]}


@transaction.atomic
def approve_terminal(
    *,
    school: School,
    pending: PendingTerminal,
    name: str,
    kind: str,
    door: Door | None,
    lane: int = 1,
    direction: str = "",
    decision_mode: str = DecisionMode.DEVICE,
    address: str = "",
    username: str = "",
    password: str = "",
) -> Device:
    """Bind a waiting terminal to ``school``: a device on ``door`` with the terminal's
    serial number and a link in its protocol; the waiting entry is removed.

    Refuses ``pending_gone`` (404) when another admin approved or forgot it meanwhile,
    ``serial_taken`` (409) when a device anywhere already has this serial number, and
    the device checks of ``access.setup.add_device`` (a door of another school, a lane
    the door lacks…). The terminal gets its users at its next poll (device sync).
    """
    locked = PendingTerminal.objects.select_for_update().filter(pk=pending.pk).first()
    if locked is None:
        raise ServiceError(
            "pending_gone", _("This terminal is no longer waiting for approval."), status=404
        )
    _check_decision_mode(decision_mode)
    if Device.objects.filter(serial_number=locked.serial_number).exists():
        raise ServiceError(
            "serial_taken",
            _("A device with this serial number is already registered."),
            status=409,
        )
    link_fields: dict[str, Any] = {"protocol": locked.protocol, "decision_mode": decision_mode}
    if locked.protocol == Protocol.HIKVISION:
        link_fields.update(_isapi_fields(address, username), password=password)
    device, _secret = access_setup.add_device(
        school=school,
        name=name,
        kind=kind,
        door=door,
        lane=lane,
        direction=direction,
        serial_number=locked.serial_number,
    )
    Link.objects.create(device=device, **link_fields)
    locked.delete()
    return device


@transaction.atomic
def forget_terminal(*, pending: PendingTerminal) -> None:
    """Drop a waiting terminal (it is back in the list if it calls again). Idempotent."""
    PendingTerminal.objects.filter(pk=pending.pk).delete()


@transaction.atomic
def save_link(
    *,
    device: Device,
    decision_mode: str,
    address: str = "",
    username: str = "",
    password: str = "",
) -> Link:
    """Change how we talk to a terminal: who decides, and for Hikvision where it listens
    and the account we call it with. An empty password keeps the one stored."""
    _check_decision_mode(decision_mode)
    link = Link.objects.select_for_update().filter(device=device).first()
    if link is None:
        raise ServiceError("no_link", _("This device is not a terminal we talk to."), status=404)
    link.decision_mode = decision_mode
    fields = ["decision_mode"]
    if link.protocol == Protocol.HIKVISION:
        for field, value in _isapi_fields(address, username).items():
            setattr(link, field, value)
            fields.append(field)
        if password:
            link.password = password
            fields.append("password")
    link.save(update_fields=fields)
    return link


def _terminal_link(device: Device) -> Link:
    link = Link.objects.filter(device=device).first()
    if link is None or link.protocol not in sync.TERMINAL_PROTOCOLS:
        raise ServiceError(
            "not_a_terminal",
            _("Only ZKTeco and Hikvision terminals take commands from here."),
            status=409,
        )
    return link


@transaction.atomic
def resync(*, device: Device) -> int:
    """Send the terminal everything again (after a replacement or a factory reset);
    returns how many commands were queued."""
    _terminal_link(device)
    return sync.full_resync(device)


@transaction.atomic
def open_door(*, device: Device, seconds: int = DOOR_OPEN_SECONDS) -> Command:
    """Open the terminal's door once, for ``seconds``, at its next poll."""
    _terminal_link(device)
    return queue.enqueue(device, Command.Kind.DOOR_OPEN, {"door": 1, "seconds": seconds})


@transaction.atomic
def reboot(*, device: Device) -> Command:
    """Restart the terminal at its next poll."""
    _terminal_link(device)
    return queue.enqueue(device, Command.Kind.REBOOT, {})
