"""The canteen's staff pages through the real URL stack: the till (identify, sell, refuse,
void), dishes and menus, free-meal entries and settings (given / when / then)."""

from __future__ import annotations

import re
from decimal import Decimal
from typing import Any

import pytest
from django.test import Client

from kezekshi.accounts.roles import Role
from kezekshi.canteen import controls
from kezekshi.canteen.menu import local_today
from kezekshi.canteen.models import CanteenSettings, DailyMenu, Dish, FreeMealEntitlement, Sale
from kezekshi.canteen.tests.conftest import Menu, balance
from kezekshi.conftest import verified_client
from kezekshi.people.models import Pupil
from kezekshi.privacy.models import AuditEntry
from kezekshi.privacy.tests.family import Family

pytestmark = pytest.mark.django_db


@pytest.fixture
def cashier(school: Any, make_user: Any) -> Client:
    return verified_client(make_user(Role.CASHIER, school, language="en"))


@pytest.fixture
def card(pupil: Pupil) -> str:
    from kezekshi.access.models import Credential

    Credential.objects.create(
        school=pupil.school, person=pupil.person, kind="card", value="01A2B3C4"
    )
    return "01A2B3C4"


def txn_of(page: str) -> str:
    match = re.search(r'name="txn_id" value="([0-9a-f]+)"', page)
    assert match, "no transaction id on the page"
    return match.group(1)


def test_the_cashier_finds_the_pupil_by_card_and_the_read_is_audited(
    cashier: Client, card: str, menu: Menu, funded: Any, pupil: Pupil
) -> None:
    page = cashier.get("/canteen/till/", {"find": card, "kind": "card"})
    assert page.status_code == 200
    text = page.content.decode()
    assert pupil.person.full_name in text
    assert "2000.00" in text
    assert "Борщ" in text or "Borscht" in text
    assert AuditEntry.objects.filter(
        target=f"canteen:till:{pupil.pk}", person=pupil.person
    ).exists()


def test_the_cashier_sells_once_even_when_the_button_is_pressed_twice(
    cashier: Client, card: str, menu: Menu, funded: Any, pupil: Pupil
) -> None:
    page = cashier.get("/canteen/till/", {"find": card}).content.decode()
    form = {
        "pupil": pupil.pk,
        "txn_id": txn_of(page),
        f"qty_{menu.item['plov'].pk}": "1",
        f"qty_{menu.item['compote'].pk}": "2",
    }
    first = cashier.post("/canteen/till/sell/", form)
    second = cashier.post("/canteen/till/sell/", form)
    assert first.status_code == 302 and second.status_code == 302
    assert Sale.objects.count() == 1
    assert balance(funded) == Decimal("1100.00")
    sale = Sale.objects.get()
    assert sale.cashier is not None and sale.external_id.startswith("web:")


def test_the_till_greys_out_and_refuses_an_allergen_whatever_the_cashier_sends(
    cashier: Client, card: str, menu: Menu, funded: Any, family: Family
) -> None:
    controls.set_controls(
        pupil=family.first, by=family.mother, daily_limit=None, allergens=["peanuts"]
    )
    page = cashier.get("/canteen/till/", {"find": card}).content.decode()
    # the peanut bar's button is disabled on the page
    button = re.search(rf'data-item="{menu.item["peanut_bar"].pk}"[^>]*>', page)
    assert button is not None and "disabled" in button.group(0)
    # and a form sent by hand is refused all the same
    refused = cashier.post(
        "/canteen/till/sell/",
        {
            "pupil": family.first.pk,
            "txn_id": txn_of(page),
            f"qty_{menu.item['peanut_bar'].pk}": "1",
        },
    )
    assert refused.status_code == 409
    assert "allergen" in refused.content.decode().lower()
    assert not Sale.objects.exists()


