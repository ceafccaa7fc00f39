"""What every provider endpoint does the same way: store the raw request first, know the
provider (credentials, source address), answer a repeated transaction with the bytes
answered the first time, and finish the stored request with the answer.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import hmac
import ipaddress
from collections.abc import Callable
from dataclasses import dataclass
from zoneinfo import ZoneInfo

from django.conf import settings
from django.db import IntegrityError, transaction
from django.http import HttpRequest, HttpResponse
from django.utils import timezone

from kezekshi.canteen.models import (
    LedgerTransaction,
    PaymentProvider,
    ProviderAnswer,
    ProviderRequest,
)
from kezekshi.canteen.money import BadAmount, parse_amount, plain
from kezekshi.core.crypto import keyed_digest
from kezekshi.people.models import Pupil

# A provider's call is small; anything bigger is not one.
MAX_BODY = 64 * 1024
# A provider's time is the booking time when it lies within this much before the call
# reached us, or FUTURE_SKEW after (its clock may run ahead); else the payment is booked
# when it arrived (no day already closed is changed) and the time is kept for a person.
BACKDATE = dt.timedelta(days=30)
FUTURE_SKEW = dt.timedelta(hours=1)


@dataclass(frozen=True)
class Answer:
    """What we answer: the bytes, and the protocol's result code for the request log."""

    body: bytes
    content_type: str
    result: str
    status: int = 200


@dataclass(frozen=True)
class Processed:
    answer: Answer
    school_id: int | None = None
    booked: LedgerTransaction | None = None


def password_digest(password: str) -> str:
    """The keyed digest a provider's password is kept as (the password itself never is).

    Passwords are long random strings made by ``manage.py payment_provider``, so a fast
    keyed hash is enough, and it costs a request nothing.
    """
    return keyed_digest(b"kezekshi-payment-provider", password).hex()


def receive(request: HttpRequest, *, protocol: str) -> ProviderRequest:
    """Store the raw request, committed, before anything else is done with it.

    The Authorization header is never stored; the signature header is (it is not a secret).
    A body over ``MAX_BODY`` is read only that far (its first 64 KB are stored, with its
    size): such a request must then be refused with ``too_large`` unread.
    """
    try:
        size = int(request.META.get("CONTENT_LENGTH") or 0)
    except ValueError:
        size = 0
    body = request.read(MAX_BODY) if size > MAX_BODY else request.body
    signature = request.headers.get("Content-HMAC") or request.headers.get("X-Content-HMAC") or ""
    with transaction.atomic():
        return ProviderRequest.objects.create(
            protocol=protocol,
            method=(request.method or "")[:10],
            path=request.path[:200],
            query=request.META.get("QUERY_STRING", "")[:4000],
            body=body,
            body_size=max(size, len(body)),
            content_type=request.content_type[:100] if request.content_type else "",
            signature=signature[:200],
            remote_addr=_address(request),
        )


def too_large(raw: ProviderRequest) -> bool:
    """Whether the request's body was too large to be a provider's call (and was cut)."""
    return raw.body_size > MAX_BODY


def finish(
    raw: ProviderRequest,
    processed: Processed,
    *,
    provider: PaymentProvider | None,
    command: str,
    txn_id: str,
) -> HttpResponse:
    """Write the answer into the stored request and send it."""
    answer = processed.answer
    ProviderRequest.objects.filter(pk=raw.pk).update(
        provider=provider,
        school_id=processed.school_id,
        command=command[:20],
        txn_id=txn_id[:40],
        status_code=answer.status,
        result=answer.result[:10],
        response_body=answer.body,
        answered_at=timezone.now(),
    )
    response = HttpResponse(answer.body, status=answer.status, content_type=answer.content_type)
    if answer.status == 405:
        response["Allow"] = (
            "POST" if raw.protocol == PaymentProvider.Protocol.CLOUDPAYMENTS else "GET, POST"
        )
    return response


def _address(request: HttpRequest) -> str | None:
    raw = request.META.get("REMOTE_ADDR") or ""
    try:
        return str(ipaddress.ip_address(raw))
    except ValueError:
        return None


def networks(text: str) -> list[ipaddress.IPv4Network | ipaddress.IPv6Network]:
    """The networks in ``allowed_networks``: one per line or comma-separated.

    Raises ``ValueError`` naming a line that is not an address or a network.
    """
    found = []
    for item in text.replace(",", "\n").splitlines():
        item = item.strip()
        if item:
            found.append(ipaddress.ip_network(item, strict=False))
    return found


def from_allowed_address(provider: PaymentProvider, request: HttpRequest) -> bool:
    """Whether the call comes from one of the provider's networks (none listed: nobody)."""
    address = _address(request)
    if address is None:
        return False
    ip = ipaddress.ip_address(address)
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    try:
        allowed = networks(provider.allowed_networks)
    except ValueError:
        return False
    return any(ip.version == network.version and ip in network for network in allowed)


def basic_credentials(request: HttpRequest) -> tuple[str, str] | None:
    header = request.headers.get("Authorization", "")
    scheme, _sep, encoded = header.partition(" ")
    if scheme.lower() != "basic" or not encoded:
        return None
    try:
        decoded = base64.b64decode(encoded.strip(), validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError):
        return None
    username, sep, password = decoded.partition(":")
    return (username, password) if sep else None


