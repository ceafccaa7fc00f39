"""Reads of the canteen's money, always scoped by school (or by the parent's own child),
and the checks ``manage.py canteen_verify`` runs over the whole ledger."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from decimal import Decimal

from django.db.models import Count, DecimalField, F, Q, QuerySet, Sum

from kezekshi.canteen.models import (
    ZERO,
    Entry,
    LedgerTransaction,
    Reconciliation,
    ReconciliationLine,
    Sale,
    Wallet,
)
from kezekshi.canteen.money import CENT
from kezekshi.core.models import School
from kezekshi.people.models import Pupil, SchoolClass

MONEY_FIELD = DecimalField(max_digits=14, decimal_places=2)
# SQLite keeps decimals as binary floats: a balance of 0 may be stored a hair below it.
HALF_TIYN = Decimal("0.005")


def wallet_of(pupil: Pupil) -> Wallet | None:
    return Wallet.objects.filter(pupil=pupil, school_id=pupil.school_id).first()


def movements(wallet: Wallet, *, limit: int = 50) -> QuerySet[Entry]:
    """The wallet's entries, newest booking first, with their transactions."""
    return (
        Entry.objects.filter(school_id=wallet.school_id, wallet=wallet)
        .select_related("transaction")
        .order_by("-transaction__booked_at", "-id")[:limit]
    )


def statement(wallet: Wallet) -> QuerySet[Entry]:
    """Every entry of the wallet, newest booking first (the order of ``movements``)."""
    return (
        Entry.objects.filter(school_id=wallet.school_id, wallet=wallet)
        .select_related("transaction")
        .order_by("-transaction__booked_at", "-id")
    )


def with_balances(wallet: Wallet, entries: Sequence[Entry]) -> list[tuple[Entry, Decimal]]:
    """``entries`` (consecutive lines of ``statement``) with the balance after each.

    One sum: the entries booked up to the first of them (in the statement's order), so a
    page of a long statement costs the same as the first. An offline sale booked at the
    time it was sold shows the balance as of that time, as the ledger counts it.
    """
    if not entries:
        return []
    first = entries[0]
    booked_at = first.transaction.booked_at
    up_to_first = Entry.objects.filter(school_id=wallet.school_id, wallet=wallet).filter(
        Q(transaction__booked_at__lt=booked_at)
        | Q(transaction__booked_at=booked_at, id__lte=first.pk)
    )
    after = _tiyn(up_to_first.aggregate(total=Sum("amount"))["total"] or ZERO)
    lines = []
    for entry in entries:
        lines.append((entry, after))
        after -= entry.amount
    return lines


def _starts(field: str, word: str) -> Q:
    """Case-insensitive "starts with" that also works for Kazakh and Russian names on
    SQLite, whose LIKE folds the case of Latin letters only (as ``audit_log`` does)."""
    found = Q()
    for spelling in {word, word.lower(), word.capitalize(), word.upper()}:
        found |= Q(**{f"{field}__istartswith": spelling})
    return found


def wallets_of(
    school: School, *, school_class: SchoolClass | None = None, search: str = ""
) -> QuerySet[Pupil]:
    """The pupils studying here now and everyone with a wallet, with their wallets (if
    any) loaded; by class and name. See ``WalletRow`` for what a list shows of each.

    ``search``: digits are the start of a personal account number; words, the start of
    the last, first or middle name (each word must match one of them).
    """
    pupils = (
        Pupil.objects.filter(school=school)
        .filter(Q(is_active=True) | Q(wallet__isnull=False))
        .select_related("person", "school_class", "wallet")
    )
    if school_class is not None:
        pupils = pupils.filter(school_class=school_class)
    words = search.split()
    if len(words) == 1 and words[0].isdecimal():
        pupils = pupils.filter(account_number__startswith=words[0])
    else:
        for word in words:
            pupils = pupils.filter(
                _starts("person__last_name", word)
                | _starts("person__first_name", word)
                | _starts("person__patronymic", word)
            )
    return pupils.order_by(
        F("school_class__grade").asc(nulls_last=True),
        F("school_class__letter").asc(nulls_last=True),
        "person__last_name",
        "person__first_name",
        "pk",
    )


@dataclass(frozen=True)
class WalletRow:
    """A pupil's line in the list of wallets: no wallet yet is 0 and no overdraft."""

    pupil: Pupil
    balance: Decimal
    overdraft: Decimal

    @property
    def debt(self) -> Decimal:
        """What the wallet owes below zero (0 when it does not)."""
        return -self.balance if self.balance < -HALF_TIYN else ZERO

    @property
    def below_floor(self) -> bool:
        """Below the overdraft: purchases are stopped until a top-up covers the debt."""
        return self.balance < -self.overdraft - HALF_TIYN


def wallet_rows(pupils: Iterable[Pupil]) -> list[WalletRow]:
    """``WalletRow`` of each of ``pupils`` (from ``wallets_of``, wallets loaded)."""
    rows = []
    for pupil in pupils:
        # A missing reverse one-to-one raises a subclass of AttributeError.
        wallet: Wallet | None = getattr(pupil, "wallet", None)
        rows.append(
            WalletRow(
                pupil=pupil,
                balance=wallet.balance if wallet is not None else ZERO,
                overdraft=wallet.overdraft_limit if wallet is not None else ZERO,
            )
        )
    return rows


