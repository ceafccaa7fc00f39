"""The cashier's page: a touch screen at the till.

The cashier (or a USB card reader, which types the card's number and Enter like a
keyboard) fills in the one search box: a card UID, a QR pass's text or a personal
account number; a face terminal's match is entered as "face". The page then shows the
pupil's photo, name, class, balance, today's free meal and the parents' rules, and
today's menu as big buttons (a child whose data are blocked: marked, without photo, and
named only as the reports name them to this user) — dishes the child must not have are
shown but cannot be added, and the server refuses them anyway. Each page carries a
fresh transaction id, so a double tap on "Sell" sells once.

The last sales are listed with a void (the whole sale) and a partial refund (part of
what the wallet paid: a dish given back), each with a reason, for today's sales only;
each refund form carries its own key, so a form sent twice refunds once. A cashier
(``canteen.sell``) voids and refunds only their own sales; the canteen's manager
(``canteen.manage``) any of the school's.
"""

from __future__ import annotations

import re
import uuid
from decimal import Decimal
from typing import Any

from django.contrib import messages
from django.db.models import QuerySet
from django.http import FileResponse, Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_POST

from kezekshi.accounts.decorators import staff_view
from kezekshi.accounts.models import User
from kezekshi.accounts.permissions import has_perm
from kezekshi.accounts.roles import Perm
from kezekshi.canteen import controls as family
from kezekshi.canteen import menu, pos, reports, selectors
from kezekshi.canteen.models import Allergen, Sale
from kezekshi.canteen.money import BadAmount, parse_amount, tenge
from kezekshi.core.errors import ServiceError
from kezekshi.people.models import Pupil
from kezekshi.portal.pages import school_of, school_page
from kezekshi.privacy import audit
from kezekshi.privacy.blocking import sees_blocked

# The key of a refund form: a UUID made with the page, as hex.
_REFUND_ID = re.compile(r"[0-9a-f]{32}")


def _kinds() -> list[tuple[str, str]]:
    return [
        ("card", _("Card")),
        ("qr", _("QR code")),
        ("account", _("Personal account")),
        ("face", _("Face terminal")),
    ]


def _render(
    request: HttpRequest,
    *,
    pupil: Pupil | None = None,
    error: ServiceError | None = None,
    find: str = "",
    kind: str = "card",
    wanted: dict[int, int] | None = None,
) -> HttpResponse:
    school = school_of(request)
    context: dict[str, Any] = {
        "kinds": _kinds(),
        "kind": kind,
        "find": find,
        "error": error,
        "recent": _recent(request),
        "allergen_names": dict(Allergen.choices),
    }
    if pupil is not None:
        seen = pos.at_till(pupil)
        context["shown"] = seen.shown(show_blocked=sees_blocked(_user(request), school))
        rows = []
        for item in menu.items_of_day(school.pk, menu.local_today()):
            why = family.refusal(seen.controls, [item.dish])
            rows.append(
                {
                    "item": item,
                    "why": why[0] if why is not None else "",
                    "count": (wanted or {}).get(item.pk),
                }
            )
        context.update(
            {
                "seen": seen,
                "rows": rows,
                "txn_id": uuid.uuid4().hex,
                "max_quantity": pos.MAX_QUANTITY,
                "pupil_allergens": [
                    str(Allergen(code).label)
                    for code in (seen.controls.allergens if seen.controls else [])
                ],
            }
        )
    status = error.status if error is not None else 200
    return school_page(request, "canteen/till.html", context, status=status)


