"""The parents' app: a child's canteen menu (today and the week, with photos, prices and
allergens, dishes with the child's allergens marked), meal ratings, and the parents'
controls (daily limit, allergies, banned dishes and categories, low-balance alert).

Only the signed-in guardian's own children; a blocked child is shown only to the legal
representatives; the controls are for legal representatives alone.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

from django import forms
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from kezekshi.accounts.decorators import public_view
from kezekshi.canteen import controls as family
from kezekshi.canteen import menu, ratings
from kezekshi.canteen.models import Allergen, Dish, DishCategory, MealRating
from kezekshi.canteen.selectors import wallet_of
from kezekshi.core.errors import ServiceError
from kezekshi.parents.lookups import openable_child, represented_child, signed_in_user


@public_view
@login_required(login_url="parents:home")
@require_GET
def child_menu(request: HttpRequest, pupil_id: int) -> HttpResponse:
    """This week's published menus (``?week=next`` for the next one), each dish with its
    photo, price and allergens; the child's allergens and the parents' bans are marked."""
    child = openable_child(request, pupil_id)
    today = menu.local_today()
    start = today + dt.timedelta(days=7) if request.GET.get("week") == "next" else today
    days = menu.menu_days(child.school_id, menu.week_of(start), published_only=True)
    rules = family.controls_of(child)
    allergic = set(rules.allergens)
    mine = {
        (rating.dish_id, rating.date, rating.by_child): rating
        for rating in MealRating.objects.filter(
            school_id=child.school_id,
            pupil=child,
            author=signed_in_user(request),
            date__gte=days[0].date,
        )
    }
    labels = dict(Allergen.choices)
    shown = []
    for day in days:
        meals = []
        for daily, items in day.meals:
            rows = []
            for item in items:
                dish = item.dish
                rows.append(
                    {
                        "item": item,
                        "allergens": [str(labels[code]) for code in dish.allergens],
                        "danger": [
                            str(labels[code]) for code in dish.allergens if code in allergic
                        ],
                        "banned": dish.pk in rules.banned_dishes
                        or dish.category_id in rules.banned_categories,
                        "rated": mine.get((dish.pk, day.date, False)),
                        "rated_by_child": mine.get((dish.pk, day.date, True)),
                        "may_rate": day.date <= today and today - day.date <= ratings.RATE_WITHIN,
                    }
                )
            meals.append({"menu": daily, "rows": rows})
        shown.append({"date": day.date, "meals": meals, "today": day.date == today})
    return render(
        request,
        "parents/canteen/menu.html",
        {
            "child": child,
            "days": shown,
            "next_week": request.GET.get("week") == "next",
            "child_allergens": [str(labels[code]) for code in rules.allergens],
            "scores": range(1, 6),
        },
    )


@public_view
@login_required(login_url="parents:home")
@require_POST
def rate(request: HttpRequest, pupil_id: int) -> HttpResponse:
    """One mark for one dish of one day: the parent's own, or the child's (``by_child``)."""
    child = openable_child(request, pupil_id)
    back = reverse("parents:child_menu", args=[child.pk])
    try:
        dish = get_object_or_404(
            Dish, pk=int(request.POST.get("dish", "0") or 0), school_id=child.school_id
        )
        date = dt.date.fromisoformat(request.POST.get("date", ""))
        score = int(request.POST.get("score", "0") or 0)
    except ValueError:
        messages.error(request, _("Choose a mark from 1 to 5."))
        return redirect(back)
    try:
        ratings.rate_meal(
            pupil=child,
            dish=dish,
            date=date,
            score=score,
            comment=request.POST.get("comment", ""),
            by=signed_in_user(request),
            by_child=request.POST.get("by_child") == "1",
        )
    except ServiceError as exc:
        messages.error(request, str(exc.message))
    else:
        messages.success(request, _("Thank you: the canteen sees your mark."))
    return redirect(back)


class ControlsForm(forms.Form):
    daily_limit = forms.DecimalField(
        label=gettext_lazy("Daily spending limit, ₸"),
        help_text=gettext_lazy("Leave empty for no limit. Free meals do not count."),
        required=False,
        min_value=Decimal(0),
        max_digits=12,
        decimal_places=2,
    )
    low_balance_threshold = forms.DecimalField(
        label=gettext_lazy("Tell me when the balance falls below, ₸"),
        help_text=gettext_lazy("Leave empty for no alert. You are told once each time."),
        required=False,
        min_value=Decimal(0),
        max_digits=12,
        decimal_places=2,
    )
    allergens = forms.MultipleChoiceField(
        label=gettext_lazy("The child is allergic to"),
        help_text=gettext_lazy("Dishes with these are never sold to the child."),
        choices=Allergen.choices,
        required=False,
        widget=forms.CheckboxSelectMultiple,
    )
    banned_categories = forms.MultipleChoiceField(
        label=gettext_lazy("Do not sell these kinds of food"),
        required=False,
        widget=forms.CheckboxSelectMultiple,
    )
    banned_dishes = forms.MultipleChoiceField(
        label=gettext_lazy("Do not sell these dishes"),
        required=False,
        widget=forms.CheckboxSelectMultiple,
    )

    def __init__(self, *args: Any, school_id: int, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["banned_categories"].choices = [  # type: ignore[attr-defined]
            (row.pk, row.name) for row in DishCategory.objects.filter(school_id=school_id)
        ]
        self.fields["banned_dishes"].choices = [  # type: ignore[attr-defined]
            (row.pk, row.name) for row in Dish.objects.filter(school_id=school_id, is_active=True)
        ]


@public_view
@login_required(login_url="parents:home")
@require_http_methods(["GET", "POST"])
def child_canteen(request: HttpRequest, pupil_id: int) -> HttpResponse:
    """The balance and the parents' controls of one child (legal representatives)."""
    child = represented_child(request, pupil_id, studying=True)
    rules = family.controls_of(child)
    initial = {
        "daily_limit": rules.daily_limit,
        "low_balance_threshold": rules.low_balance_threshold,
        "allergens": rules.allergens,
        "banned_categories": [str(pk) for pk in rules.banned_categories],
        "banned_dishes": [str(pk) for pk in rules.banned_dishes],
    }
    form = ControlsForm(request.POST or None, initial=initial, school_id=child.school_id)
    status = 200
    if request.method == "POST":
        if form.is_valid():
            data = form.cleaned_data
            try:
                family.set_controls(
                    pupil=child,
                    by=signed_in_user(request),
                    daily_limit=data["daily_limit"],
                    low_balance_threshold=data["low_balance_threshold"],
                    allergens=data["allergens"],
                    banned_categories=[int(pk) for pk in data["banned_categories"]],
                    banned_dishes=[int(pk) for pk in data["banned_dishes"]],
                    request=request,
                )
            except ServiceError as exc:
                form.add_error(None, str(exc.message))
                status = exc.status
            else:
                messages.success(request, _("Saved: the canteen's till follows it from now on."))
                return redirect("parents:child_canteen", pupil_id=child.pk)
        else:
            status = 422
    wallet = wallet_of(child)
    return render(
        request,
        "parents/canteen/controls.html",
        {"child": child, "form": form, "wallet": wallet},
        status=status,
    )
