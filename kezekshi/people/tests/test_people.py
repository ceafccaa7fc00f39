"""Persons, pupils, guardians: IIN rules, account numbers, encryption, cross-school parents."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from django.core.exceptions import ValidationError
from django.db import connection

from kezekshi.accounts.models import Membership, User
from kezekshi.accounts.roles import Role
from kezekshi.people import services
from kezekshi.people.models import Person, Pupil, SchoolClass
from kezekshi.people.selectors import children_of
from kezekshi.people.services import is_valid_account_number, luhn_digit

pytestmark = pytest.mark.django_db
IIN = "120503600127"  # born 3 May 2012, female


def test_a_pupil_gets_a_checked_account_number_that_starts_with_the_school(
    school: Any, school_class: SchoolClass
) -> None:
    first = services.create_pupil(school=school, last_name="А", first_name="Б", iin=IIN)
    second = services.create_pupil(school=school, last_name="В", first_name="Г")
    assert first.account_number == f"{school.account_prefix}000001{luhn_digit('1001000001')}"
    assert second.account_number.startswith("1001000002")
    assert is_valid_account_number(first.account_number)
    typo = (
        first.account_number[:-2]
        + str((int(first.account_number[-2]) + 1) % 10)
        + first.account_number[-1]
    )
    assert not is_valid_account_number(typo)


def test_birth_date_and_sex_are_taken_from_the_iin(school: Any) -> None:
    pupil = services.create_pupil(school=school, last_name="А", first_name="Б", iin=IIN)
    assert pupil.person.birth_date == dt.date(2012, 5, 3)
    assert pupil.person.sex == "F"


def test_a_birth_date_or_sex_that_disagrees_with_the_iin_is_refused(school: Any) -> None:
    with pytest.raises(ValidationError) as error:
        services.create_pupil(
            school=school, last_name="А", first_name="Б", iin=IIN, birth_date=dt.date(2012, 5, 4)
        )
    assert "birth_date" in error.value.message_dict
    with pytest.raises(ValidationError) as error:
        services.create_pupil(school=school, last_name="А", first_name="Б", iin=IIN, sex="M")
    assert "sex" in error.value.message_dict
    assert not Person.objects.exists() and not Pupil.objects.exists()


def test_a_bad_iin_names_the_field(school: Any) -> None:
    with pytest.raises(ValidationError) as error:
        services.create_pupil(school=school, last_name="А", first_name="Б", iin="120503600128")
    assert list(error.value.message_dict) == ["iin"]


def test_an_iin_is_unique_within_a_school_but_not_across_schools(
    school: Any, other_school: Any
) -> None:
    services.create_pupil(school=school, last_name="А", first_name="Б", iin=IIN)
    services.create_pupil(school=other_school, last_name="А", first_name="Б", iin=IIN)
    with pytest.raises(Exception):  # noqa: B017 - IntegrityError on either engine
        services.create_pupil(school=school, last_name="А", first_name="Б", iin=IIN)


def test_the_iin_is_encrypted_at_rest(school: Any) -> None:
    pupil = services.create_pupil(school=school, last_name="А", first_name="Б", iin=IIN)
    with connection.cursor() as cursor:
        cursor.execute("SELECT iin, iin_digest FROM people_person WHERE id = %s", [pupil.person_id])
        stored, digest = cursor.fetchone()
    assert IIN not in stored and IIN not in digest
    assert Person.objects.get(pk=pupil.person_id).iin == IIN


def test_a_parent_of_children_in_two_schools_sees_both(school: Any, other_school: Any) -> None:
    phone = "+77011112233"
    older = services.create_pupil(school=school, last_name="Қасымов", first_name="Арман")
    younger = services.create_pupil(school=other_school, last_name="Қасымова", first_name="Дана")
    for child in (older, younger):
        services.add_guardian(
            pupil=child, last_name="Қасымова", first_name="Жанар", phone=phone, relation="mother"
        )
    user = User.objects.create_user(phone=phone)
    assert services.link_guardian_accounts(user=user) == 2
    assert set(children_of(user)) == {older, younger}
    assert set(
        Membership.objects.filter(user=user, role=Role.PARENT).values_list("school_id", flat=True)
    ) == {school.pk, other_school.pk}
    # Linking again changes nothing.
    assert services.link_guardian_accounts(user=user) == 2
    assert Membership.objects.filter(user=user).count() == 2


def test_siblings_share_one_guardian_record(school: Any) -> None:
    phone = "+77011112244"
    one = services.create_pupil(school=school, last_name="Ахметов", first_name="Ержан")
    two = services.create_pupil(school=school, last_name="Ахметова", first_name="Аружан")
    for child in (one, two):
        services.add_guardian(
            pupil=child, last_name="Ахметов", first_name="Бауыржан", phone=phone, relation="father"
        )
    assert Person.objects.filter(school=school, phone=phone).count() == 1


def test_class_letters_are_kazakh_capitals(school: Any) -> None:
    SchoolClass(school=school, grade=5, letter="Ә").full_clean()
    for bad in ("a", "Ь", "AB"):
        with pytest.raises(ValidationError):
            SchoolClass(school=school, grade=5, letter=bad).full_clean()
    with pytest.raises(ValidationError):
        SchoolClass(school=school, grade=12, letter="А").full_clean()
