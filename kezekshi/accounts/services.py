"""Sign-in: SMS codes for parents, API tokens. Every function is one transaction."""

from __future__ import annotations

import datetime as dt
import hashlib
import secrets

from django.conf import settings
from django.db import transaction
from django.db.models import F
from django.utils import timezone
from django.utils.translation import gettext as _

from kezekshi.accounts.models import ApiToken, PasswordFailure, SignInCode, User
from kezekshi.core.crypto import blind_index
from kezekshi.core.errors import ServiceError
from kezekshi.core.tasks import send_sms

HOUR = dt.timedelta(hours=1)


class TooManyRequests(ServiceError):
    status = 429


def _code_digest(phone: str, code: str) -> str:
    return blind_index(f"sign-in:{phone}:{code}")


@transaction.atomic
def request_sign_in_code(*, phone: str, ip: str | None) -> SignInCode:
    """Create a 6-digit code for ``phone`` (already normalised) and enqueue its SMS.

    Refuses with 429 ``otp_resend_too_soon`` (``retry_after`` seconds),
    ``otp_phone_rate_limited`` or ``otp_ip_rate_limited``. Earlier codes stop working.
    """
    now = timezone.now()
    recent = SignInCode.objects.select_for_update().filter(phone=phone, created_at__gte=now - HOUR)
    last = recent.order_by("-created_at").first()
    if last is not None:
        wait = settings.OTP_RESEND_SECONDS - (now - last.created_at).total_seconds()
        if wait > 0:
            raise TooManyRequests(
                "otp_resend_too_soon",
                _("A code was sent a moment ago. You can ask again in %(seconds)d s.")
                % {"seconds": int(wait) + 1},
                retry_after=int(wait) + 1,
            )
    if recent.count() >= settings.OTP_MAX_PER_PHONE_PER_HOUR:
        raise TooManyRequests(
            "otp_phone_rate_limited",
            _("Too many codes for this phone number. Try again in an hour."),
            retry_after=3600,
        )
    if ip and SignInCode.objects.filter(ip=ip, created_at__gte=now - HOUR).count() >= (
        settings.OTP_MAX_PER_IP_PER_HOUR
    ):
        raise TooManyRequests(
            "otp_ip_rate_limited",
            _("Too many codes requested from this network. Try again in an hour."),
            retry_after=3600,
        )
    SignInCode.objects.filter(phone=phone, consumed_at__isnull=True).update(consumed_at=now)
    code = f"{secrets.randbelow(1_000_000):06d}"
    sign_in_code = SignInCode.objects.create(
        phone=phone,
        code_digest=_code_digest(phone, code),
        ip=ip,
        created_at=now,
        expires_at=now + dt.timedelta(seconds=settings.OTP_CODE_TTL_SECONDS),
    )
    text = _("Kezekshi sign-in code: %(code)s. Do not tell it to anyone.") % {"code": code}
    send_sms.enqueue(phone, text, True)
    return sign_in_code


