"""The canteen's JSON API, at ``/api/v1/canteen/``.

**Parents** (``wallet_router``, signed-in users): a child's wallet for the parents' app —
only the caller's own children (a guardian of the child); anyone else's child is 404.

**POS terminals** (``pos_router``), signed like the access devices
(``access.device_auth``: X-Device-Id, X-Device-Time, X-Signature over the body). Only
devices registered as ``pos_terminal`` may call it. Every sale carries the terminal's
transaction id: a replay answers the first sale's JSON unchanged (with the header
``Idempotent-Replayed: true``) and charges nothing. Refusals are JSON with a
machine-readable ``code`` and a ``message`` in the terminal's language
(``Accept-Language``). Examples: docs/canteen-pos.md.

Amounts are strings with two decimals ("1500.00"), never JSON numbers.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any, Literal

from django.core.serializers.json import DjangoJSONEncoder
from django.http import FileResponse, Http404, HttpRequest, HttpResponse, JsonResponse
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _
from ninja import Field, Router, Schema

from kezekshi.access.device_auth import DeviceSignature
from kezekshi.access.models import Device
from kezekshi.accounts.api import AUTH
from kezekshi.accounts.decorators import signed_in_api
from kezekshi.accounts.models import User
from kezekshi.canteen import menu, pos, selectors
from kezekshi.canteen.free_meals import settings_of
from kezekshi.canteen.models import Sale
from kezekshi.canteen.money import BadAmount, parse_amount, plain
from kezekshi.core.errors import Forbidden, NotFound, ServiceError
from kezekshi.people.models import Guardianship, Pupil
from kezekshi.people.selectors import children_of
from kezekshi.privacy import audit

wallet_router = Router(tags=["canteen"], auth=AUTH)
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


@wallet_router.get(
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


# --- POS terminals ------------------------------------------------------------

pos_router = Router(tags=["canteen (POS terminals)"], auth=DeviceSignature())
MAX_OFFLINE_BATCH = 500


def terminal_api(handler: Any) -> Any:
    """Authenticated by the device signature, not by a user's role (role-matrix test)."""
    handler.required_permission = None
    return handler


def _terminal(request: HttpRequest) -> Device:
    device: Device = request.auth  # type: ignore[attr-defined]
    if device.kind != Device.Kind.POS_TERMINAL:
        raise Forbidden("not_a_pos_terminal", _("This device is not a canteen POS terminal."))
    return device


def _pupil(device: Device, pupil_id: int) -> Pupil:
    pupil = pos.find_pupil(pk=pupil_id, school_id=device.school_id)
    if pupil is None:
        raise NotFound("unknown_pupil", _("No such pupil in this school."))
    return pupil


def _sale(device: Device, txn_id: str) -> Sale:
    found = Sale.objects.filter(
        school_id=device.school_id,
        external_id=f"{pos.till_key(device=device)}:{txn_id}",
    ).first()
    if found is None:
        raise NotFound("unknown_sale", _("This terminal made no sale with this id."))
    return found


class IdentifyIn(Schema):
    credential_kind: Literal["card", "qr", "account", "face"] = "card"
    credential: str = Field(..., min_length=1, max_length=512)


class PupilOut(Schema):
    pupil_id: int
    blocked: bool
    account: str
    name: str
    school_class: str
    photo_url: str | None
    balance: str
    available: str
    spent_today: str
    daily_limit_left: str | None
    allergens: list[str]
    banned_dishes: list[int]
    banned_categories: list[int]
    free_meal_basis: str | None
    free_meals_left: list[str]
    offline_allowance: str


@pos_router.post("/identify", response=PupilOut, summary="Find the pupil at the till")
@terminal_api
def identify(request: HttpRequest, payload: IdentifyIn) -> dict[str, Any]:
    """By card UID (as the reader types it), QR pass, personal account, or a face
    terminal's match (only where paying by face is on and the child's consent holds).
    A child whose data are blocked is found (not by face) and shown with the minimum:
    ``blocked``, no name, account, class or photo."""
    device = _terminal(request)
    pupil = pos.identify(
        school_id=device.school_id, kind=payload.credential_kind, value=payload.credential
    )
    # The terminal's screen shows the child's card: a read of personal data, audited as
    # at the cashier's page (no user signs a terminal's request: the device says who).
    audit.record(
        action=audit.Action.VIEW,
        actor=None,
        school=device.school,
        person=pupil.person,
        target=f"canteen:till:{pupil.pk}",
        details={"identified_by": payload.credential_kind, "device": device.pk},
        request=request,
    )
    return pos.at_till(pupil).as_json(photo_url=_photo_url)


