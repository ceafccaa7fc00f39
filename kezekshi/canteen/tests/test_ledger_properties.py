"""A property test of the ledger: any sequence of top-ups, sales, voids, refunds, card
refunds, transfers and overdraft changes — with duplicates and replays mixed in — keeps
debits equal to credits, every cached balance equal to its ledger sum, no balance below
its overdraft (but for a card refund of money already spent), and charges nothing twice.

A plain model of the balances runs beside the real services: every booking must match
it, every replay must change nothing, every refusal must be one the model agrees with.
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
child = st.integers(min_value=0, max_value=2)
small_id = st.integers(min_value=0, max_value=6)  # few ids: duplicates happen often

operations = st.one_of(
    st.tuples(st.just("topup"), child, amounts, small_id),
    st.tuples(st.just("sale"), child, amounts, small_id),
    st.tuples(st.just("refund"), small_id, amounts, small_id),
    st.tuples(st.just("void"), small_id),
    st.tuples(st.just("card_refund"), small_id, amounts, small_id),
    st.tuples(st.just("transfer"), child, child, amounts, small_id),
    st.tuples(st.just("overdraft"), child, st.sampled_from(["0", "500", "1000.50"])),
    st.tuples(st.just("replay"), st.integers(min_value=0, max_value=40)),
)


@dataclass
class Model:
    """What the balances must be, kept by hand."""

    balances: dict[int, Decimal]
    overdrafts: dict[int, Decimal]
    reversed_: dict[int, Decimal] = field(default_factory=dict)  # original tx → reversed so far
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

    def run(self, op: tuple[Any, ...]) -> None:
        if op[0] == "replay":
            if not self.done:
                return
            op = self.done[op[1] % len(self.done)]
        self.done.append(op)
        kind = op[0]
        try:
            getattr(self, f"do_{kind}")(*op[1:])
        except ServiceError as refusal:
            self.refused(op, refusal)

    def refused(self, op: tuple[Any, ...], refusal: ServiceError) -> None:
        """A refusal must be one the model expects (and it changes nothing)."""
        assert refusal.code in {
            "insufficient_funds", "external_id_reused", "refund_exceeds_payment", "same_wallet",
        }, (op, refusal.code)  # fmt: skip

    def book(self, booked: services.Booked, changes: dict[int, Decimal]) -> None:
        if booked.replayed:
            return
        for wallet, delta in changes.items():
            self.model.balances[wallet] += delta

    def do_topup(self, who: int, amount: Decimal, txn: int) -> None:
        wallet = self.wallets[who]
        booked = services.credit_topup(
            wallet=wallet, provider=self.provider, amount=amount, txn_id=f"T{txn}",
            booked_at=almaty("2025-09-04 08:00"),
        )  # fmt: skip
        if not booked.replayed:
            self.topups.append(booked.transaction)
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
