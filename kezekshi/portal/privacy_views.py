"""The audit log for the data-protection officer: who read or changed whose data, and when."""

from __future__ import annotations

import csv
import io
import json
import zoneinfo
from typing import Any

from django import forms
from django.conf import settings
from django.core.paginator import Paginator
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse, HttpResponseBadRequest
from django.shortcuts import render
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_GET

from kezekshi.accounts.decorators import staff_view
from kezekshi.accounts.permissions import staff_schools
from kezekshi.accounts.roles import Perm
from kezekshi.privacy import audit
from kezekshi.privacy.audit_log import AuditFilter, entries_of
from kezekshi.privacy.models import AuditEntry

PAGE_SIZE = 50
# One CSV is built in memory; beyond this many entries the officer narrows the dates.
MAX_EXPORT_ENTRIES = 100_000
# A spreadsheet would run a cell that starts with one of these as a formula.
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


class AuditFilterForm(forms.Form):
    person = forms.CharField(label=gettext_lazy("Person"), required=False, max_length=100)
    user = forms.CharField(
        label=gettext_lazy("Staff member (name, e-mail or phone)"), required=False, max_length=100
    )
    action = forms.ChoiceField(
        label=gettext_lazy("Action"),
        required=False,
        choices=[("", gettext_lazy("Any action")), *AuditEntry.Action.choices],
    )
    since = forms.DateField(
        label=gettext_lazy("From"),
        required=False,
        widget=forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d"),
    )
    until = forms.DateField(
        label=gettext_lazy("To"),
        required=False,
        widget=forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d"),
    )

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        if data.get("since") and data.get("until") and data["since"] > data["until"]:
            raise forms.ValidationError(
                gettext_lazy("The first day is after the last one."), code="dates_reversed"
            )
        return data

    def where(self) -> AuditFilter:
        """The filter from the fields that are valid (a wrong one is shown, not applied)."""
        self.is_valid()
        data = self.cleaned_data
        return AuditFilter(
            person=(data.get("person") or "").strip(),
            user=(data.get("user") or "").strip(),
            action=data.get("action") or "",
            since=data.get("since"),
            until=data.get("until"),
        )


@staff_view(Perm.AUDIT_VIEW)
@require_GET
def audit_log(request: HttpRequest) -> HttpResponse:
    """The school's audit log, newest first, filtered by person, staff member, action, days."""
    school = request.school  # type: ignore[attr-defined]
    form = AuditFilterForm(request.GET)
    page = Paginator(entries_of(school, form.where()), PAGE_SIZE).get_page(request.GET.get("page"))
    rows = [(entry, _details_text(entry.details)) for entry in page]
    return render(
        request,
        "portal/privacy/audit_log.html",
        {
            "school": school,
            "schools": staff_schools(request.user),  # type: ignore[arg-type]
            "form": form,
            "page": page,
            "rows": rows,
            "school_time_zone": settings.SCHOOL_TIME_ZONE,
        },
    )


@staff_view(Perm.AUDIT_VIEW)
@require_GET
def audit_export(request: HttpRequest) -> HttpResponse:
    """The filtered log as CSV (UTF-8 with a BOM, «;»). The export is itself an entry."""
    school = request.school  # type: ignore[attr-defined]
    where = AuditFilterForm(request.GET).where()
    entries = entries_of(school, where)
    count = entries.count()
    if count > MAX_EXPORT_ENTRIES:
        message = _(
            "These filters match %(count)s entries; at most %(limit)s can be exported at "
            "once. Choose fewer days."
        ) % {"count": count, "limit": MAX_EXPORT_ENTRIES}
        return HttpResponseBadRequest(message, content_type="text/plain; charset=utf-8")
    content = _csv(entries)
    filename = f"kezekshi-{school.bin}-audit-{timezone.localdate().isoformat()}.csv"
    audit.record(
        action=AuditEntry.Action.EXPORT,
        actor=request.user,  # type: ignore[arg-type]
        school=school,
        target=request.path,
        details={
            "export": "audit log",
            "format": "csv",
            "filename": filename,
            "entries": count,
            "filters": {
                "person": where.person,
                "user": where.user,
                "action": where.action,
                "since": where.since.isoformat() if where.since else "",
                "until": where.until.isoformat() if where.until else "",
            },
        },
        request=request,
    )
    response = HttpResponse(content, content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    return response


def _details_text(details: dict[str, Any]) -> str:
    """``key: value · …`` for the table; nested values as JSON, empty ones left out."""
    shown = []
    for key, value in details.items():
        if value in ("", None):
            continue
        if isinstance(value, dict | list):
            value = json.dumps(value, ensure_ascii=False)
        shown.append(f"{key}: {value}")
    return " · ".join(shown)


def _csv(entries: QuerySet[AuditEntry]) -> bytes:
    """The entries as CSV; with each row's hashes, so the file can be checked against the
    chain later."""
    local = zoneinfo.ZoneInfo(settings.SCHOOL_TIME_ZONE)
    buffer = io.StringIO()
    writer = csv.writer(buffer, delimiter=";")
    writer.writerow(
        [
            _("Entry"),
            _("Time"),
            _("Staff member"),
            _("Action"),
            _("Person"),
            _("Where"),
            _("Details"),
            _("IP address"),
            _("Previous hash"),
            _("Hash"),
        ]
    )
    for entry in entries.iterator(chunk_size=2000):
        actor = entry.actor
        writer.writerow(
            [
                entry.pk,
                entry.created_at.astimezone(local).isoformat(timespec="seconds"),
                _text(str(actor) if actor is not None else _("command line or system")),
                entry.get_action_display(),
                _text(entry.person_label),
                _text(entry.target),
                _text(json.dumps(entry.details, ensure_ascii=False, sort_keys=True)),
                entry.ip or "",
                entry.prev_hash,
                entry.entry_hash,
            ]
        )
    return ("\ufeff" + buffer.getvalue()).encode("utf-8")


def _text(value: str) -> str:
    """Text a spreadsheet shows as text, never runs as a formula."""
    return f"'{value}" if value.startswith(FORMULA_STARTS) else value
