"""The parents' side of pick-up: a legal representative names the adults who may collect
their child, and revokes them."""

from __future__ import annotations

from django import forms
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_http_methods, require_POST

from kezekshi.access import pickups
from kezekshi.access.models import TrustedAdult
from kezekshi.accounts.decorators import public_view
from kezekshi.core.errors import ServiceError
from kezekshi.core.validators import normalize_phone
from kezekshi.parents.lookups import represented_child, signed_in_user


class TrustedAdultForm(forms.Form):
    full_name = forms.CharField(label=gettext_lazy("Full name"), max_length=300)
    phone = forms.CharField(label=gettext_lazy("Phone"), max_length=30)
    relation = forms.CharField(
        label=gettext_lazy("Who they are"),
        max_length=100,
        help_text=gettext_lazy("For example: grandmother, neighbour, nanny."),
    )

    def clean_phone(self) -> str:
        return normalize_phone(self.cleaned_data["phone"])


@public_view
@login_required(login_url="parents:home")
@require_http_methods(["GET", "POST"])
def trusted_adults(request: HttpRequest, pupil_id: int) -> HttpResponse:
    """The child's trusted adults, and the form to name another."""
    pupil = represented_child(request, pupil_id, studying=True)
    form = TrustedAdultForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            pickups.add_trusted_adult(
                pupil=pupil,
                full_name=data["full_name"],
                phone=data["phone"],
                relation=data["relation"],
                by=signed_in_user(request),
            )
        except (ServiceError, ValidationError) as exc:
            form.add_error(None, str(getattr(exc, "message", exc)))
        else:
            messages.success(
                request, _("%(name)s may now collect the child.") % {"name": data["full_name"]}
            )
            return redirect("parents:pickup_adults", pupil_id=pupil.pk)
    context = {"pupil": pupil, "adults": pickups.trusted_adults_of(pupil), "form": form}
    status = 422 if request.method == "POST" else 200
    return render(request, "parents/pickup/adults.html", context, status=status)


@public_view
@login_required(login_url="parents:home")
@require_POST
def revoke(request: HttpRequest, pupil_id: int, adult_id: int) -> HttpResponse:
    pupil = represented_child(request, pupil_id, studying=True)
    adult = get_object_or_404(TrustedAdult, pk=adult_id, pupil=pupil)
    pickups.revoke_trusted_adult(adult=adult, by=signed_in_user(request))
    messages.success(
        request, _("%(name)s may no longer collect the child.") % {"name": adult.full_name}
    )
    return redirect("parents:pickup_adults", pupil_id=pupil.pk)
