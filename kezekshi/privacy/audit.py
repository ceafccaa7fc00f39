"""The audit log: who did what to whose personal data. Every write goes through ``record``."""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest
from django.utils import timezone

from kezekshi.accounts.models import User
from kezekshi.core.models import School
from kezekshi.people.models import Person
from kezekshi.privacy import ledger
from kezekshi.privacy.models import AuditEntry

Action = AuditEntry.Action


def record(
    *,
    action: str,
    actor: User | None,
    school: School | None,
    person: Person | None = None,
    target: str = "",
    details: dict[str, Any] | None = None,
    request: HttpRequest | None = None,
) -> AuditEntry:
    """Append one entry to the school's audit chain, in the caller's transaction.

    Never skipped: a read that must be audited and an audit that fails fail together.
    """
    ip = request.META.get("REMOTE_ADDR") if request is not None else None
    return ledger.append(
        AuditEntry(
            school=school,
            actor=actor if actor is not None and actor.is_authenticated else None,
            action=action,
            person=person,
            person_label=person.full_name[:300] if person is not None else "",
            target=target[:200],
            details=details or {},
            ip=ip or None,
            created_at=timezone.now(),
        )
    )


def record_list(
    *, request: HttpRequest, what: str, action: str = Action.VIEW, **details: Any
) -> AuditEntry:
    """One entry for a page (or export) that shows a list of named people: a read too."""
    return record(
        action=action,
        actor=request.user,  # type: ignore[arg-type]
        school=request.school,  # type: ignore[attr-defined]
        target=request.path,
        details={"list": what, **details},
        request=request,
    )
