"""``manage.py audit_verify``: check the hash chains of the audit log and the consent ledger.

Exit status 0 and ``OK: N entries in M chains`` when every chain is whole; otherwise each
break is printed (chain, row id, reason) and the exit status is 1. Run it from cron and
alert on a non-zero exit: a break means a row was changed, removed or inserted around
the application and the database triggers.
"""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError

from kezekshi.privacy import ledger
from kezekshi.privacy.models import AppendOnly, AuditEntry, Consent

LEDGERS: tuple[type[AppendOnly], ...] = (AuditEntry, Consent)


class Command(BaseCommand):
    help = (
        "Check the hash chains of the audit log and the consent ledger; print every break "
        "and exit with status 1 if there is any."
    )

    def handle(self, *args: Any, **options: Any) -> None:
        entries = chains = problems = 0
        for model in LEDGERS:
            entries += model.objects.count()
            chains += len(ledger.chains(model))
            for name, found in ledger.verify(model):
                problems += 1
                where = f"row {found.row_id}" if found.row_id else "head"
                self.stdout.write(f"BROKEN: chain {name}, {where}: {found.reason}")
        if problems:
            raise CommandError(
                f"{problems} break(s) in the ledgers: they were changed outside the application.",
                returncode=1,
            )
        self.stdout.write(self.style.SUCCESS(f"OK: {entries} entries in {chains} chains"))
