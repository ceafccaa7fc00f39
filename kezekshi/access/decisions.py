"""The access decision: credential → person → rules → allow or deny, with a reason code.

Hot path: at 07:50 eight lanes ask at once. A school's rules (doors, groups, windows,
shifts) are compiled once per ``AccessSettings.rules_version`` and kept in the process;
each decision then costs one query for the settings row (mode and version), one for
the credential with its holder, and only where a rule needs it one for the person's
presence (anti-passback) or exit permits.
"""

from __future__ import annotations

import datetime as dt
import threading
import time
from dataclasses import dataclass, field
from functools import cache
from typing import Any
from zoneinfo import ZoneInfo

from django.conf import settings
from django.db import connections, router
from django.db.models import Model
from django.utils import translation
from django.utils.functional import Promise
from django.utils.translation import gettext_lazy as _

from kezekshi.access.credentials import (
    BadCredential,
    NoSchoolKey,
    QrRefused,
    normalise_card_uid,
    pin_digest,
    read_qr,
)
from kezekshi.access.models import (
    AccessGroup,
    AccessSettings,
    Credential,
    Direction,
    Door,
    ExitPermit,
    Presence,
    TimeWindow,
    Visitor,
    WatchEntry,
)
from kezekshi.core.calendar import WorkingCalendar
from kezekshi.core.models import School, Shift
from kezekshi.people.models import Person, Pupil, SchoolClass, StaffMember

# Reason codes and what the terminal shows; kk and ru are sent to every terminal.
REASONS: dict[str, Promise] = {
    "ok": _("Welcome!"),
    "goodbye": _("Goodbye!"),
    "evacuation": _("Evacuation: leave the building."),
    "evacuation_no_entry": _("Evacuation: entry is closed."),
    "lockdown": _("Lockdown: passage is closed."),
    "unknown_credential": _("Card not recognised. Ask the guard."),
    "invalid_credential": _("The card could not be read. Try again."),
    "credential_blocked": _("This card is blocked. Ask the guard."),
    "credential_not_valid_now": _("This pass is not valid now."),
    "qr_invalid": _("This QR code is not valid."),
    "qr_expired": _("This QR code has expired. Open it again."),
    "biometric_no_consent": _("Face and fingerprint are not allowed. Use your card."),
    "not_enrolled": _("Not enrolled at this school. Ask the guard."),
    "no_access_here": _("No access through this door."),
    "outside_hours": _("No access at this time."),
    "day_off": _("The school is closed today."),
    "anti_passback": _("You have already passed. Ask the guard."),
    "exit_permit_required": _("Leaving during lessons needs a permit from your teacher."),
    "visitor_pass_not_valid": _("The visitor pass is not valid now."),
    "watch_list": _("Please wait for the guard."),
    "unknown_door": _("This device is not assigned to a door."),
    "refused": _("No entry. Ask the guard."),
}
TERMINAL_LANGUAGES = ("kk", "ru", "en")


@cache
def message(reason: str, language: str) -> str:
    with translation.override(language):
        # A terminal's own reason code (zk_44, hik_76…) has no text of ours.
        return str(REASONS.get(reason, REASONS["refused"]))


@dataclass(frozen=True)
class DoorRule:
    id: int
    zone_id: int
    is_exit: bool
    name: dict[str, str]
    parent_zone_id: int | None = None  # where passing out of ``zone_id`` leads; None: outside

    def zone_after(self, direction: str) -> int | None:
        return self.zone_id if direction == Direction.IN else self.parent_zone_id

    def name_in(self, language: str) -> str:
        return self.name.get(language) or self.name["kk"]


