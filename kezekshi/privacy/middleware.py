"""Request metadata the agreement names as non-personal: time, path, IP, browser, referrer.

One INSERT per page request, kept for ``PRIVACY_REQUEST_LOG_DAYS`` (``retention``).
Query strings are never kept — in the path or in the referrer — because they carry
searches and names (``/pupils/?q=Сейтқали``). Paths that start with an entry of
``PRIVACY_REQUEST_LOG_SKIP`` (static files, ``/healthz``, the devices' high-volume
endpoints) are not recorded. A failure to record is logged and never breaks the request.
"""

from __future__ import annotations

import ipaddress
import logging
from collections.abc import Callable
from contextlib import nullcontext
from urllib.parse import urlsplit, urlunsplit

from django.conf import settings
from django.db import connection, transaction
from django.http import HttpRequest, HttpResponse
from django.utils import timezone

from kezekshi.privacy.models import RequestRecord

logger = logging.getLogger(__name__)


def _ip(value: str | None) -> str | None:
    if not value:
        return None
    try:
        return str(ipaddress.ip_address(value))
    except ValueError:
        return None


def _without_query(url: str) -> str:
    try:
        parts = urlsplit(url)
    except ValueError:
        return ""
    return urlunsplit((parts.scheme, parts.netloc, parts.path, "", ""))


class RequestRecordMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response
        self.skip = tuple(settings.PRIVACY_REQUEST_LOG_SKIP)

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        if not request.path.startswith(self.skip):
            self.record(request, response)
        return response

    def record(self, request: HttpRequest, response: HttpResponse) -> None:
        try:
            # Inside a transaction (tests, ATOMIC_REQUESTS) a failed INSERT must not spoil
            # it; outside one, autocommit makes the INSERT alone a transaction.
            guard = transaction.atomic() if connection.in_atomic_block else nullcontext()
            with guard:
                RequestRecord.objects.create(
                    at=timezone.now(),
                    method=request.method or "",
                    path=request.path[:300],
                    status=response.status_code,
                    ip=_ip(request.META.get("REMOTE_ADDR")),
                    user_agent=request.headers.get("User-Agent", "")[:300],
                    referrer=_without_query(request.headers.get("Referer", ""))[:300],
                )
        except Exception:  # the page was served; losing one metadata row must not undo that
            logger.exception("Could not record request metadata for %s", request.path)
