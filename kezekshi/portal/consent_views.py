"""Staff side of biometric consent: see the state per kind, record the child's own refusal."""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_POST

from kezekshi.accounts.decorators import staff_view
from kezekshi.accounts.permissions import staff_schools
from kezekshi.accounts.roles import Perm
from kezekshi.people.models import Pupil
from kezekshi.privacy import services
from kezekshi.privacy.models import BIOMETRIC_KINDS, Consent, Kind


def _pupil(request: HttpRequest, pupil_id: int) -> Pupil:
    return get_object_or_404(
        Pupil.objects.select_related("person"),
        pk=pupil_id,
        school=request.school,  # type: ignore[attr-defined]
    )


@staff_view(Perm.PRIVACY_MANAGE)
def pupil_biometrics(request: HttpRequest, pupil_id: int) -> HttpResponse:
    pupil = _pupil(request, pupil_id)
    history = (
        Consent.objects.filter(subject_person=pupil.person, kind__in=BIOMETRIC_KINDS)
        .select_related("given_by")
        .order_by("-id")[:50]
    )
    return render(
        request,
        "portal/privacy/pupil_biometrics.html",
        {
            "school": request.school,  # type: ignore[attr-defined]
            "schools": staff_schools(request.user),  # type: ignore[arg-type]
            "pupil": pupil,
            "states": [
                (Kind(kind), services.biometric_state(pupil.person, kind))
                for kind in BIOMETRIC_KINDS
            ],
            "history": history,
        },
    )


@staff_view(Perm.PRIVACY_MANAGE)
@require_POST
def record_child_will(request: HttpRequest, pupil_id: int) -> HttpResponse:
    pupil = _pupil(request, pupil_id)
    kind = request.POST.get("kind", "")
    if kind in BIOMETRIC_KINDS:
        services.record_child_will(
            staff=request.user,  # type: ignore[arg-type]
            child=pupil.person,
            kind=kind,
            refuses=request.POST.get("refuses") == "yes",
            note=request.POST.get("note", ""),
        )
    return redirect("portal:pupil_biometrics", pupil_id=pupil.pk)
