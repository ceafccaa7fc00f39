"""The till: find the pupil, sell from the day's menu, void and refund, and the offline
allowances a POS terminal takes with it when its connection drops.

Used by the cashier page (``pos_views``) and the POS terminal API (``api``). The rules
of a sale, checked in this order with the pupil's wallet locked:

1. every item is on the menu of the sale's day (``unknown_item``);
2. no item contains one of the child's allergens (``allergen``) — nothing overrides this;
3. no item is banned by the parents, by itself or by its category (``banned_item``);
4. what the wallet pays today stays within the parents' daily limit (``daily_limit``,
   with ``left``), days counted in Asia/Almaty;
5. the wallet holds it, with the school's overdraft (``insufficient_funds``, with
   ``available``).

Free meals come first: for each meal of the sale that the pupil is entitled to and has
not had today, the free-meal fund pays up to the school's cost of that meal; the rest
(extras) is an ordinary purchase from the wallet. The daily limit counts only the wallet's
part.

Idempotency: each sale carries the till's transaction id; the ``Sale`` row is inserted
first, so a retry — or the same id sent twice at once — finds the original and gets its
answer back unchanged, and nothing is charged twice.

Offline sales (a terminal that lost its connection sold within each pupil's offline
allowance, ``sync``) are booked once each at the time they were sold. The food has been
eaten, so they are not refused for the parents' rules or for money: a rule the server
now sees broken (the parents changed it after the terminal's last sync) is reported in
``warnings``, and what the wallet cannot cover is booked as its debt (``shortfall``):
purchases stop until a top-up covers it. See docs/canteen-pos.md.
"""

from __future__ import annotations

import datetime as dt
import json
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import Sum
from django.http import HttpRequest
from django.urls import reverse
from django.utils import timezone
from django.utils.formats import time_format
from django.utils.translation import get_language
from django.utils.translation import gettext as _

from kezekshi.access import decisions
from kezekshi.access.models import Credential, Device
from kezekshi.accounts.models import User
from kezekshi.canteen import controls as family
from kezekshi.canteen import free_meals, lock_objects, reports, services
from kezekshi.canteen.menu import day_range, local_date, local_today, zone
from kezekshi.canteen.models import (
    ZERO,
    FreeMeal,
    LedgerTransaction,
    MenuItem,
    PupilControls,
    Sale,
    SaleLine,
    SystemAccount,
    Wallet,
)
from kezekshi.canteen.money import CENT, plain, tenge
from kezekshi.core.errors import Forbidden, NotFound, ServiceError
from kezekshi.core.models import School
from kezekshi.people.models import Pupil
from kezekshi.privacy import audit
from kezekshi.privacy.services import biometric_state

Kind = LedgerTransaction.Kind
MAX_LINES = 30
MAX_QUANTITY = 20
# A terminal's clock may run a little ahead of ours; a sale further in the future is wrong.
FUTURE_TOLERANCE = dt.timedelta(minutes=5)
IDENTIFY_KINDS = ("card", "qr", "account", "face")


@dataclass(frozen=True)
class Asked:
    """One line of a sale as the till asks for it: an item of the day's menu, how many."""

    menu_item_id: int
    quantity: int = 1


@dataclass(frozen=True)
class Sold:
    sale: Sale
    replayed: bool

    @property
    def answer(self) -> dict[str, Any]:
        return json.loads(self.sale.answer)  # type: ignore[no-any-return]

    @property
    def body(self) -> bytes:
        """The answer as the till got it the first time, byte for byte."""
        return self.sale.answer.encode()


def till_key(*, device: Device | None) -> str:
    """The prefix of a till's transaction ids: ``d<id>`` for a terminal, ``web`` for the
    cashier page (whose ids are random UUIDs made with the page)."""
    return f"d{device.pk}" if device is not None else "web"


def _external_id(till: str, txn_id: str) -> str:
    text = (txn_id or "").strip()
    if not text or len(text) > 64 or not text.isprintable():
        raise ServiceError(
            "invalid_txn_id",
            _("Every sale needs the till's transaction id (1–64 characters)."),
            status=422,
        )
    return f"{till}:{text}"


# --- finding the pupil -------------------------------------------------------------------


