"""What the access app holds about a person, for the subject's "everything held" view,
and how its history is pseudonymised when the retention period ends.

Registered from ``AccessConfig.ready``; the privacy app reads the registries and never
imports this app.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.db import transaction
from django.db.models import Q
from django.utils.translation import gettext_lazy

from kezekshi.access.decisions import REASONS
from kezekshi.access.models import (
    AbsenceAlert,
    AccessEvent,
    Credential,
    DailyAttendance,
    Excuse,
    ExitPermit,
    PickUp,
    Presence,
    RollCallEntry,
    TrustedAdult,
    Visitor,
    WatchAlert,
)
from kezekshi.core.models import School
from kezekshi.privacy.retention import register_pseudonymiser
from kezekshi.privacy.subject_data import Subject, section

PASSES_SHOWN = 2000  # a school year of passes is about 800; the JSON export has them all


def _person_ids(subject: Subject) -> list[int]:
    return [person.pk for person in subject.persons]


@section(
    "access_credentials",
    gettext_lazy("Cards and passes"),
    order=70,
    labels={
        "kind": gettext_lazy("Kind"),
        "ends_with": gettext_lazy("Ends with"),
        "status": gettext_lazy("Status"),
        "valid_until": gettext_lazy("Valid until"),
        "issued": gettext_lazy("Issued"),
    },
)
def _credentials(subject: Subject) -> list[dict[str, Any]]:
    rows = Credential.objects.filter(person_id__in=_person_ids(subject)).order_by("created_at")
    return [
        {
            "kind": row.get_kind_display(),
            # A PIN and a template reference are digests and ids: never shown, even to the owner.
            "ends_with": row.value[-4:] if row.kind == Credential.Kind.CARD else "",
            "status": row.get_status_display(),
            "valid_until": row.valid_until,
            "issued": row.created_at,
        }
        for row in rows
    ]


@section(
    "access_passes",
    gettext_lazy("Passes through the school's doors"),
    order=71,
    labels={
        "time": gettext_lazy("Time"),
        "door": gettext_lazy("Door"),
        "direction": gettext_lazy("Direction"),
        "allowed": gettext_lazy("Allowed"),
        "reason": gettext_lazy("Reason"),
    },
)
def _passes(subject: Subject) -> list[dict[str, Any]]:
    rows = (
        AccessEvent.objects.filter(person_id__in=_person_ids(subject))
        .select_related("door")
        .order_by("-occurred_at")[:PASSES_SHOWN]
    )
    return [
        {
            "time": row.occurred_at,
            "door": row.door.name if row.door else "",
            "direction": row.get_direction_display(),
            "allowed": row.allowed,
            "reason": str(REASONS.get(row.reason, row.reason)),
        }
        for row in rows
    ]


@section(
    "attendance",
    gettext_lazy("Attendance"),
    order=72,
    labels={
        "date": gettext_lazy("Date"),
        "first_in": gettext_lazy("First entry"),
        "last_out": gettext_lazy("Last exit"),
    },
)
def _attendance(subject: Subject) -> list[dict[str, Any]]:
    rows = DailyAttendance.objects.filter(person_id__in=_person_ids(subject)).order_by("-date")
    return [{"date": r.date, "first_in": r.first_in, "last_out": r.last_out} for r in rows]


@section(
    "presence_now",
    gettext_lazy("Where the system places the person now"),
    order=73,
    labels={"zone": gettext_lazy("Zone"), "since": gettext_lazy("Since")},
)
def _presence(subject: Subject) -> list[dict[str, Any]]:
    rows = Presence.objects.filter(person_id__in=_person_ids(subject)).select_related("zone")
    return [
        {"zone": row.zone.name if row.zone else str(gettext_lazy("Outside")), "since": row.since}
        for row in rows
    ]


@section(
    "absences",
    gettext_lazy("Excused absences and exit permits"),
    order=74,
    labels={
        "what": gettext_lazy("What"),
        "from": gettext_lazy("From"),
        "until": gettext_lazy("Until"),
        "reason": gettext_lazy("Reason"),
    },
)
def _absences(subject: Subject) -> list[dict[str, Any]]:
    ids = _person_ids(subject)
    excuses = [
        {
            "what": str(Excuse._meta.verbose_name),
            "from": row.starts_on,
            "until": row.ends_on,
            "reason": row.reason,
        }
        for row in Excuse.objects.filter(pupil__person_id__in=ids).order_by("-starts_on")
    ]
    permits = [
        {
            "what": str(ExitPermit._meta.verbose_name),
            "from": dt.datetime.combine(row.date, row.leave_from),
            "until": row.cancelled_at,
            "reason": row.reason,
        }
        for row in ExitPermit.objects.filter(pupil__person_id__in=ids).order_by("-date")
    ]
    return excuses + permits


@section(
    "pickups",
    gettext_lazy("Trusted adults and pick-ups"),
    order=75,
    labels={
        "what": gettext_lazy("What"),
        "who": gettext_lazy("Who"),
        "time": gettext_lazy("Time"),
    },
)
def _pickups(subject: Subject) -> list[dict[str, Any]]:
    ids = _person_ids(subject)
    trusted = [
        {
            "what": str(TrustedAdult._meta.verbose_name),
            "who": f"{row.full_name} ({row.relation})",
            "time": row.created_at,
        }
        for row in TrustedAdult.objects.filter(pupil__person_id__in=ids, revoked_at__isnull=True)
    ]
    pickups = [
        {
            "what": str(PickUp._meta.verbose_name),
            "who": str(row.guardian or row.trusted_adult or ""),
            "time": row.picked_up_at,
        }
        for row in PickUp.objects.filter(pupil__person_id__in=ids).select_related(
            "guardian__person", "trusted_adult"
        )
    ]
    return trusted + pickups


def pseudonymise_history(*, school: School, before: dt.date) -> int:
    """Cut old passes loose from the persons and delete what is nothing without them.

    Passes keep door, time and outcome (counts stay right) but lose who — person,
    visitor, credential and the card number presented. Attendance days, roll-call lines,
    excuses (which may name an illness), exit permits, pick-ups, absence and watch-list
    alerts, and visitors (outsiders' names and phones) older than ``before`` are deleted.
    Rows about a person whose data are blocked are held. Idempotent.
    """
    unblocked = {"person__blocked_at__isnull": True}
    pupil_unblocked = {"pupil__person__blocked_at__isnull": True}
    with transaction.atomic():
        changed = (
            AccessEvent.objects.filter(school=school, occurred_at__date__lt=before)
            .filter(Q(person__isnull=False) | Q(visitor__isnull=False) | ~Q(presented=""))
            .exclude(person__blocked_at__isnull=False)
            .update(person=None, visitor=None, credential=None, presented="")
        )
        deletions = [
            DailyAttendance.objects.filter(school=school, date__lt=before, **unblocked),
            RollCallEntry.objects.filter(
                school=school, roll_call__started_at__date__lt=before
            ).exclude(person__blocked_at__isnull=False),
            Excuse.objects.filter(school=school, ends_on__lt=before, **pupil_unblocked),
            ExitPermit.objects.filter(school=school, date__lt=before, **pupil_unblocked),
            PickUp.objects.filter(school=school, picked_up_at__date__lt=before, **pupil_unblocked),
            AbsenceAlert.objects.filter(school=school, date__lt=before, **pupil_unblocked),
            WatchAlert.objects.filter(school=school, created_at__date__lt=before),
            Visitor.objects.filter(school=school, valid_until__date__lt=before),
        ]
        for rows in deletions:
            changed += rows.delete()[0]
    return changed


def register() -> None:
    register_pseudonymiser("access.history", pseudonymise_history)
