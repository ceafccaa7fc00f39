"""Subject rights in the parents' API: see and export what is held, file requests.

Everything here serves the signed-in user, for themselves ("me") and the children they
are a legal representative of (by pupil id); anything else is refused with 403
``not_representative`` and logged.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.http import HttpRequest
from ninja import Router, Schema, Status

from kezekshi.accounts.api import AUTH, client_ip
from kezekshi.accounts.decorators import signed_in_api
from kezekshi.accounts.models import User
from kezekshi.privacy import requests as subject_requests
from kezekshi.privacy import subject_data
from kezekshi.privacy.models import SubjectRequest
from kezekshi.privacy.services import Context

router = Router(tags=["subject rights"], auth=AUTH)


class SubjectOut(Schema):
    key: str
    name: str
    is_self: bool
    blocked: bool
    schools: list[dict[str, Any]]


class SectionOut(Schema):
    key: str
    title: str
    items: list[dict[str, Any]]


class SubjectDataOut(Schema):
    format: str
    version: int
    generated_at: str
    subject: dict[str, str]
    sections: list[SectionOut]


class FamilyDataOut(Schema):
    format: str
    version: int
    generated_at: str
    subjects: list[SubjectDataOut]


class RequestIn(Schema):
    kind: str
    subject: str = subject_data.SELF
    school_id: int | None = None
    message: str = ""
    # Corrections: field → proposed value (kind "rectify").
    changes: dict[str, str] = {}
    # Withdrawals: which consent (kind "withdraw").
    consent_kind: str = ""


class RequestOut(Schema):
    id: int
    kind: str
    kind_label: str
    status: str
    status_label: str
    subject_person_id: int | None
    school_id: int | None
    message: str
    received: dt.datetime
    deadline: dt.datetime
    resolved: dt.datetime | None
    answer: str


class ContactIn(Schema):
    email: str | None = None
    language: str | None = None


class ContactOut(Schema):
    changed: list[str]
    email: str | None
    language: str


class Error(Schema):
    code: str
    message: str


def _user(request: HttpRequest) -> User:
    user = request.auth  # type: ignore[attr-defined]
    assert isinstance(user, User)
    return user


def request_out(row: SubjectRequest) -> dict[str, Any]:
    return {
        "id": row.pk,
        "kind": row.kind,
        "kind_label": row.get_kind_display(),
        "status": row.status,
        "status_label": row.get_status_display(),
        "subject_person_id": row.subject_person_id,
        "school_id": row.school_id,
        "message": row.payload.get("message", ""),
        "received": row.created_at,
        "deadline": row.deadline,
        "resolved": row.resolved_at,
        "answer": row.resolution,
    }


@router.get("/subjects", response=list[SubjectOut], summary="Whose data you may act for")
@signed_in_api
def subjects(request: HttpRequest) -> list[dict[str, Any]]:
    return [
        {
            "key": subject.key,
            "name": subject_data.subject_name(subject),
            "is_self": subject.is_self,
            "blocked": subject.blocked,
            "schools": [{"id": p.school_id, "name": p.school.name} for p in subject.persons],
        }
        for subject in subject_data.subjects_of(_user(request))
    ]


@router.get(
    "/subjects/{subject}/data",
    response={200: SubjectDataOut, 403: Error},
    summary="Everything held about you or your child",
)
@signed_in_api
def subject_everything(request: HttpRequest, subject: str) -> dict[str, Any]:
    user = _user(request)
    found = subject_data.subject_for(user, subject, action="privacy:export", request=request)
    document = subject_data.export(found)
    subject_data.record_export([found], user=user, form="api", request=request)
    return document


@router.get("/export", response=FamilyDataOut, summary="Everything held about your family")
@signed_in_api
def family(request: HttpRequest) -> dict[str, Any]:
    user = _user(request)
    document = subject_data.family_export(user)
    subject_data.record_export(
        subject_data.subjects_of(user), user=user, form="api", request=request
    )
    return document


@router.get("/requests", response=list[RequestOut], summary="Your requests and their answers")
@signed_in_api
def list_requests(request: HttpRequest) -> list[dict[str, Any]]:
    rows: dict[int, SubjectRequest] = {}
    for subject in subject_data.subjects_of(_user(request)):
        rows.update({row.pk: row for row in subject_data.requests_about(subject)})
    return [request_out(row) for row in sorted(rows.values(), key=lambda row: -row.pk)]


@router.post(
    "/requests",
    response={200: RequestOut, 201: RequestOut, 403: Error, 409: Error, 422: Error},
    summary="File a request: access, export, rectify, block, unblock, erase or withdraw",
)
@signed_in_api
def file_request(request: HttpRequest, payload: RequestIn) -> Status[dict[str, Any]]:
    """201 with the new request (some are answered at once: an erasure the law does not
    allow, a consent withdrawal); 200 with the open one when it was filed already."""
    user = _user(request)
    subject = subject_data.subject_for(
        user, payload.subject, action=f"privacy:{payload.kind}", request=request
    )
    if payload.kind == SubjectRequest.Kind.RECTIFY:
        filed = subject_requests.request_correction(
            subject=subject,
            changes=payload.changes,
            school_id=payload.school_id,
            message=payload.message,
            request=request,
        )
    elif payload.kind == SubjectRequest.Kind.WITHDRAW:
        filed = subject_requests.withdraw(
            subject=subject,
            consent_kind=payload.consent_kind,
            context=Context(
                phone=user.phone or "",
                ip=client_ip(request),
                user_agent=request.headers.get("User-Agent", ""),
            ),
            request=request,
        )
    else:
        filed = subject_requests.file_request(
            subject=subject,
            kind=payload.kind,
            school_id=payload.school_id,
            message=payload.message,
            request=request,
        )
    return Status(201 if filed.created else 200, request_out(filed.request))


@router.patch(
    "/me/contact",
    response={200: ContactOut, 409: Error, 422: Error},
    summary="Change your own e-mail or language at once",
)
@signed_in_api
def change_contact(request: HttpRequest, payload: ContactIn) -> dict[str, Any]:
    user = _user(request)
    changed = subject_requests.change_contact(
        user=user, email=payload.email, language=payload.language, request=request
    )
    return {"changed": changed, "email": user.email, "language": user.language}