@dataclass(frozen=True)
class GroupRule:
    members: str
    person_ids: frozenset[int]
    door_ids: frozenset[int]
    valid_from: dt.date | None
    valid_until: dt.date | None
    open_on_days_off: bool
    windows: dict[int, tuple[tuple[dt.time, dt.time], ...]]  # weekday → windows; {} = any time

    def admits(self, *, person_id: int, pupil_shift: int | None, is_staff: bool) -> bool:
        if self.members == AccessGroup.Members.LISTED:
            return person_id in self.person_ids
        if self.members == AccessGroup.Members.STAFF:
            return is_staff
        if pupil_shift is None:
            return False
        return self.members == f"pupils_shift_{pupil_shift}"

    def open_at(self, local: dt.datetime, working_day: bool) -> str | None:
        """None when the group may pass at ``local``, otherwise the reason it may not."""
        day = local.date()
        if (self.valid_from and day < self.valid_from) or (
            self.valid_until and day > self.valid_until
        ):
            return "outside_hours"
        if not working_day and not self.open_on_days_off:
            return "day_off"
        if not self.windows:
            return None
        now = local.time()
        for start, end in self.windows.get(local.weekday(), ()):
            if start <= now < end:
                return None
        return "outside_hours"


@dataclass
class Rules:
    """A school's rules compiled for fast decisions; rebuilt when ``rules_version`` moves."""

    school_id: int
    version: int
    doors: dict[int, DoorRule]
    groups: list[GroupRule]
    shifts: dict[int, tuple[dt.time, dt.time]]
    calendar: WorkingCalendar
    # person id → (watch-list entry id, last day it holds or None)
    watched: dict[int, tuple[int, dt.date | None]]
    compiled_at: float = field(default_factory=time.monotonic)
    _working: dict[dt.date, bool] = field(default_factory=dict)

    def watch_entry(self, person_id: int, day: dt.date) -> int | None:
        entry = self.watched.get(person_id)
        if entry is None or (entry[1] is not None and day > entry[1]):
            return None
        return entry[0]

    def working_day(self, day: dt.date) -> bool:
        if day not in self._working:
            self._working[day] = self.calendar.is_working_day(day)
        return self._working[day]


_compiled: dict[int, Rules] = {}
_compile_lock = threading.Lock()


def forget_rules() -> None:
    """Drop every compiled rule set of this process (tests; a restored database)."""
    with _compile_lock:
        _compiled.clear()
    forget_settings()


# The calendar (holidays, vacations, shifts) is edited without raising ``rules_version``;
# compiled rules are rebuilt at least this often so such edits reach every process.
RULES_MAX_AGE = 300.0


def _fresh(rules: Rules | None, version: int) -> bool:
    return (
        rules is not None
        and rules.version == version
        and time.monotonic() - rules.compiled_at < RULES_MAX_AGE
    )


def rules_for(school_id: int, version: int) -> Rules:
    rules = _compiled.get(school_id)
    if rules is not None and _fresh(rules, version):
        return rules
    with _compile_lock:
        rules = _compiled.get(school_id)
        if rules is None or not _fresh(rules, version):
            rules = _compile(school_id, version)
            _compiled[school_id] = rules
    return rules


def _compile(school_id: int, version: int) -> Rules:
    doors = {
        door.pk: DoorRule(
            door.pk,
            door.zone_id,
            door.is_exit,
            {"kk": door.name_kk, "ru": door.name_ru, "en": door.name_en or door.name_ru},
            door.zone.parent_id,
        )
        for door in Door.objects.filter(school_id=school_id).select_related("zone")
    }
    windows: dict[int, dict[int, list[tuple[dt.time, dt.time]]]] = {}
    for window in TimeWindow.objects.filter(school_id=school_id):
        windows.setdefault(window.group_id, {}).setdefault(window.weekday, []).append(
            (window.starts_at, window.ends_at)
        )
    groups = []
    for group in AccessGroup.objects.filter(school_id=school_id).prefetch_related("doors"):
        persons: frozenset[int] = frozenset()
        if group.members == AccessGroup.Members.LISTED:
            persons = frozenset(group.persons.values_list("pk", flat=True))
        groups.append(
            GroupRule(
                members=group.members,
                person_ids=persons,
                door_ids=frozenset(door.pk for door in group.doors.all()),
                valid_from=group.valid_from,
                valid_until=group.valid_until,
                open_on_days_off=group.open_on_days_off,
                windows={day: tuple(spans) for day, spans in windows.get(group.pk, {}).items()},
            )
        )
    shifts = {
        shift.number: (shift.starts_at, shift.ends_at)
        for shift in Shift.objects.filter(school_id=school_id)
    }
    watched = {
        person_id: (entry_id, valid_until)
        for person_id, entry_id, valid_until in WatchEntry.objects.filter(
            school_id=school_id, is_active=True, person__isnull=False
        ).values_list("person_id", "pk", "valid_until")
    }
    school = School.objects.get(pk=school_id)
    calendar = WorkingCalendar(school=school)
    return Rules(school_id, version, doors, groups, shifts, calendar, watched)


