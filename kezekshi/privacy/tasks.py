"""Background work of the privacy app."""

from __future__ import annotations

from typing import Any

from django_tasks import task

from kezekshi.privacy.retention import apply_retention


@task()
def run_retention() -> dict[str, Any]:
    """Apply the retention rules (idempotent; ``manage.py apply_retention --enqueue``)."""
    return apply_retention().as_dict()
