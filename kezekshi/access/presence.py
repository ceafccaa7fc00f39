"""Reads for the guard's desk: who is inside now, the latest passes, evacuation roll calls.

Selectors only — nothing here writes; ticking a roll call off is in ``rollcall.py``.
Every read is scoped by school. Blocked persons are included: these reads serve the
guard, a safety role (``privacy.blocking``); a page that serves anyone else narrows
them with ``privacy.blocking.visible_to``.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Collection
from dataclasses import dataclass
from zoneinfo import ZoneInfo

from django.conf import settings
from django.db.models import Count, Q, QuerySet
from django.utils import timezone
from django.utils.translation import gettext as _

from kezekshi.access.decisions import local_time, message
from kezekshi.access.models import (
    AccessEvent,
    Presence,
    RollCall,
    RollCallEntry,
    Visitor,
    WatchAlert,
    Zone,
)
from kezekshi.core.models import School
from kezekshi.people.models import Person

FEED_SIZE = 50
# How late a device may report a pass and still have it in the feed's refresh by time.
LATE_REPORT_WINDOW = dt.timedelta(days=1)
# "5", "5Ә", "5 ә", "11-А": a class, not a name.
_CLASS = re.compile(r"^(\d{1,2})\s*-?\s*(\w)?$")


def matching(search: str, *, person: str = "person") -> Q:
    """Persons (reached through ``person``) whose last or first name starts with
    ``search``, or pupils of the class it names ("5", "5 Ә")."""
    search = search.strip()
    if not search:
        return Q()
    found = _CLASS.match(search)
    if found:
        grade, letter = found.groups()
        q = Q(**{f"{person}__pupil__school_class__grade": int(grade)})
        if letter:
            q &= Q(**{f"{person}__pupil__school_class__letter": letter.upper()})
        return q
    return Q(**{f"{person}__last_name__istartswith": search}) | Q(
        **{f"{person}__first_name__istartswith": search}
    )


def class_of(person: Person | None) -> str:
    """The pupil's class ("5 Ә"), the staff member's position, or empty."""
    if person is None:
        return ""
    # A missing reverse one-to-one raises a subclass of AttributeError.
    pupil = getattr(person, "pupil", None)
    if pupil is not None:
        return str(pupil.school_class or "")
    staff = getattr(person, "staff", None)
    return staff.position if staff is not None else ""


# --- who is inside now --------------------------------------------------------------


def today_bounds(*, now: dt.datetime | None = None) -> tuple[dt.datetime, dt.datetime]:
    """The start of today and of tomorrow, on the school's local date (Asia/Almaty)."""
    day = local_time(now or timezone.now()).date()
    zone = ZoneInfo(settings.SCHOOL_TIME_ZONE)
    starts = dt.datetime.combine(day, dt.time.min, tzinfo=zone)
    return starts, dt.datetime.combine(day + dt.timedelta(days=1), dt.time.min, tzinfo=zone)


def inside_today(school: School, *, now: dt.datetime | None = None) -> QuerySet[Presence]:
    """Presence of persons inside the school by a pass made today (local date).

    Presence never expires by itself: someone who left by a door without a reader, or
    whose exit was never reported, would stay "inside" forever. Only today's passes
    count, so the count starts from zero each morning.
    """
    starts, ends = today_bounds(now=now)
    return Presence.objects.filter(
        school=school, zone__isnull=False, since__gte=starts, since__lt=ends
    )


def zone_counts(school: School, *, now: dt.datetime | None = None) -> QuerySet[Zone]:
    """Every zone of the school with ``inside``: how many persons are in it now, by a
    pass made today (see ``inside_today``)."""
    starts, ends = today_bounds(now=now)
    today = Q(presence__since__gte=starts, presence__since__lt=ends)
    return (
        Zone.objects.filter(school=school)
        .annotate(inside=Count("presence", filter=today))
        .order_by("id")
    )


