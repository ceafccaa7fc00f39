"""Personal-data incidents: record, report to the authorised body, tell the subjects.

The law gives one working day from detection to report a leak to the authorised body,
with the responsible person's contacts, the measures taken and the affected subjects
(name, IIN, phone) so that they can be told. Working days are Kazakh national ones,
counted in the schools' time zone. Every step is written to the audit log as BREACH.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass, field
from zoneinfo import ZoneInfo

from django.conf import settings
from django.db import transaction
from django.db.models import QuerySet
from django.http import HttpRequest
from django.utils import timezone, translation
from django.utils.translation import gettext as _

from kezekshi.accounts.models import User
from kezekshi.core.calendar import add_working_days
from kezekshi.core.errors import ServiceError
from kezekshi.core.models import School
from kezekshi.core.tasks import send_sms
from kezekshi.core.validators import normalize_phone
from kezekshi.people.models import Guardianship, Person
from kezekshi.privacy import audit
from kezekshi.privacy.models import AuditEntry, Breach

DEFAULT_LANGUAGE = "kk"


def _local(moment: dt.datetime) -> dt.datetime:
    return timezone.localtime(moment, ZoneInfo(settings.SCHOOL_TIME_ZONE))


def authority_deadline(detected_at: dt.datetime) -> dt.datetime:
    """Detection plus one Kazakh working day, counted on the schools' local calendar."""
    return add_working_days(_local(detected_at), 1)


def is_overdue(breach: Breach, *, now: dt.datetime | None = None) -> bool:
    """Not yet reported to the authorised body and past the deadline."""
    if breach.authority_notified_at is not None:
        return False
    return (now or timezone.now()) > authority_deadline(breach.detected_at)


def _audit(
    breach: Breach,
    *,
    by: User | None,
    step: str,
    request: HttpRequest | None,
    **details: object,
) -> None:
    audit.record(
        action=AuditEntry.Action.BREACH,
        actor=by,
        school=breach.school,
        target=f"breach:{breach.pk}",
        details={"breach": breach.pk, "step": step, **details},
        request=request,
    )


@transaction.atomic
def record_breach(
    *,
    school: School,
    detected_at: dt.datetime,
    description: str,
    measures: str,
    responsible_name: str,
    responsible_phone: str,
    responsible_email: str = "",
    affected: Iterable[Person],
    recorded_by: User,
    request: HttpRequest | None = None,
) -> Breach:
    """Record an incident with the persons it affects.

    Raises ``ServiceError`` ``breach_in_future`` (422), ``no_affected_persons`` (422),
    ``person_not_in_school`` (404), and ``ValidationError`` for a bad phone, e-mail or an
    empty field. Not idempotent: each call is an incident of its own.
    """
    if detected_at > timezone.now():
        raise ServiceError(
            "breach_in_future", _("The time of detection cannot be in the future."), status=422
        )
    persons = list({person.pk: person for person in affected}.values())
    if not persons:
        raise ServiceError(
            "no_affected_persons", _("Name at least one affected person."), status=422
        )
    if any(person.school_id != school.pk for person in persons):
        raise ServiceError(
            "person_not_in_school", _("This person is not in the school's records."), status=404
        )
    breach = Breach(
        school=school,
        detected_at=detected_at,
        description=description.strip(),
        measures=measures.strip(),
        responsible_name=responsible_name.strip(),
        responsible_phone=normalize_phone(responsible_phone),
        responsible_email=responsible_email.strip(),
        recorded_by=recorded_by,
    )
    breach.full_clean()
    breach.save()
    breach.affected.set(persons)
    _audit(
        breach,
        by=recorded_by,
        step="recorded",
        request=request,
        detected_at=detected_at.isoformat(),
        affected=sorted(person.pk for person in persons),
    )
    return breach


def breaches_of(school: School) -> QuerySet[Breach]:
    return Breach.objects.filter(school=school).prefetch_related("affected")


@dataclass(frozen=True)
class AffectedSubject:
    """One line of the notice: who is affected and how to reach them."""

    person: Person
    iin: str
    phones: list[str]  # their own, or for a pupil their guardians'


@dataclass(frozen=True)
class AuthorityNotice:
    breach: Breach
    school: School
    deadline: dt.datetime
    subjects: list[AffectedSubject]


def _guardian_phones(pupil_person_ids: list[int]) -> dict[int, list[str]]:
    phones: dict[int, list[str]] = {}
    guardianships = Guardianship.objects.filter(pupil__person_id__in=pupil_person_ids)
    rows = guardianships.values_list("pupil__person_id", "guardian__person__phone")
    for person_id, phone in rows.order_by("pupil__person_id", "id"):
        if phone and phone not in phones.setdefault(person_id, []):
            phones[person_id].append(phone)
    return phones


