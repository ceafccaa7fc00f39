"""Every write to the canteen's money. One transaction per function, keyword-only.

The guarantees each function gives are in its docstring. Those shared by all:

- **Double entry.** Each movement is one ``LedgerTransaction`` whose entries (two or
  more, none zero) sum to zero; ``_book`` refuses anything else before writing.
- **Cached balances.** A wallet's ``balance`` moves by ``F()`` in the same transaction as
  its entries, so it always equals the sum of them (``manage.py canteen_verify``).
- **No overspending.** A debit is one conditional UPDATE (``balance + overdraft ≥
  amount``): no read-then-write, so two sales at once cannot both spend the last tenge.
- **Idempotency.** Every write carries an ``external_id``, unique per school and kind.
  A top-up, sale or transfer inserts its transaction row first, so a concurrent
  duplicate waits on the unique index and then finds the original. A reversal (void,
  refund, card refund) locks the wallet first, to count what was reversed before, and
  then looks for the original again: a concurrent duplicate waits on the wallet's lock
  and then finds it. A replay returns the original (``Booked.replayed``) and books
  nothing. The same id with another amount or wallet is refused (``external_id_reused``,
  409).
- **Locks** are taken in one order (``lock_objects``): the new transaction row, then
  wallets by id; a reversal locks its one wallet before inserting its row (its key is of
  a kind no other writer inserts, so nobody holding that key waits for the wallet).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from decimal import Decimal

from django.db import IntegrityError, transaction
from django.db.models import F, Sum, Value
from django.http import HttpRequest
from django.utils import timezone, translation
from django.utils.translation import gettext as _

from kezekshi.accounts.models import User
from kezekshi.canteen import lock_objects
from kezekshi.canteen.models import (
    ZERO,
    Entry,
    LedgerTransaction,
    PaymentProvider,
    SystemAccount,
    Wallet,
)
from kezekshi.canteen.money import LARGEST, is_money, plain, tenge
from kezekshi.core.errors import NotFound, ServiceError
from kezekshi.notifications import services as notifications
from kezekshi.people.models import Guardianship, Pupil
from kezekshi.privacy import audit
from kezekshi.privacy.services import withdrawn_processing

Kind = LedgerTransaction.Kind
HALF_TIYN = Decimal("0.005")
# The largest overdraft a school may allow one pupil.
MAX_OVERDRAFT = Decimal("50000.00")


@dataclass(frozen=True)
class Booked:
    """The transaction a call booked, or found: ``replayed`` when it was booked before."""

    transaction: LedgerTransaction
    replayed: bool


class Unbalanced(Exception):
    """A programming error: entries that do not sum to zero never reach the database."""


Leg = tuple[Wallet | SystemAccount, Decimal]


# --- accounts ----------------------------------------------------------------------------


def wallet_for(*, pupil: Pupil) -> Wallet:
    """The pupil's wallet, created (empty, no overdraft) on first use. Safe to race."""
    found = Wallet.objects.filter(pupil=pupil).first()
    if found is not None:
        return found
    try:
        with transaction.atomic():
            return Wallet.objects.create(school_id=pupil.school_id, pupil=pupil)
    except IntegrityError:
        return Wallet.objects.get(pupil=pupil)


def system_account(
    *, school_id: int, kind: str, provider: PaymentProvider | None = None
) -> SystemAccount:
    """The school's account of ``kind`` (a clearing account per provider). Safe to race."""
    rows = SystemAccount.objects.filter(school_id=school_id, kind=kind, provider=provider)
    found = rows.first()
    if found is not None:
        return found
    try:
        with transaction.atomic():
            return SystemAccount.objects.create(school_id=school_id, kind=kind, provider=provider)
    except IntegrityError:
        return rows.get()


# --- the one way money moves -------------------------------------------------------------


