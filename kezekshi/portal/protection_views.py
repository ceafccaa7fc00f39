"""Personal-data protection pages: disclosures to state bodies, breaches, the cookie notice."""

from __future__ import annotations

from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_POST

from kezekshi.accounts.decorators import public_view

COOKIE_NOTICE = "cookie_notice"
COOKIE_NOTICE_AGE = 365 * 24 * 3600


@public_view
@require_POST
def accept_cookie_notice(request: HttpRequest) -> HttpResponse:
    """Hide the cookie notice for a year (a cookie that says so) and go back to the page."""
    target = request.POST.get("next", "")
    if not url_has_allowed_host_and_scheme(target, {request.get_host()}):
        target = "/"
    response = redirect(target)
    response.set_cookie(
        COOKIE_NOTICE,
        "1",
        max_age=COOKIE_NOTICE_AGE,
        secure=settings.SESSION_COOKIE_SECURE,
        httponly=True,
        samesite="Lax",
    )
    return response
