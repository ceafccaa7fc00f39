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
import sys
import time
from typing import Any

from benchdb import make_school, throwaway_database

PUPILS_PER_CLASS = 25


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


def timed_import(school: Any, data: bytes) -> tuple[float, Any]:
    from kezekshi.people.importing import import_people

    started = time.perf_counter()
    report = import_people(school=school, file=data, filename="bench.xlsx")
    return time.perf_counter() - started, report


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pupils", type=int, default=10_000)
    args = parser.parse_args()

    with throwaway_database("bench") as engine:
        return run(args.pupils, engine=engine)


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
