"""The daily reconciliation: a provider's register (CSV) against our ledger.

The register has a header row and the columns ``txn_id, date, account, sum`` (any order,
comma or semicolon, UTF-8 with or without a BOM): ``date`` as ``YYYY-MM-DD HH:MM:SS`` or
``YYYYMMDDHHMMSS`` in the schools' time zone, ``sum`` as ``500.00``. Every payment of
the register is looked up by ``txn_id`` among the provider's top-ups (any day); every
top-up of ours booked on that day must be in the register. Mismatches: missing on our
side, missing on theirs, amounts differ, accounts differ, and a ``txn_id`` the register
lists more than once (the repeats; the first is compared). Only mismatches are stored.
"""

from __future__ import annotations

import csv
import datetime as dt
import hashlib
import io
from dataclasses import dataclass
from decimal import Decimal
from zoneinfo import ZoneInfo

from django.conf import settings
from django.db import transaction

from kezekshi.accounts.models import User
from kezekshi.canteen.models import (
    ZERO,
    LedgerTransaction,
    PaymentProvider,
    Reconciliation,
    ReconciliationLine,
)
from kezekshi.canteen.money import BadAmount, parse_amount
from kezekshi.people.models import Pupil

COLUMNS = ("txn_id", "date", "account", "sum")
Line = ReconciliationLine.Kind


@dataclass(frozen=True)
class RegisterRow:
    line: int
    txn_id: str
    at: dt.datetime
    account: str
    amount: Decimal


