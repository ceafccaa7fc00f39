"""The parents' app: a child's canteen wallet — the balance, the latest movements, how to
top it up (the personal account number), and moving money to a sibling.

Only the signed-in guardian's own children (``guardians_child``); a child whose data are
blocked is shown only to the legal representatives. The balance refreshes itself every
few seconds, so a top-up made at a Kaspi terminal shows up while the page is open.
"""

from __future__ import annotations

import secrets

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET, require_POST

from kezekshi.accounts.decorators import public_view
from kezekshi.canteen import selectors, services
from kezekshi.canteen.models import ZERO
from kezekshi.canteen.money import BadAmount, parse_amount, tenge
from kezekshi.core.errors import ServiceError
from kezekshi.parents.lookups import openable_child, represents, signed_in_user
from kezekshi.people.models import Pupil

REFRESH_SECONDS = 15
SHOWN = 30


def _siblings(request: HttpRequest, child: Pupil) -> list[Pupil]:
    """The other children of the same school whose money the user may move to (legal
    representative of both)."""
    if not represents(request, child):
        return []
    return list(
        Pupil.objects.filter(
            school_id=child.school_id,
            is_active=True,
            guardianships__guardian__person__user=signed_in_user(request),
            guardianships__is_legal_representative=True,
        )
        .exclude(pk=child.pk)
        .select_related("person")
        .distinct()
        .order_by("person__first_name")
    )


def _live(child: Pupil) -> dict[str, object]:
    wallet = selectors.wallet_of(child)
    return {
        "child": child,
        "wallet": wallet,
        # Below the floor the school allows (not merely below zero): purchases stop.
        "below_floor": wallet is not None and selectors.is_below_floor(wallet),
        "balance": wallet.balance if wallet is not None else ZERO,
        "movements": list(selectors.movements(wallet, limit=SHOWN)) if wallet is not None else [],
        "time_zone": settings.SCHOOL_TIME_ZONE,
    }


@public_view
@login_required(login_url="parents:home")
@never_cache
@require_GET
def child_wallet(request: HttpRequest, pupil_id: int) -> HttpResponse:
    child = openable_child(request, pupil_id)
    context = {
        **_live(child),
        "siblings": _siblings(request, child),
        "transfer_key": secrets.token_hex(16),
        "refresh_seconds": REFRESH_SECONDS,
    }
    return render(request, "parents/wallet.html", context)


@public_view
@login_required(login_url="parents:home")
@never_cache
@require_GET
def child_wallet_live(request: HttpRequest, pupil_id: int) -> HttpResponse:
    """The balance and the movements alone, for the wallet page to swap in."""
    return render(request, "parents/wallet_live.html", _live(openable_child(request, pupil_id)))


@public_view
@login_required(login_url="parents:home")
@require_POST
def child_wallet_transfer(request: HttpRequest, pupil_id: int) -> HttpResponse:
    """Move money from this child's wallet to a sibling's. The form's key makes a second
    press of the button (or a resent form) a replay, not a second transfer."""
    child = openable_child(request, pupil_id)
    back = redirect("parents:child_wallet", pupil_id=child.pk)
    target = next(
        (s for s in _siblings(request, child) if str(s.pk) == request.POST.get("to", "")), None
    )
    if target is None:
        messages.error(request, _("Choose which of your children gets the money."))
        return back
    try:
        amount = parse_amount(request.POST.get("amount", "").strip().replace(",", "."))
    except BadAmount:
        messages.error(request, _("Enter an amount in tenge, for example 500 or 500.50."))
        return back
    key = request.POST.get("key", "")
    if not key or len(key) > 64 or not key.isalnum():
        messages.error(request, _("The form has expired. Open the page again."))
        return back
    try:
        services.transfer_between_siblings(
            source=services.wallet_for(pupil=child),
            target=services.wallet_for(pupil=target),
            amount=amount,
            by=signed_in_user(request),
            external_id=f"parent:{signed_in_user(request).pk}:{key}",
        )
    except ServiceError as exc:
        messages.error(request, str(exc.message))
        return back
    messages.success(
        request,
        _("%(amount)s ₸ moved to %(name)s.")
        % {"amount": tenge(amount), "name": target.person.first_name},
    )
    return back
