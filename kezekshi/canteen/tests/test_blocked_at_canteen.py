"""A pupil whose data are blocked, at the canteen (docs/privacy.md, "Canteen"): the child
must eat, so sales, free meals and the terminals' offline sync go on; the till and the
terminals show the child with the minimum — no photo, a "data blocked" mark, the name only
as the reports show it to that user; a face is never used (given / when / then)."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest
from django.core.files.base import ContentFile
from django.test import Client

from kezekshi.access import services as access_services
from kezekshi.access.models import Credential
from kezekshi.accounts.roles import Role
from kezekshi.canteen.models import CanteenSettings, FreeMeal, Sale, Wallet
from kezekshi.canteen.tests.conftest import Menu, Terminal, balance
from kezekshi.canteen.tests.test_staff_pages import txn_of
from kezekshi.conftest import verified_client
from kezekshi.core.models import School
from kezekshi.devices.simulator.hikvision import tiny_jpeg
from kezekshi.notifications.models import Notification
from kezekshi.people.models import Pupil, SchoolClass
from kezekshi.privacy import services as privacy
from kezekshi.privacy.models import AuditEntry
from kezekshi.privacy.requests import block_person
from kezekshi.privacy.tests.family import Family

pytestmark = pytest.mark.django_db

CARD = "04A23B1C"


def block(pupil: Pupil) -> None:
    block_person(person=pupil.person, by=None, reason="the parents asked")
    pupil.person.refresh_from_db()


@pytest.fixture
def blocked(pupil: Pupil) -> Pupil:
    """The pupil, with a card, a photo on file and a QR pass issued, then blocked."""
    Credential.objects.create(school=pupil.school, person=pupil.person, kind="card", value=CARD)
    pupil.person.photo.save("face.jpg", ContentFile(tiny_jpeg()), save=True)
    block(pupil)
    return pupil


@pytest.fixture
def cashier(school: School, make_user: Any) -> Client:
    return verified_client(make_user(Role.CASHIER, school, language="en"))


def identify(terminal: Terminal, kind: str, value: str) -> Any:
    return terminal.post("/identify", {"credential_kind": kind, "credential": value})


# --- the terminal ----------------------------------------------------------------------------


def test_a_blocked_pupil_is_found_by_card_qr_and_account_and_shown_with_the_minimum(
    terminal: Terminal, pupil: Pupil, funded: Wallet
) -> None:
    # given a card and a QR pass issued before the child's data were blocked
    Credential.objects.create(school=pupil.school, person=pupil.person, kind="card", value=CARD)
    qr = access_services.qr_text(access_services.qr_credential(person=pupil.person))
    pupil.person.photo.save("face.jpg", ContentFile(tiny_jpeg()), save=True)
    block(pupil)
    # when the terminal identifies the child by each of them
    for kind, value in (("card", CARD), ("qr", qr), ("account", pupil.account_number)):
        response = identify(terminal, kind, value)
        # then the child is found, with what a sale needs and no more
        assert response.status_code == 200, (kind, response.content)
        found = response.json()
        assert found["pupil_id"] == pupil.pk and found["blocked"] is True
        assert (found["name"], found["account"], found["school_class"], found["photo_url"]) == (
            "(data blocked)",
            "",
            "",
            None,
        )
        assert found["balance"] == "2000.00"
        assert pupil.person.last_name not in response.content.decode()
    # and each look-up is still an audited read
    assert AuditEntry.objects.filter(target=f"canteen:till:{pupil.pk}").count() == 3


def test_a_pupil_not_blocked_is_shown_in_full_and_marked_not_blocked(
    terminal: Terminal, pupil: Pupil
) -> None:
    found = identify(terminal, "account", pupil.account_number).json()
    assert found["blocked"] is False and found["name"] == pupil.person.full_name
    assert found["account"] == pupil.account_number and found["school_class"] == "5 Ә"


def test_a_blocked_pupil_buys_at_the_terminal(
    terminal: Terminal, blocked: Pupil, menu: Menu, funded: Wallet
) -> None:
    response = terminal.sell(blocked, "B-1", menu.item["plov"])
    assert response.status_code == 200, response.content
    assert response.json()["charged"] == "600.00"
    assert balance(funded) == Decimal("1400.00")


def test_a_blocked_first_grader_still_gets_the_free_lunch(
    terminal: Terminal, school: School, menu: Menu
) -> None:
    from kezekshi.people import services as people_services

    # given a grade-2 pupil of a state school (a free lunch by law, up to 500 ₸), blocked
    CanteenSettings.objects.update_or_create(
        school=school, defaults={"free_lunch_cost": Decimal("500.00")}
    )
    grader = people_services.create_pupil(
        school=school,
        last_name="Кішкентай",
        first_name="Айым",
        school_class=SchoolClass.objects.create(school=school, grade=2, letter="А"),
    )
    block(grader)
    # when the terminal sells the child a borscht, with nothing on the wallet
    response = terminal.sell(grader, "F-1", menu.item["borscht"])
    # then the free-meal fund pays it
    assert response.status_code == 200, response.content
    assert (response.json()["free_meal"], response.json()["charged"]) == ("350.00", "0.00")
    assert FreeMeal.objects.filter(pupil=grader, meal="lunch").count() == 1
    # and the sync, which carries no names, lists the child with no free lunch left
    synced = {p["pupil_id"]: p for p in terminal.get("/sync").json()["pupils"]}
    assert synced[grader.pk]["blocked"] is True
    assert synced[grader.pk]["free_meals_left"] == []


def test_the_offline_sync_includes_a_blocked_pupil_without_a_name(
    terminal: Terminal, blocked: Pupil, funded: Wallet
) -> None:
    response = terminal.get("/sync")
    assert response.status_code == 200
    synced = {p["pupil_id"]: p for p in response.json()["pupils"]}
    mine = synced[blocked.pk]
    assert mine["blocked"] is True
    assert mine["cards"] == [CARD] and mine["allowance"] == "1000.00"
    assert "name" not in mine
    assert blocked.person.last_name not in response.content.decode()


def test_purchase_notices_of_a_blocked_child_go_to_the_legal_representatives_only(
    terminal: Terminal, family: Family, menu: Menu, funded: Wallet
) -> None:
    block(family.first)
    assert terminal.sell(family.first, "N-1", menu.item["tea"]).status_code == 200
    told = Notification.objects.filter(key__startswith="canteen-sale:")
    assert [notice.recipient_id for notice in told] == [family.mother.pk]


def test_a_face_is_never_used_for_a_blocked_pupil(
    terminal: Terminal, family: Family, settings: Any, pupil: Pupil, school: School
) -> None:
    # given paying by face on, the mother's consent, a template, and then the block
    settings.CANTEEN_FACE_IDENTIFICATION = True
    policy = privacy.publish_policy(
        policy=privacy.draft_policy(operator_name="ТОО «Kezekshi»", operator_bin=school.bin),
        by=None,
    )
    privacy.accept_policy(user=family.mother, policy=policy, context=privacy.Context())
    privacy.decide_biometrics(
        user=family.mother, child=pupil.person, kind="face", grant=True,
        context=privacy.Context(),
    )  # fmt: skip
    access_services.register_template(person=pupil.person, kind="face", reference="t-9", by=None)
    assert identify(terminal, "face", "t-9").status_code == 200
    block(pupil)
    # when the face terminal's match is presented, then it is refused
    refused = identify(terminal, "face", "t-9")
    assert refused.status_code == 403
    assert refused.json()["code"] == "biometric_consent_missing"


# --- the cashier's page -----------------------------------------------------------------------


def test_the_till_shows_a_blocked_pupil_with_the_minimum_and_sells(
    cashier: Client, blocked: Pupil, menu: Menu, funded: Wallet
) -> None:
    # when the cashier finds the child by card
    page = cashier.get("/canteen/till/", {"find": CARD, "kind": "card"})
    # then the child is shown marked, without name, account, class or photo
    assert page.status_code == 200
    text = page.content.decode()
    assert 'id="pupil-blocked"' in text
    assert '<h2 id="pupil-name">(data blocked)</h2>' in text
    assert blocked.person.first_name not in text and blocked.person.last_name not in text
    assert blocked.account_number not in text
    assert "class 5 Ә" not in text
    assert "/photo/" not in text
    # and the balance and the menu are there to sell
    assert "2000.00" in text
    sold = cashier.post(
        "/canteen/till/sell/",
        {"pupil": blocked.pk, "txn_id": txn_of(text), f"qty_{menu.item['plov'].pk}": "1"},
    )
    assert sold.status_code == 302
    assert Sale.objects.get().pupil_id == blocked.pk
    assert balance(funded) == Decimal("1400.00")
    # and the cashier is told without the name
    after = cashier.get("/canteen/till/").content.decode()
    assert "Sold to (data blocked)" in after
    assert blocked.person.first_name not in after


def test_the_school_admin_sees_a_blocked_pupil_at_the_till_named_and_marked(
    school: School, make_user: Any, blocked: Pupil, menu: Menu
) -> None:
    admin = verified_client(make_user(Role.SCHOOL_ADMIN, school, language="en"))
    page = admin.get("/canteen/till/", {"find": CARD, "kind": "card"})
    assert page.status_code == 200
    text = page.content.decode()
    assert 'id="pupil-blocked"' in text
    assert f'<h2 id="pupil-name">{blocked.person.full_name} (blocked)</h2>' in text
    assert "class 5 Ә" in text  # the safety roles see name and class, nothing else
    assert blocked.account_number not in text and "/photo/" not in text
