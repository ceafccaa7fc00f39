"""The parents' API for subject rights: /api/v1/privacy/subjects, /requests, /export."""

from __future__ import annotations

from typing import Any

import pytest
from django.test import Client

from kezekshi.accounts.services import issue_api_token
from kezekshi.people.models import Pupil
from kezekshi.privacy.models import AuditEntry, SubjectRequest
from kezekshi.privacy.tests.family import Family, make_family, signed_in, stranger_with_child

pytestmark = pytest.mark.django_db
API = "/api/v1/privacy"


@pytest.fixture
def family(pupil: Pupil) -> Family:
    return make_family(pupil)


@pytest.fixture
def app(family: Family) -> Client:
    """The mother's phone app: a bearer token, no session."""
    token = issue_api_token(user=family.mother)
    return Client(HTTP_AUTHORIZATION=f"Bearer {token}", HTTP_ACCEPT_LANGUAGE="en")


def post(client: Client, body: dict[str, Any], url: str = f"{API}/requests") -> Any:
    return client.post(url, body, content_type="application/json")


def test_the_subjects_are_me_and_my_children(app: Client, family: Family) -> None:
    body = app.get(f"{API}/subjects").json()
    assert [s["key"] for s in body] == ["me", str(family.first.pk), str(family.second.pk)]
    assert body[1]["name"] == family.first.person.full_name and body[1]["blocked"] is False


def test_everything_held_about_a_child_and_the_copy_is_logged(app: Client, family: Family) -> None:
    response = app.get(f"{API}/subjects/{family.first.pk}/data")
    assert response.status_code == 200
    keys = [s["key"] for s in response.json()["sections"]]
    assert {"person_records", "consents", "requests", "processing_log"} <= set(keys)
    entry = AuditEntry.objects.get(action=AuditEntry.Action.EXPORT)
    assert entry.person == family.first.person and entry.details["form"] == "api"


def test_the_family_export(app: Client, family: Family) -> None:
    body = app.get(f"{API}/export").json()
    assert len(body["subjects"]) == 3 and body["format"] == "kezekshi-subject-data"


def test_someone_elses_child_is_refused_with_a_clear_error(family: Family, school: Any) -> None:
    stranger, _child = stranger_with_child(school)
    client = signed_in(stranger)
    for response in (
        client.get(f"{API}/subjects/{family.first.pk}/data"),
        post(client, {"kind": "block", "subject": str(family.first.pk)}),
    ):
        assert response.status_code == 403
        assert response.json()["code"] == "not_representative"
    assert AuditEntry.objects.filter(action=AuditEntry.Action.REFUSED, actor=stranger).count() == 2
    assert not SubjectRequest.objects.exists()


def test_a_request_is_created_once(app: Client, family: Family) -> None:
    body = {"kind": "block", "subject": str(family.first.pk), "message": "Wrong IIN"}
    first = post(app, body)
    assert first.status_code == 201
    created = first.json()
    assert created["status"] == "open" and created["message"] == "Wrong IIN"
    assert created["deadline"] > created["received"]
    again = post(app, body)
    assert again.status_code == 200 and again.json()["id"] == created["id"]
    listed = app.get(f"{API}/requests").json()
    assert [row["id"] for row in listed] == [created["id"]]


def test_an_erasure_the_law_does_not_allow_comes_back_refused(app: Client, family: Family) -> None:
    response = post(app, {"kind": "erase", "subject": str(family.second.pk)})
    assert response.status_code == 201
    assert response.json()["status"] == "refused"
    assert "while they study there" in response.json()["answer"]


def test_a_correction_and_its_errors(app: Client, family: Family) -> None:
    subject = str(family.first.pk)
    bad = post(app, {"kind": "rectify", "subject": subject, "changes": {"iin": "12"}})
    assert bad.status_code == 422 and bad.json()["code"] == "invalid_iin"
    same = post(app, {"kind": "rectify", "subject": subject, "changes": {"first_name": "Әлия"}})
    assert same.status_code == 422 and same.json()["code"] == "nothing_to_change"
    good = post(app, {"kind": "rectify", "subject": subject, "changes": {"first_name": "Алия"}})
    assert good.status_code == 201 and good.json()["kind"] == "rectify"


def test_a_withdrawal(app: Client, family: Family) -> None:
    response = post(
        app, {"kind": "withdraw", "subject": str(family.first.pk), "consent_kind": "fingerprint"}
    )
    assert response.status_code == 201 and response.json()["status"] == "done"


def test_unknown_kinds_are_refused(app: Client) -> None:
    response = post(app, {"kind": "delete_everything"})
    assert response.status_code == 422 and response.json()["code"] == "unknown_kind"


def test_own_contact_details_change_at_once(app: Client, family: Family) -> None:
    response = app.patch(
        f"{API}/me/contact", {"email": "g@example.kz", "language": "kk"}, "application/json"
    )
    assert response.status_code == 200
    assert response.json() == {
        "changed": ["email", "language"],
        "email": "g@example.kz",
        "language": "kk",
    }


def test_signed_out_callers_are_refused(db: None) -> None:
    assert Client().get(f"{API}/subjects").status_code == 401
