"""Changing a day's menu after sales: what was sold stays on it, nothing else does."""

from __future__ import annotations

from decimal import Decimal

import pytest

from kezekshi.canteen import menu as menus
from kezekshi.canteen.menu import local_today
from kezekshi.canteen.models import Dish, MenuItem, Wallet
from kezekshi.canteen.tests.conftest import Menu, Terminal
from kezekshi.core.errors import ServiceError
from kezekshi.people.models import Pupil

pytestmark = pytest.mark.django_db


def lunch_of(menu: Menu, *names: str) -> list[tuple[Dish, Decimal | None]]:
    return [(menu.dish[name], None) for name in names]


def test_a_dish_sold_at_this_meal_stays_a_voided_or_other_meals_sale_does_not_hold_it(
    terminal: Terminal, menu: Menu, pupil: Pupil, funded: Wallet
) -> None:
    school = menu.lunch.school
    today = local_today()
    # given tea on lunch too, a plov sold at lunch, a compote sold and voided, and tea
    # sold at breakfast
    menus.set_menu(
        school=school,
        date=today,
        meal="lunch",
        items=lunch_of(menu, "borscht", "plov", "compote", "peanut_bar", "tea"),
    )
    assert terminal.sell(pupil, "M-1", menu.item["plov"]).status_code == 200
    assert terminal.sell(pupil, "M-2", menu.item["compote"]).status_code == 200
    voided = terminal.post("/sales/M-2/void", {"reason": "wrong till"})
    assert voided.status_code == 200
    assert terminal.sell(pupil, "M-3", menu.item["tea"]).status_code == 200  # breakfast's
    # when lunch loses the plov, it is refused
    with pytest.raises(ServiceError) as refused:
        menus.set_menu(
            school=school, date=today, meal="lunch", items=lunch_of(menu, "borscht", "compote")
        )
    assert refused.value.code == "item_sold"
    # and when it keeps the plov, the voided compote and breakfast's tea go
    menus.set_menu(school=school, date=today, meal="lunch", items=lunch_of(menu, "plov"))
    lunch = MenuItem.objects.filter(menu=menu.lunch).values_list("dish_id", flat=True)
    assert list(lunch) == [menu.dish["plov"].pk]
