"""``manage.py run_worker``: deliver what a killed worker left pending, then run db_worker."""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.core.management import call_command
from django.core.management.base import BaseCommand

from kezekshi.notifications import services


class Command(BaseCommand):
    help = "Send notifications left pending by a stopped worker, then run the task worker."

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("worker_args", nargs="*", help="passed on to db_worker")

    def handle(self, *args: Any, worker_args: list[str], **options: Any) -> None:
        sent = services.sweep(older_than=dt.timedelta(0))
        if sent:
            self.stdout.write(f"sent {sent} notification(s) left pending")
        call_command("db_worker", *worker_args)
