"""Keeping terminals in line with our records: desired state → exactly the commands that
bring each terminal there.

For every active terminal of a school that keeps its own user table (a ``Link`` with a
ZKTeco or Hikvision protocol) we work out who may pass its door — the same rules the
access decision applies to an entry, without the clock: enrolled, admitted by an access
group through that door, not on the watch list, and holding something the terminal can
recognise (an active card, or a face photo with biometric consent on a face terminal).
Each person becomes a device user (``pin`` = the person's id) with a sanitised name, the
card as a decimal number, and a validity window. What we last commanded is kept in
``Enrolment.digest``; only a difference is queued (``user.upsert``, ``user.delete``,
``face.upsert``, ``face.delete``), and the command queue (``devices.queue``) carries it
to the terminal.

A person whose data are blocked (privacy) still passes with a card, as at the server's
own decision (docs/access.md): the card stays on the terminal, the face goes.

``Enrolment.digest`` holds two halves: the first 32 hex digits digest the user record,
the last 32 the face photo sent (``NO_FACE`` when none is meant to be there). A face
removal keeps ``has_face`` until the terminal confirms it (``queue._apply``), so the
portal can show "removal waiting for the device". A command that fails makes its half
unknown (``queue._forget``), and the failure moves the fingerprint, so the next
reconcile queues it again.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import time
import unicodedata
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any
from zoneinfo import ZoneInfo

from django.conf import settings
from django.core.cache import cache
from django.db import transaction
from django.db.models import (
    Count,
    F,
    IntegerField,
    Max,
    OuterRef,
    Q,
    QuerySet,
    Subquery,
    Sum,
    Value,
)
from django.db.models.functions import Coalesce
from django.utils import timezone

from kezekshi.access.models import (
    AccessGroup,
    AccessSettings,
    Credential,
    Device,
    WatchEntry,
)
from kezekshi.core.models import School
from kezekshi.devices import queue
from kezekshi.devices.models import Command, Enrolment, Link, Protocol

# The digest layout lives with the queue, which corrects it with the devices' answers.
from kezekshi.devices.queue import DELETING as DELETING
from kezekshi.devices.queue import NO_FACE as NO_FACE
from kezekshi.people.models import Guardianship, Person, Pupil, SchoolClass, StaffMember
from kezekshi.privacy.models import Consent
from kezekshi.privacy.services import biometric_states

# Terminals that keep their own user table and get it from us.
TERMINAL_PROTOCOLS = (Protocol.ZKTECO_ACC, Protocol.ZKTECO_ATT, Protocol.HIKVISION)
# Terminals that recognise faces (a face_terminal of another protocol too).
FACE_PROTOCOLS = (Protocol.HIKVISION, Protocol.ZKTECO_ACC)
# How long a name each firmware keeps: the attendance dialect's Name is 24 bytes wide.
NAME_LIMITS = {Protocol.ZKTECO_ATT: 24, Protocol.ZKTECO_ACC: 50, Protocol.HIKVISION: 32}
FINGERPRINT_KEY = "devices:sync:fingerprint:{school_id}"
FINGERPRINT_TTL = 24 * 3600
# A process looks at a school's fingerprint at most this often: terminals poll every
# few seconds, and a change reaches them this much later at worst.
CHECK_EVERY = 2.0
_CHUNK = 500


# --- what a terminal should hold --------------------------------------------------------


def sanitise_name(text: str, *, limit: int) -> str:
    """A name a terminal can show and no command can be smuggled in: control and format
    characters (tab, newline, NUL, bidi overrides…) become spaces, runs of spaces one."""
    cleaned = "".join(" " if unicodedata.category(ch).startswith("C") else ch for ch in text)
    return " ".join(cleaned.split())[:limit].strip()


def device_name(last_name: str, first_name: str, *, limit: int) -> str:
    """ "Last First", shortened sensibly to ``limit`` characters: the first name becomes an
    initial before the last name is cut."""
    last = sanitise_name(last_name, limit=limit)
    first = sanitise_name(first_name, limit=limit)
    full = f"{last} {first}".strip()
    if len(full) <= limit:
        return full
    if first:
        short = f"{last} {first[0]}."
        if len(short) <= limit:
            return short
    return last[:limit].strip()


def card_number(value: str) -> str:
    """A normalised card UID (hex) as the decimal number terminals store."""
    return str(int(value, 16))


def _local(moment: dt.datetime) -> str:
    return moment.astimezone(ZoneInfo(settings.SCHOOL_TIME_ZONE)).isoformat(timespec="seconds")


def _day_start(day: dt.date) -> dt.datetime:
    return dt.datetime.combine(day, dt.time.min, tzinfo=ZoneInfo(settings.SCHOOL_TIME_ZONE))


def _day_end(day: dt.date) -> dt.datetime:
    return dt.datetime.combine(day, dt.time(23, 59, 59), tzinfo=ZoneInfo(settings.SCHOOL_TIME_ZONE))


def _digest(payload: object) -> str:
    text = json.dumps(payload, sort_keys=True, ensure_ascii=False)
    return hashlib.sha256(text.encode()).hexdigest()[:32]


@dataclass(frozen=True)
class DeviceUser:
    """One person as one terminal should hold them."""

    person_id: int
    data: dict[str, Any]  # the user.upsert payload
    photo: str  # the photo's file name when the face belongs on the terminal, else ""

    @property
    def pin(self) -> str:
        return str(self.data["pin"])

    @property
    def user_digest(self) -> str:
        return _digest(self.data)

    @property
    def face_digest(self) -> str:
        return _digest({"pin": self.pin, "photo": self.photo}) if self.photo else NO_FACE


@dataclass(frozen=True)
class _Group:
    members: str
    person_ids: frozenset[int]
    door_ids: frozenset[int]
    valid_from: dt.date | None
    valid_until: dt.date | None

    def admits(self, person: _Person) -> bool:
        # The same membership test as decisions.GroupRule.admits.
        if self.members == AccessGroup.Members.LISTED:
            return person.pk in self.person_ids
        if self.members == AccessGroup.Members.STAFF:
            return person.is_staff
        return person.shift is not None and self.members == f"pupils_shift_{person.shift}"


@dataclass
class _Person:
    pk: int
    last_name: str
    first_name: str
    photo: str
    blocked: bool
    enrolled: bool
    is_staff: bool
    shift: int | None
    card: tuple[str, dt.datetime | None, dt.datetime | None] | None = None
    face_allowed: bool = False


@dataclass
class SchoolState:
    """Everything the desired state of a school's terminals is computed from, read with
    a handful of queries."""

    school_id: int
    today: dt.date
    persons: dict[int, _Person] = field(default_factory=dict)
    groups: list[_Group] = field(default_factory=list)

    def users_for(self, device: Device) -> dict[str, DeviceUser]:
        """The persons ``device`` should hold, by pin."""
        link: Link = device.link
        if device.door_id is None:
            return {}
        limit = NAME_LIMITS.get(link.protocol, 24)  # type: ignore[call-overload]
        faces = link.protocol in FACE_PROTOCOLS or device.kind == Device.Kind.FACE_TERMINAL
        groups = [
            group
            for group in self.groups
            if device.door_id in group.door_ids
            and (group.valid_until is None or group.valid_until >= self.today)
        ]
        users: dict[str, DeviceUser] = {}
        if not groups:
            return users
        for person in self.persons.values():
            if not person.enrolled:
                continue
            admitting = [group for group in groups if group.admits(person)]
            if not admitting:
                continue
            photo = person.photo if faces and person.face_allowed else ""
            if person.card is None and not photo:
                continue  # nothing the terminal could recognise them by
            starts, ends = _group_window(admitting)
            card = ""
            if person.card is not None:
                value, card_from, card_until = person.card
                card = card_number(value)
                starts = max((m for m in (starts, card_from) if m is not None), default=None)
                ends = min((m for m in (ends, card_until) if m is not None), default=None)
            pin = str(person.pk)
            data = {
                "pin": pin,
                "name": device_name(person.last_name, person.first_name, limit=limit),
                "card": card,
                "valid_from": _local(starts) if starts else None,
                "valid_until": _local(ends) if ends else None,
                "doors": [1],
            }
            users[pin] = DeviceUser(person.pk, data, photo)
        return users


def _group_window(groups: Sequence[_Group]) -> tuple[dt.datetime | None, dt.datetime | None]:
    """The span the groups admitting a person cover together (open ends stay open)."""
    starts = [g.valid_from for g in groups if g.valid_from is not None]
    ends = [g.valid_until for g in groups if g.valid_until is not None]
    return (
        _day_start(min(starts)) if len(starts) == len(groups) else None,
        _day_end(max(ends)) if len(ends) == len(groups) else None,
    )


def load_state(school_id: int, *, faces: bool, now: dt.datetime | None = None) -> SchoolState:
    """Read what the desired state is computed from: persons with their enrolment and
    class shift, active cards, groups, the watch list and — when any terminal of the
    school shows faces — the face consents. Seven queries, whatever the school's size."""
    now = now or timezone.now()
    today = now.astimezone(ZoneInfo(settings.SCHOOL_TIME_ZONE)).date()
    state = SchoolState(school_id=school_id, today=today)
    rows = Person.objects.filter(school_id=school_id).values_list(
        "pk",
        "last_name",
        "first_name",
        "photo",
        "blocked_at",
        "pupil__pk",
        "pupil__is_active",
        "pupil__school_class__shift",
        "staff__pk",
        "staff__is_active",
    )
    for pk, last, first, photo, blocked_at, pupil, pupil_active, shift, staff, staff_active in rows:
        is_staff = staff is not None and bool(staff_active)
        # decisions._refusal: a pupil who left, or a former employee who is not a pupil.
        enrolled = bool(pupil_active) if pupil is not None else staff is None or bool(staff_active)
        state.persons[pk] = _Person(
            pk=pk,
            last_name=last,
            first_name=first,
            photo=photo or "",
            blocked=blocked_at is not None,
            enrolled=enrolled,
            is_staff=is_staff,
            shift=shift if pupil is not None else None,
        )
    # On the watch list: refused at the entrance (the guard is called), so not on a terminal.
    for person_id, valid_until in WatchEntry.objects.filter(
        school_id=school_id, is_active=True, person__isnull=False
    ).values_list("person_id", "valid_until"):
        if (valid_until is None or valid_until >= today) and person_id in state.persons:
            state.persons[person_id].enrolled = False
    # The newest active card that is valid now or later (one card per device user).
    cards = (
        Credential.objects.filter(
            school_id=school_id,
            kind=Credential.Kind.CARD,
            status=Credential.Status.ACTIVE,
            person__isnull=False,
        )
        .filter(Q(valid_until__isnull=True) | Q(valid_until__gte=now))
        .order_by("person_id", "created_at", "pk")
        .values_list("person_id", "value", "valid_from", "valid_until")
    )
    for person_id, value, card_from, card_until in cards:
        if person_id in state.persons:
            state.persons[person_id].card = (value, card_from, card_until)
    listed: dict[int, set[int]] = defaultdict(set)
    for group_id, person_id in AccessGroup.persons.through.objects.filter(
        accessgroup__school_id=school_id
    ).values_list("accessgroup_id", "person_id"):
        listed[group_id].add(person_id)
    doors: dict[int, set[int]] = defaultdict(set)
    for group_id, door_id in AccessGroup.doors.through.objects.filter(
        accessgroup__school_id=school_id
    ).values_list("accessgroup_id", "door_id"):
        doors[group_id].add(door_id)
    for pk, members, valid_from, valid_until in AccessGroup.objects.filter(
        school_id=school_id
    ).values_list("pk", "members", "valid_from", "valid_until"):
        state.groups.append(
            _Group(members, frozenset(listed[pk]), frozenset(doors[pk]), valid_from, valid_until)
        )
    if faces:
        with_photo = {pk for pk, person in state.persons.items() if person.photo}
        states = biometric_states({pk: state.persons[pk].blocked for pk in with_photo}, "face")
        for pk, verdict in states.items():
            state.persons[pk].face_allowed = verdict.allowed
    return state


