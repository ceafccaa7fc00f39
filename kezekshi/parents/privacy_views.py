"""The parents' side of subject rights: see what is held, take a copy, file requests.

For the parent ("me") and each child they are a legal representative of (by pupil id).
The pages parse, call ``privacy.subject_data`` or ``privacy.requests``, and render.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from functools import wraps
from typing import Any

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.core.serializers.json import DjangoJSONEncoder
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils import timezone
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from kezekshi.accounts.api import client_ip
from kezekshi.accounts.decorators import public_view
from kezekshi.accounts.models import User
from kezekshi.core.errors import ServiceError
from kezekshi.parents.lookups import signed_in_user
from kezekshi.people.models import SchoolClass, Sex
from kezekshi.privacy import requests as subject_requests
from kezekshi.privacy import subject_data
from kezekshi.privacy.models import SubjectRequest
from kezekshi.privacy.services import Context
from kezekshi.privacy.subject_data import Subject

RequestKind = SubjectRequest.Kind
View = Callable[..., HttpResponse]


def _refused(request: HttpRequest, exc: ServiceError) -> HttpResponse:
    return render(request, "parents/privacy/refused.html", {"error": exc}, status=exc.status)


def for_subject(action: str) -> Callable[[View], View]:
    """Resolve the ``subject`` URL part ("me" or a child's pupil id) for the signed-in user.

    Someone else's child, or a child the user is not a legal representative of, gets a
    403 page; the refusal is in the audit log.
    """

    def decorate(view: View) -> View:
        @wraps(view)
        def wrapper(request: HttpRequest, subject: str, *args: Any, **kwargs: Any) -> HttpResponse:
            try:
                found = subject_data.subject_for(
                    signed_in_user(request), subject, action=action, request=request
                )
            except ServiceError as exc:
                return _refused(request, exc)
            return view(request, found, *args, **kwargs)

        return wrapper

    return decorate


@public_view
@login_required(login_url="parents:home")
@require_GET
def index(request: HttpRequest) -> HttpResponse:
    """Whose data the parent may see, and every request they filed with its answer."""
    subjects = subject_data.subjects_of(signed_in_user(request))
    rows: dict[int, SubjectRequest] = {}
    for subject in subjects:
        rows.update({row.pk: row for row in subject_data.requests_about(subject)})
    now = timezone.now()
    listed = [
        (row, subject_requests.is_overdue(row, now))
        for row in sorted(rows.values(), key=lambda row: -row.pk)
    ]
    return render(
        request,
        "parents/privacy/index.html",
        {
            "subjects": subjects,
            "requests": listed,
            "deadline_days": _deadline_days(),
            "time_zone": settings.SCHOOL_TIME_ZONE,
        },
    )


def _deadline_days() -> list[tuple[str, int]]:
    return [
        (str(RequestKind(kind).label), days)
        for kind, days in subject_requests.DEADLINE_DAYS.items()
    ]


def _subject_page(
    request: HttpRequest, subject: Subject, *, error: str = "", status: int = 200
) -> HttpResponse:
    held = subject_data.held_about(subject)
    return render(
        request,
        "parents/privacy/subject.html",
        {
            "subject": subject,
            "name": subject_data.subject_name(subject),
            "sections": [(found.section, *found.table()) for found in held],
            "withdrawable": subject_requests.withdrawable_kinds(subject),
            "schools": [(p.school_id, p.school.name) for p in subject.persons],
            "error": error,
            "language_choices": User._meta.get_field("language").choices,
        },
        status=status,
    )


@public_view
@login_required(login_url="parents:home")
@require_GET
@for_subject("privacy:view")
def subject_page(request: HttpRequest, subject: Subject) -> HttpResponse:
    return _subject_page(request, subject)


def _download(document: dict[str, Any], name: str) -> HttpResponse:
    body = json.dumps(document, cls=DjangoJSONEncoder, ensure_ascii=False, indent=2)
    response = HttpResponse(body, content_type="application/json; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="{name}"'
    response["Cache-Control"] = "no-store"
    return response


@public_view
@login_required(login_url="parents:home")
@require_GET
@for_subject("privacy:export")
def export_json(request: HttpRequest, subject: Subject) -> HttpResponse:
    document = subject_data.export(subject)
    subject_data.record_export(
        [subject], user=signed_in_user(request), form="json", request=request
    )
    return _download(document, f"kezekshi-{subject.key}-{timezone.now():%Y%m%d}.json")


@public_view
@login_required(login_url="parents:home")
@require_GET
def family_export(request: HttpRequest) -> HttpResponse:
    """The parent's own data and every represented child's, in one JSON file."""
    user = signed_in_user(request)
    document = subject_data.family_export(user)
    subject_data.record_export(
        subject_data.subjects_of(user), user=user, form="json", request=request
    )
    return _download(document, f"kezekshi-family-{timezone.now():%Y%m%d}.json")


@public_view
@login_required(login_url="parents:home")
@require_GET
@for_subject("privacy:export")
def print_page(request: HttpRequest, subject: Subject) -> HttpResponse:
    """Everything held, as a page to read on paper (the browser's Print / Save as PDF)."""
    held = subject_data.held_about(subject)
    subject_data.record_export(
        [subject], user=signed_in_user(request), form="print", request=request
    )
    response = render(
        request,
        "parents/privacy/print.html",
        {
            "subject": subject,
            "name": subject_data.subject_name(subject),
            "sections": [(found.section, *found.table()) for found in held],
            "generated_at": timezone.now(),
            "time_zone": settings.SCHOOL_TIME_ZONE,
        },
    )
    response["Cache-Control"] = "no-store"
    return response


def _school_id(request: HttpRequest) -> int | None:
    raw = request.POST.get("school", "")
    return int(raw) if raw.isdecimal() else None


def _filed_message(request: HttpRequest, filed: subject_requests.Filed) -> None:
    row = filed.request
    if row.status == SubjectRequest.Status.REFUSED:
        messages.error(request, _("Request refused: %(reason)s") % {"reason": row.resolution})
    elif row.status == SubjectRequest.Status.DONE:
        messages.success(request, row.resolution)
    elif filed.created:
        messages.success(
            request,
            _("Request No. %(number)d received. The answer is due by %(deadline)s.")
            % {"number": row.pk, "deadline": subject_data.display(row.deadline)},
        )
    else:
        messages.info(
            request,
            _("This request (No. %(number)d) was received already and is being handled.")
            % {"number": row.pk},
        )


@public_view
@login_required(login_url="parents:home")
@require_POST
@for_subject("privacy:request")
def file_request(request: HttpRequest, subject: Subject) -> HttpResponse:
    """Access, export, block, unblock or erase: one form, the kind in ``kind``."""
    try:
        filed = subject_requests.file_request(
            subject=subject,
            kind=request.POST.get("kind", ""),
            school_id=_school_id(request),
            message=request.POST.get("message", ""),
            request=request,
        )
    except ServiceError as exc:
        return _subject_page(request, subject, error=str(exc.message), status=exc.status)
    _filed_message(request, filed)
    return redirect("parents:privacy_subject", subject=subject.key)


@public_view
@login_required(login_url="parents:home")
@require_POST
@for_subject("privacy:withdraw")
def withdraw(request: HttpRequest, subject: Subject) -> HttpResponse:
    user = signed_in_user(request)
    context = Context(
        phone=user.phone or "",
        ip=client_ip(request),
        user_agent=request.headers.get("User-Agent", ""),
    )
    try:
        filed = subject_requests.withdraw(
            subject=subject,
            consent_kind=request.POST.get("consent_kind", ""),
            context=context,
            request=request,
        )
    except ServiceError as exc:
        return _subject_page(request, subject, error=str(exc.message), status=exc.status)
    _filed_message(request, filed)
    return redirect("parents:privacy_subject", subject=subject.key)


def _correction_fields(subject: Subject, school_id: int | None) -> list[dict[str, Any]]:
    """The correctable fields with the values on record, for the form."""
    person = subject_requests.target_of(subject, school_id)
    if person is None:
        return []
    names = (
        subject_requests.CHILD_FIELDS if subject.pupil is not None else subject_requests.OWN_FIELDS
    )
    fields = []
    for name in names:
        field: dict[str, Any] = {
            "name": name,
            "label": subject_requests.REVIEWED_FIELDS[name],
            "value": subject_requests.current_value(name, person),
        }
        if name == "sex":
            field["choices"] = [("", "—"), *Sex.choices]
        if name == "school_class":
            field["choices"] = [
                (str(c.pk), str(c)) for c in SchoolClass.objects.filter(school=person.school_id)
            ]
        fields.append(field)
    return fields


@public_view
@login_required(login_url="parents:home")
@require_http_methods(["GET", "POST"])
@for_subject("privacy:rectify")
def correct(request: HttpRequest, subject: Subject) -> HttpResponse:
    """Ask the school to correct what it keeps; the school reviews within a working day."""
    school_id = _school_id(request) if request.method == "POST" else None
    if school_id is None and request.GET.get("school", "").isdecimal():
        school_id = int(request.GET["school"])
    errors: dict[str, list[str]] = {}
    error = ""
    status = 200
    try:
        fields = _correction_fields(subject, school_id)
    except ServiceError as exc:
        if exc.code != "choose_school":
            return _refused(request, exc)
        fields, error = [], str(exc.message)
    if request.method == "POST" and fields:
        changes = {field["name"]: request.POST.get(field["name"], "") for field in fields}
        try:
            filed = subject_requests.request_correction(
                subject=subject,
                changes=changes,
                school_id=school_id,
                message=request.POST.get("message", ""),
                request=request,
            )
        except ValidationError as exc:
            errors, status = exc.message_dict, 422
        except ServiceError as exc:
            error, status = str(exc.message), exc.status
        else:
            _filed_message(request, filed)
            return redirect("parents:privacy_subject", subject=subject.key)
        for field in fields:
            field["value"] = request.POST.get(field["name"], field["value"])
    for field in fields:
        field["errors"] = errors.get(field["name"], [])
    return render(
        request,
        "parents/privacy/correct.html",
        {
            "subject": subject,
            "name": subject_data.subject_name(subject),
            "fields": fields,
            "school_id": school_id,
            "schools": [(p.school_id, p.school.name) for p in subject.persons],
            "error": error,
            "other_errors": errors.get("__all__", []),
        },
        status=status,
    )


@public_view
@login_required(login_url="parents:home")
@require_POST
def contact(request: HttpRequest) -> HttpResponse:
    """The parent's own e-mail and language: changed at once, no request needed."""
    user = signed_in_user(request)
    subject = subject_data.own_subject(user)
    try:
        changed = subject_requests.change_contact(
            user=user,
            email=request.POST.get("email"),
            language=request.POST.get("language") or None,
            request=request,
        )
    except ValidationError as exc:
        return _subject_page(request, subject, error=" ".join(exc.messages), status=422)
    except ServiceError as exc:
        return _subject_page(request, subject, error=str(exc.message), status=exc.status)
    if changed:
        messages.success(request, _("Your contact details are saved."))
    return redirect("parents:privacy_subject", subject=subject_data.SELF)
