"""The guard's pages: visitors and their passes, the watch list and its alerts, pick-ups.

Views parse, authorise (``staff_view``), call ``access.visitors``, ``access.watchlist``
or ``access.pickups`` and render. Times are typed and shown in the school's time zone.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from functools import wraps
from typing import Any
from zoneinfo import ZoneInfo

import segno
from django.conf import settings
from django.contrib import messages
from django.core.exceptions import ValidationError
from django.db.models import F
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils import timezone
from django.utils.functional import Promise
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from kezekshi.access import pickups, visitors, watchlist
from kezekshi.access.models import TrustedAdult, Visitor, WatchAlert, WatchEntry
from kezekshi.accounts.decorators import staff_view
from kezekshi.accounts.permissions import has_perm, staff_schools
from kezekshi.accounts.roles import Perm
from kezekshi.core.errors import ServiceError
from kezekshi.core.models import School
from kezekshi.people import selectors
from kezekshi.people.models import Guardian, Pupil, SchoolClass
from kezekshi.portal.inputs import parse_day, parse_id
from kezekshi.portal.visitor_forms import ExpectedVisitorForm, VisitorForm, WatchEntryForm
from kezekshi.privacy import audit
from kezekshi.privacy.blocking import visible_to

View = Callable[..., HttpResponse]


def school_time(view: View) -> View:
    """Parse and show the page's times in the school's time zone."""

    @wraps(view)
    def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        with timezone.override(ZoneInfo(settings.SCHOOL_TIME_ZONE)):
            return view(request, *args, **kwargs)

    return wrapper


def _context(request: HttpRequest, **extra: Any) -> dict[str, Any]:
    school = request.school  # type: ignore[attr-defined]
    return {"school": school, "schools": staff_schools(request.user), **extra}  # type: ignore[arg-type]


def _day(request: HttpRequest) -> dt.date:
    return parse_day(request.GET.get("date")) or timezone.localdate()


def _audit_list(request: HttpRequest, name: str, **details: Any) -> None:
    audit.record_list(request=request, what=name, **details)


# --- visitors -------------------------------------------------------------------------


@staff_view(Perm.ACCESS_GUARD)
@require_GET
@school_time
def visitor_list(request: HttpRequest) -> HttpResponse:
    """The day's visitors, by status, with the buttons to sign them in and out."""
    school: School = request.school  # type: ignore[attr-defined]
    day = _day(request)
    rows = list(visitors.visitors_on(school, day))
    watched = set(
        WatchAlert.objects.filter(
            school=school, visitor__in=rows, acknowledged_at__isnull=True
        ).values_list("visitor_id", flat=True)
    )
    groups = [
        (status, [row for row in rows if row.status == status.value])
        for status in (Visitor.Status.INSIDE, Visitor.Status.EXPECTED, Visitor.Status.LEFT)
    ]
    _audit_list(request, "visitors", date=day.isoformat(), shown=len(rows))
    context = _context(request, day=day, groups=groups, watched=watched)
    return render(request, "portal/visitors/list.html", context)


@staff_view(Perm.ACCESS_GUARD)
@require_http_methods(["GET", "POST"])
@school_time
def visitor_new(request: HttpRequest) -> HttpResponse:
    """Register a visitor and issue the pass; a watch-list match is shown on the pass page."""
    school: School = request.school  # type: ignore[attr-defined]
    form = VisitorForm(school, request.POST or None)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            registered = visitors.register_visitor(
                school=school,
                full_name=data["full_name"],
                phone=data["phone"],
                host=data["host"],
                purpose=data["purpose"],
                valid_from=data["valid_from"],
                valid_until=data["valid_until"],
                doors=list(data["doors"]) or None,
                by=request.user,  # type: ignore[arg-type]
            )
        except ServiceError as exc:
            form.add_error(None, str(exc.message))
        else:
            return redirect("portal:visitor_pass", visitor_id=registered.visitor.pk)
    status = 422 if request.method == "POST" else 200
    return render(request, "portal/visitors/new.html", _context(request, form=form), status=status)