def identify(*, school_id: int, kind: str, value: str) -> Pupil:
    """The pupil presenting a card, a QR pass, a personal account number, or matched by a
    face terminal (``value`` is then the terminal's template reference).

    A face is used only when the school turned paying by face on
    (``CANTEEN_FACE_IDENTIFICATION``) and the child's biometric consent holds now; it is
    never processed otherwise (``face_identification_off``, ``biometric_consent_missing``,
    403; a child whose data are blocked is never identified by face). Raises
    ``unknown_credential`` / ``unknown_account`` (404), ``credential_blocked`` (403),
    ``not_a_pupil`` (404), ``not_studying`` (422).

    A child whose data are blocked is found by card, QR or account all the same: the
    child must eat (docs/privacy.md, "Canteen"); the till shows them with the minimum
    (``AtTill.shown``).
    """
    text = (value or "").strip()
    if kind == "account":
        # The whole number: a longer one (a digit too many) is nobody's, not the pupil
        # whose account it starts with.
        pupil = find_pupil(school_id=school_id, account_number=text)
        if pupil is None:
            raise NotFound("unknown_account", _("No pupil has this personal account."))
    elif kind in ("card", "qr", "face"):
        if kind == "face" and not settings.CANTEEN_FACE_IDENTIFICATION:
            raise Forbidden(
                "face_identification_off",
                _("Paying by face is not switched on in this school. Use the card."),
            )
        pupil = _pupil_by_credential(school_id=school_id, kind=kind, value=text)
        if kind == "face" and not biometric_state(pupil.person, Credential.Kind.FACE).allowed:
            raise Forbidden(
                "biometric_consent_missing",
                _("There is no valid consent to use this child's face. Use the card."),
            )
    else:
        raise ServiceError(
            "invalid_identifier", _("Identify by card, QR, account or face."), status=422
        )
    check_may_buy(pupil)
    return pupil


def find_pupil(**lookup: Any) -> Pupil | None:
    """The pupil with what a sale reads of them in one query: person (the IIN left
    deferred: a sale never reads it, and decrypting it costs more than the query),
    class, school, wallet and the parents' controls."""
    rows = (
        Pupil.objects.select_related(
            "person", "school_class", "school", "wallet", "canteen_controls"
        )
        .only(*_PUPIL_FIELDS)
        .filter(**lookup)
        .order_by()[:1]
    )
    return next(iter(rows), None)


# What the till reads of a pupil (``find_pupil``): the rest of the school and the person
# (the IIN above all, whose decryption costs more than the query) is never loaded.
_PUPIL_FIELDS = (
    "school_id", "school_class_id", "account_number", "is_active", "left_on",
    "person__school_id", "person__last_name", "person__first_name", "person__patronymic",
    "person__photo", "person__blocked_at",
    "school_class__grade", "school_class__letter",
    "school__ownership", "school__is_active",
    *(f"wallet__{f.name}" for f in Wallet._meta.concrete_fields),
    *(f"canteen_controls__{f.name}" for f in PupilControls._meta.concrete_fields),
)  # fmt: skip


def _pupil_by_credential(*, school_id: int, kind: str, value: str) -> Pupil:
    now = timezone.now()
    try:
        credential = decisions.find_credential(school_id=school_id, kind=kind, value=value, at=now)
    except decisions.Unrecognised as exc:
        if exc.reason in ("invalid_credential", "qr_invalid", "qr_expired"):
            raise ServiceError(
                exc.reason, decisions.message(exc.reason, _lang()), status=422
            ) from exc
        raise NotFound("unknown_credential", _("This card is not known here.")) from exc
    usable = credential.status == Credential.Status.ACTIVE and not (
        (credential.valid_from and now < credential.valid_from)
        or (credential.valid_until and now > credential.valid_until)
    )
    if not usable:
        raise Forbidden("credential_blocked", _("This card is blocked."))
    pupil = find_pupil(school_id=school_id, person_id=credential.person_id)
    if pupil is None:
        raise NotFound("not_a_pupil", _("This card does not belong to a pupil."))
    return pupil


def photo_to_show(*, school_id: int, **lookup: Any) -> Pupil | None:
    """The pupil (found by ``lookup``: ``pk`` or ``person_id``) whose photo a till may show,
    so that whoever sells sees the card is the child's own; None for anyone else.

    Only a pupil of this school who studies here now, whose data are not blocked (the
    canteen shows a blocked child without a photo), with a photo on file: not a pupil who
    left, not another school's, not a guardian or staff member.

    The photo needs no consent of its own: the consent ledger has none for photos (its
    kinds are processing and the biometric ones), and a photo a person looks at is
    ``photo`` data, not biometric (``privacy.datamap``: the till's use ``canteen.pos``
    lists it, as the guard's ``access.doors`` does). The guard's screen shows the photo on
    file by the same rule (``portal.photo_views``), with no check of ``biometric_state``,
    which is about matching templates.
    """
    return (
        Pupil.objects.select_related("person")
        .filter(school_id=school_id, is_active=True, person__blocked_at__isnull=True, **lookup)
        .exclude(person__photo="")
        .order_by()
        .first()
    )


def _lang() -> str:
    return (get_language() or "kk")[:2]


