"""Reading the audit log: one school's entries, filtered as the data-protection officer asks."""

from __future__ import annotations

import datetime as dt
import zoneinfo
from dataclasses import dataclass

from django.conf import settings
from django.db.models import Q, QuerySet

from kezekshi.core.models import School
from kezekshi.privacy.models import AuditEntry


@dataclass(frozen=True)
class AuditFilter:
    """What to look for; empty fields do not filter. Days are the school's calendar days."""

    person: str = ""  # part of the person's name, as recorded in the entry
    user: str = ""  # part of the staff member's name, e-mail or phone
    action: str = ""
    since: dt.date | None = None
    until: dt.date | None = None  # inclusive


def entries_of(school: School, where: AuditFilter | None = None) -> QuerySet[AuditEntry]:
    """The school's audit entries matching ``where``, newest first.

    Only this school's chain: entries of other schools and platform-wide ones (no
    school) never appear, whoever asks.
    """
    where = where or AuditFilter()
    entries = AuditEntry.objects.filter(school=school).select_related("actor")
    if where.person:
        entries = entries.filter(_contains("person_label", where.person))
    if where.user:
        entries = entries.filter(
            _contains("actor__full_name", where.user)
            | Q(actor__email__icontains=where.user.strip())
            | Q(actor__phone__contains=where.user.strip())
        )
    if where.action:
        entries = entries.filter(action=where.action)
    if where.since:
        entries = entries.filter(created_at__gte=_school_midnight(where.since))
    if where.until:
        entries = entries.filter(created_at__lt=_school_midnight(where.until + dt.timedelta(1)))
    return entries.order_by("-created_at", "-id")


def _contains(field: str, text: str) -> Q:
    """Case-insensitive "contains" that also works for Kazakh and Russian names on SQLite,
    whose LIKE folds the case of Latin letters only: the usual spellings are tried too."""
    text = " ".join(text.split())
    spellings = {text, text.lower(), text.capitalize(), text.title(), text.upper()}
    found = Q()
    for spelling in spellings:
        found |= Q(**{f"{field}__icontains": spelling})
    return found


def _school_midnight(day: dt.date) -> dt.datetime:
    """The moment a school day begins (entries are stored in UTC, days are local)."""
    local = zoneinfo.ZoneInfo(settings.SCHOOL_TIME_ZONE)
    return dt.datetime.combine(day, dt.time.min, tzinfo=local)
