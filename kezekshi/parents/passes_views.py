"""The parents' app: a child's QR pass that renews itself, and the notification feed.

The pass is a signed, short-lived text (``access.services.qr_text``); the page fetches
a fresh one every minute, well before the five minutes it lives, so a screenshot stops
working soon after it is taken.
"""

from __future__ import annotations

import datetime as dt

import segno
from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.db.models import Q
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils import timezone
from django.utils.translation import gettext as _
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET, require_POST

from kezekshi.access import services as access
from kezekshi.access import watchlist
from kezekshi.accounts.decorators import public_view
from kezekshi.accounts.models import User
from kezekshi.notifications import services as notifications
from kezekshi.notifications.models import Notification
from kezekshi.parents.lookups import guardians_child, signed_in_user
from kezekshi.people.models import Guardianship, Pupil

REFRESH_SECONDS = 60
FEED_PAGE = 50


def _pass_refusal(user: User, child: Pupil) -> str:
    """Why ``user`` may not open the child's pass, or empty when they may.

    Only a legal representative, or a guardian allowed to collect the child, may hold
    the code that lets the child in — and not while on the school's active watch list
    (an entry for their own person, or their phone).
    """
    links = Guardianship.objects.filter(pupil=child, guardian__person__user=user)
    link = (
        links.filter(Q(is_legal_representative=True) | Q(may_pick_up=True))
        .select_related("guardian__person")
        .first()
    )
    if link is None:
        return _(
            "Only the child's legal representative, or a guardian allowed to collect the "
            "child, can open the pass. Ask the school if this is wrong."
        )
    person = link.guardian.person
    watched = watchlist.active_entries(child.school_id).filter(
        Q(person_id=person.pk) | (Q(phone=person.phone) & ~Q(phone=""))
    )
    if watched.exists():
        return _("The school has restricted your access to this pass. Please contact the school.")
    return ""


def _pass(request: HttpRequest, child: Pupil, template: str) -> HttpResponse:
    context: dict[str, object] = {
        "child": child,
        "refresh_seconds": REFRESH_SECONDS,
        "time_zone": settings.SCHOOL_TIME_ZONE,
    }
    refusal = _pass_refusal(signed_in_user(request), child)
    if refusal:
        context["refused"] = refusal
        return render(request, template, context, status=403)
    if child.person.blocked_at is not None:
        context["refused"] = _(
            "The child's data are blocked at the school, so no pass can be shown. "
            "Ask the school to lift the block, or use the child's card."
        )
        return render(request, template, context, status=403)
    credential = access.qr_credential(person=child.person)
    text = access.qr_text(credential)
    context["svg"] = segno.make(text, error="m").svg_inline(scale=6, border=2)
    context["expires_at"] = timezone.now() + access.QR_LIFETIME - dt.timedelta(seconds=1)
    return render(request, template, context)


@public_view
@login_required(login_url="parents:home")
@never_cache
@require_GET
def child_pass(request: HttpRequest, pupil_id: int) -> HttpResponse:
    return _pass(request, guardians_child(request, pupil_id), "parents/passes/pass.html")


@public_view
@login_required(login_url="parents:home")
@never_cache
@require_GET
def child_pass_code(request: HttpRequest, pupil_id: int) -> HttpResponse:
    """The QR code alone, for the pass page to swap in before the last one expires."""
    return _pass(request, guardians_child(request, pupil_id), "parents/passes/code.html")


@public_view
@login_required(login_url="parents:home")
@require_GET
def feed(request: HttpRequest) -> HttpResponse:
    rows = Notification.objects.filter(recipient=signed_in_user(request)).order_by(
        "-created_at", "-pk"
    )
    page = Paginator(rows, FEED_PAGE).get_page(request.GET.get("page"))
    unread = rows.filter(read_at__isnull=True).count()
    return render(
        request,
        "parents/passes/feed.html",
        {"page": page, "unread": unread, "time_zone": settings.SCHOOL_TIME_ZONE},
    )


@public_view
@login_required(login_url="parents:home")
@require_POST
def feed_read(request: HttpRequest) -> HttpResponse:
    notifications.mark_read(recipient_id=signed_in_user(request).pk)
    messages.success(request, _("All notifications are marked read."))
    return redirect("parents:notifications")
