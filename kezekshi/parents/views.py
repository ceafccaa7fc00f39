"""The parents' app (a PWA): sign in with a phone and an SMS code, see the children."""

from __future__ import annotations

from django.conf import settings
from django.contrib.auth import login, logout
from django.core.exceptions import ValidationError
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from kezekshi.accounts import services
from kezekshi.accounts.api import client_ip
from kezekshi.accounts.decorators import public_view
from kezekshi.core.errors import ServiceError
from kezekshi.core.validators import normalize_phone
from kezekshi.people.selectors import children_of
from kezekshi.people.services import link_guardian_accounts
from kezekshi.privacy.disclosures import disclosures_for_parent

BACKEND = "kezekshi.accounts.backends.PhoneOrEmailBackend"


@public_view
@require_GET
def home(request: HttpRequest) -> HttpResponse:
    if not request.user.is_authenticated:
        return render(request, "parents/sign_in.html", {"step": "phone"})
    children = children_of(request.user)  # type: ignore[arg-type]
    return render(request, "parents/home.html", {"children": children})


@public_view
@require_GET
def disclosures(request: HttpRequest) -> HttpResponse:
    """What the school gave to state bodies about the parent and the children they represent."""
    if not request.user.is_authenticated:
        return redirect("parents:home")
    groups = disclosures_for_parent(request.user)  # type: ignore[arg-type]
    return render(request, "parents/disclosures.html", {"groups": groups})


@public_view
@require_http_methods(["POST"])
def send_code(request: HttpRequest) -> HttpResponse:
    raw_phone = request.POST.get("phone", "")
    try:
        phone = normalize_phone(raw_phone)
        services.request_sign_in_code(phone=phone, ip=client_ip(request))
    except ValidationError as exc:
        context: dict[str, object] = {"step": "phone", "phone": raw_phone, "error": exc.messages[0]}
        return render(request, "parents/sign_in.html", context, status=422)
    except ServiceError as exc:
        # A code sent a moment ago is still good: let the parent type it in.
        step = "code" if exc.code == "otp_resend_too_soon" else "phone"
        context = {"step": step, "phone": raw_phone, "error": exc.message}
        return render(request, "parents/sign_in.html", context, status=exc.status)
    context = {"step": "code", "phone": phone, "ttl_minutes": settings.OTP_CODE_TTL_SECONDS // 60}
    return render(request, "parents/sign_in.html", context)


@public_view
@require_POST
def verify_code(request: HttpRequest) -> HttpResponse:
    raw_phone = request.POST.get("phone", "")
    try:
        phone = normalize_phone(raw_phone)
        user = services.verify_sign_in_code(phone=phone, code=request.POST.get("code", ""))
    except ValidationError as exc:
        context: dict[str, object] = {"step": "phone", "phone": raw_phone, "error": exc.messages[0]}
        return render(request, "parents/sign_in.html", context, status=422)
    except ServiceError as exc:
        restart = exc.code in {"otp_expired", "otp_too_many_attempts", "otp_not_requested"}
        context = {"step": "phone" if restart else "code", "phone": phone, "error": exc.message}
        return render(request, "parents/sign_in.html", context, status=exc.status)
    link_guardian_accounts(user=user)
    login(request, user, backend=BACKEND)
    return redirect("parents:home")


@public_view
@require_POST
def sign_out(request: HttpRequest) -> HttpResponse:
    logout(request)
    return redirect("parents:home")


@public_view
@require_GET
def manifest(request: HttpRequest) -> HttpResponse:
    return render(request, "parents/manifest.webmanifest", content_type="application/manifest+json")


@public_view
@require_GET
def service_worker(request: HttpRequest) -> HttpResponse:
    response = render(request, "parents/sw.js", content_type="text/javascript")
    response["Service-Worker-Allowed"] = "/app/"
    return response
