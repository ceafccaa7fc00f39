"""``manage.py export_people --school <id or BIN> --format xlsx|csv -o FILE``."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from kezekshi.people.exporting import export_csv, export_xlsx
from kezekshi.people.management.commands.import_people import find_school
from kezekshi.privacy import audit, audit_details


class Command(BaseCommand):
    help = (
        "Export a school's classes and pupils with their guardians in the NOBD shape "
        "the import reads: .xlsx (classes and pupils sheets) or .csv (pupils)."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--school", required=True, help="the school's id or BIN")
        parser.add_argument("--format", choices=["xlsx", "csv"], default="xlsx")
        parser.add_argument("-o", "--output", required=True, help="the file to write")

    def handle(self, *args: Any, **options: Any) -> None:
        school = find_school(options["school"])
        export = export_xlsx if options["format"] == "xlsx" else export_csv
        content = export(school=school)
        # Recorded before the file is written: better an entry for a file that failed to
        # be written than a file on disk with no entry.
        audit.record(
            action=audit.Action.EXPORT,
            actor=None,
            school=school,
            target="manage.py export_people",
            details=audit_details.people_export(
                school,
                filename=options["output"],
                format=options["format"],
                via=audit_details.COMMAND_LINE,
            ),
        )
        path = Path(options["output"])
        try:
            path.write_bytes(content)
        except OSError as exc:
            raise CommandError(f"Cannot write {path}: {exc.strerror}") from exc
        self.stdout.write(f"{path}: {len(content)} bytes")