def authority_notice(
    *, breach: Breach, by: User, request: HttpRequest | None = None
) -> AuthorityNotice:
    """The notification to the authorised body, with the affected subjects' IINs and phones.

    Showing it reads the IINs of every affected person, so each showing is audited.
    """
    persons = list(breach.affected.select_related("pupil").order_by("last_name", "first_name"))
    guardians = _guardian_phones([p.pk for p in persons if hasattr(p, "pupil")])
    subjects = [
        AffectedSubject(
            person=person,
            iin=person.iin,
            phones=[person.phone] if person.phone else guardians.get(person.pk, []),
        )
        for person in persons
    ]
    _audit(breach, by=by, step="notice_shown", request=request, affected=len(subjects))
    return AuthorityNotice(
        breach=breach,
        school=breach.school,
        deadline=authority_deadline(breach.detected_at),
        subjects=subjects,
    )


@transaction.atomic
def mark_authority_notified(
    *, breach: Breach, by: User, request: HttpRequest | None = None
) -> Breach:
    """Record that the notice went to the authorised body. Idempotent: the first time stays."""
    locked = Breach.objects.select_for_update().get(pk=breach.pk)
    if locked.authority_notified_at is None:
        locked.authority_notified_at = timezone.now()
        locked.save(update_fields=["authority_notified_at"])
        late = locked.authority_notified_at > authority_deadline(locked.detected_at)
        _audit(locked, by=by, step="authority_notified", request=request, late=late)
    return locked


@dataclass
class SubjectNotification:
    """What ``notify_subjects`` did: SMS queued, and who could not be reached by SMS."""

    already_done: bool = False
    messages: int = 0
    unreachable: list[Person] = field(default_factory=list)


def _sms_text(breach: Breach, language: str) -> str:
    with translation.override(language):
        return _(
            "%(school)s: on %(date)s a personal-data incident was found that may affect "
            "you or your child. Measures have been taken. Questions: %(name)s, %(phone)s."
        ) % {
            "school": breach.school.name,
            "date": _local(breach.detected_at).strftime("%d.%m.%Y"),
            "name": breach.responsible_name,
            "phone": breach.responsible_phone,
        }


def _recipients(persons: list[Person]) -> tuple[dict[str, str], list[Person]]:
    """Phone → language of everyone to tell, and the persons with no phone to tell them by.

    A pupil is told through each guardian with a phone; anyone else on their own phone.
    A phone that appears twice (a parent of two affected children) gets one message.
    """
    recipients: dict[str, str] = {}
    unreachable: list[Person] = []

    def add(person: Person) -> bool:
        phone = person.phone or (person.user.phone if person.user else "") or ""
        if not phone:
            return False
        language = (person.user.language if person.user else "") or DEFAULT_LANGUAGE
        recipients.setdefault(phone, language)
        return True

    pupils = [person for person in persons if hasattr(person, "pupil")]
    guardianships = (
        Guardianship.objects.filter(pupil__person__in=pupils)
        .select_related("guardian__person__user", "pupil")
        .order_by("id")
    )
    guardians_of: dict[int, list[Person]] = {}
    for guardianship in guardianships:
        guardians_of.setdefault(guardianship.pupil.person_id, []).append(
            guardianship.guardian.person
        )
    for person in persons:
        if hasattr(person, "pupil"):
            reached = [add(guardian) for guardian in guardians_of.get(person.pk, [])]
            if not any(reached):
                unreachable.append(person)
        elif not add(person):
            unreachable.append(person)
    return recipients, unreachable


@transaction.atomic
def notify_subjects(
    *, breach: Breach, by: User, request: HttpRequest | None = None
) -> SubjectNotification:
    """Tell every affected subject by SMS, in their language (Kazakh when unknown).

    The messages are queued in this transaction, with ``subjects_notified_at``. Idempotent:
    once done, a second call sends nothing and says so (``already_done``).
    """
    locked = Breach.objects.select_for_update().get(pk=breach.pk)
    if locked.subjects_notified_at is not None:
        return SubjectNotification(already_done=True)
    persons = list(locked.affected.select_related("pupil", "user").order_by("pk"))
    recipients, unreachable = _recipients(persons)
    texts = {language: _sms_text(locked, language) for language in set(recipients.values())}
    for phone, language in recipients.items():
        send_sms.enqueue(phone, texts[language])
    locked.subjects_notified_at = timezone.now()
    locked.save(update_fields=["subjects_notified_at"])
    _audit(
        locked,
        by=by,
        step="subjects_notified",
        request=request,
        messages=len(recipients),
        unreachable=[person.pk for person in unreachable],
    )
    breach.subjects_notified_at = locked.subjects_notified_at
    return SubjectNotification(messages=len(recipients), unreachable=unreachable)
