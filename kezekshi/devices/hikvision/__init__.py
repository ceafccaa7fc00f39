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


class _Refused(Exception):
    """A document with a DTD, an entity or a notation: raised from expat's handlers."""


def _refuse(*_args: object) -> None:
    raise _Refused


def xml_fields(text: bytes) -> list[tuple[str, str]]:
    """The leaf elements of a small ISAPI XML document as (local name, text), in order.

    Any document with a DTD, an entity or a notation declaration is refused (empty), in
    whatever encoding it comes (UTF-8, UTF-16, a declared one): expat reports the
    declaration itself to a handler that stops the parse, so nothing is expanded. ISAPI
    never sends a DTD, and entities are the way XML is abused.
    """
    from xml.parsers import expat

    if len(text) > MAX_XML:
        return []
    parser = expat.ParserCreate()
    parser.SetParamEntityParsing(expat.XML_PARAM_ENTITY_PARSING_NEVER)
    for handler in (
        "StartDoctypeDeclHandler",
        "EntityDeclHandler",
        "UnparsedEntityDeclHandler",
        "NotationDeclHandler",
        "ExternalEntityRefHandler",
        "SkippedEntityHandler",
    ):
        setattr(parser, handler, _refuse)
    fields: list[tuple[str, str]] = []
    # Per open element: its local name, its text so far, whether it has children.
    open_elements: list[tuple[str, list[str], list[bool]]] = []

    def start(name: str, _attributes: dict[str, str]) -> None:
        if open_elements:
            open_elements[-1][2][0] = True
        open_elements.append((name.rsplit(":", 1)[-1], [], [False]))

    def end(_name: str) -> None:
        local, text_parts, has_children = open_elements.pop()
        if not has_children[0]:
            fields.append((local, "".join(text_parts).strip()))

    def characters(data: str) -> None:
        if open_elements:
            open_elements[-1][1].append(data)

    parser.StartElementHandler = start
    parser.EndElementHandler = end
    parser.CharacterDataHandler = characters
    try:
        parser.Parse(text, True)
    except (_Refused, expat.ExpatError, ValueError, LookupError):
        return []
    return fields