@staff_view(Perm.PEOPLE_VIEW)
@require_http_methods(["GET", "POST"])
@school_time
def visitor_expect(request: HttpRequest) -> HttpResponse:
    """Any staff member announces a visitor for a date and time; the guard sees them."""
    school: School = request.school  # type: ignore[attr-defined]
    user = request.user
    form = ExpectedVisitorForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            visitors.register_visitor(
                school=school,
                full_name=data["full_name"],
                phone=data["phone"],
                host=str(getattr(user, "full_name", "") or user),
                purpose=data["purpose"],
                valid_from=data["valid_from"],
                valid_until=data["valid_from"] + dt.timedelta(hours=data["hours"]),
                by=user,  # type: ignore[arg-type]
            )
        except ServiceError as exc:
            form.add_error(None, str(exc.message))
        else:
            messages.success(request, _("The guard will expect the visitor."))
            return redirect("portal:visitor_expect")
    mine = visitors.expected_by(school, user)  # type: ignore[arg-type]
    status = 422 if request.method == "POST" else 200
    context = _context(request, form=form, mine=mine)
    return render(request, "portal/visitors/expect.html", context, status=status)


@staff_view(Perm.ACCESS_GUARD)
@require_GET
@school_time
def visitor_pass(request: HttpRequest, visitor_id: int) -> HttpResponse:
    """The printable pass with its QR code, and any watch-list alert for the guard."""
    school: School = request.school  # type: ignore[attr-defined]
    visitor = get_object_or_404(Visitor, pk=visitor_id, school=school)
    credential = visitors.pass_credential(visitor)
    qr_svg = ""
    if credential is not None and visitor.valid_until > timezone.now():
        text = visitors.pass_text(credential, visitor=visitor)
        qr_svg = segno.make(text, error="m").svg_inline(scale=5)
    alerts = watchlist.alerts_of(school).filter(visitor=visitor, acknowledged_at__isnull=True)
    _audit_list(request, "visitor_pass", visitor=visitor.pk, shown=1)
    context = _context(
        request, visitor=visitor, qr_svg=qr_svg, alerts=alerts, doors=visitor.doors.all()
    )
    return render(request, "portal/visitors/pass.html", context)


def _visitor_action(action: Callable[..., Visitor], done: Promise) -> View:
    @require_POST
    def view(request: HttpRequest, visitor_id: int) -> HttpResponse:
        visitor = get_object_or_404(Visitor, pk=visitor_id, school=request.school)  # type: ignore[attr-defined]
        try:
            action(visitor=visitor, by=request.user)
        except ServiceError as exc:
            messages.error(request, str(exc.message))
        else:
            messages.success(request, str(done) % {"name": visitor.full_name})
        return redirect("portal:visitors")

    return view


visitor_sign_in = staff_view(Perm.ACCESS_GUARD)(
    _visitor_action(visitors.sign_in_visitor, gettext_lazy("%(name)s signed in."))
)
visitor_sign_out = staff_view(Perm.ACCESS_GUARD)(
    _visitor_action(
        visitors.sign_out_visitor, gettext_lazy("%(name)s signed out; the pass is blocked.")
    )
)
visitor_cancel = staff_view(Perm.ACCESS_GUARD)(
    _visitor_action(visitors.cancel_visitor, gettext_lazy("The visit of %(name)s is cancelled."))
)


# --- the watch list -------------------------------------------------------------------


@staff_view(Perm.ACCESS_GUARD)
@require_GET
@school_time
def watch_list(request: HttpRequest) -> HttpResponse:
    """The active entries for the guard; the whole list for those who keep it."""
    school: School = request.school  # type: ignore[attr-defined]
    manages = has_perm(request.user, Perm.WATCHLIST_MANAGE, school)  # type: ignore[arg-type]
    entries = list(watchlist.entries_of(school) if manages else watchlist.active_entries(school))
    _audit_list(request, "watch_list", shown=len(entries))
    open_alerts = WatchAlert.objects.filter(school=school, acknowledged_at__isnull=True).count()
    context = _context(request, entries=entries, manages=manages, open_alerts=open_alerts)
    return render(request, "portal/visitors/watch_list.html", context)


