"""The command queue with device sync: a newer command supersedes the older ones for the
same device user (never re-sent, a late answer changes nothing), a failed command is
sent again by the next reconcile, and a quiet poll writes nothing."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from django.core.cache import cache
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from kezekshi.access import services
from kezekshi.access.models import AccessGroup, Device
from kezekshi.access.tests.conftest import building, groups, main_door  # noqa: F401
from kezekshi.devices import queue, sync
from kezekshi.devices.models import Command, Enrolment
from kezekshi.devices.tests.test_sync import give_photo, with_face_consent
from kezekshi.people.models import Pupil, SchoolClass
from kezekshi.privacy import services as privacy
from kezekshi.privacy.models import Kind

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _fresh(monkeypatch: Any) -> None:
    cache.clear()
    sync.forget_checks()
    # Every poll of these tests looks at the fingerprint (the throttle has its own test).
    monkeypatch.setattr(sync, "CHECK_EVERY", 0.0)


def kinds(commands: list[Command]) -> list[str]:
    return [c.kind for c in commands]


def later(minutes: int) -> None:
    """Every command sent so far was sent ``minutes`` ago."""
    Command.objects.filter(status=Command.Status.SENT).update(
        sent_at=timezone.now() - dt.timedelta(minutes=minutes)
    )


def poll(school: Any, device: Device, captured: Any) -> list[Command]:
    """What a terminal's poll does: reconcile if anything changed, then take what is due."""
    with captured(execute=True):
        sync.reconcile_if_changed(school.pk)
    return queue.due(device)


def answer_all(device: Device, commands: list[Command], return_code: int = 0) -> None:
    for command in commands:
        assert queue.complete(device, command.pk, return_code=return_code)


def test_an_upsert_sent_before_a_confirmed_removal_is_never_sent_again(
    school: Any,
    zk: Device,
    pupil: Pupil,
    groups: list[AccessGroup],  # noqa: F811
) -> None:
    services.issue_card(person=pupil.person, uid="123,45678", by=None)
    sync.reconcile(school.pk)
    # given the upsert sent, and the terminal rebooting before it answers
    [upsert] = queue.due(zk)
    assert upsert.kind == "user.upsert"
    # when the pupil may no longer pass and the removal is confirmed
    SchoolClass.objects.filter(pupils=pupil).update(shift=2)
    sync.reconcile(school.pk)
    [delete] = queue.due(zk)
    assert delete.kind == "user.delete"
    answer_all(zk, [delete])
    assert not Enrolment.objects.filter(device=zk).exists()
    # then the old upsert is superseded: long after, it does not go out again
    later(minutes=3)
    assert queue.due(zk) == []
    upsert.refresh_from_db()
    assert upsert.status == Command.Status.SUPERSEDED
    # and its late answer (the terminal did apply it after all) changes nothing held
    assert queue.complete(zk, upsert.pk, return_code=0)
    assert not queue.complete(zk, upsert.pk, return_code=0)  # a replay
    upsert.refresh_from_db()
    assert (upsert.status, upsert.return_code) == (Command.Status.SUPERSEDED, 0)
    assert not Enrolment.objects.filter(device=zk).exists()
    assert sync.reconcile(school.pk) == 0


def test_a_newer_command_supersedes_sent_ones_by_kind() -> None:
    supersedes = queue.SUPERSEDES
    assert set(supersedes["user.delete"]) == {"user.upsert", "user.delete", "face.upsert"}
    assert set(supersedes["user.upsert"]) == {"user.upsert", "user.delete"}
    assert set(supersedes["face.upsert"]) == set(supersedes["face.delete"])
    assert set(supersedes["face.delete"]) == {"face.upsert", "face.delete"}


def test_a_face_upsert_answered_after_its_removal_does_not_count_as_held(
    school: Any,
    hik: Device,
    pupil: Pupil,
    groups: list[AccessGroup],  # noqa: F811
) -> None:
    services.issue_card(person=pupil.person, uid="123,45678", by=None)
    give_photo(pupil)
    mother = with_face_consent(pupil, school)
    sync.reconcile(school.pk)
    sent = queue.due(hik)
    assert kinds(sent) == ["user.upsert", "face.upsert"]
    answer_all(hik, sent[:1])
    # the consent is withdrawn while the photo is on its way
    privacy.decide_biometrics(
        user=mother, child=pupil.person, kind=Kind.FACE, grant=False, context=privacy.Context()
    )
    sync.reconcile(school.pk)
    [removal] = queue.due(hik)
    assert removal.kind == "face.delete"
    answer_all(hik, [removal])
    # the photo's answer arrives last: the face is not believed to be on the terminal
    assert queue.complete(hik, sent[1].pk, return_code=0)
    row = Enrolment.objects.get(device=hik)
    assert (row.has_face, row.face_confirmed) == (False, False)
    later(minutes=3)
    assert queue.due(hik) == []


def test_due_never_hands_out_a_command_a_newer_one_superseded(
    zk: Device,
) -> None:
    # (written to the table directly: no enqueue marked the old one superseded)
    old = Command.objects.create(device=zk, kind="user.upsert", data={"pin": "7", "name": "A"})
    Command.objects.create(device=zk, kind="user.delete", data={"pin": "7"}, status="done")
    door = Command.objects.create(device=zk, kind="door.open", data={"door": 1})
    assert [c.pk for c in queue.due(zk)] == [door.pk]
    old.refresh_from_db()
    assert old.status == Command.Status.SUPERSEDED


