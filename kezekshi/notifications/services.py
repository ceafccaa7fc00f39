"""Queueing and delivering notifications: the outbox other apps write into.

Domain apps (access, canteen…) call ``enqueue`` inside the transaction that records the
fact; the rows and one delivery task are committed with it or not at all. Delivery moves
each row from *pending* once, under a row lock, in the same transaction as the SMS
record, so a worker killed at any point neither loses a notice nor sends it twice: what
it had not committed is still pending and the next worker sends it.

This app knows nothing of the domain apps that call it (see docs/architecture.md).
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from django.db import connection, transaction
from django.utils import timezone

from kezekshi.core import bulk, sms
from kezekshi.notifications.models import Notification

logger = logging.getLogger(__name__)
# A pending notice older than this has lost its worker (killed, restarted): sweep it.
STALE_AFTER = dt.timedelta(minutes=1)


@dataclass(frozen=True)
class Notice:
    school_id: int
    recipient_id: int
    kind: str
    key: str
    text: str
    person_id: int | None = None


_NOTICE_FIELDS = ("school_id", "recipient_id", "person_id", "kind", "key", "text")


def enqueue(notices: Sequence[Notice], *, new_causes: bool = False) -> list[int]:
    """Write ``notices`` and queue their delivery, in the caller's transaction.

    Idempotent per ``(recipient, key)``: a notice already written is not written again.
    ``new_causes`` says the keys name rows created in this very transaction (a pass just
    stored), which no notice can name yet, so the look-up is skipped. Returns the ids of
    the rows written now.
    """
    if not notices:
        return []
    from kezekshi.notifications.tasks import deliver_notifications

    existing: set[tuple[int, str]] = set()
    if not new_causes:
        existing = set(
            Notification.objects.filter(
                recipient_id__in={n.recipient_id for n in notices},
                key__in={n.key for n in notices},
            ).values_list("recipient_id", "key")
        )
    rows, seen = [], set(existing)
    for notice in notices:
        if (notice.recipient_id, notice.key) in seen:
            continue
        seen.add((notice.recipient_id, notice.key))
        rows.append(
            (
                notice.school_id,
                notice.recipient_id,
                notice.person_id,
                notice.kind,
                notice.key,
                notice.text[:500],
            )
        )
    ids = bulk.insert_rows(Notification, _NOTICE_FIELDS, rows)
    if ids:
        deliver_notifications.enqueue(ids)
    return ids


def deliver(notification_id: int) -> bool:
    """Send one pending notification by SMS; True if this call sent it.

    Exactly once with the outbox backend (the SMS record and the status commit together);
    at least once with an HTTP gateway if the worker dies between the gateway's answer
    and the commit.
    """
    with transaction.atomic():
        rows = Notification.objects.select_related("recipient").filter(
            pk=notification_id, status=Notification.Status.PENDING
        )
        if connection.features.has_select_for_update_skip_locked:
            rows = rows.select_for_update(skip_locked=True, of=("self",))
        row = rows.first()
        if row is None:
            return False
        phone = row.recipient.phone
        if not phone:
            row.status, row.channel = Notification.Status.FEED_ONLY, ""
        else:
            message = sms.deliver(phone=phone, text=row.text)
            failed = message.status == message.Status.FAILED
            row.status = Notification.Status.FAILED if failed else Notification.Status.SENT
            row.channel = "sms"
        row.sent_at = timezone.now()
        row.save(update_fields=["status", "channel", "sent_at"])
        return row.status == Notification.Status.SENT


def deliver_many(ids: Iterable[int]) -> int:
    return sum(deliver(pk) for pk in ids)


def sweep(*, older_than: dt.timedelta = STALE_AFTER) -> int:
    """Deliver pending notifications whose worker died; returns how many were sent."""
    cutoff = timezone.now() - older_than
    ids = Notification.objects.filter(
        status=Notification.Status.PENDING, created_at__lte=cutoff
    ).values_list("pk", flat=True)
    return deliver_many(list(ids[:5000]))


def mark_read(*, recipient_id: int, ids: Iterable[int] | None = None) -> int:
    """Mark the recipient's notifications read (all, or ``ids``); returns how many changed."""
    rows = Notification.objects.filter(recipient_id=recipient_id, read_at__isnull=True)
    if ids is not None:
        rows = rows.filter(pk__in=list(ids))
    return rows.update(read_at=timezone.now())
