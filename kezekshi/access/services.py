"""Writes of the access app: devices, credentials, emergency modes, and recording passes.

Each function is one transaction with keyword-only arguments. ``record_passes`` is the
one way a pass enters the database — from ``/access/decide``, the event batch API, the
device adapters and the edge gateway alike — and it updates presence, attendance,
visitors and the watch list, and queues the guardians' notices, in that transaction.
"""

from __future__ import annotations

import datetime as dt
import functools
import secrets
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass

from django.db import IntegrityError, transaction
from django.db.models import F
from django.utils import timezone, translation
from django.utils.translation import gettext as _

from kezekshi.access import credentials as creds
from kezekshi.access import decisions, presence
from kezekshi.access.decisions import DoorRule, local_time
from kezekshi.access.models import (
    AccessEvent,
    AccessSettings,
    Credential,
    DailyAttendance,
    Device,
    Direction,
    Door,
    ExitPermit,
    Presence,
    RollCall,
    RollCallEntry,
    Visitor,
    WatchAlert,
)
from kezekshi.accounts.models import User
from kezekshi.core import bulk, fanout
from kezekshi.core.errors import ServiceError
from kezekshi.core.models import School
from kezekshi.notifications import services as notifications
from kezekshi.people.models import Guardianship, Person
from kezekshi.privacy import audit
from kezekshi.privacy.models import BIOMETRIC_KINDS, Kind
from kezekshi.privacy.services import biometric_state, withdrawn_processing

# A pass reported this long after it happened tells the parent nothing useful any more.
NOTIFY_WITHIN = dt.timedelta(hours=12)
# A device clock further off than this is flagged on its events.
CLOCK_TOLERANCE = dt.timedelta(minutes=5)
QR_LIFETIME = dt.timedelta(minutes=5)


def live_channel(school_id: int) -> str:
    return f"access:{school_id}"


def bump_rules(*, school_id: int) -> None:
    """Tell every process's decision cache that the school's rules changed."""
    AccessSettings.objects.get_or_create(school_id=school_id)
    AccessSettings.objects.filter(school_id=school_id).update(rules_version=F("rules_version") + 1)
    _forget_settings_on_commit(school_id)


def _forget_settings_on_commit(school_id: int) -> None:
    decisions.forget_settings(school_id)
    transaction.on_commit(lambda: decisions.forget_settings(school_id))


# --- devices --------------------------------------------------------------------------


def register_device(
    *,
    school: School,
    name: str,
    kind: str,
    door: Door | None,
    lane: int = 1,
    direction: str = "",
    serial_number: str = "",
) -> tuple[Device, str]:
    """A new device and its secret. The secret is returned once; keep it on the device."""
    if door is not None and door.school_id != school.pk:
        raise ServiceError("foreign_door", _("The door belongs to another school."))
    secret = new_device_secret()
    device = Device.objects.create(
        school=school,
        name=name,
        kind=kind,
        door=door,
        lane=lane,
        direction=direction,
        serial_number=serial_number,
        secret=secret,
    )
    return device, secret


def new_device_secret() -> str:
    """256 random bits as hex: nothing a shell or a command line (``--secret -x…``) or a
    device's settings page could take for something else."""
    return secrets.token_hex(32)


def rotate_device_secret(*, device: Device) -> str:
    secret = new_device_secret()
    device.secret = secret
    device.save(update_fields=["secret"])
    return secret


# --- credentials ----------------------------------------------------------------------


def _holder_may_get_credentials(person: Person) -> None:
    if person.blocked_at is not None:
        raise ServiceError(
            "person_blocked",
            _("This person's data are blocked: no new credentials can be issued."),
            status=409,
        )