def _photo_url(pupil: Pupil) -> str:
    """The terminal's own link to the pupil's photo (the staff page's needs a session)."""
    return reverse("api:canteen_pupil_photo", kwargs={"pupil_id": pupil.pk})


@pos_router.get(
    "/pupils/{pupil_id}/photo",
    response={200: None, 404: Error},
    url_name="canteen_pupil_photo",
    summary="The pupil's photo for the terminal's screen (JPEG)",
    openapi_extra={
        "responses": {200: {"description": "The photo", "content": {"image/jpeg": {"schema": {}}}}}
    },
)
@terminal_api
def pupil_photo(request: HttpRequest, pupil_id: int) -> FileResponse:
    """The photo on file, so whoever sells sees the card is the child's own — with the
    checks of the cashier's page (``pos.photo_to_show``): only a pupil of the terminal's
    school who studies here now and whose data are not blocked; anyone else is
    ``404 no_photo``. Each photo shown is written to the audit log, naming the device."""
    device = _terminal(request)
    pupil = pos.photo_to_show(school_id=device.school_id, pk=pupil_id)
    if pupil is None:
        raise NotFound("no_photo", _("There is no photo of this pupil to show."))
    audit.record(
        action=audit.Action.VIEW,
        actor=None,
        school=device.school,
        person=pupil.person,
        target=f"canteen:photo:{pupil.pk}",
        details={"device": device.pk},
        request=request,
    )
    response = FileResponse(pupil.person.photo.open("rb"), content_type="image/jpeg")
    response["Cache-Control"] = "private, max-age=300"
    return response


class LineIn(Schema):
    menu_item_id: int = Field(..., ge=1)
    quantity: int = Field(1, ge=1, le=pos.MAX_QUANTITY)


class SaleIn(Schema):
    txn_id: str = Field(..., min_length=1, max_length=64)
    pupil_id: int = Field(..., ge=1)
    items: list[LineIn] = Field(..., min_length=1, max_length=pos.MAX_LINES)


class SaleLineOut(Schema):
    menu_item_id: int
    dish_id: int
    name: str
    meal: str
    quantity: int
    price: str
    amount: str


class SaleOut(Schema):
    sale_id: int
    txn_id: str
    pupil_id: int
    sold_at: dt.datetime
    offline: bool
    total: str
    free_meal: str
    charged: str
    balance: str
    shortfall: str
    items: list[SaleLineOut]
    warnings: list[dict[str, Any]]


def _answer(sold: pos.Sold) -> HttpResponse:
    response = HttpResponse(sold.body, content_type="application/json")
    if sold.replayed:
        response["Idempotent-Replayed"] = "true"
    return response


@pos_router.post("/sales", response=SaleOut, summary="Sell (idempotent per txn_id)")
@terminal_api
def sell(request: HttpRequest, payload: SaleIn) -> HttpResponse:
    device = _terminal(request)
    sold = pos.sell(
        pupil=_pupil(device, payload.pupil_id),
        items=[pos.Asked(line.menu_item_id, line.quantity) for line in payload.items],
        txn_id=payload.txn_id,
        device=device,
    )
    return _answer(sold)


class VoidIn(Schema):
    reason: str = Field(..., min_length=1, max_length=300)


class VoidOut(Schema):
    sale_id: int
    status: str
    voided_at: dt.datetime | None


# ``path:``: a till's transaction id is any printable text, "/" included ("K1/000481").
@pos_router.post("/sales/{path:txn_id}/void", response=VoidOut, summary="Void a whole sale")
@terminal_api
def void(request: HttpRequest, txn_id: str, payload: VoidIn) -> dict[str, Any]:
    device = _terminal(request)
    row = pos.void(sale=_sale(device, txn_id), reason=payload.reason, by=None, device=device)
    return {"sale_id": row.pk, "status": row.status, "voided_at": row.voided_at}


class RefundIn(Schema):
    refund_id: str = Field(..., min_length=1, max_length=64)
    amount: str = Field(..., examples=["150.00"])
    reason: str = Field(..., min_length=1, max_length=300)


class RefundOut(Schema):
    sale_id: int
    refunded: str
    transaction_id: int