def _save_entry(request: HttpRequest, entry: WatchEntry | None) -> HttpResponse:
    school: School = request.school  # type: ignore[attr-defined]
    form = WatchEntryForm(school, request.POST or None, entry=entry)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        fields = {
            "full_name": data["full_name"],
            "phone": data["phone"],
            "reason": data["reason"],
            "valid_until": data["valid_until"],
            "person": form.person,
            "by": request.user,
        }
        try:
            if entry is None:
                watchlist.add_entry(school=school, **fields)
            else:
                watchlist.change_entry(entry=entry, **fields)
        except (ServiceError, ValidationError) as exc:
            form.add_error(None, str(getattr(exc, "message", exc)))
        else:
            messages.success(request, _("The watch list is saved."))
            return redirect("portal:watch_list")
    status = 422 if request.method == "POST" else 200
    context = _context(request, form=form, entry=entry)
    return render(request, "portal/visitors/watch_entry.html", context, status=status)


@staff_view(Perm.WATCHLIST_MANAGE)
@require_http_methods(["GET", "POST"])
def watch_entry_new(request: HttpRequest) -> HttpResponse:
    return _save_entry(request, None)


@staff_view(Perm.WATCHLIST_MANAGE)
@require_http_methods(["GET", "POST"])
def watch_entry_edit(request: HttpRequest, entry_id: int) -> HttpResponse:
    entry = get_object_or_404(
        WatchEntry.objects.select_related("person"),
        pk=entry_id,
        school=request.school,  # type: ignore[attr-defined]
    )
    return _save_entry(request, entry)


@staff_view(Perm.WATCHLIST_MANAGE)
@require_POST
def watch_entry_deactivate(request: HttpRequest, entry_id: int) -> HttpResponse:
    entry = get_object_or_404(WatchEntry, pk=entry_id, school=request.school)  # type: ignore[attr-defined]
    watchlist.deactivate_entry(entry=entry, by=request.user)  # type: ignore[arg-type]
    messages.success(request, _("The entry is off the watch list."))
    return redirect("portal:watch_list")


@staff_view(Perm.ACCESS_GUARD)
@require_GET
@school_time
def watch_alerts(request: HttpRequest) -> HttpResponse:
    """Alerts, open ones first: a watched visitor registered or a watched card used."""
    school: School = request.school  # type: ignore[attr-defined]
    alerts = list(
        watchlist.alerts_of(school).order_by(
            F("acknowledged_at").desc(nulls_first=True), "-created_at"
        )[:200]
    )
    _audit_list(request, "watch_alerts", shown=len(alerts))
    return render(request, "portal/visitors/watch_alerts.html", _context(request, alerts=alerts))


@staff_view(Perm.ACCESS_GUARD)
@require_POST
def watch_alert_acknowledge(request: HttpRequest, alert_id: int) -> HttpResponse:
    alert = get_object_or_404(WatchAlert, pk=alert_id, school=request.school)  # type: ignore[attr-defined]
    watchlist.acknowledge_alert(alert=alert, by=request.user)  # type: ignore[arg-type]
    if request.POST.get("back") == "pass" and alert.visitor_id:
        return redirect("portal:visitor_pass", visitor_id=alert.visitor_id)
    return redirect("portal:watch_alerts")


# --- pick-ups -------------------------------------------------------------------------


