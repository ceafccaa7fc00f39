"""Behave like a real terminal against a Kezekshi server (or an edge gateway).

    manage.py simulate_device --protocol zkteco-acc --server http://127.0.0.1:8000 \
        --serial DEMO0001 --passes 50

Each protocol lives in ``kezekshi.devices.simulator.<module>`` with a ``run(options,
out)`` function: handshake, polling for commands (applied to the simulator's own user
table), uploads of passes, and re-sending after a simulated reboot.
"""

from __future__ import annotations

import importlib
from typing import Any

from django.core.management.base import BaseCommand, CommandParser

MODULES = {
    "zkteco-acc": "zkteco",
    "zkteco-att": "zkteco",
    "hikvision": "hikvision",
    "native": "native",
}


class Command(BaseCommand):
    help = "Run a simulated terminal (ZKTeco PUSH, Hikvision ISAPI or native) against a server."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--protocol", choices=sorted(MODULES), required=True)
        parser.add_argument("--server", default="http://127.0.0.1:8000", help="Base URL.")
        parser.add_argument("--serial", default="SIM0000001", help="The terminal's serial.")
        parser.add_argument("--device-id", type=int, help="native: the device's id.")
        parser.add_argument("--secret", help="native: the device's secret.")
        parser.add_argument("--listen", default="127.0.0.1:8081", help="hikvision: ISAPI address.")
        parser.add_argument(
            "--push-url", help="hikvision: the push URL the portal shows for the terminal."
        )
        parser.add_argument("--username", default="admin", help="hikvision: ISAPI user.")
        parser.add_argument("--password", help="hikvision: ISAPI password.")
        parser.add_argument("--passes", type=int, default=10, help="Passes to make, then stop.")
        parser.add_argument("--rate", type=float, default=5.0, help="Passes per second.")
        parser.add_argument("--polls", type=int, default=3, help="Command polls, then stop.")
        parser.add_argument("--reboot", action="store_true", help="Reboot once and re-send.")
        parser.add_argument("--state", help="File that keeps the simulator's tables.")

    def handle(self, *args: Any, **options: Any) -> None:
        module = importlib.import_module(
            f"kezekshi.devices.simulator.{MODULES[options['protocol']]}"
        )
        module.run(options, self.stdout)