def _book(
    *,
    school_id: int,
    kind: str,
    external_id: str,
    amount: Decimal,
    legs: Sequence[Leg],
    booked_at: dt.datetime | None = None,
    guarded: Sequence[Wallet] = (),
    **fields: object,
) -> LedgerTransaction:
    """Insert the transaction, move the wallets' balances, insert the entries.

    Runs in the caller's transaction. The insert comes first: it claims ``external_id``
    (a duplicate fails here with IntegrityError, before touching any balance). Debits of
    the wallets in ``guarded`` must leave them at or above ``-overdraft_limit``, else
    ``insufficient_funds`` (409); other wallet debits are booked as they are.
    """
    if len(legs) < 2 or any(value == 0 for _, value in legs):
        raise Unbalanced(f"{kind}: a transaction needs two or more non-zero entries")
    if sum((value for _, value in legs), ZERO) != 0:
        raise Unbalanced(f"{kind}: entries sum to {sum(value for _, value in legs)}, not 0")
    now = timezone.now()
    booked = LedgerTransaction.objects.create(
        school_id=school_id,
        kind=kind,
        external_id=external_id,
        amount=amount,
        booked_at=booked_at or now,
        created_at=now,
        **fields,
    )
    guarded_ids = {wallet.pk for wallet in guarded}
    wallet_legs = sorted(
        ((account, value) for account, value in legs if isinstance(account, Wallet)),
        key=lambda leg: leg[0].pk,
    )
    for wallet, value in wallet_legs:
        rows = Wallet.objects.filter(pk=wallet.pk)
        if value < 0 and wallet.pk in guarded_ids:
            # Half a tiyn of slack: SQLite keeps decimals as binary floats, in which 0.7 +
            # 0.1 is a hair under 0.8. Amounts are whole tiyn, so on PostgreSQL's exact
            # numbers the slack changes nothing.
            floor = Value(-value - HALF_TIYN) - F("overdraft_limit")
            rows = rows.filter(balance__gte=floor)
        if rows.update(balance=F("balance") + value, updated_at=now) != 1:
            now_balance, overdraft = Wallet.objects.values_list("balance", "overdraft_limit").get(
                pk=wallet.pk
            )
            raise ServiceError(
                "insufficient_funds",
                _("There is not enough money on the pupil's balance."),
                status=409,
                available=plain(max(now_balance + overdraft, ZERO)),
            )
    Entry.objects.bulk_create(
        Entry(
            school_id=school_id,
            transaction=booked,
            wallet=account if isinstance(account, Wallet) else None,
            account=account if isinstance(account, SystemAccount) else None,
            amount=value,
        )
        for account, value in legs
    )
    return booked


def _once(
    *,
    school_id: int,
    kind: str,
    external_id: str,
    same: Callable[[LedgerTransaction], bool],
    write: Callable[[], LedgerTransaction],
    lock: Callable[[], object] | None = None,
) -> Booked:
    """Run ``write`` in one transaction unless ``external_id`` was booked already.

    A duplicate arriving at the same instant fails on the unique key inside ``write``;
    the original, committed by then, is returned instead. A writer that takes ``lock``
    (a reversal: the wallet, to count what was reversed before) takes it before its
    insert, so a duplicate waits on that lock instead of the key: it looks for the
    original again once it holds the lock.
    """
    _check_external_id(external_id)
    found = _find(school_id, kind, external_id)
    if found is None:
        try:
            with transaction.atomic():
                if lock is not None:
                    lock()
                    found = _find(school_id, kind, external_id)
                if found is None:
                    return Booked(write(), replayed=False)
        except IntegrityError:
            found = _find(school_id, kind, external_id)
            if found is None:
                raise
    if not same(found):
        raise ServiceError(
            "external_id_reused",
            _("This transaction id was used before for another payment."),
            status=409,
        )
    return Booked(found, replayed=True)


def _find(school_id: int, kind: str, external_id: str) -> LedgerTransaction | None:
    return LedgerTransaction.objects.filter(
        school_id=school_id, kind=kind, external_id=external_id
    ).first()


def _check_external_id(external_id: str) -> None:
    if not external_id or len(external_id) > 100:
        raise ServiceError(
            "invalid_external_id",
            _("Every payment needs its own id (1–100 characters)."),
            status=422,
        )


