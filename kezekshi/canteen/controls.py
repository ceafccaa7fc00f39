"""What parents decide about a child's canteen: a daily spending limit, the child's
allergens, banned dishes and categories, and a low-balance alert.

Written by the child's legal representative in the parents' app, or by staff holding
``Perm.CANTEEN_MANAGE`` (then written to the audit log: staff changing a family's
settings is a change of the child's data). The till reads them at every sale
(``refusal``): an item with one of the child's allergens is refused and no cashier can
override that; a banned item is refused; the daily limit holds.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterable, Sequence
from decimal import Decimal

from django.db import transaction
from django.http import HttpRequest
from django.utils import timezone, translation
from django.utils.translation import gettext as _

from kezekshi.accounts.models import User
from kezekshi.accounts.permissions import has_perm
from kezekshi.accounts.roles import Perm
from kezekshi.canteen.menu import clean_allergens
from kezekshi.canteen.models import ZERO, Dish, DishCategory, PupilControls
from kezekshi.canteen.money import CENT, LARGEST, tenge
from kezekshi.canteen.services import Recipient, guardians_to_tell
from kezekshi.core.errors import Forbidden, ServiceError
from kezekshi.notifications import services as notifications
from kezekshi.people.models import Guardianship, Pupil
from kezekshi.privacy import audit

# The fields ``set_controls`` writes, as the audit log names them.
FIELDS = (
    "daily_limit",
    "allergens",
    "banned_dishes",
    "banned_categories",
    "low_balance_threshold",
)


def controls_of(pupil: Pupil) -> PupilControls:
    """The child's controls (an unsaved empty row when the parents set none)."""
    found = PupilControls.objects.filter(school_id=pupil.school_id, pupil=pupil).first()
    return found or PupilControls(school_id=pupil.school_id, pupil=pupil)


def _may_set(user: User, pupil: Pupil) -> str:
    """``"guardian"`` or ``"staff"``; raises ``Forbidden`` for anyone else."""
    if Guardianship.objects.filter(
        pupil=pupil, guardian__person__user=user, is_legal_representative=True
    ).exists():
        return "guardian"
    if has_perm(user, Perm.CANTEEN_MANAGE, pupil.school):
        return "staff"
    raise Forbidden(
        "not_allowed", _("Only the child's legal representative or the canteen's manager may.")
    )


def _amount(value: Decimal | None, code: str) -> Decimal | None:
    if value is None:
        return None
    valid = isinstance(value, Decimal) and value.is_finite() and value == value.quantize(CENT)
    if not valid or not ZERO <= value <= LARGEST:
        raise ServiceError(
            code,
            _("Give an amount in tenge, 0 or more, with at most 2 decimal places."),
            status=422,
        )
    return value


def _ids(values: Iterable[int], known: set[int], code: str) -> list[int]:
    found = sorted({int(value) for value in values})
    if any(value not in known for value in found):
        raise ServiceError(code, _("Choose from the school's dishes and categories."), status=422)
    return found


@transaction.atomic
def set_controls(
    *,
    pupil: Pupil,
    by: User,
    daily_limit: Decimal | None,
    allergens: Sequence[str],
    banned_dishes: Iterable[int] = (),
    banned_categories: Iterable[int] = (),
    low_balance_threshold: Decimal | None = None,
    request: HttpRequest | None = None,
) -> PupilControls:
    """Replace the child's controls with these. ``None`` means no limit / no alert.

    Allowed to the child's legal representatives and to staff with canteen management
    (``not_allowed``, 403, for anyone else); staff changes go to the audit log. Changing
    the threshold re-arms the low-balance alert. Raises ``invalid_limit``,
    ``invalid_threshold``, ``invalid_allergen``, ``invalid_ban`` (422).
    """
    acting_as = _may_set(by, pupil)
    limit = _amount(daily_limit, "invalid_limit")
    threshold = _amount(low_balance_threshold, "invalid_threshold")
    dishes = _ids(
        banned_dishes,
        set(Dish.objects.filter(school_id=pupil.school_id).values_list("pk", flat=True)),
        "invalid_ban",
    )
    categories = _ids(
        banned_categories,
        set(DishCategory.objects.filter(school_id=pupil.school_id).values_list("pk", flat=True)),
        "invalid_ban",
    )
    row = PupilControls.objects.select_for_update().filter(pupil=pupil).first() or PupilControls(
        school_id=pupil.school_id, pupil=pupil
    )
    before = {name: _plain(getattr(row, name)) for name in FIELDS}
    if row.low_balance_threshold != threshold:
        row.low_balance_alerted = False
    row.daily_limit = limit
    row.allergens = clean_allergens(allergens)
    row.banned_dishes = dishes
    row.banned_categories = categories
    row.low_balance_threshold = threshold
    row.updated_at = timezone.now()
    row.updated_by = by
    row.save()
    after = {name: _plain(getattr(row, name)) for name in FIELDS}
    if acting_as == "staff":
        changed = {
            name: {"from": before[name], "to": after[name]}
            for name in FIELDS
            if before[name] != after[name]
        }
        audit.record(
            action=audit.Action.CHANGE,
            actor=by,
            school=pupil.school,
            person=pupil.person,
            target=f"canteen:controls:{pupil.pk}",
            details=changed,
            request=request,
        )
    return row