def school_doors(school_id: int) -> dict[int, DoorRule]:
    """The school's doors as the decision cache holds them (current within a rules change)."""
    return rules_for(school_id, current_settings(school_id).rules_version).doors


def settings_for(school_id: int) -> AccessSettings:
    """The school's access settings row, created with defaults on first use."""
    row = AccessSettings.objects.filter(school_id=school_id).first()
    if row is None:
        row, _created = AccessSettings.objects.get_or_create(school_id=school_id)
    return row


# The settings row (mode, rules version) as decisions read it: at most this old. Reading
# it costs more than the rest of a decision; a mode switched in another process reaches
# the doors within the second, in this process at once (``forget_settings``).
SETTINGS_MAX_AGE = 1.0
_settings: dict[int, tuple[float, AccessSettings]] = {}


def current_settings(school_id: int) -> AccessSettings:
    """``settings_for`` for the hot path: read-only, shared, at most a second old."""
    now = time.monotonic()
    cached = _settings.get(school_id)
    if cached is not None and now - cached[0] < SETTINGS_MAX_AGE:
        return cached[1]
    row = settings_for(school_id)
    _settings[school_id] = (now, row)
    return row


def forget_settings(school_id: int | None = None) -> None:
    if school_id is None:
        _settings.clear()
    else:
        _settings.pop(school_id, None)


@dataclass
class Decision:
    allowed: bool
    reason: str
    direction: str
    at: dt.datetime
    door_id: int | None
    credential: Credential | None = None
    person: Person | None = None
    visitor: Visitor | None = None
    presented: str = ""
    credential_kind: str = ""
    watch_entry_id: int | None = None
    mode: str = AccessSettings.Mode.NORMAL

    def messages(self) -> dict[str, str]:
        reason = self.reason
        if self.allowed and reason == "ok" and self.direction == Direction.OUT:
            reason = "goodbye"
        return {language: message(reason, language) for language in TERMINAL_LANGUAGES}

    @property
    def pupil_class(self) -> str:
        pupil = _pupil_of(self.person)
        return str(pupil.school_class) if pupil and pupil.school_class_id else ""

    @property
    def display_name(self) -> str:
        if self.person is not None:
            return f"{self.person.first_name} {self.person.last_name[:1]}.".strip()
        if self.visitor is not None:
            return self.visitor.full_name
        return ""


def _pupil_of(person: Person | None):  # type: ignore[no-untyped-def]
    if person is None:
        return None
    try:
        return person.pupil
    except Person.pupil.RelatedObjectDoesNotExist:  # type: ignore[attr-defined]
        return None


def _staff_of(person: Person | None):  # type: ignore[no-untyped-def]
    if person is None:
        return None
    try:
        return person.staff
    except Person.staff.RelatedObjectDoesNotExist:  # type: ignore[attr-defined]
        return None


def local_time(moment: dt.datetime) -> dt.datetime:
    return moment.astimezone(ZoneInfo(settings.SCHOOL_TIME_ZONE))


