from __future__ import annotations

from django_tasks import task

from kezekshi.notifications import services


@task()
def deliver_notifications(ids: list[int]) -> None:
    """Deliver the notifications written with one fact, then any a dead worker left behind."""
    services.deliver_many(ids)
    services.sweep()
