"""Who may do what, where. Every view and API handler asks here."""

from __future__ import annotations

from django.db.models import QuerySet

from kezekshi.accounts.models import Membership, User
from kezekshi.accounts.roles import ROLE_PERMISSIONS, Perm, Role
from kezekshi.core.models import School


def roles_in(user: User, school: School) -> set[Role]:
    """The roles ``user`` holds in ``school`` (a platform operator holds its own everywhere)."""
    if not user.is_authenticated or not user.is_active:
        return set()
    roles: set[Role] = set()
    for membership in Membership.objects.filter(user=user).select_related("school"):
        role = Role(membership.role)
        in_school = membership.school_id == school.pk
        in_region = role == Role.AUTHORITY_VIEWER and membership.region_id == school.region_id
        if role == Role.PLATFORM_OPERATOR or in_school or in_region:
            roles.add(role)
    return roles


def has_perm(user: User, perm: Perm, school: School) -> bool:
    return any(perm in ROLE_PERMISSIONS[role] for role in roles_in(user, school))


def staff_schools(user: User) -> QuerySet[School]:
    """Schools whose staff portal ``user`` may open, for the school switcher."""
    if not user.is_authenticated:
        return School.objects.none()
    memberships = Membership.objects.filter(user=user)
    if memberships.filter(role=Role.PLATFORM_OPERATOR).exists():
        return School.objects.filter(is_active=True)
    region_ids = memberships.filter(role=Role.AUTHORITY_VIEWER).values("region_id")
    school_ids = memberships.exclude(role=Role.PARENT).values("school_id")
    return School.objects.filter(is_active=True).filter(pk__in=school_ids) | School.objects.filter(
        is_active=True, region_id__in=region_ids
    )
