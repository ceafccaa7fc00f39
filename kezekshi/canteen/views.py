"""Staff pages of the canteen's money: the providers' reconciliations for the school's
accountant and administrator, the wallets in debt (a card refund of money already
spent, or an overdraft lowered below the debt), and the top-ups booked when they arrived
because the provider's own time could not be used.

Each school sees only its own mismatches: a provider's register covers every school,
and its lines carry the school of the account they name.
"""

from __future__ import annotations

from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404

from kezekshi.accounts.decorators import staff_view
from kezekshi.accounts.roles import Perm
from kezekshi.canteen import reports, selectors
from kezekshi.canteen.models import Reconciliation
from kezekshi.portal.pages import school_of, school_page
from kezekshi.privacy import audit
from kezekshi.privacy.blocking import sees_blocked


@staff_view(Perm.CANTEEN_REPORTS)
def reconciliations(request: HttpRequest) -> HttpResponse:
    school = school_of(request)
    page = Paginator(selectors.reconciliations_for(school), 50).get_page(request.GET.get("page"))
    shows_blocked = sees_blocked(request.user, school)  # type: ignore[arg-type]
    in_debt = [
        (wallet, *reports.pupil_cells(wallet.pupil, shows_blocked))
        for wallet in selectors.wallets_in_debt(school)[:200]
    ]
    if in_debt:
        # Names of pupils are shown: a read of personal data like any list of names.
        audit.record_list(request=request, what="canteen_wallets_in_debt", shown=len(in_debt))
    at_arrival = list(selectors.topups_booked_at_arrival(school)[:200])
    return school_page(
        request,
        "canteen/reconciliations.html",
        {"page": page, "in_debt": in_debt, "at_arrival": at_arrival},
    )


@staff_view(Perm.CANTEEN_REPORTS)
def reconciliation(request: HttpRequest, reconciliation_id: int) -> HttpResponse:
    school = school_of(request)
    found = get_object_or_404(
        Reconciliation.objects.select_related("provider"), pk=reconciliation_id
    )
    lines = selectors.mismatches_of(found, school)
    return school_page(
        request, "canteen/reconciliation.html", {"reconciliation": found, "lines": lines}
    )
