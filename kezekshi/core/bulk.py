"""Writing a thousand rows at once without the ORM compiling every value.

``bulk_create`` builds its SQL value by value (and on SQLite in slices of 999
parameters); for a batch of 1,000 passes and their 1,000 notices that was nearly half of
the upload's time. Here the statement names the table and columns from the model's
metadata once, and the values go to the driver's ``executemany`` as parameters.
"""

from __future__ import annotations

import datetime as dt
import json
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
    prepare = [_preparer(field, connection) for field in columns]
    attnames = [field.attname for field in columns]  # type: ignore[union-attr]
    params = [
        [prep(getattr(obj, name)) for prep, name in zip(prepare, attnames, strict=True)]
        for obj in objs
    ]
    quote = connection.ops.quote_name
    names = ", ".join(quote(str(field.column)) for field in columns)  # type: ignore[union-attr]
    marks = ", ".join(["%s"] * len(columns))
    sql = f"INSERT INTO {quote(meta.db_table)} ({names}) VALUES ({marks})"  # noqa: S608
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            raw = cursor.cursor
            ids = []
            with connection.wrap_database_errors:  # a unique clash is an IntegrityError
                raw.executemany(f"{sql} RETURNING {quote(str(pk.column))}", params, returning=True)
                while True:
                    ids.append(raw.fetchone()[0])
                    if not raw.nextset():
                        break
        else:
            # SQLite has one writer at a time and this transaction holds the lock: the
            # rows of one statement get consecutive ids ending at the last one.
            cursor.executemany(sql, params)
            cursor.execute("SELECT last_insert_rowid()")
            last = cursor.fetchone()[0]
            ids = list(range(last - len(objs) + 1, last + 1))
    for obj, value in zip(objs, ids, strict=True):
        obj.pk = value
        obj._state.adding = False
        obj._state.db = alias
    return objs


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
    by primary key, sent for all rows at once (``executemany``).

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
    assignments = ", ".join(f"{quote(str(field.column))} = %s" for field in columns)  # type: ignore[union-attr]
    key = quote(str(meta.pk.column))  # type: ignore[union-attr]
    sql = f"UPDATE {quote(meta.db_table)} SET {assignments} WHERE {key} = %s"  # noqa: S608
    params = [
        [prep(getattr(row, name)) for prep, name in zip(prepare, attnames, strict=True)] + [row.pk]
        for row in rows
    ]
    with connection.cursor() as cursor:
        cursor.executemany(sql, params)


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