@transaction.atomic
def issue_card(
    *,
    person: Person,
    uid: str,
    by: User | None,
    valid_from: dt.datetime | None = None,
    valid_until: dt.datetime | None = None,
) -> Credential:
    """Give ``person`` a card. Refuses a card that another holder still has."""
    _holder_may_get_credentials(person)
    value = creds.normalise_card_uid(uid)
    existing = Credential.objects.filter(
        school_id=person.school_id, kind=Credential.Kind.CARD, value=value
    ).first()
    if existing is not None:
        if existing.status == Credential.Status.ACTIVE or existing.person_id != person.pk:
            raise ServiceError(
                "card_in_use", _("This card is already registered to someone."), status=409
            )
        existing.status, existing.status_reason = Credential.Status.ACTIVE, ""
        existing.valid_from, existing.valid_until = valid_from, valid_until
        existing.save()
        credential = existing
    else:
        try:
            with transaction.atomic():  # two staff issuing the same card at once
                credential = Credential.objects.create(
                    school_id=person.school_id,
                    person=person,
                    kind=Credential.Kind.CARD,
                    value=value,
                    valid_from=valid_from,
                    valid_until=valid_until,
                    issued_by=by,
                )
        except IntegrityError as exc:
            raise ServiceError(
                "card_in_use", _("This card is already registered to someone."), status=409
            ) from exc
    audit.record(
        action=audit.Action.CHANGE,
        actor=by,
        school=person.school,
        person=person,
        target="access.credential",
        details={"issued": "card", "card": value[-4:]},
    )
    bump_rules(school_id=person.school_id)
    return credential


@transaction.atomic
def block_credential(
    *, credential: Credential, by: User | None, reason: str, lost: bool = False
) -> Credential:
    """Block a credential at once (the next decision refuses it); idempotent."""
    rows = Credential.objects.select_for_update().filter(pk=credential.pk)
    credential = rows.get()
    if credential.status == Credential.Status.ACTIVE:
        credential.status = Credential.Status.LOST if lost else Credential.Status.BLOCKED
        credential.status_reason = reason[:200]
        credential.save(update_fields=["status", "status_reason", "changed_at"])
        if credential.person is not None:
            audit.record(
                action=audit.Action.CHANGE,
                actor=by,
                school=credential.school,
                person=credential.person,
                target="access.credential",
                details={"blocked": credential.kind, "lost": lost, "reason": reason[:200]},
            )
        # Decisions here read the status live; gateways re-sync on the version.
        bump_rules(school_id=credential.school_id)
    return credential


@transaction.atomic
def replace_card(
    *, credential: Credential, new_uid: str, by: User | None, reason: str
) -> Credential:
    """A lost card blocked and its replacement issued in one step, for the same person.

    Notifications follow the person, not the card, so they keep working.
    """
    if credential.kind != Credential.Kind.CARD or credential.person is None:
        raise ServiceError("not_a_card", _("Only a person's card can be replaced."))
    old = block_credential(credential=credential, by=by, reason=reason, lost=True)
    new = issue_card(
        person=credential.person, uid=new_uid, by=by, valid_until=credential.valid_until
    )
    old.status = (
        Credential.Status.REPLACED if old.status == Credential.Status.BLOCKED else old.status
    )
    old.replaced_by = new
    old.save(update_fields=["status", "replaced_by", "changed_at"])
    return new


def _random_qr_value() -> str:
    return secrets.token_hex(8)


@transaction.atomic
def qr_credential(*, person: Person | None = None, visitor: Visitor | None = None) -> Credential:
    """The person's (or visitor's) QR credential, created on first use.

    A QR pass that staff blocked (a stolen phone) stays blocked: ``qr_blocked`` (409)
    until staff issue a new one with ``reissue_qr``.
    """
    holder = {"person": person} if person is not None else {"visitor": visitor}
    holder_model = Person if person is not None else Visitor
    school_id = (person or visitor).school_id  # type: ignore[union-attr]
    # Two pages asking at once must not make two passes.
    holder_model.objects.select_for_update().filter(pk=(person or visitor).pk).first()  # type: ignore[union-attr,attr-defined]
    passes = Credential.objects.filter(school_id=school_id, kind=Credential.Kind.QR, **holder)
    found = passes.filter(status=Credential.Status.ACTIVE).first()
    if found is not None:
        return found
    if person is not None:
        _holder_may_get_credentials(person)
        if passes.exists():
            raise ServiceError(
                "qr_blocked",
                _("The school blocked this pass. Ask the school for a new one."),
                status=409,
            )
    return Credential.objects.create(
        school_id=school_id, kind=Credential.Kind.QR, value=_random_qr_value(), **holder
    )


