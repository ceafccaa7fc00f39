"""The guard's desk: the live feed of passes, emergency modes, who is inside, roll calls.

Pages for a guard at the door at 07:50, on a phone or the desk PC. The live feed is a
Server-Sent Events stream: each message only tells the page that something happened,
and the page then fetches the new rows as HTML, through the same permission check as
every other page.

Audit: each page load that shows names is one audit entry (like the pupils' list); the
page's own refreshes (new feed rows, the roll call's polling) are covered by it, or a
morning rush would write an entry per pass per open screen.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from functools import wraps
from typing import Any

from asgiref.sync import sync_to_async
from django.conf import settings
from django.contrib import messages
from django.core.handlers.asgi import ASGIRequest
from django.db import connections
from django.http import (
    Http404,
    HttpRequest,
    HttpResponse,
    HttpResponseBadRequest,
    StreamingHttpResponse,
)
from django.http.response import HttpResponseBase
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.http import urlencode
from django.utils.translation import get_language, gettext_lazy
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from kezekshi.access import presence, rollcall, services, watchlist
from kezekshi.access.models import AccessSettings, RollCall, RollCallEntry, WatchAlert, Zone
from kezekshi.accounts.decorators import staff_view
from kezekshi.accounts.roles import Perm
from kezekshi.core import fanout
from kezekshi.core.errors import ServiceError
from kezekshi.portal.inputs import parse_id, parse_ids
from kezekshi.privacy import audit
from kezekshi.privacy.blocking import visible_to

# How long a browser waits before reconnecting a dropped stream, in milliseconds.
RECONNECT_MS = 3000
POLL_SECONDS = 5

AsyncView = Callable[..., Awaitable[HttpResponseBase]]


def _language() -> str:
    return (get_language() or "kk")[:2]


def _audit_list(request: HttpRequest, what: str, **details: Any) -> None:
    audit.record_list(request=request, what=what, **details)


# --- the live feed --------------------------------------------------------------------


# At most this many ids per refresh by ids (the page splits a bigger burst).
FEED_IDS = 100
# The refresh by time looks this far behind the last one: a pass whose transaction
# committed a little late has an older ``received_at`` than the previous refresh.
FEED_OVERLAP = dt.timedelta(minutes=2)
# The latest moment a ``?since=`` may name (epoch seconds), so it stays a datetime.
_LAST_SECOND = 4_102_444_800  # 2100-01-01


def _after(request: HttpRequest) -> int | None:
    return parse_id(request.GET.get("after"))


def _feed_lines(request: HttpRequest, after: int | None) -> list[presence.PassLine]:
    return presence.recent_passes(
        request.school,  # type: ignore[attr-defined]
        language=_language(),
        after=after,
        # A refresh may follow a burst of passes (eight lanes at 07:50): take them all.
        limit=presence.FEED_SIZE if after is None else 4 * presence.FEED_SIZE,
    )


def _open_alerts(request: HttpRequest) -> Any:
    school = request.school  # type: ignore[attr-defined]
    return watchlist.alerts_of(school).filter(acknowledged_at__isnull=True)[:20]


@staff_view(Perm.ACCESS_GUARD)
@require_GET
def feed(request: HttpRequest) -> HttpResponse:
    """The last passes and refusals, then each new one as it happens."""
    school = request.school  # type: ignore[attr-defined]
    lines = _feed_lines(request, None)
    _audit_list(request, "passes", shown=len(lines))
    return render(
        request,
        "portal/guard/feed.html",
        {
            "school": school,
            "lines": lines,
            "feed_time": int(timezone.now().timestamp()),
            "alerts": _open_alerts(request),
            "mode": _settings(school),
            "time_zone": settings.SCHOOL_TIME_ZONE,
            "stream_url": reverse("portal:guard_feed_stream", args=[school.pk]),
            "reconnect_ms": RECONNECT_MS,
        },
    )


@staff_view(Perm.ACCESS_GUARD)
@require_GET
def feed_rows(request: HttpRequest) -> HttpResponse:
    """Feed rows for the page's refreshes, newest first, of the school only.

    ``?ids=1,2,3``: the events a live message named (at most ``FEED_IDS``);
    ``?since=<epoch seconds>``: those stored since then, less ``FEED_OVERLAP`` (the
    fallback when a message was missed; the page drops rows it already has);
    ``?after=<event id>``: those with a higher id. The ``X-Feed-Time`` header is the
    moment to send as ``since`` next time. Malformed ids or times get 400.
    """
    school = request.school  # type: ignore[attr-defined]
    now = timezone.now()
    if "ids" in request.GET:
        ids = parse_ids(request.GET["ids"], limit=FEED_IDS)
        if ids is None:
            return HttpResponseBadRequest(
                _("Give at most %(count)s event ids.") % {"count": FEED_IDS}
            )
        lines = presence.recent_passes(school, language=_language(), ids=ids, limit=FEED_IDS)
    elif "since" in request.GET:
        seconds = parse_id(request.GET["since"])
        if seconds is None or seconds > _LAST_SECOND:
            return HttpResponseBadRequest(_("Give the time as seconds since 1970."))
        since = dt.datetime.fromtimestamp(seconds, tz=dt.UTC) - FEED_OVERLAP
        lines = presence.recent_passes(
            school, language=_language(), received_since=since, limit=4 * presence.FEED_SIZE
        )
    else:
        lines = _feed_lines(request, _after(request))
    response = render(
        request,
        "portal/guard/_feed_rows.html",
        {"lines": lines, "time_zone": settings.SCHOOL_TIME_ZONE},
    )
    response["X-Feed-Time"] = str(int(now.timestamp()))
    return response


@staff_view(Perm.ACCESS_GUARD)
@require_GET
def alerts(request: HttpRequest) -> HttpResponse:
    """The watch-list alerts nobody has acknowledged yet (the feed page's refresh)."""
    return render(
        request,
        "portal/guard/_alerts.html",
        {"alerts": _open_alerts(request), "time_zone": settings.SCHOOL_TIME_ZONE},
    )


@staff_view(Perm.ACCESS_GUARD)
@require_POST
def acknowledge_alert(request: HttpRequest, alert_id: int) -> HttpResponse:
    alert = get_object_or_404(WatchAlert, pk=alert_id, school=request.school)  # type: ignore[attr-defined]
    watchlist.acknowledge_alert(alert=alert, by=request.user)  # type: ignore[arg-type]
    messages.success(request, _("The alert is acknowledged."))
    return redirect("portal:guard_feed")


def async_staff_view(perm: Perm) -> Callable[[AsyncView], AsyncView]:
    """``staff_view`` for an async view: the same gate (sign-in, second factor, school,
    permission) runs in a worker thread, as the ORM and the session need, before the
    view itself runs in the event loop. Sets ``request.school`` like ``staff_view``."""

    def decorate(view: AsyncView) -> AsyncView:
        passed = HttpResponse(status=204)

        @staff_view(perm)
        def gate(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
            return passed

        @wraps(view)
        async def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponseBase:
            outcome = await sync_to_async(gate)(request, *args, **kwargs)
            if outcome is not passed:
                return outcome  # the redirect to sign-in or the second factor
            return await view(request, *args, **kwargs)

        wrapper.required_permission = perm  # type: ignore[attr-defined]
        return wrapper

    return decorate


def _event(message: str | None) -> str:
    if message is None:  # subscribed, or idle: a comment keeps proxies from closing it
        return f": keep-alive\nretry: {RECONNECT_MS}\n\n"
    return f"data: {message}\n\n"


def _release_database() -> None:
    """Give back the connection the permission check and the request log opened.

    A stream lives for hours and never reads the database; an open screen must not hold
    a connection all that time. Inside a transaction (the tests') it stays.
    """
    for connection in connections.all(initialized_only=True):
        if not connection.in_atomic_block:
            connection.close()


async def _stream(channel: str) -> AsyncIterator[str]:
    await sync_to_async(_release_database)()
    async for message in fanout.listen(channel):
        yield _event(message)


def _stream_blocking(channel: str) -> Iterator[str]:
    _release_database()
    for message in fanout.listen_blocking(channel):
        yield _event(message)


@async_staff_view(Perm.ACCESS_GUARD)
@require_GET
async def feed_stream(request: HttpRequest, school_id: int) -> HttpResponseBase:
    """Server-Sent Events of the school's live channel: ``events``, ``watch`` and ``mode``.

    The path names the school the page was opened for: a page left open after
    switching school in another tab gets 404 and stops, rather than another feed.
    Under ASGI (uvicorn) the stream is async; under a WSGI server (the development
    server, the tests' live server) it holds the request's thread, as WSGI must.
    """
    if school_id != request.school.pk:  # type: ignore[attr-defined]
        raise Http404
    channel = services.live_channel(school_id)
    body = _stream(channel) if isinstance(request, ASGIRequest) else _stream_blocking(channel)
    response = StreamingHttpResponse(body, content_type="text/event-stream")
    response["Cache-Control"] = "no-cache"
    response["X-Accel-Buffering"] = "no"  # nginx: pass each event on at once
    return response


# --- emergency modes ------------------------------------------------------------------


def _settings(school: Any) -> AccessSettings:
    return AccessSettings.objects.select_related("mode_changed_by").filter(
        school=school
    ).first() or AccessSettings(school=school)


MODE_WARNINGS = {
    AccessSettings.Mode.EVACUATION: gettext_lazy(
        "Every exit opens and entry closes. A roll call of everyone inside starts now."
    ),
    AccessSettings.Mode.LOCKDOWN: gettext_lazy("Passage closes for everyone except staff."),
    AccessSettings.Mode.NORMAL: gettext_lazy(
        "The usual access rules apply again; an open roll call ends."
    ),
}


@staff_view(Perm.ACCESS_GUARD)
@require_http_methods(["GET", "POST"])
def mode(request: HttpRequest) -> HttpResponse:
    """Evacuation, lockdown or back to normal, each confirmed in a second step."""
    school = request.school  # type: ignore[attr-defined]
    current = _settings(school)
    chosen = request.POST.get("mode", "")
    if request.method == "POST" and chosen in AccessSettings.Mode.values and chosen != current.mode:
        if request.POST.get("confirm") == "yes":
            services.set_mode(school=school, mode=chosen, by=request.user)  # type: ignore[arg-type]
            messages.success(
                request,
                _("Mode switched: %(mode)s.") % {"mode": AccessSettings.Mode(chosen).label},
            )
            if chosen == AccessSettings.Mode.EVACUATION:
                return redirect("portal:guard_roll_call")
            return redirect("portal:guard_mode")
        return render(
            request,
            "portal/guard/mode_confirm.html",
            {
                "school": school,
                "current": current,
                "chosen": chosen,
                "chosen_label": AccessSettings.Mode(chosen).label,
                "warning": MODE_WARNINGS[AccessSettings.Mode(chosen)],
            },
        )
    choices = [
        (value, label, MODE_WARNINGS[AccessSettings.Mode(value)])
        for value, label in AccessSettings.Mode.choices
        if value != current.mode
    ]
    return render(
        request,
        "portal/guard/mode.html",
        {
            "school": school,
            "current": current,
            "choices": choices,
            "time_zone": settings.SCHOOL_TIME_ZONE,
        },
    )


# --- who is inside --------------------------------------------------------------------


@staff_view(Perm.ACCESS_GUARD)
@require_GET
def inside(request: HttpRequest) -> HttpResponse:
    """Who is inside now, per zone: counts, and the list searchable by name or class."""
    school = request.school  # type: ignore[attr-defined]
    zone = None
    if request.GET.get("zone"):
        zone_id = parse_id(request.GET["zone"])
        if zone_id is None:
            raise Http404
        zone = get_object_or_404(Zone, pk=zone_id, school=school)
    search = request.GET.get("q", "").strip()
    rows = list(
        visible_to(
            presence.inside_now(school, zone=zone, search=search),
            user=request.user,  # type: ignore[arg-type]
            school=school,
        )[:500]
    )
    visitors = list(presence.visitors_inside(school)) if not search and zone is None else []
    _audit_list(
        request,
        "inside",
        zone_id=zone.pk if zone else None,
        search=search,
        shown=len(rows) + len(visitors),
    )
    zones = list(presence.zone_counts(school))
    return render(
        request,
        "portal/guard/inside.html",
        {
            "school": school,
            "zones": zones,
            "zone": zone,
            "total": sum(z.inside for z in zones),  # type: ignore[attr-defined]
            "rows": rows,
            "visitors": visitors,
            "q": search,
            "lines": [(row, presence.class_of(row.person)) for row in rows],
            "time_zone": settings.SCHOOL_TIME_ZONE,
        },
    )


# --- evacuation roll calls ------------------------------------------------------------


def _roll_call_context(request: HttpRequest, roll_call: RollCall) -> dict[str, Any]:
    search = request.GET.get("q", "").strip()
    group_by = "zone" if request.GET.get("by") == "zone" else "class"
    return {
        "school": request.school,  # type: ignore[attr-defined]
        "roll_call": roll_call,
        "groups": presence.roll_call_lines(roll_call, search=search, group_by=group_by),
        "counts": presence.roll_call_counts(roll_call),
        "q": search,
        "by": group_by,
        "query": urlencode({"q": search, "by": group_by}),
        "poll_seconds": POLL_SECONDS,
        "time_zone": settings.SCHOOL_TIME_ZONE,
    }


def _roll_call(request: HttpRequest, roll_call_id: int) -> RollCall:
    return get_object_or_404(
        RollCall.objects.select_related("started_by"),
        pk=roll_call_id,
        school=request.school,  # type: ignore[attr-defined]
    )


@staff_view(Perm.ACCESS_GUARD)
@require_GET
def open_roll_call(request: HttpRequest) -> HttpResponse:
    """The roll call of the evacuation going on now, or the list of past ones."""
    roll_call = presence.open_roll_call(request.school)  # type: ignore[attr-defined]
    if roll_call is None:
        return _roll_calls_page(request)
    return _roll_call_page(request, roll_call)


@staff_view(Perm.ACCESS_GUARD)
@require_GET
def roll_calls(request: HttpRequest) -> HttpResponse:
    return _roll_calls_page(request)


def _roll_calls_page(request: HttpRequest) -> HttpResponse:
    school = request.school  # type: ignore[attr-defined]
    return render(
        request,
        "portal/guard/roll_calls.html",
        {
            "school": school,
            "roll_calls": presence.roll_calls_of(school)[:100],
            "open": presence.open_roll_call(school),
            "time_zone": settings.SCHOOL_TIME_ZONE,
        },
    )


@staff_view(Perm.ACCESS_GUARD)
@require_GET
def roll_call_detail(request: HttpRequest, roll_call_id: int) -> HttpResponse:
    """The tick-off list, grouped by class or zone, refreshed every few seconds."""
    return _roll_call_page(request, _roll_call(request, roll_call_id))


def _roll_call_page(request: HttpRequest, roll_call: RollCall) -> HttpResponse:
    context = _roll_call_context(request, roll_call)
    _audit_list(request, "roll_call", roll_call_id=roll_call.pk, search=context["q"])
    return render(request, "portal/guard/roll_call.html", context)


@staff_view(Perm.ACCESS_GUARD)
@require_GET
def roll_call_lines(request: HttpRequest, roll_call_id: int) -> HttpResponse:
    """The list and counts alone (the page's polling)."""
    context = _roll_call_context(request, _roll_call(request, roll_call_id))
    return render(request, "portal/guard/_roll_call_lines.html", context)


@staff_view(Perm.ACCESS_GUARD)
@require_GET
def roll_call_print(request: HttpRequest, roll_call_id: int) -> HttpResponse:
    context = _roll_call_context(request, _roll_call(request, roll_call_id))
    _audit_list(request, "roll_call_print", roll_call_id=roll_call_id)
    return render(request, "portal/guard/roll_call_print.html", context)


def _tick(request: HttpRequest, entry_id: int, change: Callable[[RollCallEntry], Any]) -> Any:
    entry = get_object_or_404(RollCallEntry, pk=entry_id, school=request.school)  # type: ignore[attr-defined]
    status = 204
    try:
        change(entry)
    except ServiceError as exc:
        messages.error(request, str(exc.message))
        status = exc.status
    if request.headers.get("X-Requested-With") == "fetch":
        return HttpResponse(status=status)
    back = reverse("portal:guard_roll_call_detail", args=[entry.roll_call_id])
    query = urlencode({"q": request.POST.get("q", ""), "by": request.POST.get("by", "class")})
    return redirect(f"{back}?{query}#entry-{entry.pk}")


@staff_view(Perm.ACCESS_GUARD)
@require_POST
def roll_call_tick(request: HttpRequest, entry_id: int) -> HttpResponse:
    """Found at the assembly point (idempotent: a second tap changes nothing)."""
    return _tick(  # type: ignore[no-any-return]
        request,
        entry_id,
        lambda entry: rollcall.account_for(entry=entry, by=request.user),  # type: ignore[arg-type]
    )


@staff_view(Perm.ACCESS_GUARD)
@require_POST
def roll_call_untick(request: HttpRequest, entry_id: int) -> HttpResponse:
    """Take back a tick made by mistake."""
    return _tick(  # type: ignore[no-any-return]
        request, entry_id, lambda entry: rollcall.undo_account_for(entry=entry)
    )
