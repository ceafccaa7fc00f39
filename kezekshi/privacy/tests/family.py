"""A family for the subject-rights tests: a mother with two children, and strangers."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from django.test import Client

from kezekshi.accounts.models import User
from kezekshi.core.models import School
from kezekshi.people import services as people_services
from kezekshi.people.models import Pupil, SchoolClass

MOTHER_PHONE = "+77015550101"
GRANDMOTHER_PHONE = "+77015550102"
STRANGER_PHONE = "+77015550103"


@dataclass
class Family:
    mother: User
    first: Pupil  # the ``pupil`` fixture
    second: Pupil
    grandmother: User  # a guardian who may pick up, not a legal representative


def parent_user(phone: str) -> User:
    user = User.objects.create_user(phone=phone, full_name=f"Parent {phone[-2:]}")
    people_services.link_guardian_accounts(user=user)
    return user


def make_family(pupil: Pupil) -> Family:
    school = pupil.school
    second = people_services.create_pupil(
        school=school,
        last_name="Сейтқали",
        first_name="Арман",
        iin="150101500011",
        birth_date=dt.date(2015, 1, 1),
        school_class=pupil.school_class,
    )
    for child in (pupil, second):
        people_services.add_guardian(
            pupil=child,
            last_name="Сейтқали",
            first_name="Гүлнар",
            phone=MOTHER_PHONE,
            relation="mother",
        )
    people_services.add_guardian(
        pupil=pupil,
        last_name="Омарова",
        first_name="Бибігүл",
        phone=GRANDMOTHER_PHONE,
        relation="grandparent",
        is_legal_representative=False,
    )
    return Family(
        mother=parent_user(MOTHER_PHONE),
        first=pupil,
        second=second,
        grandmother=parent_user(GRANDMOTHER_PHONE),
    )


def stranger_with_child(school: School) -> tuple[User, Pupil]:
    """Another family in the same school."""
    school_class = SchoolClass.objects.filter(school=school).first()
    child = people_services.create_pupil(
        school=school, last_name="Бекова", first_name="Дана", school_class=school_class
    )
    people_services.add_guardian(
        pupil=child, last_name="Беков", first_name="Нұрлан", phone=STRANGER_PHONE, relation="father"
    )
    return parent_user(STRANGER_PHONE), child


def signed_in(user: User) -> Client:
    client = Client(HTTP_ACCEPT_LANGUAGE="en")
    client.force_login(user, backend="kezekshi.accounts.backends.PhoneOrEmailBackend")
    return client
