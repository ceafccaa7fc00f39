"""A person's photo for the guard's screen (the decision API links here)."""

from __future__ import annotations

from django.http import FileResponse, Http404, HttpRequest
from django.shortcuts import get_object_or_404
from django.views.decorators.http import require_GET

from kezekshi.accounts.decorators import staff_view
from kezekshi.accounts.roles import Perm
from kezekshi.people.models import Person


@staff_view(Perm.ACCESS_GUARD)
@require_GET
def person_photo(request: HttpRequest, person_id: int) -> FileResponse:
    """The photo on file, so the guard can compare face and photo. Never cached by proxies."""
    person = get_object_or_404(Person, pk=person_id, school=request.school)  # type: ignore[attr-defined]
    if not person.photo:
        raise Http404
    response = FileResponse(person.photo.open("rb"), content_type="image/jpeg")
    response["Cache-Control"] = "private, max-age=300"
    return response
