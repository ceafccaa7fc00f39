"""Staff pages of attendance: the school right now, a class's day and month, the staff's
time sheet (each with an XLSX export), and the forms to excuse an absence and to give
or cancel an exit permit.

Class teachers whose only attendance role is class teacher see their own classes
(``attendance.classes_for``); blocked pupils are listed only for the safety roles.
Every named list shown or exported is written to the audit log.
"""

from __future__ import annotations

import datetime as dt
import io
from typing import Any

from django import forms
from django.contrib import messages
from django.db.models import QuerySet
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.http import urlencode
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy, pgettext_lazy
from django.views.decorators.http import require_GET, require_http_methods, require_POST
from openpyxl import Workbook
from openpyxl.cell import WriteOnlyCell
from openpyxl.worksheet._write_only import WriteOnlyWorksheet

from kezekshi.access import attendance, excuses
from kezekshi.access.attendance import COUNTED, Day, Mark
from kezekshi.access.decisions import local_time
from kezekshi.access.models import ExitPermit
from kezekshi.accounts.decorators import staff_view
from kezekshi.accounts.models import User
from kezekshi.accounts.permissions import has_perm
from kezekshi.accounts.roles import Perm
from kezekshi.core.errors import ServiceError
from kezekshi.people.models import Pupil, SchoolClass
from kezekshi.portal.inputs import FIRST_DAY, LAST_DAY, parse_day, parse_id, submitted
from kezekshi.portal.pages import school_of
from kezekshi.privacy import audit
from kezekshi.privacy.blocking import sees_blocked

XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
# A spreadsheet would run a cell that starts with one of these as a formula.
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
SHORT = {
    Mark.PRESENT: pgettext_lazy("attendance mark", "P"),
    Mark.LATE: pgettext_lazy("attendance mark", "L"),
    Mark.ABSENT: pgettext_lazy("attendance mark", "A"),
    Mark.EXCUSED: pgettext_lazy("attendance mark", "E"),
    Mark.EXPECTED: pgettext_lazy("attendance mark", "?"),
    Mark.DAY_OFF: "",
    Mark.UPCOMING: "",
}


def _user(request: HttpRequest) -> User:
    user = request.user
    assert isinstance(user, User)
    return user


def _today() -> dt.date:
    return local_time(timezone.now()).date()


def _date(raw: str | None) -> dt.date:
    """The ISO date asked for, between 1900 and 2100 (a day either side must still be
    a date); today for anything else."""
    return parse_day(raw) or _today()


def _month(raw: str | None) -> tuple[int, int]:
    """The ``YYYY-MM`` asked for, in 1900–2100; this month for anything else."""
    year_text, _sep, month_text = (raw or "").partition("-")
    year, month = parse_id(year_text), parse_id(month_text)
    if year is None or month is None or not 1 <= month <= 12:
        today = _today()
        return today.year, today.month
    if not FIRST_DAY.year <= year <= LAST_DAY.year:
        today = _today()
        return today.year, today.month
    return year, month


def _shift_month(year: int, month: int, by: int) -> str:
    index = year * 12 + month - 1 + by
    return f"{index // 12:04d}-{index % 12 + 1:02d}"


def _chosen_class(
    request: HttpRequest, perm: Perm
) -> tuple[QuerySet[SchoolClass], SchoolClass | None]:
    """The classes the user may open, and the one asked for (the first by default).

    A class the user may not open is a 404, the same as a class that does not exist.
    """
    classes = attendance.classes_for(_user(request), school_of(request), perm)
    raw = request.GET.get("class", "")
    if not raw:
        return classes, classes.first()
    class_id = parse_id(raw)
    if class_id is None:
        raise Http404
    return classes, get_object_or_404(classes, pk=class_id)


def _audit_list(
    request: HttpRequest, *, action: str, what: str, shown: int, **details: Any
) -> None:
    audit.record_list(request=request, what=what, action=action, shown=shown, **details)


def _wants_xlsx(request: HttpRequest) -> bool:
    return request.GET.get("format") == "xlsx"


