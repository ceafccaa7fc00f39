"""Everything held about a subject: the registry, each section, the export and its audit."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterator
from typing import Any

import pytest
from django.utils import translation

from kezekshi.accounts.roles import Role
from kezekshi.accounts.services import request_sign_in_code
from kezekshi.people.models import Pupil
from kezekshi.privacy import audit, requests, services, subject_data
from kezekshi.privacy.models import AuditEntry, Disclosure, Kind
from kezekshi.privacy.tests.family import MOTHER_PHONE, Family, make_family

pytestmark = pytest.mark.django_db


@pytest.fixture
def family(pupil: Pupil) -> Family:
    return make_family(pupil)


@pytest.fixture(autouse=True)
def _english() -> Iterator[None]:
    with translation.override("en"):
        yield


def sections_of(document: dict[str, Any]) -> dict[str, list[dict[str, Any]]]:
    return {found["key"]: found["items"] for found in document["sections"]}


def child(family: Family, pupil: Pupil | None = None) -> subject_data.Subject:
    return subject_data.subject_for(family.mother, str((pupil or family.first).pk), action="t")


def test_the_subjects_are_the_user_and_each_represented_child(family: Family) -> None:
    subjects = subject_data.subjects_of(family.mother)
    assert [s.key for s in subjects] == ["me", str(family.first.pk), str(family.second.pk)]
    assert subjects[0].is_self and len(subjects[0].persons) == 1
    # The grandmother may pick the child up but does not represent her.
    assert [s.key for s in subject_data.subjects_of(family.grandmother)] == ["me"]


def test_a_child_who_left_is_still_a_subject(family: Family) -> None:
    Pupil.objects.filter(pk=family.second.pk).update(is_active=False)
    keys = [s.key for s in subject_data.subjects_of(family.mother)]
    assert str(family.second.pk) in keys


def test_a_childs_record_class_guardians_consents_and_requests(
    family: Family, school: Any, make_user: Any
) -> None:
    services.withdraw_consent(
        user=family.mother, subject_person=family.first.person, kind=Kind.FACE
    )
    requests.file_request(subject=child(family), kind="access", message="Who saw her card?")
    held = sections_of(subject_data.export(child(family)))

    (record,) = held["person_records"]
    assert record["iin"] == "120503600127" and record["birth_date"] == "2012-05-03"
    assert record["blocked_since"] is None
    (enrolment,) = held["enrolment"]
    assert (
        enrolment["class"] == "5 Ә" and enrolment["personal_account"] == family.first.account_number
    )
    guardians = {row["guardian"]: row for row in held["guardianships"]}
    assert guardians["Сейтқали Гүлнар"]["legal_representative"] is True
    assert guardians["Омарова Бибігүл"]["legal_representative"] is False
    assert "phone" not in guardians["Омарова Бибігүл"]  # the guardians' contacts are theirs
    (consent,) = held["consents"]
    assert consent["decision"] == "Consent withdrawn" and consent["given_by"] == "you"
    (request_row,) = held["requests"]
    assert request_row["message"] == "Who saw her card?" and request_row["status"] == "Open"
    assert held["account"] == [] and held["sign_in_codes"] == []


def test_where_a_consent_was_given_from_is_shown_to_its_giver_only(family: Family) -> None:
    services.withdraw_consent(
        user=family.mother,
        subject_person=family.first.person,
        kind=Kind.PROCESSING,
        context=services.Context(ip="10.1.2.3"),
    )
    mine = sections_of(subject_data.export(child(family)))["consents"][0]
    assert mine["ip"] == "10.1.2.3"
    family.first.guardianships.filter(guardian__person__user=family.grandmother).update(
        is_legal_representative=True
    )
    theirs = subject_data.subject_for(family.grandmother, str(family.first.pk), action="t")
    row = sections_of(subject_data.export(theirs))["consents"][0]
    assert row["ip"] is None and row["given_by"] == "another legal representative"


def test_only_disclosures_the_subject_may_see_are_shown(family: Family, make_user: Any) -> None:
    staff = make_user(Role.DPO, family.first.school)
    common = {
        "school": family.first.school,
        "person": family.first.person,
        "legal_ground": "Law on education, art. 1",
        "data_sent": "name, class",
        "disclosed_on": dt.date(2026, 10, 1),
        "recorded_by": staff,
    }
    Disclosure.objects.create(body="Education department", request_number="17", **common)
    Disclosure.objects.create(
        body="Investigation", request_number="99", visible_to_subject=False, **common
    )
    (shown,) = sections_of(subject_data.export(child(family)))["disclosures"]
    assert shown["state_body"] == "Education department"


def test_the_processing_log_names_roles_not_staff(family: Family, make_user: Any) -> None:
    school = family.first.school
    guard = make_user(Role.GUARD, school, full_name="Ерболат Guard")
    operator = make_user(Role.PLATFORM_OPERATOR)
    for actor in (guard, operator, None, family.mother):
        audit.record(
            action=AuditEntry.Action.VIEW, actor=actor, school=school, person=family.first.person
        )
    log = sections_of(subject_data.export(child(family)))["processing_log"]
    assert [row["by"] for row in log] == [
        "Security guard", "Platform operator", "the system", "you",
    ]  # fmt: skip
    assert all(row["action"] == "Viewed a person's card" for row in log)
    assert "Ерболат" not in json.dumps(log, ensure_ascii=False)


def test_the_users_own_account_sign_in_codes_and_wards(family: Family) -> None:
    request_sign_in_code(phone=MOTHER_PHONE, ip="10.0.0.7")
    me = subject_data.subject_for(family.mother, "me", action="t")
    held = sections_of(subject_data.export(me))
    (account,) = held["account"]
    assert account["phone"] == MOTHER_PHONE
    assert any("Parent" in role for role in account["roles"])
    (code,) = held["sign_in_codes"]
    assert code["ip"] == "10.0.0.7" and set(code) == {"sent", "expires", "attempts", "used", "ip"}
    assert sorted(row["child"] for row in held["guardianships"]) == [
        "Сейтқали Арман", "Сейтқали Әлия",
    ]  # fmt: skip
    assert held["enrolment"] == []


def test_a_section_an_app_registers_appears_in_the_export_and_pages(
    family: Family, monkeypatch: Any
) -> None:
    monkeypatch.setattr(subject_data, "_SECTIONS", dict(subject_data._SECTIONS))

    @subject_data.section("library_loans", "Library loans", labels={"title": "Book"}, order=75)
    def loans(subject: subject_data.Subject) -> list[dict[str, Any]]:
        return [{"title": "Абай жолы", "due": dt.date(2026, 12, 1)}]

    document = subject_data.export(child(family))
    assert sections_of(document)["library_loans"] == [{"title": "Абай жолы", "due": "2026-12-01"}]
    held = {found.section.key: found for found in subject_data.held_about(child(family))}
    assert held["library_loans"].table() == (["Book", "due"], [["Абай жолы", "01.12.2026"]])


def test_the_family_export_is_json_and_names_everyone(family: Family) -> None:
    document = subject_data.family_export(family.mother)
    text = json.dumps(document, ensure_ascii=False)
    assert [s["subject"]["key"] for s in document["subjects"]] == [
        "me", str(family.first.pk), str(family.second.pk),
    ]  # fmt: skip
    assert "Сейтқали Арман" in text and "150101500011" in text


def test_taking_a_copy_is_in_the_audit_log(family: Family) -> None:
    subject_data.record_export(
        subject_data.subjects_of(family.mother), user=family.mother, form="json"
    )
    entries = AuditEntry.objects.filter(action=AuditEntry.Action.EXPORT, actor=family.mother)
    assert {entry.person for entry in entries} == {
        family.first.person, family.second.person, *family.mother.persons.all(),
    }  # fmt: skip
