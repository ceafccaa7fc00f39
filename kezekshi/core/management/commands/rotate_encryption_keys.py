"""Re-encrypt every encrypted column under the first key of FIELD_ENCRYPTION_KEYS.

Key rotation: put the new key first and keep the old ones after it, deploy, run this,
then remove the old keys. Safe to run again (values already under the first key are
left alone) and while the site is up: each batch is one transaction, and a value changed
by the application meanwhile is not overwritten (the UPDATE checks the old ciphertext).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from cryptography.fernet import InvalidToken
from django.apps import apps
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import connections, models, router, transaction

from kezekshi.core import crypto


@dataclass
class ColumnResult:
    rotated: int = 0
    current: int = 0
    unreadable: list[Any] = field(default_factory=list)


def encrypted_columns() -> list[tuple[type[models.Model], crypto.EncryptedTextField]]:
    """Every ``EncryptedTextField`` of every installed model (each table once)."""
    found = []
    for model in apps.get_models():
        meta = model._meta
        if meta.proxy or not meta.managed:
            continue
        for model_field in meta.local_concrete_fields:
            if isinstance(model_field, crypto.EncryptedTextField):
                found.append((model, model_field))
    return found


def rotate_column(
    model: type[models.Model],
    model_field: crypto.EncryptedTextField,
    *,
    batch_size: int,
    dry_run: bool = False,
) -> ColumnResult:
    """Re-encrypt one column in primary-key order, one transaction per batch.

    Reads the stored ciphertext with SQL (the ORM would decrypt it on the way).
    """
    alias = router.db_for_write(model)
    connection = connections[alias]
    quote = connection.ops.quote_name
    pk_column = str(model._meta.pk.column)  # type: ignore[union-attr]
    table, pk = quote(model._meta.db_table), quote(pk_column)
    column = quote(str(model_field.column))
    # Table and column names come from the models, never from input.
    select = f"SELECT {pk}, {column} FROM {table} WHERE {column} IS NOT NULL AND {column} <> ''"  # noqa: S608
    update = f"UPDATE {table} SET {column} = %s WHERE {pk} = %s AND {column} = %s"  # noqa: S608
    result = ColumnResult()
    last: Any = None
    while True:
        with transaction.atomic(using=alias), connection.cursor() as cursor:
            after, params = ("", []) if last is None else (f" AND {pk} > %s", [last])
            cursor.execute(f"{select}{after} ORDER BY {pk} LIMIT %s", [*params, batch_size])
            rows = cursor.fetchall()
            if not rows:
                return result
            changes = []
            for key, token in rows:
                if crypto.is_current(token):
                    result.current += 1
                    continue
                try:
                    changes.append((crypto.rotate(token), key, token))
                except InvalidToken:
                    result.unreadable.append(key)
            if changes and not dry_run:
                cursor.executemany(update, changes)
            result.rotated += len(changes)
            last = rows[-1][0]


class Command(BaseCommand):
    help = (
        "Re-encrypt every encrypted field (IINs, biometric templates…) under the first key of "
        "FIELD_ENCRYPTION_KEYS. Afterwards the other keys can be removed."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--batch-size", type=int, default=1000, help="rows per transaction")
        parser.add_argument(
            "--dry-run", action="store_true", help="count what would change, change nothing"
        )

    def handle(self, *args: Any, **options: Any) -> None:
        batch_size = options["batch_size"]
        if batch_size < 1:
            raise CommandError("--batch-size must be at least 1.")
        unreadable = 0
        for model, model_field in encrypted_columns():
            result = rotate_column(
                model, model_field, batch_size=batch_size, dry_run=options["dry_run"]
            )
            verb = "would be re-encrypted" if options["dry_run"] else "re-encrypted"
            self.stdout.write(
                f"{model._meta.label}.{model_field.name}: {result.rotated} {verb}, "
                f"{result.current} already under the current key, "
                f"{len(result.unreadable)} unreadable"
            )
            if result.unreadable:
                shown = ", ".join(str(key) for key in result.unreadable[:20])
                self.stderr.write(f"  unreadable with every configured key: ids {shown}")
            unreadable += len(result.unreadable)
        if unreadable:
            raise CommandError(
                f"{unreadable} values could not be read with any key in FIELD_ENCRYPTION_KEYS; "
                "keep the old keys until they are found."
            )
        self.stdout.write("Done. The old keys may now be removed from FIELD_ENCRYPTION_KEYS.")
