"""Writes of the school admin's access set-up: zones, doors, devices, groups, windows, settings.

Each function is one transaction with keyword-only arguments. Whatever the decisions
compile (doors, zones, groups, their doors, members and windows, settings) raises the
school's ``rules_version`` through ``services.bump_rules`` in the same transaction, so
every process rebuilds its rules at the next decision. A change to a device drops it
from this process's signature cache (``device_auth.forget``) once committed; other
processes pick it up within ``device_auth.CACHE_SECONDS``.
"""

from __future__ import annotations

import datetime as dt
import itertools
from collections.abc import Iterable, Mapping, Sequence
from typing import Any, TypeVar

from django.db import transaction
from django.utils.translation import gettext as _

from kezekshi.access import device_auth, services
from kezekshi.access.models import (
    AccessGroup,
    AccessSettings,
    Credential,
    Device,
    Direction,
    Door,
    TimeWindow,
    Zone,
)
from kezekshi.accounts.models import User
from kezekshi.core.errors import ServiceError
from kezekshi.core.models import School
from kezekshi.people.models import Person

Window = tuple[dt.time, dt.time]
Named = TypeVar("Named", Zone, Door, AccessGroup)


def _same_school(school: School, *rows: object) -> None:
    for row in rows:
        if row is not None and getattr(row, "school_id", None) != school.pk:
            raise ServiceError("foreign_row", _("This belongs to another school."), status=404)


def _names(name_kk: str, name_ru: str, name_en: str) -> dict[str, str]:
    name_kk, name_ru = name_kk.strip(), name_ru.strip()
    if not name_kk or not name_ru:
        raise ServiceError(
            "name_required", _("Give the name in Kazakh and in Russian."), status=422
        )
    return {"name_kk": name_kk[:200], "name_ru": name_ru[:200], "name_en": name_en.strip()[:200]}


def _create_or_change(
    model: type[Named], row: Named | None, *, school: School, fields: dict[str, Any]
) -> Named:
    """A new row of ``model`` in ``school`` with ``fields`` when ``row`` is None, else
    ``row`` with ``fields`` set and saved."""
    if row is None:
        return model.objects.create(school=school, **fields)
    for name, value in fields.items():
        setattr(row, name, value)
    row.save()
    return row


# --- zones and doors ------------------------------------------------------------------


@transaction.atomic
def save_zone(
    *,
    school: School,
    zone: Zone | None = None,
    name_kk: str,
    name_ru: str,
    name_en: str = "",
    kind: str,
    parent: Zone | None = None,
) -> Zone:
    """Create a zone (``zone`` None) or change one. Refuses a parent that lies inside it."""
    _same_school(school, zone, parent)
    if kind not in Zone.Kind.values:
        raise ServiceError("invalid_kind", _("Unknown kind of zone."), status=422)
    if zone is not None and parent is not None:
        ancestor: Zone | None = parent
        while ancestor is not None:
            if ancestor.pk == zone.pk:
                raise ServiceError("zone_cycle", _("A zone cannot lie inside itself."), status=422)
            ancestor = ancestor.parent
    fields = {**_names(name_kk, name_ru, name_en), "kind": kind, "parent": parent}
    zone = _create_or_change(Zone, zone, school=school, fields=fields)
    services.bump_rules(school_id=school.pk)
    return zone


@transaction.atomic
def save_door(
    *,
    school: School,
    door: Door | None = None,
    name_kk: str,
    name_ru: str,
    name_en: str = "",
    zone: Zone,
    lanes: int = 1,
    is_exit: bool = True,
) -> Door:
    """Create a door (``door`` None) or change one: its names, zone, lanes, and whether it
    leads outside (evacuation opens it, attendance and parents' notices count it)."""
    _same_school(school, door, zone)
    if not 1 <= lanes <= 32:
        raise ServiceError("invalid_lanes", _("A door has 1 to 32 lanes."), status=422)
    fields = {**_names(name_kk, name_ru, name_en), "zone": zone, "lanes": lanes, "is_exit": is_exit}
    door = _create_or_change(Door, door, school=school, fields=fields)
    services.bump_rules(school_id=school.pk)
    return door


# --- devices --------------------------------------------------------------------------


def _device_fields(
    school: School,
    *,
    name: str,
    kind: str,
    door: Door | None,
    lane: int,
    direction: str,
    serial_number: str,
) -> dict[str, Any]:
    """A device's checked fields, names trimmed to their columns: a known kind, a door of
    ``school``, a lane the door has and a known direction (or none)."""
    if kind not in Device.Kind.values:
        raise ServiceError("invalid_kind", _("Unknown kind of device."), status=422)
    _same_school(school, door)
    if direction and direction not in Direction.values:
        raise ServiceError("invalid_direction", _("Unknown direction."), status=422)
    if lane < 1 or (door is not None and lane > door.lanes):
        raise ServiceError("invalid_lane", _("The door has no lane with this number."), status=422)
    return {
        "name": name.strip()[:200],
        "kind": kind,
        "door": door,
        "lane": lane,
        "direction": direction,
        "serial_number": serial_number.strip()[:100],
    }


@transaction.atomic
def add_device(
    *,
    school: School,
    name: str,
    kind: str,
    door: Door | None,
    lane: int = 1,
    direction: str = "",
    serial_number: str = "",
) -> tuple[Device, str]:
    """Register a device; returns it with its secret, which is shown once and never again."""
    fields = _device_fields(
        school,
        name=name,
        kind=kind,
        door=door,
        lane=lane,
        direction=direction,
        serial_number=serial_number,
    )
    return services.register_device(school=school, **fields)


def _forget_on_commit(device_id: int) -> None:
    transaction.on_commit(lambda: device_auth.forget(device_id))


