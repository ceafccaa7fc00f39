"""Appending to the hash-chained ledgers (consent and audit) and checking them."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any, TypeVar

from django.db import transaction

from kezekshi.privacy.chain import GENESIS, Break, link_hash, verify_chain
from kezekshi.privacy.models import AppendOnly, AuditEntry, ChainHead, Consent

Row = TypeVar("Row", bound=AppendOnly)

# The fields each ledger's hash covers (everything but the id and the hashes).
HASHED_FIELDS: dict[type[AppendOnly], tuple[str, ...]] = {
    AuditEntry: (
        "school_id", "actor_id", "action", "person_id", "person_label", "target", "details",
        "ip", "created_at",
    ),
    Consent: (
        "school_id", "subject_user_id", "subject_person_id", "kind", "decision", "given_by_id",
        "as_representative", "policy_id", "policy_hash", "channel", "phone", "ip",
        "user_agent", "note", "created_at",
    ),
}  # fmt: skip


def chain_name(model: type[AppendOnly], school_id: int | None) -> str:
    return f"{model._meta.label_lower}:{school_id or 0}"


def payload(row: AppendOnly) -> dict[str, Any]:
    values = {name: getattr(row, name) for name in HASHED_FIELDS[type(row)]}
    if values.get("created_at") is not None:
        values["created_at"] = values["created_at"].isoformat()
    return values


def append(row: Row) -> Row:
    """Save a new ledger row as the next link of its school's chain.

    Locks the chain head, so two writers never link to the same previous row. Runs in
    the caller's transaction (or its own).
    """
    school_id = getattr(row, "school_id", None)
    with transaction.atomic():
        name = chain_name(type(row), school_id)
        ChainHead.objects.get_or_create(name=name, defaults={"last_hash": GENESIS})
        head = ChainHead.objects.select_for_update().get(name=name)
        row.prev_hash = head.last_hash
        row.entry_hash = link_hash(head.last_hash, payload(row))
        row.save()
        ChainHead.objects.filter(pk=head.pk).update(last_hash=row.entry_hash)
    return row


def _rows(
    model: type[AppendOnly], school_id: int | None
) -> Iterator[tuple[int, str, str, dict[str, Any]]]:
    rows = model.objects.filter(school_id=school_id).order_by("id")
    for row in rows.iterator(chunk_size=2000):
        yield row.pk, row.prev_hash, row.entry_hash, payload(row)


def verify(model: type[AppendOnly]) -> list[tuple[str, Break]]:
    """Every break in every chain of ``model``, including a head that lost its last rows."""
    problems: list[tuple[str, Break]] = []
    school_ids = set(model.objects.values_list("school_id", flat=True).distinct())
    heads = dict(ChainHead.objects.values_list("name", "last_hash"))
    for school_id in sorted(school_ids, key=lambda value: value or 0):
        name = chain_name(model, school_id)
        last = [GENESIS]

        def remember_last(
            rows: Iterator[tuple[int, str, str, dict[str, Any]]], last: list[str] = last
        ) -> Iterator[tuple[int, str, str, dict[str, Any]]]:
            for row in rows:
                last[0] = row[2]
                yield row

        breaks = verify_chain(remember_last(_rows(model, school_id)))
        problems.extend((name, found) for found in breaks)
        if heads.get(name, last[0]) != last[0]:
            problems.append((name, Break(0, "the newest rows of the chain are missing")))
    return problems
