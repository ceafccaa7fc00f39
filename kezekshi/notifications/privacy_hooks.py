"""The notifications a user received, for their "everything held" view."""

from __future__ import annotations

from typing import Any

from django.utils.translation import gettext_lazy

from kezekshi.notifications.models import Notification
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