# --- the difference, queued ---------------------------------------------------------------


@dataclass
class _Plan:
    device: Device
    commands: list[Command] = field(default_factory=list)
    new: list[Enrolment] = field(default_factory=list)
    changed: list[Enrolment] = field(default_factory=list)

    def queue(self, kind: str, data: dict[str, Any], person_id: int | None) -> None:
        self.commands.append(Command(device=self.device, kind=kind, data=data, person_id=person_id))


def _halves(digest: str) -> tuple[str, str]:
    if len(digest) != 64:
        return "", ""
    return digest[:32], digest[32:]


def plan_device(device: Device, users: dict[str, DeviceUser], held: Iterable[Enrolment]) -> _Plan:
    """The commands and enrolment changes that bring ``device`` from ``held`` to ``users``."""
    plan = _Plan(device)
    deletes, face_deletes, upserts, face_upserts = [], [], [], []
    known: set[str] = set()
    for row in held:
        known.add(row.pin)
        user = users.get(row.pin)
        if user is None:
            if row.digest != DELETING:
                deletes.append((row.pin, row.person_id))
                row.digest = DELETING
                plan.changed.append(row)
            continue
        user_part, face_part = _halves(row.digest)
        changed = False
        if user_part != user.user_digest:
            upserts.append(user)
            user_part, changed = user.user_digest, True
        if user.photo:
            if not row.has_face or face_part != user.face_digest:
                face_upserts.append(user)
                row.has_face, row.face_confirmed = True, False
                face_part, changed = user.face_digest, True
        elif row.has_face and face_part != NO_FACE:
            # Removed when the terminal confirms; until then has_face stays (shown waiting).
            face_deletes.append(user)
            face_part, changed = NO_FACE, True
        elif not row.has_face and face_part != NO_FACE:
            face_part, changed = NO_FACE, True
        if changed or row.person_id != user.person_id:
            row.digest = user_part + face_part
            row.person_id = user.person_id
            plan.changed.append(row)
    for pin, user in users.items():
        if pin in known:
            continue
        upserts.append(user)
        if user.photo:
            face_upserts.append(user)
        plan.new.append(
            Enrolment(
                device=device,
                pin=pin,
                person_id=user.person_id,
                digest=user.user_digest + user.face_digest,
                has_face=bool(user.photo),
            )
        )
    # Removals first, then the people, then their faces (a face needs its user).
    for pin, person_id in deletes:
        plan.queue(Command.Kind.USER_DELETE, {"pin": pin}, person_id)
    for user in face_deletes:
        plan.queue(Command.Kind.FACE_DELETE, {"pin": user.pin}, user.person_id)
    for user in upserts:
        plan.queue(Command.Kind.USER_UPSERT, dict(user.data), user.person_id)
    for user in face_upserts:
        plan.queue(Command.Kind.FACE_UPSERT, {"pin": user.pin}, user.person_id)
    return plan