@transaction.atomic
def reissue_qr(*, person: Person, by: User) -> Credential:
    """A new QR pass for ``person`` after the old one was blocked (the old stays blocked)."""
    _holder_may_get_credentials(person)
    active = Credential.objects.filter(
        person=person, kind=Credential.Kind.QR, status=Credential.Status.ACTIVE
    ).first()
    if active is not None:
        return active
    credential = Credential.objects.create(
        school_id=person.school_id,
        person=person,
        kind=Credential.Kind.QR,
        value=_random_qr_value(),
        issued_by=by,
    )
    audit.record(
        action=audit.Action.CHANGE,
        actor=by,
        school=person.school,
        person=person,
        target="access.credential",
        details={"issued": "qr"},
    )
    return credential


def qr_text(credential: Credential, *, valid_for: dt.timedelta = QR_LIFETIME) -> str:
    """The signed, short-lived text to show as a QR code for ``credential``."""
    return creds.sign_qr(
        school_id=credential.school_id, credential_value=credential.value, valid_for=valid_for
    )


@transaction.atomic
def set_pin(*, person: Person, pin: str, by: User | None) -> Credential:
    _holder_may_get_credentials(person)
    value = creds.pin_digest(school_id=person.school_id, pin=pin)
    taken = Credential.objects.filter(
        school_id=person.school_id, kind=Credential.Kind.PIN, value=value
    ).exclude(person=person)
    refused = ServiceError("pin_in_use", _("This PIN cannot be used. Choose another."), status=409)
    if taken.exists():
        raise refused
    Credential.objects.filter(person=person, kind=Credential.Kind.PIN).delete()
    try:
        with transaction.atomic():
            credential = Credential.objects.create(
                school_id=person.school_id,
                person=person,
                kind=Credential.Kind.PIN,
                value=value,
                issued_by=by,
            )
    except IntegrityError as exc:
        raise refused from exc
    bump_rules(school_id=person.school_id)
    return credential


@transaction.atomic
def register_template(*, person: Person, kind: str, reference: str, by: User | None) -> Credential:
    """Record that a face or fingerprint template exists for ``person`` (its id, not it).

    Refused without the biometric consent of that kind.
    """
    if kind not in BIOMETRIC_KINDS or kind == Kind.PALM:
        raise ServiceError("invalid_kind", _("Only face and fingerprint templates are used."))
    if not biometric_state(person, kind).allowed:
        raise ServiceError(
            "no_biometric_consent",
            _("There is no biometric consent of this kind for this person."),
            status=409,
        )
    credential, _created = Credential.objects.update_or_create(
        school_id=person.school_id,
        kind=kind,
        value=reference[:128],
        defaults={"person": person, "status": Credential.Status.ACTIVE, "issued_by": by},
    )
    return credential


# --- emergency modes ------------------------------------------------------------------


@transaction.atomic
def set_mode(*, school: School, mode: str, by: User) -> AccessSettings:
    """Switch the school to normal, evacuation or lockdown; evacuation starts a roll call.

    Devices learn the mode with the answer to their next call (and from the live feed).
    """
    if mode not in AccessSettings.Mode.values:
        raise ServiceError("invalid_mode", _("Unknown mode."))
    row, _created = AccessSettings.objects.select_for_update().get_or_create(school=school)
    if row.mode == mode:
        return row
    row.mode, row.mode_changed_at, row.mode_changed_by = mode, timezone.now(), by
    row.save(update_fields=["mode", "mode_changed_at", "mode_changed_by"])
    _forget_settings_on_commit(school.pk)
    if mode == AccessSettings.Mode.EVACUATION:
        start_roll_call(school=school, by=by)
    else:
        RollCall.objects.filter(school=school, ended_at__isnull=True).update(
            ended_at=timezone.now()
        )
    payload = {"type": "mode", "mode": mode, "at": row.mode_changed_at.isoformat()}
    transaction.on_commit(lambda: fanout.publish(live_channel(school.pk), payload))
    return row


def start_roll_call(*, school: School, by: User) -> RollCall:
    """Freeze the list of who is inside now, for ticking off at the assembly point."""
    roll_call = RollCall.objects.create(school=school, started_at=timezone.now(), started_by=by)
    # Presence from an earlier day is stale (a missed exit, the doors opened last time).
    inside = presence.inside_today(school)
    RollCallEntry.objects.bulk_create(
        RollCallEntry(
            school=school, roll_call=roll_call, person_id=row.person_id, zone_id=row.zone_id
        )
        for row in inside
    )
    RollCallEntry.objects.bulk_create(
        RollCallEntry(school=school, roll_call=roll_call, visitor=visitor)
        for visitor in Visitor.objects.filter(school=school, status=Visitor.Status.INSIDE)
    )
    return roll_call


