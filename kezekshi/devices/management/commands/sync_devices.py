"""Queue the commands that bring terminals in line with our records.

    manage.py sync_devices                 # every school, only where something changed
    manage.py sync_devices --school 3      # one school
    manage.py sync_devices --full          # the full diff, even if nothing seems changed
    manage.py sync_devices --loop 30       # keep going, every 30 seconds

The terminal adapters already reconcile at each poll; this command is for a change to
reach terminals that poll rarely, and after a restore of the database.
"""

from __future__ import annotations

import time
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import close_old_connections

from kezekshi.access.models import Device
from kezekshi.core.models import School
from kezekshi.devices import sync


class Command(BaseCommand):
    help = "Queue the commands that bring each school's terminals in line with our records."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--school", type=int, help="Only this school (id).")
        parser.add_argument(
            "--full", action="store_true", help="Do the full diff even if nothing changed."
        )
        parser.add_argument(
            "--loop", type=float, metavar="SECONDS", help="Run again every SECONDS, until killed."
        )

    def handle(self, *args: Any, **options: Any) -> None:
        school_id = options["school"]
        if school_id is not None and not School.objects.filter(pk=school_id).exists():
            raise CommandError(f"no school {school_id}")
        while True:
            self._run_once(school_id, full=options["full"])
            if not options["loop"]:
                return
            close_old_connections()
            time.sleep(options["loop"])

    def _run_once(self, school_id: int | None, *, full: bool) -> None:
        schools = (
            [school_id]
            if school_id is not None
            else sorted(
                set(
                    Device.objects.filter(
                        is_active=True, link__protocol__in=sync.TERMINAL_PROTOCOLS
                    ).values_list("school_id", flat=True)
                )
            )
        )
        total = 0
        for pk in schools:
            queued = sync.reconcile(pk) if full else sync.reconcile_if_changed(pk)
            if queued:
                self.stdout.write(f"school {pk}: {queued} command(s) queued")
            total += queued
        self.stdout.write(f"{total} command(s) queued for {len(schools)} school(s)")
