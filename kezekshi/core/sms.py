"""Sending SMS through the configured backend (``SMS_BACKEND``).

- ``outbox`` (default): nothing leaves the machine; the message is recorded and logged,
  and ``manage.py sms_outbox PHONE`` shows it. For development, demos and tests.
- ``http``: a JSON POST to ``SMS_GATEWAY_URL`` with ``Authorization: Bearer
  SMS_GATEWAY_TOKEN``, body ``{"to", "text", "sender"}``; a 2xx answer with an ``id``
  counts as sent. Most Kazakh SMS aggregators offer such an endpoint or a thin proxy.
"""

from __future__ import annotations

import json
import logging
import urllib.error
import urllib.request

from django.conf import settings

from kezekshi.core.models import SmsMessage

logger = logging.getLogger(__name__)
REDACTED = "[redacted]"


def deliver(*, phone: str, text: str, sensitive: bool = False) -> SmsMessage:
    """Send one SMS now and record the outcome. Raises nothing: failures are recorded.

    ``sensitive`` texts (sign-in codes) are kept in the outbox only in development.
    """
    if settings.SMS_BACKEND == "outbox":
        logger.info("SMS to %s: %s", phone, text)
        return SmsMessage.objects.create(phone=phone, text=text, status=SmsMessage.Status.RECORDED)
    stored_text = REDACTED if sensitive else text
    body = json.dumps({"to": phone, "text": text, "sender": settings.SMS_SENDER}).encode()
    request = urllib.request.Request(  # noqa: S310 - the URL is the operator's setting
        settings.SMS_GATEWAY_URL,
        data=body,
        method="POST",
        headers={
            "Content-Type": "application/json",
            "Authorization": f"Bearer {settings.SMS_GATEWAY_TOKEN}",
        },
    )
    try:
        with urllib.request.urlopen(request, timeout=settings.SMS_GATEWAY_TIMEOUT) as response:  # noqa: S310
            answer = json.loads(response.read() or b"{}")
    except (urllib.error.URLError, TimeoutError, ValueError) as exc:
        logger.warning("SMS to %s failed: %s", phone, exc)
        return SmsMessage.objects.create(
            phone=phone, text=stored_text, status=SmsMessage.Status.FAILED, error=str(exc)
        )
    return SmsMessage.objects.create(
        phone=phone,
        text=stored_text,
        status=SmsMessage.Status.SENT,
        provider_id=str(answer.get("id", ""))[:100],
    )