# --- recording passes -----------------------------------------------------------------


@dataclass
class PassReport:
    """One pass as a device reports it, already resolved to its holder and decision."""

    record_no: str
    direction: str
    occurred_at: dt.datetime
    allowed: bool
    reason: str
    door_id: int | None
    credential_id: int | None = None
    credential_kind: str = ""
    person_id: int | None = None
    visitor_id: int | None = None
    presented: str = ""
    watch_entry_id: int | None = None


@dataclass
class Stored:
    record_no: str
    event_id: int
    allowed: bool
    reason: str
    occurred_at: dt.datetime
    created: bool = False
    clock_flagged: bool = False


def report_of(decision: decisions.Decision, record_no: str) -> PassReport:
    return PassReport(
        record_no=record_no,
        direction=decision.direction,
        occurred_at=decision.at,
        allowed=decision.allowed,
        reason=decision.reason,
        door_id=decision.door_id,
        credential_id=decision.credential.pk if decision.credential else None,
        credential_kind=decision.credential_kind,
        person_id=decision.person.pk if decision.person else None,
        visitor_id=decision.visitor.pk if decision.visitor else None,
        presented=decision.presented,
        watch_entry_id=decision.watch_entry_id,
    )


def record_decision(
    *,
    device: Device,
    decision: decisions.Decision,
    record_no: str,
    clock_skew: dt.timedelta = dt.timedelta(0),
) -> Stored:
    """Store a pass the server decided (once per device and ``record_no``) and bring the
    decision in line with what is stored: a replay answers as the first time did."""
    stored = record_passes(
        device=device, reports=[report_of(decision, record_no)], clock_skew=clock_skew
    )[0]
    decision.allowed, decision.reason = stored.allowed, stored.reason
    return stored


def record_passes(
    *, device: Device, reports: Sequence[PassReport], clock_skew: dt.timedelta = dt.timedelta(0)
) -> list[Stored]:
    """Store passes exactly once per ``(device, record_no)`` and everything that follows.

    A replay stores nothing and answers as the first time. Passes are placed by the time
    they happened: a late upload updates presence only if nothing newer is known, and
    attendance keeps the earliest entry and the latest exit. ``clock_skew`` (the
    device's clock minus ours) flags the events when it is over five minutes.
    """
    for attempt in range(3):
        try:
            with transaction.atomic():
                return _record(device, reports, clock_skew)
        except IntegrityError:
            # A concurrent retry of the same batch committed first; read its answer.
            if attempt == 2:
                raise
    raise AssertionError("unreachable")


@dataclass(slots=True)
class _Fresh:
    """A pass this upload stores, as the steps after the INSERT read it: a thousand model
    instances a batch cost more than writing them."""

    record_no: str
    door_id: int | None
    direction: str
    occurred_at: dt.datetime
    person_id: int | None
    visitor_id: int | None
    allowed: bool
    reason: str
    clock_flagged: bool
    pk: int = 0


_EVENT_FIELDS = (
    "school_id", "device_id", "record_no", "door_id", "direction", "occurred_at", "person_id",
    "visitor_id", "credential_id", "credential_kind", "presented", "allowed", "reason",
    "clock_skew_seconds", "clock_flagged",
)  # fmt: skip


