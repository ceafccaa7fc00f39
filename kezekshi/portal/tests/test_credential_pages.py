"""A person's credentials page: issue, block, replace a lost card, set a PIN."""

from __future__ import annotations

from typing import Any

import pytest
from django.test import Client

from kezekshi.access import credentials, services
from kezekshi.access.models import Credential
from kezekshi.accounts.roles import Role
from kezekshi.conftest import verified_client
from kezekshi.privacy.models import AuditEntry
from kezekshi.privacy.requests import block_person

pytestmark = pytest.mark.django_db


@pytest.fixture
def guard(school: Any, make_user: Any) -> Client:
    client = verified_client(make_user(Role.GUARD, school))
    client.defaults["HTTP_ACCEPT_LANGUAGE"] = "en"
    return client


def _page(pupil: Any) -> str:
    return f"/access/pupils/{pupil.pk}/credentials/"


def test_the_guard_issues_a_card_in_the_readers_spelling(guard: Client, pupil: Any) -> None:
    # when the guard types the number as printed on an EM-Marine card
    url = f"/access/people/{pupil.person_id}/credentials/card/"
    response = guard.post(url, {"uid": "123,45678"})
    # then the card is the person's, stored normalised, and the page lists its last four
    assert response.status_code == 302
    card = Credential.objects.get(person=pupil.person, kind="card")
    assert card.value == "7BB26E" and card.status == "active"
    page = guard.get(_page(pupil)).content.decode()
    assert "…B26E" in page and "Active" in page
    assert AuditEntry.objects.filter(person=pupil.person, action=AuditEntry.Action.VIEW).exists()


def test_a_card_already_in_use_is_refused_clearly(
    guard: Client, pupil: Any, school: Any, school_class: Any
) -> None:
    from kezekshi.people import services as people

    other = people.create_pupil(
        school=school, last_name="Бекова", first_name="Дана", school_class=school_class
    )
    services.issue_card(person=other.person, uid="04:A2:3B:1C", by=None)
    # when the same card (in another spelling) is given to a second pupil
    response = guard.post(
        f"/access/people/{pupil.person_id}/credentials/card/", {"uid": "04a23b1c"}
    )
    # then the page says so and nothing is issued
    assert response.status_code == 409
    assert "already registered to someone" in response.content.decode()
    assert not Credential.objects.filter(person=pupil.person).exists()


def test_a_lost_card_is_replaced_in_one_step(guard: Client, pupil: Any) -> None:
    # given a pupil's card
    old = services.issue_card(person=pupil.person, uid="04A23B1C", by=None)
    # when the guard replaces it with a new card
    response = guard.post(
        f"/access/credentials/{old.pk}/replace/",
        {f"c{old.pk}-new_uid": "04 11 22 33", f"c{old.pk}-reason": "lost on the bus"},
    )
    assert response.status_code == 302
    # then the old card is blocked as lost and points at the new one of the same person
    old.refresh_from_db()
    new = Credential.objects.get(person=pupil.person, kind="card", status="active")
    assert new.value == "04112233"
    assert old.status == "lost" and old.replaced_by_id == new.pk
    assert old.status_reason == "lost on the bus"
    page = guard.get(_page(pupil)).content.decode()
    assert "Lost, blocked" in page and "Card …2233" in page


def test_a_replacement_card_in_use_leaves_the_old_card_working(
    guard: Client, pupil: Any, school: Any, school_class: Any
) -> None:
    from kezekshi.people import services as people

    other = people.create_pupil(
        school=school, last_name="Бекова", first_name="Дана", school_class=school_class
    )
    services.issue_card(person=other.person, uid="04112233", by=None)
    old = services.issue_card(person=pupil.person, uid="04A23B1C", by=None)
    response = guard.post(
        f"/access/credentials/{old.pk}/replace/", {f"c{old.pk}-new_uid": "04112233"}
    )
    assert response.status_code == 409
    assert "already registered to someone" in response.content.decode()
    old.refresh_from_db()
    assert old.status == "active"  # one transaction: nothing half-done


def test_blocking_a_card(guard: Client, pupil: Any) -> None:
    card = services.issue_card(person=pupil.person, uid="04A23B1C", by=None)
    response = guard.post(f"/access/credentials/{card.pk}/block/", {f"c{card.pk}-reason": "broken"})
    assert response.status_code == 302
    card.refresh_from_db()
    assert (card.status, card.status_reason) == ("blocked", "broken")


def test_setting_a_pin(guard: Client, pupil: Any) -> None:
    url = f"/access/people/{pupil.person_id}/credentials/pin/"
    assert guard.post(url, {"pin": "12a"}).status_code == 422
    assert guard.post(url, {"pin": "4821"}).status_code == 422  # too short to be safe alone
    assert guard.post(url, {"pin": "482190"}).status_code == 302
    pin = Credential.objects.get(person=pupil.person, kind="pin")
    assert pin.value == credentials.pin_digest(school_id=pupil.school_id, pin="482190")
    assert "482190" not in guard.get(_page(pupil)).content.decode()


def test_a_blocked_pupil_gets_no_new_card(guard: Client, pupil: Any) -> None:
    block_person(person=pupil.person, by=None)
    page = guard.get(_page(pupil))
    assert page.status_code == 200 and "no new credentials" in page.content.decode()
    response = guard.post(f"/access/people/{pupil.person_id}/credentials/card/", {"uid": "1234"})
    assert response.status_code == 409
    assert not Credential.objects.exists()


def test_a_cashier_and_another_school_cannot_touch_cards(
    pupil: Any, school: Any, other_school: Any, make_user: Any
) -> None:
    card = services.issue_card(person=pupil.person, uid="04A23B1C", by=None)
    cashier = verified_client(make_user(Role.CASHIER, school))
    assert cashier.get(_page(pupil)).status_code == 403
    foreign = verified_client(make_user(Role.GUARD, other_school))
    assert foreign.get(_page(pupil)).status_code == 404
    assert foreign.post(f"/access/credentials/{card.pk}/block/").status_code == 404
    card.refresh_from_db()
    assert card.status == "active"
