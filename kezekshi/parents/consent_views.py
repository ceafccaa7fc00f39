"""The parents' side of consent: read the policy, consent, decide on biometrics per child."""

from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.translation import get_language
from django.views.decorators.http import require_http_methods, require_POST

from kezekshi.accounts.api import client_ip
from kezekshi.accounts.decorators import public_view
from kezekshi.core.errors import ServiceError
from kezekshi.parents.lookups import represented_child
from kezekshi.privacy import services
from kezekshi.privacy.models import BIOMETRIC_KINDS, Kind


def context_of(request: HttpRequest) -> services.Context:
    return services.Context(
        phone=getattr(request.user, "phone", "") or "",
        ip=client_ip(request),
        user_agent=request.headers.get("User-Agent", ""),
    )


def _language() -> str:
    return (get_language() or "kk")[:2]


@public_view
def policy(request: HttpRequest) -> HttpResponse:
    current = services.current_policy()
    if current is None:
        raise Http404
    return render(
        request,
        "parents/consent/policy.html",
        {"policy": current, "text": current.text(_language())},
    )


@public_view
@login_required(login_url="parents:home")
@require_http_methods(["GET", "POST"])
def consent(request: HttpRequest) -> HttpResponse:
    """Show the current policy in the user's language; continue only with the box ticked."""
    current = services.current_policy()
    target = request.POST.get("next") or request.GET.get("next") or "/app/"
    if not url_has_allowed_host_and_scheme(target, {request.get_host()}):
        target = "/app/"
    if current is None or services.has_current_consent(request.user):  # type: ignore[arg-type]
        return redirect(target)
    error = None
    if request.method == "POST":
        if request.POST.get("agree") != "yes":
            error = True
        elif str(current.pk) != request.POST.get("policy"):
            error = True  # the policy changed while the page was open: show the new one
        else:
            services.accept_policy(
                user=request.user,  # type: ignore[arg-type]
                policy=current,
                context=context_of(request),
            )
            return redirect(target)
    children = services.represented_children(request.user)  # type: ignore[arg-type]
    return render(
        request,
        "parents/consent/consent.html",
        {
            "policy": current,
            "text": current.text(_language()),
            "children": children,
            "next": target,
            "error": error,
        },
        status=422 if error else 200,
    )


@public_view
@login_required(login_url="parents:home")
@require_http_methods(["GET"])
def biometrics(request: HttpRequest, pupil_id: int) -> HttpResponse:
    pupil = represented_child(request, pupil_id)
    states = [
        (Kind(kind), services.biometric_state(pupil.person, kind)) for kind in BIOMETRIC_KINDS
    ]
    return render(request, "parents/consent/biometrics.html", {"pupil": pupil, "states": states})


@public_view
@login_required(login_url="parents:home")
@require_POST
def decide_biometrics(request: HttpRequest, pupil_id: int) -> HttpResponse:
    pupil = represented_child(request, pupil_id)
    try:
        services.decide_biometrics(
            user=request.user,  # type: ignore[arg-type]
            child=pupil.person,
            kind=request.POST.get("kind", ""),
            grant=request.POST.get("grant") == "yes",
            context=context_of(request),
        )
    except ServiceError as exc:
        states = [
            (Kind(kind), services.biometric_state(pupil.person, kind)) for kind in BIOMETRIC_KINDS
        ]
        return render(
            request,
            "parents/consent/biometrics.html",
            {"pupil": pupil, "states": states, "error": exc.message},
            status=exc.status,
        )
    return redirect("parents:biometrics", pupil_id=pupil.pk)
