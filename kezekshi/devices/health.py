"""Device health: which terminals went silent during school hours, and telling the
school's administrators once per silence.

A terminal is silent when it has not called us for ``DEVICE_SILENT_MINUTES`` (default
10) while the school is open: a working day of the school's calendar, between the start
of its first shift and the end of its last. A school without shifts has no school hours
and is never alerted. A device that never called is not silent: it was never set up.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from dataclasses import dataclass
from typing import Any
from zoneinfo import ZoneInfo

from django.conf import settings
from django.db import transaction
from django.db.models import Count, F, Max, Min, OuterRef, Q, Subquery
from django.utils import timezone, translation
from django.utils.translation import gettext as _

from kezekshi.access.models import Device
from kezekshi.accounts.models import Membership
from kezekshi.accounts.roles import Role
from kezekshi.core.calendar import WorkingCalendar
from kezekshi.core.models import School, Shift
from kezekshi.devices.models import Command, Enrolment, Link, Protocol
from kezekshi.devices.sync import DELETING, NO_FACE
from kezekshi.notifications import services as notifications


def silent_after() -> dt.timedelta:
    return dt.timedelta(minutes=getattr(settings, "DEVICE_SILENT_MINUTES", 10))


def _local(moment: dt.datetime) -> dt.datetime:
    return moment.astimezone(ZoneInfo(settings.SCHOOL_TIME_ZONE))


def school_open(
    school: School, now: dt.datetime, *, calendar: WorkingCalendar | None = None
) -> bool:
    """Whether ``school`` is in its hours at ``now``: a working day, between the first
    shift's start and the last shift's end (school time)."""
    hours = Shift.objects.filter(school=school).aggregate(
        starts=Min("starts_at"), ends=Max("ends_at")
    )
    if hours["starts"] is None:
        return False
    local = _local(now)
    if not hours["starts"] <= local.time() < hours["ends"]:
        return False
    return (calendar or WorkingCalendar(school=school)).is_working_day(local.date())


@dataclass(frozen=True)
class Silence:
    device: Device
    since: dt.datetime  # when it was last seen


def silent_devices(now: dt.datetime | None = None) -> list[Silence]:
    """Active devices of every school not seen for ``DEVICE_SILENT_MINUTES``, in school
    hours at ``now``. Reads only."""
    now = now or timezone.now()
    quiet = list(
        Device.objects.filter(
            is_active=True,
            school__is_active=True,
            last_seen_at__isnull=False,
            last_seen_at__lt=now - silent_after(),
        )
        .select_related("school", "door")
        .order_by("school_id", "name")
    )
    by_school: dict[int, bool] = {}
    found = []
    for device in quiet:
        if device.school_id not in by_school:
            by_school[device.school_id] = school_open(device.school, now)
        if by_school[device.school_id]:
            assert device.last_seen_at is not None
            found.append(Silence(device, device.last_seen_at))
    return found


def _text(language: str, device: Device, since: dt.datetime) -> str:
    with translation.override(language):
        values = {
            "name": device.name,
            "door": str(device.door) if device.door else _("no door"),
            "time": f"{_local(since):%d.%m.%Y %H:%M}",
        }
        return (
            _(
                "Terminal «%(name)s» (%(door)s) has not been heard from since %(time)s. "
                "Check its power and network."
            )
            % values
        )


def _admins(school_ids: set[int]) -> dict[int, list[tuple[int, str]]]:
    found: dict[int, list[tuple[int, str]]] = defaultdict(list)
    for school_id, user_id, language in Membership.objects.filter(
        school_id__in=school_ids, role=Role.SCHOOL_ADMIN, user__is_active=True
    ).values_list("school_id", "user_id", "user__language"):
        found[school_id].append((user_id, language or "kk"))
    return found


def alert_silent(now: dt.datetime | None = None) -> list[Silence]:
    """Tell each school's administrators about each terminal that went silent in school
    hours, once per silence; returns the silences told now.

    ``Link.silent_alerted_at`` marks a silence told; a device seen again after it has
    its mark cleared here, so its next silence is told again. Idempotent: the notice key
    names the device and the moment it was last seen, and the marks are set under a row
    lock in the same transaction as the notices.
    """
    now = now or timezone.now()
    with transaction.atomic():
        # Seen again since the alert: the silence is over.
        Link.objects.filter(
            silent_alerted_at__isnull=False, device__last_seen_at__gt=F("silent_alerted_at")
        ).update(silent_alerted_at=None)
        silences = silent_devices(now)
        if not silences:
            return []
        links = {
            link.device_id: link
            for link in Link.objects.select_for_update().filter(
                device__in=[s.device for s in silences]
            )
        }
        told = []
        for silence in silences:
            link = links.get(silence.device.pk)
            if link is not None and link.silent_alerted_at is not None:
                continue  # told already; not seen since
            if link is None:  # a device on our own API: its health is kept here too
                link = Link.objects.create(device=silence.device, protocol=Protocol.NATIVE)
            link.silent_alerted_at = now
            link.save(update_fields=["silent_alerted_at"])
            told.append(silence)
        admins = _admins({s.device.school_id for s in told})
        notifications.enqueue(
            [
                notifications.Notice(
                    school_id=silence.device.school_id,
                    recipient_id=user_id,
                    kind="device",
                    key=f"device-silent:{silence.device.pk}:{silence.since.isoformat()}",
                    text=_text(language, silence.device, silence.since),
                )
                for silence in told
                for user_id, language in admins.get(silence.device.school_id, [])
            ]
        )
    return told


# --- the terminals page ---------------------------------------------------------------


@dataclass(frozen=True)
class TerminalStatus:
    """One device as the terminals page shows it: its health and its sync status."""

    device: Device
    link: Link | None
    pending: int
    sent: int
    failed: int
    last_failure: str
    persons: int
    faces: int
    faces_leaving: int  # face removals the terminal has not confirmed yet


def terminal_status(school_id: int, device_id: int | None = None) -> list[TerminalStatus]:
    """The school's devices (or one) with their health and sync figures; four queries."""
    devices = Device.objects.filter(school_id=school_id).select_related("door", "link")
    if device_id is not None:
        devices = devices.filter(pk=device_id)
    devices = devices.annotate(
        last_failure=Subquery(
            Command.objects.filter(device=OuterRef("pk"), status=Command.Status.FAILED)
            .order_by("-id")
            .values("error")[:1]
        )
    ).order_by("name", "pk")
    rows = list(devices)
    ids = [device.pk for device in rows]
    commands: dict[tuple[int, str], int] = {
        (device, status): count
        for device, status, count in Command.objects.filter(
            device_id__in=ids,
            status__in=[Command.Status.PENDING, Command.Status.SENT, Command.Status.FAILED],
        )
        .values_list("device_id", "status")
        .annotate(count=Count("id"))
        .values_list("device_id", "status", "count")
    }
    leaving = Q(has_face=True) & (Q(digest__endswith=NO_FACE) | Q(digest=DELETING))
    held: dict[int, dict[str, Any]] = {
        row["device_id"]: dict(row)
        for row in Enrolment.objects.filter(device_id__in=ids)
        .values("device_id")
        .annotate(
            persons=Count("id", filter=~Q(digest=DELETING)),
            faces=Count("id", filter=Q(has_face=True, face_confirmed=True)),
            leaving=Count("id", filter=leaving),
        )
    }
    result = []
    for device in rows:
        counts: dict[str, Any] = held.get(device.pk, {})
        result.append(
            TerminalStatus(
                device=device,
                link=getattr(device, "link", None),
                pending=commands.get((device.pk, Command.Status.PENDING), 0),
                sent=commands.get((device.pk, Command.Status.SENT), 0),
                failed=commands.get((device.pk, Command.Status.FAILED), 0),
                last_failure=device.last_failure or "",  # type: ignore[attr-defined]
                persons=counts.get("persons", 0),
                faces=counts.get("faces", 0),
                faces_leaving=counts.get("leaving", 0),
            )
        )
    return result