def check_may_buy(pupil: Pupil) -> None:
    """Only a pupil who studies here now buys (``not_studying``, 422). Blocking does not
    stop it: sales and free meals go on for a child whose data are blocked."""
    if not pupil.is_active:
        raise ServiceError("not_studying", _("The pupil no longer studies here."), status=422)


@dataclass(frozen=True)
class Shown:
    """How a pupil is named on a till's screen."""

    name: str
    school_class: str
    account: str


@dataclass
class AtTill:
    """What the cashier (or the terminal) sees of a pupil before selling."""

    pupil: Pupil
    balance: Decimal
    available: Decimal  # balance and overdraft: what the wallet may spend now
    spent_today: Decimal
    limit_left: Decimal | None
    controls: PupilControls | None
    free_basis: str | None
    free_meals_left: list[str] = field(default_factory=list)  # meals still free today
    offline_allowance: Decimal = ZERO

    @property
    def blocked(self) -> bool:
        """The child's data are blocked: sold to as usual, shown with the minimum."""
        return self.pupil.person.blocked_at is not None

    @property
    def photo_url(self) -> str | None:
        """The cashier's page's link to the photo (a staff session opens it); none for a
        child whose data are blocked."""
        if not self.pupil.person.photo or self.blocked:
            return None
        return reverse("canteen:pupil_photo", args=[self.pupil.person_id])

    def shown(self, *, show_blocked: bool) -> Shown:
        """Name, class and personal account as the one looking may see them. A child whose
        data are blocked is named as the reports name them (``reports.pupil_cells``:
        named and marked only to ``show_blocked``, the safety roles, never with the
        account), with the class only to the safety roles."""
        account, name = reports.pupil_cells(self.pupil, show_blocked)
        if self.blocked and not show_blocked:
            return Shown(name=name, school_class="", account=account)
        return Shown(name=name, school_class=str(self.pupil.school_class or ""), account=account)

    def as_json(self, *, photo_url: Callable[[Pupil], str]) -> dict[str, Any]:
        """The terminal's answer; ``photo_url`` makes the link a terminal can open. A
        terminal is no safety role: a child whose data are blocked comes without name,
        account, class or photo, marked ``blocked``."""
        pupil, controls = self.pupil, self.controls
        shown = self.shown(show_blocked=False)
        return {
            "pupil_id": pupil.pk,
            "blocked": self.blocked,
            "account": shown.account,
            "name": shown.name,
            "school_class": shown.school_class,
            "photo_url": photo_url(pupil) if self.photo_url else None,
            "balance": plain(self.balance),
            "available": plain(self.available),
            "spent_today": plain(self.spent_today),
            "daily_limit_left": plain(self.limit_left) if self.limit_left is not None else None,
            "allergens": list(controls.allergens) if controls else [],
            "banned_dishes": list(controls.banned_dishes) if controls else [],
            "banned_categories": list(controls.banned_categories) if controls else [],
            "free_meal_basis": self.free_basis,
            "free_meals_left": self.free_meals_left,
            "offline_allowance": plain(self.offline_allowance),
        }


def at_till(pupil: Pupil, *, day: dt.date | None = None) -> AtTill:
    """The pupil's balance, today's spending, limits and free meals, for the till."""
    day = day or local_today()
    wallet = Wallet.objects.filter(school_id=pupil.school_id, pupil=pupil).first()
    balance = Decimal(wallet.balance) if wallet else ZERO
    overdraft = Decimal(wallet.overdraft_limit) if wallet else ZERO
    controls = PupilControls.objects.filter(school_id=pupil.school_id, pupil=pupil).first()
    spent = spent_on(pupil, day)
    left = family.limit_left(controls, spent)
    basis = free_meals.basis_on(pupil, day)
    meals_left: list[str] = []
    if basis:
        rules = free_meals.settings_of(pupil.school_id)
        had = set(
            FreeMeal.objects.filter(
                school_id=pupil.school_id, pupil=pupil, date=day, voided_at__isnull=True
            ).values_list("meal", flat=True)
        )
        meals_left = [meal for meal in free_meals.subsidised_meals(rules) if meal not in had]
    available = max(ZERO, balance + overdraft).quantize(CENT)
    offline_limit = Decimal(free_meals.settings_of(pupil.school_id).offline_limit)
    allowance = min(available, offline_limit, left if left is not None else offline_limit)
    return AtTill(
        pupil=pupil,
        balance=balance,
        available=available,
        spent_today=spent,
        limit_left=left,
        controls=controls,
        free_basis=basis,
        free_meals_left=meals_left,
        offline_allowance=allowance,
    )