def provider_by_login(protocol: str, request: HttpRequest) -> tuple[PaymentProvider | None, bool]:
    """The active provider of ``protocol`` whose login the request carries, and whether its
    password is right. ``(None, False)`` when nobody with that login exists."""
    credentials = basic_credentials(request)
    if credentials is None:
        return None, False
    username, password = credentials
    provider = PaymentProvider.objects.filter(
        protocol=protocol, username=username, is_active=True
    ).first()
    if provider is None:
        return None, False
    good = bool(provider.password_digest) and hmac.compare_digest(
        provider.password_digest, password_digest(password)
    )
    return provider, good


def amount_key(text: str) -> str:
    """The sum as a repeat must send it again: a readable sum with two places ("500" and
    "500.00" are one sum), anything else as it came."""
    try:
        return plain(parse_amount(text))
    except BadAmount:
        return text[:20]


def answered_once(
    *,
    provider: PaymentProvider,
    command: str,
    txn_id: str,
    account: str,
    amount: str,
    raw: ProviderRequest,
    process: Callable[[], Processed],
    reused: Callable[[], Processed],
) -> Processed:
    """The answer to ``command`` for ``txn_id``: the stored one if it was answered before,
    else ``process()``'s, stored in the same transaction as what it booked.

    Only a call for the same ``account`` and ``amount`` (the sum as sent) is a repeat and
    gets the stored bytes; one that reuses ``txn_id`` for another payment gets
    ``reused()`` — nothing booked, nothing stored, so the first answer stays the one
    every true repeat gets. The answer row is inserted first: a second call arriving at
    the same instant waits on its unique key until the first commits, then reads it.
    """
    account, amount = account[:40], amount_key(amount)
    stored = _stored(provider, command, txn_id)
    if stored is not None:
        return _replayed(stored, account, amount, reused)
    try:
        with transaction.atomic():
            claim = ProviderAnswer.objects.create(
                provider=provider,
                command=command,
                txn_id=txn_id,
                account=account,
                amount=amount,
                request=raw,
                body=b"",
            )
            processed = process()
            claim.school_id = processed.school_id
            claim.transaction = processed.booked
            claim.status_code = processed.answer.status
            claim.content_type = processed.answer.content_type
            claim.body = processed.answer.body
            claim.save(
                update_fields=["school", "transaction", "status_code", "content_type", "body"]
            )
            return processed
    except IntegrityError:
        stored = _stored(provider, command, txn_id)
        if stored is None:
            raise
        return _replayed(stored, account, amount, reused)


def _stored(provider: PaymentProvider, command: str, txn_id: str) -> ProviderAnswer | None:
    return (
        ProviderAnswer.objects.filter(provider=provider, command=command, txn_id=txn_id)
        .only("body", "content_type", "status_code", "school_id", "account", "amount")
        .first()
    )


def _replayed(
    row: ProviderAnswer, account: str, amount: str, reused: Callable[[], Processed]
) -> Processed:
    if (row.account, row.amount) != (account, amount):
        return reused()
    answer = Answer(
        body=bytes(row.body), content_type=row.content_type, result="replay", status=row.status_code
    )
    return Processed(answer, school_id=row.school_id)


def answered_before(provider: PaymentProvider, command: str, txn_id: str) -> bool:
    """Whether ``command`` was answered (and stored) for ``txn_id``, refused or not."""
    return ProviderAnswer.objects.filter(provider=provider, command=command, txn_id=txn_id).exists()


def find_pupil(account: str) -> Pupil | None:
    """The pupil with this personal account number, in an active school."""
    return (
        Pupil.objects.select_related("person", "school")
        .filter(account_number=account, school__is_active=True)
        .first()
    )


def masked_name(pupil: Pupil) -> str:
    """ "Айгерім Н.": enough for a payer to recognise the child, no more. Nothing for a
    child whose data are blocked."""
    person = pupil.person
    if person.blocked_at is not None:
        return ""
    initial = f" {person.last_name[:1]}." if person.last_name else ""
    return f"{person.first_name}{initial}"


@dataclass(frozen=True)
class BookingTime:
    """When a payment is booked, and the provider's time as sent when that was not it."""

    at: dt.datetime
    provider_time: str = ""


def booking_time(
    text: str, *, received_at: dt.datetime, parse: Callable[[str], dt.datetime]
) -> BookingTime:
    """The provider's time (``text``, read by ``parse``) when it is readable and within
    [``received_at`` − 30 days, ``received_at`` + 1 hour]; else ``received_at``, keeping
    ``text`` to flag the payment for the reconciliation. Never a reason to refuse: the
    payer's money is taken. No time sent: ``received_at``, nothing flagged."""
    if not text:
        return BookingTime(received_at)
    try:
        moment = parse(text)
    except ValueError:
        return BookingTime(received_at, text[:40])
    if not received_at - BACKDATE <= moment <= received_at + FUTURE_SKEW:
        return BookingTime(received_at, text[:40])
    return BookingTime(moment.astimezone(dt.UTC))


def agent_time(text: str) -> dt.datetime:
    """``YYYYMMDDHHMMSS`` in the schools' time zone → an aware time; ``ValueError`` when
    it is not a real time."""
    if len(text) != 14 or not text.isascii() or not text.isdigit():
        raise ValueError("not YYYYMMDDHHMMSS")
    return dt.datetime.strptime(text, "%Y%m%d%H%M%S").replace(
        tzinfo=ZoneInfo(settings.SCHOOL_TIME_ZONE)
    )
