"""SQL of the triggers that make the ledgers append-only in the database itself: the
privacy ledgers here, the canteen's ledger through the same functions."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

APPEND_ONLY_TABLES = ("privacy_consent", "privacy_auditentry")


def create_append_only_triggers(
    connection: Any, cursor: Any, *, tables: Sequence[str] = APPEND_ONLY_TABLES
) -> None:
    """Refuse UPDATE and DELETE on ``tables`` (SQLite and PostgreSQL); idempotent."""
    for table in tables:
        if connection.vendor == "sqlite":
            for operation in ("UPDATE", "DELETE"):
                cursor.execute(
                    f"CREATE TRIGGER IF NOT EXISTS {table}_no_{operation.lower()} "
                    f"BEFORE {operation} ON {table} "
                    f"BEGIN SELECT RAISE(ABORT, '{table} is append-only'); END;"
                )
        elif connection.vendor == "postgresql":
            cursor.execute(
                "CREATE OR REPLACE FUNCTION kezekshi_append_only() RETURNS trigger AS $$ "
                "BEGIN RAISE EXCEPTION '% is append-only', TG_TABLE_NAME; END; "
                "$$ LANGUAGE plpgsql;"
            )
            cursor.execute(f"DROP TRIGGER IF EXISTS {table}_append_only ON {table}")
            cursor.execute(
                f"CREATE TRIGGER {table}_append_only BEFORE UPDATE OR DELETE ON {table} "
                "FOR EACH ROW EXECUTE FUNCTION kezekshi_append_only();"
            )


def drop_append_only_triggers(
    connection: Any, cursor: Any, *, tables: Sequence[str] = APPEND_ONLY_TABLES
) -> None:
    for table in tables:
        if connection.vendor == "sqlite":
            for operation in ("update", "delete"):
                cursor.execute(f"DROP TRIGGER IF EXISTS {table}_no_{operation}")
        elif connection.vendor == "postgresql":
            cursor.execute(f"DROP TRIGGER IF EXISTS {table}_append_only ON {table}")
