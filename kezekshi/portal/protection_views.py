"""Personal-data protection pages: disclosures to state bodies, breaches, the cookie notice."""

from __future__ import annotations

from typing import Any
from zoneinfo import ZoneInfo

from django.conf import settings
from django.contrib import messages
from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.translation import gettext as _
from django.utils.translation import ngettext
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from kezekshi.accounts.decorators import public_view, staff_view
from kezekshi.accounts.permissions import staff_schools
from kezekshi.accounts.roles import Perm
from kezekshi.core.errors import ServiceError
from kezekshi.core.models import School
from kezekshi.portal.protection_forms import BreachForm, DisclosureForm
from kezekshi.privacy import breaches as breach_service
from kezekshi.privacy.disclosures import disclosures_of, record_disclosure
from kezekshi.privacy.models import Breach
from kezekshi.privacy.services import current_policy

COOKIE_NOTICE = "cookie_notice"
COOKIE_NOTICE_AGE = 365 * 24 * 3600


def _school_time() -> Any:
    """Dates typed in and shown on these pages are the schools' local time."""
    return timezone.override(ZoneInfo(settings.SCHOOL_TIME_ZONE))


def _context(request: HttpRequest, **extra: Any) -> dict[str, Any]:
    school = request.school  # type: ignore[attr-defined]
    return {"school": school, "schools": staff_schools(request.user), **extra}  # type: ignore[arg-type]


@public_view
@require_POST
def accept_cookie_notice(request: HttpRequest) -> HttpResponse:
    """Hide the cookie notice for a year (a cookie that says so) and go back to the page."""
    target = request.POST.get("next", "")
    if not url_has_allowed_host_and_scheme(target, {request.get_host()}):
        target = "/"
    response = redirect(target)
    response.set_cookie(
        COOKIE_NOTICE,
        "1",
        max_age=COOKIE_NOTICE_AGE,
        secure=settings.SESSION_COOKIE_SECURE,
        httponly=True,
        samesite="Lax",
    )
    return response


@staff_view(Perm.PRIVACY_MANAGE)
@require_http_methods(["GET", "POST"])
def disclosures(request: HttpRequest) -> HttpResponse:
    """The register of data given to state bodies, and the form to add to it."""
    school: School = request.school  # type: ignore[attr-defined]
    form = DisclosureForm(school, request.POST or None)
    if request.method == "POST" and form.is_valid() and form.person is not None:
        data = form.cleaned_data
        try:
            record_disclosure(
                school=school,
                person=form.person,
                body=data["body"],
                legal_ground=data["legal_ground"],
                request_number=data["request_number"],
                data_sent=data["data_sent"],
                disclosed_on=data["disclosed_on"],
                visible_to_subject=data["visible_to_subject"],
                recorded_by=request.user,  # type: ignore[arg-type]
                request=request,
            )
        except ServiceError as exc:
            form.add_error(None, str(exc.message))
        else:
            messages.success(request, _("The disclosure is in the register."))
            return redirect("portal:privacy_disclosures")
    page = Paginator(disclosures_of(school), 50).get_page(request.GET.get("page"))
    context = _context(request, form=form, page=page)
    return render(request, "portal/privacy/disclosures.html", context)


def _breach_rows(school: School) -> list[dict[str, Any]]:
    now = timezone.now()
    return [
        {
            "breach": breach,
            "deadline": breach_service.authority_deadline(breach.detected_at),
            "overdue": breach_service.is_overdue(breach, now=now),
            "affected": len(breach.affected.all()),
        }
        for breach in breach_service.breaches_of(school)
    ]


@staff_view(Perm.PRIVACY_MANAGE)
@require_GET
def breaches(request: HttpRequest) -> HttpResponse:
    """Incidents with their deadline to report, and what has been done about each."""
    with _school_time():
        context = _context(request, rows=_breach_rows(request.school))  # type: ignore[attr-defined]
        return render(request, "portal/privacy/breaches.html", context)


@staff_view(Perm.PRIVACY_MANAGE)
@require_http_methods(["GET", "POST"])
def new_breach(request: HttpRequest) -> HttpResponse:
    school: School = request.school  # type: ignore[attr-defined]
    with _school_time():
        form = BreachForm(school, request.POST or None)
        if request.method == "POST" and form.is_valid():
            data = form.cleaned_data
            try:
                breach_service.record_breach(
                    school=school,
                    detected_at=data["detected_at"],
                    description=data["description"],
                    measures=data["measures"],
                    responsible_name=data["responsible_name"],
                    responsible_phone=data["responsible_phone"],
                    responsible_email=data["responsible_email"],
                    affected=form.affected,
                    recorded_by=request.user,  # type: ignore[arg-type]
                    request=request,
                )
            except ServiceError as exc:
                form.add_error(None, str(exc.message))
            else:
                messages.success(
                    request, _("The incident is recorded. Report it to the authorised body.")
                )
                return redirect("portal:privacy_breaches")
        return render(request, "portal/privacy/breach_form.html", _context(request, form=form))


@staff_view(Perm.PRIVACY_MANAGE)
@require_GET
def breach_notice(request: HttpRequest) -> HttpResponse:
    """The printable notification to the authorised body: ``?breach=ID``, or without it
    one for every incident not reported yet."""
    school: School = request.school  # type: ignore[attr-defined]
    found = Breach.objects.filter(school=school).select_related("school")
    if request.GET.get("breach"):
        chosen = [get_object_or_404(found, pk=request.GET["breach"])]
    else:
        chosen = list(found.filter(authority_notified_at__isnull=True).order_by("detected_at"))
    with _school_time():
        notices = [
            breach_service.authority_notice(breach=breach, by=request.user, request=request)  # type: ignore[arg-type]
            for breach in chosen
        ]
        context = _context(request, notices=notices, policy=current_policy(), now=timezone.now())
        return render(request, "portal/privacy/breach_notice.html", context)


def _posted_breach(request: HttpRequest) -> Breach:
    school = request.school  # type: ignore[attr-defined]
    return get_object_or_404(Breach, school=school, pk=request.POST.get("breach") or 0)


@staff_view(Perm.PRIVACY_MANAGE)
@require_POST
def breach_authority_notified(request: HttpRequest) -> HttpResponse:
    breach = _posted_breach(request)
    breach_service.mark_authority_notified(breach=breach, by=request.user, request=request)  # type: ignore[arg-type]
    messages.success(request, _("Recorded: the authorised body has been notified."))
    return redirect("portal:privacy_breaches")


@staff_view(Perm.PRIVACY_MANAGE)
@require_POST
def breach_notify_subjects(request: HttpRequest) -> HttpResponse:
    breach = _posted_breach(request)
    result = breach_service.notify_subjects(breach=breach, by=request.user, request=request)  # type: ignore[arg-type]
    if result.already_done:
        messages.info(request, _("The affected persons were already notified; nothing was sent."))
    else:
        messages.success(
            request,
            ngettext(
                "%(count)d SMS is queued to the affected persons.",
                "%(count)d SMS are queued to the affected persons.",
                result.messages,
            )
            % {"count": result.messages},
        )
        if result.unreachable:
            names = ", ".join(person.full_name for person in result.unreachable)
            messages.warning(
                request,
                _("No phone to notify, tell them another way: %(names)s") % {"names": names},
            )
    return redirect(f"{reverse('portal:privacy_breaches')}#breach-{breach.pk}")