def find_credential(*, school_id: int, kind: str, value: str, at: dt.datetime) -> Credential:
    """The credential presented, with its holder loaded; raises ``Unrecognised``."""
    if kind == Credential.Kind.CARD:
        try:
            stored = normalise_card_uid(value)
        except BadCredential as exc:
            raise Unrecognised("invalid_credential", value[:64]) from exc
    elif kind == Credential.Kind.QR:
        try:
            qr = read_qr(value, at=at)
        except QrRefused as exc:
            raise Unrecognised(exc.reason, "") from exc
        if qr.school_id != school_id:
            raise Unrecognised("qr_invalid", "")
        stored = qr.credential_value
    elif kind == Credential.Kind.PIN:
        try:
            stored = pin_digest(school_id=school_id, pin=value)
        except BadCredential as exc:
            raise Unrecognised("invalid_credential", "") from exc
        except NoSchoolKey as exc:  # a gateway that has not synced yet
            raise Unrecognised("unknown_credential", "") from exc
    elif kind in (Credential.Kind.FACE, Credential.Kind.FINGERPRINT):
        stored = value.strip()[:128]
    else:
        raise Unrecognised("invalid_credential", "")
    credential = _credential_with_holder(school_id=school_id, kind=kind, value=stored)
    if credential is None:
        raise Unrecognised("unknown_credential", stored if kind == Credential.Kind.CARD else "")
    return credential


# The credential with its holder in one statement, as
# ``Credential.objects.select_related("person__pupil__school_class", "person__staff",
# "visitor").filter(school_id=…, kind=…, value=…).first()`` loads it — but the SQL is
# built once per database, not compiled by the ORM on every decision (which cost more
# than the query itself). The IIN is left deferred: a decision never reads it.
_HOLDER_PARTS: tuple[tuple[type[Model], str, str], ...] = (
    (Credential, "c", ""),
    (Person, "p", "p.id = c.person_id"),
    (Pupil, "pu", "pu.person_id = p.id"),
    (SchoolClass, "sc", "sc.id = pu.school_class_id"),
    (StaffMember, "st", "st.person_id = p.id"),
    (Visitor, "v", "v.id = c.visitor_id"),
)
_NOT_READ = {(Person, "iin")}


@dataclass(frozen=True)
class _Part:
    model: type[Model]
    attnames: tuple[str, ...]
    converters: tuple[tuple[Any, Any, tuple[Any, ...]], ...]  # (field, column, converters)


_holder_sql: dict[str, tuple[str, tuple[_Part, ...]]] = {}


def _holder_query(alias: str) -> tuple[str, tuple[_Part, ...]]:
    if alias in _holder_sql:
        return _holder_sql[alias]
    connection = connections[alias]
    qn = connection.ops.quote_name
    columns, parts, joins = [], [], []
    for model, short, condition in _HOLDER_PARTS:
        fields = [f for f in model._meta.concrete_fields if (model, f.name) not in _NOT_READ]
        columns += [f"{short}.{qn(f.column or f.attname)}" for f in fields]
        converters = []
        for f in fields:
            column = f.get_col(short)
            found = connection.ops.get_db_converters(column) + f.get_db_converters(connection)
            converters.append((f, column, tuple(found)))
        parts.append(_Part(model, tuple(f.attname for f in fields), tuple(converters)))
        if condition:
            joins.append(f"LEFT JOIN {qn(model._meta.db_table)} {short} ON {condition}")
    # Only names from the models' metadata are put in the text; the values are parameters.
    table = qn(Credential._meta.db_table)
    sql = (
        f"SELECT {', '.join(columns)} FROM {table} c {' '.join(joins)} "  # noqa: S608
        "WHERE c.school_id = %s AND c.kind = %s AND c.value = %s"
    )
    _holder_sql[alias] = (sql, tuple(parts))
    return _holder_sql[alias]