def _cell(sheet: WriteOnlyWorksheet, value: object) -> object:
    if isinstance(value, str) and value.startswith(FORMULA_STARTS):
        cell = WriteOnlyCell(sheet, value)
        cell.data_type = "s"  # text, never a formula, whatever a name holds
        return cell
    return value


def _xlsx(title: str, header: list[str], rows: list[list[object]], filename: str) -> HttpResponse:
    workbook = Workbook(write_only=True)
    sheet = workbook.create_sheet(title[:31])
    sheet.append(header)
    for row in rows:
        sheet.append([_cell(sheet, value) for value in row])
    buffer = io.BytesIO()
    workbook.save(buffer)
    response = HttpResponse(buffer.getvalue(), content_type=XLSX)
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    response["Cache-Control"] = "no-store"
    return response


def _hhmm(value: dt.time | None) -> str:
    return value.strftime("%H:%M") if value else ""


def _hours(value: dt.timedelta | None) -> str:
    if not value:
        return ""
    minutes = int(value.total_seconds()) // 60
    return f"{minutes // 60}:{minutes % 60:02d}"


def _cell_of(day: Day) -> dict[str, Any]:
    times = " – ".join(part for part in (_hhmm(day.first_in), _hhmm(day.last_out)) if part)
    title = f"{day.date:%d.%m} {day.mark.label}"
    if times:
        title += f" {times}"
    if day.excuse:
        title += f": {day.excuse}"
    return {"day": day, "short": SHORT[day.mark], "title": title, "times": times}


# --- the school right now ------------------------------------------------------------------------


@staff_view(Perm.ATTENDANCE_VIEW)
@require_GET
def dashboard(request: HttpRequest) -> HttpResponse:
    """Today's present, late, absent, excused and expected pupils by class (counts only)."""
    school = school_of(request)
    classes = attendance.classes_for(_user(request), school, Perm.ATTENDANCE_VIEW)
    # Counts only: blocked pupils are counted for every role (never named here).
    report = attendance.school_now(school=school, classes=classes)
    if _wants_xlsx(request):
        header = [_("Class"), *(str(mark.label) for mark in COUNTED), _("Total")]
        rows: list[list[object]] = [
            [str(row.school_class), *(row.counts[mark] for mark in COUNTED), row.total]
            for row in report.classes
        ]
        rows.append([_("Total"), *(report.totals[mark] for mark in COUNTED), report.total])
        return _xlsx(_("Today"), header, rows, f"attendance-{report.date:%Y-%m-%d}.xlsx")
    return render(
        request,
        "portal/attendance/dashboard.html",
        {
            "school": school,
            "report": report,
            "marks": COUNTED,
            "rows": [(row, [row.counts[mark] for mark in COUNTED]) for row in report.classes],
            "totals": [(mark, report.totals[mark]) for mark in COUNTED],
            "can_see_staff": has_perm(_user(request), Perm.SCHOOL_MANAGE, school),
            "can_excuse": has_perm(_user(request), Perm.ATTENDANCE_EXCUSE, school),
        },
    )


# --- a class's day and month ------------------------------------------------------------------


