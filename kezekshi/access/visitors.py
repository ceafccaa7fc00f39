"""Visitors: registered by the guard or expected by staff, let in with a printed QR pass.

A visitor is a name, a phone, whom they visit and why — never a copy of an ID
document. Registering issues a QR credential valid for the pass window at the doors
given (the school's exit doors by default); the same pass works at a turnstile through
``/access/decide``. Status moves expected → inside → left (or expected → cancelled);
signing out or cancelling blocks the pass at once.

Each write is one transaction with keyword-only arguments.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass, field
from zoneinfo import ZoneInfo

from django.conf import settings
from django.db import transaction
from django.db.models import Q, QuerySet
from django.utils import timezone
from django.utils.translation import gettext as _

from kezekshi.access import services, watchlist
from kezekshi.access.models import Credential, Door, Visitor, WatchAlert
from kezekshi.accounts.models import User
from kezekshi.core.errors import ServiceError
from kezekshi.core.models import School
from kezekshi.core.validators import normalize_phone

# How long a pass lasts when nobody says otherwise.
DEFAULT_WINDOW = dt.timedelta(hours=2)


@dataclass
class Registration:
    visitor: Visitor
    credential: Credential
    alerts: list[WatchAlert] = field(default_factory=list)


def exit_doors(school: School) -> QuerySet[Door]:
    """The doors a visitor's pass opens unless the guard chooses others."""
    return Door.objects.filter(school=school, is_exit=True)


def _doors(school: School, doors: Iterable[Door] | None) -> list[Door]:
    chosen = list(doors) if doors is not None else list(exit_doors(school))
    if any(door.school_id != school.pk for door in chosen):
        raise ServiceError("foreign_door", _("The door belongs to another school."))
    return chosen


@transaction.atomic
def register_visitor(
    *,
    school: School,
    full_name: str,
    phone: str,
    host: str,
    purpose: str,
    by: User,
    valid_from: dt.datetime | None = None,
    valid_until: dt.datetime | None = None,
    doors: Iterable[Door] | None = None,
) -> Registration:
    """Record a visitor (expected) and issue their QR pass for the window and doors.

    The window defaults to now → +2 h, the doors to the school's exit doors. A name or
    phone on the active watch list raises a ``WatchAlert`` (published to the guards'
    live channel on commit); the visitor is still recorded — the guard decides.
    Raises ``ValidationError`` for a malformed phone and ``ServiceError`` for an empty
    name, a window that ends before it starts, or a door of another school.
    """
    name = " ".join(full_name.split())
    if not name:
        raise ServiceError("invalid_full_name", _("Enter the visitor's full name."))
    starts = valid_from or timezone.now()
    ends = valid_until or starts + DEFAULT_WINDOW
    if ends <= starts:
        raise ServiceError("invalid_window", _("The pass must end after it starts."))
    chosen = _doors(school, doors)
    visitor = Visitor.objects.create(
        school=school,
        full_name=name[:300],
        phone=normalize_phone(phone) if phone.strip() else "",
        host=host.strip()[:300],
        purpose=purpose.strip()[:300],
        valid_from=starts,
        valid_until=ends,
        registered_by=by,
    )
    visitor.doors.set(chosen)
    credential = services.qr_credential(visitor=visitor)
    credential.valid_from, credential.valid_until, credential.issued_by = starts, ends, by
    credential.save(update_fields=["valid_from", "valid_until", "issued_by", "changed_at"])
    alerts = watchlist.alert_for_visitor(visitor=visitor)
    # Devices re-sync their credential lists when the version moves (the state endpoint).
    services.bump_rules(school_id=school.pk)
    return Registration(visitor=visitor, credential=credential, alerts=alerts)


def pass_credential(visitor: Visitor) -> Credential | None:
    """The visitor's QR credential while it still opens doors."""
    return Credential.objects.filter(
        visitor=visitor, kind=Credential.Kind.QR, status=Credential.Status.ACTIVE
    ).first()


def pass_text(credential: Credential, *, visitor: Visitor) -> str:
    """The signed text of the printed QR code, good until the pass window ends."""
    remaining = max(visitor.valid_until - timezone.now(), dt.timedelta(0))
    return services.qr_text(credential, valid_for=remaining)