def _record(device: Device, reports: Sequence[PassReport], skew: dt.timedelta) -> list[Stored]:
    numbers = list(dict.fromkeys(report.record_no for report in reports))
    known: dict[str, AccessEvent | _Fresh] = {
        event.record_no: event
        for event in AccessEvent.objects.filter(device=device, record_no__among=numbers).only(
            "pk", "record_no", "allowed", "reason", "occurred_at", "clock_flagged"
        )
    }
    flagged = abs(skew) > CLOCK_TOLERANCE
    skew_seconds = int(skew.total_seconds())
    school_id, device_id = device.school_id, device.pk
    fresh: list[_Fresh] = []
    rows: list[tuple[object, ...]] = []
    watch: dict[str, int] = {}
    for report in reports:
        if report.record_no in known:
            continue
        event = _Fresh(
            report.record_no, report.door_id, report.direction, report.occurred_at,
            report.person_id, report.visitor_id, report.allowed, report.reason, flagged,
        )  # fmt: skip
        row = (
            school_id, device_id, report.record_no, report.door_id, report.direction,
            report.occurred_at, report.person_id, report.visitor_id, report.credential_id,
            report.credential_kind, report.presented[:128], report.allowed, report.reason,
            skew_seconds, flagged,
        )  # fmt: skip
        rows.append(row)
        known[report.record_no] = event
        fresh.append(event)
        if report.watch_entry_id:
            watch[report.record_no] = report.watch_entry_id
    if fresh:
        ids = bulk.insert_rows(AccessEvent, _EVENT_FIELDS, rows)
        for event, pk in zip(fresh, ids, strict=True):
            event.pk = pk
        passed = [event for event in fresh if event.allowed and event.person_id]
        rules = decisions.rules_for(school_id, decisions.current_settings(school_id).rules_version)
        doors = rules.doors
        _update_presence(school_id, passed, doors)
        _update_attendance(school_id, passed, doors)
        _use_exit_permits(passed, doors)
        _update_visitors([event for event in fresh if event.allowed and event.visitor_id])
        _raise_watch_alerts(school_id, fresh, watch, rules)
        _queue_pass_notices(school_id, passed, doors)
        _publish(school_id, fresh)
    fresh_ids = {event.pk for event in fresh}
    answers = []
    for report in reports:
        stored = known[report.record_no]
        answers.append(
            Stored(
                record_no=report.record_no,
                event_id=stored.pk,
                allowed=stored.allowed,
                reason=stored.reason,
                occurred_at=stored.occurred_at,
                created=stored.pk in fresh_ids,
                clock_flagged=stored.clock_flagged,
            )
        )
    return answers


def _zone_after(event: _Fresh, doors: dict[int, DoorRule]) -> int | None:
    door = doors.get(event.door_id) if event.door_id else None
    return door.zone_after(event.direction) if door is not None else None


def _update_presence(school_id: int, passed: list[_Fresh], doors: dict[int, DoorRule]) -> None:
    latest: dict[int, _Fresh] = {}
    for event in passed:
        assert event.person_id is not None
        if event.door_id not in doors:
            continue  # a pass at no known door says nothing about where the person is
        current = latest.get(event.person_id)
        if current is None or event.occurred_at >= current.occurred_at:
            latest[event.person_id] = event
    if not latest:
        return
    since = {
        person_id: (pk, at)
        for pk, person_id, at in Presence.objects.select_for_update()
        .filter(school_id=school_id, person_id__among=list(latest))
        .order_by("person_id")
        .values_list("pk", "person_id", "since")
    }
    changed, created = [], []
    for person_id, event in latest.items():
        zone_id = _zone_after(event, doors)
        row = since.get(person_id)
        if row is None:
            created.append(
                (school_id, person_id, zone_id, event.occurred_at, event.door_id, event.direction)
            )
        elif row[1] <= event.occurred_at:
            changed.append((zone_id, event.occurred_at, event.door_id, event.direction, row[0]))
    bulk.insert_rows(
        Presence, ("school_id", "person_id", "zone_id", "since", "door_id", "direction"), created
    )
    bulk.update_rows(Presence, ("zone_id", "since", "door_id", "direction"), changed)