def _write(plan: _Plan) -> None:
    """The plan's commands queued, and what the device will hold written down."""
    queue.enqueue_many(plan.device, plan.commands)
    Enrolment.objects.bulk_create(plan.new, batch_size=_CHUNK)
    now = timezone.now()
    for row in plan.changed:
        row.updated_at = now
    Enrolment.objects.bulk_update(
        plan.changed,
        ["digest", "person", "has_face", "face_confirmed", "updated_at"],
        batch_size=_CHUNK,
    )


def terminals(school_id: int) -> QuerySet[Device]:
    """The school's active terminals that keep a user table we fill."""
    return Device.objects.filter(
        school_id=school_id, is_active=True, link__protocol__in=TERMINAL_PROTOCOLS
    ).select_related("link")


def reconcile(school_id: int, device: Device | None = None) -> int:
    """Queue exactly the commands that bring the school's terminals (or ``device`` only)
    in line with our records; returns how many were queued.

    Idempotent: a second run with nothing changed queues nothing. One transaction, under
    the lock of the school's access settings row, so two runs at once (two processes
    polled by two terminals) do not queue the same change twice.
    """
    with transaction.atomic():
        AccessSettings.objects.get_or_create(school_id=school_id)
        list(AccessSettings.objects.select_for_update().filter(school_id=school_id))
        devices = list(terminals(school_id))
        if device is not None:
            devices = [d for d in devices if d.pk == device.pk]
        if not devices:
            return 0
        faces = any(
            d.link.protocol in FACE_PROTOCOLS or d.kind == Device.Kind.FACE_TERMINAL
            for d in devices
        )
        state = load_state(school_id, faces=faces)
        held: dict[int, list[Enrolment]] = defaultdict(list)
        for row in Enrolment.objects.filter(device__in=devices):
            held[row.device_id].append(row)
        queued = 0
        for terminal in devices:
            plan = plan_device(terminal, state.users_for(terminal), held[terminal.pk])
            _write(plan)
            queued += len(plan.commands)
    return queued


