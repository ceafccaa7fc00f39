"""Staff sign in with a password, and school admins confirm with a TOTP code."""

from __future__ import annotations

import base64
import datetime as dt
import re
from typing import Any

import pytest
from django.test import Client
from django_otp.oath import totp
from django_otp.plugins.otp_totp.models import TOTPDevice

from kezekshi.accounts.models import User
from kezekshi.accounts.roles import Role
from kezekshi.conftest import PASSWORD

pytestmark = pytest.mark.django_db


def sign_in(client: Client, login: str, password: str = PASSWORD) -> Any:
    return client.post("/login/", {"login": login, "password": password})


def test_a_guard_signs_in_by_phone_and_sees_the_school(school: Any, make_user: Any) -> None:
    make_user(Role.GUARD, school, phone="+77015550011")
    client = Client()
    response = sign_in(client, "8 701 555 00 11")
    assert response.status_code == 302 and response["Location"] == "/"
    home = client.get("/")
    assert home.status_code == 200
    assert school.name_kk in home.content.decode()


def test_a_wrong_password_is_refused_with_a_message(school: Any, make_user: Any) -> None:
    user = make_user(Role.GUARD, school)
    response = sign_in(Client(), user.email, "wrong password")
    assert response.status_code == 200
    assert "errorlist" in response.content.decode()


def test_a_school_admin_enrols_totp_then_must_use_it(
    school: Any, make_user: Any, settings: Any
) -> None:
    settings.OTP_TOTP_THROTTLE_FACTOR = 0
    admin = make_user(Role.SCHOOL_ADMIN, school)
    client = Client()
    response = sign_in(client, admin.email)
    assert response["Location"].startswith("/login/2fa/")
    page = client.get("/login/2fa/").content.decode()
    secret = re.search(r'id="totp-secret">([A-Z2-7]+)<', page)
    assert secret and "<svg" in page
    key = base64.b32decode(secret.group(1) + "=" * (-len(secret.group(1)) % 8))

    wrong = client.post("/login/2fa/", {"code": f"{(totp(key) + 1) % 1_000_000:06d}"})
    assert wrong.status_code == 200 and "errorlist" in wrong.content.decode()
    assert client.get("/").status_code == 302

    assert wrong.status_code == 200
    right = client.post("/login/2fa/", {"code": f"{totp(key):06d}"})
    assert right.status_code == 302
    assert client.get("/").status_code == 200
    assert TOTPDevice.objects.get(user=admin).confirmed

    # Next time the admin is asked for a code, not shown a new key.
    second = Client()
    sign_in(second, admin.email)
    assert "totp-secret" not in second.get("/login/2fa/").content.decode()
    assert second.get("/").status_code == 302


def test_a_next_parameter_cannot_send_the_user_to_another_site(school: Any, make_user: Any) -> None:
    user = make_user(Role.GUARD, school)
    response = Client().post(
        "/login/?next=https://evil.example/", {"login": user.email, "password": PASSWORD}
    )
    assert response["Location"] == "/"


def test_the_chosen_language_is_remembered_on_the_account(school: Any, make_user: Any) -> None:
    user = make_user(Role.GUARD, school)
    client = Client()
    sign_in(client, user.email)
    client.post("/language/", {"language": "ru", "next": "/"})
    assert User.objects.get(pk=user.pk).language == "ru"
    # A fresh browser with another language preference still gets Russian once signed in.
    other = Client(HTTP_ACCEPT_LANGUAGE="en")
    sign_in(other, user.email)
    assert '<html lang="ru">' in other.get("/").content.decode()


def test_kazakh_is_the_default_language(school: Any) -> None:
    page = Client().get("/login/").content.decode()
    assert '<html lang="kk">' in page


def test_wrong_totp_codes_slow_down_the_next_try(school: Any, make_user: Any) -> None:
    admin = make_user(Role.SCHOOL_ADMIN, school)
    device = TOTPDevice.objects.create(user=admin, name="app", confirmed=True)
    client = Client(HTTP_ACCEPT_LANGUAGE="en")
    sign_in(client, admin.email)
    code = totp(device.bin_key)
    client.post("/login/2fa/", {"code": f"{(code + 1) % 1_000_000:06d}"})
    response = client.post("/login/2fa/", {"code": f"{code:06d}"})
    assert "Too many wrong codes" in response.content.decode()
    assert client.get("/").status_code == 302


def test_guessing_a_staff_password_is_stopped(school: Any, make_user: Any, settings: Any) -> None:
    from django.utils import timezone

    from kezekshi.accounts.models import PasswordFailure

    settings.STAFF_SIGNIN_MAX_FAILURES = 3
    user = make_user(Role.GUARD, school)
    client = Client(HTTP_ACCEPT_LANGUAGE="en")
    for _attempt in range(3):
        assert "Wrong e-mail" in sign_in(client, user.email, "guess").content.decode()
    refused = sign_in(client, user.email)  # even the right password
    assert refused.status_code == 200
    assert "Too many wrong passwords" in refused.content.decode()
    assert client.get("/").status_code == 302
    # The login is not stored in clear.
    assert not PasswordFailure.objects.filter(login_digest__icontains="example").exists()
    # After the window, the right password works and clears the count.
    PasswordFailure.objects.update(created_at=timezone.now() - dt.timedelta(minutes=16))
    assert sign_in(client, user.email).status_code == 302
    assert not PasswordFailure.objects.exists()
