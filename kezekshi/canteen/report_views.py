"""The canteen's report pages for the accountant and the school administrator (and a
cashier's own shift close), each with CSV and XLSX downloads.

Who sees what:
- ``canteen.reports`` (accountant, school administrator): every report, every till's
  shift close — ``/canteen/reports/…``;
- ``canteen.sell`` (cashier): only their own shift close — ``/canteen/till/shift/``.

A report that names pupils (balances; the voids and refunds of a shift) writes an audit
entry when it is viewed or exported, like every list of named people. Pupils whose data
are blocked are named only to the safety roles (``privacy.blocking``).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Any

from django.http import Http404, HttpRequest, HttpResponse
from django.http.response import HttpResponseBase
from django.shortcuts import get_object_or_404
from django.urls import URLPattern, path, reverse
from django.views.decorators.http import require_GET

from kezekshi.access.models import Device
from kezekshi.accounts.decorators import staff_view
from kezekshi.accounts.models import Membership, User
from kezekshi.accounts.roles import Perm
from kezekshi.canteen import reports
from kezekshi.canteen.menu import local_today, zone
from kezekshi.canteen.models import Sale
from kezekshi.people.models import SchoolClass
from kezekshi.portal.pages import school_of, school_page
from kezekshi.privacy import audit
from kezekshi.privacy.blocking import sees_blocked

XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
HTML, CSV, XLSX_FILE = "html", "csv", "xlsx"


def _date(raw: str | None) -> dt.date | None:
    try:
        day = dt.date.fromisoformat(raw or "")
    except ValueError:
        return None
    return day if dt.date(2000, 1, 1) <= day <= dt.date(2100, 12, 31) else None


def _period(request: HttpRequest) -> tuple[dt.date, dt.date]:
    """``from`` and ``to`` (``YYYY-MM-DD``); this month up to today by default; at most
    ``reports.LONGEST_PERIOD`` long (the start moves up)."""
    today = local_today()
    first = _date(request.GET.get("from")) or today.replace(day=1)
    last = _date(request.GET.get("to")) or max(today, first)
    if first > last:
        first, last = last, first
    first = max(first, last - reports.LONGEST_PERIOD)
    return first, last


def _user(request: HttpRequest) -> User:
    return request.user  # type: ignore[return-value]


def _respond(
    request: HttpRequest,
    report: reports.Report,
    *,
    fmt: str,
    template: str,
    stem: str,
    context: dict[str, Any] | None = None,
) -> HttpResponse:
    """The page, or the report as a file (a CSV holds one table: ``?table=<key>``)."""
    school = school_of(request)
    what = f"canteen_report_{report.slug.split('-')[0]}"
    if fmt == HTML:
        if report.named_rows:
            audit.record_list(request=request, what=what, shown=report.named_rows)
        query = request.GET.copy()
        query.pop("table", None)
        name = request.resolver_match.url_name if request.resolver_match else ""
        return school_page(
            request,
            template,
            {
                "report": report,
                "query": query.urlencode(),
                "csv_url": reverse(f"canteen:{name}_csv"),
                "xlsx_url": reverse(f"canteen:{name}_xlsx"),
                **(context or {}),
            },
        )
    if fmt == CSV:
        table = report.table(request.GET.get("table"))
        if table.named:
            audit.record_list(request=request, what=what, action=audit.Action.EXPORT)
        body, content_type = reports.as_csv(table), "text/csv; charset=utf-8"
        name = f"{report.slug}-{table.key}-{school.bin}-{stem}.csv"
    else:
        if any(table.named for table in report.tables):
            audit.record_list(request=request, what=what, action=audit.Action.EXPORT)
        body, content_type = reports.as_xlsx(report, school), XLSX
        name = f"{report.slug}-{school.bin}-{stem}.xlsx"
    response = HttpResponse(body, content_type=content_type)
    response["Content-Disposition"] = f'attachment; filename="{name}"'
    return response


def pages(route: str, view: Callable[..., HttpResponseBase], name: str) -> list[URLPattern]:
    """``<route>/`` (the page), ``<route>.csv`` and ``<route>.xlsx`` for one report view."""
    return [
        path(f"{route}/", view, name=name),
        path(f"{route}.csv", view, {"fmt": CSV}, name=f"{name}_csv"),
        path(f"{route}.xlsx", view, {"fmt": XLSX_FILE}, name=f"{name}_xlsx"),
    ]


def _stem(first: dt.date, last: dt.date) -> str:
    return first.isoformat() if first == last else f"{first.isoformat()}_{last.isoformat()}"


@staff_view(Perm.CANTEEN_REPORTS)
@require_GET
def index(request: HttpRequest) -> HttpResponse:
    return school_page(request, "canteen/reports/index.html", {})


def _over_a_period(
    request: HttpRequest,
    fmt: str,
    template: str,
    build: Callable[[Any, dt.date, dt.date], reports.Report],
) -> HttpResponse:
    """A report over ``from``–``to`` (see ``_period``), as a page or a file."""
    first, last = _period(request)
    return _respond(
        request,
        build(school_of(request), first, last),
        fmt=fmt,
        template=template,
        stem=_stem(first, last),
        context={"first": first, "last": last},
    )


@staff_view(Perm.CANTEEN_REPORTS)
@require_GET
def sales(request: HttpRequest, fmt: str = HTML) -> HttpResponse:
    return _over_a_period(request, fmt, "canteen/reports/sales.html", reports.sales_by_item)


@staff_view(Perm.CANTEEN_REPORTS)
@require_GET
def topups(request: HttpRequest, fmt: str = HTML) -> HttpResponse:
    return _over_a_period(request, fmt, "canteen/reports/topups.html", reports.topups_by_provider)


@staff_view(Perm.CANTEEN_REPORTS)
@require_GET
def offline(request: HttpRequest, fmt: str = HTML) -> HttpResponse:
    """Offline sales booked although they broke a rule or left a debt."""
    shown = sees_blocked(_user(request), school_of(request))
    return _over_a_period(
        request,
        fmt,
        "canteen/reports/offline.html",
        lambda school, first, last: reports.offline_checks(school, first, last, show_blocked=shown),
    )


@staff_view(Perm.CANTEEN_REPORTS)
@require_GET
def balances(request: HttpRequest, fmt: str = HTML) -> HttpResponse:
    school = school_of(request)
    day = _date(request.GET.get("day")) or local_today()
    chosen = None
    raw_class = request.GET.get("class", "")
    if raw_class.isdigit():
        chosen = get_object_or_404(SchoolClass, pk=int(raw_class), school=school)
    report = reports.balances_at(
        school, day, school_class=chosen, show_blocked=sees_blocked(_user(request), school)
    )
    stem = day.isoformat() + (f"-{chosen.grade}{chosen.letter}" if chosen else "")
    return _respond(
        request,
        report,
        fmt=fmt,
        template="canteen/reports/balances.html",
        stem=stem,
        context={
            "day": day,
            "classes": SchoolClass.objects.filter(school=school).order_by("grade", "letter"),
            "chosen": chosen,
        },
    )


def _till(request: HttpRequest, raw: str) -> reports.Till:
    """``c<user id>`` (a cashier of this school, or anyone who sold here), ``d<device
    id>`` (this school's terminal), or every till; anything else of another school: 404."""
    school = school_of(request)
    kind, number = raw[:1], raw[1:]
    if not number.isdigit():
        return reports.Till()
    if kind == "d":
        return reports.Till(device=get_object_or_404(Device, pk=int(number), school=school))
    if kind == "c":
        user = User.objects.filter(pk=int(number)).first()
        known = user is not None and (
            Membership.objects.filter(user=user, school=school).exists()
            or Sale.objects.filter(school=school, cashier=user).exists()
        )
        if not known:
            raise Http404
        return reports.Till(cashier=user)
    return reports.Till()


def _shift(
    request: HttpRequest, fmt: str, *, till_of: Callable[[], reports.Till], own: bool
) -> HttpResponse:
    school = school_of(request)
    day = _date(request.GET.get("day")) or local_today()
    till = till_of()
    report = reports.shift_close(
        school, day, till, show_blocked=sees_blocked(_user(request), school)
    )
    return _respond(
        request,
        report,
        fmt=fmt,
        template="canteen/reports/shift.html",
        stem=day.isoformat(),
        context={
            "day": day,
            "till": till,
            "own": own,
            "tills": [] if own else reports.tills_of(school, day),
            "printed_at": dt.datetime.now(tz=zone()),
        },
    )


@staff_view(Perm.CANTEEN_REPORTS)
@require_GET
def shift(request: HttpRequest, fmt: str = HTML) -> HttpResponse:
    """Any till's shift close (or all tills'), for the accountant and the administrator."""
    return _shift(
        request, fmt, till_of=lambda: _till(request, request.GET.get("till", "")), own=False
    )


@staff_view(Perm.CANTEEN_SELL)
@require_GET
def my_shift(request: HttpRequest, fmt: str = HTML) -> HttpResponse:
    """The signed-in cashier's own shift close at the cashier's page: no other till."""
    return _shift(request, fmt, till_of=lambda: reports.Till(cashier=_user(request)), own=True)