def _update_attendance(school_id: int, passed: list[_Fresh], doors: dict[int, DoorRule]) -> None:
    """First entry and last exit through the doors that lead outside, per local day."""
    spans: dict[tuple[int, dt.date], list[dt.datetime | None]] = {}
    for event in passed:
        door = doors.get(event.door_id) if event.door_id else None
        if door is None or not door.is_exit:
            continue
        assert event.person_id is not None
        key = (event.person_id, local_time(event.occurred_at).date())
        first, last = spans.setdefault(key, [None, None])
        if event.direction == Direction.IN:
            spans[key][0] = min(first, event.occurred_at) if first else event.occurred_at
        else:
            spans[key][1] = max(last, event.occurred_at) if last else event.occurred_at
    if not spans:
        return
    days = {day for _person, day in spans}
    rows = {
        (person_id, day): (pk, first_in, last_out)
        for pk, person_id, day, first_in, last_out in DailyAttendance.objects.select_for_update()
        .filter(school_id=school_id, person_id__among={p for p, _day in spans}, date__in=days)
        .values_list("pk", "person_id", "date", "first_in", "last_out")
    }
    changed, created = [], []
    for (person_id, day), (first, last) in spans.items():
        row = rows.get((person_id, day))
        if row is None:
            created.append((school_id, person_id, day, first, last))
            continue
        pk, first_in, last_out = row
        new_first = min(filter(None, (first_in, first)), default=None)
        new_last = max(filter(None, (last_out, last)), default=None)
        if (new_first, new_last) != (first_in, last_out):
            changed.append((new_first, new_last, pk))
    bulk.insert_rows(
        DailyAttendance, ("school_id", "person_id", "date", "first_in", "last_out"), created
    )
    bulk.update_rows(DailyAttendance, ("first_in", "last_out"), changed)


def _use_exit_permits(passed: list[_Fresh], doors: dict[int, DoorRule]) -> None:
    """Mark today's exit permit used when the pupil leaves through an outside door."""
    outs = [
        event
        for event in passed
        if event.direction == Direction.OUT
        and event.door_id in doors
        and doors[event.door_id].is_exit  # type: ignore[index]
    ]
    if not outs:
        return
    by_person: dict[int, list[dt.datetime]] = defaultdict(list)
    for event in outs:
        by_person[event.person_id].append(local_time(event.occurred_at))  # type: ignore[index]
    permits = ExitPermit.objects.filter(
        pupil__person_id__among=list(by_person),
        date__in={moment.date() for moments in by_person.values() for moment in moments},
        used_at__isnull=True,
        cancelled_at__isnull=True,
    ).select_related("pupil")
    for permit in permits:
        used = [
            moment
            for moment in by_person[permit.pupil.person_id]
            if moment.date() == permit.date and moment.time() >= permit.leave_from
        ]
        if used:
            ExitPermit.objects.filter(pk=permit.pk, used_at__isnull=True).update(used_at=min(used))


def _update_visitors(events: list[_Fresh]) -> None:
    for event in sorted(events, key=lambda e: e.occurred_at):
        assert event.visitor_id is not None
        visitors = Visitor.objects.filter(pk=event.visitor_id)
        if event.direction == Direction.IN:
            visitors.filter(status=Visitor.Status.EXPECTED).update(
                status=Visitor.Status.INSIDE, signed_in_at=event.occurred_at
            )
        else:
            visitors.filter(status=Visitor.Status.INSIDE).update(
                status=Visitor.Status.LEFT, signed_out_at=event.occurred_at
            )


def _raise_watch_alerts(
    school_id: int, fresh: list[_Fresh], watch: dict[str, int], rules: decisions.Rules
) -> None:
    """An alert for each pass the server refused as watched, and for each entry of a
    watched person that a device let through by itself (it does not know the list)."""
    alerts = [
        WatchAlert(school_id=school_id, entry_id=watch[event.record_no], event_id=event.pk)
        for event in fresh
        if event.record_no in watch
    ]
    for event in fresh:
        if event.record_no in watch or not event.person_id or event.direction != Direction.IN:
            continue
        entry = rules.watch_entry(event.person_id, local_time(event.occurred_at).date())
        if entry is not None:
            alerts.append(WatchAlert(school_id=school_id, entry_id=entry, event_id=event.pk))
    WatchAlert.objects.bulk_create(alerts)
    if alerts:
        payload = {"type": "watch", "alerts": [alert.pk for alert in alerts]}
        transaction.on_commit(lambda: fanout.publish(live_channel(school_id), payload))


def _publish(school_id: int, fresh: list[_Fresh]) -> None:
    ids = [event.pk for event in fresh]
    transaction.on_commit(
        lambda: fanout.publish(live_channel(school_id), {"type": "events", "ids": ids})
    )


# --- the guardians' notices -----------------------------------------------------------