def _recent(request: HttpRequest) -> list[dict[str, Any]]:
    """The last sales made at the cashier page that the signed-in user may see — a
    cashier their own, the canteen's manager (``canteen.manage``) the school's —, each
    with what of it may still be refunded today and its own refund form's key (a form
    sent twice refunds once).

    A pupil whose data are blocked is named only to the safety roles, as in the reports
    (``reports.pupil_cells``); others see the sale without the name. A list that names
    pupils is a read of their data: written to the audit log.
    """
    school = school_of(request)
    sales = list(
        _sales_of(request)
        .select_related("pupil__person", "cashier", "charge")
        .order_by("-sold_at", "-pk")[:10]
    )
    show_blocked = sees_blocked(_user(request), school)
    left = selectors.refundable(sales)
    today = menu.local_today()
    rows, named = [], 0
    for sale in sales:
        person = sale.pupil.person
        if person.blocked_at is None:
            name = f"{person.first_name} {person.last_name[:1]}."
        else:
            name = reports.pupil_cells(sale.pupil, show_blocked)[1]
        named += person.blocked_at is None or show_blocked
        rows.append(
            {
                "sale": sale,
                "name": name,
                "today": menu.local_date(sale.sold_at) == today,
                "refundable": left[sale.pk],
                "refund_id": uuid.uuid4().hex,
            }
        )
    if named:
        audit.record_list(request=request, what="canteen_till_sales", shown=named)
    return rows


@staff_view(Perm.CANTEEN_SELL)
@require_GET
def till(request: HttpRequest) -> HttpResponse:
    """The till: the search box, and once a pupil is found, their card and the menu."""
    find = request.GET.get("find", "").strip()
    kind = request.GET.get("kind", "card")
    if kind not in pos.IDENTIFY_KINDS:
        kind = "card"
    if not find:
        return _render(request, kind=kind)
    school = school_of(request)
    try:
        pupil = pos.identify(school_id=school.pk, kind=kind, value=find)
    except ServiceError as exc:
        return _render(request, error=exc, kind=kind)
    # The cashier sees the child's card: a read of personal data, like any card.
    audit.record(
        action=audit.Action.VIEW,
        actor=request.user,  # type: ignore[arg-type]
        school=school,
        person=pupil.person,
        target=f"canteen:till:{pupil.pk}",
        details={"identified_by": kind},
        request=request,
    )
    return _render(request, pupil=pupil, kind=kind)


def _wanted(request: HttpRequest) -> dict[int, int]:
    """``qty_<menu item id>`` fields of the sale form → quantities above zero."""
    found = {}
    for name in request.POST:
        if not name.startswith("qty_"):
            continue
        item_id, count = name[4:], request.POST.get(name, "").strip()
        if item_id.isdecimal() and count.isdecimal() and 0 < int(count) <= pos.MAX_QUANTITY:
            found[int(item_id)] = int(count)
    return found


@staff_view(Perm.CANTEEN_SELL)
@require_POST
def sell(request: HttpRequest) -> HttpResponse:
    school = school_of(request)
    pupil_id = request.POST.get("pupil", "")
    if not pupil_id.isdecimal():
        raise Http404
    pupil = get_object_or_404(
        Pupil.objects.select_related("person", "school_class", "school"),
        pk=int(pupil_id),
        school=school,
    )
    wanted = _wanted(request)
    try:
        sold = pos.sell(
            pupil=pupil,
            items=[pos.Asked(item_id, count) for item_id, count in wanted.items()],
            txn_id=request.POST.get("txn_id", ""),
            cashier=request.user,  # type: ignore[arg-type]
        )
    except ServiceError as exc:
        return _render(request, pupil=pupil, error=exc, wanted=wanted)
    sale = sold.sale
    name = reports.pupil_cells(pupil, sees_blocked(_user(request), school))[1]
    messages.success(
        request,
        _("Sold to %(name)s: %(total)s ₸ (free meal %(free)s ₸). Balance: %(balance)s ₸.")
        % {
            "name": name,
            "total": tenge(sale.total),
            "free": tenge(sale.free_amount),
            "balance": tenge(Decimal(sold.answer["balance"])),
        },
    )
    return redirect("canteen:till")


def _user(request: HttpRequest) -> User:
    return request.user  # type: ignore[return-value]


def _manages(request: HttpRequest) -> bool:
    """Whether the signed-in user manages the canteen (``canteen.manage``) here."""
    return has_perm(_user(request), Perm.CANTEEN_MANAGE, school_of(request))


