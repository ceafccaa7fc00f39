"""Device sync: our records → exactly the commands that bring each terminal in line."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from django.core.cache import cache

from kezekshi.access import services
from kezekshi.access.models import AccessGroup, Device, Door, WatchEntry
from kezekshi.access.tests.conftest import building, groups, main_door  # noqa: F401
from kezekshi.accounts.models import User
from kezekshi.devices import queue, sync
from kezekshi.devices.models import Command, Enrolment, Link, Protocol
from kezekshi.devices.tests.conftest import terminal
from kezekshi.people import services as people_services
from kezekshi.people.models import Person, Pupil, SchoolClass, StaffMember
from kezekshi.privacy import services as privacy
from kezekshi.privacy.models import Kind
from kezekshi.privacy.requests import block_person
from kezekshi.privacy.tests.family import make_family

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _empty_cache() -> None:
    cache.clear()
    sync.forget_checks()


def commands(device: Device, *, status: str = Command.Status.PENDING) -> list[tuple[str, dict]]:
    return [
        (c.kind, c.data)
        for c in Command.objects.filter(device=device, status=status).order_by("id")
    ]


def confirm_all(device: Device) -> None:
    """The terminal takes every command due and answers each with success."""
    for command in queue.due(device, limit=1000):
        assert queue.complete(device, command.pk, return_code=0)


def with_face_consent(pupil: Pupil, school: Any) -> User:
    policy = privacy.publish_policy(
        policy=privacy.draft_policy(operator_name="ТОО «Kezekshi»", operator_bin=school.bin),
        by=None,
    )
    mother = make_family(pupil).mother
    privacy.accept_policy(user=mother, policy=policy, context=privacy.Context())
    privacy.decide_biometrics(
        user=mother, child=pupil.person, kind=Kind.FACE, grant=True, context=privacy.Context()
    )
    return mother


def give_photo(pupil: Pupil, name: str = "photos/2025/aliya.jpg") -> None:
    pupil.person.photo.name = name
    pupil.person.save()


def test_a_new_pupil_with_a_card_is_sent_to_the_terminal_once(
    school: Any,
    zk: Device,
    pupil: Pupil,
    groups: list[AccessGroup],  # noqa: F811
) -> None:
    # given a pupil of the first shift with a card (EM-Marine 123,45678 = 0x7BB26E)
    services.issue_card(person=pupil.person, uid="123,45678", by=None)
    # when the school is reconciled
    assert sync.reconcile(school.pk) == 1
    # then the terminal gets the pupil with the card as a decimal number, and no face
    assert commands(zk) == [
        (
            "user.upsert",
            {
                "pin": str(pupil.person_id),
                "name": "Сейтқали Әлия",
                "card": str(0x7BB26E),
                "valid_from": None,
                "valid_until": None,
                "doors": [1],
            },
        )
    ]
    row = Enrolment.objects.get(device=zk)
    assert (row.pin, row.person_id, row.has_face) == (str(pupil.person_id), pupil.person_id, False)
    # and nothing more while nothing changes
    assert sync.reconcile(school.pk) == 0


def test_a_replaced_card_sends_the_pupil_again_with_the_new_card(
    school: Any,
    zk: Device,
    pupil: Pupil,
    groups: list[AccessGroup],  # noqa: F811
) -> None:
    card = services.issue_card(person=pupil.person, uid="123,45678", by=None)
    sync.reconcile(school.pk)
    confirm_all(zk)
    # when the card is lost and replaced
    services.replace_card(credential=card, new_uid="04:A2:3B:1C", by=None, reason="lost")
    assert sync.reconcile(school.pk) == 1
    [(kind, data)] = commands(zk)
    assert (kind, data["card"]) == ("user.upsert", str(0x04A23B1C))


def test_a_waiting_upsert_is_superseded_by_the_newer_one(
    school: Any,
    zk: Device,
    pupil: Pupil,
    groups: list[AccessGroup],  # noqa: F811
) -> None:
    card = services.issue_card(person=pupil.person, uid="123,45678", by=None)
    sync.reconcile(school.pk)
    services.replace_card(credential=card, new_uid="04:A2:3B:1C", by=None, reason="lost")
    sync.reconcile(school.pk)
    assert [d["card"] for _k, d in commands(zk)] == [str(0x04A23B1C)]
    assert commands(zk, status=Command.Status.SUPERSEDED)[0][1]["card"] == str(0x7BB26E)


def test_a_pupil_moved_out_of_the_group_is_removed_once_and_forgotten_when_confirmed(
    school: Any,
    zk: Device,
    pupil: Pupil,
    groups: list[AccessGroup],  # noqa: F811
) -> None:
    services.issue_card(person=pupil.person, uid="123,45678", by=None)
    sync.reconcile(school.pk)
    confirm_all(zk)
    # when the pupil's class moves to the second shift (no group admits it)
    SchoolClass.objects.filter(pupils=pupil).update(shift=2)
    assert sync.reconcile(school.pk) == 1
    assert commands(zk) == [("user.delete", {"pin": str(pupil.person_id)})]
    # the removal is queued once, not at every run
    assert sync.reconcile(school.pk) == 0
    # and what the terminal holds is forgotten when it confirms
    assert Enrolment.objects.filter(device=zk).exists()
    confirm_all(zk)
    assert not Enrolment.objects.filter(device=zk).exists()
    assert sync.reconcile(school.pk) == 0


@pytest.mark.parametrize("change", ["left", "card_blocked", "watched"])
def test_whoever_may_no_longer_pass_is_removed(
    change: str,
    school: Any,
    zk: Device,
    pupil: Pupil,
    groups: list[AccessGroup],  # noqa: F811
    make_user: Any,
) -> None:
    card = services.issue_card(person=pupil.person, uid="123,45678", by=None)
    sync.reconcile(school.pk)
    if change == "left":
        Pupil.objects.filter(pk=pupil.pk).update(is_active=False, left_on=dt.date(2025, 12, 1))
    elif change == "card_blocked":
        services.block_credential(credential=card, by=None, reason="stolen")
    else:
        WatchEntry.objects.create(
            school=school,
            full_name="x",
            person=pupil.person,
            reason="court",
            added_by=make_user(password=None),
        )
    assert sync.reconcile(school.pk) == 1
    assert commands(zk)[-1] == ("user.delete", {"pin": str(pupil.person_id)})


def test_staff_and_listed_persons_pass_by_their_groups(
    school: Any,
    zk: Device,
    main_door: Door,  # noqa: F811
    groups: list[AccessGroup],  # noqa: F811
) -> None:
    teacher = Person.objects.create(school=school, last_name="Ахметов", first_name="Ерлан")
    StaffMember.objects.create(school=school, person=teacher, position="teacher")
    plumber = Person.objects.create(school=school, last_name="Ким", first_name="Олег")
    stranger = Person.objects.create(school=school, last_name="Жоқ", first_name="Адам")
    listed = AccessGroup.objects.create(
        school=school, members="listed", name_kk="Тізім", name_ru="Список"
    )
    listed.doors.add(main_door)
    listed.persons.add(plumber)
    for person, uid in ((teacher, "1,1"), (plumber, "1,2"), (stranger, "1,3")):
        services.issue_card(person=person, uid=uid, by=None)
    sync.reconcile(school.pk)
    assert {d["pin"] for _k, d in commands(zk)} == {str(teacher.pk), str(plumber.pk)}


def test_validity_is_the_card_window_inside_the_groups_window(
    school: Any,
    zk: Device,
    pupil: Pupil,
    groups: list[AccessGroup],  # noqa: F811
) -> None:
    pupils_group = groups[0]
    pupils_group.valid_from, pupils_group.valid_until = dt.date(2025, 9, 1), dt.date(2099, 5, 31)
    pupils_group.save()
    services.issue_card(
        person=pupil.person,
        uid="123,45678",
        by=None,
        valid_until=dt.datetime(2098, 12, 31, 18, 0, tzinfo=dt.UTC),
    )
    sync.reconcile(school.pk)
    [(_kind, data)] = commands(zk)
    assert data["valid_from"] == "2025-09-01T00:00:00+05:00"
    assert data["valid_until"] == "2098-12-31T23:00:00+05:00"


def test_names_are_sanitised_and_shortened_for_the_attendance_dialect(
    school: Any,
    main_door: Door,  # noqa: F811
    pupil: Pupil,
    groups: list[AccessGroup],  # noqa: F811
) -> None:
    att = terminal(school, main_door, Protocol.ZKTECO_ATT, name="ATT")
    pupil.person.last_name = "Сейтқали-Нұрмұхамбетова\tC:99:CONTROL DEVICE 03000000"
    pupil.person.first_name = "Әлия\r\nx\x1b"
    pupil.person.save()
    services.issue_card(person=pupil.person, uid="123,45678", by=None)
    sync.reconcile(school.pk)
    [(_kind, data)] = commands(att)
    assert data["name"] == "Сейтқали-Нұрмұхамбетова "[:24].strip()
    assert len(data["name"]) <= 24
    assert not any(ch in data["name"] for ch in "\t\r\n\x1b")


def test_sanitise_name_keeps_letters_and_drops_controls() -> None:
    assert sync.sanitise_name("Ә\tл\u202eи\nя  ", limit=24) == "Ә л и я"
    assert sync.device_name("Сейтқали", "Әлия", limit=12) == "Сейтқали Ә."
    assert sync.device_name("Абдрахмановатұрсынбаева", "Әлия", limit=10) == "Абдрахмано"


def test_a_face_goes_only_with_consent_and_its_removal_waits_for_the_device(
    school: Any,
    zk: Device,
    hik: Device,
    pupil: Pupil,
    groups: list[AccessGroup],  # noqa: F811
) -> None:
    services.issue_card(person=pupil.person, uid="123,45678", by=None)
    pin = str(pupil.person_id)
    # a photo without biometric consent: the card goes, the face does not
    give_photo(pupil)
    sync.reconcile(school.pk)
    assert [k for k, _d in commands(hik)] == ["user.upsert"]
    confirm_all(hik)
    confirm_all(zk)
    # with the consent the face goes to the face terminal (ZKTeco acc shows faces too)
    mother = with_face_consent(pupil, school)
    assert sync.reconcile(school.pk) == 2
    assert commands(hik) == [("face.upsert", {"pin": pin})]
    assert commands(zk) == [("face.upsert", {"pin": pin})]
    confirm_all(hik)
    row = Enrolment.objects.get(device=hik)
    assert (row.has_face, row.face_confirmed) == (True, True)
    # when the mother withdraws the consent
    privacy.decide_biometrics(
        user=mother, child=pupil.person, kind=Kind.FACE, grant=False, context=privacy.Context()
    )
    sync.reconcile(school.pk)
    assert commands(hik) == [("face.delete", {"pin": pin})]
    # the removal waits for the device: the terminal still holds the face
    row.refresh_from_db()
    assert (row.has_face, row.face_confirmed) == (True, True)
    assert sync.reconcile(school.pk) == 0
    confirm_all(hik)
    row.refresh_from_db()
    assert (row.has_face, row.face_confirmed) == (False, False)
    assert sync.reconcile(school.pk) == 0


def test_a_new_photo_is_sent_again(
    school: Any,
    hik: Device,
    pupil: Pupil,
    groups: list[AccessGroup],  # noqa: F811
) -> None:
    services.issue_card(person=pupil.person, uid="123,45678", by=None)
    give_photo(pupil)
    with_face_consent(pupil, school)
    sync.reconcile(school.pk)
    confirm_all(hik)
    give_photo(pupil, "photos/2025/aliya_2.jpg")
    assert sync.reconcile(school.pk) == 1
    assert commands(hik) == [("face.upsert", {"pin": str(pupil.person_id)})]
    assert Enrolment.objects.get(device=hik).face_confirmed is False


def test_a_face_alone_admits_on_a_face_terminal_only(
    school: Any,
    zk: Device,
    pupil: Pupil,
    groups: list[AccessGroup],  # noqa: F811
    main_door: Door,  # noqa: F811
) -> None:
    att = terminal(school, main_door, Protocol.ZKTECO_ATT, name="ATT")
    give_photo(pupil)
    with_face_consent(pupil, school)
    sync.reconcile(school.pk)
    assert [k for k, _d in commands(zk)] == ["user.upsert", "face.upsert"]
    assert commands(zk)[0][1]["card"] == ""
    assert commands(att) == []


def test_a_blocked_pupil_keeps_the_card_and_loses_the_face(
    school: Any,
    hik: Device,
    pupil: Pupil,
    groups: list[AccessGroup],  # noqa: F811
    make_user: Any,
) -> None:
    services.issue_card(person=pupil.person, uid="123,45678", by=None)
    give_photo(pupil)
    with_face_consent(pupil, school)
    sync.reconcile(school.pk)
    confirm_all(hik)
    block_person(person=pupil.person, by=make_user(password=None), reason="request")
    sync.reconcile(school.pk)
    assert commands(hik) == [("face.delete", {"pin": str(pupil.person_id)})]


def test_the_face_permission_of_a_whole_school_follows_the_ledger(
    school: Any,
    pupil: Pupil,
) -> None:
    give_photo(pupil)

    def allowed() -> bool:
        return sync.load_state(school.pk, faces=True).persons[pupil.person_id].face_allowed

    assert not allowed()
    mother = with_face_consent(pupil, school)
    assert allowed()
    privacy.record_child_will(staff=mother, child=pupil.person, kind=Kind.FACE, refuses=True)
    assert not allowed()
    privacy.record_child_will(staff=mother, child=pupil.person, kind=Kind.FACE, refuses=False)
    assert allowed()
    privacy.withdraw_consent(user=mother, subject_person=pupil.person, kind=Kind.PROCESSING)
    assert not allowed()


def test_an_unchanged_school_costs_one_query_at_each_poll(
    school: Any,
    zk: Device,
    pupil: Pupil,
    groups: list[AccessGroup],  # noqa: F811
    django_assert_max_num_queries: Any,
    django_capture_on_commit_callbacks: Any,
) -> None:
    services.issue_card(person=pupil.person, uid="123,45678", by=None)
    with django_capture_on_commit_callbacks(execute=True):
        assert sync.reconcile_if_changed(school.pk) == 1
    sync.forget_checks()
    with django_assert_max_num_queries(3):
        assert sync.reconcile_if_changed(school.pk) == 0
    # a change is seen at the next look (this process looks every CHECK_EVERY seconds)
    pupil.person.first_name = "Алия"
    pupil.person.save()
    sync.forget_checks()
    with django_capture_on_commit_callbacks(execute=True):
        assert sync.reconcile_if_changed(school.pk) == 1
    assert commands(zk)[-1][1]["name"] == "Сейтқали Алия"


@pytest.mark.parametrize(
    "change", ["class", "shift", "left", "consent", "device_door", "terminal_added"]
)
def test_the_fingerprint_moves_with_every_change_sync_reads(
    change: str,
    school: Any,
    zk: Device,
    pupil: Pupil,
    groups: list[AccessGroup],  # noqa: F811
    main_door: Door,  # noqa: F811
) -> None:
    before = sync.fingerprint(school.pk)
    if change == "class":
        other = SchoolClass.objects.create(school=school, grade=6, letter="А", shift=1)
        Pupil.objects.filter(pk=pupil.pk).update(school_class=other)
    elif change == "shift":
        SchoolClass.objects.filter(pupils=pupil).update(shift=2)
    elif change == "left":
        Pupil.objects.filter(pk=pupil.pk).update(is_active=False)
    elif change == "consent":
        with_face_consent(pupil, school)
    elif change == "device_door":
        Device.objects.filter(pk=zk.pk).update(door=None)
    else:
        terminal(school, main_door, Protocol.HIKVISION, name="NEW")
    assert sync.fingerprint(school.pk) != before


def test_a_full_resync_sends_everything_again(
    school: Any,
    hik: Device,
    zk: Device,
    pupil: Pupil,
    groups: list[AccessGroup],  # noqa: F811
) -> None:
    services.issue_card(person=pupil.person, uid="123,45678", by=None)
    give_photo(pupil)
    with_face_consent(pupil, school)
    sync.reconcile(school.pk)
    confirm_all(hik)
    confirm_all(zk)
    # when the face terminal was replaced and is resynced
    assert sync.full_resync(hik) == 3
    assert [k for k, _d in commands(hik)] == ["user.upsert", "face.upsert", "device.query_users"]
    assert commands(zk) == []  # the other terminal is left alone
    assert Link.objects.get(device=hik).synced_at is not None
    confirm_all(hik)
    assert sync.reconcile(school.pk) == 0


def test_terminals_without_a_user_table_or_switched_off_get_nothing(
    school: Any,
    main_door: Door,  # noqa: F811
    pupil: Pupil,
    groups: list[AccessGroup],  # noqa: F811
) -> None:
    native = terminal(school, main_door, Protocol.NATIVE, name="N")
    off = terminal(school, main_door, Protocol.ZKTECO_ACC, name="OFF")
    Device.objects.filter(pk=off.pk).update(is_active=False)
    services.issue_card(person=pupil.person, uid="123,45678", by=None)
    assert sync.reconcile(school.pk) == 0
    assert not Command.objects.filter(device__in=[native, off]).exists()


def test_another_schools_people_never_reach_this_schools_terminal(
    school: Any,
    other_school: Any,
    zk: Device,
    groups: list[AccessGroup],  # noqa: F811
) -> None:
    klass = SchoolClass.objects.create(school=other_school, grade=5, letter="А", shift=1)
    stranger = people_services.create_pupil(
        school=other_school, last_name="Басқа", first_name="Бала", school_class=klass
    )
    services.issue_card(person=stranger.person, uid="9,9", by=None)
    assert sync.reconcile(school.pk) == 0
    assert sync.reconcile(other_school.pk) == 0
