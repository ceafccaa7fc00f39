"""Tell class teachers which pupils have been absent without an excuse for the school's
``absence_alert_days`` working days running. Run daily after the last shift, e.g.:

30 19 * * 1-6  cd /srv/kezekshi && .venv/bin/python manage.py absence_alerts
"""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from kezekshi.access.attendance import send_absence_alerts
from kezekshi.access.tasks import absence_alerts
from kezekshi.core.models import School


class Command(BaseCommand):
    help = (
        "Alert class teachers about pupils absent without an excuse for the configured "
        "number of working days running. Idempotent; run daily after the last shift."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--school", type=int, help="only this school (its id)")
        parser.add_argument(
            "--enqueue", action="store_true", help="queue the work for db_worker instead"
        )

    def handle(self, *args: Any, **options: Any) -> None:
        if options["enqueue"]:
            if options["school"]:
                raise CommandError("--school cannot be combined with --enqueue.")
            result = absence_alerts.enqueue()
            self.stdout.write(f"Queued: task {result.id}.")
            return
        schools = School.objects.filter(is_active=True).order_by("pk")
        if options["school"]:
            schools = schools.filter(pk=options["school"])
            if not schools.exists():
                raise CommandError("No active school with that id.")
        total = 0
        for school in schools:
            sent = send_absence_alerts(school=school)
            total += len(sent)
            if sent:
                self.stdout.write(f"{school.pk}: {len(sent)} alert(s).")
        self.stdout.write(f"Alerts sent: {total}.")