def spent_on(pupil: Pupil, day: dt.date) -> Decimal:
    """What the wallet paid for the pupil's sales of ``day`` (voided sales not counted)."""
    total = Sale.objects.filter(
        school_id=pupil.school_id,
        pupil=pupil,
        status=Sale.Status.SOLD,
        sold_at__gte=day_range(day)[0],
        sold_at__lt=day_range(day)[1],
    ).aggregate(total=Sum("wallet_amount"))["total"]
    return Decimal(total or ZERO).quantize(CENT)


# --- selling -----------------------------------------------------------------------------


def sell(
    *,
    pupil: Pupil,
    items: Sequence[Asked],
    txn_id: str,
    device: Device | None = None,
    cashier: User | None = None,
    sold_at: dt.datetime | None = None,
    offline: bool = False,
) -> Sold:
    """Sell ``items`` of the menu of the sale's day to ``pupil``; one transaction.

    Idempotent per till and ``txn_id``: a replay returns the first sale and its answer
    (the same id for another pupil or other items: ``external_id_reused``, 409).
    Refusals (nothing is written): ``invalid_items``, ``unknown_item`` (422),
    ``allergen``, ``banned_item``, ``daily_limit`` (with ``left``),
    ``insufficient_funds`` (with ``available``) (409), ``sold_in_future`` (422).
    ``offline`` sales are never refused for rules or money (see the module's notes).
    """
    external_id = _external_id(till_key(device=device), txn_id)
    _check_items(items)
    found = _sold(pupil.school_id, external_id)
    if found is not None:
        return _replay(found, pupil, items)
    now = timezone.now()
    at = sold_at or now
    if at > now + FUTURE_TOLERANCE:
        raise ServiceError(
            "sold_in_future", _("The sale's time is in the future: check the till's clock.")
        )
    check_may_buy(pupil)
    day = local_date(at)
    lines = _menu_lines(pupil.school_id, day, items)
    ready = _prepare(pupil, lines, day, offline=offline)
    try:
        with transaction.atomic():
            return _book_sale(
                pupil=pupil,
                lines=lines,
                ready=ready,
                external_id=external_id,
                device=device,
                cashier=cashier,
                at=at,
                day=day,
                offline=offline,
            )
    except IntegrityError:
        # The same id sent twice at once: the other one committed first.
        found = _sold(pupil.school_id, external_id)
        if found is None:
            raise
        return _replay(found, pupil, items)


def _sold(school_id: int, external_id: str) -> Sale | None:
    return next(
        iter(Sale.objects.filter(school_id=school_id, external_id=external_id).order_by()[:1]),
        None,
    )


def _check_items(items: Sequence[Asked]) -> None:
    valid = (
        0 < len(items) <= MAX_LINES
        and len({item.menu_item_id for item in items}) == len(items)
        and all(1 <= item.quantity <= MAX_QUANTITY for item in items)
    )
    if not valid:
        raise ServiceError(
            "invalid_items",
            _("A sale has 1 to %(lines)d different items, 1 to %(each)d of each.")
            % {"lines": MAX_LINES, "each": MAX_QUANTITY},
            status=422,
        )


def _menu_lines(school_id: int, day: dt.date, items: Sequence[Asked]) -> list[tuple[MenuItem, int]]:
    menu = {
        item.pk: item
        for item in MenuItem.objects.filter(
            school_id=school_id, menu__date=day, pk__in=[asked.menu_item_id for asked in items]
        )
        .select_related("menu", "dish")
        .order_by()
    }
    missing = [asked.menu_item_id for asked in items if asked.menu_item_id not in menu]
    if missing:
        raise ServiceError(
            "unknown_item",
            _("Not on the menu of that day: %(items)s.") % {"items": missing},
            status=422,
            items=missing,
        )
    return [(menu[asked.menu_item_id], asked.quantity) for asked in items]


def _replay(found: Sale, pupil: Pupil, items: Sequence[Asked]) -> Sold:
    asked = sorted((item.menu_item_id, item.quantity) for item in items)
    sold = sorted(
        (line["menu_item_id"], line["quantity"])
        for line in json.loads(found.answer or "{}").get("items", [])
    )
    if found.pupil_id != pupil.pk or asked != sold:
        raise ServiceError(
            "external_id_reused",
            _("This transaction id was used before for another sale."),
            status=409,
        )
    return Sold(found, replayed=True)


@dataclass
class _Prepared:
    """What a sale reads before its transaction, so that the transaction (on SQLite: the
    database's one write lock) holds only the writes and the reads that must see them:
    the wallet's balance, today's spending and today's free meals."""

    wallet: Wallet
    controls: PupilControls | None
    warnings: list[dict[str, Any]]
    basis: str | None
    rules: Any  # CanteenSettings, read only for a pupil entitled to free meals
    accounts: dict[str, SystemAccount]
    recipients: list[services.Recipient]


