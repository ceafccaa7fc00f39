"""Breaches: the one-working-day deadline, the notice, telling the subjects once."""

from __future__ import annotations

import datetime as dt
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from django.db import transaction
from django_tasks_db.models import DBTaskResult

from kezekshi.accounts.models import User
from kezekshi.accounts.roles import Role
from kezekshi.conftest import run_tasks
from kezekshi.core.errors import ServiceError
from kezekshi.core.models import School, SmsMessage
from kezekshi.people import services as people_services
from kezekshi.people.models import Person, Pupil
from kezekshi.privacy import breaches
from kezekshi.privacy.models import AuditEntry, Breach

pytestmark = pytest.mark.django_db
ALMATY = ZoneInfo("Asia/Almaty")
MOTHER, FATHER, TEACHER = "+77011110001", "+77011110002", "+77011110003"


def almaty(year: int, month: int, day: int, hour: int, minute: int) -> dt.datetime:
    return dt.datetime(year, month, day, hour, minute, tzinfo=ALMATY)


@pytest.fixture
def dpo(school: School, make_user: Any) -> User:
    return make_user(Role.DPO, school)


def record(school: School, dpo: User, affected: list[Person], **fields: Any) -> Breach:
    values: dict[str, Any] = {
        "detected_at": almaty(2025, 12, 12, 15, 0),
        "description": "The class register was sent to a wrong parents' chat.",
        "measures": "The messages were deleted; the chat's members were asked to delete copies.",
        "responsible_name": "Айгүл Нұрланова",
        "responsible_phone": "8 701 555 00 11",
        "responsible_email": "dpo@school.kz",
        **fields,
    }
    return breaches.record_breach(school=school, affected=affected, recorded_by=dpo, **values)


# --- the deadline


def test_a_breach_found_on_friday_is_due_on_monday() -> None:
    # Friday 12 December 2025, 15:00 in Almaty; Saturday and Sunday do not count.
    assert breaches.authority_deadline(almaty(2025, 12, 12, 15, 0)) == almaty(2025, 12, 15, 15, 0)


def test_a_public_holiday_does_not_count() -> None:
    # Monday 15 December; Tuesday 16 December is Independence Day.
    assert breaches.authority_deadline(almaty(2025, 12, 15, 10, 0)) == almaty(2025, 12, 17, 10, 0)


def test_working_days_are_counted_on_the_schools_clock_not_utc() -> None:
    # 03:00 on Friday in Almaty is still Thursday in UTC; the deadline is Monday, not Friday.
    detected = almaty(2025, 12, 12, 3, 0).astimezone(dt.UTC)
    assert breaches.authority_deadline(detected) == almaty(2025, 12, 15, 3, 0)


def test_overdue_until_the_authority_is_notified(school: School, dpo: User, pupil: Pupil) -> None:
    breach = record(school, dpo, [pupil.person])
    assert not breaches.is_overdue(breach, now=almaty(2025, 12, 15, 14, 59))
    assert breaches.is_overdue(breach, now=almaty(2025, 12, 15, 15, 1))
    breaches.mark_authority_notified(breach=breach, by=dpo)
    breach.refresh_from_db()
    assert not breaches.is_overdue(breach, now=almaty(2025, 12, 20, 0, 0))


# --- recording and the notice


def test_recording_is_audited_and_checks_its_input(
    school: School, other_school: School, dpo: User, pupil: Pupil
) -> None:
    breach = record(school, dpo, [pupil.person, pupil.person])
    assert list(breach.affected.all()) == [pupil.person]
    assert breach.responsible_phone == "+77015550011"
    entry = AuditEntry.objects.get(action=AuditEntry.Action.BREACH)
    assert entry.details == {
        "breach": breach.pk,
        "step": "recorded",
        "detected_at": breach.detected_at.isoformat(),
        "affected": [pupil.person.pk],
    }
    stranger = people_services.create_pupil(school=other_school, last_name="Б", first_name="А")
    with pytest.raises(ServiceError) as refused:
        record(school, dpo, [stranger.person])
    assert refused.value.code == "person_not_in_school"
    with pytest.raises(ServiceError) as refused:
        record(school, dpo, [])
    assert refused.value.code == "no_affected_persons"
    with pytest.raises(ServiceError) as refused:
        record(school, dpo, [pupil.person], detected_at=almaty(2999, 1, 1, 0, 0))
    assert refused.value.code == "breach_in_future"


