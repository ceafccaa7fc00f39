"""Offline sales booked once at their time, the shortfall rule, the terminals' sync, the
purchase notice and the low-balance alert (given / when / then)."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

import pytest
from django.utils import timezone

from kezekshi.canteen import controls
from kezekshi.canteen.models import LedgerTransaction, Sale, Wallet
from kezekshi.canteen.selectors import check_ledger, wallets_in_debt
from kezekshi.canteen.tests.conftest import Menu, Terminal, balance
from kezekshi.notifications.models import Notification
from kezekshi.people.models import Pupil
from kezekshi.privacy.tests.family import Family

pytestmark = pytest.mark.django_db


def offline_sale(txn: str, pupil: Pupil, at: dt.datetime, *items: Any) -> dict[str, Any]:
    return {
        "txn_id": txn,
        "pupil_id": pupil.pk,
        "sold_at": at.isoformat(),
        "items": [{"menu_item_id": item.pk, "quantity": 1} for item in items],
    }


def test_the_sync_gives_each_pupil_an_offline_allowance(
    terminal: Terminal, menu: Menu, family: Family, funded: Wallet
) -> None:
    controls.set_controls(
        pupil=family.first, by=family.mother, daily_limit=Decimal("700.00"), allergens=["nuts"]
    )
    assert terminal.sell(family.first, "S-1", menu.item["borscht"]).status_code == 200
    response = terminal.get("/sync")
    assert response.status_code == 200
    body = response.json()
    assert {item["menu_item_id"] for item in body["menu"]} == {
        item.pk for item in menu.item.values()
    }
    mine = next(p for p in body["pupils"] if p["pupil_id"] == family.first.pk)
    # least of: the school's 1,000 offline limit, 1,650 on the wallet, 350 left of the limit
    assert mine["allowance"] == "350.00"
    assert mine["allergens"] == ["nuts"]
    sibling = next(p for p in body["pupils"] if p["pupil_id"] == family.second.pk)
    assert sibling["allowance"] == "0.00"  # no wallet, no money


def test_the_sync_carries_only_cards_valid_now(
    terminal: Terminal, menu: Menu, pupil: Pupil, funded: Wallet
) -> None:
    from kezekshi.access.models import Credential

    now = timezone.now()
    for value, start, end in (
        ("C0FFEE01", None, None),
        ("C0FFEE02", now + dt.timedelta(days=1), None),  # not yet
        ("C0FFEE03", None, now - dt.timedelta(minutes=1)),  # expired
        ("C0FFEE04", now - dt.timedelta(days=1), now + dt.timedelta(days=1)),
    ):
        Credential.objects.create(
            school=pupil.school, person=pupil.person, kind="card", value=value,
            valid_from=start, valid_until=end,
        )  # fmt: skip
    body = terminal.get("/sync").json()
    mine = next(p for p in body["pupils"] if p["pupil_id"] == pupil.pk)
    assert sorted(mine["cards"]) == ["C0FFEE01", "C0FFEE04"]


def test_offline_sales_are_booked_once_at_the_time_they_were_sold(
    terminal: Terminal, menu: Menu, pupil: Pupil, funded: Wallet
) -> None:
    # given two sales made while the terminal was offline, an hour ago
    sold_at = timezone.now().replace(microsecond=0) - dt.timedelta(hours=1)
    batch = {
        "sales": [
            offline_sale("OFF-1", pupil, sold_at, menu.item["plov"]),
            offline_sale("OFF-2", pupil, sold_at + dt.timedelta(minutes=1), menu.item["tea"]),
        ]
    }
    # when the terminal uploads them, loses the answer, and uploads them again
    first = terminal.post("/offline-sales", batch)
    again = terminal.post("/offline-sales", batch)
    # then each is booked once, at the time of the sale
    assert first.status_code == 200, first.content
    assert first.json()["booked"] == 2 and again.json()["replayed"] == 2
    assert again.json()["booked"] == 0
    assert balance(funded) == Decimal("1350.00")
    charges = LedgerTransaction.objects.filter(kind=LedgerTransaction.Kind.SALE)
    assert charges.count() == 2
    assert {c.booked_at for c in charges} == {sold_at, sold_at + dt.timedelta(minutes=1)}
    assert Sale.objects.filter(offline=True).count() == 2


def test_an_offline_sale_the_wallet_cannot_cover_is_booked_as_a_debt(
    terminal: Terminal, menu: Menu, pupil: Pupil, wallet: Wallet, kaspi: Any, school: Any
) -> None:
    from kezekshi.canteen.tests.conftest import top_up

    # given 100 ₸ on the balance, and a plov (600 ₸) sold offline
    top_up(wallet, kaspi, "100.00", "little")
    at = timezone.now() - dt.timedelta(minutes=10)
    response = terminal.post(
        "/offline-sales", {"sales": [offline_sale("D-1", pupil, at, menu.item["plov"])]}
    )
    # then the sale is not lost: booked in full, the 500 not covered is the wallet's debt
    result = response.json()["results"][0]
    assert result["status"] == "booked"
    assert result["sale"]["shortfall"] == "500.00"
    assert balance(wallet) == Decimal("-500.00")
    assert list(wallets_in_debt(school)) == [wallet]
    assert check_ledger(school=school).ok
    # and online purchases stop until a top-up covers the debt
    refused = terminal.sell(pupil, "D-2", menu.item["tea"])
    assert refused.status_code == 409 and refused.json()["code"] == "insufficient_funds"


def test_an_offline_sale_breaking_a_rule_changed_since_the_sync_is_booked_with_a_warning(
    terminal: Terminal, menu: Menu, family: Family, funded: Wallet
) -> None:
    controls.set_controls(
        pupil=family.first, by=family.mother, daily_limit=None, allergens=["peanuts"]
    )
    at = timezone.now() - dt.timedelta(minutes=5)
    response = terminal.post(
        "/offline-sales",
        {"sales": [offline_sale("W-1", family.first, at, menu.item["peanut_bar"])]},
    )
    result = response.json()["results"][0]
    assert result["status"] == "booked"
    assert result["sale"]["warnings"][0]["code"] == "allergen"


def test_offline_sales_past_the_schools_offline_limit_are_booked_with_a_warning(
    terminal: Terminal, menu: Menu, pupil: Pupil, funded: Wallet
) -> None:
    # given the school's offline limit of 1,000 ₸ a pupil a day, and a till that kept to
    # it for the first plov (600 ₸) but not for the second
    at = timezone.now() - dt.timedelta(minutes=30)
    batch = {
        "sales": [
            offline_sale("L-1", pupil, at, menu.item["plov"]),
            offline_sale("L-2", pupil, at + dt.timedelta(minutes=1), menu.item["plov"]),
        ]
    }
    results = terminal.post("/offline-sales", batch).json()["results"]
    # then both are booked (the food is eaten) and the second tells the manager why
    assert [r["status"] for r in results] == ["booked", "booked"]
    assert results[0]["sale"]["warnings"] == []
    assert results[1]["sale"]["warnings"] == [
        {"code": "offline_limit", "limit": "1000.00", "spent": "1200.00"}
    ]
    assert balance(funded) == Decimal("800.00")


def test_an_offline_sale_that_cannot_be_booked_is_reported_not_dropped(
    terminal: Terminal, menu: Menu, pupil: Pupil, funded: Wallet
) -> None:
    future = timezone.now() + dt.timedelta(hours=2)
    past = timezone.now() - dt.timedelta(minutes=1)
    batch = {
        "sales": [
            offline_sale("E-1", pupil, future, menu.item["tea"]),
            {**offline_sale("E-2", pupil, past, menu.item["tea"]), "pupil_id": 999999},
            offline_sale("E-3", pupil, past, menu.item["tea"]),
        ]
    }
    body = terminal.post("/offline-sales", batch).json()
    assert [r["status"] for r in body["results"]] == ["error", "error", "booked"]
    assert body["results"][0]["error"]["code"] == "sold_in_future"
    assert body["results"][1]["error"]["code"] == "unknown_pupil"


# --- notices -----------------------------------------------------------------------------


def notices(family: Family, kind_prefix: str) -> list[Notification]:
    return list(
        Notification.objects.filter(recipient=family.mother, key__startswith=kind_prefix).order_by(
            "pk"
        )
    )


def test_each_purchase_is_told_to_the_parents_with_items_amount_and_time(
    terminal: Terminal, menu: Menu, family: Family, funded: Wallet
) -> None:
    response = terminal.sell(family.first, "N-1", menu.item["borscht"], (menu.item["compote"], 2))
    assert response.status_code == 200
    [notice] = notices(family, "canteen-sale:")
    local = timezone.localtime(Sale.objects.get().sold_at, dt.timezone(dt.timedelta(hours=5)))
    assert "Борщ ×1" in notice.text and "Компот ×2" in notice.text  # in Kazakh by default
    assert "650.00" in notice.text.replace("\u202f", "")
    assert local.strftime("%H:%M") in notice.text
    assert notice.kind == "canteen" and notice.person_id == family.first.person_id
    # the grandmother, not a legal representative but a guardian with an account, too
    assert Notification.objects.filter(key__startswith="canteen-sale:").count() == 2
    # a replay tells nobody again
    terminal.sell(family.first, "N-1", menu.item["borscht"], (menu.item["compote"], 2))
    assert Notification.objects.filter(key__startswith="canteen-sale:").count() == 2


def test_the_low_balance_alert_comes_once_per_crossing(
    terminal: Terminal, menu: Menu, family: Family, funded: Wallet, kaspi: Any
) -> None:
    from kezekshi.canteen.tests.conftest import top_up

    # given an alert below 1,000 ₸ and 2,000 ₸ on the balance
    controls.set_controls(
        pupil=family.first, by=family.mother, daily_limit=None, allergens=[],
        low_balance_threshold=Decimal("1000.00"),
    )  # fmt: skip
    # when purchases take it from 2,000 to 1,400 (above), then 800 (below), then 450
    for txn in ("A-1", "A-2", "A-3"):
        item = menu.item["plov"] if txn != "A-3" else menu.item["borscht"]
        assert terminal.sell(family.first, txn, item).status_code == 200
    # then one alert, for the crossing
    assert len(notices(family, "canteen-low:")) == 1
    assert "800.00" in notices(family, "canteen-low:")[0].text.replace("\u202f", "")
    # when a top-up lifts it above 1,000 and a purchase takes it below again
    top_up(funded, kaspi, "1000.00", "again")  # 1,450
    assert terminal.sell(family.first, "A-4", menu.item["plov"]).status_code == 200  # 850
    # then it alerts again — once
    assert len(notices(family, "canteen-low:")) == 2
    assert terminal.sell(family.first, "A-5", menu.item["tea"]).status_code == 200
    assert len(notices(family, "canteen-low:")) == 2


def test_two_tills_at_once_alert_once_though_each_read_the_controls_before_the_other(
    terminal: Terminal, menu: Menu, family: Family, funded: Wallet
) -> None:
    from kezekshi.canteen.models import PupilControls

    # given an alert below 1,800 ₸ and 2,000 ₸ on the balance
    controls.set_controls(
        pupil=family.first, by=family.mother, daily_limit=None, allergens=[],
        low_balance_threshold=Decimal("1800.00"),
    )  # fmt: skip
    # and a second till that has read the parents' controls (a sale reads them before it
    # waits for the wallet) while the first sells a plov: 2,000 → 1,400, the crossing
    second_till_read = PupilControls.objects.get(pupil=family.first)
    assert terminal.sell(family.first, "C-1", menu.item["plov"]).status_code == 200
    assert len(notices(family, "canteen-low:")) == 1
    # when the second till's sale is booked after it: 1,400 → 1,050, still below
    controls.after_debit(
        pupil=family.first,
        controls=second_till_read,
        before=Decimal("1400.00"),
        after=Decimal("1050.00"),
        cause="C-2",
        at=timezone.now(),
    )
    # then the parents are not told a second time
    assert len(notices(family, "canteen-low:")) == 1


def test_a_threshold_set_above_the_balance_alerts_at_the_next_purchase(
    terminal: Terminal, menu: Menu, family: Family, funded: Wallet
) -> None:
    controls.set_controls(
        pupil=family.first, by=family.mother, daily_limit=None, allergens=[],
        low_balance_threshold=Decimal("5000.00"),
    )  # fmt: skip
    terminal.sell(family.first, "B-1", menu.item["tea"])
    terminal.sell(family.first, "B-2", menu.item["tea"])
    assert len(notices(family, "canteen-low:")) == 1


def test_staff_changing_a_childs_controls_is_audited_and_a_stranger_may_not(
    family: Family, make_user: Any, school: Any
) -> None:
    from kezekshi.accounts.roles import Role
    from kezekshi.core.errors import ServiceError
    from kezekshi.privacy.models import AuditEntry

    admin = make_user(Role.SCHOOL_ADMIN, school)
    controls.set_controls(
        pupil=family.first, by=admin, daily_limit=Decimal("300.00"), allergens=["fish"]
    )
    entry = AuditEntry.objects.get(target=f"canteen:controls:{family.first.pk}")
    assert entry.details["allergens"] == {"from": [], "to": ["fish"]}
    # the mother's own change is hers, not an audited staff action
    controls.set_controls(pupil=family.first, by=family.mother, daily_limit=None, allergens=[])
    assert AuditEntry.objects.filter(target__startswith="canteen:controls:").count() == 1
    with pytest.raises(ServiceError) as refused:
        controls.set_controls(
            pupil=family.first, by=family.grandmother, daily_limit=None, allergens=[]
        )
    assert refused.value.code == "not_allowed"
