"""The canteen's dishes and daily menus: writes for the canteen staff, reads for the till,
the parents' app and the POS terminals.

A dish has names in Kazakh, Russian and English, a photo, a usual price, a category and
its allergens (codes of ``models.Allergen``). A daily menu is one meal (breakfast, lunch,
snack) of one day; each item on it is a dish at that day's price. Parents see a menu
once it is published. Dates are school days in Asia/Almaty.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from decimal import Decimal
from zoneinfo import ZoneInfo

from django.conf import settings
from django.core.files.uploadedfile import UploadedFile
from django.db import transaction
from django.db.models import QuerySet
from django.utils import timezone
from django.utils.translation import gettext as _

from kezekshi.canteen.models import (
    Allergen,
    DailyMenu,
    Dish,
    DishCategory,
    Meal,
    MenuItem,
    Sale,
    SaleLine,
)
from kezekshi.canteen.money import is_money
from kezekshi.core.errors import NotFound, ServiceError
from kezekshi.core.models import School

MEALS = [meal.value for meal in Meal]


# --- days --------------------------------------------------------------------------------


def zone() -> ZoneInfo:
    """The schools' time zone (Asia/Almaty): days, menus and limits are counted in it."""
    return ZoneInfo(settings.SCHOOL_TIME_ZONE)


def local_today() -> dt.date:
    return timezone.now().astimezone(zone()).date()


def local_date(moment: dt.datetime) -> dt.date:
    return moment.astimezone(zone()).date()


def day_range(day: dt.date) -> tuple[dt.datetime, dt.datetime]:
    """The school day ``day`` in Almaty as [start, end) aware times."""
    start = dt.datetime.combine(day, dt.time(0), tzinfo=zone())
    return start, start + dt.timedelta(days=1)


def week_of(day: dt.date) -> list[dt.date]:
    """Monday to Saturday of the week ``day`` falls in (schools work up to six days)."""
    monday = day - dt.timedelta(days=day.weekday())
    return [monday + dt.timedelta(days=n) for n in range(6)]


# --- validation --------------------------------------------------------------------------


def clean_allergens(codes: Iterable[str]) -> list[str]:
    """Sorted, unique codes of ``Allergen``; raises ``invalid_allergen`` for others."""
    found = sorted(set(codes))
    unknown = [code for code in found if code not in Allergen.values]
    if unknown:
        raise ServiceError(
            "invalid_allergen",
            _("Unknown allergen: %(codes)s.") % {"codes": ", ".join(unknown)},
            status=422,
        )
    return found


def _price(price: Decimal) -> Decimal:
    if not is_money(price):
        raise ServiceError(
            "invalid_price",
            _("The price must be positive, in tenge with at most 2 decimal places."),
            status=422,
        )
    return price


def _names(name_kk: str, name_ru: str, name_en: str) -> tuple[str, str, str]:
    names = tuple(" ".join((value or "").split())[:200] for value in (name_kk, name_ru, name_en))
    if not names[0] or not names[1]:
        raise ServiceError(
            "name_required", _("Give the name in Kazakh and in Russian."), status=422
        )
    return names  # type: ignore[return-value]


# --- writes ------------------------------------------------------------------------------


@transaction.atomic
def save_category(
    *,
    school: School,
    name_kk: str,
    name_ru: str,
    name_en: str = "",
    position: int = 0,
    category: DishCategory | None = None,
) -> DishCategory:
    """Create a category (or rename ``category``). Names are unique in the school."""
    kk, ru, en = _names(name_kk, name_ru, name_en)
    others = DishCategory.objects.filter(school=school, name_kk=kk)
    if category is not None:
        others = others.exclude(pk=category.pk)
    if others.exists():
        raise ServiceError("duplicate_category", _("This category exists already."), status=409)
    row = category or DishCategory(school=school)
    row.name_kk, row.name_ru, row.name_en, row.position = kk, ru, en, max(0, position)
    row.save()
    return row


@transaction.atomic
def save_dish(
    *,
    school: School,
    category: DishCategory,
    name_kk: str,
    name_ru: str,
    name_en: str = "",
    price: Decimal,
    allergens: Sequence[str] = (),
    is_active: bool = True,
    photo: UploadedFile | None = None,
    dish: Dish | None = None,
) -> Dish:
    """Create a dish (or change ``dish``). A changed price applies to menus made after
    it; a day's menu keeps the price it was made with. Raises ``invalid_price``,
    ``invalid_allergen``, ``name_required``, ``foreign_category`` (another school's)."""
    if category.school_id != school.pk or (dish is not None and dish.school_id != school.pk):
        raise NotFound("foreign_category", _("Not found."))
    kk, ru, en = _names(name_kk, name_ru, name_en)
    row = dish or Dish(school=school)
    row.category = category
    row.name_kk, row.name_ru, row.name_en = kk, ru, en
    row.price = _price(price)
    row.allergens = clean_allergens(allergens)
    row.is_active = is_active
    if photo is not None:
        row.photo = photo
    row.save()
    return row


