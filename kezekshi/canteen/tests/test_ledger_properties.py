"""A property test of the ledger: any sequence of top-ups, sales, voids, refunds, card
refunds, transfers and overdraft changes — with duplicates and replays mixed in — keeps
debits equal to credits, every cached balance equal to its ledger sum, no balance below
its overdraft (but for a card refund of money already spent), and charges nothing twice.

A plain model of the balances runs beside the real services: every booking must be one
the model says is possible, every replay must change nothing, and every refusal must be
the one the model gives for that operation (an operation it says is possible may not be
refused).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

import pytest
from django.db import transaction
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from kezekshi.canteen import selectors, services
from kezekshi.canteen.models import LedgerTransaction, PaymentProvider, Wallet
from kezekshi.canteen.tests.conftest import almaty
from kezekshi.conftest import make_school
from kezekshi.core.errors import ServiceError
from kezekshi.people import services as people_services
from kezekshi.privacy.tests.family import parent_user

pytestmark = pytest.mark.django_db

amounts = st.integers(min_value=1, max_value=200_000).map(lambda cents: Decimal(cents) / 100)
# Purchases, refunds and transfers mostly smaller than top-ups, so that many of them can
# be booked (and then reversed, replayed and reused), and some cannot.
small = st.integers(min_value=1, max_value=40_000).map(lambda cents: Decimal(cents) / 100)
child = st.integers(min_value=0, max_value=2)
small_id = st.integers(min_value=0, max_value=6)  # few ids: duplicates happen often

topup = st.tuples(st.just("topup"), child, amounts, small_id)
operations = st.one_of(
    topup,
    topup,  # twice as often as the rest: money to spend, reverse and move
    st.tuples(st.just("sale"), child, small, small_id),
    st.tuples(st.just("refund"), small_id, small, small_id),
    st.tuples(st.just("void"), small_id),
    st.tuples(st.just("card_refund"), small_id, amounts, small_id),
    st.tuples(st.just("transfer"), child, child, small, small_id),
    st.tuples(st.just("overdraft"), child, st.sampled_from(["0", "500", "1000.50"])),
    st.tuples(st.just("replay"), st.integers(min_value=0, max_value=40)),
    # an earlier operation's id again, for another amount
    st.tuples(st.just("reuse"), st.integers(min_value=0, max_value=40), small),
)


@dataclass
class Model:
    """What the balances must be, kept by hand."""

    balances: dict[int, Decimal]
    overdrafts: dict[int, Decimal]
    reversed_: dict[int, Decimal] = field(default_factory=dict)  # original tx → reversed so far
    # (kind, external id) → what it was booked for: a replay must ask the same.
    used: dict[tuple[str, str], tuple[Any, ...]] = field(default_factory=dict)
    # Wallets below their floor without a sale: a card refund of money spent, or an
    # overdraft lowered below the debt. Such a wallet must still refuse every sale.
    in_debt: set[int] = field(default_factory=set)

    def available(self, wallet: int) -> Decimal:
        return self.balances[wallet] + self.overdrafts[wallet]


class World:
    def __init__(self) -> None:
        school = make_school(prefix=4321)
        self.provider = PaymentProvider.objects.create(
            code="kaspi", name="Kaspi", protocol="kaspi", username="kaspi"
        )
        pupils = [
            people_services.create_pupil(school=school, last_name="Оқушы", first_name=name)
            for name in ("Әлия", "Арман", "Дана")
        ]
        for pupil in pupils[:2]:
            people_services.add_guardian(
                pupil=pupil, last_name="Ана", first_name="Гүлнар", phone="+77015550199",
                relation="mother",
            )  # fmt: skip
        self.mother = parent_user("+77015550199")
        self.staff = parent_user("+77015550198")
        self.wallets = [services.wallet_for(pupil=pupil) for pupil in pupils]
        self.model = Model(
            balances={w.pk: Decimal("0.00") for w in self.wallets},
            overdrafts={w.pk: Decimal("0.00") for w in self.wallets},
        )
        self.sales: list[LedgerTransaction] = []
        self.topups: list[LedgerTransaction] = []
        self.done: list[Any] = []
        # Each child starts with some money, so that sales and transfers can happen at once.
        for index in range(len(self.wallets)):
            self.do_topup(index, Decimal("1000.00"), f"open{index}")

    def run(self, op: tuple[Any, ...]) -> None:
        if op[0] == "replay":
            if not self.done:
                return
            op = self.done[op[1] % len(self.done)]
        elif op[0] == "reuse":
            if not self.done:
                return
            earlier, amount = self.done[op[1] % len(self.done)], op[2]
            op = tuple(amount if isinstance(arg, Decimal) else arg for arg in earlier)
        self.done.append(op)
        kind = op[0]
        expected = self.impossible(op)
        try:
            getattr(self, f"do_{kind}")(*op[1:])
        except ServiceError as refusal:
            self.refused(op, refusal, expected)
        else:
            assert expected is None, (op, f"booked although the model says {expected}")

    def refused(self, op: tuple[Any, ...], refusal: ServiceError, expected: str | None) -> None:
        """A refusal must be the one the model expects (and it changes nothing)."""
        assert refusal.code == expected, (op, refusal.code, f"the model says {expected}")

    def impossible(self, op: tuple[Any, ...]) -> str | None:
        """Why the plain model says ``op`` cannot be done (the refusal's code), or None."""
        kind, args = op[0], op[1:]
        if kind == "topup":
            who, amount, txn = args
            return self._reused(("topup", f"T{txn}"), (self.wallets[who].pk, amount))
        if kind == "sale":
            who, amount, till = args
            wallet = self.wallets[who].pk
            key = ("sale", f"S{till}")
            if key in self.model.used:
                return self._reused(key, (wallet, amount))
            return "insufficient_funds" if self.model.available(wallet) < amount else None
        if kind in ("refund", "void", "card_refund"):
            originals = self.topups if kind == "card_refund" else self.sales
            if not originals:
                return None
            original = originals[args[0] % len(originals)]
            amount = original.amount if kind == "void" else args[1]
            key = {
                "refund": lambda: ("sale_refund", f"R{args[2]}"),
                "void": lambda: ("sale_void", f"void:{original.pk}"),
                "card_refund": lambda: ("topup_refund", f"C{args[2]}"),
            }[kind]()
            if key in self.model.used:
                return self._reused(key, (original.pk, amount))
            return None if self._reversible(original, amount) else "refund_exceeds_payment"
        if kind == "transfer":
            source, target, amount, key_ = args
            if 2 in (source, target):
                return None
            if source == target:
                return "same_wallet"
            a, b = self.wallets[source].pk, self.wallets[target].pk
            key = ("transfer", f"X{key_}")
            if key in self.model.used:
                return self._reused(key, (a, b, amount))
            return "insufficient_funds" if self.model.available(a) < amount else None
        return None

    def _reused(self, key: tuple[str, str], asked: tuple[Any, ...]) -> str | None:
        booked = self.model.used.get(key)
        return "external_id_reused" if booked is not None and booked != asked else None

    def remember(
        self, booked: services.Booked, key: tuple[str, str], asked: tuple[Any, ...]
    ) -> None:
        if not booked.replayed:
            assert key not in self.model.used, ("booked twice", key)
            self.model.used[key] = asked

    def book(self, booked: services.Booked, changes: dict[int, Decimal]) -> None:
        if booked.replayed:
            return
        for wallet, delta in changes.items():
            self.model.balances[wallet] += delta

    def do_topup(self, who: int, amount: Decimal, txn: int | str) -> None:
        wallet = self.wallets[who]
        booked = services.credit_topup(
            wallet=wallet, provider=self.provider, amount=amount, txn_id=f"T{txn}",
            booked_at=almaty("2025-09-04 08:00"),
        )  # fmt: skip
        if not booked.replayed:
            self.topups.append(booked.transaction)
        self.remember(booked, ("topup", f"T{txn}"), (wallet.pk, amount))
        self.book(booked, {wallet.pk: amount})

    def do_sale(self, who: int, amount: Decimal, till: int) -> None:
        wallet = self.wallets[who]
        enough = self.model.available(wallet.pk) >= amount
        try:
            booked = services.charge_sale(
                wallet=wallet, amount=amount, external_id=f"S{till}", items="Ас"
            )
        except ServiceError as refusal:
            if refusal.code == "insufficient_funds":
                assert not enough, "refused a sale the balance covers"
            raise
        if not booked.replayed:
            assert enough, "sold beyond the balance and overdraft"
            self.sales.append(booked.transaction)
        self.remember(booked, ("sale", f"S{till}"), (wallet.pk, amount))
        self.book(booked, {wallet.pk: -amount})

    def _reversible(self, original: LedgerTransaction, amount: Decimal) -> bool:
        return self.model.reversed_.get(original.pk, Decimal(0)) + amount <= original.amount

    def do_refund(self, index: int, amount: Decimal, key: int) -> None:
        if not self.sales:
            return
        sale = self.sales[index % len(self.sales)]
        wallet = Wallet.objects.get(entries__transaction=sale)
        booked = services.refund_sale(
            sale=sale, amount=amount, reason="тест", by=self.staff, external_id=f"R{key}"
        )
        if not booked.replayed:
            assert self._reversible(sale, amount)
            self.model.reversed_[sale.pk] = self.model.reversed_.get(sale.pk, Decimal(0)) + amount
        self.remember(booked, ("sale_refund", f"R{key}"), (sale.pk, amount))
        self.book(booked, {wallet.pk: amount})

    def do_void(self, index: int) -> None:
        if not self.sales:
            return
        sale = self.sales[index % len(self.sales)]
        wallet = Wallet.objects.get(entries__transaction=sale)
        booked = services.void_sale(sale=sale, reason="тест", by=self.staff)
        if not booked.replayed:
            assert self._reversible(sale, sale.amount)
            self.model.reversed_[sale.pk] = sale.amount
        self.remember(booked, ("sale_void", f"void:{sale.pk}"), (sale.pk, sale.amount))
        self.book(booked, {wallet.pk: sale.amount})

    def do_card_refund(self, index: int, amount: Decimal, key: int) -> None:
        if not self.topups:
            return
        topup = self.topups[index % len(self.topups)]
        wallet = Wallet.objects.get(entries__transaction=topup)
        booked = services.refund_topup(topup=topup, amount=amount, refund_id=f"C{key}")
        if not booked.replayed:
            assert self._reversible(topup, amount)
            self.model.reversed_[topup.pk] = self.model.reversed_.get(topup.pk, Decimal(0)) + amount
            if self.model.available(wallet.pk) - amount < 0:
                self.model.in_debt.add(wallet.pk)
        self.remember(booked, ("topup_refund", f"C{key}"), (topup.pk, amount))
        self.book(booked, {wallet.pk: -amount})

    def do_transfer(self, source: int, target: int, amount: Decimal, key: int) -> None:
        if 2 in (source, target):  # the third child is not the mother's
            return
        a, b = self.wallets[source], self.wallets[target]
        enough = self.model.available(a.pk) >= amount
        booked = services.transfer_between_siblings(
            source=a, target=b, amount=amount, by=self.mother, external_id=f"X{key}"
        )
        if not booked.replayed:
            assert enough
        self.remember(booked, ("transfer", f"X{key}"), (a.pk, b.pk, amount))
        self.book(booked, {a.pk: -amount, b.pk: amount})

    def do_overdraft(self, who: int, limit: str) -> None:
        wallet = self.wallets[who]
        services.set_overdraft(wallet=wallet, limit=Decimal(limit), by=self.staff, reason="тест")
        self.model.overdrafts[wallet.pk] = Decimal(limit)
        if self.model.available(wallet.pk) < 0:  # lowered below the debt: sales stop
            self.model.in_debt.add(wallet.pk)

    def check(self) -> None:
        result = selectors.check_ledger()
        assert result.debits == result.credits
        assert result.unbalanced == [] and result.wrong_balances == []
        for wallet in Wallet.objects.filter(pk__in=self.model.balances):
            assert wallet.balance == self.model.balances[wallet.pk], (
                "balance differs from the model"
            )
            if wallet.pk not in self.model.in_debt:
                assert wallet.balance >= -wallet.overdraft_limit, "below the overdraft"
        sales = LedgerTransaction.objects.filter(kind="sale")
        assert sales.count() == len(self.sales)
        assert sales.values("external_id").distinct().count() == sales.count()


@settings(
    max_examples=100,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(st.lists(operations, min_size=1, max_size=30))
def test_any_sequence_of_operations_keeps_the_ledger_sound(sequence: list[Any]) -> None:
    with transaction.atomic():
        world = World()
        for op in sequence:
            world.run(op)
            world.check()
        transaction.set_rollback(True)
