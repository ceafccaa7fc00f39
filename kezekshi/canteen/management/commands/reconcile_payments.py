"""Import a provider's daily register (CSV) and list every mismatch with our ledger.

    manage.py reconcile_payments --provider kaspi --date 2025-09-04 register.csv

Columns: txn_id, date, account, sum (see kezekshi/canteen/reconciliation.py and
docs/payments.md). The result is stored and shown to each school's accountant.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from kezekshi.canteen.models import PaymentProvider
from kezekshi.canteen.reconciliation import RegisterError, reconcile


class Command(BaseCommand):
    help = "Reconcile a payment provider's daily register (CSV) with the canteen ledger."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("file", help="the register, CSV: txn_id, date, account, sum")
        parser.add_argument("--provider", required=True, help="the provider's code")
        parser.add_argument("--date", required=True, help="the register's day, YYYY-MM-DD")

    def handle(self, *args: Any, **options: Any) -> None:
        provider = PaymentProvider.objects.filter(code=options["provider"]).first()
        if provider is None:
            raise CommandError(f"No payment provider with code {options['provider']!r}.")
        try:
            date = dt.date.fromisoformat(options["date"])
        except ValueError as exc:
            raise CommandError(f"--date {options['date']!r} is not YYYY-MM-DD.") from exc
        path = Path(options["file"])
        try:
            data = path.read_bytes()
        except OSError as exc:
            raise CommandError(f"{path} cannot be read: {exc}") from exc
        try:
            result = reconcile(provider=provider, date=date, data=data, file_name=path.name)
        except RegisterError as exc:
            raise CommandError(
                "The register cannot be read:\n  " + "\n  ".join(exc.problems)
            ) from exc
        self.stdout.write(
            f"{provider.code} {date}: register {result.their_count} payments, "
            f"{result.their_total}; ledger {result.our_count} top-ups, {result.our_total}; "
            f"matched {result.matched}"
        )
        lines = list(result.lines.order_by("kind", "txn_id"))
        for line in lines:
            self.stdout.write(
                f"  {line.kind:<15} txn {line.txn_id:<20} account {line.account or '-':<12} "
                f"theirs {line.their_amount if line.their_amount is not None else '-':>10} "
                f"ours {line.our_amount if line.our_amount is not None else '-':>10}"
                + (f" our account {line.our_account}" if line.our_account else "")
            )
        if lines:
            self.stdout.write(
                self.style.WARNING(f"{len(lines)} mismatches (reconciliation {result.pk}).")
            )
        else:
            self.stdout.write(self.style.SUCCESS("No mismatches."))
