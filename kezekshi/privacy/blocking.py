"""What blocking a person's data means for what staff may see (see docs/privacy.md).

Blocking (``Person.blocked_at``) is a temporary stop of collecting, changing, using and
passing on the person's data. Safety is the one exception: the guard at the door, the
school's administrator and the data-protection officer still see that the child is
there, marked as blocked, without contact details or anything else. Every other staff
role sees a blocked person nowhere. The writes (block, unblock) are in
``kezekshi.privacy.requests``.
"""

from __future__ import annotations

from typing import TypeVar

from django.db.models import Model, QuerySet

from kezekshi.accounts.models import User
from kezekshi.accounts.permissions import roles_in
from kezekshi.accounts.roles import Role
from kezekshi.core.models import School

# Roles that need a blocked person for safety: who is in the building, who may take the
# child home, and the people answering for both. Not a permission of its own: it is the
# same three roles in every school, and blocking must not be something a role can be
# granted for convenience.
SAFETY_ROLES = frozenset({Role.GUARD, Role.SCHOOL_ADMIN, Role.DPO, Role.PLATFORM_OPERATOR})

Row = TypeVar("Row", bound=Model)


def sees_blocked(user: User, school: School) -> bool:
    """Whether ``user`` may see blocked persons of ``school`` (marked, without contacts)."""
    return bool(roles_in(user, school) & SAFETY_ROLES)


def hide_blocked(rows: QuerySet[Row], *, person: str = "person") -> QuerySet[Row]:
    """``rows`` without those whose person (reached through ``person``) is blocked."""
    return rows.filter(**{f"{person}__blocked_at__isnull": True})


def visible_to(
    rows: QuerySet[Row], *, user: User, school: School, person: str = "person"
) -> QuerySet[Row]:
    """``rows`` as ``user`` may see them: blocked persons only for the safety roles."""
    return rows if sees_blocked(user, school) else hide_blocked(rows, person=person)
