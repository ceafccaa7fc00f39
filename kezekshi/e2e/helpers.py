"""What the browser tests share: expected texts in a language, signing in (with the
authenticator's code), the SMS outbox."""

from __future__ import annotations

import base64
from typing import Any

from django.utils import translation
from django_otp.oath import totp
from playwright.sync_api import Page

from kezekshi.conftest import last_sms_code


def translated(language: str, msgid: str, **params: Any) -> str:
    """``msgid`` as a page in ``language`` shows it (the msgid itself until translated)."""
    with translation.override(language):
        text = translation.gettext(msgid)
    return text % params if params else text


def sign_in(page: Page, *, login: str, password: str, language: str = "kk") -> None:
    """Fill in and send the staff sign-in form."""
    page.goto("/login/")
    page.fill("#id_login", login)
    page.fill("#id_password", password)
    page.get_by_role("button", name=translated(language, "Sign in"), exact=True).click()
    page.wait_for_load_state()


def totp_now(secret: str, drift: int = 0) -> str:
    """The code an authenticator app shows now for the base32 ``secret`` (as on the page)."""
    key = base64.b32decode(secret + "=" * (-len(secret) % 8))
    return f"{totp(key, drift=drift):06d}"


def enrol_authenticator(page: Page, *, language: str = "kk") -> None:
    """On the second-step page after a first sign-in: add the authenticator and confirm."""
    secret = page.locator("#totp-secret").inner_text().strip()
    page.fill("#id_code", totp_now(secret))
    page.get_by_role("button", name=translated(language, "Confirm")).click()
    page.wait_for_load_state()


sms_code = last_sms_code
