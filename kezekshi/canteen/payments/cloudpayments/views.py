"""``/payments/cloudpayments/<check|pay|fail|refund>/``: CloudPayments-style card webhooks.

The acquirer posts a form (or JSON) body signed with base64(HMAC-SHA256(body, secret)) in
``Content-HMAC`` (over the raw body) and ``X-Content-HMAC`` (over the URL-decoded body);
either one, right, is enough. The pupil's personal account number comes as
``AccountId``. We answer ``{"code":0}``; refusals: 10 account (or refunded payment) not
found, 12 amount not acceptable, 13 payment rejected (bad signature, source, currency,
transaction id). ``pay``, ``fail`` and ``refund`` are answered once per
``TransactionId``: a repeat gets the same bytes. Only a live (``TestMode`` 0), completed
(``Status`` Completed or absent) ``pay`` is credited; two-stage payments are not
supported. See docs/payments.md.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import hmac
import json
import re
from decimal import Decimal
from typing import Any
from urllib.parse import unquote_plus

from django.http import HttpRequest, HttpResponse, QueryDict
from django.utils.dateparse import parse_datetime
from django.views.decorators.csrf import csrf_exempt

from kezekshi.canteen import services
from kezekshi.canteen.models import LedgerTransaction, PaymentProvider, ProviderRequest
from kezekshi.canteen.money import BadAmount, parse_amount
from kezekshi.canteen.payments import common
from kezekshi.canteen.payments.common import Answer, Processed
from kezekshi.core.errors import ServiceError
from kezekshi.people.services import is_valid_account_number

KINDS = ("check", "pay", "fail", "refund")
OK, NOT_FOUND, BAD_AMOUNT, REJECTED = 0, 10, 12, 13
CONTENT_TYPE = "application/json"
TRANSACTION_ID = re.compile(r"^[0-9]{1,20}$")


def _answer(code: int, status: int = 200) -> Processed:
    return Processed(
        Answer(
            json.dumps({"code": code}, separators=(",", ":")).encode(),
            CONTENT_TYPE,
            str(code),
            status,
        )
    )


def signature(body: bytes, secret: str) -> str:
    """base64(HMAC-SHA256(body, secret)), as the acquirer signs."""
    digest = hmac.new(secret.encode(), body, hashlib.sha256).digest()
    return base64.b64encode(digest).decode()


def _signed_by(request: HttpRequest) -> PaymentProvider | None:
    """The active provider whose secret signed this body, if any."""
    body = request.body
    raw_header = request.headers.get("Content-HMAC", "")
    decoded_header = request.headers.get("X-Content-HMAC", "")
    if not raw_header and not decoded_header:
        return None
    decoded = unquote_plus(body.decode("utf-8", errors="replace")).encode()
    providers = PaymentProvider.objects.filter(
        protocol=PaymentProvider.Protocol.CLOUDPAYMENTS, is_active=True
    )
    for provider in providers:
        if not provider.secret:
            continue
        good_raw = _same(raw_header, signature(body, provider.secret))
        good_decoded = _same(decoded_header, signature(decoded, provider.secret))
        if good_raw or good_decoded:
            return provider
    return None


def _same(header: str, expected: str) -> bool:
    """Whether the header carries the expected signature. Compared as bytes: a header
    can carry any byte (the server hands it over as latin-1 text), and comparing text
    that is not ASCII raises instead of saying no."""
    return bool(header) and hmac.compare_digest(
        header.encode("utf-8", errors="replace"), expected.encode()
    )


def _fields(request: HttpRequest) -> dict[str, str]:
    """The notification's fields as text (JSON numbers too: never through a float)."""
    if request.content_type == "application/json":
        try:
            data: Any = json.loads(request.body, parse_float=str, parse_int=str)
        except (ValueError, UnicodeDecodeError):
            return {}
        if not isinstance(data, dict):
            return {}
        return {str(key): "" if value is None else str(value) for key, value in data.items()}
    try:
        form = QueryDict(request.body, encoding="utf-8")
    except UnicodeDecodeError:
        return {}
    return {key: form.get(key, "") for key in form}


@csrf_exempt
def endpoint(request: HttpRequest, kind: str) -> HttpResponse:
    """Every call is stored and answered in the protocol: a wrong method, an unknown
    notification kind or a huge body too (code 13, with HTTP 405, 404, 413)."""
    raw = common.receive(request, protocol=PaymentProvider.Protocol.CLOUDPAYMENTS)
    if request.method != "POST":
        return common.finish(raw, _answer(REJECTED, 405), provider=None, command=kind, txn_id="")
    if kind not in KINDS:
        return common.finish(raw, _answer(REJECTED, 404), provider=None, command=kind, txn_id="")
    if common.too_large(raw):
        return common.finish(raw, _answer(REJECTED, 413), provider=None, command=kind, txn_id="")
    fields = _fields(request)
    txn_id = fields.get("TransactionId", "")
    provider = _signed_by(request)
    if provider is None:
        processed = _answer(REJECTED, status=401)
    elif not common.from_allowed_address(provider, request):
        processed = _answer(REJECTED, status=403)
    elif kind == "check":
        processed = _check(provider, fields)
    elif not TRANSACTION_ID.fullmatch(txn_id):
        processed = _answer(REJECTED)
    else:
        process = {"pay": _pay, "fail": _fail, "refund": _refund}[kind]
        processed = common.answered_once(
            provider=provider,
            command=kind,
            txn_id=txn_id,
            account=fields.get("AccountId", ""),
            amount=fields.get("Amount", ""),
            raw=raw,
            process=lambda: process(provider, fields, raw),
            reused=lambda: _answer(REJECTED),
        )
    return common.finish(raw, processed, provider=provider, command=kind, txn_id=txn_id)