def inside_now(
    school: School,
    *,
    zone: Zone | None = None,
    search: str = "",
    now: dt.datetime | None = None,
) -> QuerySet[Presence]:
    """Persons inside the school now (a zone, by a pass made today), by zone then name."""
    rows = (
        inside_today(school, now=now)
        .filter(matching(search))
        .select_related(
            "person__pupil__school_class", "person__staff", "zone", "door", "zone__parent"
        )
        .order_by("zone_id", "person__last_name", "person__first_name")
    )
    if zone is not None:
        rows = rows.filter(zone=zone)
    return rows


def visitors_inside(school: School) -> QuerySet[Visitor]:
    return Visitor.objects.filter(school=school, status=Visitor.Status.INSIDE).order_by(
        "signed_in_at"
    )


# --- the live feed -------------------------------------------------------------------


@dataclass(frozen=True)
class PassLine:
    """One pass or refusal as the guard's feed shows it."""

    id: int
    at: dt.datetime
    allowed: bool
    reason: str
    message: str
    direction: str
    door: str
    name: str
    school_class: str
    person_id: int | None
    has_photo: bool
    blocked: bool
    visitor: bool
    presented: str
    clock_flagged: bool
    alert: bool


def recent_passes(
    school: School,
    *,
    language: str,
    after: int | None = None,
    ids: Collection[int] | None = None,
    received_since: dt.datetime | None = None,
    limit: int = FEED_SIZE,
) -> list[PassLine]:
    """The school's latest passes and refusals, newest first, at most ``limit``.

    Narrowed, for the feed's refreshes, to the events ``ids`` (those a live message
    named; ids of another school are ignored), to those stored at or after
    ``received_since`` (the fallback refresh: ids are taken at insert but transactions
    commit out of order, so the page asks again by time and drops rows it already has),
    or to those with an id above ``after``. Refusals carry their reason as the terminal
    showed it, in ``language``.
    """
    events = AccessEvent.objects.filter(school=school).select_related(
        "person__pupil__school_class", "person__staff", "door", "visitor"
    )
    if ids is not None:
        events = events.filter(pk__in=list(ids)[:limit])
    if received_since is not None:
        # The (school, occurred_at) index bounds the scan; a pass reported more than a
        # day late is in the log, not the live feed.
        events = events.filter(
            received_at__gte=received_since,
            occurred_at__gte=received_since - LATE_REPORT_WINDOW,
        )
    if after is not None:
        events = events.filter(pk__gt=after)
    rows = list(events.order_by("-pk")[:limit])
    alerted = set(
        WatchAlert.objects.filter(
            school=school, event_id__in=[row.pk for row in rows], acknowledged_at__isnull=True
        ).values_list("event_id", flat=True)
    )
    return [
        PassLine(
            id=event.pk,
            at=event.occurred_at,
            allowed=event.allowed,
            reason=event.reason,
            message=message(event.reason, language),
            direction=event.direction,
            door=event.door.name if event.door is not None else "",
            name=_event_name(event),
            school_class=class_of(event.person),
            person_id=event.person_id,
            has_photo=bool(event.person is not None and event.person.photo),
            blocked=event.person is not None and event.person.blocked_at is not None,
            visitor=event.visitor_id is not None,
            presented=event.presented,
            clock_flagged=event.clock_flagged,
            alert=event.pk in alerted,
        )
        for event in rows
    ]


def _event_name(event: AccessEvent) -> str:
    if event.person is not None:
        return event.person.full_name
    if event.visitor is not None:
        return event.visitor.full_name
    return ""


# --- evacuation roll calls ------------------------------------------------------------


@dataclass(frozen=True)
class RollCounts:
    total: int
    accounted: int

    @property
    def missing(self) -> int:
        return self.total - self.accounted


@dataclass(frozen=True)
class RollLine:
    """One person (or visitor) to find at the assembly point."""

    entry_id: int
    name: str
    school_class: str
    zone: str
    accounted_at: dt.datetime | None
    accounted_by: str
    blocked: bool
    is_visitor: bool


