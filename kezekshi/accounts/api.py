"""Sign-in API: SMS codes for parents, bearer tokens, the signed-in user."""

from __future__ import annotations

from django.conf import settings
from django.contrib.auth import login, logout
from django.core.exceptions import ValidationError
from django.http import HttpRequest
from ninja import Router, Schema, Status
from ninja.security import HttpBearer, django_auth

from kezekshi.accounts import services
from kezekshi.accounts.decorators import public_view, signed_in_api
from kezekshi.accounts.models import User
from kezekshi.core.validators import normalize_phone
from kezekshi.people.services import link_guardian_accounts

router = Router(tags=["auth"])


class BearerToken(HttpBearer):
    def authenticate(self, request: HttpRequest, token: str) -> User | None:
        user = services.user_for_token(token)
        if user is not None:
            request.user = user
        return user


# Every signed-in endpoint accepts a bearer token (apps) or the session cookie (web).
AUTH = [BearerToken(), django_auth]


def client_ip(request: HttpRequest) -> str | None:
    return request.META.get("REMOTE_ADDR") or None


class CodeRequest(Schema):
    phone: str


class CodeSent(Schema):
    phone: str
    expires_in: int
    resend_after: int


class CodeCheck(Schema):
    phone: str
    code: str
    token: bool = True


class SignedIn(Schema):
    user_id: int
    phone: str
    token: str | None = None


class Error(Schema):
    code: str
    message: str


def _phone(raw: str) -> str:
    try:
        return normalize_phone(raw)
    except ValidationError as exc:
        raise ValidationError({"phone": exc.error_list}) from exc


@router.post(
    "/otp",
    response={202: CodeSent, 422: Error, 429: Error},
    summary="Send a sign-in code by SMS",
)
@public_view
def request_code(request: HttpRequest, payload: CodeRequest) -> Status[dict[str, object]]:
    phone = _phone(payload.phone)
    services.request_sign_in_code(phone=phone, ip=client_ip(request))
    return Status(
        202,
        {
            "phone": phone,
            "expires_in": settings.OTP_CODE_TTL_SECONDS,
            "resend_after": settings.OTP_RESEND_SECONDS,
        },
    )


@router.post(
    "/otp/verify",
    response={200: SignedIn, 400: Error, 403: Error, 422: Error, 429: Error},
    summary="Sign in with the SMS code",
)
@public_view
def verify_code(request: HttpRequest, payload: CodeCheck) -> dict[str, object]:
    phone = _phone(payload.phone)
    user = services.verify_sign_in_code(phone=phone, code=payload.code)
    link_guardian_accounts(user=user)
    login(request, user, backend="kezekshi.accounts.backends.PhoneOrEmailBackend")
    token = None
    if payload.token:
        token = services.issue_api_token(
            user=user, user_agent=request.headers.get("User-Agent", "")
        )
    return {"user_id": user.pk, "phone": phone, "token": token}


@router.post("/logout", auth=AUTH, response={204: None}, summary="Sign out")
@signed_in_api
def sign_out(request: HttpRequest) -> Status[None]:
    header = request.headers.get("Authorization", "")
    if header.lower().startswith("bearer "):
        services.revoke_api_token(raw=header[7:].strip())
    logout(request)
    return Status(204, None)
