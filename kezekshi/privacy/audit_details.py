"""What the audit entries of the people import and export say, in the same words whether
the portal or the command line wrote them."""

from __future__ import annotations

from pathlib import PurePath
from typing import TYPE_CHECKING, Any

from kezekshi.core.models import School
from kezekshi.people.models import Guardianship, Pupil

if TYPE_CHECKING:
    from kezekshi.people.importing import ImportReport

COMMAND_LINE = "command line"


def people_import(report: ImportReport, *, via: str = "") -> dict[str, Any]:
    """The file, whether anything was written, and the counts by kind.

    A checked-only or refused file is recorded too: it was uploaded and compared with
    the school's people, which is processing of their data.
    """
    details: dict[str, Any] = {
        "filename": report.filename,
        "format": _format(report.filename),
        "dry_run": report.dry_run,
        "written": report.written,
        "rows": report.rows,
        "problems": len(report.errors),
        "counts": {
            kind: {"created": c.created, "updated": c.updated, "unchanged": c.unchanged}
            for kind, c in report.counts.items()
        },
    }
    if via:
        details["via"] = via
    return details


def people_export(school: School, *, filename: str, format: str, via: str = "") -> dict[str, Any]:
    """The file and how many pupils and guardians it holds (an export is one entry)."""
    details: dict[str, Any] = {
        "filename": filename,
        "format": format,
        "pupils": Pupil.objects.filter(school=school, is_active=True).count(),
        "guardians": Guardianship.objects.filter(school=school, pupil__is_active=True)
        .values("guardian_id")
        .distinct()
        .count(),
    }
    if via:
        details["via"] = via
    return details


def _format(filename: str) -> str:
    return PurePath(filename).suffix.lstrip(".").lower()
