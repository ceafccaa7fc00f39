"""Run the edge gateway: terminals' decisions answered on site, passes buffered on disk
and uploaded to the server whenever it is reachable.

    manage.py run_edge --server https://kezekshi.example.kz --device-id 41 \
        --secret-file /etc/kezekshi-edge/secret --data-dir /var/lib/kezekshi-edge

Migrates the gateway's own database, syncs the mirror once if the server answers, then
serves the device endpoints (``/api/v1/access/…``, ``/iclock/``, ``/isapi/``) with
uvicorn while a background thread syncs and uploads. It starts and decides from its last
mirror when the server is down.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.utils.translation import gettext as _

EDGE_SETTINGS = "kezekshi.edge.settings"


class Command(BaseCommand):
    help = "Run the on-site edge gateway (decisions offline, buffered uploads)."
    requires_system_checks: list[str] = []  # type: ignore[assignment]

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--server", required=True, help="The server's base URL.")
        parser.add_argument("--device-id", type=int, required=True, help="The gateway's device id.")
        parser.add_argument("--secret", help="The gateway's device secret (or --secret-file).")
        parser.add_argument("--secret-file", help="A file holding the device secret.")
        parser.add_argument("--listen", default="0.0.0.0:8800", help="host:port for terminals.")
        parser.add_argument("--data-dir", help="Where the gateway keeps its database.")
        parser.add_argument("--sync-every", type=float, default=30.0, help="Seconds between syncs.")
        parser.add_argument(
            "--max-backoff", type=float, default=60.0, help="Longest wait between tries, s."
        )
        parser.add_argument(
            "--upload-connections", type=int, default=4, help="Uploads sent at once."
        )
        parser.add_argument("--threads", type=int, default=8, help="Request threads.")

    def handle(self, *args: Any, **options: Any) -> None:
        data_dir = str(
            Path(
                options["data_dir"] or os.environ.get("EDGE_DATA_DIR") or "/var/lib/kezekshi-edge"
            ).resolve()
        )
        if (
            settings.SETTINGS_MODULE != EDGE_SETTINGS
            or str(getattr(settings, "EDGE_DATA_DIR", "")) != data_dir
        ):
            # The gateway's settings name its database; start again with them, same process.
            env = {**os.environ, "DJANGO_SETTINGS_MODULE": EDGE_SETTINGS, "EDGE_DATA_DIR": data_dir}
            os.execve(sys.executable, [sys.executable, *sys.argv], env)  # noqa: S606
        secret = options["secret"] or os.environ.get("EDGE_DEVICE_SECRET", "")
        if options["secret_file"]:
            secret = Path(options["secret_file"]).read_text().strip()
        if not secret:
            raise CommandError(_("Give the gateway's device secret: --secret or --secret-file."))
        host, _sep, port = options["listen"].rpartition(":")
        if not host or not port.isdigit():
            raise CommandError(_("--listen must be host:port."))

        from kezekshi.edge import uploader

        call_command("migrate", interactive=False, verbosity=0)
        server = uploader.Server(options["server"], options["device_id"], secret, timeout=10.0)
        try:
            synced = uploader.sync(server)
            self.stdout.write(f"edge: mirror synced ({synced.applied.rows} rows)")
        except uploader.ServerUnavailable as exc:
            self.stdout.write(
                f"edge: the server is not reachable ({exc}); deciding from the last mirror"
            )
        server.timeout = 30.0
        loop = uploader.GatewayLoop(
            server,
            sync_every=options["sync_every"],
            max_backoff=options["max_backoff"],
            connections=max(1, options["upload_connections"]),
        )
        loop.start()
        self.stdout.write(f"edge: serving terminals on {host}:{port}")
        self.stdout.flush()
        try:
            serve(host, int(port), threads=options["threads"])
        finally:
            loop.stop()


def serve(host: str, port: int, *, threads: int) -> None:
    """uvicorn with the server's entry point (kezekshi.asgi): Django's WSGI handler on a
    fixed pool of threads."""
    import os

    import uvicorn

    os.environ["WEB_THREADS"] = str(threads)
    from kezekshi.asgi import application

    uvicorn.run(application, host=host, port=port, log_level="warning", access_log=False)
