from __future__ import annotations

from typing import Any

from django import forms
from django.contrib.auth import authenticate
from django.http import HttpRequest
from django.utils.translation import gettext_lazy as _

from kezekshi.accounts import services
from kezekshi.accounts.models import User
from kezekshi.core.errors import ServiceError


class SignInForm(forms.Form):
    login = forms.CharField(label=_("E-mail or phone"), max_length=254)
    password = forms.CharField(label=_("Password"), widget=forms.PasswordInput)

    def __init__(self, request: HttpRequest, *args: Any, **kwargs: Any) -> None:
        self.request = request
        self.user: User | None = None
        super().__init__(*args, **kwargs)

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        if data.get("login") and data.get("password"):
            ip = self.request.META.get("REMOTE_ADDR") or None
            try:
                services.check_password_throttle(login=data["login"], ip=ip)
            except ServiceError as exc:
                raise forms.ValidationError(str(exc.message), code=exc.code) from exc
            user = authenticate(self.request, username=data["login"], password=data["password"])
            if user is None:
                services.record_password_failure(login=data["login"], ip=ip)
                raise forms.ValidationError(
                    _("Wrong e-mail, phone or password."), code="invalid_login"
                )
            services.clear_password_failures(login=data["login"])
            self.user = user  # type: ignore[assignment]
        return data


class TotpForm(forms.Form):
    code = forms.RegexField(
        label=_("Code from the authenticator app"),
        regex=r"^\s*\d{6}\s*$",
        error_messages={"invalid": _("Enter the 6 digits from the app.")},
    )
