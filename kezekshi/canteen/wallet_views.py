"""The school's pupils' canteen wallets, for whoever manages the canteen (the school
administrator): the list with balances, overdrafts and debts, and one pupil's statement
with the form that sets how far below zero the school lets the wallet go.

A wallet page is the pupil's (``/canteen/wallets/<pupil id>/``): every pupil has one
wallet, made on first use, so the overdraft can be set before the first top-up. Only
this school's pupils. The list and each statement name pupils, so each view of them is
written to the audit log; a pupil whose data are blocked is named only to the safety
roles, and their statement is not shown nor their overdraft changed while blocked.
"""

from __future__ import annotations

from decimal import Decimal

from django import forms
from django.contrib import messages
from django.core.paginator import Paginator
from django.db import transaction
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_GET, require_http_methods

from kezekshi.accounts.decorators import staff_view
from kezekshi.accounts.models import User
from kezekshi.accounts.roles import Perm
from kezekshi.canteen import selectors, services
from kezekshi.canteen.models import ZERO, Entry, Wallet
from kezekshi.canteen.money import CENT, tenge
from kezekshi.core.errors import ServiceError
from kezekshi.people.models import Pupil, SchoolClass
from kezekshi.portal.inputs import parse_id, refuse_on_form
from kezekshi.portal.pages import school_of, school_page
from kezekshi.privacy import audit
from kezekshi.privacy.blocking import sees_blocked, visible_to

PER_PAGE = 50
# Which field of the overdraft form each refusal of ``services.set_overdraft`` belongs to.
_FIELD_OF = {"invalid_overdraft": "limit", "reason_required": "reason"}


class OverdraftForm(forms.Form):
    """The shape of the input only; the range and the reason are the service's to refuse."""

    limit = forms.DecimalField(
        label=gettext_lazy("Overdraft allowed, ₸ (0: none)"),
        max_digits=12,
        decimal_places=2,
        widget=forms.NumberInput(
            attrs={"min": "0", "max": f"{services.MAX_OVERDRAFT:f}", "step": "0.01"}
        ),
    )
    reason = forms.CharField(
        label=gettext_lazy("Reason"),
        max_length=300,
        required=False,
        widget=forms.TextInput(attrs={"required": True}),
    )


def _user(request: HttpRequest) -> User:
    return request.user  # type: ignore[return-value]


@staff_view(Perm.CANTEEN_MANAGE)
@require_GET
def wallets(request: HttpRequest) -> HttpResponse:
    """Every pupil's balance, overdraft and debt; by class, or found by name or account."""
    school = school_of(request)
    chosen = None
    raw_class = request.GET.get("class", "")
    if raw_class:
        class_id = parse_id(raw_class)
        if class_id is None:
            raise Http404
        chosen = get_object_or_404(SchoolClass, pk=class_id, school=school)
    search = " ".join(request.GET.get("q", "").split())[:100]
    found = visible_to(
        selectors.wallets_of(school, school_class=chosen, search=search),
        user=_user(request),
        school=school,
    )
    page = Paginator(found, PER_PAGE).get_page(request.GET.get("page"))
    if len(page):
        # Names of pupils with their money: a read of personal data, like any list of names.
        audit.record_list(
            request=request,
            what="canteen_wallets",
            shown=len(page),
            page=page.number,
            class_id=chosen.pk if chosen else None,
            search=search,
        )
    return school_page(
        request,
        "canteen/wallets.html",
        {
            "page": page,
            "rows": selectors.wallet_rows(page),
            "classes": SchoolClass.objects.filter(school=school).order_by("grade", "letter"),
            "chosen": chosen,
            "q": search,
        },
    )


@staff_view(Perm.CANTEEN_MANAGE)
@require_http_methods(["GET", "POST"])
def wallet(request: HttpRequest, pupil_id: int) -> HttpResponse:
    """One pupil's wallet: the statement, newest first, and the overdraft form."""
    school = school_of(request)
    pupil = get_object_or_404(
        Pupil.objects.select_related("person", "school_class"), pk=pupil_id, school=school
    )
    blocked = pupil.person.blocked_at is not None
    if blocked and not sees_blocked(_user(request), school):
        raise Http404
    found = selectors.wallet_of(pupil)
    form = OverdraftForm(
        request.POST or None,
        initial={"limit": found.overdraft_limit if found is not None else ZERO},
    )
    status = 200
    if request.method == "POST":
        if blocked:
            status = 403  # the page says why: blocked data are not processed
        elif not form.is_valid():
            status = 422
        else:
            try:
                # The wallet of a pupil who never bought or topped up is made here; a
                # refusal takes it back with the rest.
                with transaction.atomic():
                    found = services.set_overdraft(
                        wallet=found or services.wallet_for(pupil=pupil),
                        limit=form.cleaned_data["limit"].quantize(CENT),
                        by=_user(request),
                        reason=form.cleaned_data["reason"],
                        request=request,
                    )
            except ServiceError as exc:
                status = refuse_on_form(form, exc, field=_FIELD_OF.get(exc.code))
            else:
                _tell_overdraft(request, found)
                return redirect("canteen:wallet", pupil_id=pupil.pk)
    lines: list[tuple[Entry, Decimal]] = []
    page = None
    if found is not None and not blocked:
        page = Paginator(selectors.statement(found), PER_PAGE).get_page(request.GET.get("page"))
        lines = selectors.with_balances(found, list(page))
    # The pupil's money, movement by movement: a read of their data, like their card.
    audit.record(
        action=audit.Action.VIEW,
        actor=_user(request),
        school=school,
        person=pupil.person,
        target=request.path,
        details={
            "list": "canteen_wallet_statement",
            "page": page.number if page is not None else 1,
            "shown": len(lines),
        },
        request=request,
    )
    return school_page(
        request,
        "canteen/wallet.html",
        {
            "pupil": pupil,
            "wallet": found,
            "blocked": blocked,
            "balance": found.balance if found is not None else ZERO,
            "below_floor": found is not None and selectors.is_below_floor(found),
            "page": page,
            "lines": lines,
            "form": form,
            "largest": tenge(services.MAX_OVERDRAFT),
        },
        status=status,
    )


def _tell_overdraft(request: HttpRequest, wallet: Wallet) -> None:
    limit = wallet.overdraft_limit
    if limit:
        messages.success(
            request, _("The overdraft is set to %(limit)s ₸.") % {"limit": tenge(limit)}
        )
    else:
        messages.success(request, _("The overdraft is removed."))
    if selectors.is_below_floor(wallet):
        messages.warning(
            request,
            _("The balance is below the new floor: purchases stop until a top-up covers it."),
        )