@functools.cache
def _pass_templates(language: str) -> dict[str, str]:
    """The notice's wording per direction in ``language`` (looked up once, not per pass:
    a morning's upload tells thousands)."""
    with translation.override(language):
        return {
            Direction.IN: _("%(name)s entered school at %(time)s (%(door)s)"),
            Direction.OUT: _("%(name)s left school at %(time)s (%(door)s)"),
        }


def _pass_text(*, language: str, name: str, direction: str, at: dt.datetime, door: str) -> str:
    way = Direction.IN if direction == Direction.IN else Direction.OUT
    template = _pass_templates(language)[way]
    return template % {"name": name, "time": f"{local_time(at):%H:%M}", "door": door}


def _queue_pass_notices(school_id: int, passed: list[_Fresh], doors: dict[int, DoorRule]) -> None:
    """One notice per guardian per pass through an outside door, repeats suppressed.

    A pass is not told if the same person passed the same way within the school's
    ``notify_repeat_minutes`` before it (a pupil going back and forth), nor if it
    happened more than ``NOTIFY_WITHIN`` ago. A guardian who withdrew consent (for
    themselves or for this child) gets nothing; for a blocked child only the legal
    representatives are told (safety notices go on while blocked).
    """
    now = timezone.now()
    candidates = [
        event
        for event in passed
        if event.door_id in doors
        and doors[event.door_id].is_exit
        and now - event.occurred_at < NOTIFY_WITHIN
    ]
    if not candidates:
        return
    repeat = dt.timedelta(minutes=decisions.current_settings(school_id).notify_repeat_minutes)
    person_ids = {event.person_id for event in candidates if event.person_id is not None}
    earliest = min(event.occurred_at for event in candidates) - repeat
    latest = max(event.occurred_at for event in candidates) + repeat
    batch = {event.pk for event in passed}
    history: dict[tuple[int, str], list[tuple[dt.datetime, int]]] = defaultdict(list)
    for pk, person_id, direction, at in AccessEvent.objects.filter(
        school_id=school_id,
        person_id__among=person_ids,
        allowed=True,
        occurred_at__gte=earliest,
        occurred_at__lte=latest,
        door__is_exit=True,
    ).values_list("pk", "person_id", "direction", "occurred_at"):
        history[(person_id, direction)].append((at, pk))

    def repeats(event: _Fresh) -> bool:
        """Another pass the same way within the window was, or will be, told instead: an
        earlier one (ties: the first stored), or one stored before this batch (a late
        upload must not be told after the pass that was told already)."""
        own = (event.occurred_at, event.pk)
        return any(
            abs(event.occurred_at - at) <= repeat and (pk not in batch or (at, pk) < own)
            for at, pk in history[(event.person_id, event.direction)]  # type: ignore[index]
            if pk != event.pk
        )

    to_tell = [event for event in candidates if not repeats(event)]
    if not to_tell:
        return
    links = list(
        Guardianship.objects.filter(
            school_id=school_id,
            pupil__person_id__among={event.person_id for event in to_tell},
            guardian__person__user__isnull=False,
            guardian__person__user__is_active=True,
        ).values_list(
            "pupil__person_id",
            "guardian__person__user_id",
            "guardian__person__user__language",
            "is_legal_representative",
            "pupil__person__first_name",
            "pupil__person__blocked_at",
        )
    )
    withdrawn = withdrawn_processing(
        users={link[1] for link in links}, children={link[0] for link in links}
    )
    guardians: dict[int, list[tuple[int, str, bool, str, bool]]] = defaultdict(list)
    for child, user, language, legal, name, blocked_at in links:
        if (user, None) in withdrawn or (user, child) in withdrawn:
            continue
        if blocked_at is not None and not legal:
            continue
        guardians[child].append((user, language or "kk", legal, name, blocked_at is not None))
    notices = []
    for event in to_tell:
        door = doors[event.door_id]  # type: ignore[index]
        for user, language, _legal, name, _blocked in guardians.get(event.person_id, ()):  # type: ignore[arg-type]
            text = _pass_text(
                language=language,
                name=name,
                direction=event.direction,
                at=event.occurred_at,
                door=door.name_in(language),
            )
            notices.append(
                notifications.Notice(
                    school_id=school_id,
                    recipient_id=user,
                    kind="pass",
                    key=f"pass:{event.pk}",
                    text=text,
                    person_id=event.person_id,
                )
            )
    notifications.enqueue(notices, new_causes=True)
