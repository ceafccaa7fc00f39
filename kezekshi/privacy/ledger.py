"""Appending to the hash-chained ledgers (consent and audit) and checking them."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from functools import cache
from typing import Any, TypeVar

from django.db import connections, router, transaction
from django.db.backends.base.base import BaseDatabaseWrapper
from django.db.models import Field

from kezekshi.privacy.chain import GENESIS, Break, canonical, link_hash, verify_chain
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
    the caller's transaction (or its own, committed before it returns). There is no
    savepoint: if the append fails, the caller's transaction fails with it, so an
    audited action and its entry are written together or not at all.

    The SQL is built once per ledger rather than through the ORM, whose query building
    cost more than the database did: an audit entry must add under 1 ms to a request
    (``bench/audit_entry.py``). PostgreSQL links, inserts and moves the head in one
    statement (one round trip, and no BEGIN/COMMIT of its own in autocommit); SQLite,
    which runs in the process and has no round trips, in three.
    """
    model = type(row)
    using = router.db_for_write(model, instance=row)
    connection = connections[using]
    statements = _statements(model, using)
    name = chain_name(model, getattr(row, "school_id", None))
    values = [
        field.get_db_prep_save(field.pre_save(row, True), connection)
        for field in _insert_fields(model)
    ]
    if statements.append_linked:
        linked = [name, canonical(payload(row)), *values]
        with connection.cursor() as cursor:
            cursor.execute(statements.append_linked, linked)
            found = cursor.fetchone()
            if found is None:
                _create_head(name, using)
                cursor.execute(statements.append_linked, linked)
                found = cursor.fetchone()
        row.pk, row.prev_hash, row.entry_hash = found
    else:
        with transaction.atomic(using=using, savepoint=False), connection.cursor() as cursor:
            cursor.execute(statements.lock_head, [name])
            found = cursor.fetchone()
            if found is None:
                _create_head(name, using)
                cursor.execute(statements.lock_head, [name])
                found = cursor.fetchone()
            row.prev_hash = found[0]
            row.entry_hash = link_hash(row.prev_hash, payload(row))
            cursor.execute(statements.insert_row, [row.prev_hash, row.entry_hash, *values])
            row.pk = cursor.fetchone()[0] if statements.returns_id else cursor.lastrowid
            cursor.execute(statements.move_head, [row.entry_hash, name])
    row._state.adding = False
    row._state.db = using
    return row


def _create_head(name: str, using: str) -> None:
    """The chain's first row: create its head (two first rows at once make one head)."""
    ChainHead.objects.using(using).get_or_create(name=name, defaults={"last_hash": GENESIS})


@cache
def _insert_fields(model: type[AppendOnly]) -> tuple[Field[Any, Any], ...]:
    """The columns a new row fills, the two hashes aside (the append sets those)."""
    hashes = {"id", "prev_hash", "entry_hash"}
    return tuple(field for field in model._meta.concrete_fields if field.name not in hashes)


@dataclass(frozen=True)
class _Statements:
    lock_head: str = ""
    insert_row: str = ""  # prev_hash, entry_hash, then _insert_fields
    move_head: str = ""
    returns_id: bool = False
    # PostgreSQL: lock the head, link, insert and move the head in one statement;
    # takes the chain's name, the row's canonical payload, then _insert_fields.
    append_linked: str = ""


