"""The canteen's JSON API: a child's wallet for the parents' app and other clients.

Only the caller's own children (a guardian of the child); anyone else's child is 404.
Amounts are strings with two decimals ("1500.00"), never JSON numbers.
"""

from __future__ import annotations

import datetime as dt

from django.http import Http404, HttpRequest
from ninja import Router, Schema

from kezekshi.accounts.api import AUTH
from kezekshi.accounts.decorators import signed_in_api
from kezekshi.accounts.models import User
from kezekshi.canteen import selectors
from kezekshi.canteen.money import plain
from kezekshi.people.models import Guardianship
from kezekshi.people.selectors import children_of

router = Router(tags=["canteen"], auth=AUTH)
SHOWN = 50


class MovementOut(Schema):
    id: int
    kind: str
    label: str
    amount: str
    booked_at: dt.datetime
    description: str


class WalletOut(Schema):
    pupil_id: int
    account_number: str
    balance: str
    overdraft_limit: str
    movements: list[MovementOut]


class Error(Schema):
    code: str
    message: str


@router.get(
    "/children/{pupil_id}/wallet",
    response={200: WalletOut, 401: Error, 404: Error},
    summary="My child's canteen balance and latest movements",
)
@signed_in_api
def child_wallet(request: HttpRequest, pupil_id: int) -> dict[str, object]:
    user = request.user
    assert isinstance(user, User)
    child = children_of(user).filter(pk=pupil_id).first()
    if child is None:
        raise Http404
    blocked = child.person.blocked_at is not None
    legal = Guardianship.objects.filter(
        pupil=child, guardian__person__user=user, is_legal_representative=True
    ).exists()
    if blocked and not legal:
        raise Http404
    wallet = selectors.wallet_of(child)
    entries = list(selectors.movements(wallet, limit=SHOWN)) if wallet is not None else []
    return {
        "pupil_id": child.pk,
        "account_number": child.account_number,
        "balance": plain(wallet.balance) if wallet else "0.00",
        "overdraft_limit": plain(wallet.overdraft_limit) if wallet else "0.00",
        "movements": [
            {
                "id": entry.pk,
                "kind": entry.transaction.kind,
                "label": str(entry.transaction.get_kind_display()),
                "amount": plain(entry.amount),
                "booked_at": entry.transaction.booked_at,
                "description": entry.transaction.description,
            }
            for entry in entries
        ],
    }
