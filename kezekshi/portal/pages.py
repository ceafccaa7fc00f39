"""What every school page of the portal renders with: the school of the request and the
time zone its times are shown in."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

from kezekshi.core.models import School


def school_of(request: HttpRequest) -> School:
    """The school the signed-in staff member is working in (set by the portal's view
    decorator)."""
    return request.school  # type: ignore[attr-defined, no-any-return]


def school_page(
    request: HttpRequest, template: str, context: dict[str, Any], *, status: int = 200
) -> HttpResponse:
    return render(
        request,
        template,
        {"school": school_of(request), "time_zone": settings.SCHOOL_TIME_ZONE, **context},
        status=status,
    )
