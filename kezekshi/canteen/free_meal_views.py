"""Staff pages for free meals: the social pedagogue's entries and the director's
approvals, the school's free-meal costs and offline limit, and the monthly report
(page, CSV, XLSX) for reconciliation with the state Social Wallet."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

from django import forms
from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from kezekshi.accounts.decorators import staff_view
from kezekshi.accounts.permissions import has_perm
from kezekshi.accounts.roles import Perm
from kezekshi.canteen import free_meals
from kezekshi.canteen.menu import local_today
from kezekshi.canteen.models import FreeMealEntitlement
from kezekshi.core.errors import ServiceError
from kezekshi.people.models import Pupil
from kezekshi.portal.pages import school_of, school_page
from kezekshi.privacy import audit
from kezekshi.privacy.blocking import sees_blocked


class ProposeForm(forms.Form):
    account = forms.CharField(label=gettext_lazy("Personal account of the pupil"), max_length=11)
    basis = forms.ChoiceField(
        label=gettext_lazy("Basis"), choices=FreeMealEntitlement.Basis.choices
    )
    valid_from = forms.DateField(
        label=gettext_lazy("From"), widget=forms.DateInput(attrs={"type": "date"})
    )
    valid_until = forms.DateField(
        label=gettext_lazy("Until"), widget=forms.DateInput(attrs={"type": "date"})
    )
    note = forms.CharField(
        label=gettext_lazy("Note (the document it rests on)"), max_length=300, required=False
    )


@staff_view(Perm.FREE_MEALS_PROPOSE)
@require_http_methods(["GET", "POST"])
def entitlements(request: HttpRequest) -> HttpResponse:
    """Pupils entitled to free meals for a social reason: enter, and (director) decide."""
    school = school_of(request)
    today = local_today()
    form = ProposeForm(
        request.POST or None,
        initial={
            "valid_from": today,
            "valid_until": dt.date(today.year + (today.month >= 9), 5, 31),
        },
    )
    status = 200
    if request.method == "POST":
        if form.is_valid():
            data = form.cleaned_data
            pupil = Pupil.objects.filter(school=school, account_number=data["account"]).first()
            if pupil is None:
                form.add_error("account", _("No pupil has this personal account."))
                status = 422
            else:
                try:
                    free_meals.propose(
                        pupil=pupil,
                        basis=data["basis"],
                        valid_from=data["valid_from"],
                        valid_until=data["valid_until"],
                        note=data["note"],
                        by=request.user,  # type: ignore[arg-type]
                        request=request,
                    )
                except ServiceError as exc:
                    form.add_error(None, str(exc.message))
                    status = exc.status
                else:
                    messages.success(request, _("Entered; it waits for the director's approval."))
                    return redirect("canteen:free_meals")
        else:
            status = 422
    rows = list(
        FreeMealEntitlement.objects.filter(school=school)
        .select_related("pupil__person", "pupil__school_class", "proposed_by", "decided_by")
        .order_by("status", "-proposed_at")[:500]
    )
    if rows:
        audit.record_list(request=request, what="canteen_free_meal_entitlements", shown=len(rows))
    return school_page(
        request,
        "canteen/free_meals.html",
        {
            "form": form,
            "rows": rows,
            "may_approve": has_perm(request.user, Perm.FREE_MEALS_APPROVE, school),  # type: ignore[arg-type]
        },
        status=status,
    )


@staff_view(Perm.FREE_MEALS_APPROVE)
@require_POST
def decide(request: HttpRequest, entitlement_id: int) -> HttpResponse:
    school = school_of(request)
    row = get_object_or_404(FreeMealEntitlement, pk=entitlement_id, school=school)
    action = request.POST.get("action", "")
    try:
        if action == "revoke":
            free_meals.revoke(
                entitlement=row,
                by=request.user,  # type: ignore[arg-type]
                note=request.POST.get("note", ""),
                request=request,
            )
        else:
            free_meals.decide(
                entitlement=row,
                approve=action == "approve",
                by=request.user,  # type: ignore[arg-type]
                note=request.POST.get("note", ""),
                request=request,
            )
    except ServiceError as exc:
        messages.error(request, str(exc.message))
    else:
        messages.success(request, _("Saved."))
    return redirect("canteen:free_meals")


class SettingsForm(forms.Form):
    free_breakfast_cost = forms.DecimalField(
        label=gettext_lazy("Free breakfast: cost covered, ₸ (0: not subsidised)"),
        min_value=Decimal(0),
        max_digits=12,
        decimal_places=2,
    )
    free_lunch_cost = forms.DecimalField(
        label=gettext_lazy("Free lunch: cost covered, ₸ (0: not subsidised)"),
        min_value=Decimal(0),
        max_digits=12,
        decimal_places=2,
    )
    free_snack_cost = forms.DecimalField(
        label=gettext_lazy("Free snack: cost covered, ₸ (0: not subsidised)"),
        min_value=Decimal(0),
        max_digits=12,
        decimal_places=2,
    )
    offline_limit = forms.DecimalField(
        label=gettext_lazy("Spending per pupil per day at a till without connection, ₸"),
        min_value=Decimal(0),
        max_digits=12,
        decimal_places=2,
    )


@staff_view(Perm.CANTEEN_MANAGE)
@require_http_methods(["GET", "POST"])
def canteen_settings(request: HttpRequest) -> HttpResponse:
    school = school_of(request)
    current = free_meals.settings_of(school.pk)
    fields = ["free_breakfast_cost", "free_lunch_cost", "free_snack_cost", "offline_limit"]
    form = SettingsForm(
        request.POST or None, initial={name: getattr(current, name) for name in fields}
    )
    status = 200
    if request.method == "POST":
        if form.is_valid():
            try:
                free_meals.save_settings(
                    school=school,
                    by=request.user,  # type: ignore[arg-type]
                    request=request,
                    **{name: form.cleaned_data[name].quantize(Decimal("0.01")) for name in fields},
                )
            except ServiceError as exc:
                form.add_error(None, str(exc.message))
                status = exc.status
            else:
                messages.success(request, _("Saved."))
                return redirect("canteen:settings")
        else:
            status = 422
    return school_page(request, "canteen/settings.html", {"form": form}, status=status)


def _month(raw: str | None) -> tuple[int, int]:
    """``YYYY-MM``; the previous month by default (the report is due by the 5th)."""
    try:
        year, month = (int(part) for part in (raw or "").split("-"))
        if 2000 <= year <= 2100 and 1 <= month <= 12:
            return year, month
    except ValueError:
        pass
    first = local_today().replace(day=1) - dt.timedelta(days=1)
    return first.year, first.month


def _sees_blocked(request: HttpRequest) -> bool:
    return sees_blocked(request.user, school_of(request))  # type: ignore[arg-type]


def _report_context(request: HttpRequest) -> tuple[Any, int, int]:
    year, month = _month(request.GET.get("month"))
    return school_of(request), year, month


@staff_view(Perm.CANTEEN_REPORTS)
@require_GET
def report(request: HttpRequest) -> HttpResponse:
    school, year, month = _report_context(request)
    lines = list(free_meals.report_lines(school, year, month, show_blocked=_sees_blocked(request)))
    if lines:
        audit.record_list(request=request, what="canteen_free_meal_report", shown=len(lines))
    first = dt.date(year, month, 1)
    return school_page(
        request,
        "canteen/free_meal_report.html",
        {
            "lines": lines,
            "total": sum((line.cost for line in lines), Decimal(0)),
            "month": f"{year:04d}-{month:02d}",
            "first": first,
            "previous": (first - dt.timedelta(days=1)).strftime("%Y-%m"),
            "next": (first + dt.timedelta(days=32)).strftime("%Y-%m"),
            "due": (first + dt.timedelta(days=32)).replace(day=5),
        },
    )


def _download(request: HttpRequest, body: bytes, content_type: str, extension: str) -> HttpResponse:
    school, year, month = _report_context(request)
    audit.record_list(request=request, what="canteen_free_meal_report", action=audit.Action.EXPORT)
    response = HttpResponse(body, content_type=content_type)
    name = f"free-meals-{school.bin}-{year:04d}-{month:02d}.{extension}"
    response["Content-Disposition"] = f'attachment; filename="{name}"'
    return response


@staff_view(Perm.CANTEEN_REPORTS)
@require_GET
def report_csv(request: HttpRequest) -> HttpResponse:
    school, year, month = _report_context(request)
    body = free_meals.report_csv(school, year, month, show_blocked=_sees_blocked(request))
    return _download(request, body, "text/csv; charset=utf-8", "csv")


@staff_view(Perm.CANTEEN_REPORTS)
@require_GET
def report_xlsx(request: HttpRequest) -> HttpResponse:
    school, year, month = _report_context(request)
    body = free_meals.report_xlsx(school, year, month, show_blocked=_sees_blocked(request))
    xlsx = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
    return _download(request, body, xlsx, "xlsx")