@staff_view(Perm.ATTENDANCE_VIEW)
@require_GET
def class_day(request: HttpRequest) -> HttpResponse:
    school = school_of(request)
    classes, chosen = _chosen_class(request, Perm.ATTENDANCE_VIEW)
    day = _date(request.GET.get("date"))
    report = None
    if chosen is not None:
        report = attendance.class_day(
            school_class=chosen, day=day, include_blocked=sees_blocked(_user(request), school)
        )
        details = {"class_id": chosen.pk, "date": day.isoformat()}
        if _wants_xlsx(request):
            _audit_list(
                request,
                action=audit.Action.EXPORT,
                what="attendance_day",
                shown=len(report.rows),
                form="xlsx",
                **details,
            )
            rows: list[list[object]] = [
                [
                    row.pupil.person.full_name,
                    str(row.days[0].mark.label),
                    _hhmm(row.days[0].first_in),
                    _hhmm(row.days[0].last_out),
                    row.days[0].excuse,
                ]
                for row in report.rows
            ]
            header = [_("Pupil"), _("Mark"), _("First entry"), _("Last exit"), _("Excuse")]
            return _xlsx(
                f"{chosen} {day:%d.%m.%Y}",
                header,
                rows,
                f"attendance-{chosen.grade}-{chosen.pk}-{day:%Y-%m-%d}.xlsx",
            )
        _audit_list(
            request,
            action=audit.Action.VIEW,
            what="attendance_day",
            shown=len(report.rows),
            **details,
        )
    return render(
        request,
        "portal/attendance/day.html",
        {
            "school": school,
            "classes": classes,
            "chosen": chosen,
            "day": day,
            "report": report,
            "rows": [(row.pupil, _cell_of(row.days[0])) for row in report.rows] if report else [],
            "counts": [(mark, report.counts[mark]) for mark in COUNTED] if report else [],
            "previous": day - dt.timedelta(days=1),
            "next": day + dt.timedelta(days=1),
            "can_excuse": has_perm(_user(request), Perm.ATTENDANCE_EXCUSE, school),
        },
    )


@staff_view(Perm.ATTENDANCE_VIEW)
@require_GET
def class_month(request: HttpRequest) -> HttpResponse:
    school = school_of(request)
    classes, chosen = _chosen_class(request, Perm.ATTENDANCE_VIEW)
    year, month = _month(request.GET.get("month"))
    report = None
    if chosen is not None:
        report = attendance.class_month(
            school_class=chosen,
            year=year,
            month=month,
            include_blocked=sees_blocked(_user(request), school),
        )
        details = {"class_id": chosen.pk, "month": f"{year:04d}-{month:02d}"}
        if _wants_xlsx(request):
            _audit_list(
                request,
                action=audit.Action.EXPORT,
                what="attendance_month",
                shown=len(report.rows),
                form="xlsx",
                **details,
            )
            header = [
                _("Pupil"),
                *(f"{day:%d.%m}" for day in report.days),
                *(str(mark.label) for mark in COUNTED[:4]),
            ]
            rows: list[list[object]] = []
            for row in report.rows:
                cells: list[object] = [row.pupil.person.full_name]
                for day in row.days:
                    cell = _cell_of(day)
                    cells.append(f"{cell['short']} {cell['times']}".strip())
                counts = row.counts
                cells += [counts[mark] for mark in COUNTED[:4]]
                rows.append(cells)
            return _xlsx(
                f"{chosen} {month:02d}.{year}",
                header,
                rows,
                f"attendance-{chosen.grade}-{chosen.pk}-{year:04d}-{month:02d}.xlsx",
            )
        _audit_list(
            request,
            action=audit.Action.VIEW,
            what="attendance_month",
            shown=len(report.rows),
            **details,
        )
    return render(
        request,
        "portal/attendance/month.html",
        {
            "school": school,
            "classes": classes,
            "chosen": chosen,
            "month": f"{year:04d}-{month:02d}",
            "first": dt.date(year, month, 1),
            "previous": _shift_month(year, month, -1),
            "next": _shift_month(year, month, 1),
            "report": report,
            "days": list(zip(report.days, report.working, strict=True)) if report else [],
            "rows": [
                (
                    row.pupil,
                    [_cell_of(day) for day in row.days],
                    [row.counts[mark] for mark in COUNTED[:4]],
                )
                for row in report.rows
            ]
            if report
            else [],
            "totals_marks": COUNTED[:4],
        },
    )


# --- the staff's time sheet ---------------------------------------------------------------------


