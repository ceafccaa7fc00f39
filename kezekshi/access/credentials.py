"""What a reader presents, made comparable: card UIDs, signed QR passes, PIN digests.

Card readers report the same card in different spellings. A 125 kHz EM-Marine card is
printed as ``123,45678`` (facility, number), sent by Wiegand-26 readers as a decimal
(``8106606``) and by USB readers as ten hex digits of all five bytes (``01007BB26E``);
all three mean the 24 bits the Wiegand-26 frame carries, which is what we keep (six hex
digits). A 13.56 MHz Mifare card has a 4- or 7-byte UID, read as hex with or without
separators; we keep the hex, upper case, no separators (8 or 14 digits). A reader that
sends a Mifare UID as a decimal number sends more than 24 bits, so it stays a Mifare UID.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import hmac
import re
from collections.abc import Callable
from dataclasses import dataclass

from django.conf import settings
from django.utils import timezone
from django.utils.functional import Promise
from django.utils.module_loading import import_string
from django.utils.translation import gettext_lazy as _

from kezekshi.core.crypto import keyed_digest
from kezekshi.core.errors import ServiceError

_SEPARATORS = re.compile(r"[\s:\-]")
_HEX = re.compile(r"^(0X)?[0-9A-F]+$")
_EM_PRINTED = re.compile(r"^(\d{1,3}),(\d{1,5})$")
WIEGAND26_MAX = 0xFFFFFF


class BadCredential(ServiceError):
    def __init__(self, message: str | Promise) -> None:
        super().__init__("invalid_credential", message, status=422)


def normalise_card_uid(raw: str) -> str:
    """The canonical hex form of a card UID as any common reader spells it.

    Raises ``BadCredential`` for anything that is not a card number.
    """
    raw = (raw or "").strip().upper()
    text = _SEPARATORS.sub("", raw)
    # Bytes written with separators ("04:A2:3B:1C", "01 00 7B B2 6E") are hex even when
    # every digit happens to be 0–9; a bare run of digits is a reader's decimal number.
    spelled_as_bytes = text != raw
    printed = _EM_PRINTED.match(text)
    if printed:
        facility, number = int(printed[1]), int(printed[2])
        if facility > 0xFF or number > 0xFFFF:
            raise BadCredential(_("The card number is out of range."))
        return f"{facility << 16 | number:06X}"
    if text.isdigit() and not spelled_as_bytes and len(text) <= 20:
        value = int(text)
        if value == 0:
            raise BadCredential(_("The card number is empty."))
        if value <= WIEGAND26_MAX:
            return f"{value:06X}"
        return f"{value:08X}" if value <= 0xFFFFFFFF else f"{value:014X}"
    if not _HEX.match(text):
        raise BadCredential(_("A card number has only digits and the letters A–F."))
    text = text.removeprefix("0X")
    if len(text) == 10:  # EM-Marine: a version byte and 32 bits; Wiegand-26 keeps 24
        return text[-6:]
    if len(text) in {6, 8, 14}:
        return text
    if len(text) < 6:
        return text.rjust(6, "0")
    raise BadCredential(_("The card number has an unexpected length."))


# --- the school's keys -----------------------------------------------------------------


class NoSchoolKey(LookupError):
    """This process holds no key of that school (a gateway before its first sync)."""


def school_key(school_id: int, purpose: str) -> bytes:
    """The key of one school that signs its QR passes (``"qr"``) or digests its PINs
    (``"pin"``), from ``settings.SCHOOL_KEY_SOURCE``.

    The server derives every school's keys from its secret; an edge gateway holds only its
    own school's, sent with its mirror, so it checks QR passes and PINs while the server
    is unreachable without ever holding the server's secret. Raises ``NoSchoolKey``."""
    return _key_source(settings.SCHOOL_KEY_SOURCE)(school_id, purpose)


_sources: dict[str, Callable[[int, str], bytes]] = {}


def _key_source(path: str) -> Callable[[int, str], bytes]:
    source = _sources.get(path)
    if source is None:
        source = _sources[path] = import_string(path)
    return source


def derived_school_key(school_id: int, purpose: str) -> bytes:
    """The server's ``SCHOOL_KEY_SOURCE``: a key per school and purpose from SECRET_KEY."""
    return keyed_digest(b"kezekshi-school-key:" + purpose.encode(), str(school_id))


def pin_digest(*, school_id: int, pin: str) -> str:
    """PINs are kept only as a digest keyed with the school's PIN key.

    Raises ``BadCredential`` for a malformed PIN, ``NoSchoolKey`` without the key."""
    # Six digits at least: a PIN alone opens the door, and four digits are guessed soon
    # in a school of thousands.
    if not (pin.isascii() and pin.isdecimal()) or not 6 <= len(pin) <= 8:
        raise BadCredential(_("A PIN has 6 to 8 digits."))
    return hmac.new(school_key(school_id, "pin"), pin.encode(), hashlib.sha256).hexdigest()


# --- signed, short-lived QR passes ----------------------------------------------------

QR_PREFIX = "KZ1"


@dataclass(frozen=True)
class QrPass:
    school_id: int
    credential_value: str  # the Credential.value of kind QR this pass stands for
    expires_at: dt.datetime


def _qr_signature(school_id: int, body: str) -> str:
    digest = hmac.new(school_key(school_id, "qr"), body.encode(), hashlib.sha256).digest()
    return base64.b32encode(digest[:10]).decode().rstrip("=")


def sign_qr(*, school_id: int, credential_value: str, valid_for: dt.timedelta) -> str:
    """The text of a QR code: ``KZ1.<school>.<credential>.<expiry>.<signature>``.

    Short enough for a small QR code; the signature makes it unforgeable and the expiry
    makes a screenshot useless after ``valid_for``.
    """
    expires = int((timezone.now() + valid_for).timestamp())
    body = f"{QR_PREFIX}.{school_id}.{credential_value}.{expires}"
    return f"{body}.{_qr_signature(school_id, body)}"


class QrRefused(Exception):
    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason  # "qr_invalid" or "qr_expired"


def read_qr(text: str, *, at: dt.datetime) -> QrPass:
    """Check a QR pass's signature and expiry; raises ``QrRefused`` with the reason code."""
    parts = (text or "").strip().split(".")
    if len(parts) != 5 or parts[0] != QR_PREFIX:
        raise QrRefused("qr_invalid")
    body = ".".join(parts[:4])
    try:
        school_id, expires = int(parts[1]), int(parts[3])
        signature = _qr_signature(school_id, body)
    except (ValueError, NoSchoolKey) as exc:
        raise QrRefused("qr_invalid") from exc
    if not hmac.compare_digest(signature, parts[4]):
        raise QrRefused("qr_invalid")
    expires_at = dt.datetime.fromtimestamp(expires, tz=dt.UTC)
    if at > expires_at:
        raise QrRefused("qr_expired")
    return QrPass(school_id=school_id, credential_value=parts[2], expires_at=expires_at)
