"""How a device proves who it is: an HMAC-SHA256 signature over each request.

Headers: ``X-Device-Id`` (the id the portal shows), ``X-Device-Time`` (the device's clock,
ISO 8601 or Unix seconds), ``X-Signature`` = hex HMAC-SHA256 under the device's secret of
``"{X-Device-Time}\\n{METHOD}\\n{path}\\n"`` followed by the raw body. The secret never
travels; a changed byte of the body fails the check. The device's time is not checked
against ours (a device with a wrong clock must still be able to report, and its events
are flagged instead); replays are harmless because every write is idempotent.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import threading
import time

from django.http import HttpRequest
from django.utils import timezone
from django.utils.dateparse import parse_datetime
from django.utils.translation import gettext as _

from kezekshi.access.models import Device
from kezekshi.core.errors import ServiceError

CACHE_SECONDS = 30.0
_cache: dict[int, tuple[float, Device]] = {}
_lock = threading.Lock()


class DeviceRefused(ServiceError):
    def __init__(self, code: str, message: str) -> None:
        super().__init__(code, message, status=401)


def signature(*, secret: str, device_time: str, method: str, path: str, body: bytes) -> str:
    message = f"{device_time}\n{method.upper()}\n{path}\n".encode() + body
    return hmac.new(secret.encode(), message, hashlib.sha256).hexdigest()


def signed_headers(
    *,
    device_id: int,
    secret: str,
    method: str,
    path: str,
    body: bytes,
    device_time: str | None = None,
) -> dict[str, str]:
    """The headers a device sends (used by the simulator, the gateway and the tests)."""
    stamp = device_time or timezone.now().isoformat(timespec="seconds")
    return {
        "X-Device-Id": str(device_id),
        "X-Device-Time": stamp,
        "X-Signature": signature(
            secret=secret, device_time=stamp, method=method, path=path, body=body
        ),
    }


def _device(device_id: int) -> tuple[Device | None, bool]:
    """The device (cached for ``CACHE_SECONDS``), and whether it was read afresh."""
    now = time.monotonic()
    cached = _cache.get(device_id)
    if cached is not None and now - cached[0] < CACHE_SECONDS:
        return cached[1], False
    device = Device.objects.filter(pk=device_id).select_related("school").first()
    if device is not None:
        with _lock:
            _cache[device_id] = (now, device)
    return device, True


def forget(device_id: int) -> None:
    """Drop a device from this process's cache (after its secret or status changed)."""
    with _lock:
        _cache.pop(device_id, None)


def forget_all() -> None:
    with _lock:
        _cache.clear()


def parse_device_time(text: str) -> dt.datetime | None:
    text = text.strip()
    try:
        if text.isascii() and text.isdecimal():
            return dt.datetime.fromtimestamp(int(text), tz=dt.UTC)
        moment = parse_datetime(text)
    except (ValueError, OverflowError, OSError):
        return None
    if moment is None or moment.tzinfo is None:
        return None
    return moment


# The skew kept on the device row: a clock decades off is simply "off".
MAX_SKEW = dt.timedelta(days=3650)


def authenticate(request: HttpRequest) -> Device:
    """The device that signed ``request``; raises ``DeviceRefused`` (401) otherwise."""
    raw_id = request.headers.get("X-Device-Id", "")
    stamp = request.headers.get("X-Device-Time", "")
    given = request.headers.get("X-Signature", "")
    if not (raw_id.isascii() and raw_id.isdecimal() and len(raw_id) < 19) or not stamp or not given:
        raise DeviceRefused(
            "device_not_authenticated",
            _("Sign the request: X-Device-Id, X-Device-Time and X-Signature."),
        )
    device, fresh = _device(int(raw_id))
    if device is None or not device.is_active or not device.school.is_active:
        raise DeviceRefused("unknown_device", _("This device is not registered or is disabled."))
    expected = signature(
        secret=device.secret,
        device_time=stamp,
        method=request.method or "POST",
        path=request.path,
        body=request.body,
    )
    if not hmac.compare_digest(expected, given.strip().lower()):
        raise DeviceRefused("bad_signature", _("The request signature does not match."))
    device_time = parse_device_time(stamp)
    if device_time is None:
        raise DeviceRefused("bad_device_time", _("X-Device-Time must be ISO 8601 with a zone."))
    now = timezone.now()
    skew = max(-MAX_SKEW, min(MAX_SKEW, device_time - now))
    request.device_skew = skew  # type: ignore[attr-defined]
    if fresh:
        # Written when the cache is refreshed: at most twice a minute per device.
        Device.objects.filter(pk=device.pk).update(
            last_seen_at=now, clock_skew_seconds=int(skew.total_seconds())
        )
    return device


class DeviceSignature:
    """django-ninja auth: the signed device, or a 401 with the reason."""

    def __call__(self, request: HttpRequest) -> Device:
        return authenticate(request)
