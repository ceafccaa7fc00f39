"""The check/pay dialogue payment agents hold with us, shared by the Kaspi-style (JSON)
and the OSMP/QIWI-style (XML) endpoints: they differ only in result codes and bytes.

- ``check``: is there such an account? The answer names the child (masked) and the
  school so the payer can confirm; nothing is booked, nothing is stored but the request.
- ``pay``: credit the wallet once. Its answer is stored with the money: a repeated
  ``txn_id`` gets those bytes back. A ``pay`` without a ``check`` before it is fine (the
  payer's money is taken already): a pay is refused only when crediting is impossible —
  an unknown account, a sum that cannot be read. Its time never is (see
  ``common.booking_time``).
"""

from __future__ import annotations

import enum
import re
from collections.abc import Callable
from dataclasses import dataclass

from django.http import HttpRequest, HttpResponse, QueryDict
from django.utils.translation import gettext as _

from kezekshi.canteen import services
from kezekshi.canteen.models import LedgerTransaction, PaymentProvider, ProviderRequest
from kezekshi.canteen.money import BadAmount, parse_amount, plain
from kezekshi.canteen.payments import common
from kezekshi.canteen.payments.common import Answer, Processed
from kezekshi.core.errors import ServiceError
from kezekshi.people.services import is_valid_account_number

TXN_ID = re.compile(r"^[0-9A-Za-z_-]{1,20}$")


class Outcome(enum.Enum):
    OK = "ok"
    ALREADY_PAID = "already_paid"
    ACCOUNT_NOT_FOUND = "account_not_found"
    BAD_ACCOUNT = "bad_account"
    SUM_FORMAT = "sum_format"
    SUM_TOO_SMALL = "sum_too_small"
    SUM_TOO_LARGE = "sum_too_large"
    BAD_REQUEST = "bad_request"
    TXN_ID_REUSED = "txn_id_reused"
    UNAUTHORIZED = "unauthorized"
    FORBIDDEN = "forbidden"
    WRONG_METHOD = "wrong_method"
    TOO_LARGE = "too_large"


STATUS = {
    Outcome.UNAUTHORIZED: 401,
    Outcome.FORBIDDEN: 403,
    Outcome.WRONG_METHOD: 405,
    Outcome.TOO_LARGE: 413,
}


@dataclass(frozen=True)
class Reply:
    """One answer, before a dialect turns it into bytes."""

    command: str
    outcome: Outcome
    txn_id: str
    prv_txn_id: str = ""
    sum: str = ""
    name: str = ""
    school: str = ""

    @property
    def status(self) -> int:
        return STATUS.get(self.outcome, 200)

    @property
    def comment(self) -> str:
        if self.outcome == Outcome.OK:
            return _("Payment accepted") if self.command == "pay" else _("Account found")
        return str(COMMENTS[self.outcome]())


COMMENTS: dict[Outcome, Callable[[], str]] = {
    Outcome.ALREADY_PAID: lambda: _("This payment has been made already"),
    Outcome.ACCOUNT_NOT_FOUND: lambda: _("Account not found"),
    Outcome.BAD_ACCOUNT: lambda: _("The account number is not valid: it has 11 digits"),
    Outcome.SUM_FORMAT: lambda: _(
        "The sum is not valid: tenge with at most 2 decimal places, e.g. 500.00"
    ),
    Outcome.SUM_TOO_SMALL: lambda: _("The sum must be more than zero"),
    Outcome.SUM_TOO_LARGE: lambda: _("The sum is larger than allowed"),
    Outcome.BAD_REQUEST: lambda: _("The request is not valid: check command and txn_id"),
    Outcome.TXN_ID_REUSED: lambda: _("This txn_id was used before for another payment"),
    Outcome.UNAUTHORIZED: lambda: _("Wrong login or password"),
    Outcome.FORBIDDEN: lambda: _("Calls from this address are not allowed"),
    Outcome.WRONG_METHOD: lambda: _("Use GET or POST"),
    Outcome.TOO_LARGE: lambda: _("The request is too large"),
}

SUM_OUTCOMES = {
    "format": Outcome.SUM_FORMAT,
    "zero": Outcome.SUM_TOO_SMALL,
    "too_large": Outcome.SUM_TOO_LARGE,
}


class Dialect:
    """How one protocol writes a ``Reply``: its result codes and its bytes."""

    protocol: str
    codes: dict[Outcome, int]

    def render(self, reply: Reply) -> Answer:
        raise NotImplementedError