def _prepare(
    pupil: Pupil, lines: list[tuple[MenuItem, int]], day: dt.date, *, offline: bool
) -> _Prepared:
    """The reads of a sale, and the refusals that need no lock: allergens and bans (the
    parents' rules as they are now; an offline sale records a warning instead)."""
    school_id = pupil.school_id
    controls = _loaded(pupil, "canteen_controls")
    if controls is None:
        controls = PupilControls.objects.filter(school_id=school_id, pupil=pupil).first()
    warnings: list[dict[str, Any]] = []
    refused = family.refusal(controls, [item.dish for item, _count in lines])
    if refused is not None:
        code, message, dish_ids = refused
        if not offline:
            raise ServiceError(code, message, status=409, dishes=dish_ids)
        warnings.append({"code": code, "message": message, "dishes": dish_ids})
    basis = free_meals.basis_on(pupil, day)
    wallet = _loaded(pupil, "wallet") or services.wallet_for(pupil=pupil)
    return _Prepared(
        wallet=wallet,
        controls=controls,
        warnings=warnings,
        basis=basis,
        rules=free_meals.cached_settings(school_id) if basis else None,
        accounts=system_accounts(school_id),
        recipients=services.guardians_to_tell(pupil_id=pupil.pk),
    )


def _loaded(pupil: Pupil, relation: str) -> Any:
    """A one-to-one relation ``find_pupil`` loaded (None when the row does not exist)."""
    try:
        return getattr(pupil, relation)
    except (Wallet.DoesNotExist, PupilControls.DoesNotExist):
        return None


# The school's revenue and free-meal fund accounts: made once, never changed or deleted.
_accounts: dict[int, dict[str, SystemAccount]] = {}


def system_accounts(school_id: int) -> dict[str, SystemAccount]:
    """The school's revenue and free-meal fund accounts (kept in this process)."""
    found = _accounts.get(school_id)
    if found is None:
        kinds = [SystemAccount.Kind.REVENUE, SystemAccount.Kind.FREE_MEAL_FUND]
        found = {kind: services.system_account(school_id=school_id, kind=kind) for kind in kinds}
        _accounts[school_id] = found
    return found


def forget_caches() -> None:
    """Drop this process's cached rows (tests hand out row ids again after a rollback)."""
    _accounts.clear()
    free_meals.forget_settings()


