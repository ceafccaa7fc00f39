"""Triggers that make the canteen ledger append-only in the database itself: the same
triggers as the privacy ledgers' (``kezekshi/privacy/triggers.py``), on the ledger's
tables."""

from __future__ import annotations

from typing import Any

from kezekshi.privacy.triggers import create_append_only_triggers, drop_append_only_triggers

LEDGER_TABLES = ("canteen_ledgertransaction", "canteen_entry")


def create_ledger_triggers(connection: Any, cursor: Any) -> None:
    """Refuse UPDATE and DELETE on the ledger tables (SQLite and PostgreSQL); idempotent."""
    create_append_only_triggers(connection, cursor, tables=LEDGER_TABLES)


def drop_ledger_triggers(connection: Any, cursor: Any) -> None:
    drop_append_only_triggers(connection, cursor, tables=LEDGER_TABLES)