def _check_amount(amount: Decimal) -> None:
    if not is_money(amount):
        raise ServiceError(
            "invalid_amount",
            _("The amount must be positive, in tenge with at most 2 decimal places."),
            status=422,
            largest=str(LARGEST),
        )


def _on_wallet(wallet: Wallet) -> Callable[[LedgerTransaction], bool]:
    def same(found: LedgerTransaction) -> bool:
        return found.entries.filter(wallet_id=wallet.pk).exists()

    return same


def _reason(reason: str) -> str:
    text = " ".join((reason or "").split())
    if not text:
        raise ServiceError("reason_required", _("Say why."), status=422)
    return text[:300]


# --- top-ups -----------------------------------------------------------------------------


def credit_topup(
    *,
    wallet: Wallet,
    provider: PaymentProvider,
    amount: Decimal,
    txn_id: str,
    booked_at: dt.datetime,
    provider_time: str = "",
) -> Booked:
    """Credit ``amount`` from ``provider`` to ``wallet``, booked at the provider's time
    (``provider_time``: the provider's own time, as sent, when it could not be
    ``booked_at``; it flags the top-up for the reconciliation).

    Idempotent per provider and ``txn_id`` (a replay returns the first booking; the same
    id for another wallet or amount: ``external_id_reused``). Entries: the wallet
    +amount, the school's clearing account for the provider −amount. The guardians are
    notified in the same transaction (the notice is committed with the money or not at
    all). Raises ``invalid_amount`` (422).
    """
    _check_amount(amount)

    def write() -> LedgerTransaction:
        clearing = system_account(
            school_id=wallet.school_id, kind=SystemAccount.Kind.CLEARING, provider=provider
        )
        booked = _book(
            school_id=wallet.school_id,
            kind=Kind.TOPUP,
            external_id=f"{provider.code}:{txn_id}",
            amount=amount,
            booked_at=booked_at,
            legs=[(wallet, amount), (clearing, -amount)],
            provider=provider,
            provider_txn_id=txn_id,
            provider_time=provider_time[:40],
            description=provider.name[:300],
        )
        _tell_guardians(wallet=wallet, booked=booked, provider=provider)
        return booked

    def same(found: LedgerTransaction) -> bool:
        return found.amount == amount and _on_wallet(wallet)(found)

    return _once(
        school_id=wallet.school_id,
        kind=Kind.TOPUP,
        external_id=f"{provider.code}:{txn_id}",
        same=same,
        write=write,
    )


def refund_topup(
    *,
    topup: LedgerTransaction,
    amount: Decimal,
    refund_id: str,
    booked_at: dt.datetime | None = None,
    provider_time: str = "",
) -> Booked:
    """Reverse (part of) a top-up the bank has refunded to the payer's card.

    The bank has already given the money back, so this is never refused for lack of
    balance: the wallet is debited in full even below its overdraft, and the part it did
    not hold is recorded as ``shortfall`` (the wallet owes it: sales stop until a top-up
    covers it; the reconciliation page lists such wallets). Refused: ``not_a_topup``,
    ``refund_exceeds_payment`` (refunds of one top-up never exceed it). Idempotent per
    provider and ``refund_id``.
    """
    _check_amount(amount)
    if topup.kind != Kind.TOPUP or topup.provider is None:
        raise ServiceError("not_a_topup", _("Only a top-up can be refunded to the card."))
    provider = topup.provider
    wallet = Wallet.objects.get(entries__transaction=topup)

    def write() -> LedgerTransaction:
        locked = Wallet.objects.get(pk=wallet.pk)  # locked by _once
        _refundable(topup, amount)
        clearing = system_account(
            school_id=topup.school_id, kind=SystemAccount.Kind.CLEARING, provider=provider
        )
        floor = -locked.overdraft_limit
        after = locked.balance - amount
        shortfall = min(amount, max(ZERO, floor - after))
        booked = _book(
            school_id=topup.school_id,
            kind=Kind.TOPUP_REFUND,
            external_id=f"{provider.code}:{refund_id}",
            amount=amount,
            booked_at=booked_at,
            legs=[(locked, -amount), (clearing, amount)],
            provider=provider,
            provider_txn_id=refund_id,
            provider_time=provider_time[:40],
            reverses=topup,
            description=provider.name[:300],
            shortfall=shortfall,
        )
        _tell_guardians(wallet=locked, booked=booked, provider=provider)
        return booked

    def same(found: LedgerTransaction) -> bool:
        return found.amount == amount and found.reverses_id == topup.pk

    return _once(
        school_id=topup.school_id,
        kind=Kind.TOPUP_REFUND,
        external_id=f"{provider.code}:{refund_id}",
        same=same,
        write=write,
        lock=lambda: lock_objects.wallet_for_update(wallet.pk),
    )


