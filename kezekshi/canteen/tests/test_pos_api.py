"""The POS terminal API over HTTP: identify, sell, the refusals no cashier can override,
idempotent replays, voids and refunds (given / when / then)."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest

from kezekshi.canteen import controls
from kezekshi.canteen.models import LedgerTransaction, Sale, Wallet
from kezekshi.canteen.tests.conftest import Menu, Terminal, balance, make_terminal
from kezekshi.people.models import Pupil
from kezekshi.privacy.tests.family import Family

pytestmark = pytest.mark.django_db


def test_a_sale_charges_the_wallet_once_and_answers_what_was_sold(
    terminal: Terminal, menu: Menu, pupil: Pupil, funded: Wallet
) -> None:
    # given 2,000 ₸ on the balance
    # when the terminal sells a borscht and two compotes
    response = terminal.sell(pupil, "T-1", menu.item["borscht"], (menu.item["compote"], 2))
    # then
    assert response.status_code == 200, response.content
    answer = response.json()
    assert answer["total"] == "650.00"
    assert answer["charged"] == "650.00"
    assert answer["free_meal"] == "0.00"
    assert answer["balance"] == "1350.00"
    assert [line["quantity"] for line in answer["items"]] == [1, 2]
    assert balance(funded) == Decimal("1350.00")
    sale = Sale.objects.get()
    assert sale.charge is not None and sale.charge.amount == Decimal("650.00")


def charges_of(pupil: Pupil) -> list[LedgerTransaction]:
    return list(
        LedgerTransaction.objects.filter(
            kind=LedgerTransaction.Kind.SALE, entries__wallet__pupil=pupil
        )
    )


def set_family_rules(family: Family, **rules: Any) -> None:
    values = {"daily_limit": None, "allergens": [], **rules}
    controls.set_controls(pupil=family.first, by=family.mother, **values)


def test_an_item_with_the_childs_allergen_is_refused_and_nothing_is_charged(
    terminal: Terminal, menu: Menu, family: Family, funded: Wallet
) -> None:
    # given the mother said the child is allergic to peanuts
    set_family_rules(family, allergens=["peanuts"])
    # when the terminal tries to sell a peanut bar with a compote, even asking to override
    response = terminal.post(
        "/sales",
        {
            "txn_id": "T-2",
            "pupil_id": family.first.pk,
            "items": [
                {"menu_item_id": menu.item["peanut_bar"].pk, "quantity": 1},
                {"menu_item_id": menu.item["compote"].pk, "quantity": 1},
            ],
            "override": True,
            "force": True,
        },
    )
    # then it is refused with a code the terminal can act on, naming the dish
    assert response.status_code == 409
    body = response.json()
    assert body["code"] == "allergen"
    assert body["dishes"] == [menu.dish["peanut_bar"].pk]
    assert "Peanut bar" in body["message"]
    assert not Sale.objects.exists()
    assert charges_of(family.first) == []
    assert balance(funded) == Decimal("2000.00")


def test_the_allergen_refusal_holds_in_the_users_language(
    terminal: Terminal, menu: Menu, family: Family, funded: Wallet
) -> None:
    set_family_rules(family, allergens=["milk"])
    response = terminal.sell(family.first, "T-3", menu.item["porridge"], language="ru")
    assert response.status_code == 409
    assert response.json()["code"] == "allergen"
    assert "Молочная каша" in response.json()["message"]  # the dish's Russian name


def test_dishes_and_categories_the_parents_banned_are_refused(
    terminal: Terminal, menu: Menu, family: Family, funded: Wallet
) -> None:
    # given the mother banned plov, and every sweet
    set_family_rules(
        family,
        banned_dishes=[menu.dish["plov"].pk],
        banned_categories=[menu.category["sweets"].pk],
    )
    # when / then
    plov = terminal.sell(family.first, "T-4", menu.item["plov"])
    assert plov.status_code == 409 and plov.json()["code"] == "banned_item"
    sweet = terminal.sell(family.first, "T-5", menu.item["peanut_bar"])
    assert sweet.status_code == 409 and sweet.json()["code"] == "banned_item"
    # and what is not banned still sells
    assert terminal.sell(family.first, "T-6", menu.item["borscht"]).status_code == 200
    assert balance(funded) == Decimal("1650.00")


def test_the_daily_limit_holds_at_its_boundary(
    terminal: Terminal, menu: Menu, family: Family, funded: Wallet
) -> None:
    # given a daily limit of 500 ₸
    set_family_rules(family, daily_limit=Decimal("500.00"))
    # when the child spends 350, then exactly the 150 left
    assert terminal.sell(family.first, "L-1", menu.item["borscht"]).status_code == 200
    at_limit = terminal.sell(family.first, "L-2", menu.item["compote"])
    # then the sale that reaches the limit exactly goes through
    assert at_limit.status_code == 200, at_limit.content
    # and one tenge more — a 50 ₸ tea — does not
    over = terminal.sell(family.first, "L-3", menu.item["tea"])
    assert over.status_code == 409
    assert over.json()["code"] == "daily_limit"
    assert over.json()["left"] == "0.00"
    assert balance(funded) == Decimal("1500.00")


def test_a_sale_over_the_limit_says_what_is_left(
    terminal: Terminal, menu: Menu, family: Family, funded: Wallet
) -> None:
    set_family_rules(family, daily_limit=Decimal("400.00"))
    assert terminal.sell(family.first, "L-4", menu.item["borscht"]).status_code == 200
    over = terminal.sell(family.first, "L-5", menu.item["compote"])
    assert over.status_code == 409
    assert over.json() | {"message": ""} == {"code": "daily_limit", "message": "", "left": "50.00"}


def test_a_voided_sale_does_not_count_towards_the_daily_limit(
    terminal: Terminal, menu: Menu, family: Family, funded: Wallet
) -> None:
    set_family_rules(family, daily_limit=Decimal("400.00"))
    assert terminal.sell(family.first, "V-1", menu.item["borscht"]).status_code == 200
    assert terminal.post("/sales/V-1/void", {"reason": "wrong child"}).status_code == 200
    assert terminal.sell(family.first, "V-2", menu.item["borscht"]).status_code == 200


def test_insufficient_funds_are_refused_with_the_amount_available(
    terminal: Terminal, menu: Menu, pupil: Pupil, wallet: Wallet, kaspi: Any
) -> None:
    from kezekshi.canteen.tests.conftest import top_up

    top_up(wallet, kaspi, "500.00", "small")
    response = terminal.sell(pupil, "F-1", menu.item["plov"])
    assert response.status_code == 409
    assert response.json()["code"] == "insufficient_funds"
    assert response.json()["available"] == "500.00"
    assert not Sale.objects.exists()
    assert balance(wallet) == Decimal("500.00")


def test_a_replayed_sale_returns_the_original_answer_and_charges_once(
    terminal: Terminal, menu: Menu, pupil: Pupil, funded: Wallet
) -> None:
    # given a sale whose answer the terminal did not receive
    first = terminal.sell(pupil, "R-1", menu.item["plov"])
    assert first.status_code == 200
    # when the terminal sends the same transaction again
    again = terminal.sell(pupil, "R-1", menu.item["plov"])
    # then it gets the very same answer, marked as a replay, and nothing more is charged
    assert again.status_code == 200
    assert again.content == first.content
    assert again["Idempotent-Replayed"] == "true"
    assert "Idempotent-Replayed" not in first
    assert len(charges_of(pupil)) == 1
    assert balance(funded) == Decimal("1400.00")


def test_the_same_transaction_id_for_another_sale_is_refused(
    terminal: Terminal, menu: Menu, pupil: Pupil, funded: Wallet
) -> None:
    assert terminal.sell(pupil, "R-2", menu.item["plov"]).status_code == 200
    other = terminal.sell(pupil, "R-2", menu.item["borscht"])
    assert other.status_code == 409
    assert other.json()["code"] == "external_id_reused"
    assert balance(funded) == Decimal("1400.00")


def test_two_terminals_may_use_the_same_transaction_numbers(
    terminal: Terminal, menu: Menu, pupil: Pupil, funded: Wallet, school: Any
) -> None:
    second = make_terminal(school, "Касса 2")
    assert terminal.sell(pupil, "1", menu.item["tea"]).status_code == 200
    assert second.sell(pupil, "1", menu.item["tea"]).status_code == 200
    assert len(charges_of(pupil)) == 2


def test_an_item_not_on_todays_menu_is_refused(
    terminal: Terminal, menu: Menu, pupil: Pupil, funded: Wallet
) -> None:
    response = terminal.post(
        "/sales", {"txn_id": "U-1", "pupil_id": pupil.pk, "items": [{"menu_item_id": 999999}]}
    )
    assert response.status_code == 422
    assert response.json()["code"] == "unknown_item"


def test_a_void_gives_the_money_back_once_and_is_audited(
    terminal: Terminal, menu: Menu, pupil: Pupil, funded: Wallet
) -> None:
    from kezekshi.privacy.models import AuditEntry

    assert terminal.sell(pupil, "X-1", menu.item["plov"]).status_code == 200
    no_reason = terminal.post("/sales/X-1/void", {"reason": " "})
    assert no_reason.status_code == 422
    voided = terminal.post("/sales/X-1/void", {"reason": "sold to the wrong pupil"})
    assert voided.status_code == 200 and voided.json()["status"] == "voided"
    again = terminal.post("/sales/X-1/void", {"reason": "sold to the wrong pupil"})
    assert again.status_code == 200
    assert balance(funded) == Decimal("2000.00")
    assert LedgerTransaction.objects.filter(kind=LedgerTransaction.Kind.SALE_VOID).count() == 1
    entry = AuditEntry.objects.filter(target__startswith="canteen:sale:").get()
    assert entry.details["void"] == "sold to the wrong pupil"
    assert entry.details["device"] == terminal.device.pk


def test_a_partial_refund_needs_a_reason_and_never_exceeds_the_sale(
    terminal: Terminal, menu: Menu, pupil: Pupil, funded: Wallet
) -> None:
    assert terminal.sell(pupil, "P-1", menu.item["plov"], menu.item["compote"]).status_code == 200
    refund = {"refund_id": "P-1-r", "amount": "150.00", "reason": "compote spilt"}
    assert terminal.post("/sales/P-1/refund", refund).status_code == 200
    assert terminal.post("/sales/P-1/refund", refund).status_code == 200  # a replay
    too_much = {"refund_id": "P-1-r2", "amount": "700.00", "reason": "all of it"}
    response = terminal.post("/sales/P-1/refund", too_much)
    assert response.status_code == 409 and response.json()["code"] == "refund_exceeds_payment"
    bad = terminal.post("/sales/P-1/refund", {**refund, "refund_id": "x", "amount": "1e3"})
    assert bad.status_code == 422 and bad.json()["code"] == "invalid_amount"
    assert balance(funded) == Decimal("1400.00")
    # Part of it was given back: the rest is refunded, the sale is not voided.
    voided = terminal.post("/sales/P-1/void", {"reason": "wrong pupil"})
    assert voided.status_code == 409 and voided.json()["code"] == "partly_refunded"
    assert balance(funded) == Decimal("1400.00")
    assert Sale.objects.get(external_id__endswith=":P-1").status == Sale.Status.SOLD


def test_a_refund_at_a_terminal_is_audited_naming_the_till_and_the_device(
    terminal: Terminal, menu: Menu, pupil: Pupil, funded: Wallet
) -> None:
    from kezekshi.privacy.models import AuditEntry

    assert terminal.sell(pupil, "P-2", menu.item["plov"], menu.item["compote"]).status_code == 200
    refund = {"refund_id": "P-2-r", "amount": "150.00", "reason": "compote spilt"}
    # when the terminal refunds part of its sale, and sends the same refund again
    assert terminal.post("/sales/P-2/refund", refund).status_code == 200
    assert terminal.post("/sales/P-2/refund", refund).status_code == 200
    # then the audit log says which till gave it back, once (no user signs a terminal's
    # request: the device is the only "who")
    sale = Sale.objects.get()
    entry = AuditEntry.objects.filter(target=f"canteen:sale:{sale.pk}").get()
    assert entry.person_id == pupil.person_id
    assert entry.details | {"transaction": 0} == {
        "refund": "compote spilt",
        "amount": "150.00",
        "refund_id": "P-2-r",
        "till": f"d{terminal.device.pk}:P-2",
        "device": terminal.device.pk,
        "transaction": 0,
    }


def test_a_sale_whose_transaction_id_has_a_slash_can_be_refunded_and_voided(
    terminal: Terminal, menu: Menu, pupil: Pupil, funded: Wallet
) -> None:
    # given a terminal that numbers its sales "shift/number", and a sale it made
    sold = terminal.sell(pupil, "K1/000481", menu.item["plov"], menu.item["compote"])
    assert sold.status_code == 200 and sold.json()["txn_id"] == "K1/000481"
    # when it refunds the compote and then voids the sale, by that id
    refund = {"refund_id": "K1/000481-r1", "amount": "150.00", "reason": "compote spilt"}
    refunded = terminal.post("/sales/K1/000481/refund", refund)
    # then both reach the sale (the money would otherwise be stuck: no page voids it)
    assert refunded.status_code == 200, refunded.content
    assert refunded.json()["refunded"] == "150.00"
    assert balance(funded) == Decimal("1400.00")
    unknown = terminal.post("/sales/K1/000482/void", {"reason": "no such sale"})
    assert unknown.status_code == 404 and unknown.json()["code"] == "unknown_sale"
    assert terminal.sell(pupil, "K1/000483", menu.item["tea"]).status_code == 200
    voided = terminal.post("/sales/K1/000483/void", {"reason": "wrong pupil"})
    assert voided.status_code == 200 and voided.json()["status"] == "voided"
    assert balance(funded) == Decimal("1400.00")


def test_a_terminal_cannot_touch_another_terminals_sales(
    terminal: Terminal, menu: Menu, pupil: Pupil, funded: Wallet, school: Any
) -> None:
    assert terminal.sell(pupil, "O-1", menu.item["tea"]).status_code == 200
    other = make_terminal(school, "Касса 2")
    response = other.post("/sales/O-1/void", {"reason": "mine now"})
    assert response.status_code == 404


def test_only_pos_terminals_and_valid_signatures_are_served(
    menu: Menu, pupil: Pupil, funded: Wallet, school: Any
) -> None:
    from kezekshi.access import services as access_services

    turnstile, secret = access_services.register_device(
        school=school, name="Турникет", kind="turnstile", door=None
    )
    response = Terminal(turnstile, secret).sell(pupil, "D-1", menu.item["tea"])
    assert response.status_code == 403 and response.json()["code"] == "not_a_pos_terminal"
    forged = Terminal(make_terminal(school).device, "not-the-secret")
    assert forged.sell(pupil, "D-2", menu.item["tea"]).status_code == 401
    assert not Sale.objects.exists()


def test_a_pupil_of_another_school_is_not_found(
    terminal: Terminal, menu: Menu, other_school: Any, funded: Wallet
) -> None:
    from kezekshi.people import services as people_services

    stranger = people_services.create_pupil(
        school=other_school, last_name="Басқа", first_name="Бала"
    )
    response = terminal.sell(stranger, "S-1", menu.item["tea"])
    assert response.status_code == 404 and response.json()["code"] == "unknown_pupil"


# --- identification ----------------------------------------------------------------------


@pytest.fixture
def card(pupil: Pupil) -> str:
    from kezekshi.access.models import Credential

    Credential.objects.create(
        school=pupil.school, person=pupil.person, kind="card", value="04A23B1C"
    )
    return "04:A2:3B:1C"


def test_a_pupil_is_found_by_the_card_a_usb_reader_types(
    terminal: Terminal, pupil: Pupil, card: str, funded: Wallet, family: Family
) -> None:
    set_family_rules(family, allergens=["milk"], daily_limit=Decimal("1000.00"))
    response = terminal.post("/identify", {"credential_kind": "card", "credential": card})
    assert response.status_code == 200, response.content
    found = response.json()
    assert found["pupil_id"] == pupil.pk
    assert found["name"] == pupil.person.full_name
    assert found["school_class"] == "5 Ә"
    assert found["balance"] == "2000.00"
    assert found["allergens"] == ["milk"]
    assert found["daily_limit_left"] == "1000.00"
    assert found["offline_allowance"] == "1000.00"


def test_a_pupil_is_found_by_personal_account_and_an_unknown_card_is_not(
    terminal: Terminal, pupil: Pupil
) -> None:
    found = terminal.post(
        "/identify", {"credential_kind": "account", "credential": pupil.account_number}
    )
    assert found.status_code == 200 and found.json()["pupil_id"] == pupil.pk
    unknown = terminal.post("/identify", {"credential_kind": "card", "credential": "DEADBEEF"})
    assert unknown.status_code == 404 and unknown.json()["code"] == "unknown_credential"


def test_a_pupil_shown_at_a_terminal_is_an_audited_read_like_at_the_cashiers_page(
    terminal: Terminal, pupil: Pupil, card: str
) -> None:
    from kezekshi.privacy.models import AuditEntry

    # when the terminal identifies the pupil (name, photo, class, allergens on its screen)
    found = terminal.post("/identify", {"credential_kind": "card", "credential": card})
    assert found.status_code == 200
    # then the read is in the school's audit log, naming the device
    entry = AuditEntry.objects.get(target=f"canteen:till:{pupil.pk}")
    assert (entry.action, entry.person_id, entry.school_id) == (
        "view",
        pupil.person_id,
        pupil.school_id,
    )
    assert entry.details == {"identified_by": "card", "device": terminal.device.pk}
    # and a card that identifies nobody shows nobody: nothing is written
    terminal.post("/identify", {"credential_kind": "card", "credential": "DEADBEEF"})
    assert AuditEntry.objects.filter(target__startswith="canteen:till:").count() == 1


def test_a_personal_account_with_a_digit_too_many_identifies_nobody(
    terminal: Terminal, pupil: Pupil
) -> None:
    # given the pupil's account is 11 digits; when the cashier types one digit too many
    # (or a scanner sends a longer number), then nobody is found: never the pupil whose
    # account happens to start the same, who would then be charged
    for typed in (pupil.account_number + "7", pupil.account_number + "0000"):
        response = terminal.post("/identify", {"credential_kind": "account", "credential": typed})
        assert response.status_code == 404, typed
        assert response.json()["code"] == "unknown_account"
    # and the number as it is, with the blanks a keyboard adds, still finds the pupil
    spaced = {"credential_kind": "account", "credential": f" {pupil.account_number} "}
    assert terminal.post("/identify", spaced).json()["pupil_id"] == pupil.pk


def test_a_blocked_card_does_not_identify(terminal: Terminal, pupil: Pupil, card: str) -> None:
    from kezekshi.access.models import Credential

    Credential.objects.update(status=Credential.Status.LOST)
    response = terminal.post("/identify", {"credential_kind": "card", "credential": card})
    assert response.status_code == 403 and response.json()["code"] == "credential_blocked"


@pytest.fixture
def face(pupil: Pupil) -> str:
    from kezekshi.access.models import Credential

    Credential.objects.create(school=pupil.school, person=pupil.person, kind="face", value="tpl-77")
    return "tpl-77"


def test_paying_by_face_is_off_unless_the_school_turned_it_on(
    terminal: Terminal, face: str
) -> None:
    response = terminal.post("/identify", {"credential_kind": "face", "credential": face})
    assert response.status_code == 403
    assert response.json()["code"] == "face_identification_off"


def test_a_face_without_biometric_consent_is_never_used(
    terminal: Terminal, face: str, family: Family, settings: Any
) -> None:
    # given paying by face is on, but nobody consented to the child's face being used
    settings.CANTEEN_FACE_IDENTIFICATION = True
    response = terminal.post("/identify", {"credential_kind": "face", "credential": face})
    assert response.status_code == 403
    assert response.json()["code"] == "biometric_consent_missing"


def test_a_face_identifies_only_while_the_biometric_consent_holds(
    terminal: Terminal, family: Family, settings: Any, pupil: Pupil, school: Any
) -> None:
    from kezekshi.access import services as access_services
    from kezekshi.privacy import services as privacy

    # given paying by face is on, and the mother consented to the child's face
    settings.CANTEEN_FACE_IDENTIFICATION = True
    policy = privacy.publish_policy(
        policy=privacy.draft_policy(operator_name="ТОО «Kezekshi»", operator_bin=school.bin),
        by=None,
    )
    privacy.accept_policy(user=family.mother, policy=policy, context=privacy.Context())

    def consent(grant: bool) -> None:
        privacy.decide_biometrics(
            user=family.mother, child=pupil.person, kind="face", grant=grant,
            context=privacy.Context(),
        )  # fmt: skip

    consent(True)
    access_services.register_template(person=pupil.person, kind="face", reference="t-9", by=None)
    face = {"credential_kind": "face", "credential": "t-9"}
    # when the face terminal's match is presented, then it identifies the pupil
    found = terminal.post("/identify", face)
    assert found.status_code == 200 and found.json()["pupil_id"] == pupil.pk
    # and once the consent is withdrawn the face is never used again
    consent(False)
    refused = terminal.post("/identify", face)
    assert refused.status_code == 403
    assert refused.json()["code"] == "biometric_consent_missing"


# --- the pupil's photo on the terminal's screen ----------------------------------------------


def give_photo(person: Any) -> bytes:
    from django.core.files.base import ContentFile

    from kezekshi.devices.simulator.hikvision import tiny_jpeg

    picture = tiny_jpeg()
    person.photo.save("face.jpg", ContentFile(picture), save=True)
    return picture


def photo_path(pupil: Pupil) -> str:
    return f"/pupils/{pupil.pk}/photo"


def test_a_terminal_shows_the_photo_by_its_own_signed_link_and_the_read_is_audited(
    terminal: Terminal, pupil: Pupil, card: str
) -> None:
    from kezekshi.privacy.models import AuditEntry

    # given a pupil with a photo on file
    picture = give_photo(pupil.person)
    # when the terminal identifies the pupil, then the photo's link is the terminal's own
    found = terminal.post("/identify", {"credential_kind": "card", "credential": card}).json()
    assert found["photo_url"] == f"/api/v1/canteen/pupils/{pupil.pk}/photo"
    # and a signed GET of it gives the photo
    response = terminal.get(photo_path(pupil))
    assert response.status_code == 200
    assert response["Content-Type"] == "image/jpeg"
    assert response["Cache-Control"] == "private, max-age=300"
    assert b"".join(response.streaming_content) == picture  # read to the end: closed
    # and showing it is in the school's audit log, naming the device
    entry = AuditEntry.objects.get(target=f"canteen:photo:{pupil.pk}")
    assert (entry.action, entry.actor_id, entry.person_id, entry.school_id) == (
        "view",
        None,
        pupil.person_id,
        pupil.school_id,
    )
    assert entry.details == {"device": terminal.device.pk}


def test_a_terminal_gets_no_photo_of_a_pupil_who_left_is_blocked_or_elsewhere(
    terminal: Terminal, pupil: Pupil, other_school: Any
) -> None:
    from django.utils import timezone

    from kezekshi.people import services as people_services
    from kezekshi.people.models import Person
    from kezekshi.privacy.models import AuditEntry

    def refused(child: Pupil) -> None:
        response = terminal.get(photo_path(child))
        assert response.status_code == 404 and response.json()["code"] == "no_photo"

    # no photo on file
    refused(pupil)
    # another school's pupil, with a photo
    stranger = people_services.create_pupil(
        school=other_school, last_name="Басқа", first_name="Бала"
    )
    give_photo(stranger.person)
    refused(stranger)
    # a pupil whose data are blocked
    give_photo(pupil.person)
    Person.objects.filter(pk=pupil.person_id).update(blocked_at=timezone.now())
    refused(pupil)
    # a pupil who left
    Person.objects.filter(pk=pupil.person_id).update(blocked_at=None)
    Pupil.objects.filter(pk=pupil.pk).update(is_active=False)
    refused(pupil)
    assert not AuditEntry.objects.filter(target__startswith="canteen:photo:").exists()


def test_only_a_signed_pos_terminal_gets_a_pupils_photo(pupil: Pupil, school: Any) -> None:
    from django.test import Client

    from kezekshi.access import services as access_services

    give_photo(pupil.person)
    turnstile, secret = access_services.register_device(
        school=school, name="Турникет", kind="turnstile", door=None
    )
    response = Terminal(turnstile, secret).get(photo_path(pupil))
    assert response.status_code == 403 and response.json()["code"] == "not_a_pos_terminal"
    forged = Terminal(make_terminal(school).device, "not-the-secret")
    assert forged.get(photo_path(pupil)).status_code == 401
    assert Client().get(f"/api/v1/canteen{photo_path(pupil)}").status_code == 401
