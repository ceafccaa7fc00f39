"""What the staff portal reads from requests: ids, dates and posted forms, made safe.

Anything typed into a URL or a form is checked here before a view uses it, so a
malformed id or an impossible date gives a fallback or a 4xx, never a 500.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Any, TypeVar

from django import forms
from django.utils.dateparse import parse_date

from kezekshi.core.errors import ServiceError

T = TypeVar("T")

# The largest id a database column holds (a signed 64-bit integer).
MAX_ID = 2**63 - 1
# Dates the pages accept: a day either side must still be a date, and nobody means
# year 1 or 9999 when they type a URL by hand.
FIRST_DAY = dt.date(1900, 1, 1)
LAST_DAY = dt.date(2100, 12, 31)


def parse_id(text: str | None) -> int | None:
    """A positive id typed into a URL (``?zone=3``); None for anything else ("abc",
    "²", "-1", a number no column holds)."""
    text = (text or "").strip()
    if not (text.isascii() and text.isdecimal()) or len(text) > 19:
        return None
    value = int(text)
    return value if 0 < value <= MAX_ID else None


def parse_ids(text: str | None, *, limit: int) -> list[int] | None:
    """Comma-separated ids (``?ids=1,2,3``), at most ``limit`` of them; None when any
    of them is not an id, or there are too many."""
    parts = [part for part in (text or "").split(",") if part.strip()]
    if len(parts) > limit:
        return None
    ids = [parse_id(part) for part in parts]
    return None if any(value is None for value in ids) else [v for v in ids if v is not None]


def parse_day(text: str | None) -> dt.date | None:
    """An ISO date typed into a URL (``?date=2026-11-30``), between 1900 and 2100;
    None for anything else (``2024-02-30``, ``2024-13-01``, ``0001-01-01``)."""
    try:
        day = parse_date((text or "").strip())
    except ValueError:
        return None
    if day is None or not FIRST_DAY <= day <= LAST_DAY:
        return None
    return day


def refuse_on_form(form: forms.BaseForm, exc: ServiceError, *, field: str | None = None) -> int:
    form.add_error(field, str(exc.message))
    return exc.status


def submitted(
    form: forms.BaseForm,
    save: Callable[[dict[str, Any]], T],
    *,
    posted: bool,
    field: str | None = None,
) -> tuple[T | None, int]:
    """Save a posted form through a service: ``save(form.cleaned_data)``.

    Returns what ``save`` returned (None when nothing was posted, the form is invalid or
    the service refused, its refusal then shown on the form at ``field``) and the status
    to render the form with: 200 when nothing was posted, else 422 or the refusal's own.
    """
    if not posted:
        return None, 200
    if not form.is_valid():
        return None, 422
    try:
        return save(form.cleaned_data), 200
    except ServiceError as exc:
        return None, refuse_on_form(form, exc, field=field)