@dataclass(frozen=True)
class RollGroup:
    label: str
    lines: list[RollLine]

    @property
    def missing(self) -> int:
        return sum(1 for line in self.lines if line.accounted_at is None)


def open_roll_call(school: School) -> RollCall | None:
    """The roll call of the evacuation going on now, if any."""
    return (
        RollCall.objects.filter(school=school, ended_at__isnull=True)
        .order_by("-started_at")
        .first()
    )


def roll_calls_of(school: School) -> QuerySet[RollCall]:
    """Every roll call of the school, latest first, with ``total``, ``accounted`` and
    ``missing``."""
    return (
        RollCall.objects.filter(school=school)
        .select_related("started_by")
        .annotate(
            total=Count("entries"),
            accounted=Count("entries", filter=Q(entries__accounted_at__isnull=False)),
            missing=Count("entries", filter=Q(entries__accounted_at__isnull=True)),
        )
        .order_by("-started_at")
    )


def roll_call_counts(roll_call: RollCall) -> RollCounts:
    found = RollCallEntry.objects.filter(roll_call=roll_call).aggregate(
        total=Count("pk"), accounted=Count("pk", filter=Q(accounted_at__isnull=False))
    )
    return RollCounts(total=found["total"], accounted=found["accounted"])


def roll_call_lines(
    roll_call: RollCall, *, search: str = "", group_by: str = "class"
) -> list[RollGroup]:
    """The roll call's lines grouped by class (pupils; then staff, others, visitors) or by
    the zone they were in at the alarm, each group by name.

    ``search`` narrows to names or a class (see ``matching``); visitors match by name.
    """
    entries = RollCallEntry.objects.filter(roll_call=roll_call).select_related(
        "person__pupil__school_class", "person__staff", "visitor", "zone", "accounted_by"
    )
    search = search.strip()
    if search:
        entries = entries.filter(matching(search) | Q(visitor__full_name__istartswith=search))
    groups: dict[tuple[object, ...], RollGroup] = {}
    for entry in entries:
        line = _roll_line(entry)
        key = _zone_key(entry) if group_by == "zone" else _class_key(entry)
        groups.setdefault(key, RollGroup(label=str(key[-1]), lines=[])).lines.append(line)
    ordered = [groups[key] for key in sorted(groups, key=lambda key: key[:-1])]
    for group in ordered:
        group.lines.sort(key=lambda line: line.name)
    return ordered


def _roll_line(entry: RollCallEntry) -> RollLine:
    person = entry.person
    return RollLine(
        entry_id=entry.pk,
        name=person.full_name if person is not None else (entry.visitor or Visitor()).full_name,
        school_class=class_of(person),
        zone=entry.zone.name if entry.zone is not None else "",
        accounted_at=entry.accounted_at,
        accounted_by=str(entry.accounted_by or "") if entry.accounted_at else "",
        blocked=person is not None and person.blocked_at is not None,
        is_visitor=entry.visitor_id is not None,
    )


def _class_key(entry: RollCallEntry) -> tuple[object, ...]:
    """(order, grade, letter, label): classes by grade, then staff, others, visitors."""
    person = entry.person
    if person is None:
        return (4, 0, "", _("Visitors"))
    pupil = getattr(person, "pupil", None)
    if pupil is not None and pupil.school_class is not None:
        school_class = pupil.school_class
        return (1, school_class.grade, school_class.letter, str(school_class))
    if pupil is not None:
        return (1, 99, "", _("Pupils without a class"))
    if getattr(person, "staff", None) is not None:
        return (2, 0, "", _("Staff"))
    return (3, 0, "", _("Others"))


def _zone_key(entry: RollCallEntry) -> tuple[object, ...]:
    if entry.zone is None:
        return (1, 0, _("Zone unknown"))
    return (0, entry.zone_id, entry.zone.name)