@staff_view(Perm.SCHOOL_MANAGE)
@require_GET
def staff_sheet(request: HttpRequest) -> HttpResponse:
    school = school_of(request)
    year, month = _month(request.GET.get("month"))
    sheet = attendance.staff_month(
        school=school, year=year, month=month, include_blocked=sees_blocked(_user(request), school)
    )
    details = {"month": f"{year:04d}-{month:02d}"}
    if _wants_xlsx(request):
        _audit_list(
            request,
            action=audit.Action.EXPORT,
            what="staff_time_sheet",
            shown=len(sheet),
            form="xlsx",
            **details,
        )
        header = [
            _("Employee"),
            _("Position"),
            _("Date"),
            _("First entry"),
            _("Last exit"),
            _("Hours"),
        ]
        rows: list[list[object]] = []
        for row in sheet:
            for day in row.days:
                if day.first_in or day.last_out:
                    rows.append(
                        [
                            row.staff.person.full_name,
                            row.staff.position,
                            day.date,
                            _hhmm(day.first_in),
                            _hhmm(day.last_out),
                            _hours(day.worked),
                        ]
                    )
            rows.append(
                [
                    row.staff.person.full_name,
                    row.staff.position,
                    _("Total"),
                    "",
                    "",
                    _hours(row.worked),
                ]
            )
        return _xlsx(f"{month:02d}.{year}", header, rows, f"time-sheet-{year:04d}-{month:02d}.xlsx")
    _audit_list(
        request, action=audit.Action.VIEW, what="staff_time_sheet", shown=len(sheet), **details
    )
    days = sheet[0].days if sheet else []
    return render(
        request,
        "portal/attendance/staff.html",
        {
            "school": school,
            "month": f"{year:04d}-{month:02d}",
            "first": dt.date(year, month, 1),
            "previous": _shift_month(year, month, -1),
            "next": _shift_month(year, month, 1),
            "dates": [day.date for day in days],
            "rows": [
                (
                    row.staff,
                    [
                        {
                            "in": _hhmm(day.first_in),
                            "out": _hhmm(day.last_out),
                            "hours": _hours(day.worked),
                        }
                        for day in row.days
                    ],
                    row.days_present,
                    _hours(row.worked),
                )
                for row in sheet
            ],
        },
    )


# --- excuses and exit permits ------------------------------------------------------------------


def _pupil_choices(request: HttpRequest, chosen: SchoolClass | None) -> QuerySet[Pupil]:
    if chosen is None:
        return Pupil.objects.none()
    pupils = Pupil.objects.filter(school_class=chosen, is_active=True).select_related("person")
    if not sees_blocked(_user(request), school_of(request)):
        pupils = pupils.filter(person__blocked_at__isnull=True)
    return pupils.order_by("person__last_name", "person__first_name")


class PupilChoice(forms.ModelChoiceField):  # type: ignore[type-arg]
    def label_from_instance(self, obj: Any) -> str:
        return str(obj.person.full_name)


