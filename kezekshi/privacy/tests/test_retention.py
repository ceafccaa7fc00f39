"""Retention: old request metadata deleted, biometrics of leavers ordered erased once,
presence history handed to the registered pseudonymisers; every run audited."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from io import StringIO
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from django.core.management import call_command
from django.utils import timezone
from django_tasks_db.models import DBTaskResult

from kezekshi.conftest import run_tasks
from kezekshi.core.models import School
from kezekshi.people.models import Pupil
from kezekshi.privacy import retention
from kezekshi.privacy.models import (
    BIOMETRIC_KINDS,
    AuditEntry,
    BiometricErasure,
    RequestRecord,
)

pytestmark = pytest.mark.django_db
TODAY = dt.date(2026, 3, 2)
ALMATY = ZoneInfo("Asia/Almaty")


def left(pupil: Pupil, *, days_ago: int) -> Pupil:
    pupil.is_active = False
    pupil.left_on = TODAY - dt.timedelta(days=days_ago)
    pupil.save()
    return pupil


def orders(pupil: Pupil) -> list[str]:
    return sorted(
        BiometricErasure.objects.filter(person=pupil.person).values_list("kind", flat=True)
    )


def record_at(moment: dt.datetime) -> RequestRecord:
    return RequestRecord.objects.create(at=moment, method="GET", path="/", status=200)


def test_request_metadata_is_kept_for_the_period_then_deleted(db: None) -> None:
    # 90 days before 2 March 2026 is 2 December 2025; the cut is midnight in Almaty.
    old = record_at(dt.datetime(2025, 12, 1, 23, 59, tzinfo=ALMATY))
    kept = record_at(dt.datetime(2025, 12, 2, 0, 0, tzinfo=ALMATY))
    report = retention.apply_retention(today=TODAY)
    assert report.request_records_deleted == 1
    assert list(RequestRecord.objects.all()) == [kept]
    assert not RequestRecord.objects.filter(pk=old.pk).exists()


def test_biometrics_are_ordered_erased_only_after_the_period(pupil: Pupil) -> None:
    left(pupil, days_ago=30)  # exactly the period: not yet
    assert retention.apply_retention(today=TODAY).erasures_ordered == 0
    assert orders(pupil) == []
    report = retention.apply_retention(today=TODAY + dt.timedelta(days=1))
    assert report.erasures_ordered == len(BIOMETRIC_KINDS)
    assert orders(pupil) == sorted(BIOMETRIC_KINDS)
    assert set(BiometricErasure.objects.values_list("reason", flat=True)) == {
        retention.ERASURE_REASON
    }


def test_orders_are_made_only_once_even_after_they_are_carried_out(pupil: Pupil) -> None:
    left(pupil, days_ago=45)
    retention.apply_retention(today=TODAY)
    assert retention.apply_retention(today=TODAY).erasures_ordered == 0  # still open
    BiometricErasure.objects.update(done_at=timezone.now())  # the devices erased them
    tomorrow = TODAY + dt.timedelta(days=1)
    assert retention.apply_retention(today=tomorrow).erasures_ordered == 0
    assert BiometricErasure.objects.count() == len(BIOMETRIC_KINDS)


def test_an_order_from_before_the_pupil_left_does_not_count(pupil: Pupil) -> None:
    # Consent withdrawn (and templates erased) long ago; the child re-enrolled, then left.
    BiometricErasure.objects.create(
        school=pupil.school,
        person=pupil.person,
        kind=BIOMETRIC_KINDS[0],
        reason="consent withdrawn",
        ordered_at=dt.datetime(2024, 1, 10, tzinfo=dt.UTC),
        done_at=dt.datetime(2024, 1, 11, tzinfo=dt.UTC),
    )
    left(pupil, days_ago=40)
    assert retention.apply_retention(today=TODAY).erasures_ordered == len(BIOMETRIC_KINDS)


def test_an_open_order_for_another_reason_is_not_doubled(pupil: Pupil) -> None:
    left(pupil, days_ago=40)
    BiometricErasure.objects.create(
        school=pupil.school,
        person=pupil.person,
        kind=BIOMETRIC_KINDS[0],
        reason="consent withdrawn",
        ordered_at=timezone.now(),
    )
    assert retention.apply_retention(today=TODAY).erasures_ordered == len(BIOMETRIC_KINDS) - 1


def test_pupils_still_studying_and_blocked_ones_are_left_alone(
    school: School, pupil: Pupil
) -> None:
    from kezekshi.people import services as people_services

    blocked = people_services.create_pupil(school=school, last_name="Ә", first_name="Б")
    left(blocked, days_ago=100)
    blocked.person.blocked_at = timezone.now()
    blocked.person.save()
    report = retention.apply_retention(today=TODAY)  # ``pupil`` still studies
    assert (report.erasures_ordered, report.held_blocked) == (0, 1)
    assert not BiometricErasure.objects.exists()


@pytest.fixture
def presence_rows() -> Iterator[list[tuple[int, dt.date]]]:
    calls: list[tuple[int, dt.date]] = []

    def pseudonymise(*, school: School, before: dt.date) -> int:
        calls.append((school.pk, before))
        return 7

    retention.register_pseudonymiser("access.Presence", pseudonymise)
    yield calls
    retention.unregister_pseudonymiser("access.Presence")


def test_registered_pseudonymisers_are_called_for_each_school(
    school: School, other_school: School, presence_rows: list[tuple[int, dt.date]]
) -> None:
    report = retention.apply_retention(today=TODAY)
    assert presence_rows == [
        (school.pk, dt.date(2023, 3, 2)),
        (other_school.pk, dt.date(2023, 3, 2)),
    ]
    assert report.pseudonymised["access.Presence"] == 14
    assert "access.Presence before 2023-03-02: 14 rows pseudonymised." in report.lines()


def test_nothing_is_pseudonymised_while_no_app_registers(school: School) -> None:
    from kezekshi.access import privacy_hooks as access_hooks
    from kezekshi.notifications import privacy_hooks as notification_hooks

    retention.unregister_pseudonymiser("access.history")
    retention.unregister_pseudonymiser("notifications.history")
    try:
        report = retention.apply_retention(today=TODAY)
        lines = report.lines()
    finally:
        access_hooks.register()
        notification_hooks.register()
    assert report.pseudonymised == {}
    assert "Presence history: no pseudonymiser is registered." in lines


def test_each_school_with_work_done_gets_one_audit_entry(
    school: School, other_school: School, pupil: Pupil
) -> None:
    left(pupil, days_ago=31 + 30)
    retention.apply_retention(today=TODAY)
    entries = AuditEntry.objects.filter(action=AuditEntry.Action.RETENTION)
    by_school = {entry.school_id: entry.details for entry in entries}
    assert set(by_school) == {school.pk, None}  # nothing to do in the other school
    assert by_school[school.pk]["biometric_erasures_ordered"] == len(BIOMETRIC_KINDS)
    assert by_school[None]["today"] == "2026-03-02"


def test_the_command_prints_what_was_done(pupil: Pupil) -> None:
    left(pupil, days_ago=31)
    out = StringIO()
    call_command("apply_retention", "--today", "2026-03-02", stdout=out)
    assert f"{len(BIOMETRIC_KINDS)} biometric erasure orders" in out.getvalue()
    again = StringIO()
    call_command("apply_retention", "--today", "2026-03-02", stdout=again)
    assert "0 biometric erasure orders" in again.getvalue()


def test_the_task_runs_it_in_the_worker(settings: Any, pupil: Pupil) -> None:
    left(pupil, days_ago=400)
    out = StringIO()
    call_command("apply_retention", "--enqueue", stdout=out)
    assert "Queued" in out.getvalue()
    run_tasks()
    assert orders(pupil) == sorted(BIOMETRIC_KINDS)
    result = DBTaskResult.objects.get()
    assert result.status == "SUCCESSFUL" and result.return_value is not None
    assert result.return_value["schools"][0]["erasures_ordered"] == len(BIOMETRIC_KINDS)
