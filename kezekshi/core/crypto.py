"""Encryption of personal data at rest, and blind indexes to find it again.

Values are encrypted with Fernet (AES-128-CBC + HMAC-SHA256) under ``MultiFernet`` so keys
can be rotated: the first key in ``FIELD_ENCRYPTION_KEYS`` encrypts, all keys decrypt.
A blind index (keyed HMAC) lets the database enforce uniqueness and find a row by IIN
without ever holding the IIN in clear.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from functools import cache
from typing import Any

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from django.conf import settings
from django.db import models


def _derive(purpose: bytes) -> bytes:
    return hmac.new(settings.SECRET_KEY.encode(), purpose, hashlib.sha256).digest()


def _configured() -> list[Fernet]:
    keys = list(settings.FIELD_ENCRYPTION_KEYS) or [
        base64.urlsafe_b64encode(_derive(b"kezekshi-field-encryption")).decode()
    ]
    return [Fernet(key) for key in keys]


@cache
def _fernet() -> MultiFernet:
    return MultiFernet(_configured())


@cache
def _current() -> Fernet:
    return _configured()[0]


def reset_keys() -> None:
    """Forget the cached keys, so the next use reads ``FIELD_ENCRYPTION_KEYS`` again."""
    _fernet.cache_clear()
    _current.cache_clear()


def encrypt(value: str) -> str:
    return _fernet().encrypt(value.encode()).decode()


def decrypt(token: str) -> str:
    return _fernet().decrypt(token.encode()).decode()


def is_current(token: str) -> bool:
    """Whether ``token`` is already encrypted under the first (current) key."""
    try:
        _current().decrypt(token.encode())
    except InvalidToken:
        return False
    return True


def rotate(token: str) -> str:
    """``token`` re-encrypted under the first key (any configured key may read it).

    Raises ``cryptography.fernet.InvalidToken`` when no configured key can read it.
    """
    return _fernet().rotate(token.encode()).decode()


def keyed_digest(purpose: bytes, value: str) -> bytes:
    """HMAC-SHA256 of ``value`` under a key derived from SECRET_KEY for ``purpose``."""
    return hmac.new(_derive(purpose), value.encode(), hashlib.sha256).digest()


def blind_index(value: str) -> str:
    """A stable keyed digest of ``value`` for equality lookups and unique constraints."""
    return hmac.new(_derive(b"kezekshi-blind-index"), value.encode(), hashlib.sha256).hexdigest()


class EncryptedTextField(models.TextField):
    """A text column stored encrypted; Python code sees the clear value.

    It cannot be filtered on: pair it with a blind-index column for lookups.
    """

    def from_db_value(self, value: str | None, expression: Any, connection: Any) -> str | None:
        if value is None or value == "":
            return value
        return decrypt(value)

    def get_prep_value(self, value: Any) -> Any:
        value = super().get_prep_value(value)
        if value is None or value == "":
            return value
        return encrypt(str(value))
