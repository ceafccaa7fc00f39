"""The demo school: generated people of every role, importable, and usable for sign-in."""

from __future__ import annotations

import io
import re
from typing import Any

import pytest
from django.core.management import call_command
from django.test import Client

from kezekshi.accounts.models import Membership
from kezekshi.accounts.roles import STAFF_ROLES
from kezekshi.core.models import School, Shift
from kezekshi.core.validators import normalize_phone, validate_iin
from kezekshi.people.models import Guardian, Guardianship, Person, Pupil, SchoolClass

pytestmark = pytest.mark.django_db


def seed(*args: str) -> str:
    out = io.StringIO()
    call_command("seed_demo", "--pupils", "120", "--classes", "8", *args, stdout=out)
    return out.getvalue()


def test_the_demo_school_has_pupils_guardians_and_every_staff_role() -> None:
    output = seed()
    school = School.objects.get()
    assert Pupil.objects.filter(school=school).count() == 120
    assert SchoolClass.objects.filter(school=school).count() == 8
    assert set(Shift.objects.filter(school=school).values_list("number", flat=True)) == {1, 2}
    assert Guardian.objects.filter(school=school).count() >= 100
    assert Guardianship.objects.filter(school=school).count() >= 120
    roles = set(Membership.objects.filter(school=school).values_list("role", flat=True))
    assert roles >= {role.value for role in STAFF_ROLES}
    assert SchoolClass.objects.filter(school=school, class_teacher__isnull=False).count() == 8
    for person in Person.objects.filter(school=school):
        if person.iin:
            validate_iin(person.iin)
        if person.phone:
            assert normalize_phone(person.phone) == person.phone
    assert "kezekshi-demo" in output and "school-admin@demo.kezekshi.kz" in output


def test_seeding_twice_with_if_empty_leaves_the_school_alone() -> None:
    seed()
    assert "left as it is" in seed("--if-empty")
    assert School.objects.count() == 1


def test_the_printed_accounts_work(settings: Any) -> None:
    output = seed()
    client = Client()
    response = client.post(
        "/login/", {"login": "guard@demo.kezekshi.kz", "password": "kezekshi-demo"}
    )
    assert response.status_code == 302
    assert client.get("/pupils/").status_code == 200
    phone = re.search(r"sign in with (\+7\d{10})", output)
    assert phone
    parent = Client()
    assert parent.post("/app/code/", {"phone": phone.group(1)}).status_code == 200
