"""The parents' canteen pages: the week's menu with the child's allergens marked, meal
ratings, and the controls only a legal representative may change (given / when / then)."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

import pytest

from kezekshi.canteen import controls
from kezekshi.canteen.menu import local_today
from kezekshi.canteen.models import MealRating, PupilControls
from kezekshi.canteen.tests.conftest import Menu, make_menu
from kezekshi.privacy.tests.family import Family, signed_in, stranger_with_child

pytestmark = pytest.mark.django_db


@pytest.fixture
def family(pupil: Any) -> Family:
    from kezekshi.privacy.tests.family import make_family

    return make_family(pupil)


@pytest.fixture
def menu(school: Any) -> Menu:
    return make_menu(school)


def test_the_week_menu_shows_prices_allergens_and_marks_the_childs_allergens(
    family: Family, menu: Menu
) -> None:
    controls.set_controls(
        pupil=family.first, by=family.mother, daily_limit=None, allergens=["milk"]
    )
    page = signed_in(family.mother).get(f"/app/children/{family.first.pk}/menu/")
    assert page.status_code == 200
    text = page.content.decode()
    assert "Milk porridge" in text and "300.00" in text
    # exactly the porridge is marked as dangerous for this child
    assert text.count('class="warn allergen"') == 1
    porridge = text.index(f'data-dish="{menu.dish["porridge"].pk}"')
    assert text.index('class="warn allergen"') > porridge


def test_an_unpublished_menu_is_not_shown_to_parents(family: Family, menu: Menu) -> None:
    menu.breakfast.is_published = False
    menu.breakfast.save()
    text = signed_in(family.mother).get(f"/app/children/{family.first.pk}/menu/").content.decode()
    assert "Milk porridge" not in text and "Plov" in text


def test_a_parent_rates_todays_dish_and_the_childs_own_mark_is_kept_apart(
    family: Family, menu: Menu
) -> None:
    client = signed_in(family.mother)
    today = local_today().isoformat()
    url = f"/app/children/{family.first.pk}/menu/rate/"
    plov = menu.dish["plov"].pk
    client.post(url, {"dish": plov, "date": today, "score": "4", "comment": "тұзы аз"})
    client.post(url, {"dish": plov, "date": today, "score": "5", "by_child": "1"})
    client.post(url, {"dish": plov, "date": today, "score": "3", "comment": "суық"})  # changed
    marks = {(r.by_child, r.score, r.comment) for r in MealRating.objects.all()}
    assert marks == {(False, 3, "суық"), (True, 5, "")}
    tomorrow = (local_today() + dt.timedelta(days=1)).isoformat()
    client.post(url, {"dish": plov, "date": tomorrow, "score": "5"})
    assert MealRating.objects.count() == 2


def test_a_legal_representative_sets_the_controls(family: Family, menu: Menu) -> None:
    client = signed_in(family.mother)
    response = client.post(
        f"/app/children/{family.first.pk}/canteen/",
        {
            "daily_limit": "800",
            "low_balance_threshold": "500",
            "allergens": ["peanuts", "nuts"],
            "banned_categories": [str(menu.category["sweets"].pk)],
            "banned_dishes": [str(menu.dish["plov"].pk)],
        },
    )
    assert response.status_code == 302
    saved = PupilControls.objects.get(pupil=family.first)
    assert saved.daily_limit == Decimal("800.00")
    assert saved.allergens == ["nuts", "peanuts"]
    assert saved.banned_categories == [menu.category["sweets"].pk]
    assert saved.banned_dishes == [menu.dish["plov"].pk]


def test_a_guardian_who_is_not_a_legal_representative_or_a_stranger_cannot(
    family: Family, menu: Menu, school: Any
) -> None:
    grandmother = signed_in(family.grandmother)
    assert grandmother.get(f"/app/children/{family.first.pk}/canteen/").status_code == 404
    assert grandmother.get(f"/app/children/{family.first.pk}/menu/").status_code == 200
    stranger, _child = stranger_with_child(school)
    outsider = signed_in(stranger)
    assert outsider.get(f"/app/children/{family.first.pk}/menu/").status_code == 404
    assert (
        outsider.post(
            f"/app/children/{family.first.pk}/canteen/", {"allergens": ["milk"]}
        ).status_code
        == 404
    )
    assert not PupilControls.objects.exists()
