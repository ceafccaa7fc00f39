"""Device health: a terminal silent in school hours is told to the school admins once."""

from __future__ import annotations

import datetime as dt
import io
from typing import Any

import pytest
from django.core.management import call_command

from kezekshi.access import services
from kezekshi.access.models import Device, Door
from kezekshi.access.tests.conftest import almaty_at, building, main_door, shifts  # noqa: F401
from kezekshi.accounts.roles import Role
from kezekshi.devices import health
from kezekshi.devices.models import Link, Protocol
from kezekshi.notifications.models import Notification

pytestmark = pytest.mark.django_db

MONDAY_10 = almaty_at("2025-12-01", "10:00")


@pytest.fixture
def device(school: Any, main_door: Door) -> Device:  # noqa: F811
    device, _secret = services.register_device(
        school=school, name="Main turnstile", kind="turnstile", door=main_door
    )
    Link.objects.create(device=device, protocol=Protocol.ZKTECO_ACC)
    return device


@pytest.fixture
def admins(school: Any, make_user: Any) -> list[Any]:
    return [
        # No password: hashing one costs more than the whole test.
        make_user(Role.SCHOOL_ADMIN, school, language="ru", password=None),
        make_user(Role.SCHOOL_ADMIN, school, language="en", password=None),
        make_user(Role.GUARD, school, password=None),
    ]


def seen(device: Device, at: dt.datetime) -> None:
    Device.objects.filter(pk=device.pk).update(last_seen_at=at)


def test_a_silent_terminal_is_told_to_each_admin_once_in_their_language(
    device: Device,
    admins: list[Any],
    shifts: Any,  # noqa: F811
) -> None:
    seen(device, MONDAY_10 - dt.timedelta(minutes=25))
    # when the health check runs in school hours
    told = health.alert_silent(MONDAY_10)
    # then each admin (not the guard) gets one notice in their language
    assert [s.device.pk for s in told] == [device.pk]
    notices = {n.recipient_id: n.text for n in Notification.objects.filter(kind="device")}
    assert set(notices) == {admins[0].pk, admins[1].pk}
    assert "Main turnstile" in notices[admins[1].pk] and "09:35" in notices[admins[1].pk]
    assert Link.objects.get(device=device).silent_alerted_at == MONDAY_10
    # and the next runs of the same silence tell nobody again
    assert health.alert_silent(MONDAY_10 + dt.timedelta(minutes=5)) == []
    assert health.alert_silent(MONDAY_10 + dt.timedelta(minutes=10)) == []
    assert Notification.objects.filter(kind="device").count() == 2


def test_a_terminal_seen_again_is_told_again_at_its_next_silence(
    device: Device,
    admins: list[Any],
    shifts: Any,  # noqa: F811
) -> None:
    seen(device, MONDAY_10 - dt.timedelta(minutes=25))
    health.alert_silent(MONDAY_10)
    # the terminal comes back, and the mark is cleared
    seen(device, MONDAY_10 + dt.timedelta(minutes=3))
    assert health.alert_silent(MONDAY_10 + dt.timedelta(minutes=5)) == []
    assert Link.objects.get(device=device).silent_alerted_at is None
    # then it goes silent again: a new silence, a new notice
    later = MONDAY_10 + dt.timedelta(hours=1)
    assert len(health.alert_silent(later)) == 1
    assert Notification.objects.filter(kind="device").count() == 4


@pytest.mark.parametrize(
    "now",
    [
        almaty_at("2025-12-01", "21:00"),  # after the last shift
        almaty_at("2025-12-01", "07:00"),  # before the first
        almaty_at("2025-11-30", "10:00"),  # a Sunday
        almaty_at("2025-12-16", "10:00"),  # Independence Day
    ],
)
def test_no_alert_outside_school_hours(
    now: dt.datetime,
    device: Device,
    admins: list[Any],
    shifts: Any,  # noqa: F811
) -> None:
    seen(device, now - dt.timedelta(hours=2))
    assert health.silent_devices(now) == []
    assert health.alert_silent(now) == []
    assert not Notification.objects.exists()


def test_no_alert_for_a_short_pause_a_device_never_seen_or_switched_off(
    school: Any,
    device: Device,
    admins: list[Any],
    main_door: Door,  # noqa: F811
    shifts: Any,  # noqa: F811
) -> None:
    seen(device, MONDAY_10 - dt.timedelta(minutes=9))
    _never, _secret = services.register_device(
        school=school, name="Spare", kind="turnstile", door=main_door
    )
    off, _secret = services.register_device(
        school=school, name="Old", kind="turnstile", door=main_door
    )
    Device.objects.filter(pk=off.pk).update(
        is_active=False, last_seen_at=MONDAY_10 - dt.timedelta(days=3)
    )
    assert health.alert_silent(MONDAY_10) == []


def test_a_school_without_shifts_has_no_school_hours(device: Device, admins: list[Any]) -> None:
    seen(device, MONDAY_10 - dt.timedelta(hours=1))
    assert health.alert_silent(MONDAY_10) == []


def test_a_native_device_gets_its_health_kept_too(
    school: Any,
    admins: list[Any],
    main_door: Door,  # noqa: F811
    shifts: Any,  # noqa: F811
) -> None:
    device, _secret = services.register_device(
        school=school, name="Reader", kind="card_reader", door=main_door
    )
    seen(device, MONDAY_10 - dt.timedelta(hours=1))
    assert len(health.alert_silent(MONDAY_10)) == 1
    assert Link.objects.get(device=device).protocol == Protocol.NATIVE
    assert health.alert_silent(MONDAY_10) == []


def test_the_command_runs_once(device: Device, admins: list[Any]) -> None:
    out = io.StringIO()
    call_command("device_health", stdout=out)
    assert "new silence(s) told" in out.getvalue()


def test_sync_devices_command_reports_what_it_queued(device: Device) -> None:
    out = io.StringIO()
    call_command("sync_devices", "--full", stdout=out)
    assert "0 command(s) queued for 1 school(s)" in out.getvalue()
