"""Writing a thousand rows at once without the ORM compiling every value.

``bulk_create`` builds its SQL value by value (and on SQLite in slices of 999
parameters); for a batch of 1,000 passes and their 1,000 notices that was nearly half of
the upload's time. Here the statement names the table and columns from the model's
metadata once, and the values go as parameters: on SQLite to the driver's
``executemany``, on PostgreSQL as one array per column, unnested into rows by a single
statement (a pipeline of a thousand statements cost more than the work).
"""

from __future__ import annotations

import datetime as dt
import json
import operator
from collections.abc import Callable, Sequence
from enum import Enum
from typing import Any, TypeVar

from django.db import connections, models, router
from django.db.models import Lookup
from django.utils import timezone

_Model = TypeVar("_Model", bound=models.Model)

# Values of these fields are what the driver takes as they are.
_AS_IS = {
    "AutoField", "BigAutoField", "SmallAutoField", "IntegerField", "BigIntegerField",
    "SmallIntegerField", "PositiveIntegerField", "PositiveSmallIntegerField",
    "PositiveBigIntegerField", "BooleanField", "ForeignKey",
}  # fmt: skip


def insert(objs: Sequence[_Model], *, fields: Sequence[str] | None = None) -> Sequence[_Model]:
    """INSERT ``objs`` (new rows, no primary key yet) and give each its primary key.

    ``fields`` defaults to every concrete field but the primary key; ``auto_now`` and
    ``auto_now_add`` fields are filled in as ``save()`` would. The rows must all be of one
    model. Call it inside the caller's transaction.
    """
    if not objs:
        return objs
    model = type(objs[0])
    meta = model._meta
    alias = router.db_for_write(model)
    connection = connections[alias]
    pk = meta.pk
    assert pk is not None
    columns = [
        field
        for field in (
            meta.concrete_fields if fields is None else [meta.get_field(n) for n in fields]
        )
        if field is not pk
    ]
    stamped = [
        f for f in columns if getattr(f, "auto_now", False) or getattr(f, "auto_now_add", False)
    ]
    for obj in objs:
        for field in stamped:
            field.pre_save(obj, add=True)  # type: ignore[union-attr]
    getter = operator.attrgetter(*(field.attname for field in columns))  # type: ignore[union-attr]
    single = len(columns) == 1  # attrgetter of one name gives the value, not a tuple
    values = [(getter(obj),) if single else getter(obj) for obj in objs]
    ids = _write(model, columns, _prepared(values, columns, connection), connection)
    for obj, value in zip(objs, ids, strict=True):
        obj.pk = value
        obj._state.adding = False
        obj._state.db = alias
    return objs


def insert_rows(
    model: type[models.Model],
    fields: Sequence[str],
    rows: Sequence[Sequence[Any]],
    *,
    ignore_conflicts: bool = False,
) -> list[int]:
    """INSERT rows given as tuples of the values of ``fields`` (attnames: ``person_id``)
    and return their primary keys, in order. Every other column takes its default,
    computed once for the batch (``auto_now_add``: the time of this call).

    For the hot paths that write thousands of rows and need no instances back: building
    a model instance per row cost more than the INSERT. A callable default other than
    the clock (a fresh UUID per row) must be given per row: it raises ``ValueError``.
    Call it inside the caller's transaction.
    """
    if not rows:
        return []
    meta = model._meta
    connection = connections[router.db_for_write(model)]
    given = [meta.get_field(name) for name in fields]
    constants: list[tuple[Any, Any]] = []
    now = timezone.now()
    for field in meta.concrete_fields:
        if field is meta.pk or field in given:
            continue
        if getattr(field, "auto_now", False) or getattr(field, "auto_now_add", False):
            constants.append((field, now))
        elif field.has_default() and callable(field.default):
            raise ValueError(f"{meta.label}.{field.name}: give a per-row value for its default")
        else:
            constants.append((field, field.get_default()))
    columns = [*given, *(field for field, _value in constants)]
    fixed = tuple(_preparer(field, connection)(value) for field, value in constants)
    params = _prepared(rows, given, connection)
    if fixed:
        params = [(*row, *fixed) for row in params]
    return _write(model, columns, params, connection, ignore_conflicts=ignore_conflicts)


