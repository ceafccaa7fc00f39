"""The cookie notice: which cookies and why, hidden for a year once dismissed."""

from __future__ import annotations

import pytest
from django.test import Client

pytestmark = pytest.mark.django_db


def test_the_cookie_notice_is_shown_until_dismissed(db: None) -> None:
    client = Client(HTTP_ACCEPT_LANGUAGE="en")
    page = client.get("/login/").content.decode()
    assert 'id="cookie-notice"' in page
    assert "the session" in page and "CSRF" in page and "language" in page
    assert "/app/policy/" in page
    response = client.post("/cookies/", {"next": "/login/?next=/pupils/"})
    assert response.status_code == 302 and response["Location"] == "/login/?next=/pupils/"
    cookie = response.cookies["cookie_notice"]
    assert cookie.value == "1" and int(cookie["max-age"]) == 365 * 24 * 3600
    assert 'id="cookie-notice"' not in client.get("/login/").content.decode()
    assert 'id="cookie-notice"' not in client.get("/app/").content.decode()


def test_the_cookie_notice_never_sends_anyone_elsewhere(db: None) -> None:
    response = Client().post("/cookies/", {"next": "https://evil.example.com/"})
    assert response["Location"] == "/"
