"""The notifications a user received, for their "everything held" view, and their end.

A notice repeats what it tells ("Әлия entered school at 07:52"), so it is kept no longer
than the history it tells of: retention deletes notices older than the presence period.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.utils.translation import gettext_lazy

from kezekshi.core.models import School
from kezekshi.notifications.models import Notification
from kezekshi.privacy.retention import register_pseudonymiser
from kezekshi.privacy.subject_data import Subject, section

SHOWN = 2000


@section(
    "notifications",
    gettext_lazy("Notifications sent to you"),
    order=80,
    labels={
        "time": gettext_lazy("Time"),
        "kind": gettext_lazy("Kind"),
        "text": gettext_lazy("Text"),
        "status": gettext_lazy("Status"),
        "read": gettext_lazy("Read"),
    },
)
def _notifications(subject: Subject) -> list[dict[str, Any]]:
    if not subject.is_self:
        return []
    rows = Notification.objects.filter(recipient=subject.user).order_by("-created_at")[:SHOWN]
    return [
        {
            "time": row.created_at,
            "kind": row.get_kind_display(),
            "text": row.text,
            "status": row.get_status_display(),
            "read": row.read_at,
        }
        for row in rows
    ]


def delete_old_notices(*, school: School, before: dt.date) -> int:
    """Delete the school's notices written before ``before`` (idempotent)."""
    return Notification.objects.filter(school=school, created_at__date__lt=before).delete()[0]


def register() -> None:
    register_pseudonymiser("notifications.history", delete_old_notices)
