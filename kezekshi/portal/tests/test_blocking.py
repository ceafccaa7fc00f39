"""A blocked person is shown only where safety needs it: the rules for what exists today."""

from __future__ import annotations

from typing import Any

import pytest

from kezekshi.accounts.roles import Role
from kezekshi.accounts.services import issue_api_token
from kezekshi.conftest import verified_client
from kezekshi.people.models import Pupil
from kezekshi.privacy.blocking import SAFETY_ROLES, sees_blocked
from kezekshi.privacy.requests import block_person
from kezekshi.privacy.tests.family import MOTHER_PHONE, Family, make_family

pytestmark = pytest.mark.django_db
OTHER_STAFF = [Role.CLASS_TEACHER, Role.CASHIER, Role.LIBRARIAN, Role.SOCIAL_PEDAGOGUE]
SAFETY = [Role.GUARD, Role.SCHOOL_ADMIN, Role.DPO, Role.PLATFORM_OPERATOR]


def english(user: Any) -> Any:
    client = verified_client(user)
    client.defaults["HTTP_ACCEPT_LANGUAGE"] = "en"
    return client


@pytest.fixture
def family(pupil: Pupil) -> Family:
    family = make_family(pupil)
    block_person(person=pupil.person, by=None, reason="parent's request")
    return family


def test_the_safety_roles(school: Any, make_user: Any) -> None:
    assert set(SAFETY) == set(SAFETY_ROLES)
    for role in Role:
        user = make_user(role, school)
        assert sees_blocked(user, school) == (role in SAFETY_ROLES), role


@pytest.mark.parametrize("role", OTHER_STAFF)
def test_other_staff_never_see_a_blocked_pupil(role: Role, family: Family, make_user: Any) -> None:
    client = english(make_user(role, family.first.school))
    listing = client.get("/pupils/").content.decode()
    assert family.first.person.full_name not in listing
    assert family.second.person.full_name in listing
    assert client.get(f"/pupils/{family.first.pk}/").status_code == 404


@pytest.mark.parametrize("role", SAFETY)
def test_the_safety_roles_see_a_blocked_pupil_marked_without_details(
    role: Role, family: Family, make_user: Any
) -> None:
    client = english(make_user(role, family.first.school))
    listing = client.get("/pupils/").content.decode()
    assert family.first.person.full_name in listing and "blocked" in listing
    assert family.first.account_number not in listing
    card = client.get(f"/pupils/{family.first.pk}/")
    text = card.content.decode()
    assert card.status_code == 200 and "Blocked" in text
    assert family.first.account_number not in text and "03.05.2012" not in text


def test_a_blocked_guardian_is_hidden_from_other_staff_and_shown_without_phone(
    pupil: Pupil, make_user: Any
) -> None:
    family = make_family(pupil)
    grandmother = family.grandmother.persons.get()
    block_person(person=grandmother, by=None)
    card = f"/pupils/{pupil.pk}/"
    teacher = english(make_user(Role.CLASS_TEACHER, pupil.school)).get(card)
    assert grandmother.last_name not in teacher.content.decode()
    assert MOTHER_PHONE in teacher.content.decode()
    guard = english(make_user(Role.GUARD, pupil.school)).get(card).content.decode()
    assert grandmother.last_name in guard and grandmother.phone not in guard
    assert MOTHER_PHONE in guard  # the unblocked parent can still be called


def test_the_pupils_api_leaves_out_or_masks_blocked_pupils(family: Family, make_user: Any) -> None:
    school = family.first.school
    url = f"/api/v1/schools/{school.pk}/pupils"
    cashier = english(make_user(Role.CASHIER, school)).get(url).json()
    assert [row["id"] for row in cashier] == [family.second.pk]
    guard = {row["id"]: row for row in english(make_user(Role.GUARD, school)).get(url).json()}
    assert guard[family.first.pk]["blocked"] is True
    assert (
        guard[family.first.pk]["account_number"] == ""
        and guard[family.first.pk]["birth_date"] is None
    )
    assert guard[family.second.pk]["blocked"] is False


def test_the_parent_still_sees_their_blocked_child_in_the_api(family: Family) -> None:
    from django.test import Client

    token = issue_api_token(user=family.mother)
    children = Client(HTTP_AUTHORIZATION=f"Bearer {token}").get("/api/v1/me").json()["children"]
    shown = {child["id"]: child for child in children}
    assert shown[family.first.pk]["blocked"] is True
    assert shown[family.first.pk]["account_number"] == family.first.account_number
