"""The school admin's writes about terminals: claiming a terminal that called us with
an unknown serial number (or forgetting it), how we talk to a terminal (its link), a
full resync, opening the door and restarting the terminal.

Terminals waiting for approval belong to no school, so no school sees them listed: an
admin claims one by typing its serial number, read off the terminal's label or menu
(an exact match). Whoever knows the number stands at the terminal.

Each function is one transaction with keyword-only arguments; a refusal is a
``ServiceError`` with a code and a message for the form.
"""

from __future__ import annotations

from typing import Any

from django.db import transaction
from django.utils.translation import gettext as _

from kezekshi.access import setup as access_setup
from kezekshi.access.models import Device, Door
from kezekshi.core.errors import ServiceError
from kezekshi.core.models import School
from kezekshi.devices import queue, sync
from kezekshi.devices.hikvision.client import check_address
from kezekshi.devices.models import Command, DecisionMode, Link, PendingTerminal, Protocol

DOOR_OPEN_SECONDS = 5


def _check_decision_mode(decision_mode: str) -> None:
    if decision_mode not in DecisionMode.values:
        raise ServiceError("invalid_decision_mode", _("Unknown decision mode."), status=422)


def _isapi_fields(address: str, username: str) -> dict[str, str]:
    """A Hikvision terminal's address, checked: ``http(s)://host[:port]`` on a network
    the server may call (``hikvision.client.check_address``: not this server, link-local
    or cloud metadata addresses); empty when not given yet."""
    address = address.strip()
    if address:
        address = check_address(address)
    return {"address": address[:200], "username": username.strip()[:100]}


def _not_waiting() -> ServiceError:
    return ServiceError(
        "not_waiting",
        _(
            "No terminal with this serial number is waiting for approval. Type the number "
            "exactly as the terminal's label or menu shows it, after the terminal has "
            "called the server."
        ),
        status=404,
    )


def waiting_terminal(*, serial_number: str) -> PendingTerminal:
    """The terminal waiting for approval with exactly this serial number; refuses
    ``not_waiting`` (404) when none is."""
    serial_number = serial_number.strip()
    pending = (
        PendingTerminal.objects.filter(serial_number=serial_number).first()
        if serial_number
        else None
    )
    if pending is None or pending.serial_number != serial_number:  # exact, whatever collation
        raise _not_waiting()
    return pending


@transaction.atomic
def approve_terminal(
    *,
    school: School,
    serial_number: str,
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
    """Claim the terminal waiting with exactly ``serial_number`` for ``school``: a device
    on ``door`` with that serial number and a link in its protocol; the waiting entry is
    removed.

    Refuses ``not_waiting`` (404) when no terminal with this serial number waits (a
    typing error, or another admin claimed or forgot it meanwhile), ``serial_taken``
    (409) when a device anywhere already has this serial number, ``invalid_address``
    (422) for a Hikvision address the server may not call, and the device checks of
    ``access.setup.add_device`` (a door of another school, a lane the door lacks…). The
    terminal gets its users at its next poll (device sync).
    """
    pending = waiting_terminal(serial_number=serial_number)
    locked = PendingTerminal.objects.select_for_update().filter(pk=pending.pk).first()
    if locked is None:
        raise _not_waiting()
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
def forget_terminal(*, serial_number: str) -> str:
    """Drop the terminal waiting with exactly ``serial_number`` (it waits again if it
    calls again); returns the serial number. Refuses ``not_waiting`` (404) when none is
    waiting."""
    pending = waiting_terminal(serial_number=serial_number)
    PendingTerminal.objects.filter(pk=pending.pk).delete()
    return pending.serial_number


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


@transaction.atomic
def reset_pairing(*, device: Device) -> Link:
    """Let a replaced or factory-reset ZKTeco terminal pair again: the next handshake
    from its serial number gets a new registry code and session (docs/zkteco.md)."""
    link = _terminal_link(device)
    if link.protocol not in (Protocol.ZKTECO_ACC, Protocol.ZKTECO_ATT):
        raise ServiceError(
            "not_zkteco", _("Only ZKTeco terminals pair with a registry code."), status=409
        )
    link.registry_code = link.session_id = ""
    link.pairing_epoch += 1  # the codes derived from now on differ from the old ones
    link.save(update_fields=["registry_code", "session_id", "pairing_epoch"])
    return link