def _amount(provider: PaymentProvider, fields: dict[str, str]) -> Decimal | Processed:
    """The amount in KZT, or the refusal: 13 for another currency, 12 for a bad amount."""
    if fields.get("Currency", "KZT") != "KZT":
        return _answer(REJECTED)
    try:
        return parse_amount(fields.get("Amount", ""), largest=provider.max_amount)
    except BadAmount:
        return _answer(BAD_AMOUNT)


def _check(provider: PaymentProvider, fields: dict[str, str]) -> Processed:
    account = fields.get("AccountId", "")
    pupil = common.find_pupil(account) if is_valid_account_number(account) else None
    if pupil is None or not pupil.is_active:
        return _answer(NOT_FOUND)
    amount = _amount(provider, fields)
    if isinstance(amount, Processed):
        return amount
    return Processed(_answer(OK).answer, school_id=pupil.school_id)


def _moves_money(fields: dict[str, str]) -> bool:
    """Only a live, completed payment is credited: ``TestMode`` absent, ``0`` or
    ``false``, and ``Status`` ``Completed`` (or absent, for acquirers that do not send
    it). A test payment, or an authorisation of a two-stage payment (``Authorized``,
    which we do not support: no Confirm/Cancel), took no money from the payer."""
    test_mode = fields.get("TestMode", "").strip().lower()
    return test_mode in ("", "0", "false") and fields.get("Status", "") in ("", "Completed")


def _pay(provider: PaymentProvider, fields: dict[str, str], raw: ProviderRequest) -> Processed:
    account = fields.get("AccountId", "")
    pupil = common.find_pupil(account) if is_valid_account_number(account) else None
    if not _moves_money(fields):
        # Acknowledged (the acquirer would resend otherwise), nothing booked.
        return Processed(_answer(OK).answer, school_id=pupil.school_id if pupil else None)
    if pupil is None:
        return _answer(NOT_FOUND)
    amount = _amount(provider, fields)
    if isinstance(amount, Processed):
        return amount
    when = _when(fields, raw)
    try:
        booked = services.credit_topup(
            wallet=services.wallet_for(pupil=pupil),
            provider=provider,
            amount=amount,
            txn_id=fields["TransactionId"],
            booked_at=when.at,
            provider_time=when.provider_time,
        )
    except ServiceError as exc:
        if exc.code != "external_id_reused":
            raise
        # The ledger has this TransactionId for another wallet or amount (booked outside
        # this endpoint): crediting again would count the money twice.
        return Processed(_answer(REJECTED).answer, school_id=pupil.school_id)
    return Processed(_answer(OK).answer, school_id=pupil.school_id, booked=booked.transaction)


def _fail(provider: PaymentProvider, fields: dict[str, str], raw: ProviderRequest) -> Processed:
    """A declined card payment: nothing to book; the request and the answer are kept."""
    account = fields.get("AccountId", "")
    pupil = common.find_pupil(account) if is_valid_account_number(account) else None
    return Processed(_answer(OK).answer, school_id=pupil.school_id if pupil else None)


def _refund(provider: PaymentProvider, fields: dict[str, str], raw: ProviderRequest) -> Processed:
    original = LedgerTransaction.objects.filter(
        kind=LedgerTransaction.Kind.TOPUP,
        provider=provider,
        provider_txn_id=fields.get("PaymentTransactionId", ""),
    ).first()
    if original is None:
        return _answer(NOT_FOUND)
    amount = _amount(provider, fields)
    if isinstance(amount, Processed):
        return amount
    when = _when(fields, raw)
    try:
        booked = services.refund_topup(
            topup=original,
            amount=amount,
            refund_id=fields["TransactionId"],
            booked_at=when.at,
            provider_time=when.provider_time,
        )
    except ServiceError as exc:
        if exc.code != "refund_exceeds_payment":
            raise
        return Processed(_answer(BAD_AMOUNT).answer, school_id=original.school_id)
    return Processed(_answer(OK).answer, school_id=original.school_id, booked=booked.transaction)


def _when(fields: dict[str, str], raw: ProviderRequest) -> common.BookingTime:
    """The acquirer's ``DateTime`` as the booking time, if it can be (never a refusal:
    the card has been charged; see ``common.booking_time``)."""
    return common.booking_time(fields.get("DateTime", ""), received_at=raw.received_at, parse=_time)


def _time(text: str) -> dt.datetime:
    """CloudPayments' ``DateTime`` ("2025-09-04 03:15:00", UTC) → aware; ``ValueError``."""
    moment = parse_datetime(text)
    if moment is None:
        raise ValueError("not a time")
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=dt.UTC)
    return moment
