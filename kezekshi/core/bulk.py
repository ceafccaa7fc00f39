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
    params = _rows(objs, columns, connection)
    quote = connection.ops.quote_name
    names = ", ".join(quote(str(field.column)) for field in columns)  # type: ignore[union-attr]
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            # One statement: each column goes as one array parameter, unnested into rows
            # (RETURNING gives the ids in the order of the arrays, as bulk_create relies on).
            arrays = ", ".join(f"%s::{_array_type(field, connection)}" for field in columns)
            cursor.execute(
                f"INSERT INTO {quote(meta.db_table)} ({names}) "  # noqa: S608
                f"SELECT * FROM unnest({arrays}) RETURNING {quote(str(pk.column))}",
                [list(column) for column in zip(*params, strict=True)],
            )
            ids = [row[0] for row in cursor.fetchall()]
        else:
            # SQLite has one writer at a time and this transaction holds the lock: the
            # rows of one statement get consecutive ids ending at the last one.
            marks = ", ".join(["%s"] * len(columns))
            cursor.executemany(
                f"INSERT INTO {quote(meta.db_table)} ({names}) VALUES ({marks})",  # noqa: S608
                params,
            )
            cursor.execute("SELECT last_insert_rowid()")
            last = cursor.fetchone()[0]
            ids = list(range(last - len(objs) + 1, last + 1))
    for obj, value in zip(objs, ids, strict=True):
        obj.pk = value
        obj._state.adding = False
        obj._state.db = alias
    return objs


def _rows(objs: Sequence[models.Model], columns: Sequence[Any], connection: Any) -> list[Any]:
    """Each object's values of ``columns``, as the driver takes them. Read with one
    ``attrgetter`` per row, and converted only in the columns that need it: a batch
    writes tens of thousands of values."""
    getter = operator.attrgetter(*(field.attname for field in columns))
    converting = [
        (index, prepare)
        for index, prepare in enumerate(_preparer(field, connection) for field in columns)
        if prepare is not _same
    ]
    single = len(columns) == 1  # attrgetter of one name gives the value, not a tuple
    rows = []
    for obj in objs:
        row = [getter(obj)] if single else list(getter(obj))
        for index, prepare in converting:
            row[index] = prepare(row[index])
        rows.append(row)
    return rows


def _array_type(field: Any, connection: Any) -> str:
    """The PostgreSQL array type of a column's values (``bigint[]``, ``varchar(3)[]``…)."""
    return f"{field.db_type(connection)}[]"


def _preparer(field: Any, connection: Any) -> Callable[[Any], Any]:
    kind = field.get_internal_type()
    if kind in _AS_IS:
        return _same
    if kind in ("CharField", "TextField"):
        return _text
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
    model = type(rows[0])
    meta = model._meta
    connection = connections[router.db_for_write(model)]
    quote = connection.ops.quote_name
    columns = [meta.get_field(name) for name in fields]
    prepare = [_preparer(field, connection) for field in columns]
    attnames = [field.attname for field in columns]  # type: ignore[union-attr]
    key = quote(str(meta.pk.column))  # type: ignore[union-attr]
    table = quote(meta.db_table)
    params = [
        [prep(getattr(row, name)) for prep, name in zip(prepare, attnames, strict=True)] + [row.pk]
        for row in rows
    ]
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            # One statement: the new values as arrays, unnested and joined by the key.
            names = [f"v{index}" for index in range(len(columns))]
            arrays = ", ".join(
                [f"%s::{_array_type(field, connection)}" for field in columns]
                + [f"%s::{_array_type(meta.pk, connection)}"]
            )
            assignments = ", ".join(
                f"{quote(str(field.column))} = v.{name}"  # type: ignore[union-attr]
                for field, name in zip(columns, names, strict=True)
            )
            cursor.execute(
                f"UPDATE {table} SET {assignments} "  # noqa: S608
                f"FROM unnest({arrays}) AS v({', '.join([*names, 'pk'])}) "
                f"WHERE {table}.{key} = v.pk",
                [list(column) for column in zip(*params, strict=True)],
            )
        else:
            assignments = ", ".join(f"{quote(str(field.column))} = %s" for field in columns)  # type: ignore[union-attr]
            cursor.executemany(
                f"UPDATE {table} SET {assignments} WHERE {key} = %s",  # noqa: S608
                params,
            )


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
            return f"{lhs} = ANY(%s)", [*lhs_params, values]
        sql = f"{lhs} IN (SELECT value FROM json_each(%s))"  # noqa: S608
        return sql, [*lhs_params, json.dumps(values)]


models.Field.register_lookup(Among)
models.ForeignObject.register_lookup(Among)  # ``person_id__among=[ids]``
