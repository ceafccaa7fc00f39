"""Hikvision ISAPI adapter: terminals push their events to ``/isapi/<serial>/<token>/events``
(``receiver``), and we call each terminal's ISAPI with digest auth to keep its persons,
cards and faces in line and to open its door (``client``, ``executor``).

A terminal cannot sign what it pushes, so the URL it is given carries a token derived
from the device's secret: ``push_token``. The simulator computes the same token, so this
module imports nothing from Django.
"""

from __future__ import annotations

import hashlib
import hmac
from typing import Any

TOKEN_LENGTH = 32


def push_token(secret: str, serial: str) -> str:
    """The per-device token in the push URL: HMAC-SHA256(secret, serial), first 32 hex."""
    digest = hmac.new(secret.encode(), serial.encode(), hashlib.sha256).hexdigest()
    return digest[:TOKEN_LENGTH]


def push_path(secret: str, serial: str) -> str:
    return f"/isapi/{serial}/{push_token(secret, serial)}/events"


def push_url(device: Any, base: str = "") -> str:
    """The address a school's IT person puts in the terminal's HTTP listening host (the
    portal shows it): ``<base>/isapi/<serial>/<token>/events``."""
    return base.rstrip("/") + push_path(device.secret, device.serial_number)


MAX_XML = 64 * 1024


def xml_fields(text: bytes) -> list[tuple[str, str]]:
    """The leaf elements of a small ISAPI XML document as (local name, text), in order.

    Documents with a DTD are refused (empty): ISAPI never sends one, and entities are
    the way XML is abused.
    """
    from xml.etree import ElementTree

    if len(text) > MAX_XML or b"<!DOCTYPE" in text.upper() or b"<!ENTITY" in text.upper():
        return []
    try:
        root = ElementTree.fromstring(text)  # noqa: S314 (no DTD, size bounded)
    except ElementTree.ParseError:
        return []
    fields = []
    for element in root.iter():
        if len(element) == 0:
            fields.append((element.tag.rsplit("}", 1)[-1], (element.text or "").strip()))
    return fields