def _locked(visitor: Visitor) -> Visitor:
    return Visitor.objects.select_for_update().get(pk=visitor.pk)


def _block_passes(visitor: Visitor, by: User, reason: str) -> None:
    for credential in Credential.objects.filter(visitor=visitor, status=Credential.Status.ACTIVE):
        services.block_credential(credential=credential, by=by, reason=reason)
    services.bump_rules(school_id=visitor.school_id)


@transaction.atomic
def sign_in_visitor(*, visitor: Visitor, by: User) -> Visitor:
    """The visitor came in: expected → inside, with the time. Idempotent when inside.

    Refused (409) for a cancelled pass, a visitor who already left, or a pass whose
    window is over (register them again).
    """
    visitor = _locked(visitor)
    if visitor.status == Visitor.Status.INSIDE:
        return visitor
    if visitor.status != Visitor.Status.EXPECTED:
        raise ServiceError(
            "visitor_not_expected",
            _("This pass is closed: register the visitor again."),
            status=409,
        )
    now = timezone.now()
    if now > visitor.valid_until:
        raise ServiceError(
            "visitor_pass_expired",
            _("The pass has expired: register the visitor again."),
            status=409,
        )
    visitor.status, visitor.signed_in_at = Visitor.Status.INSIDE, now
    visitor.save(update_fields=["status", "signed_in_at"])
    return visitor


@transaction.atomic
def sign_out_visitor(*, visitor: Visitor, by: User) -> Visitor:
    """The visitor left: inside → left, with the time, and the pass blocked at once.

    Idempotent when already left. An expected visitor who never came is cancelled
    instead (``cancel_visitor``): refused here with 409.
    """
    visitor = _locked(visitor)
    if visitor.status == Visitor.Status.LEFT:
        _block_passes(visitor, by, "signed out")
        return visitor
    if visitor.status != Visitor.Status.INSIDE:
        raise ServiceError("visitor_not_inside", _("The visitor is not signed in."), status=409)
    visitor.status, visitor.signed_out_at = Visitor.Status.LEFT, timezone.now()
    visitor.save(update_fields=["status", "signed_out_at"])
    _block_passes(visitor, by, "signed out")
    return visitor


@transaction.atomic
def cancel_visitor(*, visitor: Visitor, by: User) -> Visitor:
    """An expected visit will not happen: expected → cancelled, the pass blocked.

    Idempotent when cancelled; refused (409) for a visitor inside or gone.
    """
    visitor = _locked(visitor)
    if visitor.status == Visitor.Status.CANCELLED:
        return visitor
    if visitor.status != Visitor.Status.EXPECTED:
        raise ServiceError(
            "visitor_not_expected", _("Only an expected visit can be cancelled."), status=409
        )
    visitor.status = Visitor.Status.CANCELLED
    visitor.save(update_fields=["status"])
    _block_passes(visitor, by, "cancelled")
    return visitor


def visitors_on(school: School, day: dt.date) -> QuerySet[Visitor]:
    """The day's visitors: passes whose window touches ``day`` (school time), and anyone
    still inside from before."""
    starts = dt.datetime.combine(day, dt.time.min, tzinfo=ZoneInfo(settings.SCHOOL_TIME_ZONE))
    ends = starts + dt.timedelta(days=1)
    return (
        Visitor.objects.filter(school=school)
        .filter(Q(valid_from__lt=ends, valid_until__gte=starts) | Q(status=Visitor.Status.INSIDE))
        .exclude(status=Visitor.Status.CANCELLED)
        .select_related("registered_by")
        .order_by("valid_from", "pk")
    )


def expected_by(school: School, user: User) -> QuerySet[Visitor]:
    """Visits ``user`` announced that are still to come or under way."""
    return Visitor.objects.filter(
        school=school,
        registered_by=user,
        valid_until__gte=timezone.now(),
        status__in=[Visitor.Status.EXPECTED, Visitor.Status.INSIDE],
    ).order_by("valid_from")
