"""The parents' web app: sign in with phone and SMS code, see the children."""

from __future__ import annotations

from typing import Any

import pytest
from django.test import Client
from django.urls import reverse

from kezekshi.conftest import last_sms_code
from kezekshi.people import services as people_services

pytestmark = pytest.mark.django_db
PHONE = "+77017770001"


def last_code(phone: str = PHONE) -> str:
    return last_sms_code(phone)


def test_a_parent_signs_in_and_sees_their_child(pupil: Any) -> None:
    people_services.add_guardian(
        pupil=pupil, last_name="Сейтқали", first_name="Ерлан", phone=PHONE, relation="father"
    )
    client = Client()
    page = client.get("/app/")
    assert 'name="phone"' in page.content.decode()
    step = client.post("/app/code/", {"phone": "8 701 777 00 01"})
    assert step.status_code == 200 and 'name="code"' in step.content.decode()
    response = client.post("/app/verify/", {"phone": PHONE, "code": last_code()})
    assert response.status_code == 302
    home = client.get("/app/").content.decode()
    assert pupil.person.first_name in home
    assert pupil.account_number in home
    # and each page about the child is a link away, the canteen's balance included
    for name in ("child_wallet", "child_menu", "child_canteen", "child_attendance"):
        assert f'href="{reverse(f"parents:{name}", args=[pupil.pk])}"' in home, name


def test_a_parent_without_linked_children_is_told_what_to_do(db: None) -> None:
    client = Client(HTTP_ACCEPT_LANGUAGE="en")
    client.post("/app/code/", {"phone": PHONE})
    client.post("/app/verify/", {"phone": PHONE, "code": last_code()})
    assert "No children are linked" in client.get("/app/").content.decode()


def test_a_bad_phone_and_a_wrong_code_are_explained(db: None) -> None:
    client = Client(HTTP_ACCEPT_LANGUAGE="en")
    bad = client.post("/app/code/", {"phone": "12345"})
    assert bad.status_code == 422 and "Kazakh mobile number" in bad.content.decode()
    client.post("/app/code/", {"phone": PHONE})
    code = last_code()
    wrong = client.post(
        "/app/verify/", {"phone": PHONE, "code": "999999" if code != "999999" else "111111"}
    )
    assert wrong.status_code == 400
    assert "Attempts left: 4" in wrong.content.decode()
    assert 'name="code"' in wrong.content.decode()


def test_the_app_is_installable(db: None) -> None:
    client = Client()
    manifest = client.get("/app/manifest.webmanifest")
    assert manifest["Content-Type"] == "application/manifest+json"
    assert manifest.json()["start_url"] == "/app/"
    worker = client.get("/app/sw.js")
    assert worker["Content-Type"].startswith("text/javascript")
