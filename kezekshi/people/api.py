"""Staff API over classes and pupils; parents' API over their own children."""

from __future__ import annotations

import datetime as dt

from django.db.models import Count, Q
from django.http import HttpRequest
from django.shortcuts import get_object_or_404
from ninja import Router, Schema

from kezekshi.accounts.api import AUTH
from kezekshi.accounts.decorators import school_api, signed_in_api
from kezekshi.accounts.models import Membership, User
from kezekshi.accounts.roles import Perm
from kezekshi.people import selectors
from kezekshi.people.models import Pupil, SchoolClass
from kezekshi.privacy import audit
from kezekshi.privacy.blocking import visible_to

router = Router(tags=["people"], auth=AUTH)


class ClassOut(Schema):
    id: int
    grade: int
    letter: str
    shift: int
    language: str
    pupils: int


class PupilOut(Schema):
    id: int
    last_name: str
    first_name: str
    patronymic: str
    birth_date: dt.date | None
    school_class: str | None
    account_number: str
    blocked: bool = False


class ChildOut(PupilOut):
    school_id: int
    school_name: str


class MeOut(Schema):
    id: int
    phone: str | None
    email: str | None
    full_name: str
    language: str
    roles: list[dict[str, object]]
    children: list[ChildOut]


def _pupil_out(pupil: Pupil) -> dict[str, object]:
    person = pupil.person
    return {
        "id": pupil.pk,
        "last_name": person.last_name,
        "first_name": person.first_name,
        "patronymic": person.patronymic,
        "birth_date": person.birth_date,
        "school_class": str(pupil.school_class) if pupil.school_class else None,
        "account_number": pupil.account_number,
        "blocked": person.blocked_at is not None,
    }


def _masked(pupil: Pupil) -> dict[str, object]:
    """A blocked pupil as the safety roles see them: who and which class, nothing more."""
    shown = _pupil_out(pupil)
    if pupil.person.blocked_at is not None:
        shown.update(birth_date=None, account_number="")
    return shown


@router.get("/schools/{school_id}/classes", response=list[ClassOut], summary="Classes")
@school_api(Perm.PEOPLE_VIEW)
def list_classes(request: HttpRequest, school_id: int) -> list[dict[str, object]]:
    school = request.school  # type: ignore[attr-defined]
    classes = selectors.classes_of(school).annotate(
        active_pupils=Count("pupils", filter=Q(pupils__is_active=True))
    )
    return [
        {
            "id": c.pk,
            "grade": c.grade,
            "letter": c.letter,
            "shift": c.shift,
            "language": c.language,
            "pupils": c.active_pupils,
        }
        for c in classes
    ]


@router.get("/schools/{school_id}/pupils", response=list[PupilOut], summary="Pupils")
@school_api(Perm.PEOPLE_VIEW)
def list_pupils(
    request: HttpRequest, school_id: int, class_id: int | None = None, search: str = ""
) -> list[dict[str, object]]:
    school = request.school  # type: ignore[attr-defined]
    school_class = None
    if class_id is not None:
        school_class = get_object_or_404(SchoolClass, pk=class_id, school=school)
    pupils = selectors.pupils_of(school, school_class=school_class, search=search)
    # A list of names is a read of personal data: one entry per call, with its filters
    # (not one per pupil: a class list would write thirty).
    audit.record(
        action=audit.Action.VIEW,
        actor=request.user,  # type: ignore[arg-type]
        school=school,
        target=request.path,
        details={"list": "pupils", "class_id": class_id, "search": search},
        request=request,
    )
    # Blocked pupils: left out, or masked for the roles that need them for safety.
    pupils = visible_to(pupils, user=request.user, school=school)  # type: ignore[arg-type]
    return [_masked(pupil) for pupil in pupils[:500]]


@router.get("/me", response=MeOut, summary="The signed-in user, roles and children")
@signed_in_api
def me(request: HttpRequest) -> dict[str, object]:
    user = request.user
    assert isinstance(user, User)
    memberships = Membership.objects.filter(user=user).select_related("school", "region")
    children = [
        {**_pupil_out(p), "school_id": p.school_id, "school_name": p.school.name}
        for p in selectors.children_of(user)
    ]
    return {
        "id": user.pk,
        "phone": user.phone,
        "email": user.email,
        "full_name": user.full_name,
        "language": user.language,
        "roles": [
            {
                "role": m.role,
                "school_id": m.school_id,
                "region_id": m.region_id,
                "label": m.get_role_display(),
            }
            for m in memberships
        ],
        "children": children,
    }
