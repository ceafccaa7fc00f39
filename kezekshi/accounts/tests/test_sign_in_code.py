"""Parents sign in with a phone number and a one-time SMS code (API and its limits)."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from django.test import Client
from django.utils import timezone

from kezekshi.accounts.models import ApiToken, Membership, SignInCode, User
from kezekshi.accounts.roles import Role
from kezekshi.conftest import last_sms_code
from kezekshi.people import services as people_services

pytestmark = pytest.mark.django_db
PHONE = "+77011234567"


def ask(client: Client, phone: str = "8 701 123 45 67", ip: str = "10.1.1.1") -> Any:
    return client.post(
        "/api/v1/auth/otp", {"phone": phone}, content_type="application/json", REMOTE_ADDR=ip
    )


def verify(client: Client, code: str, phone: str = PHONE, token: bool = True) -> Any:
    return client.post(
        "/api/v1/auth/otp/verify",
        {"phone": phone, "code": code, "token": token},
        content_type="application/json",
    )


def code_from_outbox(phone: str = PHONE) -> str:
    return last_sms_code(phone)


def test_a_parent_gets_a_code_by_sms_and_signs_in_with_it() -> None:
    client = Client()
    response = ask(client)
    assert response.status_code == 202
    assert response.json() == {"phone": PHONE, "expires_in": 300, "resend_after": 60}
    code = code_from_outbox()
    # The code is stored only as a keyed digest.
    assert code not in SignInCode.objects.get().code_digest

    response = verify(client, code)

    assert response.status_code == 200
    body = response.json()
    user = User.objects.get(phone=PHONE)
    assert body["user_id"] == user.pk
    assert ApiToken.objects.filter(user=user).count() == 1
    me = client.get("/api/v1/me", HTTP_AUTHORIZATION=f"Bearer {body['token']}")
    assert me.status_code == 200 and me.json()["phone"] == PHONE
    # The session cookie works too (the web app).
    assert client.get("/api/v1/me").status_code == 200


def test_a_code_works_once() -> None:
    client = Client()
    ask(client)
    code = code_from_outbox()
    assert verify(client, code).status_code == 200
    response = verify(Client(), code)
    assert response.status_code == 400
    assert response.json()["code"] == "otp_not_requested"


def test_a_wrong_code_says_how_many_attempts_are_left_then_locks() -> None:
    client = Client()
    ask(client)
    code = code_from_outbox()
    wrong = "000000" if code != "000000" else "111111"
    for left in (4, 3, 2, 1):
        response = verify(client, wrong)
        assert response.status_code == 400
        assert response.json()["code"] == "otp_invalid"
        assert response.json()["attempts_left"] == left
    response = verify(client, wrong)
    assert response.status_code == 429
    assert response.json()["code"] == "otp_too_many_attempts"
    # Even the right code no longer works: the parent must ask for a new one.
    response = verify(client, code)
    assert response.json()["code"] == "otp_too_many_attempts"
    assert not User.objects.filter(phone=PHONE).exists()


def test_an_expired_code_is_refused() -> None:
    client = Client()
    ask(client)
    code = code_from_outbox()
    SignInCode.objects.update(expires_at=timezone.now() - dt.timedelta(seconds=1))
    response = verify(client, code)
    assert response.status_code == 400
    assert response.json()["code"] == "otp_expired"


def test_asking_again_too_soon_is_refused_with_the_wait() -> None:
    client = Client()
    assert ask(client).status_code == 202
    response = ask(client)
    assert response.status_code == 429
    assert response.json()["code"] == "otp_resend_too_soon"
    assert 0 < int(response["Retry-After"]) <= 60
    assert SignInCode.objects.count() == 1


def test_a_new_code_replaces_the_old_one(settings: Any) -> None:
    settings.OTP_RESEND_SECONDS = 0
    client = Client()
    ask(client)
    first = code_from_outbox()
    ask(client)
    second = code_from_outbox()
    if first != second:
        assert verify(client, first).json()["code"] == "otp_invalid"
    assert verify(client, second).status_code == 200


def test_codes_per_phone_are_limited(settings: Any) -> None:
    settings.OTP_RESEND_SECONDS = 0
    client = Client()
    for n in range(5):
        assert ask(client, ip=f"10.0.0.{n}").status_code == 202
    response = ask(client, ip="10.0.0.99")
    assert response.status_code == 429
    assert response.json()["code"] == "otp_phone_rate_limited"


def test_codes_per_network_address_are_limited(settings: Any) -> None:
    settings.OTP_MAX_PER_IP_PER_HOUR = 3
    client = Client()
    for n in range(3):
        assert ask(client, phone=f"+7701000000{n}").status_code == 202
    response = ask(client, phone="+77010000009")
    assert response.status_code == 429
    assert response.json()["code"] == "otp_ip_rate_limited"


@pytest.mark.parametrize("phone", ["", "12345", "+7 495 123 45 67", "not a phone"])
def test_a_bad_phone_is_refused_naming_the_field(phone: str) -> None:
    response = ask(Client(), phone=phone)
    assert response.status_code == 422
    body = response.json()
    assert body["code"] == "invalid_phone"
    assert body["field"] == "phone"
    assert SignInCode.objects.count() == 0


def test_garbage_bodies_get_a_clear_422() -> None:
    client = Client()
    for body in ["{not json", "[]", '{"phone": 5, "extra": {}}', ""]:
        response = client.post("/api/v1/auth/otp", body, content_type="application/json")
        assert response.status_code in (400, 422), body
        assert "code" in response.json()
    response = client.post(
        "/api/v1/auth/otp/verify", {"phone": PHONE}, content_type="application/json"
    )
    assert response.status_code == 422
    assert response.json()["code"] == "invalid_input"
    assert "code" in response.json()["fields"]


def test_errors_come_in_the_users_language() -> None:
    client = Client()
    response = client.post(
        "/api/v1/auth/otp/verify",
        {"phone": PHONE, "code": "123456"},
        content_type="application/json",
        HTTP_ACCEPT_LANGUAGE="en",
    )
    assert response.json()["message"] == "Ask for a code first."


def test_signing_in_links_the_parent_to_their_children(school: Any, pupil: Any) -> None:
    people_services.add_guardian(
        pupil=pupil, last_name="Сейтқали", first_name="Гүлнар", phone=PHONE, relation="mother"
    )
    client = Client()
    ask(client)
    token = verify(client, code_from_outbox()).json()["token"]
    user = User.objects.get(phone=PHONE)
    assert Membership.objects.filter(user=user, school=school, role=Role.PARENT).exists()
    children = client.get("/api/v1/me", HTTP_AUTHORIZATION=f"Bearer {token}").json()["children"]
    assert [child["account_number"] for child in children] == [pupil.account_number]


def test_sign_out_revokes_the_token() -> None:
    client = Client()
    ask(client)
    token = verify(client, code_from_outbox()).json()["token"]
    auth = {"Authorization": f"Bearer {token}"}
    assert Client().post("/api/v1/auth/logout", headers=auth).status_code == 204
    response = Client().get("/api/v1/me", headers=auth)
    assert response.status_code == 401
    assert response.json()["code"] == "not_authenticated"