@transaction.atomic
def change_device(
    *,
    device: Device,
    name: str,
    kind: str,
    door: Door | None,
    lane: int = 1,
    direction: str = "",
    serial_number: str = "",
) -> Device:
    """Change where a device stands and what it is; its secret stays."""
    fields = _device_fields(
        device.school,
        name=name,
        kind=kind,
        door=door,
        lane=lane,
        direction=direction,
        serial_number=serial_number,
    )
    for field, value in fields.items():
        setattr(device, field, value)
    device.save(update_fields=list(fields))
    _forget_on_commit(device.pk)
    return device


@transaction.atomic
def rotate_secret(*, device: Device) -> str:
    """A new secret for ``device``; the old one stops working at once in this process and
    within ``device_auth.CACHE_SECONDS`` in the others. Returned once: show it, keep nothing."""
    secret = services.rotate_device_secret(device=device)
    _forget_on_commit(device.pk)
    return secret


@transaction.atomic
def set_device_active(*, device: Device, active: bool) -> Device:
    """Switch a device off (its calls are refused) or back on. Idempotent."""
    Device.objects.filter(pk=device.pk).update(is_active=active)
    device.is_active = active
    _forget_on_commit(device.pk)
    return device


# --- access groups and their weekly windows -------------------------------------------


@transaction.atomic
def save_group(
    *,
    school: School,
    group: AccessGroup | None = None,
    name_kk: str,
    name_ru: str,
    name_en: str = "",
    members: str,
    doors: Iterable[Door],
    persons: Iterable[Person] = (),
    valid_from: dt.date | None = None,
    valid_until: dt.date | None = None,
    open_on_days_off: bool = False,
) -> AccessGroup:
    """Create an access group (``group`` None) or change one. ``persons`` count only for
    a group of listed persons; for the others the list is emptied."""
    doors, persons = list(doors), list(persons)
    _same_school(school, group, *doors, *persons)
    if members not in AccessGroup.Members.values:
        raise ServiceError("invalid_members", _("Unknown kind of members."), status=422)
    if valid_from and valid_until and valid_until < valid_from:
        raise ServiceError(
            "invalid_dates", _("The end of validity is before its start."), status=422
        )
    fields = {
        **_names(name_kk, name_ru, name_en),
        "members": members,
        "valid_from": valid_from,
        "valid_until": valid_until,
        "open_on_days_off": open_on_days_off,
    }
    group = _create_or_change(AccessGroup, group, school=school, fields=fields)
    group.doors.set(doors)
    group.persons.set(persons if members == AccessGroup.Members.LISTED else [])
    services.bump_rules(school_id=school.pk)
    return group


def _check_windows(windows: Sequence[Window]) -> list[Window]:
    ordered = sorted(windows)
    for start, end in ordered:
        if end <= start:
            raise ServiceError(
                "invalid_window", _("A time window must end after it starts."), status=422
            )
    for (_start, end), (next_start, _end) in itertools.pairwise(ordered):
        if next_start < end:
            raise ServiceError("windows_overlap", _("Time windows overlap."), status=422)
    return ordered


@transaction.atomic
def set_week(*, group: AccessGroup, week: Mapping[int, Sequence[Window]]) -> list[TimeWindow]:
    """Replace the group's windows of the weekdays in ``week`` (0 is Monday).

    A weekday given with no windows is closed; a weekday left out keeps its windows.
    A group with no windows at all is open at any time of its days. All or nothing.
    """
    checked = {}
    for weekday, windows in week.items():
        if not 0 <= weekday <= 6:
            raise ServiceError("invalid_weekday", _("Unknown weekday."), status=422)
        checked[weekday] = _check_windows(windows)
    TimeWindow.objects.filter(group=group, weekday__in=list(checked)).delete()
    rows = TimeWindow.objects.bulk_create(
        TimeWindow(school_id=group.school_id, group=group, weekday=day, starts_at=s, ends_at=e)
        for day, windows in checked.items()
        for s, e in windows
    )
    services.bump_rules(school_id=group.school_id)
    return rows


# --- the school's access settings -----------------------------------------------------


@transaction.atomic
def save_settings(
    *,
    school: School,
    anti_passback_minutes: int,
    permit_grade_from: int,
    permit_grade_to: int,
    late_grace_minutes: int,
    absence_alert_days: int,
    notify_repeat_minutes: int,
) -> AccessSettings:
    """Change the school's access settings (the emergency mode is ``services.set_mode``)."""
    if not 0 <= permit_grade_from <= permit_grade_to <= 11:
        raise ServiceError(
            "invalid_grades",
            _("The grades for exit permits must run from 0 to 11, the first not above the last."),
            status=422,
        )
    values = {
        "anti_passback_minutes": anti_passback_minutes,
        "permit_grade_from": permit_grade_from,
        "permit_grade_to": permit_grade_to,
        "late_grace_minutes": late_grace_minutes,
        "absence_alert_days": absence_alert_days,
        "notify_repeat_minutes": notify_repeat_minutes,
    }
    if any(value < 0 for value in values.values()):
        raise ServiceError("invalid_settings", _("No setting may be negative."), status=422)
    row, _created = AccessSettings.objects.select_for_update().get_or_create(school=school)
    for name, value in values.items():
        setattr(row, name, value)
    row.save(update_fields=list(values))
    services.bump_rules(school_id=school.pk)
    row.refresh_from_db(fields=["rules_version"])
    return row


# --- credentials ----------------------------------------------------------------------


@transaction.atomic
def block_card(
    *, credential: Credential, by: User | None, reason: str, lost: bool = False
) -> Credential:
    """Block a credential at once; ``services.block_credential`` also moves the rules'
    version, so edge gateways drop it from their whitelists at the next sync."""
    return services.block_credential(credential=credential, by=by, reason=reason, lost=lost)