@pos_router.post("/sales/{path:txn_id}/refund", response=RefundOut, summary="Refund part of a sale")
@terminal_api
def refund(request: HttpRequest, txn_id: str, payload: RefundIn) -> dict[str, Any]:
    device = _terminal(request)
    try:
        amount = parse_amount(payload.amount)
    except BadAmount as exc:
        raise ServiceError(
            "invalid_amount",
            _("The amount must be positive, in tenge with at most 2 decimal places."),
            status=422,
            reason=exc.reason,
        ) from exc
    sale = _sale(device, txn_id)
    booked = pos.refund(
        sale=sale,
        amount=amount,
        reason=payload.reason,
        refund_id=payload.refund_id,
        by=None,
        device=device,
    )
    return {"sale_id": sale.pk, "refunded": plain(booked.amount), "transaction_id": booked.pk}


class MenuItemOut(Schema):
    menu_item_id: int
    dish_id: int
    category_id: int
    meal: str
    name: dict[str, str]
    price: str
    allergens: list[str]


class SyncOut(Schema):
    server_time: dt.datetime
    date: dt.date
    offline_limit: str
    menu: list[MenuItemOut]
    pupils: list[dict[str, Any]]


@pos_router.get(
    "/sync", response=SyncOut, summary="Today's menu and each pupil's offline allowance"
)
@terminal_api
def sync(request: HttpRequest) -> JsonResponse:
    """What a terminal needs to keep selling if its connection drops: today's menu, and
    per pupil the card UIDs, allergens, bans, free meals left and the offline allowance.
    Fetch it at the start of each meal and every few minutes."""
    device = _terminal(request)
    day = menu.local_today()
    items = [
        {
            "menu_item_id": item.pk,
            "dish_id": item.dish_id,
            "category_id": item.dish.category_id,
            "meal": item.menu.meal,
            "name": {"kk": item.dish.name_kk, "ru": item.dish.name_ru, "en": item.dish.name_en},
            "price": plain(item.price),
            "allergens": list(item.dish.allergens),
        }
        for item in menu.items_of_day(device.school_id, day)
    ]
    answer = {
        "server_time": timezone.now(),
        "date": day,
        "offline_limit": plain(Decimal(settings_of(device.school_id).offline_limit)),
        "menu": items,
        "pupils": pos.offline_allowances(device.school, day=day),
    }
    return JsonResponse(answer, encoder=DjangoJSONEncoder)


class OfflineSaleIn(Schema):
    txn_id: str = Field(..., min_length=1, max_length=64)
    pupil_id: int = Field(..., ge=1)
    items: list[LineIn] = Field(..., min_length=1, max_length=pos.MAX_LINES)
    sold_at: dt.datetime


class OfflineIn(Schema):
    sales: list[OfflineSaleIn] = Field(..., min_length=1, max_length=MAX_OFFLINE_BATCH)


class OfflineResult(Schema):
    txn_id: str
    status: Literal["booked", "replayed", "error"]
    sale: dict[str, Any] | None = None
    error: dict[str, Any] | None = None


class OfflineOut(Schema):
    booked: int
    replayed: int
    errors: int
    results: list[OfflineResult]


@pos_router.post("/offline-sales", response=OfflineOut, summary="Upload sales made offline")
@terminal_api
def offline_sales(request: HttpRequest, payload: OfflineIn) -> JsonResponse:
    """Each sale is booked once by its txn_id, at the time it was sold, in its own
    transaction; a re-sent batch answers ``replayed`` for those already booked. A sale is
    refused only when it cannot be booked at all (unknown pupil or item, a time in the
    future): keep it on the terminal and show it to the canteen's manager."""
    device = _terminal(request)
    results: list[dict[str, Any]] = []
    counts = {"booked": 0, "replayed": 0, "error": 0}
    for entry in payload.sales:
        sold_at = entry.sold_at
        if timezone.is_naive(sold_at):
            sold_at = timezone.make_aware(sold_at, menu.zone())
        try:
            sold = pos.sell(
                pupil=_pupil(device, entry.pupil_id),
                items=[pos.Asked(line.menu_item_id, line.quantity) for line in entry.items],
                txn_id=entry.txn_id,
                device=device,
                sold_at=sold_at,
                offline=True,
            )
        except ServiceError as exc:
            counts["error"] += 1
            results.append(
                {
                    "txn_id": entry.txn_id,
                    "status": "error",
                    "error": {"code": exc.code, "message": str(exc.message), **exc.extra},
                }
            )
            continue
        status = "replayed" if sold.replayed else "booked"
        counts[status] += 1
        results.append({"txn_id": entry.txn_id, "status": status, "sale": sold.answer})
    answer = {
        "booked": counts["booked"],
        "replayed": counts["replayed"],
        "errors": counts["error"],
        "results": results,
    }
    return JsonResponse(answer, encoder=DjangoJSONEncoder)


router = Router()
router.add_router("", wallet_router)
router.add_router("", pos_router)
