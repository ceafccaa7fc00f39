"""The audit log underneath the pages: appending, the command-line entries, audit_verify."""

from __future__ import annotations

import io
import threading
from pathlib import Path
from typing import Any

import pytest
from django.core.management import CommandError, call_command
from django.db import DataError, connection, transaction
from django.utils import timezone

from kezekshi.accounts.roles import Role
from kezekshi.people.models import Pupil
from kezekshi.portal.tests.test_people_io import nobd_csv
from kezekshi.privacy import audit, ledger
from kezekshi.privacy.models import AuditEntry, Consent, Kind
from kezekshi.privacy.triggers import drop_append_only_triggers

pytestmark = pytest.mark.django_db

Action = AuditEntry.Action


def entries(school: Any, n: int) -> list[AuditEntry]:
    return [
        audit.record(action=Action.VIEW, actor=None, school=school, target=f"card {i}")
        for i in range(n)
    ]


def verify_command() -> tuple[str, CommandError | None]:
    out = io.StringIO()
    try:
        call_command("audit_verify", stdout=out)
    except CommandError as error:
        return out.getvalue(), error
    return out.getvalue(), None


def consent(pupil: Pupil, user: Any) -> Consent:
    return ledger.append(
        Consent(
            school=pupil.school,
            subject_person=pupil.person,
            kind=Kind.PROCESSING,
            decision=Consent.Decision.GRANT,
            given_by=user,
            channel=Consent.Channel.PAPER,
            created_at=timezone.now(),
        )
    )


def test_an_entry_names_who_whom_and_where(school: Any, pupil: Pupil, make_user: Any) -> None:
    teacher = make_user(Role.CLASS_TEACHER, school)

    entry = audit.record(
        action=Action.VIEW, actor=teacher, school=school, person=pupil.person, target="/x/"
    )

    stored = AuditEntry.objects.get(pk=entry.pk)
    assert (stored.actor, stored.person, stored.school) == (teacher, pupil.person, school)
    assert stored.person_label == pupil.person.full_name
    assert (stored.prev_hash, stored.entry_hash) == (entry.prev_hash, entry.entry_hash)
    assert ledger.verify(AuditEntry) == []


def test_an_entry_written_in_a_transaction_that_fails_goes_with_it(school: Any) -> None:
    with pytest.raises(RuntimeError), transaction.atomic():
        entries(school, 1)
        raise RuntimeError("the audited action failed")

    assert not AuditEntry.objects.exists()
    entries(school, 1)  # the chain goes on from where the committed rows end
    assert ledger.verify(AuditEntry) == []


@pytest.mark.skipif(
    connection.vendor != "postgresql", reason="SQLite has no lengths to enforce or cut"
)
def test_a_value_too_long_is_refused_not_cut(school: Any) -> None:
    row = AuditEntry(school=school, action=Action.VIEW, person_label="Ә" * 301)
    row.created_at = timezone.now()
    with pytest.raises(DataError), transaction.atomic():
        ledger.append(row)


def test_the_export_command_is_one_entry_without_a_user(
    school: Any, pupil: Pupil, tmp_path: Path
) -> None:
    output = tmp_path / "people.csv"

    call_command(
        "export_people",
        "--school",
        school.bin,
        "--format",
        "csv",
        "-o",
        str(output),
        stdout=io.StringIO(),
    )

    entry = AuditEntry.objects.get()
    assert (entry.action, entry.actor, entry.school) == (Action.EXPORT, None, school)
    assert entry.target == "manage.py export_people"
    assert entry.details == {
        "via": "command line",
        "filename": str(output),
        "format": "csv",
        "pupils": 1,
        "guardians": 0,
    }


def test_the_import_command_is_recorded_with_its_counts(
    school: Any, school_class: Any, tmp_path: Path
) -> None:
    source = tmp_path / "nobd.csv"
    source.write_bytes(nobd_csv())

    call_command("import_people", str(source), "--school", str(school.pk), stdout=io.StringIO())

    entry = AuditEntry.objects.get()
    assert (entry.action, entry.actor, entry.target) == (
        Action.IMPORT,
        None,
        "manage.py import_people",
    )
    assert entry.details["via"] == "command line"
    assert entry.details["filename"] == "nobd.csv"
    assert entry.details["format"] == "csv"
    assert entry.details["written"] is True
    assert entry.details["counts"]["pupils"] == {"created": 1, "updated": 0, "unchanged": 0}


def test_a_refused_import_is_recorded_too(school: Any, tmp_path: Path) -> None:
    source = tmp_path / "nobd.csv"
    source.write_bytes(nobd_csv())  # its class does not exist in the school

    with pytest.raises(CommandError):
        call_command("import_people", str(source), "--school", school.bin, stdout=io.StringIO())

    entry = AuditEntry.objects.get()
    assert entry.action == Action.IMPORT
    assert (entry.details["written"], entry.details["problems"]) == (False, 1)


def test_audit_verify_passes_on_a_clean_log(
    school: Any, other_school: Any, pupil: Pupil, make_user: Any
) -> None:
    entries(school, 3)
    entries(other_school, 2)
    consent(pupil, make_user())

    output, error = verify_command()

    assert error is None
    assert "OK: 6 entries in 3 chains" in output


def test_audit_verify_names_a_changed_row_and_fails(school: Any) -> None:
    _first, second, _third = entries(school, 3)
    with connection.cursor() as cursor:
        drop_append_only_triggers(connection, cursor)
        cursor.execute("UPDATE privacy_auditentry SET target = 'forged' WHERE id = %s", [second.pk])

    output, error = verify_command()

    assert error is not None and error.returncode == 1
    assert f"chain privacy.auditentry:{school.pk}, row {second.pk}: content does not match" in (
        output
    )
    assert "OK:" not in output


def test_audit_verify_checks_the_consent_ledger_too(
    school: Any, pupil: Pupil, make_user: Any
) -> None:
    row = consent(pupil, make_user())
    with connection.cursor() as cursor:
        drop_append_only_triggers(connection, cursor)
        cursor.execute("UPDATE privacy_consent SET decision = 'withdraw' WHERE id = %s", [row.pk])

    output, error = verify_command()

    assert error is not None and error.returncode == 1
    assert f"chain privacy.consent:{school.pk}, row {row.pk}" in output


def test_a_chain_emptied_of_all_its_rows_is_found(school: Any, other_school: Any) -> None:
    entries(school, 2)
    entries(other_school, 1)
    with connection.cursor() as cursor:
        drop_append_only_triggers(connection, cursor)
        cursor.execute("DELETE FROM privacy_auditentry WHERE school_id = %s", [school.pk])

    output, error = verify_command()

    assert error is not None
    assert f"chain privacy.auditentry:{school.pk}, head: the newest rows" in output


@pytest.mark.skipif(
    connection.vendor != "postgresql",
    reason="SQLite takes its one write lock at BEGIN IMMEDIATE; threads on the in-memory "
    "test database would only test the test setup",
)
@pytest.mark.django_db(transaction=True)
def test_writers_at_once_never_link_to_the_same_row(school: Any) -> None:
    failures: list[BaseException] = []

    def write() -> None:
        try:
            entries(school, 25)
        except BaseException as error:  # reported by the assertion below
            failures.append(error)
        finally:
            connection.close()

    threads = [threading.Thread(target=write) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert failures == []
    assert AuditEntry.objects.count() == 100
    assert ledger.verify(AuditEntry) == []