def refundable(sales: Iterable[Sale]) -> dict[int, Decimal]:
    """Per sale (by id): what may still be given back to the wallet — what it paid, less
    the refunds and voids of it so far (0 when it paid nothing). Needs ``charge`` loaded."""
    charged = {sale.pk: sale.charge for sale in sales}
    reversed_ = dict(
        LedgerTransaction.objects.filter(
            reverses_id__in=[charge.pk for charge in charged.values() if charge is not None]
        )
        .order_by()
        .values("reverses_id")
        .annotate(total=Sum("amount"))
        .values_list("reverses_id", "total")
    )
    return {
        sale_id: max(ZERO, charge.amount - _tiyn(reversed_.get(charge.pk) or ZERO))
        if charge is not None
        else ZERO
        for sale_id, charge in charged.items()
    }


def ledger_sum(wallet: Wallet) -> Decimal:
    total = Entry.objects.filter(school_id=wallet.school_id, wallet=wallet).aggregate(
        total=Sum("amount")
    )["total"]
    return _tiyn(total or ZERO)


def _tiyn(amount: Decimal) -> Decimal:
    return Decimal(amount).quantize(CENT)


def wallets_in_debt(school: School) -> QuerySet[Wallet]:
    """Wallets below their overdraft: a card refund of a top-up that was spent already,
    an overdraft lowered below the debt, or an offline sale the wallet could not cover."""
    return (
        Wallet.objects.filter(school=school, balance__lt=-F("overdraft_limit") - HALF_TIYN)
        .select_related("pupil__person", "pupil__school_class")
        .order_by("balance")
    )


def topups_booked_at_arrival(school: School) -> QuerySet[LedgerTransaction]:
    """Top-ups (and card refunds) booked when they reached us because the provider's
    time could not be used (unreadable, or out of range): for someone to compare with
    the provider's register. Newest first."""
    return (
        LedgerTransaction.objects.filter(
            school=school,
            kind__in=[LedgerTransaction.Kind.TOPUP, LedgerTransaction.Kind.TOPUP_REFUND],
        )
        .exclude(provider_time="")
        .select_related("provider")
        .order_by("-booked_at", "-id")
    )


def is_below_floor(wallet: Wallet) -> bool:
    """Whether the wallet is below ``-overdraft_limit``, where purchases stop (as
    ``wallets_in_debt`` counts it)."""
    return wallet.balance < -wallet.overdraft_limit - HALF_TIYN


def reconciliations_for(school: School) -> QuerySet[Reconciliation]:
    """Every reconciliation run, with how many of its mismatches are this school's."""
    return (
        Reconciliation.objects.select_related("provider")
        .annotate(mismatches=Count("lines", filter=Q(lines__school=school)))
        .order_by("-date", "-id")
    )


def mismatches_of(reconciliation: Reconciliation, school: School) -> QuerySet[ReconciliationLine]:
    return reconciliation.lines.filter(school=school).select_related("transaction")


# --- checks of the whole ledger ----------------------------------------------------------


@dataclass(frozen=True)
class LedgerCheck:
    transactions: int
    entries: int
    debits: Decimal  # the sum of the negative entries, as a positive number
    credits: Decimal  # the sum of the positive entries
    unbalanced: list[int]  # transactions whose entries do not sum to zero (or are < 2)
    wrong_balances: list[tuple[int, Decimal, Decimal]]  # wallet, cached, ledger sum

    @property
    def ok(self) -> bool:
        return self.debits == self.credits and not self.unbalanced and not self.wrong_balances


def check_ledger(*, school: School | None = None) -> LedgerCheck:
    """Debits equal credits, every transaction balances, every cached balance equals its
    entries. Read-only; safe while others book (each check reads one consistent state per
    query, so a booking committed in between may show as a difference: run it again)."""
    entries = Entry.objects.all()
    transactions = LedgerTransaction.objects.all()
    wallets = Wallet.objects.all()
    if school is not None:
        entries = entries.filter(school=school)
        transactions = transactions.filter(school=school)
        wallets = wallets.filter(school=school)
    # Sums are compared here, in Decimal, rather than in SQL: SQLite keeps decimals as
    # binary floats, whose sums are a hair off whole tiyn.
    debits, credits, count = ZERO, ZERO, 0
    per_transaction = (
        entries.order_by().values("transaction").annotate(total=Sum("amount"), legs=Count("id"))
    )
    unbalanced = []
    for row in per_transaction.iterator(chunk_size=5000):
        count += row["legs"]
        if row["legs"] < 2 or _tiyn(row["total"]) != 0:
            unbalanced.append(row["transaction"])
    for amount in entries.values_list("amount", flat=True).iterator(chunk_size=5000):
        if amount < 0:
            debits -= amount
        else:
            credits += amount
    empty = transactions.filter(entries__isnull=True).values_list("pk", flat=True)
    unbalanced = sorted([*unbalanced, *empty])
    sums = dict(
        entries.filter(wallet__isnull=False)
        .order_by()
        .values("wallet")
        .annotate(total=Sum("amount"))
        .values_list("wallet", "total")
    )
    wrong = [
        (pk, cached, _tiyn(sums.get(pk) or ZERO))
        for pk, cached in wallets.values_list("pk", "balance").iterator(chunk_size=5000)
        if cached != _tiyn(sums.get(pk) or ZERO)
    ]
    return LedgerCheck(
        transactions=transactions.count(),
        entries=count,
        debits=debits,
        credits=credits,
        unbalanced=unbalanced,
        wrong_balances=wrong,
    )
