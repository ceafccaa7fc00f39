"""``manage.py import_people FILE --school <id or BIN> [--dry-run]``: an NOBD file into a school."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from tqdm import tqdm

from kezekshi.core.models import School
from kezekshi.people.importing import ImportReport, import_people
from kezekshi.privacy import audit, audit_details

# Below this many rows a file imports in a blink: no progress bar.
PROGRESS_FROM_ROWS = 2000
STAGES = {"read": "reading", "check": "checking", "write": "writing"}


def find_school(value: str) -> School:
    """The school with this BIN (12 digits) or database id; CommandError if there is none."""
    value = value.strip()
    found = (
        School.objects.filter(bin=value).first()
        if len(value) == 12
        else School.objects.filter(pk=int(value)).first()
        if value.isdigit()
        else None
    )
    if found is None:
        raise CommandError(f"No school with the id or BIN {value!r}.")
    return found


class _ProgressBars:
    """One tqdm bar per stage on stderr, shown only for large files."""

    def __init__(self) -> None:
        self.bar: tqdm[Any] | None = None
        self.stage = ""

    def __call__(self, stage: str, done: int, total: int | None) -> None:
        if stage != self.stage:
            self.close()
            self.stage = stage
            if (total or done) >= PROGRESS_FROM_ROWS:
                self.bar = tqdm(
                    total=total, desc=STAGES.get(stage, stage), unit="rows", file=sys.stderr
                )
        if self.bar is not None:
            if total is not None and self.bar.total != total:
                self.bar.total = total
            self.bar.update(done - self.bar.n)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()
            self.bar = None


class Command(BaseCommand):
    help = (
        "Import classes, pupils and guardians from an NOBD-shaped .xlsx or .csv file. "
        "Nothing is written if any row has a problem; the exit status is then 1."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("file", help="an .xlsx or .csv file (see docs/import.md)")
        parser.add_argument("--school", required=True, help="the school's id or BIN")
        parser.add_argument(
            "--dry-run", action="store_true", help="check the file and count, write nothing"
        )

    def handle(self, *args: Any, **options: Any) -> None:
        school = find_school(options["school"])
        path = Path(options["file"])
        try:
            data = path.read_bytes()
        except OSError as exc:
            raise CommandError(f"Cannot read {path}: {exc.strerror}") from exc
        bars = _ProgressBars()
        try:
            report = import_people(
                school=school,
                file=data,
                filename=path.name,
                progress=bars,
                dry_run=options["dry_run"],
            )
        finally:
            bars.close()
        audit.record(
            action=audit.Action.IMPORT,
            actor=None,
            school=school,
            target="manage.py import_people",
            details=audit_details.people_import(report, via=audit_details.COMMAND_LINE),
        )
        self._print(report)
        if not report.ok:
            raise CommandError(
                f"{len(report.errors)} problem(s): nothing was imported.", returncode=1
            )

    def _print(self, report: ImportReport) -> None:
        for issue in report.errors:
            where = f"{issue.sheet}:{issue.row}" if issue.row else issue.sheet
            column = f" [{issue.column}]" if issue.column else ""
            self.stdout.write(f"{where}{column} {issue.code}: {issue.message}")
        if not report.ok:
            return
        verb = "would be" if report.dry_run else "were"
        self.stdout.write(f"{report.rows} rows read; {verb}:")
        for label, counts in report.count_rows():
            self.stdout.write(
                f"  {label:<24} created {counts.created:>6}  updated {counts.updated:>6}  "
                f"unchanged {counts.unchanged:>6}"
            )
        if report.linked_accounts:
            self.stdout.write(f"  parents' accounts linked: {report.linked_accounts}")
        if not report.dry_run:
            self.stdout.write(self.style.SUCCESS("Imported."))
