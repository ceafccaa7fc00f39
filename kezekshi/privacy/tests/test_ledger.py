"""The ledgers are append-only in the application and in the database, and chained."""

from __future__ import annotations

from typing import Any

import pytest
from django.db import DatabaseError, connection, transaction

from kezekshi.privacy import audit, ledger
from kezekshi.privacy.models import AppendOnlyError, AuditEntry
from kezekshi.privacy.triggers import drop_append_only_triggers

pytestmark = pytest.mark.django_db


def entries(school: Any, n: int = 3) -> list[AuditEntry]:
    return [
        audit.record(action=AuditEntry.Action.VIEW, actor=None, school=school, target=f"card {i}")
        for i in range(n)
    ]


def test_entries_link_to_the_one_before(school: Any) -> None:
    first, second, third = entries(school)
    assert second.prev_hash == first.entry_hash
    assert third.prev_hash == second.entry_hash
    assert ledger.verify(AuditEntry) == []


def test_the_application_refuses_to_change_or_delete(school: Any) -> None:
    entry = entries(school, 1)[0]
    entry.target = "changed"
    with pytest.raises(AppendOnlyError):
        entry.save()
    with pytest.raises(AppendOnlyError):
        entry.delete()
    with pytest.raises(AppendOnlyError):
        AuditEntry.objects.filter(pk=entry.pk).update(target="x")
    with pytest.raises(AppendOnlyError):
        AuditEntry.objects.all().delete()


@pytest.mark.parametrize(
    "statement", ["UPDATE privacy_auditentry SET target = 'x'", "DELETE FROM privacy_auditentry"]
)
def test_the_database_refuses_too(school: Any, statement: str) -> None:
    entries(school, 1)
    with pytest.raises(DatabaseError), transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(statement)
    assert AuditEntry.objects.count() == 1


def test_a_change_made_around_the_triggers_is_found(school: Any) -> None:
    _first, second, _third = entries(school)
    with connection.cursor() as cursor:
        drop_append_only_triggers(connection, cursor)
        cursor.execute("UPDATE privacy_auditentry SET target = 'forged' WHERE id = %s", [second.pk])
    problems = ledger.verify(AuditEntry)
    assert [(found.row_id, "changed" in found.reason) for _name, found in problems] == [
        (second.pk, True)
    ]


def test_removed_rows_are_found(school: Any) -> None:
    _first, second, third = entries(school)
    with connection.cursor() as cursor:
        drop_append_only_triggers(connection, cursor)
        cursor.execute("DELETE FROM privacy_auditentry WHERE id = %s", [second.pk])
    assert [found.row_id for _name, found in ledger.verify(AuditEntry)] == [third.pk]
    with connection.cursor() as cursor:
        cursor.execute("DELETE FROM privacy_auditentry WHERE id = %s", [third.pk])
    assert [found.reason for _name, found in ledger.verify(AuditEntry)] == [
        "the newest rows of the chain are missing"
    ]


def test_each_school_has_its_own_chain(school: Any, other_school: Any) -> None:
    here = entries(school, 2)
    there = entries(other_school, 2)
    assert there[0].prev_hash == "0" * 64
    assert here[1].prev_hash == here[0].entry_hash
    assert ledger.verify(AuditEntry) == []
