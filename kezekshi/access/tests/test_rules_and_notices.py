"""Decisions that need more than a card, and who is (not) told about a pass."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from django.utils import timezone

from kezekshi.access import credentials, services
from kezekshi.access.models import AccessEvent, WatchAlert, WatchEntry
from kezekshi.core.errors import ServiceError
from kezekshi.notifications.models import Notification
from kezekshi.privacy import services as privacy
from kezekshi.privacy.models import Kind
from kezekshi.privacy.tests.family import make_family

pytestmark = pytest.mark.django_db
DECIDE = "/api/v1/access/decide"
EVENTS = "/api/v1/access/events"
MONDAY_0752 = "2026-11-30T07:52:00+05:00"


@pytest.mark.parametrize(
    ("spelling", "stored"),
    [
        ("123,45678", "7BB26E"),
        ("8106606", "7BB26E"),
        ("0008106606", "7BB26E"),
        ("01 00 7B B2 6E", "7BB26E"),
        ("04:a2:3b:1c", "04A23B1C"),
        ("0x04A23B1C", "04A23B1C"),
        ("77479708", "049E3F1C"),  # a Mifare UID a reader sends as a decimal number
        ("04-11-22-33-44-55-66", "04112233445566"),
    ],
)
def test_card_numbers_are_normalised(spelling: str, stored: str) -> None:
    assert credentials.normalise_card_uid(spelling) == stored


@pytest.mark.parametrize(
    "garbage", ["", "0", "hello", "256,1", "12,70000", "1" * 30, "ABCDEFABCDEFABCDEF"]
)
def test_what_is_not_a_card_number_is_refused(garbage: str) -> None:
    with pytest.raises(credentials.BadCredential):
        credentials.normalise_card_uid(garbage)


def test_a_qr_pass_is_signed_short_lived_and_bound_to_its_school(
    turnstile: Any, groups: Any, pupil: Any, other_school: Any
) -> None:
    qr = services.qr_credential(person=pupil.person)
    text = services.qr_text(qr)
    now = timezone.now().isoformat()
    ok = turnstile.post(DECIDE, {"credential_kind": "qr", "credential": text, "time": now}).json()
    assert ok["person_id"] == pupil.person_id
    tampered = text[:-3] + ("AAA" if not text.endswith("AAA") else "BBB")
    bad = turnstile.post(DECIDE, {"credential_kind": "qr", "credential": tampered}).json()
    assert bad["reason"] == "qr_invalid"
    expired = credentials.sign_qr(
        school_id=pupil.school_id, credential_value=qr.value, valid_for=dt.timedelta(seconds=-1)
    )
    late = turnstile.post(DECIDE, {"credential_kind": "qr", "credential": expired}).json()
    assert late["reason"] == "qr_expired"
    foreign = credentials.sign_qr(
        school_id=other_school.pk, credential_value=qr.value, valid_for=dt.timedelta(minutes=5)
    )
    elsewhere = turnstile.post(DECIDE, {"credential_kind": "qr", "credential": foreign}).json()
    assert elsewhere["reason"] == "qr_invalid"


def test_a_pin_opens_like_a_card_and_is_kept_only_as_a_digest(
    turnstile: Any, groups: Any, pupil: Any
) -> None:
    credential = services.set_pin(person=pupil.person, pin="482913", by=None)
    assert "482913" not in credential.value
    body = turnstile.post(
        DECIDE, {"credential_kind": "pin", "credential": "482913", "time": MONDAY_0752}
    ).json()
    assert body["allowed"] is True and body["person_id"] == pupil.person_id


def test_a_face_template_needs_the_biometric_consent_and_stops_with_its_withdrawal(
    turnstile: Any, groups: Any, pupil: Any, school: Any
) -> None:
    with pytest.raises(ServiceError) as refused:
        services.register_template(person=pupil.person, kind=Kind.FACE, reference="t-1", by=None)
    assert refused.value.code == "no_biometric_consent"
    draft = privacy.draft_policy(operator_name="ТОО «Kezekshi»", operator_bin=school.bin)
    policy = privacy.publish_policy(policy=draft, by=None)
    family = make_family(pupil)
    privacy.accept_policy(user=family.mother, policy=policy, context=privacy.Context())
    privacy.decide_biometrics(
        user=family.mother,
        child=pupil.person,
        kind=Kind.FACE,
        grant=True,
        context=privacy.Context(),
    )
    services.register_template(person=pupil.person, kind=Kind.FACE, reference="t-1", by=None)
    face = {"credential_kind": "face", "credential": "t-1", "time": MONDAY_0752}
    assert turnstile.post(DECIDE, face).json()["allowed"] is True
    privacy.decide_biometrics(
        user=family.mother,
        child=pupil.person,
        kind=Kind.FACE,
        grant=False,
        context=privacy.Context(),
    )
    assert turnstile.post(DECIDE, face).json()["reason"] == "biometric_no_consent"


def test_a_watched_person_is_refused_at_the_entrance_and_the_guard_alerted(
    turnstile: Any, groups: Any, pupil: Any, school: Any, make_user: Any
) -> None:
    family = make_family(pupil)
    father = services.issue_card(person=family.mother.persons.get(), uid="777", by=None)
    admin = make_user()
    WatchEntry.objects.create(
        school=school, full_name="X", person=father.person, reason="court order", added_by=admin
    )
    services.bump_rules(school_id=school.pk)
    body = turnstile.post(DECIDE, {"credential": "777", "time": MONDAY_0752}).json()
    assert body["allowed"] is False and body["reason"] == "watch_list"
    alert = WatchAlert.objects.get()
    assert alert.event_id == body["event_id"]


def test_an_unknown_card_is_recorded_once_per_record_number(turnstile: Any, groups: Any) -> None:
    for _attempt in range(3):
        turnstile.post(DECIDE, {"credential": "DEADBEEF", "record_no": "5"})
    assert AccessEvent.objects.filter(presented="DEADBEEF").count() == 1


def _event(record_no: str, *, at: dt.datetime, direction: str = "in") -> dict[str, Any]:
    return {
        "record_no": record_no,
        "time": at.isoformat(),
        "credential": "123,45678",
        "credential_kind": "card",
        "direction": direction,
        "allowed": True,
    }


def test_a_blocked_child_is_told_only_to_legal_representatives(
    turnstile: Any, card: Any, pupil: Any
) -> None:
    family = make_family(pupil)  # the grandmother may pick up but is not a representative
    turnstile.post(EVENTS, {"events": [_event("1", at=timezone.now())]})
    told = set(Notification.objects.values_list("recipient_id", flat=True))
    assert told == {family.mother.pk, family.grandmother.pk}
    pupil.person.blocked_at = timezone.now()
    pupil.person.save()
    later = timezone.now() + dt.timedelta(hours=1)
    turnstile.post(EVENTS, {"events": [_event("2", at=later, direction="out")]})
    second = Notification.objects.filter(
        key__endswith=":" + str(AccessEvent.objects.get(record_no="2").pk)
    )
    assert [n.recipient_id for n in second] == [family.mother.pk]


def test_a_guardian_who_withdrew_consent_is_not_told(
    turnstile: Any, card: Any, pupil: Any, school: Any
) -> None:
    draft = privacy.draft_policy(operator_name="ТОО «Kezekshi»", operator_bin=school.bin)
    policy = privacy.publish_policy(policy=draft, by=None)
    family = make_family(pupil)
    privacy.accept_policy(user=family.mother, policy=policy, context=privacy.Context())
    privacy.withdraw_consent(user=family.mother, subject_person=pupil.person, kind=Kind.PROCESSING)
    turnstile.post(EVENTS, {"events": [_event("1", at=timezone.now())]})
    assert not Notification.objects.filter(recipient=family.mother).exists()
    assert Notification.objects.filter(recipient=family.grandmother).exists()


def test_a_pass_reported_half_a_day_late_is_recorded_but_not_told(
    turnstile: Any, card: Any, pupil: Any
) -> None:
    make_family(pupil)
    turnstile.post(EVENTS, {"events": [_event("1", at=timezone.now() - dt.timedelta(hours=13))]})
    assert AccessEvent.objects.count() == 1
    assert not Notification.objects.exists()