def test_the_notice_names_each_subject_with_iin_and_phone(
    school: School, dpo: User, pupil: Pupil
) -> None:
    people_services.add_guardian(
        pupil=pupil, last_name="Сейтқали", first_name="Дана", phone=MOTHER, relation="mother"
    )
    teacher = Person.objects.create(
        school=school, last_name="Омаров", first_name="Бауыржан", iin="850101300126", phone=TEACHER
    )
    breach = record(school, dpo, [pupil.person, teacher])
    notice = breaches.authority_notice(breach=breach, by=dpo)
    rows = {subject.person.pk: (subject.iin, subject.phones) for subject in notice.subjects}
    assert rows == {
        pupil.person.pk: ("120503600127", [MOTHER]),  # a child is reached through the guardian
        teacher.pk: ("850101300126", [TEACHER]),
    }
    assert notice.deadline == almaty(2025, 12, 15, 15, 0)
    shown = AuditEntry.objects.filter(action=AuditEntry.Action.BREACH).last()
    assert shown is not None and shown.details["step"] == "notice_shown"


def test_marking_the_authority_notified_keeps_the_first_time(
    school: School, dpo: User, pupil: Pupil
) -> None:
    breach = record(school, dpo, [pupil.person])
    first = breaches.mark_authority_notified(breach=breach, by=dpo).authority_notified_at
    again = breaches.mark_authority_notified(breach=breach, by=dpo).authority_notified_at
    assert first is not None and again == first
    steps = AuditEntry.objects.filter(action=AuditEntry.Action.BREACH).values_list(
        "details__step", flat=True
    )
    assert list(steps) == ["recorded", "authority_notified"]


# --- telling the subjects


@pytest.fixture
def family(school: School, pupil: Pupil) -> Pupil:
    """The pupil's mother reads Russian in the app; the father has never signed in."""
    User.objects.create_user(phone=MOTHER, language="ru")
    for first_name, phone, relation in (("Дана", MOTHER, "mother"), ("Ерлан", FATHER, "father")):
        people_services.add_guardian(
            pupil=pupil, last_name="Сейтқали", first_name=first_name, phone=phone, relation=relation
        )
    return pupil


def test_each_guardian_is_told_once_in_their_language(
    school: School, dpo: User, family: Pupil
) -> None:
    sister = people_services.create_pupil(school=school, last_name="Сейтқали", first_name="Аяна")
    people_services.add_guardian(
        pupil=sister, last_name="Сейтқали", first_name="Дана", phone=MOTHER, relation="mother"
    )
    teacher = Person.objects.create(
        school=school, last_name="Омаров", first_name="Бауыржан", phone=TEACHER
    )
    breach = record(school, dpo, [family.person, sister.person, teacher])

    result = breaches.notify_subjects(breach=breach, by=dpo)

    assert (result.already_done, result.messages, result.unreachable) == (False, 3, [])
    run_tasks()
    texts = dict(SmsMessage.objects.values_list("phone", "text"))
    assert set(texts) == {MOTHER, FATHER, TEACHER}  # the mother of two gets one message
    assert texts[MOTHER].startswith("Школа №1001:")  # Russian: her choice in the app
    assert texts[FATHER].startswith("№1001 мектеп:")  # Kazakh when the language is unknown
    assert texts[TEACHER].startswith("№1001 мектеп:")
    for text in texts.values():
        assert "12.12.2025" in text and "Айгүл Нұрланова, +77015550011" in text
    breach.refresh_from_db()
    assert breach.subjects_notified_at is not None


def test_a_second_click_sends_nothing(school: School, dpo: User, family: Pupil) -> None:
    breach = record(school, dpo, [family.person])
    breaches.notify_subjects(breach=breach, by=dpo)
    queued = DBTaskResult.objects.count()
    again = breaches.notify_subjects(breach=breach, by=dpo)
    assert again.already_done and again.messages == 0
    assert DBTaskResult.objects.count() == queued == 2
    steps = AuditEntry.objects.filter(action=AuditEntry.Action.BREACH).values_list(
        "details__step", flat=True
    )
    assert list(steps) == ["recorded", "subjects_notified"]


def test_messages_are_queued_only_if_the_notification_is_committed(
    school: School, dpo: User, family: Pupil
) -> None:
    breach = record(school, dpo, [family.person])
    with pytest.raises(RuntimeError), transaction.atomic():
        breaches.notify_subjects(breach=breach, by=dpo)
        raise RuntimeError("the request failed after the click")
    assert DBTaskResult.objects.count() == 0
    breach.refresh_from_db()
    assert breach.subjects_notified_at is None


def test_a_subject_without_any_phone_is_reported(school: School, dpo: User, pupil: Pupil) -> None:
    breach = record(school, dpo, [pupil.person])  # no guardian recorded
    result = breaches.notify_subjects(breach=breach, by=dpo)
    assert result.messages == 0 and result.unreachable == [pupil.person]
