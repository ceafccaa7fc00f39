"""The parents' subject-rights pages: see, print, download, ask, correct, withdraw."""

from __future__ import annotations

import json
from typing import Any

import pytest

from kezekshi.people.models import Pupil
from kezekshi.privacy.models import AuditEntry, SubjectRequest
from kezekshi.privacy.requests import block_person
from kezekshi.privacy.tests.family import Family, make_family, signed_in, stranger_with_child

pytestmark = pytest.mark.django_db


@pytest.fixture
def family(pupil: Pupil) -> Family:
    return make_family(pupil)


def test_home_links_to_the_privacy_pages(family: Family) -> None:
    client = signed_in(family.mother)
    assert "/app/privacy/" in client.get("/app/").content.decode()
    page = client.get("/app/privacy/").content.decode()
    assert family.first.person.full_name in page and family.second.person.full_name in page
    assert "3 working days" in page


def test_everything_held_about_a_child(family: Family) -> None:
    page = signed_in(family.mother).get(f"/app/privacy/{family.first.pk}/")
    text = page.content.decode()
    assert page.status_code == 200
    assert "120503600127" in text and "5 Ә" in text and "Who processed the data" in text
    assert 'name="email"' not in text  # contact details are the parent's own page


def test_the_printable_page_and_the_download(family: Family) -> None:
    client = signed_in(family.mother)
    printable = client.get(f"/app/privacy/{family.first.pk}/print/")
    assert printable.status_code == 200 and "window.print()" in printable.content.decode()
    download = client.get("/app/privacy/me/export.json")
    assert download["Content-Disposition"].startswith("attachment; filename=")
    assert json.loads(download.content)["subject"]["key"] == "me"
    family_file = json.loads(client.get("/app/privacy/export.json").content)
    assert len(family_file["subjects"]) == 3
    forms = set(
        AuditEntry.objects.filter(action=AuditEntry.Action.EXPORT).values_list(
            "details__form", flat=True
        )
    )
    assert forms == {"print", "json"}


def test_someone_elses_child_gets_a_refusal_page(family: Family, school: Any) -> None:
    stranger, _child = stranger_with_child(school)
    client = signed_in(stranger)
    for response in (
        client.get(f"/app/privacy/{family.first.pk}/"),
        client.post(f"/app/privacy/{family.first.pk}/request/", {"kind": "erase"}),
        client.get(f"/app/privacy/{family.first.pk}/export.json"),
    ):
        assert response.status_code == 403
        assert "Only a legal representative" in response.content.decode()
    assert not SubjectRequest.objects.exists()
    assert AuditEntry.objects.filter(action=AuditEntry.Action.REFUSED).count() == 3


def test_a_guardian_without_representation_is_refused_too(family: Family) -> None:
    response = signed_in(family.grandmother).get(f"/app/privacy/{family.first.pk}/")
    assert response.status_code == 403


def test_filing_a_request_twice_gives_one_request(family: Family) -> None:
    client = signed_in(family.mother)
    url = f"/app/privacy/{family.first.pk}/request/"
    first = client.post(url, {"kind": "block", "message": "wrong data"}, follow=True)
    assert "received" in first.content.decode()
    again = client.post(url, {"kind": "block"}, follow=True)
    assert "received already" in again.content.decode()
    assert SubjectRequest.objects.count() == 1


def test_a_refused_erasure_says_why(family: Family) -> None:
    response = signed_in(family.mother).post(
        f"/app/privacy/{family.first.pk}/request/", {"kind": "erase"}, follow=True
    )
    assert "Request refused" in response.content.decode()
    assert "while they study there" in response.content.decode()


def test_the_correction_form(family: Family) -> None:
    client = signed_in(family.mother)
    url = f"/app/privacy/{family.first.pk}/correct/"
    form = client.get(url).content.decode()
    assert 'value="120503600127"' in form and 'name="school_class"' in form
    values = {
        "last_name": "Сейтқали",
        "first_name": "Әлия",
        "patronymic": "",
        "iin": "120503600127",
        "birth_date": "2012-05-03",
        "sex": "F",
        "school_class": str(family.first.school_class_id),
    }
    bad = client.post(url, {**values, "iin": "1234"})
    assert bad.status_code == 422 and "IIN" in bad.content.decode()
    good = client.post(url, {**values, "first_name": "Алия"})
    assert good.status_code == 302
    row = SubjectRequest.objects.get()
    assert row.kind == "rectify" and row.payload["changes"] == {"first_name": "Алия"}


def test_own_contact_details(family: Family) -> None:
    client = signed_in(family.mother)
    assert 'name="email"' in client.get("/app/privacy/me/").content.decode()
    response = client.post("/app/privacy/contact/", {"email": "g@example.kz", "language": "en"})
    assert response.status_code == 302
    family.mother.refresh_from_db()
    assert family.mother.email == "g@example.kz"
    bad = client.post("/app/privacy/contact/", {"email": "nope", "language": "en"})
    assert bad.status_code == 422


def test_withdrawing_a_childs_biometric_consent(family: Family) -> None:
    response = signed_in(family.mother).post(
        f"/app/privacy/{family.first.pk}/withdraw/", {"consent_kind": "face"}, follow=True
    )
    assert "Consent withdrawn." in response.content.decode()
    assert SubjectRequest.objects.get().status == "done"


def test_a_blocked_child_is_still_shown_to_the_parent(family: Family) -> None:
    block_person(person=family.first.person, by=None)
    client = signed_in(family.mother)
    home = client.get("/app/").content.decode()
    assert family.first.person.first_name in home
    page = client.get(f"/app/privacy/{family.first.pk}/").content.decode()
    assert "Blocked" in page and 'value="unblock"' in page and 'value="block"' not in page


def test_signed_out_visitors_are_sent_to_sign_in(family: Family) -> None:
    from django.test import Client

    response = Client().get(f"/app/privacy/{family.first.pk}/")
    assert response.status_code == 302 and response["Location"].startswith("/app/")