def _plain(value: object) -> object:
    if isinstance(value, Decimal):
        return str(value)
    return value


# --- checks at the till ------------------------------------------------------------------


def refusal(
    controls: PupilControls | None, dishes: Sequence[Dish]
) -> tuple[str, str, list[int]] | None:
    """Why the child may not have these dishes: (code, message, dish ids), or None.

    Allergens first: they protect the child's health, and nothing lets a cashier sell
    past them. Then the parents' bans.
    """
    if controls is None:
        return None
    allergic = set(controls.allergens)
    hits = [dish for dish in dishes if allergic.intersection(dish.allergens)]
    if hits:
        return (
            "allergen",
            _("%(dishes)s contain(s) an allergen of this child. It cannot be sold to them.")
            % {"dishes": ", ".join(dish.name for dish in hits)},
            [dish.pk for dish in hits],
        )
    banned_dishes, banned_categories = set(controls.banned_dishes), set(controls.banned_categories)
    hits = [
        dish for dish in dishes if dish.pk in banned_dishes or dish.category_id in banned_categories
    ]
    if hits:
        return (
            "banned_item",
            _("The parents do not allow %(dishes)s for this child.")
            % {"dishes": ", ".join(dish.name for dish in hits)},
            [dish.pk for dish in hits],
        )
    return None


def limit_left(controls: PupilControls | None, spent_today: Decimal) -> Decimal | None:
    """What the daily limit still allows today (None: no limit)."""
    if controls is None or controls.daily_limit is None:
        return None
    return max(ZERO, Decimal(controls.daily_limit) - spent_today)


# --- the low-balance alert ---------------------------------------------------------------


def after_debit(
    *,
    pupil: Pupil,
    controls: PupilControls | None,
    before: Decimal,
    after: Decimal,
    cause: str,
    at: dt.datetime,
    recipients: list[Recipient] | None = None,
) -> None:
    """Tell the guardians once when a debit takes the balance below their threshold.

    Once per crossing: a debit that starts at or above the threshold and ends below it
    alerts; so does the first debit below a threshold just set (``low_balance_alerted``
    is cleared when the threshold changes). While the balance stays below, further
    purchases do not alert again; a top-up above the threshold re-arms it, because the
    next debit then crosses again. Run in the debit's transaction, with the wallet locked.
    """
    if controls is None or controls.pk is None or controls.low_balance_threshold is None:
        return
    threshold = Decimal(controls.low_balance_threshold)
    if after >= threshold:
        if controls.low_balance_alerted:
            PupilControls.objects.filter(pk=controls.pk).update(low_balance_alerted=False)
        return
    crossed = before >= threshold
    if not crossed and controls.low_balance_alerted:
        return
    # ``controls`` was read before the wallet was locked (``pos.sell``): another till may
    # have sent the alert since. The flag is claimed in the row as it is now, by one
    # conditional UPDATE; a crossing alerts whatever it says.
    claimed = PupilControls.objects.filter(pk=controls.pk, low_balance_alerted=False).update(
        low_balance_alerted=True
    )
    if not crossed and not claimed:
        return
    tell(
        pupil=pupil,
        recipients=recipients,
        key=f"canteen-low:{cause}",
        compose=lambda name: (
            _(
                "%(name)s's canteen balance is %(balance)s ₸, below the %(threshold)s ₸ you set. "
                "Top it up with the personal account %(account)s."
            )
            % {
                "name": name,
                "balance": tenge(after),
                "threshold": tenge(threshold),
                "account": pupil.account_number,
            }
        ),
    )


def tell(
    *,
    pupil: Pupil,
    key: str,
    compose: Callable[[str], str],
    recipients: list[Recipient] | None = None,
) -> None:
    """One notice per guardian who may be told (``recipients``, read before the caller's
    transaction, or now), each composed in their language."""
    if recipients is None:
        recipients = guardians_to_tell(pupil_id=pupil.pk)
    notices = []
    for recipient in recipients:
        with translation.override(recipient.language):
            text = compose(recipient.first_name)
        notices.append(
            notifications.Notice(
                school_id=pupil.school_id,
                recipient_id=recipient.user_id,
                kind="canteen",
                key=key,
                text=str(text),
                person_id=recipient.person_id,
            )
        )
    notifications.enqueue(notices, new_causes=True)
