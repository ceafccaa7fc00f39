"""Reads of people, always scoped by school or by the signed-in guardian."""

from __future__ import annotations

from django.db.models import QuerySet

from kezekshi.accounts.models import User
from kezekshi.core.models import School
from kezekshi.people.models import Pupil, SchoolClass


def classes_of(school: School) -> QuerySet[SchoolClass]:
    return SchoolClass.objects.filter(school=school).select_related("class_teacher__person")


def pupils_of(
    school: School, *, school_class: SchoolClass | None = None, search: str = ""
) -> QuerySet[Pupil]:
    pupils = Pupil.objects.filter(school=school, is_active=True).select_related(
        "person", "school_class"
    )
    if school_class is not None:
        pupils = pupils.filter(school_class=school_class)
    if search:
        pupils = pupils.filter(person__last_name__istartswith=search)
    return pupils.order_by("school_class__grade", "school_class__letter", "person__last_name")


def children_of(user: User) -> QuerySet[Pupil]:
    """Every pupil the user is a guardian of, across schools."""
    return (
        Pupil.objects.filter(guardianships__guardian__person__user=user, is_active=True)
        .select_related("person", "school_class", "school")
        .distinct()
        .order_by("person__birth_date")
    )