class ExcuseForm(forms.Form):
    pupil = PupilChoice(label=gettext_lazy("Pupil"), queryset=Pupil.objects.none())
    starts_on = forms.DateField(
        label=gettext_lazy("From"), widget=forms.DateInput(attrs={"type": "date"})
    )
    ends_on = forms.DateField(
        label=gettext_lazy("Until"), widget=forms.DateInput(attrs={"type": "date"})
    )
    reason = forms.CharField(label=gettext_lazy("Reason"), max_length=300)

    def __init__(self, *args: Any, pupils: QuerySet[Pupil], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["pupil"].queryset = pupils  # type: ignore[attr-defined]


class PermitForm(forms.Form):
    pupil = PupilChoice(label=gettext_lazy("Pupil"), queryset=Pupil.objects.none())
    date = forms.DateField(
        label=gettext_lazy("Date"), widget=forms.DateInput(attrs={"type": "date"})
    )
    leave_from = forms.TimeField(
        label=gettext_lazy("May leave from"), widget=forms.TimeInput(attrs={"type": "time"})
    )
    reason = forms.CharField(label=gettext_lazy("Reason"), max_length=300)

    def __init__(self, *args: Any, pupils: QuerySet[Pupil], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["pupil"].queryset = pupils  # type: ignore[attr-defined]


def _class_query(chosen: SchoolClass | None) -> str:
    return f"?{urlencode({'class': chosen.pk})}" if chosen else ""


@staff_view(Perm.ATTENDANCE_EXCUSE)
@require_http_methods(["GET", "POST"])
def excuse(request: HttpRequest) -> HttpResponse:
    classes, chosen = _chosen_class(request, Perm.ATTENDANCE_EXCUSE)
    pupils = _pupil_choices(request, chosen)
    today = _today()
    initial = {
        "pupil": request.GET.get("pupil", ""),
        "starts_on": _date(request.GET.get("date")),
        "ends_on": _date(request.GET.get("date")),
    }
    form = ExcuseForm(request.POST or None, pupils=pupils, initial=initial)
    excused, status = submitted(
        form,
        lambda data: excuses.excuse_absence(
            pupil=data["pupil"],
            starts_on=data["starts_on"],
            ends_on=data["ends_on"],
            reason=data["reason"],
            by=_user(request),
        ),
        posted=request.method == "POST",
    )
    if excused is not None:
        messages.success(request, _("The absence is excused."))
        data = form.cleaned_data
        back = {"class": data["pupil"].school_class_id, "date": data["starts_on"]}
        return redirect(f"{reverse('portal:attendance_day')}?{urlencode(back)}")
    if chosen is not None:
        # The form names the class's pupils: one read per page shown.
        _audit_list(
            request,
            action=audit.Action.VIEW,
            what="excuse_form",
            shown=pupils.count(),
            class_id=chosen.pk,
        )
    return render(
        request,
        "portal/attendance/excuse.html",
        {
            "school": school_of(request),
            "classes": classes,
            "chosen": chosen,
            "form": form,
            "today": today,
        },
        status=status,
    )


@staff_view(Perm.ATTENDANCE_EXCUSE)
@require_http_methods(["GET", "POST"])
def permits(request: HttpRequest) -> HttpResponse:
    """Today's exit permits of the user's classes, and the form to give one."""
    school = school_of(request)
    classes, chosen = _chosen_class(request, Perm.ATTENDANCE_EXCUSE)
    pupils = _pupil_choices(request, chosen)
    today = _today()
    form = PermitForm(
        request.POST or None,
        pupils=pupils,
        initial={"pupil": request.GET.get("pupil", ""), "date": today},
    )
    given_permit, status = submitted(
        form,
        lambda data: excuses.give_exit_permit(
            pupil=data["pupil"],
            day=data["date"],
            leave_from=data["leave_from"],
            reason=data["reason"],
            by=_user(request),
        ),
        posted=request.method == "POST",
    )
    if given_permit is not None:
        messages.success(request, _("The exit permit is given."))
        return redirect(reverse("portal:attendance_permits") + _class_query(chosen))
    given = ExitPermit.objects.filter(
        school=school, date__gte=today, pupil__school_class__in=classes
    ).select_related("pupil__person", "pupil__school_class")
    if not sees_blocked(_user(request), school):
        given = given.filter(pupil__person__blocked_at__isnull=True)
    given_list = list(given.order_by("date", "leave_from", "pk"))
    _audit_list(request, action=audit.Action.VIEW, what="exit_permits", shown=len(given_list))
    return render(
        request,
        "portal/attendance/permits.html",
        {
            "school": school,
            "classes": classes,
            "chosen": chosen,
            "form": form,
            "given": given_list,
        },
        status=status,
    )


@staff_view(Perm.ATTENDANCE_EXCUSE)
@require_POST
def cancel_permit(request: HttpRequest, permit_id: int) -> HttpResponse:
    school = school_of(request)
    classes = attendance.classes_for(_user(request), school, Perm.ATTENDANCE_EXCUSE)
    permit = get_object_or_404(
        ExitPermit, pk=permit_id, school=school, pupil__school_class__in=classes
    )
    try:
        excuses.cancel_exit_permit(permit=permit, by=_user(request))
    except ServiceError as exc:
        messages.error(request, str(exc.message))
    else:
        messages.success(request, _("The exit permit is cancelled."))
    return redirect("portal:attendance_permits")