def _refundable(original: LedgerTransaction, amount: Decimal) -> None:
    """Refuse a reversal that, with those before it, would exceed ``original``.

    Called with the wallet locked, so two reversals of one original are counted in turn.
    """
    before = (
        LedgerTransaction.objects.filter(reverses=original).aggregate(total=Sum("amount"))["total"]
        or ZERO
    )
    if before + amount > original.amount:
        raise ServiceError(
            "refund_exceeds_payment",
            _("Refunds cannot exceed the original payment."),
            status=409,
            refundable=plain(original.amount - before),
        )


# --- sales -------------------------------------------------------------------------------


def charge_sale(
    *,
    wallet: Wallet,
    amount: Decimal,
    external_id: str,
    items: str,
    by: User | None = None,
    booked_at: dt.datetime | None = None,
) -> Booked:
    """Charge a purchase at the till to the pupil's wallet.

    ``external_id`` is the till's transaction id: a replay (a till retrying after a lost
    answer, an offline till syncing) returns the first charge and never charges twice.
    Entries: the wallet −amount, the school's revenue +amount. Refused:
    ``insufficient_funds`` (409, with ``available``) when the wallet would go below its
    overdraft; ``invalid_amount`` (422); ``external_id_reused`` (409).
    """
    _check_amount(amount)

    def write() -> LedgerTransaction:
        revenue = system_account(school_id=wallet.school_id, kind=SystemAccount.Kind.REVENUE)
        return _book(
            school_id=wallet.school_id,
            kind=Kind.SALE,
            external_id=external_id,
            amount=amount,
            booked_at=booked_at,
            legs=[(wallet, -amount), (revenue, amount)],
            guarded=[wallet],
            description=items[:300],
            created_by=by,
        )

    def same(found: LedgerTransaction) -> bool:
        return found.amount == amount and _on_wallet(wallet)(found)

    return _once(
        school_id=wallet.school_id,
        kind=Kind.SALE,
        external_id=external_id,
        same=same,
        write=write,
    )


def void_sale(
    *,
    sale: LedgerTransaction,
    reason: str,
    by: User | None,
    request: HttpRequest | None = None,
) -> Booked:
    """Cancel a whole purchase (the cashier's mistake): the wallet gets it all back and the
    revenue is reduced. Refused when anything of it was refunded or voided already
    (``refund_exceeds_payment``); a second void of the same sale is a replay. Needs a
    ``reason`` (``reason_required``); written to the school's audit log.
    """
    return _reverse_sale(
        sale=sale,
        amount=sale.amount,
        kind=Kind.SALE_VOID,
        external_id=f"void:{sale.pk}",
        reason=reason,
        by=by,
        request=request,
    )


def refund_sale(
    *,
    sale: LedgerTransaction,
    amount: Decimal,
    reason: str,
    by: User | None,
    external_id: str,
    request: HttpRequest | None = None,
) -> Booked:
    """Give back (part of) a purchase: the wallet +amount, the school's refunds account
    −amount. All refunds and voids of one sale never exceed it
    (``refund_exceeds_payment``). Needs a ``reason``; audited; idempotent per
    ``external_id``.
    """
    return _reverse_sale(
        sale=sale,
        amount=amount,
        kind=Kind.SALE_REFUND,
        external_id=external_id,
        reason=reason,
        by=by,
        request=request,
    )


