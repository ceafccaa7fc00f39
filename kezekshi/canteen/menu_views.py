"""The canteen staff's pages for the food: dishes and categories, the daily menus of the
week (made, copied, published to parents), and what parents and pupils rate."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

from django import forms
from django.contrib import messages
from django.db.models import Avg, Count
from django.http import FileResponse, Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect
from django.urls import reverse
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from kezekshi.accounts.decorators import public_view, staff_view
from kezekshi.accounts.roles import Perm
from kezekshi.canteen import menu
from kezekshi.canteen.models import Allergen, DailyMenu, Dish, DishCategory, MealRating
from kezekshi.core.errors import ServiceError
from kezekshi.portal.pages import school_of, school_page


class DishForm(forms.Form):
    name_kk = forms.CharField(label=gettext_lazy("Name (Kazakh)"), max_length=200)
    name_ru = forms.CharField(label=gettext_lazy("Name (Russian)"), max_length=200)
    name_en = forms.CharField(label=gettext_lazy("Name (English)"), max_length=200, required=False)
    category = forms.ModelChoiceField(
        label=gettext_lazy("Category"), queryset=DishCategory.objects.none()
    )
    price = forms.DecimalField(
        label=gettext_lazy("Price, ₸"), min_value=Decimal("0.01"), max_digits=12, decimal_places=2
    )
    allergens = forms.MultipleChoiceField(
        label=gettext_lazy("Allergens"),
        choices=Allergen.choices,
        required=False,
        widget=forms.CheckboxSelectMultiple,
    )
    photo = forms.ImageField(label=gettext_lazy("Photo"), required=False)
    is_active = forms.BooleanField(label=gettext_lazy("On sale"), required=False, initial=True)

    def __init__(self, *args: Any, school_id: int, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["category"].queryset = DishCategory.objects.filter(school_id=school_id)  # type: ignore[attr-defined]


class CategoryForm(forms.Form):
    name_kk = forms.CharField(label=gettext_lazy("Name (Kazakh)"), max_length=200)
    name_ru = forms.CharField(label=gettext_lazy("Name (Russian)"), max_length=200)
    name_en = forms.CharField(label=gettext_lazy("Name (English)"), max_length=200, required=False)
    position = forms.IntegerField(label=gettext_lazy("Order"), min_value=0, initial=0)


@staff_view(Perm.CANTEEN_MENU)
@require_http_methods(["GET", "POST"])
def dishes(request: HttpRequest) -> HttpResponse:
    """Every dish of the school, and the form for a new one."""
    school = school_of(request)
    form = DishForm(request.POST or None, request.FILES or None, school_id=school.pk)
    status = 200
    if request.method == "POST":
        if form.is_valid():
            try:
                _save(form, school=school)
            except ServiceError as exc:
                form.add_error(None, str(exc.message))
                status = exc.status
            else:
                messages.success(request, _("The dish was saved."))
                return redirect("canteen:dishes")
        else:
            status = 422
    return school_page(
        request,
        "canteen/dishes.html",
        {
            "form": form,
            "category_form": CategoryForm(),
            "dishes": Dish.objects.filter(school=school).select_related("category"),
            "categories": DishCategory.objects.filter(school=school),
        },
        status=status,
    )


def _save(form: DishForm, *, school: Any, dish: Dish | None = None) -> Dish:
    data = form.cleaned_data
    return menu.save_dish(
        school=school,
        category=data["category"],
        name_kk=data["name_kk"],
        name_ru=data["name_ru"],
        name_en=data["name_en"],
        price=data["price"],
        allergens=data["allergens"],
        is_active=data["is_active"],
        photo=data.get("photo") or None,
        dish=dish,
    )


@staff_view(Perm.CANTEEN_MENU)
@require_http_methods(["GET", "POST"])
def dish(request: HttpRequest, dish_id: int) -> HttpResponse:
    school = school_of(request)
    row = get_object_or_404(Dish, pk=dish_id, school=school)
    initial = {
        "name_kk": row.name_kk,
        "name_ru": row.name_ru,
        "name_en": row.name_en,
        "category": row.category_id,
        "price": row.price,
        "allergens": row.allergens,
        "is_active": row.is_active,
    }
    form = DishForm(
        request.POST or None, request.FILES or None, school_id=school.pk, initial=initial
    )
    status = 200
    if request.method == "POST":
        if form.is_valid():
            try:
                _save(form, school=school, dish=row)
            except ServiceError as exc:
                form.add_error(None, str(exc.message))
                status = exc.status
            else:
                messages.success(request, _("The dish was saved."))
                return redirect("canteen:dishes")
        else:
            status = 422
    return school_page(request, "canteen/dish.html", {"form": form, "dish": row}, status=status)


@staff_view(Perm.CANTEEN_MENU)
@require_POST
def add_category(request: HttpRequest) -> HttpResponse:
    form = CategoryForm(request.POST)
    if form.is_valid():
        try:
            menu.save_category(school=school_of(request), **form.cleaned_data)
        except ServiceError as exc:
            messages.error(request, str(exc.message))
        else:
            messages.success(request, _("The category was added."))
    else:
        messages.error(request, _("Give the category's name in Kazakh and in Russian."))
    return redirect("canteen:dishes")


def _date(raw: str | None) -> dt.date:
    try:
        return dt.date.fromisoformat(raw or "")
    except ValueError:
        return menu.local_today()


@staff_view(Perm.CANTEEN_MENU)
@require_GET
def week(request: HttpRequest) -> HttpResponse:
    """The menus of a week (Monday to Saturday), published or not."""
    school = school_of(request)
    day = _date(request.GET.get("date"))
    days = menu.week_of(day)
    return school_page(
        request,
        "canteen/week.html",
        {
            "days": menu.menu_days(school.pk, days, published_only=False),
            "previous": days[0] - dt.timedelta(days=7),
            "next": days[0] + dt.timedelta(days=7),
            "today": menu.local_today(),
        },
    )


@staff_view(Perm.CANTEEN_MENU)
@require_http_methods(["GET", "POST"])
def day(request: HttpRequest) -> HttpResponse:
    """One day's menus: for each meal, which dishes at what price, and published or not.

    The form sends ``<meal>_<dish id>`` (a checkbox), ``<meal>_price_<dish id>`` and
    ``<meal>_published``."""
    school = school_of(request)
    date = _date(request.POST.get("date") or request.GET.get("date"))
    active = list(Dish.objects.filter(school=school, is_active=True).select_related("category"))
    if request.method == "POST":
        if request.POST.get("copy_from"):
            menu.copy_day(school=school, source=_date(request.POST["copy_from"]), target=date)
            messages.success(request, _("The menu was copied; check it and publish."))
            return redirect(f"{reverse('canteen:menu_day')}?date={date.isoformat()}")
        try:
            for meal in menu.MEALS:
                items = []
                for row in active:
                    if request.POST.get(f"{meal}_{row.pk}"):
                        raw = request.POST.get(f"{meal}_price_{row.pk}", "").strip()
                        try:
                            price = Decimal(raw) if raw else None
                        except ArithmeticError:
                            price = Decimal("-1")
                        items.append((row, price))
                exists = DailyMenu.objects.filter(school=school, date=date, meal=meal).exists()
                if items or exists:
                    menu.set_menu(
                        school=school,
                        date=date,
                        meal=meal,
                        items=items,
                        publish=bool(request.POST.get(f"{meal}_published")),
                    )
        except ServiceError as exc:
            messages.error(request, str(exc.message))
        else:
            messages.success(request, _("The menu was saved."))
        return redirect(f"{reverse('canteen:menu_day')}?date={date.isoformat()}")
    current = {(item.menu.meal, item.dish_id): item for item in menu.items_of_day(school.pk, date)}
    published = {m.meal: m.is_published for m in DailyMenu.objects.filter(school=school, date=date)}
    meals = []
    for code, label in DailyMenu._meta.get_field("meal").choices:  # type: ignore[union-attr]
        rows = [
            {
                "dish": row,
                "on": (code, row.pk) in current,
                "price": current[(code, row.pk)].price if (code, row.pk) in current else row.price,
            }
            for row in active
        ]
        meals.append({"code": code, "label": label, "rows": rows, "published": published.get(code)})
    return school_page(
        request,
        "canteen/day.html",
        {"date": date, "meals": meals, "yesterday": date - dt.timedelta(days=1)},
    )


@staff_view(Perm.CANTEEN_MENU)
@require_GET
def ratings(request: HttpRequest) -> HttpResponse:
    """How parents and pupils rate each dish: the average of the last 30 days, and the
    latest comments (without names: the canteen needs the opinion, not who gave it)."""
    school = school_of(request)
    since = menu.local_today() - dt.timedelta(days=30)
    averages = list(
        MealRating.objects.filter(school=school, date__gte=since)
        .values("dish_id")
        .annotate(average=Avg("score"), count=Count("id"))
        .order_by("average")
    )
    named = Dish.objects.in_bulk([row["dish_id"] for row in averages])
    rows = [
        {"dish": named[row["dish_id"]], "average": row["average"], "count": row["count"]}
        for row in averages
    ]
    comments = (
        MealRating.objects.filter(school=school, date__gte=since)
        .exclude(comment="")
        .select_related("dish")
        .order_by("-date", "-pk")[:50]
    )
    return school_page(
        request, "canteen/ratings.html", {"rows": rows, "comments": comments, "since": since}
    )


@public_view
@require_GET
def dish_photo(request: HttpRequest, dish_id: int) -> FileResponse:
    """A dish's photo for the parents' app and the menu pages: not personal data, so
    anyone may see it (served here, not from /media/, which only staff may reach)."""
    row = get_object_or_404(Dish, pk=dish_id)
    if not row.photo:
        raise Http404
    response = FileResponse(row.photo.open("rb"))
    response["Cache-Control"] = "public, max-age=3600"
    return response