def verify_sign_in_code(*, phone: str, code: str) -> User:
    """Check ``code`` for ``phone`` and return the user, created on first sign-in.

    Refuses with ``otp_not_requested``, ``otp_expired``, ``otp_too_many_attempts`` (429)
    or ``otp_invalid`` (with ``attempts_left``). A wrong guess is counted even though
    the refusal is raised, so the count cannot be reset by failing.
    """
    with transaction.atomic():
        now = timezone.now()
        current = (
            SignInCode.objects.select_for_update()
            .filter(phone=phone, consumed_at__isnull=True)
            .order_by("-created_at")
            .first()
        )
        if current is None:
            raise ServiceError("otp_not_requested", _("Ask for a code first."))
        if current.expires_at <= now:
            raise ServiceError("otp_expired", _("The code has expired. Ask for a new one."))
        if current.attempts >= settings.OTP_MAX_ATTEMPTS:
            raise TooManyRequests(
                "otp_too_many_attempts", _("Too many wrong attempts. Ask for a new code.")
            )
        matches = secrets.compare_digest(current.code_digest, _code_digest(phone, code.strip()))
        if matches:
            current.consumed_at = now
            current.save(update_fields=["consumed_at"])
            user, _created = User.objects.get_or_create(phone=phone)
            if not user.is_active:
                raise ServiceError("account_disabled", _("This account is disabled."), status=403)
            return user
        SignInCode.objects.filter(pk=current.pk).update(attempts=F("attempts") + 1)
        attempts_left = settings.OTP_MAX_ATTEMPTS - current.attempts - 1
    if attempts_left <= 0:
        raise TooManyRequests(
            "otp_too_many_attempts", _("Too many wrong attempts. Ask for a new code.")
        )
    raise ServiceError(
        "otp_invalid",
        _("Wrong code. Attempts left: %(left)d.") % {"left": attempts_left},
        attempts_left=attempts_left,
    )


def _token_digest(raw: str) -> str:
    return hashlib.sha256(raw.encode()).hexdigest()


@transaction.atomic
def issue_api_token(*, user: User, user_agent: str = "") -> str:
    """A new bearer token for ``user``; the clear value is returned once and never stored."""
    raw = secrets.token_urlsafe(32)
    ApiToken.objects.create(
        user=user,
        digest=_token_digest(raw),
        expires_at=timezone.now() + dt.timedelta(days=settings.API_TOKEN_TTL_DAYS),
        user_agent=user_agent[:300],
    )
    return raw


def user_for_token(raw: str) -> User | None:
    """The active user a live token belongs to, or None."""
    token = (
        ApiToken.objects.select_related("user")
        .filter(digest=_token_digest(raw), expires_at__gt=timezone.now(), user__is_active=True)
        .first()
    )
    if token is None:
        return None
    now = timezone.now()
    if token.last_used_at is None or now - token.last_used_at > dt.timedelta(minutes=5):
        ApiToken.objects.filter(pk=token.pk).update(last_used_at=now)
    return token.user


@transaction.atomic
def revoke_api_token(*, raw: str) -> None:
    ApiToken.objects.filter(digest=_token_digest(raw)).delete()


@transaction.atomic
def set_language(*, user: User, language: str) -> None:
    if language not in {code for code, _name in settings.LANGUAGES}:
        raise ServiceError("invalid_language", _("Unknown language."))
    User.objects.filter(pk=user.pk).update(language=language)


def _login_digest(login: str) -> str:
    return blind_index(f"staff-login:{login.strip().lower()}")


def check_password_throttle(*, login: str, ip: str | None) -> None:
    """Refuse (429 ``too_many_failures``) a login or address with too many wrong passwords."""
    since = timezone.now() - dt.timedelta(minutes=settings.STAFF_SIGNIN_WINDOW_MINUTES)
    recent = PasswordFailure.objects.filter(created_at__gte=since)
    limit = settings.STAFF_SIGNIN_MAX_FAILURES
    if recent.filter(login_digest=_login_digest(login)).count() >= limit or (
        ip and recent.filter(ip=ip).count() >= 5 * limit
    ):
        raise TooManyRequests(
            "too_many_failures",
            _("Too many wrong passwords. Wait %(minutes)d minutes and try again.")
            % {"minutes": settings.STAFF_SIGNIN_WINDOW_MINUTES},
        )


@transaction.atomic
def record_password_failure(*, login: str, ip: str | None) -> None:
    """Count one wrong password; rows older than a day are dropped on the way."""
    PasswordFailure.objects.filter(created_at__lt=timezone.now() - dt.timedelta(days=1)).delete()
    PasswordFailure.objects.create(login_digest=_login_digest(login), ip=ip)


@transaction.atomic
def clear_password_failures(*, login: str) -> None:
    PasswordFailure.objects.filter(login_digest=_login_digest(login)).delete()
