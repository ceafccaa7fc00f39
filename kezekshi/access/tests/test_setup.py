"""The admin's set-up services: what they change takes effect at the next decision."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest

from kezekshi.access import decisions, services, setup
from kezekshi.access.models import AccessSettings, Credential, Door, TimeWindow, Zone
from kezekshi.core.errors import ServiceError

pytestmark = pytest.mark.django_db
DECIDE = "/api/v1/access/decide"
MONDAY_0752 = dt.datetime.fromisoformat("2026-11-30T07:52:00+05:00")


def _version(school: Any) -> int:
    return AccessSettings.objects.get(school=school).rules_version


def _decide(school: Any, door: Door, card: Credential, at: dt.datetime = MONDAY_0752) -> str:
    return decisions.decide(
        school_id=school.pk,
        door_id=door.pk,
        direction="in",
        at=at,
        credential_kind="card",
        credential_value=card.value,
    ).reason


def _canteen(school: Any, building: Zone) -> Door:
    zone = setup.save_zone(
        school=school, name_kk="Асхана", name_ru="Столовая", kind="canteen", parent=building
    )
    return setup.save_door(
        school=school, name_kk="Асхана есігі", name_ru="Вход в столовую", zone=zone, is_exit=False
    )


def test_a_door_given_to_a_group_opens_at_the_next_decision(
    school: Any, building: Zone, groups: Any, card: Credential
) -> None:
    # given a canteen door no group may pass, decided once (the rules are compiled)
    canteen = _canteen(school, building)
    assert _decide(school, canteen, card) == "no_access_here"
    before = _version(school)
    pupils, _staff = groups
    # when the admin gives the pupils' group the canteen door too
    setup.save_group(
        school=school,
        group=pupils,
        name_kk=pupils.name_kk,
        name_ru=pupils.name_ru,
        members=pupils.members,
        doors=[*pupils.doors.all(), canteen],
    )
    # then the rules moved on and the next decision lets the pupil in
    assert _version(school) == before + 1
    assert _decide(school, canteen, card) == "ok"


def test_a_zone_cannot_lie_inside_itself(school: Any, building: Zone) -> None:
    inner = setup.save_zone(school=school, name_kk="A", name_ru="A", kind="gym", parent=building)
    with pytest.raises(ServiceError) as refused:
        setup.save_zone(
            school=school, zone=building, name_kk="B", name_ru="B", kind="building", parent=inner
        )
    assert refused.value.code == "zone_cycle"
    building.refresh_from_db()
    assert building.parent_id is None


def test_a_door_of_another_school_cannot_be_given_to_a_group(
    school: Any, other_school: Any, building: Zone, main_door: Door
) -> None:
    with pytest.raises(ServiceError) as refused:
        setup.save_group(
            school=other_school,
            name_kk="X",
            name_ru="X",
            members="staff",
            doors=[main_door],
        )
    assert refused.value.code == "foreign_row"


def test_closing_a_weekday_refuses_passes_on_it(
    school: Any, main_door: Door, groups: Any, card: Credential
) -> None:
    # given the pupils may pass on Mondays 06:30–19:00
    pupils, _staff = groups
    assert _decide(school, main_door, card) == "ok"
    # when Monday is narrowed to 08:00–13:30 and Tuesday left as it is
    setup.set_week(group=pupils, week={0: [(dt.time(8), dt.time(13, 30))]})
    # then 07:52 on Monday is outside the hours, and Tuesday kept its window
    assert _decide(school, main_door, card) == "outside_hours"
    assert _decide(school, main_door, card, MONDAY_0752 + dt.timedelta(days=1)) == "ok"
    assert TimeWindow.objects.filter(group=pupils, weekday=1).count() == 1


def test_overlapping_windows_are_refused_and_nothing_changes(groups: Any) -> None:
    pupils, _staff = groups
    before = list(TimeWindow.objects.filter(group=pupils).values_list("weekday", "starts_at"))
    with pytest.raises(ServiceError) as refused:
        setup.set_week(
            group=pupils,
            week={
                1: [(dt.time(8), dt.time(9))],
                2: [(dt.time(8), dt.time(12)), (dt.time(11), dt.time(14))],
            },
        )
    assert refused.value.code == "windows_overlap"
    after = list(TimeWindow.objects.filter(group=pupils).values_list("weekday", "starts_at"))
    assert after == before


def test_a_rotated_secret_replaces_the_old_one_at_once(
    turnstile: Any, groups: Any, card: Credential, django_capture_on_commit_callbacks: Any
) -> None:
    # given a device that has called once (it is in the signature cache)
    body = {"credential": card.value}
    assert turnstile.post(DECIDE, body).status_code == 200
    # when the admin issues a new secret
    with django_capture_on_commit_callbacks(execute=True):
        new_secret = setup.rotate_secret(device=turnstile.device)
    # then the old secret is refused and the new one works
    refused = turnstile.post(DECIDE, body)
    assert refused.status_code == 401 and refused.json()["code"] == "bad_signature"
    turnstile.secret = new_secret
    assert turnstile.post(DECIDE, body).status_code == 200


def test_a_switched_off_device_is_refused(
    turnstile: Any, groups: Any, card: Credential, django_capture_on_commit_callbacks: Any
) -> None:
    body = {"credential": card.value}
    assert turnstile.post(DECIDE, body).status_code == 200
    with django_capture_on_commit_callbacks(execute=True):
        setup.set_device_active(device=turnstile.device, active=False)
    refused = turnstile.post(DECIDE, body)
    assert refused.status_code == 401 and refused.json()["code"] == "unknown_device"


def test_a_device_cannot_stand_in_a_lane_the_door_lacks(school: Any, main_door: Door) -> None:
    with pytest.raises(ServiceError) as refused:
        setup.add_device(school=school, name="T9", kind="turnstile", door=main_door, lane=9)
    assert refused.value.code == "invalid_lane"


def test_settings_are_checked_and_saved(school: Any) -> None:
    with pytest.raises(ServiceError) as refused:
        setup.save_settings(
            school=school,
            anti_passback_minutes=0,
            permit_grade_from=5,
            permit_grade_to=2,
            late_grace_minutes=5,
            absence_alert_days=3,
            notify_repeat_minutes=15,
        )
    assert refused.value.code == "invalid_grades"
    row = setup.save_settings(
        school=school,
        anti_passback_minutes=3,
        permit_grade_from=1,
        permit_grade_to=4,
        late_grace_minutes=10,
        absence_alert_days=2,
        notify_repeat_minutes=20,
    )
    stored = AccessSettings.objects.get(school=school)
    assert (stored.anti_passback_minutes, stored.late_grace_minutes) == (3, 10)
    assert row.rules_version == stored.rules_version >= 1


def test_blocking_a_card_refuses_it_and_moves_the_rules_on(
    school: Any, main_door: Door, groups: Any, card: Credential
) -> None:
    before = _version(school)
    setup.block_card(credential=card, by=None, reason="found in the yard", lost=True)
    assert _version(school) == before + 1
    assert _decide(school, main_door, card) == "credential_blocked"


def test_a_device_secret_is_safe_to_type_on_a_command_line(school: Any) -> None:
    # 256 random bits in hex: never taken for an option ("--secret -x…") or cut by a shell
    for _n in range(20):
        _device, secret = services.register_device(
            school=school, name="T", kind="turnstile", door=None
        )
        assert len(secret) == 64 and all(c in "0123456789abcdef" for c in secret)
