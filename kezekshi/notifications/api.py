"""The caller's own notification feed, for the parents' app (PWA) and other clients.

Newest first. ``after_id`` asks for what arrived since the last poll (ids above it);
``before_id`` pages back through older notices.
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated

from django.http import HttpRequest
from ninja import Field, Query, Router, Schema

from kezekshi.accounts.api import AUTH
from kezekshi.accounts.decorators import signed_in_api
from kezekshi.notifications import services
from kezekshi.notifications.models import Notification

router = Router(tags=["notifications"], auth=AUTH)
MAX_LIMIT = 100
# The largest id the database holds (a signed 64-bit integer): a bigger one is a 422,
# not an overflow in the query.
MAX_ID = 2**63 - 1
NoticeId = Annotated[int, Field(ge=1, le=MAX_ID)]


class FeedQuery(Schema):
    after_id: int | None = Field(
        None, ge=0, le=MAX_ID, description="only notices newer than this id"
    )
    before_id: int | None = Field(
        None, ge=1, le=MAX_ID, description="only notices older than this id"
    )
    limit: int = Field(50, ge=1, le=MAX_LIMIT)


class NoticeOut(Schema):
    id: int
    kind: str
    text: str
    person_id: int | None
    created_at: dt.datetime
    read_at: dt.datetime | None


class FeedOut(Schema):
    items: list[NoticeOut]
    unread: int
    # Pass as ``before_id`` for the next (older) page; empty when there is none.
    next_before_id: int | None


class ReadIn(Schema):
    # Mark only these; leave it out to mark every unread notice.
    ids: list[NoticeId] | None = Field(None, max_length=1000)


class ReadOut(Schema):
    marked: int


class Error(Schema):
    code: str
    message: str


@router.get(
    "/me/notifications",
    response={200: FeedOut, 401: Error, 422: Error},
    summary="My notifications, newest first",
)
@signed_in_api
def my_notifications(request: HttpRequest, query: Query[FeedQuery]) -> dict[str, object]:
    mine = Notification.objects.filter(recipient_id=request.user.pk)
    rows = mine.order_by("-pk")
    if query.after_id is not None:
        rows = rows.filter(pk__gt=query.after_id)
    if query.before_id is not None:
        rows = rows.filter(pk__lt=query.before_id)
    items = list(rows[: query.limit + 1])
    more = len(items) > query.limit
    items = items[: query.limit]
    return {
        "items": items,
        "unread": mine.filter(read_at__isnull=True).count(),
        "next_before_id": items[-1].pk if more else None,
    }


@router.post(
    "/me/notifications/read",
    response={200: ReadOut, 401: Error, 422: Error},
    summary="Mark my notifications read",
)
@signed_in_api
def mark_read(request: HttpRequest, payload: ReadIn | None = None) -> dict[str, int]:
    ids = payload.ids if payload is not None else None
    return {"marked": services.mark_read(recipient_id=request.user.pk, ids=ids)}  # type: ignore[arg-type]
