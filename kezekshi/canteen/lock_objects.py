"""The row locks the canteen takes, in one place, so every writer takes them in one order.

Order: a transaction's idempotency key first (its insert), then wallets by id. Two
writers that need the same wallets therefore never wait for each other in a circle. A
reversal (void, refund, card refund) locks its one wallet before its insert, to count
what was reversed before and to find a duplicate committed meanwhile; its key is of a
kind only reversals insert, so no writer holding such a key waits for a wallet.
"""

from __future__ import annotations

from collections.abc import Iterable

from kezekshi.canteen.models import Wallet


def wallets_for_update(wallet_ids: Iterable[int]) -> dict[int, Wallet]:
    """Lock the wallets (in id order) and return them by id; run inside a transaction."""
    ids = sorted(set(wallet_ids))
    rows = Wallet.objects.select_for_update().filter(pk__in=ids).order_by("pk")
    return {wallet.pk: wallet for wallet in rows}


def wallet_for_update(wallet_id: int) -> Wallet:
    return wallets_for_update([wallet_id])[wallet_id]
