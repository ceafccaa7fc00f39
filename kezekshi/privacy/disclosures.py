"""The register of personal data given to state bodies, and what the subject may see of it.

The agreement promises that data go to state bodies only on the grounds the law sets and
that users are told when their data are disclosed; the register is how both are shown.
"""

from __future__ import annotations

import datetime as dt

from django.db import transaction
from django.db.models import QuerySet
from django.http import HttpRequest
from django.utils import timezone
from django.utils.translation import gettext as _

from kezekshi.accounts.models import User
from kezekshi.core.errors import ServiceError
from kezekshi.core.models import School
from kezekshi.people.models import Person, Pupil
from kezekshi.people.selectors import children_of
from kezekshi.privacy import audit
from kezekshi.privacy.models import AuditEntry, Disclosure


@transaction.atomic
def record_disclosure(
    *,
    school: School,
    person: Person,
    body: str,
    legal_ground: str,
    request_number: str,
    data_sent: str,
    disclosed_on: dt.date,
    visible_to_subject: bool,
    recorded_by: User,
    request: HttpRequest | None = None,
) -> Disclosure:
    """Enter one disclosure in the school's register and audit it as DISCLOSE.

    Raises ``ServiceError`` ``person_not_in_school`` (404) for a person of another school,
    ``disclosure_in_future`` (422) for a date after today, and ``ValidationError`` for an
    empty or too long field. Not idempotent: each call is a disclosure of its own.
    """
    if person.school_id != school.pk:
        raise ServiceError(
            "person_not_in_school", _("This person is not in the school's records."), status=404
        )
    if disclosed_on > timezone.localdate():
        raise ServiceError(
            "disclosure_in_future",
            _("The date of a disclosure cannot be in the future."),
            status=422,
        )
    disclosure = Disclosure(
        school=school,
        person=person,
        body=body.strip(),
        legal_ground=legal_ground.strip(),
        request_number=request_number.strip(),
        data_sent=data_sent.strip(),
        disclosed_on=disclosed_on,
        visible_to_subject=visible_to_subject,
        recorded_by=recorded_by,
    )
    disclosure.full_clean()
    disclosure.save()
    audit.record(
        action=AuditEntry.Action.DISCLOSE,
        actor=recorded_by,
        school=school,
        person=person,
        target=f"disclosure:{disclosure.pk}",
        details={
            "disclosure": disclosure.pk,
            "body": disclosure.body,
            "legal_ground": disclosure.legal_ground,
            "request_number": disclosure.request_number,
            "disclosed_on": disclosed_on.isoformat(),
            "visible_to_subject": visible_to_subject,
        },
        request=request,
    )
    return disclosure


def disclosures_of(school: School) -> QuerySet[Disclosure]:
    """The school's register, newest first (for the data-protection officer)."""
    return Disclosure.objects.filter(school=school).select_related("person", "recorded_by")


def disclosures_visible_to(person: Person) -> QuerySet[Disclosure]:
    """Disclosures about ``person`` that the subject (or their representative) may see.

    Those a body asked to keep from the subject (``visible_to_subject`` false) are left out.
    """
    return Disclosure.objects.filter(
        school=person.school_id, person=person, visible_to_subject=True
    ).order_by("-disclosed_on", "-id")


def disclosures_for_parent(user: User) -> list[tuple[Person, list[Disclosure]]]:
    """What was disclosed about the signed-in parent and each child they represent.

    Only a legal representative sees a child's disclosures: a grandparent who may pick the
    child up is a guardian too, but has no right to the child's data.
    """
    represented: QuerySet[Pupil] = children_of(user).filter(
        guardianships__guardian__person__user=user,
        guardianships__is_legal_representative=True,
    )
    persons = [
        *Person.objects.filter(user=user).select_related("school"),
        *(child.person for child in represented),
    ]
    return [(person, list(disclosures_visible_to(person))) for person in persons]
