"""Retention: personal data are kept only until their purpose is achieved (law art. 12(2)).

``apply_retention`` runs daily (``manage.py apply_retention`` from cron, or the
``run_retention`` task) and is safe to run any number of times:

- request metadata older than ``PRIVACY_REQUEST_LOG_DAYS`` is deleted;
- a pupil who left more than ``PRIVACY_BIOMETRIC_RETENTION_DAYS`` ago gets an order to
  erase each kind of biometric template (``BiometricErasure``; the biometrics and
  devices apps carry it out) — once: not again while an order is open, nor after one
  was carried out since the pupil left;
- presence history older than ``PRIVACY_PRESENCE_PSEUDONYMISE_YEARS`` is pseudonymised
  by the pseudonymisers other apps register here (``register_pseudonymiser``).

A blocked person's data are left alone: blocking stops their change and destruction
too, so they are counted as held instead. Each school where something was done gets
one RETENTION entry in its audit log, and every run one platform-wide entry.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import asdict, dataclass, field
from typing import Any, Protocol
from zoneinfo import ZoneInfo

from django.conf import settings
from django.db import transaction
from django.db.models import Exists, OuterRef, Q
from django.utils import timezone

from kezekshi.core.models import School
from kezekshi.people.models import Pupil
from kezekshi.privacy import audit
from kezekshi.privacy.models import (
    BIOMETRIC_KINDS,
    AuditEntry,
    BiometricErasure,
    RequestRecord,
)

ERASURE_REASON = "retention: left the school"
DELETE_BATCH = 10_000


class Pseudonymiser(Protocol):
    """Replaces the persons in a school's rows older than ``before`` with pseudonyms and
    returns how many rows it changed. It must skip blocked persons and be idempotent."""

    def __call__(self, *, school: School, before: dt.date) -> int: ...


_pseudonymisers: dict[str, Pseudonymiser] = {}


def register_pseudonymiser(name: str, pseudonymise: Pseudonymiser) -> Pseudonymiser:
    """Have retention call ``pseudonymise`` for every school (e.g. the presence history)."""
    _pseudonymisers[name] = pseudonymise
    return pseudonymise


def unregister_pseudonymiser(name: str) -> None:
    _pseudonymisers.pop(name, None)


@dataclass
class SchoolRetention:
    school_id: int
    erasures_ordered: int = 0
    held_blocked: int = 0  # pupils past the period whose data are blocked
    pseudonymised: dict[str, int] = field(default_factory=dict)

    @property
    def anything(self) -> bool:
        return bool(self.erasures_ordered or self.held_blocked or any(self.pseudonymised.values()))


@dataclass
class RetentionReport:
    today: dt.date
    request_log_before: dt.datetime
    biometrics_left_before: dt.date
    presence_before: dt.date
    request_records_deleted: int = 0
    schools: list[SchoolRetention] = field(default_factory=list)

    @property
    def erasures_ordered(self) -> int:
        return sum(school.erasures_ordered for school in self.schools)

    @property
    def held_blocked(self) -> int:
        return sum(school.held_blocked for school in self.schools)

    @property
    def pseudonymised(self) -> dict[str, int]:
        totals: dict[str, int] = {}
        for school in self.schools:
            for name, count in school.pseudonymised.items():
                totals[name] = totals.get(name, 0) + count
        return totals

    def lines(self) -> list[str]:
        """What was done, for the command's output and the logs."""
        lines = [
            f"Request records before {self.request_log_before:%Y-%m-%d %H:%M %Z}: "
            f"{self.request_records_deleted} deleted.",
            f"Pupils who left before {self.biometrics_left_before}: "
            f"{self.erasures_ordered} biometric erasure orders, "
            f"{self.held_blocked} pupils held because their data are blocked.",
        ]
        if not _pseudonymisers:
            lines.append("Presence history: no pseudonymiser is registered.")
        for name, count in sorted(self.pseudonymised.items()):
            lines.append(f"{name} before {self.presence_before}: {count} rows pseudonymised.")
        return lines

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready, for the task's result."""
        data = asdict(self)
        for key in ("today", "request_log_before", "biometrics_left_before", "presence_before"):
            data[key] = data[key].isoformat()
        return data


def _years_before(day: dt.date, years: int) -> dt.date:
    try:
        return day.replace(year=day.year - years)
    except ValueError:  # 29 February
        return day.replace(year=day.year - years, day=28)