class RegisterError(ValueError):
    """The file cannot be read as a register; ``problems`` name the lines."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("; ".join(problems[:5]))
        self.problems = problems


def read_register(data: bytes) -> list[RegisterRow]:
    """The register's rows; raises ``RegisterError`` listing every bad line (nothing is
    half-read: one unreadable line refuses the file). A repeated ``txn_id`` is read (the
    reconciliation reports it as a mismatch)."""
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise RegisterError(["the file is not UTF-8 text"]) from exc
    first = text.split("\n", 1)[0]
    delimiter = ";" if first.count(";") > first.count(",") else ","
    reader = csv.DictReader(io.StringIO(text), delimiter=delimiter)
    header = [name.strip().lower() for name in reader.fieldnames or []]
    missing = [name for name in COLUMNS if name not in header]
    if missing:
        raise RegisterError([f"line 1: the columns {', '.join(missing)} are missing"])
    reader.fieldnames = header
    rows: list[RegisterRow] = []
    problems: list[str] = []
    local = ZoneInfo(settings.SCHOOL_TIME_ZONE)
    for number, record in enumerate(reader, start=2):
        values = {name: (record.get(name) or "").strip() for name in COLUMNS}
        if not any(values.values()):
            continue
        txn_id = values["txn_id"]
        if not txn_id or len(txn_id) > 40:
            problems.append(f"line {number}: no txn_id")
            continue
        at = _time(values["date"], local)
        if at is None:
            problems.append(f"line {number}: date {values['date']!r} is not a time")
            continue
        try:
            amount = parse_amount(values["sum"])
        except BadAmount:
            problems.append(f"line {number}: sum {values['sum']!r} is not an amount")
            continue
        rows.append(RegisterRow(number, txn_id, at, values["account"][:40], amount))
    if problems:
        raise RegisterError(problems)
    return rows


def _time(text: str, local: ZoneInfo) -> dt.datetime | None:
    for pattern in ("%Y-%m-%d %H:%M:%S", "%Y%m%d%H%M%S", "%Y-%m-%dT%H:%M:%S", "%d.%m.%Y %H:%M:%S"):
        try:
            return dt.datetime.strptime(text, pattern).replace(tzinfo=local)
        except ValueError:
            continue
    return None


@transaction.atomic
def reconcile(
    *,
    provider: PaymentProvider,
    date: dt.date,
    data: bytes,
    file_name: str,
    by: User | None = None,
) -> Reconciliation:
    """Import ``data`` (the provider's register for ``date``) and store every mismatch.

    One transaction: the reconciliation and its lines are stored together or not at all.
    Raises ``RegisterError`` for a file that cannot be read. Running it again for the
    same day stores a new reconciliation (the history is kept).
    """
    rows = read_register(data)
    local = ZoneInfo(settings.SCHOOL_TIME_ZONE)
    day_start = dt.datetime.combine(date, dt.time.min, tzinfo=local)
    day_end = day_start + dt.timedelta(days=1)
    topups = LedgerTransaction.objects.filter(
        kind=LedgerTransaction.Kind.TOPUP, provider=provider
    ).prefetch_related("entries__wallet__pupil")
    theirs: dict[str, RegisterRow] = {}
    repeats: list[RegisterRow] = []
    for row in rows:
        if row.txn_id in theirs:
            repeats.append(row)
        else:
            theirs[row.txn_id] = row
    ours_named = {tx.provider_txn_id: tx for tx in topups.filter(provider_txn_id__in=list(theirs))}
    ours_day = list(topups.filter(booked_at__gte=day_start, booked_at__lt=day_end))
    reconciliation = Reconciliation.objects.create(
        provider=provider,
        date=date,
        file_name=file_name[:200],
        file_sha256=hashlib.sha256(data).hexdigest(),
        imported_by=by,
        their_count=len(rows),
        their_total=sum((row.amount for row in rows), ZERO),
        our_count=len(ours_day),
        our_total=sum((tx.amount for tx in ours_day), ZERO),
    )
    schools = dict(
        Pupil.objects.filter(account_number__in=[row.account for row in rows]).values_list(
            "account_number", "school_id"
        )
    )
    lines = []
    matched = 0
    for row in theirs.values():
        tx = ours_named.get(row.txn_id)
        our_account = _account_of(tx) if tx is not None else ""
        if tx is None:
            kinds = [Line.MISSING_OURS]
        else:
            kinds = [
                *([Line.AMOUNT_DIFFERS] if tx.amount != row.amount else []),
                *([Line.ACCOUNT_DIFFERS] if our_account != row.account else []),
            ]
        if not kinds:
            matched += 1
        lines += [_line(reconciliation, kind, row, tx, our_account, schools) for kind in kinds]
    for row in repeats:
        tx = ours_named.get(row.txn_id)
        our_account = _account_of(tx) if tx is not None else ""
        lines.append(
            _line(reconciliation, Line.DUPLICATE_IN_REGISTER, row, tx, our_account, schools)
        )
    for tx in ours_day:
        if tx.provider_txn_id not in theirs:
            lines.append(
                ReconciliationLine(
                    reconciliation=reconciliation,
                    school_id=tx.school_id,
                    kind=Line.MISSING_THEIRS,
                    txn_id=tx.provider_txn_id,
                    account=_account_of(tx),
                    our_amount=tx.amount,
                    transaction=tx,
                )
            )
    ReconciliationLine.objects.bulk_create(lines)
    reconciliation.matched = matched
    reconciliation.save(update_fields=["matched"])
    return reconciliation


def _line(
    reconciliation: Reconciliation,
    kind: str,
    row: RegisterRow,
    tx: LedgerTransaction | None,
    our_account: str,
    schools: dict[str, int],
) -> ReconciliationLine:
    """A mismatch found for a register line (and our top-up of its ``txn_id``, if any)."""
    return ReconciliationLine(
        reconciliation=reconciliation,
        school_id=tx.school_id if tx is not None else schools.get(row.account),
        kind=kind,
        txn_id=row.txn_id,
        account=row.account,
        our_account=our_account if our_account != row.account else "",
        their_amount=row.amount,
        our_amount=tx.amount if tx is not None else None,
        their_at=row.at,
        transaction=tx,
    )


def _account_of(tx: LedgerTransaction) -> str:
    for entry in tx.entries.all():
        if entry.wallet is not None:
            return entry.wallet.pupil.account_number
    return ""
