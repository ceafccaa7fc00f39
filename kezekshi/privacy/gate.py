"""Nothing in the parents' app works without a current consent.

A signed-in user who has not consented to the current policy (for themselves and each
child they represent) is sent to the consent page (web) or refused with 403
``consent_required`` (API) everywhere in the parents' app, except the pages needed to
read the policy, consent, or sign out.
"""

from __future__ import annotations

from collections.abc import Callable

from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect
from django.utils.http import urlencode
from django.utils.translation import gettext as _

from kezekshi.accounts.services import user_for_token
from kezekshi.privacy.services import has_current_consent

# Paths that serve the parent (their own data, their children). Of the canteen API only
# the children's routes: its device routes (POS terminals) are not a parent's.
GUARDED = ("/app/", "/api/v1/me", "/api/v1/notifications/me", "/api/v1/canteen/children/")
# What a parent may still open without consent: read the policy, consent, leave, and
# exercise their rights as a data subject (see, export, correct, block, erase), which the
# law does not make depend on consent. The privacy API (/api/v1/privacy/) is not guarded.
OPEN = (
    "/app/privacy/",
    "/app/disclosures/",
    "/app/consent/",
    "/app/policy/",
    "/app/logout/",
    "/app/code/",
    "/app/verify/",
    "/app/manifest.webmanifest",
    "/app/sw.js",
)


class ConsentGateMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        path = request.path
        if path.startswith(GUARDED) and not path.startswith(OPEN):
            user = request.user
            header = request.headers.get("Authorization", "")
            if not user.is_authenticated and header.lower().startswith("bearer "):
                user = user_for_token(header[7:].strip()) or user
            if user.is_authenticated and not has_current_consent(user):  # type: ignore[arg-type]
                if path.startswith("/api/"):
                    return JsonResponse(
                        {
                            "code": "consent_required",
                            "message": _(
                                "Read the personal-data policy and give your consent first."
                            ),
                        },
                        status=403,
                    )
                return redirect(f"/app/consent/?{urlencode({'next': request.get_full_path()})}")
        return self.get_response(request)