def delete_request_records(*, before: dt.datetime) -> int:
    """Delete request metadata older than ``before``, in batches (short locks)."""
    deleted = 0
    while True:
        ids = list(
            RequestRecord.objects.filter(at__lt=before)
            .order_by("id")
            .values_list("id", flat=True)[:DELETE_BATCH]
        )
        if not ids:
            return deleted
        deleted += RequestRecord.objects.filter(id__in=ids).delete()[0]


def order_biometric_erasures(*, school: School, left_before: dt.date) -> tuple[int, int]:
    """Order the erasure of each biometric kind for pupils who left before ``left_before``.

    Returns (orders created, pupils held because blocked). Idempotent: a pupil who has an
    open order of a kind, or one ordered since they left, gets none of that kind; two
    runs at once are kept apart by the unique constraint on open orders.
    """
    gone = Pupil.objects.filter(school=school, is_active=False, left_on__lt=left_before)
    held = gone.filter(person__blocked_at__isnull=False).count()
    now = timezone.now()
    orders = []
    for kind in BIOMETRIC_KINDS:
        ordered = BiometricErasure.objects.filter(
            school=school, person=OuterRef("person_id"), kind=kind
        ).filter(Q(done_at__isnull=True) | Q(ordered_at__date__gte=OuterRef("left_on")))
        due = gone.filter(person__blocked_at__isnull=True).exclude(Exists(ordered))
        orders += [
            BiometricErasure(
                school=school, person_id=person_id, kind=kind, reason=ERASURE_REASON, ordered_at=now
            )
            for person_id in due.values_list("person_id", flat=True)
        ]
    BiometricErasure.objects.bulk_create(orders, ignore_conflicts=True)
    return len(orders), held


def _school_retention(
    school: School, *, left_before: dt.date, presence_before: dt.date
) -> SchoolRetention:
    result = SchoolRetention(school_id=school.pk)
    with transaction.atomic():
        result.erasures_ordered, result.held_blocked = order_biometric_erasures(
            school=school, left_before=left_before
        )
        for name, pseudonymise in sorted(_pseudonymisers.items()):
            result.pseudonymised[name] = pseudonymise(school=school, before=presence_before)
        if result.anything:
            audit.record(
                action=AuditEntry.Action.RETENTION,
                actor=None,
                school=school,
                details={
                    "biometric_erasures_ordered": result.erasures_ordered,
                    "held_blocked": result.held_blocked,
                    "pseudonymised": result.pseudonymised,
                    "left_before": left_before.isoformat(),
                    "presence_before": presence_before.isoformat(),
                },
            )
    return result


def apply_retention(*, today: dt.date | None = None) -> RetentionReport:
    """Apply every retention rule as of ``today`` (the schools' local date by default).

    Idempotent; each school is one transaction, so a failure in one leaves the others
    done. Returns what was done.
    """
    zone = ZoneInfo(settings.SCHOOL_TIME_ZONE)
    today = today or timezone.localdate(timezone=zone)
    log_day = today - dt.timedelta(days=settings.PRIVACY_REQUEST_LOG_DAYS)
    report = RetentionReport(
        today=today,
        request_log_before=dt.datetime.combine(log_day, dt.time.min, tzinfo=zone),
        biometrics_left_before=today - dt.timedelta(days=settings.PRIVACY_BIOMETRIC_RETENTION_DAYS),
        presence_before=_years_before(today, settings.PRIVACY_PRESENCE_PSEUDONYMISE_YEARS),
    )
    report.request_records_deleted = delete_request_records(before=report.request_log_before)
    for school in School.objects.order_by("pk"):
        report.schools.append(
            _school_retention(
                school,
                left_before=report.biometrics_left_before,
                presence_before=report.presence_before,
            )
        )
    report.schools = [school for school in report.schools if school.anything]
    audit.record(
        action=AuditEntry.Action.RETENTION,
        actor=None,
        school=None,
        details={
            "today": today.isoformat(),
            "request_records_deleted": report.request_records_deleted,
            "request_log_before": report.request_log_before.isoformat(),
            "schools": len(report.schools),
            "biometric_erasures_ordered": report.erasures_ordered,
            "held_blocked": report.held_blocked,
            "pseudonymised": report.pseudonymised,
        },
    )
    return report
