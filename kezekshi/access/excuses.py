"""Writes about a pupil's absence and leave: excuses and exit permits.

Who may write: a legal representative of the child, or a staff member holding
``Perm.ATTENDANCE_EXCUSE`` for the pupil's class (the class teacher of that class, the
school admin; see ``attendance.classes_for``). Each function is one transaction with
keyword-only arguments and leaves an entry in the audit log.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from kezekshi.access.attendance import classes_for
from kezekshi.access.decisions import local_time
from kezekshi.access.models import Excuse, ExitPermit
from kezekshi.accounts.models import User
from kezekshi.accounts.roles import Perm
from kezekshi.core.errors import Forbidden, ServiceError
from kezekshi.people.models import Guardianship, Pupil
from kezekshi.privacy import audit

# A guardian or teacher excuses recent and coming days, not a term in advance.
EXCUSE_MAX_DAYS = 62
EXCUSE_PAST_DAYS = 31
EXCUSE_AHEAD_DAYS = 62
PERMIT_AHEAD_DAYS = 14
REASON_MAX = 300


def _today() -> dt.date:
    return local_time(timezone.now()).date()


def _is_guardian(user: User, pupil: Pupil) -> bool:
    return Guardianship.objects.filter(
        pupil=pupil, guardian__person__user=user, is_legal_representative=True
    ).exists()


def _as(user: User, pupil: Pupil) -> str:
    """``"class_teacher"`` for staff of the pupil's class, ``"guardian"`` for a guardian;
    raises ``Forbidden`` for anyone else."""
    if (
        pupil.school_class_id is not None
        and classes_for(user, pupil.school, Perm.ATTENDANCE_EXCUSE)
        .filter(pk=pupil.school_class_id)
        .exists()
    ):
        return "class_teacher"
    if _is_guardian(user, pupil):
        return "guardian"
    raise Forbidden(
        "not_allowed",
        _("Only the child's legal representative or class teacher may do this."),
    )


def _as_for_enrolled(user: User, pupil: Pupil) -> str:
    """As ``_as``; also refuses a pupil who no longer studies here (409 ``not_enrolled``)."""
    issued_as = _as(user, pupil)
    if not pupil.is_active:
        raise ServiceError("not_enrolled", _("The pupil no longer studies here."), status=409)
    return issued_as


def _audit_change(*, by: User, pupil: Pupil, target: str, details: dict[str, Any]) -> None:
    """The audit log entry of a write about ``pupil``. ``details`` never carry the reason
    given: it may tell of an illness; the log says that the row exists, not why."""
    audit.record(
        action=audit.Action.CHANGE,
        actor=by,
        school=pupil.school,
        person=pupil.person,
        target=target,
        details=details,
    )


def _reason(reason: str) -> str:
    text = " ".join(reason.split())
    if not text:
        raise ServiceError("reason_required", _("Say why."), status=422)
    if len(text) > REASON_MAX:
        raise ServiceError(
            "reason_too_long",
            _("Keep the reason under %(count)d characters.") % {"count": REASON_MAX},
            status=422,
        )
    return text


@transaction.atomic
def excuse_absence(
    *, pupil: Pupil, starts_on: dt.date, ends_on: dt.date, reason: str, by: User
) -> Excuse:
    """Excuse the pupil's absence from ``starts_on`` to ``ends_on`` (both included).

    Refuses (``ServiceError``): someone who is neither the child's legal representative
    nor staff with the right for the pupil's class (403 ``not_allowed``); a pupil who no
    longer studies here; reversed dates; more than ``EXCUSE_MAX_DAYS`` days; days more
    than ``EXCUSE_PAST_DAYS`` ago or ``EXCUSE_AHEAD_DAYS`` ahead; an empty reason.
    Excuses may overlap; each is kept as entered.
    """
    issued_as = _as_for_enrolled(by, pupil)
    if ends_on < starts_on:
        raise ServiceError("invalid_dates", _("The last day is before the first."), status=422)
    if (ends_on - starts_on).days + 1 > EXCUSE_MAX_DAYS:
        raise ServiceError(
            "invalid_dates",
            _("An excuse covers at most %(days)d days.") % {"days": EXCUSE_MAX_DAYS},
            status=422,
        )
    today = _today()
    if starts_on < today - dt.timedelta(days=EXCUSE_PAST_DAYS):
        raise ServiceError(
            "invalid_dates",
            _("Days more than %(days)d days ago can no longer be excused here.")
            % {"days": EXCUSE_PAST_DAYS},
            status=422,
        )
    if ends_on > today + dt.timedelta(days=EXCUSE_AHEAD_DAYS):
        raise ServiceError(
            "invalid_dates",
            _("Days more than %(days)d days ahead cannot be excused yet.")
            % {"days": EXCUSE_AHEAD_DAYS},
            status=422,
        )
    excuse = Excuse.objects.create(
        school_id=pupil.school_id,
        pupil=pupil,
        starts_on=starts_on,
        ends_on=ends_on,
        reason=_reason(reason),
        entered_by=by,
    )
    _audit_change(
        by=by,
        pupil=pupil,
        target="access.excuse",
        details={
            "excuse": excuse.pk,
            "from": starts_on.isoformat(),
            "until": ends_on.isoformat(),
            "as": issued_as,
        },
    )
    return excuse


@transaction.atomic
def give_exit_permit(
    *,
    pupil: Pupil,
    leave_from: dt.time,
    reason: str,
    by: User,
    day: dt.date | None = None,
) -> ExitPermit:
    """Let the pupil leave school on ``day`` (today by default) from ``leave_from``.

    Given by the class teacher of the pupil's class, the school admin, or a legal
    representative of the child (403 ``not_allowed`` for anyone else). The turnstile
    lets the pupil out from that time (``decisions``). Refuses days in the past or more
    than ``PERMIT_AHEAD_DAYS`` ahead, a pupil who left the school, and an empty reason.
    """
    issued_as = _as_for_enrolled(by, pupil)
    today = _today()
    day = day or today
    if day < today or day > today + dt.timedelta(days=PERMIT_AHEAD_DAYS):
        raise ServiceError(
            "invalid_date",
            _("A permit is for today or one of the next %(days)d days.")
            % {"days": PERMIT_AHEAD_DAYS},
            status=422,
        )
    permit = ExitPermit.objects.create(
        school_id=pupil.school_id,
        pupil=pupil,
        date=day,
        leave_from=leave_from,
        reason=_reason(reason),
        issued_by=by,
        issued_as=issued_as,
    )
    _audit_change(
        by=by,
        pupil=pupil,
        target="access.exit_permit",
        details={
            "permit": permit.pk,
            "date": day.isoformat(),
            "from": leave_from.strftime("%H:%M"),
            "as": issued_as,
        },
    )
    return permit


@transaction.atomic
def cancel_exit_permit(*, permit: ExitPermit, by: User) -> ExitPermit:
    """Withdraw an exit permit; the turnstile stops honouring it at once. Idempotent.

    Allowed to whoever may give the pupil a permit (403 ``not_allowed`` otherwise).
    A permit already used stays used: cancelling it only stops further use.
    """
    permit = (
        ExitPermit.objects.select_for_update().select_related("pupil__person").get(pk=permit.pk)
    )
    _as(by, permit.pupil)
    if permit.cancelled_at is not None:
        return permit
    permit.cancelled_at = timezone.now()
    permit.save(update_fields=["cancelled_at"])
    _audit_change(
        by=by,
        pupil=permit.pupil,
        target="access.exit_permit",
        details={"permit": permit.pk, "cancelled": True},
    )
    return permit
