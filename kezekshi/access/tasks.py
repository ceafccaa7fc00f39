"""Background work of the access app, for ``manage.py db_worker``."""

from __future__ import annotations

from django_tasks import task

from kezekshi.access.attendance import send_absence_alerts
from kezekshi.core.models import School


@task()
def absence_alerts() -> int:
    """Tell class teachers about long unexcused absences in every active school.

    Idempotent (see ``attendance.send_absence_alerts``); returns how many alerts were new.
    """
    return sum(
        len(send_absence_alerts(school=school))
        for school in School.objects.filter(is_active=True).order_by("pk")
    )
