"""The till under concurrency: the same sale sent twice at the same instant, two tills
racing for the last tenge and for today's free lunch. Real threads on a committed
database (transactional tests), on SQLite and on PostgreSQL."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest

from kezekshi.canteen import selectors
from kezekshi.canteen.models import FreeMeal, LedgerTransaction, Sale, Wallet
from kezekshi.canteen.tests.conftest import Menu, Terminal, balance, make_terminal, top_up
from kezekshi.canteen.tests.test_concurrency import at_once
from kezekshi.people.models import Pupil

pytestmark = pytest.mark.django_db(transaction=True)


def test_the_same_sale_sent_six_times_at_once_is_charged_once(
    terminal: Terminal, menu: Menu, pupil: Pupil, funded: Wallet
) -> None:
    # when one transaction reaches the server six times at the same instant
    responses = at_once(
        6,
        lambda _i: Terminal(terminal.device, terminal.secret).sell(
            pupil, "SAME-1", menu.item["plov"]
        ),
    )
    # then every answer is the same sale, and the wallet was charged once
    assert all(getattr(r, "status_code", None) == 200 for r in responses), responses
    assert len({r.json()["sale_id"] for r in responses}) == 1
    assert Sale.objects.count() == 1
    assert LedgerTransaction.objects.filter(kind=LedgerTransaction.Kind.SALE).count() == 1
    assert balance(funded) == Decimal("1400.00")
    assert selectors.check_ledger().ok


def test_tills_racing_for_the_last_tenge_never_overspend(
    menu: Menu, pupil: Pupil, wallet: Wallet, kaspi: Any, school: Any
) -> None:
    # given 1,000 ₸, and five tills each selling a 600 ₸ plov to the same pupil at once
    top_up(wallet, kaspi, "1000.00", "race")
    tills = [make_terminal(school, f"Касса {n}") for n in range(5)]
    responses = at_once(5, lambda i: tills[i].sell(pupil, f"RACE-{i}", menu.item["plov"]))
    codes = sorted(r.status_code for r in responses)
    # then exactly one is sold, the rest refused for lack of money
    assert codes == [200, 409, 409, 409, 409]
    assert balance(wallet) == Decimal("400.00")
    assert selectors.check_ledger().ok


def test_two_tills_cannot_both_give_todays_free_lunch(menu: Menu, school: Any, kaspi: Any) -> None:
    from kezekshi.canteen import services
    from kezekshi.canteen.models import CanteenSettings
    from kezekshi.people import services as people_services
    from kezekshi.people.models import SchoolClass

    CanteenSettings.objects.create(school=school, free_lunch_cost=Decimal("500.00"))
    grade_one = SchoolClass.objects.create(school=school, grade=1, letter="А")
    child = people_services.create_pupil(
        school=school, last_name="Бірінші", first_name="Сынып", school_class=grade_one
    )
    wallet = services.wallet_for(pupil=child)
    top_up(wallet, kaspi, "2000.00", "free-race")
    tills = [make_terminal(school, f"Касса {n}") for n in range(4)]
    responses = at_once(4, lambda i: tills[i].sell(child, f"FREE-{i}", menu.item["borscht"]))
    assert all(r.status_code == 200 for r in responses), [r.content for r in responses]
    free = [r.json()["free_meal"] for r in responses]
    assert sorted(free) == ["0.00", "0.00", "0.00", "350.00"]
    assert FreeMeal.objects.count() == 1
    assert balance(wallet) == Decimal("2000.00") - Decimal("350.00") * 3
