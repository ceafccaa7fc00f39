"""Send the queued changes to every Hikvision terminal (ISAPI), once or in a loop.

    manage.py hikvision_push            # once, then exit (cron, or a systemd timer)
    manage.py hikvision_push --loop     # every --interval seconds until stopped

A Hikvision terminal does not poll for commands as a ZKTeco one does: we call it. A
terminal that cannot be reached keeps its commands; the next round sends them again.
"""

from __future__ import annotations

import logging
import time
from typing import Any

from django.core.management.base import BaseCommand, CommandParser
from django.db import close_old_connections

from kezekshi.access.models import Device
from kezekshi.devices.hikvision.executor import execute_pending
from kezekshi.devices.models import Protocol

logger = logging.getLogger(__name__)


class Command(BaseCommand):
    help = "Send queued person, card, face and door commands to Hikvision terminals."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--loop", action="store_true", help="Keep going until stopped.")
        parser.add_argument("--interval", type=float, default=10.0, help="Seconds between rounds.")
        parser.add_argument("--school", type=int, help="Only this school's terminals.")

    def handle(self, *args: Any, **options: Any) -> None:
        while True:
            self.round(options.get("school"))
            if not options["loop"]:
                return
            try:
                time.sleep(options["interval"])
            except KeyboardInterrupt:
                return
            close_old_connections()  # a long-running worker: drop stale connections

    def round(self, school_id: int | None) -> None:
        devices = Device.objects.filter(
            link__protocol=Protocol.HIKVISION, is_active=True, school__is_active=True
        ).exclude(link__address="")
        if school_id is not None:
            devices = devices.filter(school_id=school_id)
        for device in devices.order_by("pk"):
            try:
                done, failed = execute_pending(device)
            except Exception:  # one terminal's bug must not stop the others' sync
                logger.exception("sending commands to %s failed", device)
                continue
            if done or failed:
                self.stdout.write(
                    f"{device.serial_number or device.pk}: {done} done, {failed} failed"
                )
