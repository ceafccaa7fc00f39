"""The data-protection officer's queue: overdue first, answer, carry out, stay in the school."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from django.test import Client

from kezekshi.accounts.models import User
from kezekshi.accounts.roles import Role
from kezekshi.conftest import make_school, verified_client
from kezekshi.people import services as people_services
from kezekshi.people.models import Person, Pupil
from kezekshi.privacy import requests
from kezekshi.privacy.models import AuditEntry, SubjectRequest
from kezekshi.privacy.subject_data import subject_for
from kezekshi.privacy.tests.family import MOTHER_PHONE, Family, make_family, signed_in

pytestmark = pytest.mark.django_db
QUEUE = "/privacy/requests/"
RESOLVE = "/privacy/requests/resolve/"


@pytest.fixture
def family(pupil: Pupil) -> Family:
    return make_family(pupil)


@pytest.fixture
def dpo(school: Any, make_user: Any) -> Client:
    return english(make_user(Role.DPO, school, full_name="Officer"))


def english(user: User) -> Client:
    client = verified_client(user)
    client.defaults["HTTP_ACCEPT_LANGUAGE"] = "en"
    return client


def file(family: Family, kind: str, pupil: Pupil | None = None) -> SubjectRequest:
    subject = subject_for(family.mother, str((pupil or family.first).pk), action="test")
    return requests.file_request(subject=subject, kind=kind).request


def test_the_queue_shows_overdue_requests_first(family: Family, dpo: Client) -> None:
    block = file(family, "block")
    access = file(family, "access", family.second)
    SubjectRequest.objects.filter(pk=access.pk).update(
        deadline=dt.datetime(2026, 1, 5, tzinfo=dt.UTC)
    )
    page = dpo.get(QUEUE).content.decode()
    assert page.index(f"request={access.pk}") < page.index(f"request={block.pk}")
    assert "1 overdue" in page


def test_the_officer_blocks_a_child_and_the_parent_reads_the_answer(
    family: Family, dpo: Client
) -> None:
    row = file(family, "block")
    detail = dpo.get(QUEUE, {"request": row.pk}).content.decode()
    assert family.first.person.full_name in detail and "Done blocks the data at once" in detail
    assert AuditEntry.objects.filter(
        action=AuditEntry.Action.VIEW, person=row.subject_person
    ).exists()
    response = dpo.post(RESOLVE, {"request": row.pk, "decision": "done", "answer": "Blocked."})
    assert response.status_code == 302
    assert Person.objects.get(pk=family.first.person_id).blocked_at is not None
    parent_page = signed_in(family.mother).get("/app/privacy/").content.decode()
    assert "Blocked." in parent_page


def test_a_refusal_without_an_answer_is_sent_back(family: Family, dpo: Client) -> None:
    row = file(family, "block")
    response = dpo.post(RESOLVE, {"request": row.pk, "decision": "refused"}, follow=True)
    assert "Say why the request is refused" in response.content.decode()
    row.refresh_from_db()
    assert row.status == "open"


def test_a_correction_is_reviewed_beside_the_record(family: Family, dpo: Client) -> None:
    subject = subject_for(family.mother, str(family.first.pk), action="test")
    row = requests.request_correction(subject=subject, changes={"iin": "120503600018"}).request
    detail = dpo.get(QUEUE, {"request": row.pk}).content.decode()
    assert "120503600127" in detail and "120503600018" in detail
    dpo.post(RESOLVE, {"request": row.pk, "decision": "done"})
    assert Person.objects.get(pk=family.first.person_id).iin == "120503600018"


def test_another_schools_requests_are_out_of_reach(
    family: Family, make_user: Any, school: Any
) -> None:
    row = file(family, "block")
    elsewhere = make_school(prefix=4001)
    other = verified_client(make_user(Role.DPO, elsewhere))
    assert other.get(QUEUE, {"request": row.pk}).status_code == 404
    assert f"request={row.pk}" not in other.get(QUEUE).content.decode()
    assert other.post(RESOLVE, {"request": row.pk, "decision": "done"}).status_code == 404
    assert Person.objects.get(pk=family.first.person_id).blocked_at is None


def test_requests_about_accounts_alone_go_to_the_platform_operator(
    db: None, school: Any, make_user: Any
) -> None:
    user = User.objects.create_user(phone="+77019990001")
    row = requests.file_request(subject=subject_for(user, "me", action="t"), kind="erase").request
    operator = verified_client(make_user(Role.PLATFORM_OPERATOR))
    assert f"request={row.pk}" in operator.get(QUEUE).content.decode()
    school_dpo = verified_client(make_user(Role.DPO, school))
    assert f"request={row.pk}" not in school_dpo.get(QUEUE).content.decode()


def test_staff_without_the_permission_are_refused(school: Any, make_user: Any) -> None:
    teacher = verified_client(make_user(Role.CLASS_TEACHER, school))
    assert teacher.get(QUEUE).status_code == 403
    assert teacher.post(RESOLVE, {"request": 1, "decision": "done"}).status_code == 403


def test_home_shows_the_officer_how_many_are_open(family: Family, dpo: Client) -> None:
    file(family, "block")
    file(family, "access")
    assert "2 open" in dpo.get("/").content.decode()


def test_the_parent_of_two_schools_sees_both_answers(family: Family, make_user: Any) -> None:
    elsewhere = make_school(prefix=4002)
    child = people_services.create_pupil(school=elsewhere, last_name="Сейтқали", first_name="Ая")
    people_services.add_guardian(
        pupil=child,
        last_name="Сейтқали",
        first_name="Гүлнар",
        phone=MOTHER_PHONE,
        relation="mother",
    )
    row = file(family, "access", child)
    assert row.school == elsewhere
    officer = verified_client(make_user(Role.DPO, elsewhere))
    officer.post(RESOLVE, {"request": row.pk, "decision": "done", "answer": "Nobody else."})
    assert "Nobody else." in signed_in(family.mother).get("/app/privacy/").content.decode()


def test_an_answered_withdrawal_names_the_consent(family: Family, dpo: Client) -> None:
    from kezekshi.privacy.services import Context

    subject = subject_for(family.mother, str(family.first.pk), action="test")
    row = requests.withdraw(subject=subject, consent_kind="face", context=Context()).request
    detail = dpo.get(QUEUE, {"status": "closed", "request": str(row.pk)}).content.decode()
    assert "Face image (biometric)" in detail and "Consent withdrawn." in detail