def _write(
    model: type[models.Model],
    columns: Sequence[Any],
    params: Sequence[Sequence[Any]],
    connection: Any,
    *,
    ignore_conflicts: bool = False,
) -> list[int]:
    """One INSERT of ``params`` (driver-ready rows of ``columns``); the new ids in order
    (none when ``ignore_conflicts``: some rows may not have been written)."""
    meta = model._meta
    quote = connection.ops.quote_name
    names = ", ".join(quote(str(field.column)) for field in columns)
    if connection.vendor == "postgresql":
        # One statement: each column goes as one array parameter, unnested into rows
        # (RETURNING gives the ids in the order of the arrays, as bulk_create relies on).
        arrays = ", ".join(f"%b::{_array_type(field, connection)}" for field in columns)
        tail = (
            "ON CONFLICT DO NOTHING"
            if ignore_conflicts
            else f"RETURNING {quote(str(meta.pk.column))}"  # type: ignore[union-attr]
        )
        rows = _postgres(
            connection,
            f"INSERT INTO {quote(meta.db_table)} ({names}) "  # noqa: S608
            f"SELECT * FROM unnest({arrays}) {tail}",
            [list(column) for column in zip(*params, strict=True)],
        )
        return [] if ignore_conflicts else [row[0] for row in rows]
    with connection.cursor() as cursor:
        # SQLite has one writer at a time and this transaction holds the lock: the rows of
        # one statement get consecutive ids ending at the last one.
        marks = ", ".join(["%s"] * len(columns))
        verb = "INSERT OR IGNORE" if ignore_conflicts else "INSERT"
        cursor.executemany(
            f"{verb} INTO {quote(meta.db_table)} ({names}) VALUES ({marks})",
            params,
        )
        if ignore_conflicts:
            return []
        cursor.execute("SELECT last_insert_rowid()")
        last = cursor.fetchone()[0]
        return list(range(last - len(params) + 1, last + 1))


def _prepared(
    rows: Sequence[Sequence[Any]], columns: Sequence[Any], connection: Any
) -> Sequence[Sequence[Any]]:
    """``rows`` as the driver takes them, converted only in the columns that need it: a
    batch writes tens of thousands of values."""
    converting = [
        (index, prepare)
        for index, prepare in enumerate(_preparer(field, connection) for field in columns)
        if prepare is not _same
    ]
    if not converting:
        return rows
    prepared = []
    for row in rows:
        values = list(row)
        for index, prepare in converting:
            values[index] = prepare(values[index])
        prepared.append(values)
    return prepared


def _array_type(field: Any, connection: Any) -> str:
    """The PostgreSQL array type of a column's values (``bigint[]``, ``varchar(3)[]``…)."""
    return f"{field.db_type(connection)}[]"


def _preparer(field: Any, connection: Any) -> Callable[[Any], Any]:
    kind = field.get_internal_type()
    if kind in _AS_IS:
        return _same
    if kind in ("CharField", "TextField"):
        return _text
    if kind == "DateField":
        return _same if connection.vendor == "postgresql" else _sqlite_date
    if kind == "DateTimeField":
        if connection.vendor == "sqlite":
            return _sqlite_datetime
        return connection.ops.adapt_datetimefield_value  # type: ignore[no-any-return]
    return lambda value: field.get_db_prep_save(value, connection)


def _sqlite_datetime(value: dt.datetime | None) -> str | None:
    """What Django's SQLite backend writes for an aware datetime (UTC, no offset), four
    times as fast: the batch writes a few thousand of them."""
    if value is None:
        return None
    if value.tzinfo is None:
        raise ValueError("a naive datetime where an aware one is expected")
    return str(value.astimezone(dt.UTC).replace(tzinfo=None))


def _sqlite_date(value: dt.date | None) -> str | None:
    return None if value is None else value.isoformat()


def _same(value: Any) -> Any:
    return value


def _text(value: Any) -> Any:
    # A choices member (``Direction.IN``): psycopg would write an Enum by its name.
    return value.value if isinstance(value, Enum) else value


def update(rows: Sequence[models.Model], *, fields: Sequence[str]) -> None:
    """Write the new values of ``fields`` of rows this transaction has locked: one UPDATE
    by primary key for all rows at once.

    ``bulk_update`` builds a ``CASE`` per field and row and an upsert compiles every
    column of every row; both took most of a 1,000-event batch.
    """
    if not rows:
        return
    attnames = [type(rows[0])._meta.get_field(name).attname for name in fields]  # type: ignore[union-attr]
    getter = operator.attrgetter(*attnames, "pk")
    update_rows(type(rows[0]), fields, [getter(row) for row in rows])


