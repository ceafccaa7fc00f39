"""The data-protection officer's pages: disclosures to state bodies and breaches."""

from __future__ import annotations

from typing import Any

import pytest
from django.test import Client
from django_tasks_db.models import DBTaskResult

from kezekshi.accounts.roles import Role
from kezekshi.conftest import verified_client
from kezekshi.core.models import School
from kezekshi.people import services as people_services
from kezekshi.people.models import Pupil
from kezekshi.privacy.models import AuditEntry, Breach, Disclosure

pytestmark = pytest.mark.django_db
MOTHER = "+77013330001"
PAGES = [
    "/privacy/disclosures/",
    "/privacy/breaches/",
    "/privacy/breaches/new/",
    "/privacy/breaches/notice/",
]
ACTIONS = ["/privacy/breaches/authority-notified/", "/privacy/breaches/notify-subjects/"]


@pytest.fixture
def dpo_client(school: School, make_user: Any) -> Client:
    # The pages are read in English here; the translations have their own tests.
    return verified_client(make_user(Role.DPO, school, language="en"))


@pytest.fixture
def guardian(pupil: Pupil) -> Pupil:
    people_services.add_guardian(
        pupil=pupil, last_name="Сейтқали", first_name="Дана", phone=MOTHER, relation="mother"
    )
    return pupil


BREACH_FORM = {
    "detected_at": "2025-12-12T15:00",
    "description": "A printed class list with IINs was left in the hall.",
    "measures": "The list was collected and shredded.",
    "responsible_name": "Айгүл Нұрланова",
    "responsible_phone": "+77015550011",
    "responsible_email": "",
}


@pytest.mark.parametrize("role", [Role.GUARD, Role.CLASS_TEACHER, Role.AUTHORITY_VIEWER])
def test_staff_without_the_permission_cannot_open_these_pages(
    role: Role, school: School, make_user: Any, guardian: Pupil
) -> None:
    client = verified_client(make_user(role, school))
    for url in PAGES:
        assert client.get(url).status_code == 403, url
    for url in [*ACTIONS, "/privacy/disclosures/", "/privacy/breaches/new/"]:
        assert client.post(url, {"breach": 1}).status_code == 403, url


@pytest.mark.parametrize("role", [Role.DPO, Role.SCHOOL_ADMIN, Role.PLATFORM_OPERATOR])
def test_the_dpo_the_school_admin_and_the_operator_can(
    role: Role, school: School, make_user: Any
) -> None:
    client = verified_client(make_user(role, school))
    for url in PAGES:
        assert client.get(url).status_code == 200, url
    assert "/privacy/breaches/" in client.get("/").content.decode()


def test_the_dpo_records_a_disclosure_by_iin(dpo_client: Client, pupil: Pupil) -> None:
    form = {
        "iin": "120503600127",
        "body": "Ювенальная полиция",
        "legal_ground": "УПК РК ст. 122",
        "request_number": "7/2025",
        "data_sent": "ФИО, ИИН",
        "disclosed_on": "2025-11-20",
        "visible_to_subject": "on",
    }
    response = dpo_client.post("/privacy/disclosures/", form)
    assert response.status_code == 302
    disclosure = Disclosure.objects.get()
    assert (disclosure.person, disclosure.visible_to_subject) == (pupil.person, True)
    listing = dpo_client.get("/privacy/disclosures/").content.decode()
    assert "Ювенальная полиция" in listing and pupil.person.full_name in listing
    unknown = dpo_client.post("/privacy/disclosures/", {**form, "iin": "850101300126"})
    assert unknown.status_code == 200 and Disclosure.objects.count() == 1


def test_a_breach_goes_from_the_form_to_the_notice_and_the_subjects(
    dpo_client: Client, school: School, guardian: Pupil
) -> None:
    other = people_services.create_pupil(school=school, last_name="Омарова", first_name="Айша")
    affected = f"{guardian.person.iin}\n{other.account_number}"
    response = dpo_client.post("/privacy/breaches/new/", {**BREACH_FORM, "affected_ids": affected})
    assert response.status_code == 302
    breach = Breach.objects.get()
    assert set(breach.affected.all()) == {guardian.person, other.person}
    # Typed in Almaty time: 15:00 there is 10:00 UTC.
    assert breach.detected_at.isoformat() == "2025-12-12T10:00:00+00:00"

    listing = dpo_client.get("/privacy/breaches/").content.decode()
    assert "15.12.2025 15:00" in listing  # due on Monday: a weekend in between
    assert "report overdue" in listing

    notice = dpo_client.get(f"/privacy/breaches/notice/?breach={breach.pk}").content.decode()
    assert "120503600127" in notice and MOTHER in notice
    assert "Айгүл Нұрланова" in notice and school.bin in notice
    pending = dpo_client.get("/privacy/breaches/notice/").content.decode()
    assert "120503600127" in pending  # not reported yet: in the list of notices to send

    dpo_client.post("/privacy/breaches/authority-notified/", {"breach": breach.pk})
    breach.refresh_from_db()
    assert breach.authority_notified_at is not None
    assert "120503600127" not in dpo_client.get("/privacy/breaches/notice/").content.decode()

    first = dpo_client.post(
        "/privacy/breaches/notify-subjects/", {"breach": breach.pk}, follow=True
    )
    assert DBTaskResult.objects.count() == 1  # the mother; Айша has no guardian on record
    assert "Омарова Айша" in first.content.decode()
    dpo_client.post("/privacy/breaches/notify-subjects/", {"breach": breach.pk})
    assert DBTaskResult.objects.count() == 1
    steps = AuditEntry.objects.filter(action=AuditEntry.Action.BREACH).values_list(
        "details__step", flat=True
    )
    assert list(steps) == [
        "recorded",
        "notice_shown",
        "notice_shown",
        "authority_notified",
        "subjects_notified",
    ]


def test_the_breach_form_explains_what_is_wrong(dpo_client: Client, school: School) -> None:
    response = dpo_client.post(
        "/privacy/breaches/new/", {**BREACH_FORM, "affected_ids": "123456789012 00000000000"}
    )
    assert response.status_code == 200
    assert "123456789012, 00000000000" in response.content.decode()
    empty = dpo_client.post("/privacy/breaches/new/", BREACH_FORM)
    assert empty.status_code == 200 and not Breach.objects.exists()


def test_another_schools_breach_is_not_found(
    school: School, other_school: School, make_user: Any, pupil: Pupil
) -> None:
    owner = verified_client(make_user(Role.DPO, school))
    owner.post("/privacy/breaches/new/", {**BREACH_FORM, "affected_ids": pupil.person.iin})
    breach = Breach.objects.get()
    stranger = verified_client(make_user(Role.DPO, other_school))
    assert stranger.get(f"/privacy/breaches/notice/?breach={breach.pk}").status_code == 404
    assert "120503600127" not in stranger.get("/privacy/breaches/notice/").content.decode()
    action = stranger.post("/privacy/breaches/notify-subjects/", {"breach": breach.pk})
    assert action.status_code == 404
