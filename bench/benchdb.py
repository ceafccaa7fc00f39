"""What every benchmark shares: Django set up on a throwaway database, and a school.

SQLite: a fresh file in a temporary directory. PostgreSQL (DATABASE_URL set): a database
created beside the one named, and dropped afterwards, so no real data is touched.
"""

from __future__ import annotations

import os
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def configure(data_dir: str) -> None:
    """Django settings for a run that touches no real data."""
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "kezekshi.settings")
    os.environ.setdefault("SECRET_KEY", "bench-only-secret-0123456789abcdefghijklmnopqrstuvwxyz")
    os.environ["DATA_DIR"] = data_dir  # the SQLite file and media go here
    os.environ.setdefault("LOG_LEVEL", "WARNING")
    import django

    django.setup()


@contextmanager
def throwaway_database(suffix: str) -> Iterator[str]:
    """Set Django up on an empty, migrated database; yields the engine's name."""
    with tempfile.TemporaryDirectory(prefix="kezekshi-bench-") as data_dir:
        configure(data_dir)
        from django.core.management import call_command
        from django.db import connection

        postgres = connection.vendor == "postgresql"
        old_name = connection.settings_dict["NAME"]
        if postgres:
            connection.settings_dict["TEST"]["NAME"] = f"{old_name}_{suffix}"
            connection.creation.create_test_db(verbosity=0, autoclobber=True)
        else:
            call_command("migrate", verbosity=0, interactive=False)
        try:
            yield connection.vendor
        finally:
            if postgres:
                connection.creation.destroy_test_db(old_name, verbosity=0)


def make_school() -> Any:
    from kezekshi.core.models import Region, School
    from kezekshi.core.validators import check_digit

    serial = 1
    while check_digit(body := f"0809400{serial:04d}") is None:
        serial += 1
    return School.objects.create(
        name_kk="Бенчмарк мектебі",
        name_ru="Школа для замеров",
        bin=f"{body}{check_digit(body)}",
        region=Region.objects.get(code="almaty-city"),
        address="—",
        account_prefix=9999,
    )