def update_rows(
    model: type[models.Model], fields: Sequence[str], rows: Sequence[Sequence[Any]]
) -> None:
    """As ``update``, for rows given as tuples: the new values of ``fields``, then the
    primary key."""
    if not rows:
        return
    meta = model._meta
    connection = connections[router.db_for_write(model)]
    quote = connection.ops.quote_name
    columns = [meta.get_field(name) for name in fields]
    key = quote(str(meta.pk.column))  # type: ignore[union-attr]
    table = quote(meta.db_table)
    params = _prepared(rows, [*columns, meta.pk], connection)
    if connection.vendor == "postgresql":
        # One statement: the new values as arrays, unnested and joined by the key.
        names = [f"v{index}" for index in range(len(columns))]
        arrays = ", ".join(
            [f"%b::{_array_type(field, connection)}" for field in columns]
            + [f"%b::{_array_type(meta.pk, connection)}"]
        )
        assignments = ", ".join(
            f"{quote(str(field.column))} = v.{name}"  # type: ignore[union-attr]
            for field, name in zip(columns, names, strict=True)
        )
        _postgres(
            connection,
            f"UPDATE {table} SET {assignments} "  # noqa: S608
            f"FROM unnest({arrays}) AS v({', '.join([*names, 'pk'])}) "
            f"WHERE {table}.{key} = v.pk",
            [list(column) for column in zip(*params, strict=True)],
        )
        return
    assignments = ", ".join(f"{quote(str(field.column))} = %s" for field in columns)  # type: ignore[union-attr]
    with connection.cursor() as cursor:
        cursor.executemany(
            f"UPDATE {table} SET {assignments} WHERE {key} = %s",  # noqa: S608
            params,
        )


def _postgres(connection: Any, sql: str, arrays: list[list[Any]]) -> list[tuple[Any, ...]]:
    """Run ``sql`` with its arrays bound on the server in binary (``%b``), in the
    caller's transaction; the rows it returns. Django's cursors bind ``%s`` in text (or on
    the client, with DATABASE_SERVER_SIDE_BINDING=0), which writes every element of every
    array out in Python: three times the cost of the INSERT."""
    import psycopg

    connection.ensure_connection()
    with connection.wrap_database_errors, psycopg.Cursor(connection.connection) as cursor:
        cursor.execute(sql, arrays)
        return cursor.fetchall() if cursor.description else []


class Among(Lookup):  # type: ignore[type-arg]
    """``person_id__among=[...]``: ``__in`` for a long list of plain ints or strings, with
    the list sent as ONE parameter (``= ANY(array)`` on PostgreSQL, ``json_each`` on
    SQLite). ``__in`` resolves and binds each value on its own, which for the thousand
    ids of an upload cost more than the query."""

    lookup_name = "among"

    def get_prep_lookup(self) -> Any:
        return [value.value if isinstance(value, Enum) else value for value in self.rhs]

    def as_sql(self, compiler: Any, connection: Any) -> Any:
        lhs, lhs_params = self.process_lhs(compiler, connection)
        values = list(self.rhs)
        if not values:
            return "1 = 0", []
        if connection.vendor == "postgresql":
            # One array literal, cast: psycopg writes a Python list out element by element
            # (a tenth of an upload's time), bound on the client or in text alike.
            array_type = f"{self.lhs.output_field.db_type(connection)}[]"
            return f"{lhs} = ANY(%s::{array_type})", [*lhs_params, _array_literal(values)]
        sql = f"{lhs} IN (SELECT value FROM json_each(%s))"  # noqa: S608
        return sql, [*lhs_params, json.dumps(values)]


models.Field.register_lookup(Among)
models.ForeignObject.register_lookup(Among)  # ``person_id__among=[ids]``


def _array_literal(values: list[Any]) -> str:
    """A PostgreSQL array literal of ints or strings: ``{1,2}``, ``{"a","b\\"c"}``."""
    if all(type(value) is int for value in values):
        return "{" + ",".join(map(str, values)) + "}"
    quoted = ('"' + str(value).replace("\\", "\\\\").replace('"', '\\"') + '"' for value in values)
    return "{" + ",".join(quoted) + "}"
