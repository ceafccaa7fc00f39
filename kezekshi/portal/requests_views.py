"""The data-protection officer's queue of subject requests: overdue first, answer each.

One page lists the school's requests (the platform operator also sees requests about
accounts alone) and, with ``?request=<id>``, shows one with what it asks for beside
what is on record; answering posts to the second page. Opening a request about a person
is a read of their data and goes into the audit log.
"""

from __future__ import annotations

from django.conf import settings
from django.contrib import messages
from django.core.exceptions import ValidationError
from django.core.paginator import Paginator
from django.db.models import Q
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.http import urlencode
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_POST

from kezekshi.accounts.decorators import staff_view
from kezekshi.accounts.models import User
from kezekshi.accounts.permissions import roles_in
from kezekshi.accounts.roles import Perm, Role
from kezekshi.core.errors import ServiceError
from kezekshi.core.models import School
from kezekshi.people.models import Pupil
from kezekshi.privacy import audit
from kezekshi.privacy import requests as subject_requests
from kezekshi.privacy.models import AuditEntry, Kind, SubjectRequest

STATUSES = ("open", "closed", "all")


def _user(request: HttpRequest) -> User:
    user = request.user
    assert isinstance(user, User)
    return user


def _platform(request: HttpRequest, school: School) -> bool:
    """Platform operators also answer requests about accounts that no school keeps."""
    return Role.PLATFORM_OPERATOR in roles_in(_user(request), school)


def _find(request: HttpRequest, school: School, raw: str) -> SubjectRequest:
    scope = Q(school=school)
    if _platform(request, school):
        scope |= Q(school__isnull=True)
    found = (
        SubjectRequest.objects.filter(scope, pk=int(raw) if raw.isdigit() else 0)
        .select_related("subject_person__school", "requested_by", "resolved_by", "school")
        .first()
    )
    if found is None:
        raise Http404
    return found


def _detail(request: HttpRequest, school: School, row: SubjectRequest) -> dict[str, object]:
    person = row.subject_person
    if person is not None:
        audit.record(
            action=AuditEntry.Action.VIEW,
            actor=_user(request),
            school=person.school,
            person=person,
            target=f"subject request {row.pk}",
            request=request,
        )
    pupil = Pupil.objects.filter(person=person).select_related("school_class").first()
    return {
        "row": row,
        "person": person,
        "pupil": pupil,
        "overdue": subject_requests.is_overdue(row),
        "changes": subject_requests.review_rows(row) if row.kind == "rectify" else [],
        "message": row.payload.get("message", ""),
        "consent_kind": _consent_label(row.payload.get("consent_kind", "")),
    }


def _consent_label(value: str) -> str:
    return str(Kind(value).label) if value in Kind.values else value


@staff_view(Perm.PRIVACY_REQUESTS)
@require_GET
def request_queue(request: HttpRequest) -> HttpResponse:
    school = request.school  # type: ignore[attr-defined]
    status = request.GET.get("status", "open")
    if status not in STATUSES:
        status = "open"
    rows = subject_requests.queue(
        school, include_platform=_platform(request, school), status=status
    )
    page = Paginator(rows, 50).get_page(request.GET.get("page"))
    now = timezone.now()
    context: dict[str, object] = {
        "school": school,
        "time_zone": settings.SCHOOL_TIME_ZONE,
        "status": status,
        "page": page,
        "rows": [(row, subject_requests.is_overdue(row, now)) for row in page],
        "overdue_count": rows.filter(status="open", deadline__lt=now).count()
        if status != "closed"
        else 0,
    }
    if request.GET.get("request"):
        context["detail"] = _detail(request, school, _find(request, school, request.GET["request"]))
    return render(request, "portal/privacy/requests.html", context)


@staff_view(Perm.PRIVACY_REQUESTS)
@require_POST
def resolve(request: HttpRequest) -> HttpResponse:
    """Answer one request: ``decision`` done or refused, with ``answer`` for the parent."""
    school = request.school  # type: ignore[attr-defined]
    raw = request.POST.get("request", "")
    if not raw:
        return redirect("portal:privacy_requests")
    row = _find(request, school, raw)
    back = f"{reverse('portal:privacy_requests')}?{urlencode({'request': row.pk})}"
    decision = request.POST.get("decision", "")
    if decision not in ("done", "refused"):
        messages.error(request, _("Choose whether the request is done or refused."))
        return redirect(back)
    try:
        subject_requests.resolve_request(
            subject_request=row,
            by=_user(request),
            done=decision == "done",
            answer=request.POST.get("answer", ""),
            request=request,
        )
    except ServiceError as exc:
        messages.error(request, str(exc.message))
        return redirect(back)
    except ValidationError as exc:
        messages.error(request, " ".join(exc.messages))
        return redirect(back)
    messages.success(request, _("Request No. %(number)d answered.") % {"number": row.pk})
    return redirect("portal:privacy_requests")