def _book_sale(
    *,
    pupil: Pupil,
    lines: list[tuple[MenuItem, int]],
    ready: _Prepared,
    external_id: str,
    device: Device | None,
    cashier: User | None,
    at: dt.datetime,
    day: dt.date,
    offline: bool,
) -> Sold:
    school_id = pupil.school_id
    # The idempotency key first (a duplicate fails here), then the wallet (lock order).
    sale = Sale.objects.create(
        school_id=school_id,
        pupil=pupil,
        external_id=external_id,
        device=device,
        cashier=cashier,
        sold_at=at,
        offline=offline,
    )
    wallet = lock_objects.wallet_for_update(ready.wallet.pk)
    controls, warnings = ready.controls, ready.warnings

    total = sum((item.price * count for item, count in lines), ZERO)
    free_parts = _free_parts(pupil, lines, day, ready)
    free_amount = sum(free_parts.values(), ZERO)
    wallet_amount = total - free_amount
    if wallet_amount > 0 and controls is not None and controls.daily_limit is not None:
        left = family.limit_left(controls, spent_on(pupil, day))
        assert left is not None
        if wallet_amount > left:
            if not offline:
                raise ServiceError(
                    "daily_limit",
                    _("This would pass the daily limit the parents set: %(left)s ₸ left today.")
                    % {"left": tenge(left)},
                    status=409,
                    left=plain(left),
                )
            warnings.append({"code": "daily_limit", "left": plain(left)})
    if offline and wallet_amount > 0:
        # The till should have kept to the pupil's offline allowance; past the school's
        # offline limit the manager is told (the food is eaten: it is booked all the same).
        limit = Decimal(free_meals.cached_settings(school_id).offline_limit)
        offline_spent = (
            Sale.objects.filter(
                school_id=school_id,
                pupil=pupil,
                offline=True,
                status=Sale.Status.SOLD,
                sold_at__gte=day_range(day)[0],
                sold_at__lt=day_range(day)[1],
            )
            .exclude(pk=sale.pk)
            .aggregate(total=Sum("wallet_amount"))["total"]
            or ZERO
        ) + wallet_amount
        if offline_spent > limit:
            warnings.append(
                {"code": "offline_limit", "limit": plain(limit), "spent": plain(offline_spent)}
            )

    description = ", ".join(f"{item.dish.name_kk} ×{count}" for item, count in lines)[:300]
    revenue = ready.accounts[SystemAccount.Kind.REVENUE]
    before = Decimal(wallet.balance)
    charge, shortfall = None, ZERO
    if wallet_amount > 0:
        if offline:
            floor = -Decimal(wallet.overdraft_limit)
            shortfall = min(wallet_amount, max(ZERO, floor - (before - wallet_amount)))
        charge = services._book(
            school_id=school_id,
            kind=Kind.SALE,
            external_id=external_id,
            amount=wallet_amount,
            legs=[(wallet, -wallet_amount), (revenue, wallet_amount)],
            booked_at=at,
            guarded=[] if offline else [wallet],
            description=description,
            created_by=cashier,
            shortfall=shortfall,
        )
    free_booked = None
    if free_amount > 0:
        fund = services.system_account(school_id=school_id, kind=SystemAccount.Kind.FREE_MEAL_FUND)
        free_booked = services._book(
            school_id=school_id,
            kind=Kind.FREE_MEAL,
            external_id=external_id,
            amount=free_amount,
            legs=[(fund, -free_amount), (revenue, free_amount)],
            booked_at=at,
            description=description,
            created_by=cashier,
        )
        basis = ready.basis or ""
        FreeMeal.objects.bulk_create(
            FreeMeal(
                school_id=school_id,
                pupil=pupil,
                date=day,
                meal=meal,
                cost=part,
                served_at=at,
                sale=sale,
                basis=basis,
            )
            for meal, part in free_parts.items()
        )
    SaleLine.objects.bulk_create(
        SaleLine(
            school_id=school_id,
            sale=sale,
            dish=item.dish,
            meal=item.menu.meal,
            quantity=count,
            unit_price=item.price,
            amount=item.price * count,
        )
        for item, count in lines
    )
    after = before - wallet_amount
    sale.total, sale.free_amount, sale.wallet_amount = total, free_amount, wallet_amount
    sale.shortfall, sale.charge, sale.free_meal = shortfall, charge, free_booked
    answer = {
        "sale_id": sale.pk,
        "txn_id": external_id.split(":", 1)[1],
        "pupil_id": pupil.pk,
        "sold_at": at.isoformat(),
        "offline": offline,
        "total": plain(total),
        "free_meal": plain(free_amount),
        "charged": plain(wallet_amount),
        "balance": plain(after),
        "shortfall": plain(shortfall),
        "items": [
            {
                "menu_item_id": item.pk,
                "dish_id": item.dish_id,
                "name": item.dish.name,
                "meal": item.menu.meal,
                "quantity": count,
                "price": plain(item.price),
                "amount": plain(item.price * count),
            }
            for item, count in lines
        ],
        "warnings": warnings,
    }
    sale.answer = json.dumps(answer, ensure_ascii=False, separators=(",", ":"))
    sale.save(
        update_fields=[
            "total", "free_amount", "wallet_amount", "shortfall", "charge", "free_meal", "answer",
        ]
    )  # fmt: skip
    if wallet_amount > 0:
        family.after_debit(
            pupil=pupil,
            controls=controls,
            before=before,
            after=after,
            cause=str(sale.pk),
            at=at,
            recipients=ready.recipients,
        )
    _tell_purchase(pupil=pupil, sale=sale, lines=lines, balance=after, to=ready.recipients)
    return Sold(sale, replayed=False)


def _free_parts(
    pupil: Pupil, lines: list[tuple[MenuItem, int]], day: dt.date, ready: _Prepared
) -> dict[str, Decimal]:
    """What the free-meal fund pays, per meal of the sale: up to the school's cost of a
    free meal of that kind, once per pupil, meal and day. Run with the wallet locked:
    every writer of free meals holds it, so two tills cannot both give today's lunch."""
    if ready.basis is None:
        return {}
    per_meal: dict[str, Decimal] = defaultdict(lambda: ZERO)
    for item, count in lines:
        if ready.rules.free_meal_cost(item.menu.meal) > 0:
            per_meal[item.menu.meal] += item.price * count
    if not per_meal:
        return {}
    had = set(
        FreeMeal.objects.filter(
            school_id=pupil.school_id,
            pupil=pupil,
            date=day,
            meal__in=list(per_meal),
            voided_at__isnull=True,
        )
        .order_by()
        .values_list("meal", flat=True)
    )
    return {
        meal: min(amount, ready.rules.free_meal_cost(meal))
        for meal, amount in per_meal.items()
        if meal not in had
    }