def _credential_with_holder(*, school_id: int, kind: str, value: str) -> Credential | None:
    alias = router.db_for_read(Credential)
    sql, parts = _holder_query(alias)
    connection = connections[alias]
    with connection.cursor() as cursor:
        raw = connection.connection
        if connection.vendor == "postgresql" and raw.prepare_threshold is not None:
            # Prepared at once on each connection: PostgreSQL plans the joins once, not
            # at every decision (Django's cursors prepare only from the fifth run, and
            # never when DATABASE_SERVER_SIDE_BINDING=0).
            import psycopg

            with connection.wrap_database_errors, psycopg.Cursor(raw) as prepared:
                prepared.execute(sql, [school_id, kind, value], prepare=True)
                row = prepared.fetchone()
        else:
            cursor.execute(sql, [school_id, kind, value])
            row = cursor.fetchone()
    if row is None:
        return None
    objects: list[Any] = []
    start = 0
    for part in parts:
        values = list(row[start : start + len(part.attnames)])
        start += len(part.attnames)
        if values[0] is None:  # the primary key: no such row joined
            objects.append(None)
            continue
        for index, (_field, column, converters) in enumerate(part.converters):
            for convert in converters:
                values[index] = convert(values[index], column, connection)
        objects.append(part.model.from_db(alias, part.attnames, values))
    credential, person, pupil, school_class, staff, visitor = objects
    Credential.person.field.set_cached_value(credential, person)  # type: ignore[attr-defined]
    Credential.visitor.field.set_cached_value(credential, visitor)  # type: ignore[attr-defined]
    if person is not None:
        Person.pupil.related.set_cached_value(person, pupil)  # type: ignore[attr-defined]
        Person.staff.related.set_cached_value(person, staff)  # type: ignore[attr-defined]
    if pupil is not None:
        Pupil.person.field.set_cached_value(pupil, person)  # type: ignore[attr-defined]
        Pupil.school_class.field.set_cached_value(pupil, school_class)  # type: ignore[attr-defined]
    if staff is not None:
        StaffMember.person.field.set_cached_value(staff, person)  # type: ignore[attr-defined]
    return credential  # type: ignore[no-any-return]


class Unrecognised(Exception):
    def __init__(self, reason: str, presented: str) -> None:
        super().__init__(reason)
        self.reason = reason
        self.presented = presented


def decide(
    *,
    school_id: int,
    door_id: int | None,
    direction: str,
    at: dt.datetime,
    credential_kind: str,
    credential_value: str,
) -> Decision:
    """Whether the holder of the credential may pass ``door_id`` in ``direction`` at ``at``.

    Reads only; recording the pass is ``services.record_decision``. Never raises for a
    refusal: an unknown or invalid credential is a denial with its reason.
    """
    access = current_settings(school_id)
    decision = Decision(
        allowed=False,
        reason="unknown_credential",
        direction=direction,
        at=at,
        door_id=door_id,
        credential_kind=credential_kind,
        mode=access.mode,
    )
    rules = rules_for(school_id, access.rules_version)
    door = rules.doors.get(door_id) if door_id is not None else None
    decision.door_id = door.id if door is not None else None  # never another school's door
    try:
        credential = find_credential(
            school_id=school_id, kind=credential_kind, value=credential_value, at=at
        )
    except Unrecognised as exc:
        decision.reason, decision.presented = exc.reason, exc.presented
        if access.mode == AccessSettings.Mode.EVACUATION and direction == Direction.OUT:
            decision.allowed, decision.reason = True, "evacuation"
        return decision
    decision.credential = credential
    decision.person, decision.visitor = credential.person, credential.visitor
    decision.reason = _refusal(decision, credential, access, rules, door) or "ok"
    decision.allowed = decision.reason in {"ok", "evacuation"}
    return decision


