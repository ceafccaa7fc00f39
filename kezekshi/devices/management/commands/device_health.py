"""Tell school admins about terminals that went silent in school hours (one run).

Run it from cron every few minutes::

    */5 * * * *  cd /srv/kezekshi && .venv/bin/python manage.py device_health
"""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand

from kezekshi.devices import health


class Command(BaseCommand):
    help = "Alert school admins about terminals silent during school hours (once per silence)."

    def handle(self, *args: Any, **options: Any) -> None:
        told = health.alert_silent()
        for silence in told:
            self.stdout.write(
                f"silent: {silence.device.school_id}/{silence.device.pk} {silence.device.name}"
                f" since {silence.since:%Y-%m-%d %H:%M} UTC"
            )
        self.stdout.write(f"{len(told)} new silence(s) told")
