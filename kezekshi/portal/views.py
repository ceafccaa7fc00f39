"""Staff portal pages: sign-in with a second factor, the school's home, people."""

from __future__ import annotations

import base64

import segno
from django.conf import settings
from django.contrib.auth import login, logout
from django.core.paginator import Paginator
from django.db.models import Count, Q
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme, urlencode
from django.utils.translation import gettext as _
from django.views.decorators.http import require_http_methods, require_POST
from django.views.i18n import set_language
from django_otp import login as otp_login
from django_otp.plugins.otp_totp.models import TOTPDevice

from kezekshi.accounts import services as accounts_services
from kezekshi.accounts.decorators import SESSION_SCHOOL, public_view, staff_view
from kezekshi.accounts.permissions import has_perm, staff_schools
from kezekshi.accounts.roles import Perm
from kezekshi.people import selectors
from kezekshi.people.models import Pupil, SchoolClass
from kezekshi.portal.forms import SignInForm, TotpForm
from kezekshi.privacy import audit
from kezekshi.privacy.blocking import hide_blocked, sees_blocked, visible_to
from kezekshi.privacy.models import SubjectRequest


def _next_url(request: HttpRequest, default: str = "portal:home") -> str:
    target = request.POST.get("next") or request.GET.get("next") or ""
    if target and url_has_allowed_host_and_scheme(target, {request.get_host()}):
        return target
    return reverse(default)


@public_view
@require_http_methods(["GET", "POST"])
def sign_in(request: HttpRequest) -> HttpResponse:
    form = SignInForm(request, request.POST or None)
    if request.method == "POST" and form.is_valid() and form.user is not None:
        login(request, form.user)
        if form.user.requires_two_factor:
            back = urlencode({"next": _next_url(request)})
            return redirect(f"{reverse('portal:two_factor')}?{back}")
        return redirect(_next_url(request))
    return render(request, "portal/sign_in.html", {"form": form, "next": _next_url(request)})


@public_view
@require_http_methods(["GET", "POST"])
def two_factor(request: HttpRequest) -> HttpResponse:
    """Confirm the sign-in with a TOTP code; enrol the authenticator on first use."""
    user = request.user
    if not user.is_authenticated:
        return redirect("portal:login")
    device = TOTPDevice.objects.filter(user=user, confirmed=True).first()
    enrolling = device is None
    if enrolling:
        device, _created = TOTPDevice.objects.get_or_create(
            user=user, confirmed=False, defaults={"name": "authenticator"}
        )
    form = TotpForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        allowed, _details = device.verify_is_allowed()
        if not allowed:
            # django-otp doubles the wait after each wrong code (brute-force guard).
            form.add_error("code", _("Too many wrong codes. Wait a little and try again."))
        elif device.verify_token(form.cleaned_data["code"].strip()):
            if enrolling:
                device.confirmed = True
                device.save(update_fields=["confirmed"])
            otp_login(request, device)
            return redirect(_next_url(request))
        else:
            form.add_error("code", _("The code is wrong or has expired."))
    context = {"form": form, "enrolling": enrolling, "next": _next_url(request)}
    if enrolling:
        context["qr_svg"] = segno.make(device.config_url, error="m").svg_inline(scale=4)
        context["secret"] = _base32(device.bin_key)
    return render(request, "portal/two_factor.html", context)


def _base32(key: bytes) -> str:
    return base64.b32encode(key).decode().rstrip("=")


@public_view
@require_POST
def sign_out(request: HttpRequest) -> HttpResponse:
    logout(request)
    return redirect("portal:login")


