"""The data map for the data-protection officer: what personal data we hold, why, how long."""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse, HttpResponseBadRequest
from django.shortcuts import render
from django.utils import timezone
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET

from kezekshi.accounts.decorators import staff_view
from kezekshi.accounts.permissions import staff_schools
from kezekshi.accounts.roles import Perm
from kezekshi.privacy import datamap_report
from kezekshi.privacy.datamap import (
    DATA_MAP,
    OUTSIDE_OUR_APPS,
    RESTRICTED_PURPOSES,
    DataCategory,
    Purpose,
)

EXPORTS = {
    "json": (datamap_report.export_json, "application/json; charset=utf-8"),
    "csv": (datamap_report.export_csv, "text/csv; charset=utf-8"),
}


@staff_view(Perm.DATAMAP_VIEW)
@require_GET
def data_map(request: HttpRequest) -> HttpResponse:
    allowed = RESTRICTED_PURPOSES[DataCategory.BIOMETRIC]
    return render(
        request,
        "portal/privacy/data_map.html",
        {
            "school": request.school,  # type: ignore[attr-defined]
            "schools": staff_schools(request.user),  # type: ignore[arg-type]
            "sections": datamap_report.sections(),
            "purposes": datamap_report.purpose_table(),
            "biometric_purposes": [purpose.label for purpose in Purpose if purpose in allowed],
            "outside": OUTSIDE_OUR_APPS,
            "not_personal": [tag.key for tag in DATA_MAP.tags.values() if tag.category is None],
        },
    )


@staff_view(Perm.DATAMAP_VIEW)
@require_GET
def data_map_export(request: HttpRequest) -> HttpResponse:
    """The whole map as JSON (default, ``?format=json``) or one field a row as CSV."""
    extension = request.GET.get("format", "json")
    if extension not in EXPORTS:
        message = _("Unknown export format. Ask for json or csv.")
        return HttpResponseBadRequest(message, content_type="text/plain; charset=utf-8")
    build, content_type = EXPORTS[extension]
    response = HttpResponse(build(), content_type=content_type)
    day = timezone.localdate().isoformat()
    response["Content-Disposition"] = f'attachment; filename="kezekshi-data-map-{day}.{extension}"'
    return response