def fingerprint(school_id: int) -> tuple[Any, ...]:
    """A cheap summary that moves whenever anything sync reads changes: persons (names,
    photos, blocking), pupils' enrolment and class, classes' shifts, staff, credentials,
    the rules version (groups, doors, members, watch list), the consent ledger,
    guardianships, the school's terminals, failed commands (a failure is sent again),
    and the day (validity ends). One query."""

    def agg(queryset: QuerySet[Any], expression: Any) -> Subquery:
        return Subquery(
            queryset.filter(school_id=OuterRef("pk"))
            .order_by()
            .values("school_id")
            .annotate(v=expression)
            .values("v")[:1]
        )

    def weighted(column: str) -> Any:
        return Sum(F("pk") * Coalesce(column, Value(0)), output_field=IntegerField())

    pupils = Pupil.objects.filter(is_active=True)
    row = (
        School.objects.filter(pk=school_id)
        .annotate(
            persons=agg(Person.objects.all(), Count("pk")),
            persons_changed=agg(Person.objects.all(), Max("updated_at")),
            pupils=agg(pupils, Count("pk")),
            pupils_classes=agg(pupils, weighted("school_class_id")),
            shifts=agg(SchoolClass.objects.all(), weighted("shift")),
            staff=agg(StaffMember.objects.filter(is_active=True), Sum("pk")),
            credentials=agg(Credential.objects.all(), Count("pk")),
            credentials_changed=agg(Credential.objects.all(), Max("changed_at")),
            rules=agg(AccessSettings.objects.all(), Max("rules_version")),
            consents=agg(Consent.objects.all(), Max("pk")),
            guardianships=agg(Guardianship.objects.filter(is_legal_representative=True), Sum("pk")),
            watched=agg(WatchEntry.objects.filter(is_active=True), Sum("pk")),
            devices=agg(Device.objects.filter(is_active=True), weighted("door_id")),
            device_kinds=agg(Device.objects.filter(kind=Device.Kind.FACE_TERMINAL), Sum("pk")),
            links=agg(
                Link.objects.annotate(school_id=F("device__school_id")), weighted("device_id")
            ),
            failures=agg(
                Command.objects.filter(status=Command.Status.FAILED).annotate(
                    school_id=F("device__school_id")
                ),
                Count("pk"),
            ),
        )
        .values_list(
            "persons",
            "persons_changed",
            "pupils",
            "pupils_classes",
            "shifts",
            "staff",
            "credentials",
            "credentials_changed",
            "rules",
            "consents",
            "guardianships",
            "watched",
            "devices",
            "device_kinds",
            "links",
            "failures",
        )
        .first()
    )
    today = timezone.localdate(timezone=ZoneInfo(settings.SCHOOL_TIME_ZONE))
    return (*(row or ()), today)


