"""Ticking off an evacuation roll call at the assembly point.

The roll call itself is started by ``services.set_mode`` (evacuation) and ended by the
return to normal or lockdown; its reads are in ``presence.py``. Each write here is one
transaction with keyword-only arguments, and idempotent: two staff tapping the same
child, or one phone retrying over a bad connection, leave the first tick as it was.
"""

from __future__ import annotations

from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from kezekshi.access.models import RollCallEntry
from kezekshi.accounts.models import User
from kezekshi.core.errors import ServiceError


def _locked_open(entry: RollCallEntry) -> RollCallEntry:
    locked = (
        RollCallEntry.objects.select_for_update()
        .select_related("roll_call")
        .get(pk=entry.pk, school_id=entry.school_id)
    )
    if locked.roll_call.ended_at is not None:
        raise ServiceError(
            "roll_call_ended",
            _("This roll call has ended; it is kept as it was at the end."),
            status=409,
        )
    return locked


@transaction.atomic
def account_for(*, entry: RollCallEntry, by: User) -> RollCallEntry:
    """Mark the person (or visitor) of ``entry`` as found at the assembly point.

    Idempotent: an entry already ticked keeps its first time and who ticked it.
    Raises ``ServiceError`` (409 ``roll_call_ended``) once the roll call has ended.
    """
    locked = _locked_open(entry)
    if locked.accounted_at is None:
        locked.accounted_at, locked.accounted_by = timezone.now(), by
        locked.save(update_fields=["accounted_at", "accounted_by"])
    return locked


@transaction.atomic
def undo_account_for(*, entry: RollCallEntry) -> RollCallEntry:
    """Take back a tick made by mistake: the person counts as missing again.

    Idempotent; raises ``ServiceError`` (409 ``roll_call_ended``) once the roll call
    has ended.
    """
    locked = _locked_open(entry)
    if locked.accounted_at is not None:
        locked.accounted_at, locked.accounted_by = None, None
        locked.save(update_fields=["accounted_at", "accounted_by"])
    return locked