def test_a_refused_face_removal_is_queued_again(
    school: Any,
    hik: Device,
    pupil: Pupil,
    groups: list[AccessGroup],  # noqa: F811
    django_capture_on_commit_callbacks: Any,
) -> None:
    services.issue_card(person=pupil.person, uid="123,45678", by=None)
    give_photo(pupil)
    mother = with_face_consent(pupil, school)
    answer_all(hik, poll(school, hik, django_capture_on_commit_callbacks))
    # given the consent withdrawn and the terminal refusing the removal
    privacy.decide_biometrics(
        user=mother, child=pupil.person, kind=Kind.FACE, grant=False, context=privacy.Context()
    )
    [removal] = poll(school, hik, django_capture_on_commit_callbacks)
    assert removal.kind == "face.delete"
    answer_all(hik, [removal], return_code=-1)
    # then the next poll sends the removal again, until the terminal confirms it
    [again] = poll(school, hik, django_capture_on_commit_callbacks)
    assert (again.kind, again.pk > removal.pk) == ("face.delete", True)
    answer_all(hik, [again])
    row = Enrolment.objects.get(device=hik)
    assert (row.has_face, row.face_confirmed) == (False, False)
    assert poll(school, hik, django_capture_on_commit_callbacks) == []


def test_a_removal_nobody_answers_fails_and_is_queued_again(
    school: Any,
    zk: Device,
    pupil: Pupil,
    groups: list[AccessGroup],  # noqa: F811
    django_capture_on_commit_callbacks: Any,
) -> None:
    services.issue_card(person=pupil.person, uid="123,45678", by=None)
    answer_all(zk, poll(school, zk, django_capture_on_commit_callbacks))
    SchoolClass.objects.filter(pupils=pupil).update(shift=2)
    [removal] = poll(school, zk, django_capture_on_commit_callbacks)
    # the terminal takes the removal MAX_ATTEMPTS times and never answers
    for _attempt in range(queue.MAX_ATTEMPTS - 1):
        later(minutes=3)
        assert [c.pk for c in poll(school, zk, django_capture_on_commit_callbacks)] == [removal.pk]
    later(minutes=3)
    assert poll(school, zk, django_capture_on_commit_callbacks) == []
    removal.refresh_from_db()
    assert (removal.status, removal.error) == (Command.Status.FAILED, "no answer from the device")
    # the next poll queues it again
    [again] = poll(school, zk, django_capture_on_commit_callbacks)
    assert (again.kind, again.data) == ("user.delete", {"pin": str(pupil.person_id)})
    answer_all(zk, [again])
    assert not Enrolment.objects.filter(device=zk).exists()


def test_a_photo_that_cannot_go_makes_sync_remove_the_face(
    school: Any,
    hik: Device,
    pupil: Pupil,
    groups: list[AccessGroup],  # noqa: F811
    django_capture_on_commit_callbacks: Any,
) -> None:
    services.issue_card(person=pupil.person, uid="123,45678", by=None)
    give_photo(pupil)
    with_face_consent(pupil, school)
    user, face = poll(school, hik, django_capture_on_commit_callbacks)
    answer_all(hik, [user])
    # the adapter cannot send the photo (e.g. the file is gone): the face may or may not
    # be on the terminal, so it is sent again
    queue.fail([face], "the photo file cannot be read")
    [again] = poll(school, hik, django_capture_on_commit_callbacks)
    assert again.kind == "face.upsert"


def test_a_command_the_terminal_keeps_refusing_is_given_up_after_the_retries(
    school: Any,
    zk: Device,
    pupil: Pupil,
    groups: list[AccessGroup],  # noqa: F811
    django_capture_on_commit_callbacks: Any,
) -> None:
    services.issue_card(person=pupil.person, uid="123,45678", by=None)
    for _try in range(1 + queue.RETRIES):
        [upsert] = poll(school, zk, django_capture_on_commit_callbacks)
        answer_all(zk, [upsert], return_code=-1002)
    # the failure stays on the terminals page instead of a loop
    assert poll(school, zk, django_capture_on_commit_callbacks) == []
    assert Command.objects.filter(device=zk, status="failed").count() == 1 + queue.RETRIES


def test_a_quiet_poll_reads_once_and_writes_nothing(
    zk: Device, django_assert_num_queries: Any
) -> None:
    sent = queue.enqueue(zk, "door.open", {"door": 1})
    assert queue.due(zk) == [sent]
    with CaptureQueriesContext(connection) as captured:
        assert queue.due(zk) == []
    assert len(captured.captured_queries) == 1
    assert captured.captured_queries[0]["sql"].lstrip().upper().startswith("SELECT")


def test_overdue_commands_are_sent_again_then_fail(zk: Device) -> None:
    command = queue.enqueue(zk, "device.reboot", {})
    for attempt in range(1, queue.MAX_ATTEMPTS + 1):
        assert queue.due(zk) == [command]
        command.refresh_from_db()
        assert command.attempts == attempt
        assert queue.due(zk) == []  # not yet overdue
        later(minutes=3)
    assert queue.due(zk) == []
    command.refresh_from_db()
    assert command.status == Command.Status.FAILED


def test_a_school_looked_at_a_moment_ago_costs_no_query(
    school: Any,
    zk: Device,
    monkeypatch: Any,
    django_assert_num_queries: Any,
    django_capture_on_commit_callbacks: Any,
) -> None:
    monkeypatch.setattr(sync, "CHECK_EVERY", 60.0)
    with django_capture_on_commit_callbacks(execute=True):
        sync.reconcile_if_changed(school.pk)
    with django_assert_num_queries(0):
        assert sync.reconcile_if_changed(school.pk) == 0
    # forgetting the fingerprint makes the next call look again
    sync.forget_fingerprint(school.pk)
    with CaptureQueriesContext(connection) as captured:
        sync.reconcile_if_changed(school.pk)
    assert captured.captured_queries
