"""Meal quality marks: a parent rates a dish their child was offered on a day (1–5 with
a comment), for themselves or as the child's own mark entered in the parents' app."""

from __future__ import annotations

import datetime as dt

from django.db import transaction
from django.utils.translation import gettext as _

from kezekshi.accounts.models import User
from kezekshi.canteen.menu import local_today
from kezekshi.canteen.models import Dish, MealRating, MenuItem
from kezekshi.core.errors import Forbidden, ServiceError
from kezekshi.people.models import Guardianship, Pupil

# A meal is rated while it is remembered: from the day it was served to two weeks later.
RATE_WITHIN = dt.timedelta(days=14)


@transaction.atomic
def rate_meal(
    *,
    pupil: Pupil,
    dish: Dish,
    date: dt.date,
    score: int,
    comment: str,
    by: User,
    by_child: bool = False,
) -> MealRating:
    """Rate ``dish`` of ``date`` for ``pupil``; a second mark of the same author for the
    same child, dish and day replaces the first (``update_or_create`` on its unique key).

    Raises ``not_allowed`` (403: not a guardian of the child), ``invalid_score`` (1–5),
    ``not_on_menu`` (the dish was not on the school's published menu that day),
    ``too_early`` / ``too_late`` (only from the day itself to two weeks after).
    """
    if not Guardianship.objects.filter(pupil=pupil, guardian__person__user=by).exists():
        raise Forbidden("not_allowed", _("Only the child's guardians may rate the child's meals."))
    if not (isinstance(score, int) and 1 <= score <= 5):
        raise ServiceError("invalid_score", _("Give a mark from 1 to 5."), status=422)
    today = local_today()
    if date > today:
        raise ServiceError("too_early", _("A meal can be rated once it is served."), status=422)
    if today - date > RATE_WITHIN:
        raise ServiceError("too_late", _("Meals are rated within two weeks."), status=422)
    served = MenuItem.objects.filter(
        school_id=pupil.school_id, dish=dish, menu__date=date, menu__is_published=True
    ).exists()
    if not served:
        raise ServiceError("not_on_menu", _("This dish was not on that day's menu."), status=422)
    rating, _created = MealRating.objects.update_or_create(
        school_id=pupil.school_id,
        pupil=pupil,
        dish=dish,
        date=date,
        author=by,
        by_child=by_child,
        defaults={"score": score, "comment": " ".join(comment.split())[:500]},
    )
    return rating