def _tell_purchase(
    *,
    pupil: Pupil,
    sale: Sale,
    lines: list[tuple[MenuItem, int]],
    balance: Decimal,
    to: list[services.Recipient],
) -> None:
    """Each guardian who may be told gets the items, the amount, the time and the balance."""

    def compose(name: str) -> str:
        values = {
            "name": name,
            "time": time_format(timezone.localtime(sale.sold_at, zone()), "H:i"),
            "date": timezone.localtime(sale.sold_at, zone()).strftime("%d.%m"),
            "items": ", ".join(f"{item.dish.name} ×{count}" for item, count in lines),
            "total": tenge(sale.total),
            "balance": tenge(balance),
            "free": tenge(sale.free_amount),
            "paid": tenge(sale.wallet_amount),
        }
        if sale.free_amount and sale.wallet_amount:
            text = _(
                "%(name)s bought at the canteen on %(date)s at %(time)s: %(items)s — "
                "%(total)s ₸ (free meal %(free)s ₸, from the balance %(paid)s ₸). "
                "Balance: %(balance)s ₸."
            )
        elif sale.free_amount:
            text = _("%(name)s had a free meal on %(date)s at %(time)s: %(items)s (%(free)s ₸).")
        else:
            text = _(
                "%(name)s bought at the canteen on %(date)s at %(time)s: %(items)s — "
                "%(total)s ₸. Balance: %(balance)s ₸."
            )
        return text % values

    family.tell(pupil=pupil, key=f"canteen-sale:{sale.pk}", compose=compose, recipients=to)


# --- voids and refunds -------------------------------------------------------------------


def void(
    *,
    sale: Sale,
    reason: str,
    by: User | None,
    device: Device | None = None,
    request: HttpRequest | None = None,
) -> Sale:
    """Cancel a whole sale: the wallet gets its part back, the free-meal fund its part, and
    the pupil may have today's free meal again. Needs a reason (``reason_required``);
    written to the audit log with the till; a second void of a voided sale changes
    nothing. A terminal voids only its own sales (``not_found``); a sale refunded in part
    is not voided (``partly_refunded``, 409: refund the rest).
    """
    why = services._reason(reason)
    if device is not None and sale.device_id != device.pk:
        raise NotFound("not_found", _("Not found."))
    with transaction.atomic():
        row = Sale.objects.select_for_update().select_related("pupil__person").get(pk=sale.pk)
        if row.status == Sale.Status.VOIDED:
            return row
        if row.charge_id is not None:
            if LedgerTransaction.objects.filter(reverses_id=row.charge_id).exists():
                raise ServiceError(
                    "partly_refunded",
                    _("Part of this sale was refunded already: refund the rest instead of "
                      "voiding it."),
                    status=409,
                )  # fmt: skip
            services.void_sale(
                sale=LedgerTransaction.objects.get(pk=row.charge_id),
                reason=why,
                by=by,
                request=request,
            )
        if row.free_meal_id is not None:
            _void_free_meal(row, why, by)
        row.status, row.voided_at, row.void_reason = Sale.Status.VOIDED, timezone.now(), why
        row.save(update_fields=["status", "voided_at", "void_reason"])
        audit.record(
            action=audit.Action.CHANGE,
            actor=by,
            school=School.objects.get(pk=row.school_id),
            person=row.pupil.person,
            target=f"canteen:sale:{row.pk}",
            details={
                "void": why,
                "total": plain(row.total),
                "till": row.external_id,
                "device": device.pk if device is not None else None,
            },
            request=request,
        )
    return row


def _void_free_meal(sale: Sale, reason: str, by: User | None) -> None:
    assert sale.free_meal_id is not None
    original = LedgerTransaction.objects.get(pk=sale.free_meal_id)
    fund = services.system_account(school_id=sale.school_id, kind=SystemAccount.Kind.FREE_MEAL_FUND)
    revenue = services.system_account(school_id=sale.school_id, kind=SystemAccount.Kind.REVENUE)
    services._book(
        school_id=sale.school_id,
        kind=Kind.FREE_MEAL_VOID,
        external_id=f"void:{original.pk}",
        amount=original.amount,
        legs=[(fund, original.amount), (revenue, -original.amount)],
        reverses=original,
        description=original.description,
        reason=reason,
        created_by=by,
    )
    FreeMeal.objects.filter(sale=sale, voided_at__isnull=True).update(voided_at=timezone.now())