def _reverse_sale(
    *,
    sale: LedgerTransaction,
    amount: Decimal,
    kind: str,
    external_id: str,
    reason: str,
    by: User | None,
    request: HttpRequest | None,
) -> Booked:
    _check_amount(amount)
    why = _reason(reason)
    if sale.kind != Kind.SALE:
        raise ServiceError("not_a_sale", _("Only a purchase can be voided or refunded."))
    wallet = Wallet.objects.select_related("pupil__person").get(entries__transaction=sale)

    def write() -> LedgerTransaction:
        locked = Wallet.objects.get(pk=wallet.pk)  # locked by _once
        _refundable(sale, amount)
        counter = (
            SystemAccount.Kind.REVENUE if kind == Kind.SALE_VOID else SystemAccount.Kind.REFUNDS
        )
        account = system_account(school_id=sale.school_id, kind=counter)
        booked = _book(
            school_id=sale.school_id,
            kind=kind,
            external_id=external_id,
            amount=amount,
            legs=[(locked, amount), (account, -amount)],
            reverses=sale,
            description=sale.description,
            reason=why,
            created_by=by,
        )
        audit.record(
            action=audit.Action.CHANGE,
            actor=by,
            school=sale.school,
            person=wallet.pupil.person,
            target=f"canteen:{kind}:{booked.pk}",
            details={"sale": sale.pk, "amount": str(amount), "reason": why},
            request=request,
        )
        return booked

    def same(found: LedgerTransaction) -> bool:
        return found.amount == amount and found.reverses_id == sale.pk

    return _once(
        school_id=sale.school_id,
        kind=kind,
        external_id=external_id,
        same=same,
        write=write,
        lock=lambda: lock_objects.wallet_for_update(wallet.pk),
    )


# --- family and school -------------------------------------------------------------------


def transfer_between_siblings(
    *,
    source: Wallet,
    target: Wallet,
    amount: Decimal,
    by: User,
    external_id: str,
) -> Booked:
    """Move money from one child's wallet to a sibling's, asked by their parent.

    Only a legal representative of both children may (``not_your_children``, 404), both
    in the same school (``different_schools``); the source may not go below its
    overdraft (``insufficient_funds``, 409). Idempotent per ``external_id``: a replay names
    the same source, target and amount, else ``external_id_reused``.
    """
    _check_amount(amount)
    if source.pk == target.pk:
        raise ServiceError("same_wallet", _("Choose two different children."), status=422)
    represented = set(
        Guardianship.objects.filter(
            pupil_id__in=[source.pupil_id, target.pupil_id],
            guardian__person__user=by,
            is_legal_representative=True,
        ).values_list("pupil_id", flat=True)
    )
    if represented != {source.pupil_id, target.pupil_id}:
        raise NotFound("not_your_children", _("Not found."))
    if source.school_id != target.school_id:
        raise ServiceError(
            "different_schools",
            _("Money can be moved only between children of the same school."),
            status=422,
        )

    def write() -> LedgerTransaction:
        return _book(
            school_id=source.school_id,
            kind=Kind.TRANSFER,
            external_id=external_id,
            amount=amount,
            legs=[(source, -amount), (target, amount)],
            guarded=[source],
            created_by=by,
        )

    def same(found: LedgerTransaction) -> bool:
        return (
            found.amount == amount
            and found.entries.filter(wallet_id=source.pk, amount__lt=0).exists()
            and found.entries.filter(wallet_id=target.pk, amount__gt=0).exists()
        )

    return _once(
        school_id=source.school_id,
        kind=Kind.TRANSFER,
        external_id=external_id,
        same=same,
        write=write,
    )