@staff_view(Perm.ACCESS_GUARD)
@require_GET
def pickup_search(request: HttpRequest) -> HttpResponse:
    """Find a child by last name or class, to see who may collect them."""
    school: School = request.school  # type: ignore[attr-defined]
    school_class = None
    if request.GET.get("class"):
        class_id = parse_id(request.GET["class"])
        if class_id is None:
            raise Http404
        school_class = get_object_or_404(SchoolClass, pk=class_id, school=school)
    search = request.GET.get("q", "").strip()
    found: list[Pupil] = []
    if search or school_class is not None:
        found = list(
            visible_to(
                selectors.pupils_of(school, school_class=school_class, search=search),
                user=request.user,  # type: ignore[arg-type]
                school=school,
            )[:100]
        )
        _audit_list(
            request,
            "pickup_search",
            class_id=school_class.pk if school_class else None,
            search=search,
            shown=len(found),
        )
    context = _context(
        request,
        classes=selectors.classes_of(school),
        school_class=school_class,
        q=search,
        found=found,
        searched=bool(search or school_class),
    )
    return render(request, "portal/visitors/pickup_search.html", context)


def _child(request: HttpRequest, pupil_id: int) -> Pupil:
    school = request.school  # type: ignore[attr-defined]
    rows = visible_to(
        Pupil.objects.select_related("person", "school_class"),
        user=request.user,  # type: ignore[arg-type]
        school=school,
    )
    return get_object_or_404(rows, pk=pupil_id, school=school)


def _child_page(
    request: HttpRequest, pupil: Pupil, *, error: str = "", status: int = 200
) -> HttpResponse:
    audit.record(
        action=audit.Action.VIEW,
        actor=request.user,  # type: ignore[arg-type]
        school=request.school,  # type: ignore[attr-defined]
        person=pupil.person,
        target=request.path,
        details={"page": "pickup"},
        request=request,
    )
    today = pickups.pickups_on(request.school, timezone.localdate()).filter(pupil=pupil)  # type: ignore[attr-defined]
    context = _context(
        request,
        pupil=pupil,
        collectors=pickups.collectors_of(pupil),
        today=today,
        error=error,
    )
    return render(request, "portal/visitors/pickup_child.html", context, status=status)


@staff_view(Perm.ACCESS_GUARD)
@require_GET
@school_time
def pickup_child(request: HttpRequest, pupil_id: int) -> HttpResponse:
    """Who may collect the child (guardians allowed to, trusted adults), and the form."""
    return _child_page(request, _child(request, pupil_id))


@staff_view(Perm.ACCESS_GUARD)
@require_POST
@school_time
def pickup_record(request: HttpRequest, pupil_id: int) -> HttpResponse:
    pupil = _child(request, pupil_id)
    kind, _sep, raw_id = request.POST.get("collector", "").partition(":")
    collector_id = parse_id(raw_id)
    guardian = trusted = None
    if collector_id is not None and kind == "guardian":
        guardian = Guardian.objects.filter(pk=collector_id, school=request.school).first()  # type: ignore[attr-defined]
    elif collector_id is not None and kind == "trusted":
        trusted = TrustedAdult.objects.filter(pk=collector_id, school=request.school).first()  # type: ignore[attr-defined]
    if guardian is None and trusted is None:
        return _child_page(request, pupil, error=_("Choose who is taking the child."), status=422)
    try:
        pickup = pickups.record_pickup(
            pupil=pupil,
            guardian=guardian,
            trusted_adult=trusted,
            by=request.user,  # type: ignore[arg-type]
        )
    except ServiceError as exc:
        return _child_page(request, pupil, error=str(exc.message), status=exc.status)
    messages.success(
        request,
        _("Recorded at %(time)s: the guardians are told.")
        % {"time": f"{timezone.localtime(pickup.picked_up_at):%H:%M}"},
    )
    return redirect("portal:pickup_child", pupil_id=pupil.pk)


@staff_view(Perm.ACCESS_GUARD)
@require_GET
@school_time
def pickup_log(request: HttpRequest) -> HttpResponse:
    """The day's hand-overs: which child, who took them, when, who saw it."""
    school: School = request.school  # type: ignore[attr-defined]
    day = _day(request)
    rows = list(
        visible_to(
            pickups.pickups_on(school, day),
            user=request.user,  # type: ignore[arg-type]
            school=school,
            person="pupil__person",
        )
    )
    _audit_list(request, "pickups", date=day.isoformat(), shown=len(rows))
    return render(request, "portal/visitors/pickup_log.html", _context(request, day=day, rows=rows))