def handle(request: HttpRequest, dialect: Dialect) -> HttpResponse:
    """Serve one check or pay call (GET query or POST form) in ``dialect``. Every call is
    stored and answered in the protocol, a wrong method or a huge body too."""
    raw = common.receive(request, protocol=dialect.protocol)
    # A body too large is not read (only its start was stored): the query string only.
    params = request.GET if common.too_large(raw) else _params(request)
    command = params.get("command", "")
    txn_id = params.get("txn_id", "")
    provider, good = common.provider_by_login(dialect.protocol, request)
    if request.method not in ("GET", "POST"):
        processed = _refuse(dialect, command, txn_id, Outcome.WRONG_METHOD)
    elif common.too_large(raw):
        processed = _refuse(dialect, command, txn_id, Outcome.TOO_LARGE)
    elif provider is None or not good:
        processed = _refuse(dialect, command, txn_id, Outcome.UNAUTHORIZED)
    elif not common.from_allowed_address(provider, request):
        processed = _refuse(dialect, command, txn_id, Outcome.FORBIDDEN)
    elif command not in ("check", "pay") or not TXN_ID.fullmatch(txn_id):
        processed = _refuse(dialect, command, txn_id, Outcome.BAD_REQUEST)
    elif command == "check":
        processed = _check(dialect, provider, params, txn_id)
    else:
        processed = common.answered_once(
            provider=provider,
            command="pay",
            txn_id=txn_id,
            account=params.get("account", ""),
            amount=params.get("sum", ""),
            raw=raw,
            process=lambda: _pay(dialect, provider, params, txn_id, raw),
            reused=lambda: _refuse(
                dialect, "pay", txn_id, Outcome.TXN_ID_REUSED, sum=_sum_shown(params)
            ),
        )
    return common.finish(raw, processed, provider=provider, command=command, txn_id=txn_id)


def _params(request: HttpRequest) -> QueryDict:
    """The query string's fields, and a POST form's on top of them."""
    params = request.GET.copy()
    if request.method == "POST":
        for key, values in request.POST.lists():
            params.setlist(key, values)
    return params


def _sum_shown(params: QueryDict) -> str:
    """The sum as a refusal repeats it: with two places when it can be read."""
    return common.amount_key(params.get("sum", ""))


def _refuse(
    dialect: Dialect, command: str, txn_id: str, outcome: Outcome, **fields: str
) -> Processed:
    reply = Reply(command=command, outcome=outcome, txn_id=txn_id[:40], **fields)
    return Processed(dialect.render(reply))


def _check(
    dialect: Dialect, provider: PaymentProvider, params: QueryDict, txn_id: str
) -> Processed:
    """Does the account exist (and study here)? With the sum, if given, checked too."""
    account = params.get("account", "")
    text = params.get("sum", "")
    if not is_valid_account_number(account):
        return _refuse(dialect, "check", txn_id, Outcome.BAD_ACCOUNT, sum=text[:20])
    pupil = common.find_pupil(account)
    if pupil is None or not pupil.is_active:
        return _refuse(dialect, "check", txn_id, Outcome.ACCOUNT_NOT_FOUND, sum=text[:20])
    amount = ""
    if text:
        try:
            amount = plain(parse_amount(text, largest=provider.max_amount))
        except BadAmount as exc:
            return _refuse(dialect, "check", txn_id, SUM_OUTCOMES[exc.reason], sum=text[:20])
    paid = LedgerTransaction.objects.filter(
        kind=LedgerTransaction.Kind.TOPUP, provider=provider, provider_txn_id=txn_id
    ).exists()
    if not paid and common.answered_before(provider, "pay", txn_id):
        # A pay with this txn_id was answered with a refusal: the id is spent.
        return _refuse(dialect, "check", txn_id, Outcome.TXN_ID_REUSED, sum=amount)
    reply = Reply(
        command="check",
        outcome=Outcome.ALREADY_PAID if paid else Outcome.OK,
        txn_id=txn_id,
        sum=amount,
        name=common.masked_name(pupil),
        school=pupil.school.name,
    )
    return Processed(dialect.render(reply), school_id=pupil.school_id)


def _pay(
    dialect: Dialect,
    provider: PaymentProvider,
    params: QueryDict,
    txn_id: str,
    raw: ProviderRequest,
) -> Processed:
    """Credit the wallet, or say why it cannot be done; runs inside ``answered_once``."""
    account = params.get("account", "")
    text = params.get("sum", "")
    if not is_valid_account_number(account):
        return _refuse(dialect, "pay", txn_id, Outcome.BAD_ACCOUNT, sum=text[:20])
    pupil = common.find_pupil(account)
    if pupil is None:
        return _refuse(dialect, "pay", txn_id, Outcome.ACCOUNT_NOT_FOUND, sum=text[:20])
    try:
        amount = parse_amount(text, largest=provider.max_amount)
    except BadAmount as exc:
        return _refuse(dialect, "pay", txn_id, SUM_OUTCOMES[exc.reason], sum=text[:20])
    # The money is taken: a txn_date that is missing, unreadable or out of range is no
    # reason to refuse (booked when it reached us; a bad one is kept and flagged).
    when = common.booking_time(
        params.get("txn_date", ""), received_at=raw.received_at, parse=common.agent_time
    )
    wallet = services.wallet_for(pupil=pupil)
    try:
        booked = services.credit_topup(
            wallet=wallet,
            provider=provider,
            amount=amount,
            txn_id=txn_id,
            booked_at=when.at,
            provider_time=when.provider_time,
        )
    except ServiceError:
        # The ledger has this provider's txn_id for another wallet or sum (booked outside
        # this endpoint): crediting again would count the money twice.
        return _refuse(dialect, "pay", txn_id, Outcome.TXN_ID_REUSED, sum=plain(amount))
    reply = Reply(
        command="pay",
        outcome=Outcome.OK,
        txn_id=txn_id,
        prv_txn_id=str(booked.transaction.pk),
        sum=plain(amount),
    )
    return Processed(dialect.render(reply), school_id=pupil.school_id, booked=booked.transaction)
