"""Triggers that make the canteen ledger append-only in the database itself.

The same approach as the privacy ledgers (``kezekshi/privacy/triggers.py``): SQLite
raises from a BEFORE trigger, PostgreSQL from the shared ``kezekshi_append_only()``
function (created here too, so the order of the apps' migrations does not matter).
"""

from __future__ import annotations

from typing import Any

LEDGER_TABLES = ("canteen_ledgertransaction", "canteen_entry")


def create_ledger_triggers(connection: Any, cursor: Any) -> None:
    """Refuse UPDATE and DELETE on the ledger tables (SQLite and PostgreSQL); idempotent."""
    for table in LEDGER_TABLES:
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


def drop_ledger_triggers(connection: Any, cursor: Any) -> None:
    for table in LEDGER_TABLES:
        if connection.vendor == "sqlite":
            for operation in ("update", "delete"):
                cursor.execute(f"DROP TRIGGER IF EXISTS {table}_no_{operation}")
        elif connection.vendor == "postgresql":
            cursor.execute(f"DROP TRIGGER IF EXISTS {table}_append_only ON {table}")
