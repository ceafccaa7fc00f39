"""The watch list: persons the guard must be alerted about (a parent barred by a court order).

An entry names the person (full name, phone, and, when the school knows them, their
``Person``). A visitor registered under a matching name or phone raises a
``WatchAlert`` for the guard; a watched person's own credential is refused at the door
by the decision (``decisions._refusal``), which caches the watched person ids — so every
change here raises the school's ``rules_version``.

Each write is one transaction with keyword-only arguments.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable

from django.db import transaction
from django.db.models import Q, QuerySet
from django.utils import timezone
from django.utils.translation import gettext as _

from kezekshi.access import services
from kezekshi.access.decisions import local_time
from kezekshi.access.models import Visitor, WatchAlert, WatchEntry
from kezekshi.accounts.models import User
from kezekshi.core import fanout
from kezekshi.core.errors import ServiceError
from kezekshi.core.models import School
from kezekshi.core.validators import normalize_phone
from kezekshi.people.models import Person
from kezekshi.privacy import audit


def normalise_name(text: str) -> str:
    """A name as compared against the list: case, «ё» and spacing do not matter."""
    return " ".join(text.casefold().replace("ё", "е").split())


def _phone(value: str) -> str:
    """The phone normalised, or empty; raises ``ValidationError`` for a malformed one."""
    return normalize_phone(value) if value.strip() else ""


def active_entries(school: School | int, *, on: dt.date | None = None) -> QuerySet[WatchEntry]:
    """Entries in force on ``on`` (today by default): active and not past their date."""
    day = on or local_time(timezone.now()).date()
    return (
        WatchEntry.objects.filter(school=school, is_active=True)
        .filter(Q(valid_until__isnull=True) | Q(valid_until__gte=day))
        .select_related("person")
        .order_by("full_name")
    )


def entries_of(school: School) -> QuerySet[WatchEntry]:
    """Every entry of the school, active first, for the people who keep the list."""
    return (
        WatchEntry.objects.filter(school=school)
        .select_related("person", "added_by")
        .order_by("-is_active", "full_name")
    )


def matching_entries(*, school_id: int, full_name: str, phone: str) -> list[WatchEntry]:
    """Active entries whose normalised name or phone equals the given ones."""
    name = normalise_name(full_name)
    return [
        entry
        for entry in active_entries(school_id)
        if (name and normalise_name(entry.full_name) == name) or (phone and entry.phone == phone)
    ]


def _check_person(school: School, person: Person | None) -> None:
    if person is not None and person.school_id != school.pk:
        raise ServiceError("foreign_person", _("The person belongs to another school."))


def _audit_link(entry: WatchEntry, by: User, change: str) -> None:
    # Putting a known person on the watch list is a change of what the school holds on them.
    if entry.person is not None:
        audit.record(
            action=audit.Action.CHANGE,
            actor=by,
            school=entry.school,
            person=entry.person,
            target="access.watch_entry",
            details={"watch_entry": entry.pk, "change": change},
        )


@transaction.atomic
def add_entry(
    *,
    school: School,
    full_name: str,
    phone: str,
    reason: str,
    by: User,
    valid_until: dt.date | None = None,
    person: Person | None = None,
) -> WatchEntry:
    """Put someone on the school's watch list; decisions see it at the next pass.

    Raises ``ValidationError`` for a malformed phone, ``ServiceError`` for a person of
    another school or an entry with neither a name nor a phone.
    """
    _check_person(school, person)
    if not full_name.strip() and not phone.strip():
        raise ServiceError("empty_entry", _("Give a name or a phone."))
    entry = WatchEntry.objects.create(
        school=school,
        full_name=" ".join(full_name.split())[:300],
        phone=_phone(phone),
        person=person,
        reason=reason.strip()[:300],
        valid_until=valid_until,
        added_by=by,
    )
    _audit_link(entry, by, "added")
    services.bump_rules(school_id=school.pk)
    return entry


@transaction.atomic
def change_entry(
    *,
    entry: WatchEntry,
    full_name: str,
    phone: str,
    reason: str,
    by: User,
    valid_until: dt.date | None = None,
    person: Person | None = None,
) -> WatchEntry:
    """Correct an entry (name, phone, reason, date, linked person); decisions follow."""
    _check_person(entry.school, person)
    entry.full_name = " ".join(full_name.split())[:300]
    entry.phone = _phone(phone)
    entry.reason = reason.strip()[:300]
    entry.valid_until = valid_until
    entry.person = person
    entry.save(update_fields=["full_name", "phone", "reason", "valid_until", "person"])
    _audit_link(entry, by, "changed")
    services.bump_rules(school_id=entry.school_id)
    return entry


@transaction.atomic
def deactivate_entry(*, entry: WatchEntry, by: User) -> WatchEntry:
    """Take an entry off the list (kept for the record); idempotent."""
    if entry.is_active:
        entry.is_active = False
        entry.save(update_fields=["is_active"])
        _audit_link(entry, by, "deactivated")
        services.bump_rules(school_id=entry.school_id)
    return entry


def alert_for_visitor(*, visitor: Visitor) -> list[WatchAlert]:
    """Alerts for every active entry the visitor's name or phone matches, in the caller's
    transaction; the guard's live feed hears of them once it commits."""
    entries = matching_entries(
        school_id=visitor.school_id, full_name=visitor.full_name, phone=visitor.phone
    )
    alerts = WatchAlert.objects.bulk_create(
        WatchAlert(school_id=visitor.school_id, entry=entry, visitor=visitor) for entry in entries
    )
    if alerts:
        publish_alerts(school_id=visitor.school_id, alerts=alerts)
    return alerts


def publish_alerts(*, school_id: int, alerts: Iterable[WatchAlert]) -> None:
    """Tell the guards' live pages of new alerts once the transaction commits."""
    payload = {"type": "watch", "alerts": [alert.pk for alert in alerts]}
    transaction.on_commit(lambda: fanout.publish(services.live_channel(school_id), payload))


def alerts_of(school: School) -> QuerySet[WatchAlert]:
    return WatchAlert.objects.filter(school=school).select_related(
        "entry", "visitor", "event__door", "acknowledged_by"
    )


@transaction.atomic
def acknowledge_alert(*, alert: WatchAlert, by: User) -> WatchAlert:
    """Mark that a guard has seen the alert and acted; the first acknowledgement stays."""
    WatchAlert.objects.filter(pk=alert.pk, acknowledged_at__isnull=True).update(
        acknowledged_at=timezone.now(), acknowledged_by=by
    )
    alert.refresh_from_db(fields=["acknowledged_at", "acknowledged_by"])
    return alert
