"""The parents' app: a child's attendance for the month, and the forms to excuse an
absence and to let the child leave school today (an exit permit).

Only the signed-in guardian's own children (``children_of``); a child whose data are
blocked is shown only to the legal representatives. Excusing and permits are for legal
representatives (``access.excuses`` says so). The consent gate guards every page here.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from django import forms
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_GET, require_http_methods

from kezekshi.access import attendance, excuses
from kezekshi.access.attendance import Mark
from kezekshi.access.decisions import local_time
from kezekshi.access.models import ExitPermit
from kezekshi.accounts.decorators import public_view
from kezekshi.core.errors import ServiceError
from kezekshi.parents.lookups import openable_child, represents, signed_in_user
from kezekshi.people.models import Pupil

# Days of the month a parent needs to see: the ones with school or with an excuse.
SHOWN = {Mark.PRESENT, Mark.LATE, Mark.ABSENT, Mark.EXCUSED, Mark.EXPECTED}


def _today() -> dt.date:
    return local_time(timezone.now()).date()


def _month(raw: str | None) -> tuple[int, int]:
    """The ``YYYY-MM`` asked for, in 1900–2100; this month for anything else."""
    year_text, _sep, month_text = (raw or "").partition("-")
    digits = all(part.isascii() and part.isdecimal() for part in (year_text, month_text))
    if digits and len(year_text) == 4 and len(month_text) <= 2:
        year, month = int(year_text), int(month_text)
        if 1900 <= year <= 2100 and 1 <= month <= 12:
            return year, month
    today = _today()
    return today.year, today.month


def _shift_month(year: int, month: int, by: int) -> str:
    index = year * 12 + month - 1 + by
    return f"{index // 12:04d}-{index % 12 + 1:02d}"


@public_view
@login_required(login_url="parents:home")
@require_GET
def child_attendance(request: HttpRequest, pupil_id: int) -> HttpResponse:
    child = openable_child(request, pupil_id)
    year, month = _month(request.GET.get("month"))
    days = attendance.pupil_month(pupil=child, year=year, month=month)
    shown = [day for day in reversed(days) if day.mark in SHOWN]
    counts = {mark: sum(1 for day in days if day.mark == mark) for mark in attendance.COUNTED}
    today = _today()
    permits = ExitPermit.objects.filter(
        pupil=child, date__gte=today, cancelled_at__isnull=True
    ).order_by("date", "leave_from")
    return render(
        request,
        "parents/attendance/month.html",
        {
            "child": child,
            "days": shown,
            "counts": [(mark, counts[mark]) for mark in attendance.COUNTED[:4]],
            "first": dt.date(year, month, 1),
            "previous": _shift_month(year, month, -1),
            "next": _shift_month(year, month, 1),
            "may_act": represents(request, child),
            "permits": list(permits),
        },
    )


class ExcuseForm(forms.Form):
    starts_on = forms.DateField(
        label=gettext_lazy("From"), widget=forms.DateInput(attrs={"type": "date"})
    )
    ends_on = forms.DateField(
        label=gettext_lazy("Until"), widget=forms.DateInput(attrs={"type": "date"})
    )
    reason = forms.CharField(
        label=gettext_lazy("Reason"),
        max_length=300,
        help_text=gettext_lazy("For example: ill, family reasons. No medical details needed."),
    )


class PermitForm(forms.Form):
    leave_from = forms.TimeField(
        label=gettext_lazy("May leave school from"),
        widget=forms.TimeInput(attrs={"type": "time"}),
    )
    reason = forms.CharField(label=gettext_lazy("Reason"), max_length=300)


def _act(
    request: HttpRequest,
    child: Pupil,
    form: forms.Form,
    template: str,
    write: Any,
    done: str,
) -> HttpResponse:
    status = 200
    if request.method == "POST":
        if form.is_valid():
            try:
                write(form.cleaned_data)
            except ServiceError as exc:
                form.add_error(None, str(exc.message))
                status = exc.status
            else:
                messages.success(request, done)
                return redirect(reverse("parents:child_attendance", args=[child.pk]))
        else:
            status = 422
    return render(request, template, {"child": child, "form": form}, status=status)


@public_view
@login_required(login_url="parents:home")
@require_http_methods(["GET", "POST"])
def child_excuse(request: HttpRequest, pupil_id: int) -> HttpResponse:
    """Excuse the child's absence: today, or a range of days, with a reason."""
    child = openable_child(request, pupil_id)
    today = _today()
    form = ExcuseForm(request.POST or None, initial={"starts_on": today, "ends_on": today})
    return _act(
        request,
        child,
        form,
        "parents/attendance/excuse.html",
        lambda data: excuses.excuse_absence(
            pupil=child,
            starts_on=data["starts_on"],
            ends_on=data["ends_on"],
            reason=data["reason"],
            by=signed_in_user(request),
        ),
        _("The school now knows why your child is away."),
    )


@public_view
@login_required(login_url="parents:home")
@require_http_methods(["GET", "POST"])
def child_exit_permit(request: HttpRequest, pupil_id: int) -> HttpResponse:
    """Let the child leave school today from a time (the turnstile lets them out)."""
    child = openable_child(request, pupil_id)
    form = PermitForm(request.POST or None)
    return _act(
        request,
        child,
        form,
        "parents/attendance/permit.html",
        lambda data: excuses.give_exit_permit(
            pupil=child,
            leave_from=data["leave_from"],
            reason=data["reason"],
            by=signed_in_user(request),
        ),
        _("Your child may leave school today at the time you gave."),
    )
