from __future__ import annotations

from typing import Any

from django.contrib.auth.backends import ModelBackend
from django.core.exceptions import ValidationError
from django.http import HttpRequest

from kezekshi.accounts.models import User
from kezekshi.core.validators import normalize_phone


class PhoneOrEmailBackend(ModelBackend):
    """Staff sign in with an e-mail address or a phone number and a password."""

    def authenticate(
        self,
        request: HttpRequest | None,
        username: str | None = None,
        password: str | None = None,
        **kwargs: Any,
    ) -> User | None:
        login = (username or kwargs.get("email") or "").strip()
        if not login or not password:
            return None
        if "@" in login:
            user = User.objects.filter(email__iexact=login).first()
        else:
            try:
                user = User.objects.filter(phone=normalize_phone(login)).first()
            except ValidationError:
                user = None
        if user is None:
            User().set_password(password)  # same work as a real check: no timing oracle
            return None
        if user.check_password(password) and self.user_can_authenticate(user):
            return user
        return None