@transaction.atomic
def set_overdraft(
    *, wallet: Wallet, limit: Decimal, by: User, reason: str, request: HttpRequest | None = None
) -> Wallet:
    """Let the pupil's balance go down to ``-limit`` (0: no overdraft). Needs a reason;
    audited. Lowering it below the current debt takes no money: sales stop until the
    balance is back above the new floor. Refused: ``invalid_overdraft`` (0 to 50,000).
    """
    why = _reason(reason)
    valid = isinstance(limit, Decimal) and limit.is_finite() and limit == limit.quantize(ZERO)
    if not valid or not ZERO <= limit <= MAX_OVERDRAFT:
        raise ServiceError(
            "invalid_overdraft",
            _("The overdraft must be between 0 and %(largest)s tenge.")
            % {"largest": tenge(MAX_OVERDRAFT)},
            status=422,
        )
    locked = lock_objects.wallet_for_update(wallet.pk)
    before = locked.overdraft_limit
    locked.overdraft_limit = limit
    locked.save(update_fields=["overdraft_limit"])
    pupil = Pupil.objects.select_related("person", "school").get(pk=locked.pupil_id)
    audit.record(
        action=audit.Action.CHANGE,
        actor=by,
        school=pupil.school,
        person=pupil.person,
        target=f"canteen:overdraft:{locked.pk}",
        details={"overdraft": {"from": str(before), "to": str(limit)}, "reason": why},
        request=request,
    )
    return locked


# --- notices -----------------------------------------------------------------------------


@dataclass(frozen=True)
class Recipient:
    """A guardian to tell about a child's canteen money, in their language."""

    user_id: int
    language: str
    person_id: int  # the child's
    first_name: str  # the child's


def guardians_to_tell(*, pupil_id: int) -> list[Recipient]:
    """The child's guardians with an account who may be told about the child's money.

    As for passes: nobody who withdrew consent, and for a blocked child only the legal
    representatives. Used by every canteen notice (top-ups, purchases, low balance).
    """
    links = list(
        Guardianship.objects.filter(
            pupil_id=pupil_id,
            guardian__person__user__isnull=False,
            guardian__person__user__is_active=True,
        ).values_list(
            "guardian__person__user_id",
            "guardian__person__user__language",
            "is_legal_representative",
            "pupil__person_id",
            "pupil__person__first_name",
            "pupil__person__blocked_at",
        )
    )
    if not links:
        return []
    withdrawn = withdrawn_processing(
        users={link[0] for link in links}, children={link[3] for link in links}
    )
    return [
        Recipient(user, language or "kk", person_id, name)
        for user, language, legal, person_id, name, blocked_at in links
        if (user, None) not in withdrawn
        and (user, person_id) not in withdrawn
        and (blocked_at is None or legal)
    ]


def _tell_guardians(
    *, wallet: Wallet, booked: LedgerTransaction, provider: PaymentProvider
) -> None:
    """One notice per guardian who may be told (``guardians_to_tell``): the amount, the
    provider, the new balance. Written in the booking's transaction (the outbox).
    """
    recipients = guardians_to_tell(pupil_id=wallet.pupil_id)
    if not recipients:
        return
    balance = Wallet.objects.values_list("balance", flat=True).get(pk=wallet.pk)
    notices = []
    for recipient in recipients:
        with translation.override(recipient.language):
            values = {
                "name": recipient.first_name,
                "amount": tenge(booked.amount),
                "provider": provider.name,
                "balance": tenge(balance),
            }
            if booked.kind == Kind.TOPUP:
                text = _(
                    "%(name)s's canteen balance was topped up by %(amount)s ₸ (%(provider)s). "
                    "Balance: %(balance)s ₸."
                )
            else:
                text = _(
                    "%(provider)s refunded %(amount)s ₸ of a top-up of %(name)s's canteen "
                    "balance to the card. Balance: %(balance)s ₸."
                )
        notices.append(
            notifications.Notice(
                school_id=wallet.school_id,
                recipient_id=recipient.user_id,
                kind="canteen",
                key=f"canteen:{booked.pk}",
                text=text % values,
                person_id=recipient.person_id,
            )
        )
    notifications.enqueue(notices, new_causes=True)
