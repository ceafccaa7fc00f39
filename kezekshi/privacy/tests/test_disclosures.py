"""The register of disclosures to state bodies, and what the parents' app shows of it."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from django.test import Client
from django.utils import timezone

from kezekshi.accounts.models import User
from kezekshi.accounts.roles import Role
from kezekshi.core.errors import ServiceError
from kezekshi.core.models import School
from kezekshi.people import services as people_services
from kezekshi.people.models import Person, Pupil
from kezekshi.privacy.disclosures import (
    disclosures_for_parent,
    disclosures_visible_to,
    record_disclosure,
)
from kezekshi.privacy.models import AuditEntry, Disclosure

pytestmark = pytest.mark.django_db
PARENT, GRANDMOTHER = "+77012220001", "+77012220002"


def disclose(school: School, person: Person, by: User, **fields: Any) -> Disclosure:
    values: dict[str, Any] = {
        "body": "Алматы қаласы полиция департаменті",
        "legal_ground": "ҚПК 122-бабы",
        "request_number": "12-3/456",
        "data_sent": "Аты-жөні, ЖСН, сабаққа қатысуы 2025 ж. қараша",
        "disclosed_on": dt.date(2025, 11, 20),
        "visible_to_subject": True,
        **fields,
    }
    return record_disclosure(school=school, person=person, recorded_by=by, **values)


@pytest.fixture
def dpo(school: School, make_user: Any) -> User:
    return make_user(Role.DPO, school)


def test_a_disclosure_is_registered_and_audited(school: School, dpo: User, pupil: Pupil) -> None:
    disclosure = disclose(school, pupil.person, dpo)
    entry = AuditEntry.objects.get(action=AuditEntry.Action.DISCLOSE)
    assert (entry.person, entry.actor, entry.school) == (pupil.person, dpo, school)
    assert entry.details["request_number"] == "12-3/456"
    assert entry.details["disclosure"] == disclosure.pk


def test_a_person_of_another_school_or_a_future_date_is_refused(
    school: School, other_school: School, dpo: User, pupil: Pupil
) -> None:
    stranger = people_services.create_pupil(school=other_school, last_name="Б", first_name="А")
    with pytest.raises(ServiceError) as refused:
        disclose(school, stranger.person, dpo)
    assert refused.value.code == "person_not_in_school"
    tomorrow = timezone.localdate() + dt.timedelta(days=1)
    with pytest.raises(ServiceError) as refused:
        disclose(school, pupil.person, dpo, disclosed_on=tomorrow)
    assert refused.value.code == "disclosure_in_future"
    assert not Disclosure.objects.exists()
    assert not AuditEntry.objects.exists()


def test_a_disclosure_kept_from_the_subject_is_not_visible(
    school: School, dpo: User, pupil: Pupil
) -> None:
    shown = disclose(school, pupil.person, dpo)
    disclose(school, pupil.person, dpo, request_number="99/secret", visible_to_subject=False)
    assert list(disclosures_visible_to(pupil.person)) == [shown]


@pytest.fixture
def parent(pupil: Pupil) -> User:
    user = User.objects.create_user(phone=PARENT, language="en")
    people_services.add_guardian(
        pupil=pupil, last_name="Сейтқали", first_name="Ерлан", phone=PARENT, relation="father"
    )
    return user


def test_a_parent_sees_what_was_given_about_their_child(
    school: School, dpo: User, pupil: Pupil, parent: User
) -> None:
    disclose(school, pupil.person, dpo)
    disclose(school, pupil.person, dpo, request_number="99/secret", visible_to_subject=False)
    client = Client()
    client.force_login(parent, backend="kezekshi.accounts.backends.PhoneOrEmailBackend")
    page = client.get("/app/disclosures/")
    assert page.status_code == 200
    content = page.content.decode()
    assert "Алматы қаласы полиция департаменті" in content and "12-3/456" in content
    assert "99/secret" not in content


def test_a_guardian_who_is_not_a_legal_representative_sees_nothing_of_the_child(
    school: School, dpo: User, pupil: Pupil
) -> None:
    grandmother = User.objects.create_user(phone=GRANDMOTHER)
    people_services.add_guardian(
        pupil=pupil,
        last_name="Сейтқали",
        first_name="Күләш",
        phone=GRANDMOTHER,
        relation="grandparent",
        is_legal_representative=False,
    )
    disclose(school, pupil.person, dpo)
    groups = disclosures_for_parent(grandmother)
    assert [person for person, _items in groups] == [grandmother.persons.get()]
    assert all(items == [] for _person, items in groups)


def test_another_parent_sees_nothing_and_a_visitor_is_sent_to_sign_in(
    school: School, dpo: User, pupil: Pupil
) -> None:
    disclose(school, pupil.person, dpo)
    stranger = User.objects.create_user(phone="+77012220009")
    client = Client()
    client.force_login(stranger, backend="kezekshi.accounts.backends.PhoneOrEmailBackend")
    assert "12-3/456" not in client.get("/app/disclosures/").content.decode()
    anonymous = Client().get("/app/disclosures/")
    assert anonymous.status_code == 302 and anonymous["Location"] == "/app/"
