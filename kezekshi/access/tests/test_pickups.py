"""Pick-up: trusted adults named by a legal representative, hand-overs only to those
allowed, and the guardians told in their own language."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

import pytest
from django.utils import timezone, translation

from kezekshi.access import pickups, watchlist
from kezekshi.access.models import PickUp, TrustedAdult
from kezekshi.accounts.models import User
from kezekshi.accounts.roles import Role
from kezekshi.core.errors import ServiceError
from kezekshi.notifications.models import Notification
from kezekshi.people import services as people_services
from kezekshi.people.models import Guardian, Pupil
from kezekshi.privacy import services as privacy
from kezekshi.privacy.models import AuditEntry, Kind
from kezekshi.privacy.requests import block_person
from kezekshi.privacy.tests.family import Family, make_family, parent_user

pytestmark = pytest.mark.django_db

FATHER_PHONE = "+77015550104"


@dataclass
class Kin:
    family: Family
    mother: Guardian
    grandmother: Guardian
    father: Guardian  # a legal representative the court barred from collecting the child
    father_user: User


@pytest.fixture
def kin(pupil: Pupil) -> Kin:
    family = make_family(pupil)
    father = people_services.add_guardian(
        pupil=pupil,
        last_name="Сейтқали",
        first_name="Серік",
        phone=FATHER_PHONE,
        relation="father",
        may_pick_up=False,
    ).guardian
    family.grandmother.language = "ru"
    family.grandmother.save(update_fields=["language"])
    family.mother.language = "en"
    family.mother.save(update_fields=["language"])
    return Kin(
        family=family,
        mother=Guardian.objects.get(person__user=family.mother, school=pupil.school),
        grandmother=Guardian.objects.get(person__user=family.grandmother, school=pupil.school),
        father=father,
        father_user=parent_user(FATHER_PHONE),
    )


@pytest.fixture
def guard(make_user: Any, school: Any) -> User:
    return make_user(Role.GUARD, school)


def add_aunt(pupil: Pupil, by: User) -> TrustedAdult:
    return pickups.add_trusted_adult(
        pupil=pupil, full_name="Айгүл Нұрланқызы", phone="8 701 555 77 88", relation="aunt", by=by
    )


def test_a_legal_representative_names_and_revokes_a_trusted_adult(kin: Kin, pupil: Pupil) -> None:
    # when the mother names an aunt
    aunt = add_aunt(pupil, kin.family.mother)
    # then the aunt may collect the child, with her phone normalised, and it is audited
    assert aunt.phone == "+77015557788" and aunt.added_by == kin.family.mother
    assert list(pickups.trusted_adults_of(pupil)) == [aunt]
    assert AuditEntry.objects.filter(person=pupil.person, target="access.trusted_adult").exists()
    # when she revokes her (twice), the aunt is off the list and the first time stays
    revoked = pickups.revoke_trusted_adult(adult=aunt, by=kin.family.mother)
    again = pickups.revoke_trusted_adult(adult=aunt, by=kin.family.mother)
    assert revoked.revoked_at is not None and again.revoked_at == revoked.revoked_at
    assert list(pickups.trusted_adults_of(pupil)) == []


def test_only_a_legal_representative_of_this_child_may_name_or_revoke(
    kin: Kin, pupil: Pupil, school: Any
) -> None:
    from kezekshi.privacy.tests.family import stranger_with_child

    stranger, _their_child = stranger_with_child(school)
    for outsider in (kin.family.grandmother, stranger):
        with pytest.raises(ServiceError) as refused:
            add_aunt(pupil, outsider)
        assert refused.value.status == 403
    aunt = add_aunt(pupil, kin.family.mother)
    with pytest.raises(ServiceError):
        pickups.revoke_trusted_adult(adult=aunt, by=stranger)
    assert TrustedAdult.objects.get().revoked_at is None


def test_who_may_collect_lists_allowed_guardians_and_active_trusted_adults(
    kin: Kin, pupil: Pupil
) -> None:
    aunt = add_aunt(pupil, kin.family.mother)
    neighbour = pickups.add_trusted_adult(
        pupil=pupil,
        full_name="Сосед",
        phone="+77015550199",
        relation="neighbour",
        by=kin.family.mother,
    )
    pickups.revoke_trusted_adult(adult=neighbour, by=kin.family.mother)
    listed = {(c.kind, c.id) for c in pickups.collectors_of(pupil)}
    assert listed == {
        ("guardian", kin.mother.pk),
        ("guardian", kin.grandmother.pk),
        ("trusted", aunt.pk),
    }


def test_a_pick_up_by_a_trusted_adult_tells_every_guardian_in_their_language(
    kin: Kin, pupil: Pupil, guard: User
) -> None:
    # given an aunt the mother named
    aunt = add_aunt(pupil, kin.family.mother)
    at = dt.datetime(2026, 11, 30, 12, 5, tzinfo=dt.UTC)  # 17:05 in Almaty
    # when the guard records that the aunt took the child
    pickup = pickups.record_pickup(pupil=pupil, trusted_adult=aunt, by=guard, at=at)
    # then the hand-over is recorded and each guardian with an account is told once
    assert pickup.trusted_adult == aunt and pickup.recorded_by == guard
    notices = {n.recipient_id: n for n in Notification.objects.filter(kind="pickup")}
    assert set(notices) == {kin.family.mother.pk, kin.family.grandmother.pk, kin.father_user.pk}
    assert {n.key for n in notices.values()} == {f"pickup:{pickup.pk}"}
    english = notices[kin.family.mother.pk].text
    assert english == "Әлия was picked up at 17:05 by Айгүл Нұрланқызы (aunt)"
    assert "17:05" in notices[kin.family.grandmother.pk].text


def test_a_guardian_may_collect_and_each_notice_is_in_its_readers_language(
    kin: Kin, pupil: Pupil, guard: User
) -> None:
    pickups.record_pickup(pupil=pupil, guardian=kin.mother, by=guard)
    english = Notification.objects.get(recipient=kin.family.mother).text
    russian = Notification.objects.get(recipient=kin.family.grandmother).text
    kazakh = Notification.objects.get(recipient=kin.father_user).text  # no language chosen
    assert "Сейтқали Гүлнар (Mother)" in english
    assert "Сейтқали Гүлнар (Мать)" in russian
    assert "Сейтқали Гүлнар (Анасы)" in kazakh


def test_a_double_tap_records_the_hand_over_once(kin: Kin, pupil: Pupil, guard: User) -> None:
    first = pickups.record_pickup(pupil=pupil, guardian=kin.mother, by=guard)
    again = pickups.record_pickup(pupil=pupil, guardian=kin.mother, by=guard)
    assert again.pk == first.pk
    assert PickUp.objects.count() == 1
    assert Notification.objects.filter(recipient=kin.family.mother).count() == 1


def test_nobody_else_may_take_the_child(kin: Kin, pupil: Pupil, guard: User, school: Any) -> None:
    aunt = add_aunt(pupil, kin.family.mother)
    pickups.revoke_trusted_adult(adult=aunt, by=kin.family.mother)
    from kezekshi.privacy.tests.family import stranger_with_child

    stranger, their_child = stranger_with_child(school)
    their_guardian = Guardian.objects.get(person__user=stranger)
    other_childs_adult = add_aunt(their_child, stranger)
    for who in (
        {"guardian": kin.father},  # may_pick_up is off
        {"trusted_adult": aunt},  # revoked
        {"guardian": their_guardian},  # another child's father
        {"trusted_adult": other_childs_adult},  # another child's trusted adult
    ):
        with pytest.raises(ServiceError) as refused:
            pickups.record_pickup(pupil=pupil, by=guard, **who)
        assert refused.value.code == "not_allowed_to_collect" and refused.value.status == 409
    with pytest.raises(ServiceError) as nobody:
        pickups.record_pickup(pupil=pupil, by=guard)
    assert nobody.value.code == "choose_collector"
    assert not PickUp.objects.exists() and not Notification.objects.exists()


def test_a_trusted_adult_on_the_watch_list_is_refused(
    kin: Kin, pupil: Pupil, guard: User, make_user: Any, school: Any
) -> None:
    aunt = add_aunt(pupil, kin.family.mother)
    watchlist.add_entry(
        school=school,
        full_name="Другое Имя",
        phone="+77015557788",
        reason="court order",
        by=make_user(Role.SCHOOL_ADMIN, school),
    )
    assert [c.watched for c in pickups.collectors_of(pupil) if c.kind == "trusted"] == [True]
    with translation.override("en"), pytest.raises(ServiceError) as refused:
        pickups.record_pickup(pupil=pupil, trusted_adult=aunt, by=guard)
    assert refused.value.code == "not_allowed_to_collect"
    assert "watch list" in str(refused.value.message)
    assert not PickUp.objects.exists()


def test_for_a_blocked_child_only_the_legal_representatives_are_told(
    kin: Kin, pupil: Pupil, guard: User, make_user: Any, school: Any
) -> None:
    block_person(
        person=pupil.person, by=make_user(Role.DPO, school), reason="dispute", request=None
    )
    pupil.person.refresh_from_db()
    pickups.record_pickup(pupil=pupil, guardian=kin.mother, by=guard)
    told = set(Notification.objects.values_list("recipient_id", flat=True))
    assert told == {kin.family.mother.pk, kin.father_user.pk}


def test_the_days_log_holds_that_days_pick_ups(kin: Kin, pupil: Pupil, guard: User) -> None:
    now = timezone.now()
    today = pickups.record_pickup(pupil=pupil, guardian=kin.mother, by=guard, at=now)
    pickups.record_pickup(pupil=pupil, guardian=kin.mother, by=guard, at=now - dt.timedelta(days=1))
    assert list(pickups.pickups_on(pupil.school, timezone.localdate(now))) == [today]


def test_guardians_who_withdrew_processing_consent_are_not_told(
    kin: Kin, pupil: Pupil, guard: User, school: Any
) -> None:
    # given the mother withdrew consent for this child and the father for himself
    draft = privacy.draft_policy(operator_name="ТОО «Kezekshi»", operator_bin=school.bin)
    policy = privacy.publish_policy(policy=draft, by=None)
    for user in (kin.family.mother, kin.father_user, kin.family.grandmother):
        privacy.accept_policy(user=user, policy=policy, context=privacy.Context())
    privacy.withdraw_consent(
        user=kin.family.mother, subject_person=pupil.person, kind=Kind.PROCESSING
    )
    privacy.withdraw_consent(user=kin.father_user, kind=Kind.PROCESSING)
    # when the guard records a hand-over
    pickups.record_pickup(pupil=pupil, guardian=kin.grandmother, by=guard)
    # then only the grandmother, whose consent stands, is told
    told = set(Notification.objects.filter(kind="pickup").values_list("recipient_id", flat=True))
    assert told == {kin.family.grandmother.pk}


def test_a_blocked_guardian_is_listed_marked_and_without_a_phone(
    kin: Kin, pupil: Pupil, make_user: Any, school: Any
) -> None:
    # given the mother's own data are blocked
    block_person(
        person=kin.mother.person, by=make_user(Role.DPO, school), reason="dispute", request=None
    )
    # when the guard looks up who may collect the child
    collectors = {c.id: c for c in pickups.collectors_of(pupil) if c.kind == "guardian"}
    # then the mother is still there (safety), marked, and her phone is not shown
    assert collectors[kin.mother.pk].blocked and collectors[kin.mother.pk].phone == ""
    # while the other guardians keep their phones
    assert collectors[kin.grandmother.pk].phone and not collectors[kin.grandmother.pk].blocked