@transaction.atomic
def set_menu(
    *,
    school: School,
    date: dt.date,
    meal: str,
    items: Sequence[tuple[Dish, Decimal | None]],
    publish: bool | None = None,
) -> DailyMenu:
    """Make the menu of one meal of one day exactly ``items`` (a dish and that day's
    price; ``None``: the dish's usual price). Dishes must be the school's and on sale.
    Items already sold keep their sales (a removed item is only taken off the menu when
    nothing was sold from it; otherwise ``item_sold`` is raised). ``publish`` shows it
    to parents (True) or hides it (False); None leaves it as it is."""
    if meal not in MEALS:
        raise ServiceError("invalid_meal", _("Choose breakfast, lunch or snack."), status=422)
    menu, _created = DailyMenu.objects.get_or_create(school=school, date=date, meal=meal)
    wanted: dict[int, Decimal] = {}
    for dish, price in items:
        if dish.school_id != school.pk:
            raise NotFound("foreign_dish", _("Not found."))
        if not dish.is_active:
            raise ServiceError(
                "dish_not_on_sale",
                _("%(dish)s is not on sale.") % {"dish": dish.name},
                status=422,
            )
        wanted[dish.pk] = _price(price if price is not None else dish.price)
    current = {item.dish_id: item for item in MenuItem.objects.filter(school=school, menu=menu)}
    for dish_id, item in current.items():
        if dish_id in wanted:
            if item.price != wanted[dish_id]:
                item.price = wanted[dish_id]
                item.save(update_fields=["price"])
            continue
        start, end = day_range(date)
        sold = SaleLine.objects.filter(
            school=school,
            dish_id=dish_id,
            meal=menu.meal,
            sale__status=Sale.Status.SOLD,
            sale__sold_at__gte=start,
            sale__sold_at__lt=end,
        ).exists()
        if sold:
            raise ServiceError(
                "item_sold",
                _("A dish already sold today cannot be taken off today's menu."),
                status=409,
            )
        item.delete()
    MenuItem.objects.bulk_create(
        MenuItem(school=school, menu=menu, dish_id=dish_id, price=price)
        for dish_id, price in wanted.items()
        if dish_id not in current
    )
    if publish is not None and publish != menu.is_published:
        menu.is_published = publish
        menu.published_at = timezone.now() if publish else None
        menu.save(update_fields=["is_published", "published_at"])
    return menu


@transaction.atomic
def copy_day(*, school: School, source: dt.date, target: dt.date) -> list[DailyMenu]:
    """Put ``source``'s menus (each meal, same prices) on ``target``, unpublished.
    Meals ``target`` already has are left alone."""
    made = []
    for menu in DailyMenu.objects.filter(school=school, date=source).prefetch_related(
        "items__dish"
    ):
        if DailyMenu.objects.filter(school=school, date=target, meal=menu.meal).exists():
            continue
        items = [(item.dish, item.price) for item in menu.items.all() if item.dish.is_active]
        made.append(set_menu(school=school, date=target, meal=menu.meal, items=items))
    return made


# --- reads -------------------------------------------------------------------------------


@dataclass
class MenuDay:
    date: dt.date
    meals: list[tuple[DailyMenu, list[MenuItem]]]


def items_of_day(
    school_id: int, day: dt.date, *, published_only: bool = False
) -> QuerySet[MenuItem]:
    rows = MenuItem.objects.filter(school_id=school_id, menu__date=day).select_related(
        "menu", "dish", "dish__category"
    )
    if published_only:
        rows = rows.filter(menu__is_published=True)
    return rows.order_by("menu__meal", "dish__category__position", "dish__name_kk")


def menu_days(school_id: int, days: Sequence[dt.date], *, published_only: bool) -> list[MenuDay]:
    """The menus of ``days``, meals in the order breakfast, lunch, snack."""
    rows = (
        MenuItem.objects.filter(school_id=school_id, menu__date__in=list(days))
        .select_related("menu", "dish", "dish__category")
        .order_by("dish__category__position", "dish__name_kk")
    )
    if published_only:
        rows = rows.filter(menu__is_published=True)
    by_menu: dict[int, tuple[DailyMenu, list[MenuItem]]] = {}
    for item in rows:
        by_menu.setdefault(item.menu_id, (item.menu, []))[1].append(item)
    found = []
    for day in days:
        meals = [entry for entry in by_menu.values() if entry[0].date == day]
        meals.sort(key=lambda entry: MEALS.index(entry[0].meal))
        found.append(MenuDay(day, meals))
    return found