def _sales_of(request: HttpRequest) -> QuerySet[Sale]:
    """The sales made at the cashier page that the signed-in user may see, void and
    refund: a cashier (``canteen.sell``) their own, the canteen's manager
    (``canteen.manage``) any of the school's. Only today's are changed (the views check
    the day)."""
    sales = Sale.objects.filter(school=school_of(request), external_id__startswith="web:")
    if not _manages(request):
        sales = sales.filter(cashier=_user(request))
    return sales


@staff_view(Perm.CANTEEN_SELL)
@require_POST
def void(request: HttpRequest, sale_id: int) -> HttpResponse:
    """Void one of today's sales made at the cashier page, with a reason: a cashier their
    own, the canteen's manager any (another's sale is 404, as another school's)."""
    sale = get_object_or_404(_sales_of(request), pk=sale_id)
    if menu.local_date(sale.sold_at) != menu.local_today():
        messages.error(request, _("Only today's sales can be voided at the till."))
        return redirect("canteen:till")
    try:
        pos.void(
            sale=sale,
            reason=request.POST.get("reason", ""),
            by=request.user,  # type: ignore[arg-type]
            request=request,
        )
    except ServiceError as exc:
        messages.error(request, str(exc.message))
    else:
        messages.success(request, _("The sale was voided and the money returned."))
    return redirect("canteen:till")


@staff_view(Perm.CANTEEN_SELL)
@require_POST
def refund(request: HttpRequest, sale_id: int) -> HttpResponse:
    """Give back part of what the wallet paid for one of today's sales made at the cashier
    page (a dish returned), with a reason. Who may, and which sales, as for a void. The
    form's key (``refund_id``, made with the page) makes a resent form a replay."""
    sale = get_object_or_404(_sales_of(request).select_related("pupil__person"), pk=sale_id)
    if menu.local_date(sale.sold_at) != menu.local_today():
        messages.error(request, _("Only today's sales can be refunded at the till."))
        return redirect("canteen:till")
    refund_id = request.POST.get("refund_id", "")
    if not _REFUND_ID.fullmatch(refund_id):
        messages.error(request, _("The form has expired. Open the page again."))
        return redirect("canteen:till")
    try:
        amount = parse_amount(request.POST.get("amount", "").strip().replace(",", "."))
    except BadAmount:
        messages.error(
            request, _("The amount must be positive, in tenge with at most 2 decimal places.")
        )
        return redirect("canteen:till")
    try:
        pos.refund(
            sale=sale,
            amount=amount,
            reason=request.POST.get("reason", ""),
            refund_id=refund_id,
            by=request.user,  # type: ignore[arg-type]
            request=request,
        )
    except ServiceError as exc:
        text = str(exc.message)
        if "refundable" in exc.extra:
            text += " " + _("At most %(amount)s ₸ can still be refunded.") % {
                "amount": tenge(Decimal(exc.extra["refundable"]))
            }
        messages.error(request, text)
    else:
        name = reports.pupil_cells(sale.pupil, sees_blocked(_user(request), school_of(request)))
        messages.success(
            request,
            _("%(amount)s ₸ returned to the balance of %(name)s.")
            % {"amount": tenge(amount), "name": name[1]},
        )
    return redirect("canteen:till")


@staff_view(Perm.CANTEEN_SELL)
@require_GET
def pupil_photo(request: HttpRequest, person_id: int) -> FileResponse:
    """The pupil's photo on the cashier's screen, to see the card is the child's own: only
    a pupil studying here now whose data are not blocked (``pos.photo_to_show``); anyone
    else is 404. Showing it is a read of the child's data, audited as the look-up is."""
    school = school_of(request)
    pupil = pos.photo_to_show(school_id=school.pk, person_id=person_id)
    if pupil is None:
        raise Http404
    audit.record(
        action=audit.Action.VIEW,
        actor=request.user,  # type: ignore[arg-type]
        school=school,
        person=pupil.person,
        target=f"canteen:photo:{pupil.pk}",
        request=request,
    )
    response = FileResponse(pupil.person.photo.open("rb"), content_type="image/jpeg")
    response["Cache-Control"] = "private, max-age=300"
    return response