def test_the_cashier_voids_a_sale_with_a_reason(
    cashier: Client, card: str, menu: Menu, funded: Any, pupil: Pupil
) -> None:
    page = cashier.get("/canteen/till/", {"find": card}).content.decode()
    cashier.post(
        "/canteen/till/sell/",
        {"pupil": pupil.pk, "txn_id": txn_of(page), f"qty_{menu.item['plov'].pk}": "1"},
    )
    sale = Sale.objects.get()
    assert cashier.post(f"/canteen/till/sales/{sale.pk}/void/", {"reason": ""}).status_code == 302
    sale.refresh_from_db()
    assert sale.status == "sold"  # no reason, no void
    cashier.post(f"/canteen/till/sales/{sale.pk}/void/", {"reason": "wrong pupil"})
    sale.refresh_from_db()
    assert sale.status == "voided" and balance(funded) == Decimal("2000.00")


def test_an_unknown_card_is_told_to_the_cashier(cashier: Client, menu: Menu) -> None:
    page = cashier.get("/canteen/till/", {"find": "0BADCAFE"})
    assert page.status_code == 404
    assert "till-error" in page.content.decode()


def test_the_canteen_staff_keep_dishes_and_publish_the_days_menu(
    school: Any, make_user: Any, menu: Menu
) -> None:
    staff = verified_client(make_user(Role.CASHIER, school))
    # a new dish
    response = staff.post(
        "/canteen/dishes/",
        {
            "name_kk": "Манты",
            "name_ru": "Манты",
            "name_en": "Manti",
            "category": menu.category["mains"].pk,
            "price": "700",
            "allergens": ["gluten"],
            "is_active": "on",
        },
    )
    assert response.status_code == 302, response.content.decode()[:2000]
    manti = Dish.objects.get(name_kk="Манты")
    assert manti.allergens == ["gluten"] and manti.price == Decimal("700.00")
    # tomorrow's lunch: manti at 650 and compote, published
    import datetime as dt

    tomorrow = (local_today() + dt.timedelta(days=1)).isoformat()
    response = staff.post(
        "/canteen/menu/day/",
        {
            "date": tomorrow,
            f"lunch_{manti.pk}": "1",
            f"lunch_price_{manti.pk}": "650",
            f"lunch_{menu.dish['compote'].pk}": "1",
            "lunch_published": "1",
        },
    )
    assert response.status_code == 302
    lunch = DailyMenu.objects.get(date=tomorrow, meal="lunch")
    assert lunch.is_published
    assert {(i.dish_id, i.price) for i in lunch.items.all()} == {
        (manti.pk, Decimal("650.00")),
        (menu.dish["compote"].pk, Decimal("150.00")),
    }
    week = staff.get("/canteen/menu/", {"date": tomorrow}).content.decode()
    assert "Манты" in week or "Manti" in week


def test_the_social_pedagogue_enters_and_the_director_approves(
    school: Any, make_user: Any, pupil: Pupil
) -> None:
    pedagogue = verified_client(make_user(Role.SOCIAL_PEDAGOGUE, school))
    director = verified_client(make_user(Role.SCHOOL_ADMIN, school))
    today = local_today().isoformat()
    response = pedagogue.post(
        "/canteen/free-meals/",
        {"account": pupil.account_number, "basis": "orphan", "valid_from": today,
         "valid_until": today, "note": "certificate No. 17"},
    )  # fmt: skip
    assert response.status_code == 302
    entry = FreeMealEntitlement.objects.get()
    assert (
        pedagogue.post(f"/canteen/free-meals/{entry.pk}/decide/", {"action": "approve"}).status_code
        == 403
    )
    director.post(f"/canteen/free-meals/{entry.pk}/decide/", {"action": "approve"})
    entry.refresh_from_db()
    assert entry.status == "approved"


def test_the_school_admin_sets_the_free_meal_costs(school: Any, make_user: Any) -> None:
    admin = verified_client(make_user(Role.SCHOOL_ADMIN, school))
    response = admin.post(
        "/canteen/settings/",
        {"free_breakfast_cost": "0", "free_lunch_cost": "577", "free_snack_cost": "0",
         "offline_limit": "800"},
    )  # fmt: skip
    assert response.status_code == 302
    saved = CanteenSettings.objects.get(school=school)
    assert saved.free_lunch_cost == Decimal("577.00") and saved.offline_limit == Decimal("800.00")
    assert AuditEntry.objects.filter(target="canteen:settings").exists()
