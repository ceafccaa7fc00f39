"""Benchmark: import an NOBD workbook of generated pupils with 1–2 guardians each.

    .venv/bin/python bench/import_people.py [--pupils 10000]

Runs on a throwaway SQLite database in a temporary directory, or, when DATABASE_URL is
set, on a throwaway PostgreSQL database created next to the one it names (and dropped
afterwards). Prints how long the import took and how many rows per second that is, then
the same for importing the same file again (which must change nothing).
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
PUPILS_PER_CLASS = 25


def configure(data_dir: str) -> None:
    """Django settings for a run that touches no real data."""
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "kezekshi.settings")
    os.environ.setdefault("SECRET_KEY", "bench-only-secret-0123456789abcdefghijklmnopqrstuvwxyz")
    os.environ["DATA_DIR"] = data_dir  # the SQLite file and media go here
    os.environ.setdefault("LOG_LEVEL", "WARNING")
    import django

    django.setup()


def workbook(pupils: int, *, seed: int = 2026) -> bytes:
    """An NOBD-shaped XLSX of generated pupils, each with one or two guardians."""
    from kezekshi.people.demo import PeopleFactory, nobd_rows, nobd_workbook

    today = dt.date.today()
    year_start = dt.date(today.year if today.month >= 9 else today.year - 1, 9, 1)
    classes, pupil_rows = nobd_rows(
        PeopleFactory(seed),
        pupils=pupils,
        classes=max(1, -(-pupils // PUPILS_PER_CLASS)),
        year_start=year_start,
    )
    return nobd_workbook(classes, pupil_rows)


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


def timed_import(school: Any, data: bytes) -> tuple[float, Any]:
    from kezekshi.people.importing import import_people

    started = time.perf_counter()
    report = import_people(school=school, file=data, filename="bench.xlsx")
    return time.perf_counter() - started, report


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pupils", type=int, default=10_000)
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="kezekshi-bench-") as data_dir:
        configure(data_dir)
        from django.core.management import call_command
        from django.db import connection

        postgres = connection.vendor == "postgresql"
        if postgres:
            old_name = connection.settings_dict["NAME"]
            connection.settings_dict["TEST"]["NAME"] = f"{old_name}_bench"
            connection.creation.create_test_db(verbosity=0, autoclobber=True)
        else:
            call_command("migrate", verbosity=0, interactive=False)
        try:
            return run(args.pupils, engine=connection.vendor)
        finally:
            if postgres:
                connection.creation.destroy_test_db(old_name, verbosity=0)


def run(pupils: int, *, engine: str) -> int:
    started = time.perf_counter()
    data = workbook(pupils)
    generated = time.perf_counter() - started
    print(f"workbook: {pupils} pupils, {len(data) / 1e6:.1f} MB, generated in {generated:.1f} s")

    school = make_school()
    seconds, report = timed_import(school, data)
    if not report.ok:
        for issue in report.errors[:20]:
            print(f"  {issue.sheet}:{issue.row} [{issue.column}] {issue.code}: {issue.message}")
        return 1
    created = {kind: counts.created for kind, counts in report.counts.items()}
    print(f"import ({engine}): {seconds:.1f} s, {report.rows / seconds:,.0f} rows/s  {created}")

    seconds, report = timed_import(school, data)
    changed = sum(c.created + c.updated for c in report.counts.values())
    print(f"re-import, nothing to change ({engine}): {seconds:.1f} s, changed {changed}")
    return 0 if report.ok and changed == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
