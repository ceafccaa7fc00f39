"""Portal pages to import pupils, classes and guardians from an NOBD file, and to export them."""

from __future__ import annotations

from typing import Any

from django import forms
from django.conf import settings
from django.core.files.uploadhandler import FileUploadHandler, StopUpload
from django.http import HttpRequest, HttpResponse, QueryDict
from django.shortcuts import render
from django.template.defaultfilters import filesizeformat
from django.utils import timezone
from django.utils.datastructures import MultiValueDict
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.csrf import csrf_exempt, csrf_protect
from django.views.decorators.http import require_GET, require_http_methods

from kezekshi.accounts.decorators import staff_view
from kezekshi.accounts.permissions import staff_schools
from kezekshi.accounts.roles import Perm
from kezekshi.core.models import School
from kezekshi.people import exporting, importing
from kezekshi.privacy import audit, audit_details

# Larger uploads are refused before they are read; settings.PEOPLE_IMPORT_MAX_BYTES may
# lower or raise it. An NOBD export of a 3,000-pupil school is well under 1 MB.
MAX_UPLOAD_BYTES = 20 * 1024 * 1024
# Room for the multipart envelope around the file (boundaries, the other fields).
_ENVELOPE_BYTES = 64 * 1024
# Rows of a failed report shown on the page; the rest are counted.
SHOWN_ISSUES = 500


def max_upload_bytes() -> int:
    return int(getattr(settings, "PEOPLE_IMPORT_MAX_BYTES", MAX_UPLOAD_BYTES))


class ImportForm(forms.Form):
    file = forms.FileField(label=gettext_lazy("File (.xlsx or .csv)"))
    check_only = forms.BooleanField(
        label=gettext_lazy("Only check the file, do not import"), required=False
    )


class UploadLimit(FileUploadHandler):
    """Stops reading an upload as soon as it is larger than the limit (nothing is kept)."""

    def __init__(self, limit: int, request: HttpRequest | None = None) -> None:
        super().__init__(request)
        self.limit = limit
        self.too_big = False

    def handle_raw_input(
        self,
        input_data: Any,
        META: dict[str, Any],
        content_length: int,
        boundary: Any,
        encoding: str | None = None,
    ) -> tuple[QueryDict, MultiValueDict[str, Any]] | None:
        if content_length > self.limit + _ENVELOPE_BYTES:
            self.too_big = True
            return QueryDict(), MultiValueDict()
        return None

    def receive_data_chunk(self, raw_data: bytes, start: int) -> bytes | None:
        if start + len(raw_data) > self.limit:
            self.too_big = True
            raise StopUpload(connection_reset=False)
        return raw_data

    def file_complete(self, file_size: int) -> None:
        return None


def _context(request: HttpRequest, school: School, **extra: Any) -> dict[str, Any]:
    return {
        "school": school,
        "schools": staff_schools(request.user),  # type: ignore[arg-type]
        "max_size": filesizeformat(max_upload_bytes()),
        **extra,
    }


# CSRF is checked in _import_form, after the size limit is in place: Django's CSRF check
# would read the whole upload first.
@csrf_exempt
@staff_view(Perm.PEOPLE_IMPORT)
@require_http_methods(["GET", "POST"])
def import_people(request: HttpRequest) -> HttpResponse:
    """The upload form; on POST, the file's report (problems by row, or what was imported)."""
    school = request.school  # type: ignore[attr-defined]
    if request.method == "POST":
        limit = UploadLimit(max_upload_bytes(), request)
        request.upload_handlers.insert(0, limit)
        request.POST  # noqa: B018 - parse the body now, under the limit
        if limit.too_big:
            # Nothing was kept and nothing is written: no CSRF check is needed to say so.
            message = _(
                "The file is larger than %(size)s; split it or remove the columns not needed."
            ) % {"size": filesizeformat(max_upload_bytes())}
            context = _context(request, school, form=ImportForm(), too_big=message)
            return render(request, "portal/import.html", context, status=413)
    return _import_form(request, school)


@csrf_protect
def _import_form(request: HttpRequest, school: School) -> HttpResponse:
    report = None
    if request.method == "POST":
        form = ImportForm(request.POST, request.FILES)
        if form.is_valid():
            upload = form.cleaned_data["file"]
            report = importing.import_people(
                school=school,
                file=upload,
                filename=upload.name or "",
                dry_run=form.cleaned_data["check_only"],
            )
            audit.record(
                action=audit.Action.IMPORT,
                actor=request.user,  # type: ignore[arg-type]
                school=school,
                target=request.path,
                details=audit_details.people_import(report),
                request=request,
            )
    else:
        form = ImportForm()
    issues = report.errors[:SHOWN_ISSUES] if report else []
    hidden = len(report.errors) - len(issues) if report else 0
    context = _context(request, school, form=form, report=report, issues=issues, hidden=hidden)
    return render(request, "portal/import.html", context)


@staff_view(Perm.PEOPLE_IMPORT)
@require_GET
def export_people(request: HttpRequest) -> HttpResponse:
    """The school's classes and pupils as XLSX (?format=xlsx) or the pupils as CSV (default)."""
    school = request.school  # type: ignore[attr-defined]
    day = timezone.localdate().isoformat()
    if request.GET.get("format") == "xlsx":
        content = exporting.export_xlsx(school=school)
        content_type = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
        extension = "xlsx"
    else:
        content = exporting.export_csv(school=school)
        content_type = "text/csv; charset=utf-8"
        extension = "csv"
    response = HttpResponse(content, content_type=content_type)
    response["Content-Disposition"] = (
        f'attachment; filename="kezekshi-{school.bin}-people-{day}.{extension}"'
    )
    audit.record(
        action=audit.Action.EXPORT,
        actor=request.user,  # type: ignore[arg-type]
        school=school,
        target=request.path,
        details=audit_details.people_export(
            school, filename=response["Content-Disposition"].split('"')[1], format=extension
        ),
        request=request,
    )
    return response