def _cache_key(school_id: int) -> str:
    return FINGERPRINT_KEY.format(school_id=school_id)


_checked: dict[int, float] = {}


def reconcile_if_changed(school_id: int) -> int:
    """Queue the commands that bring the school's terminals in line with our records, if
    anything changed since the last look; returns how many commands were queued. Cheap
    when nothing changed (one query), and free when this process looked at the school
    less than ``CHECK_EVERY`` seconds ago: adapters call it before they hand out
    commands."""
    now = time.monotonic()
    if now - _checked.get(school_id, -CHECK_EVERY) < CHECK_EVERY:
        return 0
    _checked[school_id] = now
    seen = repr(fingerprint(school_id))
    key = _cache_key(school_id)
    if cache.get(key) == seen:
        return 0
    queued = reconcile(school_id)
    # Remembered once committed: a rolled-back run must run again.
    transaction.on_commit(lambda: cache.set(key, seen, FINGERPRINT_TTL))
    return queued


def forget_fingerprint(school_id: int) -> None:
    """Make the next ``reconcile_if_changed`` of the school do the full diff."""
    cache.delete(_cache_key(school_id))
    _checked.pop(school_id, None)


def forget_checks() -> None:
    """Forget when this process last looked at each school (tests: ids are reused)."""
    _checked.clear()


def full_resync(device: Device) -> int:
    """Send a terminal everything again (a replaced or factory-reset one): what we think
    it holds is forgotten, every user and face is queued again, removals too, and the
    terminal is asked to count what it holds. Returns how many commands were queued."""
    with transaction.atomic():
        Enrolment.objects.filter(device=device).update(digest="", updated_at=timezone.now())
        queued = reconcile(device.school_id, device=device)
        Command.objects.create(device=device, kind=Command.Kind.QUERY_USERS, data={})
        Link.objects.filter(device=device).update(synced_at=timezone.now())
    return queued + 1
