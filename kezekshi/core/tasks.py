from __future__ import annotations

from django_tasks import task

from kezekshi.core import sms


@task()
def send_sms(phone: str, text: str, sensitive: bool = False) -> None:
    """Deliver one SMS (enqueued in the transaction that decided to send it)."""
    sms.deliver(phone=phone, text=text, sensitive=sensitive)
