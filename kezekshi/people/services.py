"""Writes to people, classes and guardianships. One transaction per function."""

from __future__ import annotations

import datetime as dt

from django.db import transaction
from django.db.models import F

from kezekshi.accounts.models import Membership, User
from kezekshi.accounts.roles import Role
from kezekshi.core.models import School
from kezekshi.people.models import Guardian, Guardianship, Person, Pupil, SchoolClass


def luhn_digit(digits: str) -> int:
    """The Luhn check digit for ``digits`` (catches one mistyped digit or a swap)."""
    total = 0
    for position, char in enumerate(reversed(digits)):
        value = int(char) * (2 if position % 2 == 0 else 1)
        total += value - 9 if value > 9 else value
    return (10 - total % 10) % 10


def format_account_number(*, prefix: int, serial: int) -> str:
    body = f"{prefix:04d}{serial:06d}"
    return f"{body}{luhn_digit(body)}"


def is_valid_account_number(value: str) -> bool:
    return len(value) == 11 and value.isdigit() and luhn_digit(value[:10]) == int(value[10])


def reserve_account_numbers(*, school: School, count: int) -> list[str]:
    """``count`` fresh personal account numbers for ``school``: prefix, serial, Luhn digit.

    Must run inside the caller's transaction; the school row is locked while counting.
    """
    School.objects.filter(pk=school.pk).update(last_account_serial=F("last_account_serial") + count)
    last = School.objects.select_for_update().values_list("last_account_serial", flat=True)
    end = last.get(pk=school.pk)
    if end > 999_999:
        raise OverflowError("the school has used up its account numbers")
    return [
        format_account_number(prefix=school.account_prefix, serial=serial)
        for serial in range(end - count + 1, end + 1)
    ]


@transaction.atomic
def create_pupil(
    *,
    school: School,
    last_name: str,
    first_name: str,
    patronymic: str = "",
    iin: str = "",
    birth_date: dt.date | None = None,
    sex: str = "",
    school_class: SchoolClass | None = None,
) -> Pupil:
    """A new pupil with a new personal account number. Raises ValidationError on bad data."""
    person = Person(
        school=school,
        last_name=last_name,
        first_name=first_name,
        patronymic=patronymic,
        iin=iin,
        birth_date=birth_date,
        sex=sex,
    )
    person.full_clean()
    person.save()
    (account_number,) = reserve_account_numbers(school=school, count=1)
    return Pupil.objects.create(
        school=school, person=person, school_class=school_class, account_number=account_number
    )


@transaction.atomic
def add_guardian(
    *,
    pupil: Pupil,
    last_name: str,
    first_name: str,
    phone: str,
    relation: str,
    patronymic: str = "",
    iin: str = "",
    is_legal_representative: bool = True,
    may_pick_up: bool = True,
) -> Guardianship:
    """Link a guardian to ``pupil``, reusing the school's record of that IIN or phone."""
    school = pupil.school
    guardian = Guardian.objects.filter(school=school, person__phone=phone).first()
    if guardian is None:
        person = Person(
            school=school,
            last_name=last_name,
            first_name=first_name,
            patronymic=patronymic,
            iin=iin,
            phone=phone,
        )
        person.full_clean()
        person.save()
        guardian = Guardian.objects.create(school=school, person=person)
    guardianship, _created = Guardianship.objects.update_or_create(
        school=school,
        guardian=guardian,
        pupil=pupil,
        defaults={
            "relation": relation,
            "is_legal_representative": is_legal_representative,
            "may_pick_up": may_pick_up,
        },
    )
    link_guardian_accounts(user=None, phone=phone)
    return guardianship


def link_guardian_accounts(*, user: User | None, phone: str | None = None) -> int:
    """Tie guardian records with the user's phone to the user, in every school.

    Called after a parent signs in and after a guardian is added; gives the user the
    parent role in each such school. Idempotent. Returns how many schools it linked.
    """
    with transaction.atomic():
        if user is None:
            user = User.objects.filter(phone=phone).first() if phone else None
            if user is None:
                return 0
        if not user.phone:
            return 0
        persons = Person.objects.filter(phone=user.phone, guardian__isnull=False)
        persons.filter(user__isnull=True).update(user=user)
        school_ids = set(persons.filter(user=user).values_list("school_id", flat=True))
        for school_id in school_ids:
            Membership.objects.get_or_create(user=user, school_id=school_id, role=Role.PARENT)
        return len(school_ids)
