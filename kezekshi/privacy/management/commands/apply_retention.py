"""Apply the personal-data retention rules. Run daily, e.g. from cron:

15 3 * * *  cd /srv/kezekshi && .venv/bin/python manage.py apply_retention
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from kezekshi.privacy.retention import apply_retention
from kezekshi.privacy.tasks import run_retention


class Command(BaseCommand):
    help = (
        "Delete old request metadata, order the erasure of biometrics of pupils who left, "
        "pseudonymise old presence history. Idempotent; run daily."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--today", help="apply the rules as of this date (YYYY-MM-DD)")
        parser.add_argument(
            "--enqueue", action="store_true", help="queue the work for db_worker instead"
        )

    def handle(self, *args: Any, **options: Any) -> None:
        if options["enqueue"]:
            if options["today"]:
                raise CommandError("--today cannot be combined with --enqueue.")
            result = run_retention.enqueue()
            self.stdout.write(f"Queued: task {result.id}.")
            return
        today = None
        if options["today"]:
            try:
                today = dt.date.fromisoformat(options["today"])
            except ValueError as exc:
                raise CommandError("--today must be a date, YYYY-MM-DD.") from exc
        for line in apply_retention(today=today).lines():
            self.stdout.write(line)