@staff_view(Perm.PORTAL)
def home(request: HttpRequest) -> HttpResponse:
    school = request.school  # type: ignore[attr-defined]
    can_see_people = has_perm(request.user, Perm.PEOPLE_VIEW, school)  # type: ignore[arg-type]
    context = {
        "school": school,
        "schools": staff_schools(request.user),  # type: ignore[arg-type]
        "can_see_people": can_see_people,
        "can_import": has_perm(request.user, Perm.PEOPLE_IMPORT, school),  # type: ignore[arg-type]
        "can_audit": has_perm(request.user, Perm.AUDIT_VIEW, school),  # type: ignore[arg-type]
        "can_manage_privacy": has_perm(request.user, Perm.PRIVACY_MANAGE, school),  # type: ignore[arg-type]
        "can_see_data_map": has_perm(request.user, Perm.DATAMAP_VIEW, school),  # type: ignore[arg-type]
        "can_guard": has_perm(request.user, Perm.ACCESS_GUARD, school),  # type: ignore[arg-type]
        "can_keep_watch_list": has_perm(request.user, Perm.WATCHLIST_MANAGE, school),  # type: ignore[arg-type]
        "can_set_up_access": has_perm(request.user, Perm.ACCESS_MANAGE, school),  # type: ignore[arg-type]
        "can_see_attendance": has_perm(request.user, Perm.ATTENDANCE_VIEW, school),  # type: ignore[arg-type]
        "can_excuse": has_perm(request.user, Perm.ATTENDANCE_EXCUSE, school),  # type: ignore[arg-type]
        "can_see_time_sheets": has_perm(request.user, Perm.SCHOOL_MANAGE, school),  # type: ignore[arg-type]
        "canteen": {
            perm.name.lower(): has_perm(request.user, perm, school)  # type: ignore[arg-type]
            for perm in (
                Perm.CANTEEN_SELL,
                Perm.CANTEEN_MENU,
                Perm.CANTEEN_MANAGE,
                Perm.CANTEEN_REPORTS,
                Perm.FREE_MEALS_PROPOSE,
            )
        },
    }
    if has_perm(request.user, Perm.PRIVACY_REQUESTS, school):  # type: ignore[arg-type]
        context["open_requests"] = SubjectRequest.objects.filter(
            school=school, status=SubjectRequest.Status.OPEN
        ).count()
    if can_see_people:
        context["counts"] = {
            "pupils": Pupil.objects.filter(school=school, is_active=True).count(),
            "classes": SchoolClass.objects.filter(school=school).count(),
            "staff": school.staffmember_set.filter(is_active=True).count(),
            "guardians": school.guardian_set.count(),
        }
    return render(request, "portal/home.html", context)


@staff_view(Perm.PORTAL)
@require_POST
def switch_school(request: HttpRequest) -> HttpResponse:
    school = get_object_or_404(
        staff_schools(request.user),  # type: ignore[arg-type]
        pk=request.POST.get("school"),
    )
    request.session[SESSION_SCHOOL] = school.pk
    return redirect("portal:home")


@staff_view(Perm.PEOPLE_VIEW)
def pupils(request: HttpRequest) -> HttpResponse:
    school = request.school  # type: ignore[attr-defined]
    classes = selectors.classes_of(school).annotate(
        active=Count("pupils", filter=Q(pupils__is_active=True))
    )
    school_class = None
    if request.GET.get("class"):
        school_class = get_object_or_404(SchoolClass, pk=request.GET["class"], school=school)
    search = request.GET.get("q", "").strip()
    # Blocked pupils: only for the roles that need them for safety (privacy.blocking).
    found = visible_to(
        selectors.pupils_of(school, school_class=school_class, search=search),
        user=request.user,  # type: ignore[arg-type]
        school=school,
    )
    page = Paginator(found, 50).get_page(request.GET.get("page"))
    # A list of names is a read of personal data too: one entry per page shown.
    audit.record(
        action=audit.Action.VIEW,
        actor=request.user,  # type: ignore[arg-type]
        school=school,
        target=request.path,
        details={
            "list": "pupils",
            "class_id": school_class.pk if school_class else None,
            "search": search,
            "page": page.number,
            "shown": len(page),
        },
        request=request,
    )
    return render(
        request,
        "portal/pupils.html",
        {
            "school": school,
            "classes": classes,
            "school_class": school_class,
            "page": page,
            "q": search,
        },
    )


@staff_view(Perm.PEOPLE_VIEW)
def pupil_card(request: HttpRequest, pupil_id: int) -> HttpResponse:
    school = request.school  # type: ignore[attr-defined]
    pupil = get_object_or_404(
        Pupil.objects.select_related("person", "school_class"), pk=pupil_id, school=school
    )
    # A blocked person is shown only to the safety roles, marked, without contacts.
    safety = sees_blocked(request.user, school)  # type: ignore[arg-type]
    if pupil.person.blocked_at is not None and not safety:
        raise Http404
    guardianships = pupil.guardianships.select_related("guardian__person")
    if not safety:
        guardianships = hide_blocked(guardianships, person="guardian__person")
    audit.record(
        action=audit.Action.VIEW,
        actor=request.user,  # type: ignore[arg-type]
        school=school,
        person=pupil.person,
        target=request.path,
        request=request,
    )
    return render(
        request,
        "portal/pupil_card.html",
        {
            "school": school,
            "pupil": pupil,
            "guardianships": guardianships,
            "perms_privacy_manage": has_perm(request.user, Perm.PRIVACY_MANAGE, school),  # type: ignore[arg-type]
            "can_manage_cards": has_perm(request.user, Perm.ACCESS_CARDS, school),  # type: ignore[arg-type]
        },
    )


@public_view
@require_POST
def choose_language(request: HttpRequest) -> HttpResponse:
    """Switch the language for this browser and, when signed in, remember it on the account."""
    response = set_language(request)
    language = request.POST.get("language", "")
    if request.user.is_authenticated and language in dict(settings.LANGUAGES):
        accounts_services.set_language(user=request.user, language=language)  # type: ignore[arg-type]
    return response