def _refusal(
    decision: Decision,
    credential: Credential,
    access: AccessSettings,
    rules: Rules,
    door: DoorRule | None,
) -> str | None:
    """The reason to refuse, or None to allow. The order is the order a guard would ask."""
    out = decision.direction == Direction.OUT
    person = credential.person
    staff = _staff_of(person)
    is_staff = staff is not None and staff.is_active
    if access.mode == AccessSettings.Mode.EVACUATION:
        if out:
            return "evacuation" if _evacuation_exit(door) else None
        if not is_staff:
            return "evacuation_no_entry"
    if access.mode == AccessSettings.Mode.LOCKDOWN and not is_staff:
        return "lockdown"
    if credential.status != Credential.Status.ACTIVE:
        return "credential_blocked"
    if (credential.valid_from and decision.at < credential.valid_from) or (
        credential.valid_until and decision.at > credential.valid_until
    ):
        return "credential_not_valid_now"
    if door is None:
        return "unknown_door"
    if credential.visitor is not None:
        return _visitor_refusal(credential.visitor, decision, door)
    assert person is not None
    if credential.kind in (Credential.Kind.FACE, Credential.Kind.FINGERPRINT):
        from kezekshi.privacy.services import biometric_state

        if not biometric_state(person, credential.kind).allowed:
            return "biometric_no_consent"
    watch_id = rules.watch_entry(person.pk, local_time(decision.at).date())
    if not out and watch_id is not None:
        decision.watch_entry_id = watch_id
        return "watch_list"
    pupil = _pupil_of(person)
    if pupil is not None and not pupil.is_active:
        return "not_enrolled"
    if pupil is None and staff is not None and not staff.is_active:
        return "not_enrolled"
    local = local_time(decision.at)
    if out:
        return _exit_refusal(pupil, access, rules, door, local)
    shift = pupil.school_class.shift if pupil is not None and pupil.school_class else None
    groups = [
        group
        for group in rules.groups
        if door.id in group.door_ids
        and group.admits(person_id=person.pk, pupil_shift=shift, is_staff=is_staff)
    ]
    if not groups:
        return "no_access_here"
    working = rules.working_day(local.date())
    reasons = [group.open_at(local, working) for group in groups]
    if None not in reasons:
        return "day_off" if "day_off" in reasons else "outside_hours"
    return _anti_passback(person, access, door, decision.at, Direction.IN)


def _evacuation_exit(door: DoorRule | None) -> bool:
    return door is None or door.is_exit


def _exit_refusal(
    pupil, access: AccessSettings, rules: Rules, door: DoorRule, local: dt.datetime
) -> str | None:  # type: ignore[no-untyped-def]
    if pupil is None or not door.is_exit or pupil.school_class is None:
        return None
    grade = pupil.school_class.grade
    if not access.permit_grade_from <= grade <= access.permit_grade_to:
        return None
    hours = rules.shifts.get(pupil.school_class.shift)
    if hours is None or not rules.working_day(local.date()):
        return None
    starts, ends = hours
    if not starts <= local.time() < ends:
        return None
    permitted = ExitPermit.objects.filter(
        pupil=pupil, date=local.date(), leave_from__lte=local.time(), cancelled_at__isnull=True
    ).exists()
    return None if permitted else "exit_permit_required"


def _anti_passback(
    person: Person, access: AccessSettings, door: DoorRule, at: dt.datetime, direction: str
) -> str | None:
    if not access.anti_passback_minutes:
        return None
    last = Presence.objects.filter(school_id=access.school_id, person=person).first()
    if last is None or last.direction != direction or last.zone_id != door.zone_id:
        return None
    if dt.timedelta(0) <= at - last.since < dt.timedelta(minutes=access.anti_passback_minutes):
        return "anti_passback"
    return None


def _visitor_refusal(visitor: Visitor, decision: Decision, door: DoorRule) -> str | None:
    if visitor.status in (Visitor.Status.CANCELLED, Visitor.Status.LEFT):
        return "visitor_pass_not_valid"
    if not visitor.valid_from <= decision.at <= visitor.valid_until:
        return "visitor_pass_not_valid"
    door_ids = {d.pk for d in visitor.doors.all()}
    if door_ids and door.id not in door_ids and decision.direction == Direction.IN:
        return "no_access_here"
    return None
