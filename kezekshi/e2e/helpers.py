"""What the browser tests share: expected texts in a language, signing in, the SMS outbox."""

from __future__ import annotations

from typing import Any

from django.utils import translation
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


sms_code = last_sms_code
