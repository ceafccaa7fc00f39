"""Reading and writing KZT amounts: strict text in, ``Decimal`` with 2 places out."""

from __future__ import annotations

import re
from decimal import Decimal

# Digits, optionally a point and one or two more: no signs, exponents, spaces or commas.
_AMOUNT = re.compile(r"^(0|[1-9][0-9]{0,11})(\.[0-9]{1,2})?$")
CENT = Decimal("0.01")
# No single movement of a pupil's canteen money comes near this: a bigger one is a mistake.
LARGEST = Decimal("10000000.00")


class BadAmount(ValueError):
    """The text is not an amount we accept: ``reason`` says why ("format", "zero", "too_large")."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def parse_amount(text: str, *, largest: Decimal = LARGEST) -> Decimal:
    """``"500"``, ``"500.5"``, ``"500.50"`` → ``Decimal("500.50")``; raises ``BadAmount``.

    Refuses what a float parser would take (``"1e5"``, ``" 5"``, ``"5."``, ``"-5"``,
    ``"NaN"``), more than two places, zero, and anything above ``largest``.
    """
    if not isinstance(text, str) or not _AMOUNT.fullmatch(text):
        raise BadAmount("format")
    amount = Decimal(text).quantize(CENT)
    if amount <= 0:
        raise BadAmount("zero")
    if amount > largest:
        raise BadAmount("too_large")
    return amount


def is_money(amount: object) -> bool:
    """A positive ``Decimal`` with at most 2 places, within ``LARGEST``."""
    return (
        isinstance(amount, Decimal)
        and amount.is_finite()
        and amount > 0
        and amount <= LARGEST
        and amount == amount.quantize(CENT)
    )


def tenge(amount: Decimal) -> str:
    """``Decimal("1200.5")`` → ``"1 200.50"`` (a thin space between thousands)."""
    return f"{amount:,.2f}".replace(",", "\u202f")


def plain(amount: Decimal) -> str:
    """The amount as protocols write it: ``"1200.50"``."""
    return f"{amount.quantize(CENT):f}"
