"""Subject requests: deadlines, who may file, idempotency, erasure, corrections, blocking."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from django.core.exceptions import ValidationError
from django.utils import translation

from kezekshi.accounts.models import User
from kezekshi.accounts.roles import Role
from kezekshi.conftest import make_school
from kezekshi.core.errors import ServiceError
from kezekshi.people import services as people_services
from kezekshi.people.models import Person, Pupil, SchoolClass
from kezekshi.privacy import requests, services
from kezekshi.privacy.models import AuditEntry, Consent, Kind, SubjectRequest
from kezekshi.privacy.subject_data import subject_for
from kezekshi.privacy.tests.family import (
    MOTHER_PHONE,
    Family,
    make_family,
    stranger_with_child,
)

pytestmark = pytest.mark.django_db
ALMATY = ZoneInfo("Asia/Almaty")
RequestKind = SubjectRequest.Kind
Status = SubjectRequest.Status


@pytest.fixture(autouse=True)
def _english() -> Iterator[None]:
    with translation.override("en"):
        yield


@pytest.fixture
def family(pupil: Pupil) -> Family:
    return make_family(pupil)


@pytest.fixture
def dpo(school: Any, make_user: Any) -> User:
    return make_user(Role.DPO, school)


def child_of(family: Family, pupil: Pupil | None = None) -> Any:
    return subject_for(family.mother, str((pupil or family.first).pk), action="test")


def refusals(school: Any = None) -> list[AuditEntry]:
    return list(AuditEntry.objects.filter(action=AuditEntry.Action.REFUSED).order_by("id"))


# --- deadlines -------------------------------------------------------------------------------


def test_deadlines_count_kazakh_working_days_to_the_end_of_the_last_day(db: None) -> None:
    # Friday 11 December 2026, 10:00 in Almaty; 16 December is Independence Day.
    friday = dt.datetime(2026, 12, 11, 10, 0, tzinfo=ALMATY)
    access = requests.deadline_for(RequestKind.ACCESS, friday)
    assert access == dt.datetime(2026, 12, 17, 23, 59, 59, tzinfo=ALMATY)  # Mon, Tue, Thu
    block = requests.deadline_for(RequestKind.BLOCK, friday)
    assert block == dt.datetime(2026, 12, 14, 23, 59, 59, tzinfo=ALMATY)  # Monday


def test_the_day_is_counted_in_almaty_not_in_utc(db: None) -> None:
    # 02:00 on Monday in Almaty is still Sunday in UTC: the clock starts on Monday.
    monday_night = dt.datetime(2026, 12, 6, 21, 0, tzinfo=dt.UTC)
    deadline = requests.deadline_for(RequestKind.RECTIFY, monday_night)
    assert deadline.astimezone(ALMATY).date() == dt.date(2026, 12, 8)


def test_every_kind_has_a_deadline() -> None:
    assert set(requests.DEADLINE_DAYS) == set(RequestKind.values)
    assert requests.DEADLINE_DAYS[RequestKind.ACCESS] == 3
    assert requests.DEADLINE_DAYS[RequestKind.EXPORT] == 3
    assert requests.DEADLINE_DAYS[RequestKind.RECTIFY] == 1
    assert requests.DEADLINE_DAYS[RequestKind.BLOCK] == 1


# --- who may file ---------------------------------------------------------------------------


def test_a_request_gets_its_deadline_and_goes_into_the_audit_log(family: Family) -> None:
    filed = requests.file_request(
        subject=child_of(family), kind=RequestKind.ACCESS, message="Who saw her card?"
    )
    row = filed.request
    assert filed.created and row.status == Status.OPEN
    assert row.school == family.first.school and row.subject_person == family.first.person
    assert row.deadline == requests.deadline_for(RequestKind.ACCESS, row.created_at)
    assert row.payload == {"message": "Who saw her card?"}
    entry = AuditEntry.objects.get(action=AuditEntry.Action.REQUEST)
    assert entry.actor == family.mother and entry.person == family.first.person


def test_someone_elses_child_is_refused_and_logged(family: Family, school: Any) -> None:
    stranger, _their_child = stranger_with_child(school)
    with pytest.raises(ServiceError) as refused:
        subject_for(stranger, str(family.first.pk), action="privacy:block")
    assert refused.value.code == "not_representative" and refused.value.status == 403
    (entry,) = refusals()
    assert entry.actor == stranger and entry.person == family.first.person
    assert entry.details["action"] == "privacy:block"


def test_a_guardian_who_is_not_a_legal_representative_is_refused(family: Family) -> None:
    with pytest.raises(ServiceError) as refused:
        subject_for(family.grandmother, str(family.first.pk), action="privacy:view")
    assert refused.value.code == "not_representative"
    assert refusals()[0].actor == family.grandmother


def test_a_pupil_id_that_names_nobody_gets_the_same_refusal(family: Family) -> None:
    with pytest.raises(ServiceError) as refused:
        subject_for(family.mother, "999999", action="privacy:view")
    assert refused.value.code == "not_representative"
    (entry,) = refusals()
    assert entry.person is None and entry.target == "pupil 999999"


# --- idempotency ----------------------------------------------------------------------------


def test_a_double_submit_returns_the_open_request(family: Family, dpo: User) -> None:
    first = requests.file_request(subject=child_of(family), kind=RequestKind.BLOCK)
    again = requests.file_request(subject=child_of(family), kind=RequestKind.BLOCK, message="!")
    assert not again.created and again.request.pk == first.request.pk
    assert SubjectRequest.objects.count() == 1
    # Another kind is another request.
    other = requests.file_request(subject=child_of(family), kind=RequestKind.ACCESS)
    assert other.created and other.request.pk != first.request.pk


def test_once_answered_the_same_request_can_be_filed_again(family: Family, dpo: User) -> None:
    first = requests.file_request(subject=child_of(family), kind=RequestKind.EXPORT)
    requests.resolve_request(subject_request=first.request, by=dpo, done=True)
    again = requests.file_request(subject=child_of(family), kind=RequestKind.EXPORT)
    assert again.created and again.request.pk != first.request.pk


# --- erasure ---------------------------------------------------------------------------------


def test_erasure_of_a_pupil_who_studies_here_is_refused_with_the_reason(family: Family) -> None:
    filed = requests.file_request(subject=child_of(family), kind=RequestKind.ERASE)
    row = filed.request
    assert row.status == Status.REFUSED and row.resolved_at is not None
    assert "enrolment record while they study there" in row.resolution


def test_erasure_after_the_pupil_left_goes_to_the_officer(family: Family) -> None:
    Pupil.objects.filter(pk=family.second.pk).update(is_active=False, left_on=dt.date(2026, 6, 1))
    row = requests.file_request(subject=child_of(family, family.second), kind="erase").request
    assert row.status == Status.OPEN
    assert row.deadline == requests.deadline_for(RequestKind.ERASE, row.created_at)


def test_a_parent_cannot_erase_their_record_while_a_child_studies_here(family: Family) -> None:
    me = subject_for(family.mother, "me", action="test")
    row = requests.file_request(subject=me, kind=RequestKind.ERASE).request
    assert row.status == Status.REFUSED
    assert "legal representative while the child studies there" in row.resolution


def test_another_app_can_add_a_reason_to_keep_the_data(family: Family, monkeypatch: Any) -> None:
    Pupil.objects.filter(pk=family.second.pk).update(is_active=False)
    monkeypatch.setattr(requests, "ERASURE_CHECKS", [lambda person: "a library book is on loan"])
    row = requests.file_request(subject=child_of(family, family.second), kind="erase").request
    assert row.status == Status.REFUSED and row.resolution == "a library book is on loan"


# --- choosing the record -----------------------------------------------------------------------


def test_a_parent_known_in_two_schools_says_which(family: Family) -> None:
    elsewhere = make_school(prefix=3001)
    child = people_services.create_pupil(school=elsewhere, last_name="Сейтқали", first_name="Ая")
    people_services.add_guardian(
        pupil=child, last_name="Сейтқали", first_name="Гүлнар", phone=MOTHER_PHONE,
        relation="mother",
    )  # fmt: skip
    me = subject_for(family.mother, "me", action="test")
    with pytest.raises(ServiceError) as unclear:
        requests.file_request(subject=me, kind=RequestKind.ACCESS)
    assert unclear.value.code == "choose_school"
    assert {s["id"] for s in unclear.value.extra["schools"]} == {
        family.first.school_id,
        elsewhere.pk,
    }
    row = requests.file_request(subject=me, kind="access", school_id=elsewhere.pk).request
    assert row.school == elsewhere
    assert row.subject_person is not None and row.subject_person.school == elsewhere


def test_an_account_without_school_records_files_about_the_account(db: None) -> None:
    user = User.objects.create_user(phone="+77019990000")
    me = subject_for(user, "me", action="test")
    row = requests.file_request(subject=me, kind=RequestKind.ERASE).request
    assert row.status == Status.OPEN and row.school is None and row.subject_person is None
    with pytest.raises(ServiceError) as nothing:
        requests.file_request(subject=me, kind=RequestKind.BLOCK)
    assert nothing.value.code == "no_school_record"


# --- blocking ---------------------------------------------------------------------------------


def test_the_officer_blocks_and_unblocks_through_the_requests(family: Family, dpo: User) -> None:
    block = requests.file_request(subject=child_of(family), kind=RequestKind.BLOCK).request
    requests.resolve_request(subject_request=block, by=dpo, done=True)
    person = Person.objects.get(pk=family.first.person_id)
    assert person.blocked_at is not None
    block.refresh_from_db()
    assert block.status == Status.DONE and block.resolution == "The data have been blocked."
    assert block.resolved_by == dpo
    blocked = AuditEntry.objects.get(action=AuditEntry.Action.BLOCK)
    assert blocked.actor == dpo and blocked.person == person

    with pytest.raises(ServiceError) as twice:
        requests.file_request(subject=child_of(family), kind=RequestKind.BLOCK)
    assert twice.value.code == "already_blocked"

    unblock = requests.file_request(subject=child_of(family), kind=RequestKind.UNBLOCK).request
    requests.resolve_request(subject_request=unblock, by=dpo, done=True, answer="Lifted.")
    assert Person.objects.get(pk=person.pk).blocked_at is None
    assert AuditEntry.objects.filter(action=AuditEntry.Action.UNBLOCK, actor=dpo).count() == 1


def test_blocking_twice_changes_nothing_and_logs_once(pupil: Pupil, dpo: User) -> None:
    first = requests.block_person(person=pupil.person, by=dpo, reason="authority")
    again = requests.block_person(person=pupil.person, by=dpo)
    assert again.blocked_at == first.blocked_at
    assert AuditEntry.objects.filter(action=AuditEntry.Action.BLOCK).count() == 1
    requests.unblock_person(person=pupil.person, by=dpo)
    requests.unblock_person(person=pupil.person, by=dpo)
    assert AuditEntry.objects.filter(action=AuditEntry.Action.UNBLOCK).count() == 1


# --- answering --------------------------------------------------------------------------------


def test_a_refusal_needs_an_answer_and_an_answer_is_final(family: Family, dpo: User) -> None:
    row = requests.file_request(subject=child_of(family), kind=RequestKind.BLOCK).request
    with pytest.raises(ServiceError) as bare:
        requests.resolve_request(subject_request=row, by=dpo, done=False, answer="  ")
    assert bare.value.code == "answer_required"
    requests.resolve_request(
        subject_request=row, by=dpo, done=False, answer="The data are correct."
    )
    row.refresh_from_db()
    assert row.status == Status.REFUSED and row.resolution == "The data are correct."
    assert Person.objects.get(pk=family.first.person_id).blocked_at is None
    with pytest.raises(ServiceError) as closed:
        requests.resolve_request(subject_request=row, by=dpo, done=True)
    assert closed.value.code == "request_closed"


def test_the_queue_puts_open_requests_first_the_most_overdue_on_top(
    family: Family, school: Any
) -> None:
    access = requests.file_request(subject=child_of(family), kind="access").request
    block = requests.file_request(subject=child_of(family), kind="block").request
    erase = requests.file_request(subject=child_of(family), kind="erase").request  # refused
    SubjectRequest.objects.filter(pk=access.pk).update(
        deadline=dt.datetime(2026, 1, 5, tzinfo=dt.UTC)
    )
    rows = list(requests.queue(school, status="all"))
    assert [row.pk for row in rows] == [access.pk, block.pk, erase.pk]
    assert requests.is_overdue(rows[0]) and not requests.is_overdue(rows[2])
    assert [row.pk for row in requests.queue(school)] == [access.pk, block.pk]
    assert [row.pk for row in requests.queue(school, status="closed")] == [erase.pk]


# --- corrections ------------------------------------------------------------------------------


def test_a_correction_is_checked_and_stored_with_the_iin_encrypted(family: Family) -> None:
    filed = requests.request_correction(
        subject=child_of(family),
        changes={"first_name": "Алия", "iin": "120503600018", "last_name": "Сейтқали"},
    )
    row = filed.request
    assert row.kind == RequestKind.RECTIFY and row.status == Status.OPEN
    assert "120503600018" not in str(row.payload)
    assert requests.proposed_values(row) == {"first_name": "Алия", "iin": "120503600018"}
    assert row.deadline == requests.deadline_for(RequestKind.RECTIFY, row.created_at)


def test_a_wrong_iin_or_one_that_contradicts_the_birth_date_is_refused_at_once(
    family: Family,
) -> None:
    with pytest.raises(ValidationError) as bad:
        requests.request_correction(subject=child_of(family), changes={"iin": "123"})
    assert "iin" in bad.value.message_dict
    with pytest.raises(ValidationError) as contradicts:
        # A valid IIN of someone born a day later than the birth date on record.
        requests.request_correction(subject=child_of(family), changes={"iin": "120504600013"})
    assert "birth_date" in contradicts.value.message_dict
    # Both corrected together is fine.
    requests.request_correction(
        subject=child_of(family), changes={"iin": "120504600013", "birth_date": "2012-05-04"}
    )


def test_correction_rules_for_fields(family: Family, school: Any) -> None:
    child, me = child_of(family), subject_for(family.mother, "me", action="test")
    for subject, changes, code in [
        (child, {"first_name": "Әлия"}, "nothing_to_change"),
        (me, {"email": "a@example.kz"}, "change_directly"),
        (child, {"account_number": "1"}, "not_correctable"),
        (child, {"phone": "+77010000000"}, "not_correctable"),
    ]:
        with pytest.raises(ServiceError) as refused:
            requests.request_correction(subject=subject, changes=changes)
        assert refused.value.code == code
    other_school_class = SchoolClass.objects.create(
        school=make_school(prefix=3002), grade=5, letter="А"
    )
    with pytest.raises(ValidationError):
        requests.request_correction(
            subject=child, changes={"school_class": str(other_school_class.pk)}
        )


def test_a_double_submitted_correction_returns_the_first_a_different_one_is_new(
    family: Family,
) -> None:
    first = requests.request_correction(subject=child_of(family), changes={"first_name": "Алия"})
    again = requests.request_correction(subject=child_of(family), changes={"first_name": "Алия"})
    other = requests.request_correction(
        subject=child_of(family), changes={"patronymic": "Ерланқызы"}
    )
    assert not again.created and again.request.pk == first.request.pk
    assert other.created and other.request.pk != first.request.pk


def test_the_officer_applies_a_correction(family: Family, dpo: User, school: Any) -> None:
    new_class = SchoolClass.objects.create(school=school, grade=6, letter="А")
    row = requests.request_correction(
        subject=child_of(family),
        changes={"iin": "120503600018", "school_class": str(new_class.pk)},
    ).request
    review = {change.field: change for change in requests.review_rows(row)}
    assert review["iin"].current == "120503600127" and review["iin"].proposed == "120503600018"
    assert review["school_class"].current == "5 Ә" and review["school_class"].proposed == "6 А"
    requests.resolve_request(subject_request=row, by=dpo, done=True)
    pupil = Pupil.objects.select_related("person").get(pk=family.first.pk)
    assert pupil.person.iin == "120503600018" and pupil.school_class == new_class
    change = AuditEntry.objects.get(action=AuditEntry.Action.CHANGE)
    assert change.actor == dpo and change.details["fields"] == ["iin", "school_class"]


def test_a_correction_that_no_longer_fits_stays_open(family: Family, dpo: User) -> None:
    row = requests.request_correction(
        subject=child_of(family), changes={"iin": "120503600018"}
    ).request
    # Meanwhile another pupil of the school was recorded with that IIN.
    people_services.create_pupil(
        school=family.first.school, last_name="Басқа", first_name="Бала", iin="120503600018"
    )
    with pytest.raises(ServiceError) as stale:
        requests.resolve_request(subject_request=row, by=dpo, done=True)
    assert stale.value.code == "correction_invalid"
    row.refresh_from_db()
    assert row.status == Status.OPEN


def test_a_parent_changes_their_own_e_mail_and_language_at_once(family: Family) -> None:
    changed = requests.change_contact(user=family.mother, email="Gulnar@Example.kz", language="ru")
    assert changed == ["email", "language"]
    family.mother.refresh_from_db()
    assert family.mother.email == "gulnar@example.kz" and family.mother.language == "ru"
    assert set(Person.objects.filter(user=family.mother).values_list("email", flat=True)) == {
        "gulnar@example.kz"
    }
    assert AuditEntry.objects.filter(action=AuditEntry.Action.CHANGE).count() == 2
    assert requests.change_contact(user=family.mother, email="gulnar@example.kz") == []


def test_an_e_mail_of_another_account_is_refused(family: Family, make_user: Any) -> None:
    make_user(email="taken@example.kz")
    with pytest.raises(ServiceError) as taken:
        requests.change_contact(user=family.mother, email="taken@example.kz")
    assert taken.value.code == "email_taken"
    with pytest.raises(ValidationError):
        requests.change_contact(user=family.mother, email="not an address")


# --- withdrawing consent -------------------------------------------------------------------------


def test_a_withdrawal_is_recorded_in_the_ledger_and_answered_at_once(family: Family) -> None:
    filed = requests.withdraw(
        subject=child_of(family),
        consent_kind=Kind.PROCESSING,
        context=services.Context(ip="10.0.0.1"),
    )
    row = filed.request
    assert row.kind == RequestKind.WITHDRAW and row.status == Status.DONE
    consent = Consent.objects.get(pk=row.payload["consent"])
    assert consent.decision == Consent.Decision.WITHDRAW
    assert consent.subject_person == family.first.person and consent.given_by == family.mother


def test_a_withdrawal_is_refused_while_an_obligation_is_open(
    family: Family, monkeypatch: Any
) -> None:
    monkeypatch.setattr(
        services, "OBLIGATIONS", [lambda user, person: "the canteen balance is not settled"]
    )
    row = requests.withdraw(
        subject=child_of(family), consent_kind=Kind.PROCESSING, context=services.Context()
    ).request
    assert row.status == Status.REFUSED
    assert "the canteen balance is not settled" in row.resolution
    assert not Consent.objects.filter(decision=Consent.Decision.WITHDRAW).exists()


def test_only_a_childs_consent_may_name_biometrics(family: Family) -> None:
    me = subject_for(family.mother, "me", action="test")
    with pytest.raises(ServiceError) as unknown:
        requests.withdraw(subject=me, consent_kind=Kind.FACE, context=services.Context())
    assert unknown.value.code == "unknown_consent"
    row = requests.withdraw(
        subject=child_of(family), consent_kind=Kind.FACE, context=services.Context()
    ).request
    assert row.status == Status.DONE


def test_an_e_mail_longer_than_the_column_is_refused_not_cut(db: None) -> None:
    from django.core.exceptions import ValidationError

    from kezekshi.accounts.models import User
    from kezekshi.privacy.requests import change_contact

    user = User.objects.create_user(phone="+77015550999")
    too_long = "a" * 64 + "@" + ".".join(["b" * 60] * 4) + ".kz"
    with pytest.raises(ValidationError) as error:
        change_contact(user=user, email=too_long)
    assert "email" in error.value.message_dict
    user.refresh_from_db()
    assert user.email is None