def refund(
    *,
    sale: Sale,
    amount: Decimal,
    reason: str,
    refund_id: str,
    by: User | None,
    device: Device | None = None,
    request: HttpRequest | None = None,
) -> LedgerTransaction:
    """Give back part of what the wallet paid for a sale (a dish returned). The free-meal
    part is never refunded to the wallet. Idempotent per till and ``refund_id``; needs a
    reason; audited (the ledger's entry, and one for the sale naming the till and the
    device, as a void's). Raises ``nothing_to_refund`` (the wallet paid nothing),
    ``refund_exceeds_payment`` (409)."""
    if device is not None and sale.device_id != device.pk:
        raise NotFound("not_found", _("Not found."))
    if sale.charge_id is None or sale.status != Sale.Status.SOLD:
        raise ServiceError(
            "nothing_to_refund", _("Nothing of this sale was paid from the balance."), status=409
        )
    external_id = _external_id(till_key(device=device), refund_id)
    with transaction.atomic():
        booked = services.refund_sale(
            sale=LedgerTransaction.objects.get(pk=sale.charge_id),
            amount=amount,
            reason=reason,
            by=by,
            external_id=external_id,
            request=request,
        )
        if not booked.replayed:
            audit.record(
                action=audit.Action.CHANGE,
                actor=by,
                school=School.objects.get(pk=sale.school_id),
                person=Pupil.objects.select_related("person").get(pk=sale.pupil_id).person,
                target=f"canteen:sale:{sale.pk}",
                details={
                    "refund": booked.transaction.reason,
                    "amount": plain(booked.transaction.amount),
                    "refund_id": external_id.split(":", 1)[1],
                    "till": sale.external_id,
                    "device": device.pk if device is not None else None,
                    "transaction": booked.transaction.pk,
                },
                request=request,
            )
    return booked.transaction


# --- offline terminals -------------------------------------------------------------------


def offline_allowances(school: School, *, day: dt.date | None = None) -> list[dict[str, Any]]:
    """Per active pupil: what a terminal that loses its connection may sell them today
    (the least of the school's offline limit, the wallet's balance with overdraft, and
    what the daily limit leaves), their card UIDs, allergens, bans and free meals left.
    Pupils whose data are blocked are included (the child must eat; no names are
    carried), marked ``blocked`` so the terminal shows them with the minimum.

    A handful of queries for the whole school, whatever its size.
    """
    day = day or local_today()
    rules = free_meals.settings_of(school.pk)
    offline_limit = Decimal(rules.offline_limit)
    subsidised = free_meals.subsidised_meals(rules)
    pupils = list(
        Pupil.objects.filter(school=school, is_active=True)
        .values_list("pk", "person_id", "account_number", "person__blocked_at")
        .order_by("pk")
    )
    wallets = {
        pupil_id: Decimal(balance) + Decimal(overdraft)
        for pupil_id, balance, overdraft in Wallet.objects.filter(school=school).values_list(
            "pupil_id", "balance", "overdraft_limit"
        )
    }
    controls = {row.pupil_id: row for row in PupilControls.objects.filter(school=school)}
    start, end = day_range(day)
    spent = {
        pupil_id: Decimal(total or ZERO)
        for pupil_id, total in Sale.objects.filter(
            school=school, status=Sale.Status.SOLD, sold_at__gte=start, sold_at__lt=end
        )
        .order_by()
        .values("pupil_id")
        .annotate(total=Sum("wallet_amount"))
        .values_list("pupil_id", "total")
    }
    cards: dict[int, list[str]] = defaultdict(list)
    now = timezone.now()
    for person_id, value, valid_from, valid_until in Credential.objects.filter(
        school=school, kind=Credential.Kind.CARD, status=Credential.Status.ACTIVE
    ).values_list("person_id", "value", "valid_from", "valid_until"):
        # As the till checks a card: only one valid now (the sync is fetched again often).
        valid = (valid_from is None or valid_from <= now) and (
            valid_until is None or valid_until > now
        )
        if person_id is not None and valid:
            cards[person_id].append(value)
    entitled = free_meals.entitled_ids(school, day) if subsidised else {}
    had: dict[int, set[str]] = defaultdict(set)
    for pupil_id, meal in FreeMeal.objects.filter(
        school=school, date=day, voided_at__isnull=True
    ).values_list("pupil_id", "meal"):
        had[pupil_id].add(meal)
    found = []
    for pupil_id, person_id, account, blocked_at in pupils:
        row = controls.get(pupil_id)
        available = max(ZERO, wallets.get(pupil_id, ZERO))
        allowance = min(available, offline_limit)
        left = family.limit_left(row, spent.get(pupil_id, ZERO))
        if left is not None:
            allowance = min(allowance, left)
        found.append(
            {
                "pupil_id": pupil_id,
                "blocked": blocked_at is not None,
                "account": account,
                "cards": cards.get(person_id, []),
                "allowance": plain(allowance.quantize(CENT)),
                "allergens": list(row.allergens) if row else [],
                "banned_dishes": list(row.banned_dishes) if row else [],
                "banned_categories": list(row.banned_categories) if row else [],
                "free_meals_left": [m for m in subsidised if m not in had[pupil_id]]
                if pupil_id in entitled
                else [],
            }
        )
    return found
