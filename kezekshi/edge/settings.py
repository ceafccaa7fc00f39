"""Settings of the edge gateway: the server's settings with its own SQLite file and URLs.

    DJANGO_SETTINGS_MODULE=kezekshi.edge.settings EDGE_DATA_DIR=/var/lib/kezekshi-edge

``manage.py run_edge`` sets both itself. The gateway keeps everything in ``EDGE_DATA_DIR``:
``edge.sqlite3`` (WAL, ``synchronous=FULL``: a pass acknowledged to a terminal is on disk
and survives a power cut) and ``secret_key`` (made on first start unless ``SECRET_KEY`` is
set; it is the gateway's own, never the server's).
"""

from __future__ import annotations

import os
import secrets
from pathlib import Path

from kezekshi.core.env import env_int, env_list, env_str

EDGE_DATA_DIR = Path(env_str("EDGE_DATA_DIR", default="/var/lib/kezekshi-edge"))
EDGE_DATA_DIR.mkdir(parents=True, exist_ok=True)


def _secret_key() -> str:
    path = EDGE_DATA_DIR / "secret_key"
    if not path.exists():
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as out:
            out.write(secrets.token_urlsafe(48))
    return path.read_text().strip()


if not os.environ.get("SECRET_KEY"):
    os.environ["SECRET_KEY"] = _secret_key()
os.environ.setdefault("DATA_DIR", str(EDGE_DATA_DIR))

from kezekshi.settings import *  # noqa: E402, F403
from kezekshi.settings import INSTALLED_APPS  # noqa: E402

EDGE_GATEWAY = True
# The server works out what each terminal must hold; the gateway relays its commands.
DEVICE_SYNC_LOCAL = False
# The gateway holds no consent ledger: a face or fingerprint reference is in its mirror
# only while the consent holds on the server.
BIOMETRIC_CONSENT_SOURCE = "kezekshi.edge.mirror.mirrored_biometric_states"
# QR passes and PINs are checked with the school's keys from the mirror.
SCHOOL_KEY_SOURCE = "kezekshi.edge.mirror.mirrored_school_key"
# Passes the server has stored are kept this many days, then deleted.
EDGE_KEEP_DAYS = env_int("EDGE_KEEP_DAYS", default=7)
# The most passes kept on the gateway; the oldest uploaded ones go first, never a pass the
# server has not stored.
EDGE_MAX_EVENTS = env_int("EDGE_MAX_EVENTS", default=500_000)

# Terminals call the gateway by its address on the school's network.
ALLOWED_HOSTS = env_list("EDGE_ALLOWED_HOSTS", default=["*"])
ROOT_URLCONF = "kezekshi.edge.urls"
# Only what terminals call: no sessions, no sign-in, no pages.
MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "django.middleware.common.CommonMiddleware",
]
DATABASES = {
    "default": {
        "ENGINE": "django.db.backends.sqlite3",
        "NAME": str(EDGE_DATA_DIR / "edge.sqlite3"),
        "CONN_MAX_AGE": None,
        "OPTIONS": {
            "transaction_mode": "IMMEDIATE",
            "timeout": 20,
            "init_command": (
                "PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL; PRAGMA foreign_keys=ON;"
            ),
        },
    }
}
# Live updates stay in this process (no guard's screen runs on the gateway).
REDIS_URL = ""
assert "kezekshi.edge" in INSTALLED_APPS
