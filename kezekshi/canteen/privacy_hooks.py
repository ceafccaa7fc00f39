"""What the canteen holds about a pupil, for the "everything held" view and export.

Registered from ``CanteenConfig.ready``; the privacy app reads the registry and never
imports this app. Money records are kept as accounting records (no pseudonymising).
"""

from __future__ import annotations

from typing import Any

from django.utils import timezone
from django.utils.translation import gettext, gettext_lazy

from kezekshi.canteen.models import Entry, Wallet
from kezekshi.canteen.money import plain
from kezekshi.privacy.subject_data import Subject, section

SHOWN = 2000  # a school year of purchases and top-ups is a few hundred


@section(
    "canteen_wallet",
    gettext_lazy("Canteen wallet"),
    order=75,
    labels={
        "time": gettext_lazy("Time"),
        "what": gettext_lazy("What"),
        "amount": gettext_lazy("Amount, ₸"),
        "details": gettext_lazy("Details"),
    },
)
def _wallet(subject: Subject) -> list[dict[str, Any]]:
    if subject.pupil is None:
        return []
    wallet = Wallet.objects.filter(pupil=subject.pupil).first()
    if wallet is None:
        return []
    rows: list[dict[str, Any]] = [
        {
            "time": timezone.now(),
            "what": gettext("Balance"),
            "amount": plain(wallet.balance),
            "details": gettext("personal account %(number)s")
            % {"number": subject.pupil.account_number},
        }
    ]
    entries = (
        Entry.objects.filter(school_id=wallet.school_id, wallet=wallet)
        .select_related("transaction")
        .order_by("-transaction__booked_at", "-id")[:SHOWN]
    )
    for entry in entries:
        booked = entry.transaction
        rows.append(
            {
                "time": booked.booked_at,
                "what": booked.get_kind_display(),
                "amount": plain(entry.amount),
                "details": " · ".join(part for part in (booked.description, booked.reason) if part),
            }
        )
    return rows