@cache
def _statements(model: type[AppendOnly], using: str) -> _Statements:
    connection: BaseDatabaseWrapper = connections[using]
    q = connection.ops.quote_name
    # Only identifiers from the models' metadata go into the text; values are parameters.
    heads, table = q(ChainHead._meta.db_table), q(model._meta.db_table)
    fields = _insert_fields(model)
    columns = ", ".join([q("prev_hash"), q("entry_hash"), *(q(str(f.column)) for f in fields)])
    id_column = q(str(model._meta.pk.column))
    if connection.vendor == "postgresql":
        # The hash is the one link_hash computes: sha256 of the previous hash's text and
        # the canonical payload. Each value is cast to its column's type without a
        # length, so a value too long fails as in any insert instead of being cut.
        casts = ", ".join(f"%s::{str(f.db_type(connection)).split('(')[0]}" for f in fields)
        append_linked = f"""
            WITH head AS (
                SELECT id, last_hash FROM {heads} WHERE name = %s FOR UPDATE
            ), linked AS (
                SELECT id AS head_id, last_hash AS prev_hash,
                    encode(sha256(convert_to(last_hash, 'UTF8') || %s::bytea), 'hex') AS entry_hash
                FROM head
            ), inserted AS (
                INSERT INTO {table} ({columns})
                SELECT prev_hash, entry_hash, {casts} FROM linked
                RETURNING {id_column} AS id, prev_hash, entry_hash
            )
            UPDATE {heads} SET last_hash = inserted.entry_hash FROM inserted, linked
            WHERE {heads}.id = linked.head_id
            RETURNING inserted.id, inserted.prev_hash, inserted.entry_hash
        """  # noqa: S608
        return _Statements(append_linked=" ".join(append_linked.split()))
    # SQLite has no row locks: its transactions take the database's write lock at BEGIN
    # (settings: transaction_mode IMMEDIATE), which serialises appends just as well.
    for_update = " FOR UPDATE" if connection.features.has_select_for_update else ""
    returns_id = connection.features.can_return_columns_from_insert
    returning = f" RETURNING {id_column}" if returns_id else ""
    placeholders = ", ".join(["%s"] * (len(fields) + 2))
    insert_row = f"INSERT INTO {table} ({columns}) VALUES ({placeholders}){returning}"  # noqa: S608
    return _Statements(
        lock_head=f"SELECT last_hash FROM {heads} WHERE name = %s{for_update}",  # noqa: S608
        insert_row=insert_row,
        move_head=f"UPDATE {heads} SET last_hash = %s WHERE name = %s",  # noqa: S608
        returns_id=returns_id,
    )


def _with_school(model: type[AppendOnly]) -> Any:
    """``model`` as a ledger with a school, which every ledger has but the abstract base
    does not say to the type checker."""
    return model


def _rows(
    model: type[AppendOnly], school_id: int | None
) -> Iterator[tuple[int, str, str, dict[str, Any]]]:
    rows = _with_school(model).objects.filter(school_id=school_id).order_by("id")
    for row in rows.iterator(chunk_size=2000):
        yield row.pk, row.prev_hash, row.entry_hash, payload(row)


def chains(model: type[AppendOnly]) -> list[int | None]:
    """The school of every chain of ``model``: those with rows and those left with a head
    only (every row removed), which ``verify`` must check too."""
    school_ids = set(_with_school(model).objects.values_list("school_id", flat=True).distinct())
    prefix = chain_name(model, 0).removesuffix("0")
    for name in ChainHead.objects.filter(name__startswith=prefix).values_list("name", flat=True):
        school_ids.add(int(name.removeprefix(prefix)) or None)
    return sorted(school_ids, key=lambda value: value or 0)


def verify(model: type[AppendOnly]) -> list[tuple[str, Break]]:
    """Every break in every chain of ``model``, including a head that lost its last rows.

    Safe while others append: the heads are read first, so a chain may have grown past
    its head by the time its rows are read, but the head's hash must be one of them.
    """
    problems: list[tuple[str, Break]] = []
    heads = dict(ChainHead.objects.values_list("name", "last_hash"))
    for school_id in chains(model):
        name = chain_name(model, school_id)
        head = heads.get(name, GENESIS)
        found_head = [head == GENESIS]
        breaks = verify_chain(_watch_for(head, _rows(model, school_id), found_head))
        problems.extend((name, found) for found in breaks)
        if not found_head[0]:
            problems.append((name, Break(0, "the newest rows of the chain are missing")))
    return problems


def _watch_for(
    entry_hash: str, rows: Iterator[tuple[int, str, str, dict[str, Any]]], found: list[bool]
) -> Iterator[tuple[int, str, str, dict[str, Any]]]:
    """Pass ``rows`` through, setting ``found[0]`` when one has ``entry_hash``."""
    for row in rows:
        if row[2] == entry_hash:
            found[0] = True
        yield row
