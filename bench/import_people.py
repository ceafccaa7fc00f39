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
import io
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
    """An NOBD-shaped XLSX: a classes sheet and ``pupils`` pupils, about 1 in 10 a sibling
    of the pupil before (same guardians), each with one or two guardians."""
    import random

    from openpyxl import Workbook

    from kezekshi.people.demo import PeopleFactory, birth_window, class_names
    from kezekshi.people.exporting import class_header, pupil_header

    factory = PeopleFactory(seed)
    rnd = random.Random(seed)
    today = dt.date.today()
    year_start = dt.date(today.year if today.month >= 9 else today.year - 1, 9, 1)
    classes = list(class_names(max(1, -(-pupils // PUPILS_PER_CLASS))))
    book = Workbook(write_only=True)
    sheet = book.create_sheet("Классы")
    sheet.append(class_header())
    for grade, letter in classes:
        sheet.append([f"{grade} {letter}", 1 if grade < 6 else 2, rnd.choice(["kk", "ru"]), ""])
    sheet = book.create_sheet("Ученики")
    sheet.append(pupil_header(2))
    guardians: list[list[object]] = []
    surname = ""
    for number in range(pupils):
        grade, letter = classes[number // PUPILS_PER_CLASS]
        sibling = number > 0 and rnd.random() < 0.1
        if not sibling:
            surname = ""
        child = factory.person(
            born_between=birth_window(grade, year_start=year_start), surname=surname
        )
        if not sibling:
            surname = child.last_name.removesuffix("а")
            guardians = []
            for index in range(rnd.choice([1, 2])):
                adult = factory.person(
                    born_between=(dt.date(1970, 1, 1), dt.date(1995, 12, 31)), surname=surname
                )
                if index == 0 or adult.sex != guardians[0][-1]:
                    relation = "мать" if adult.sex == "F" else "отец"
                else:
                    relation = "бабушка" if adult.sex == "F" else "дедушка"
                iin = adult.iin if rnd.random() < 0.7 else ""
                name = f"{adult.last_name} {adult.first_name} {adult.patronymic}"
                guardians.append([iin, name, factory.phone(), relation, adult.sex])
        row: list[object] = [
            child.iin,
            child.last_name,
            child.first_name,
            child.patronymic,
            child.birth_date.strftime("%d.%m.%Y"),
            "М" if child.sex == "M" else "Ж",
            f"{grade} {letter}",
        ]
        for guardian in guardians:
            row += guardian[:4]
        sheet.append(row)
    buffer = io.BytesIO()
    book.save(buffer)
    return buffer.getvalue()


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
