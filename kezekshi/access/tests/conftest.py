"""Fixtures of the access app: a school with a building, a main entrance, a turnstile
with its secret, access groups for the pupils and the staff, and a pupil with a card."""

from __future__ import annotations

import datetime as dt
import itertools
import json
from dataclasses import dataclass
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from django.test import Client

from kezekshi.access import services
from kezekshi.access.device_auth import signed_headers
from kezekshi.access.models import AccessGroup, Device, Door, TimeWindow, Zone
from kezekshi.core.models import School, Shift


@dataclass
class Terminal:
    """A device as the tests drive it: signs every request like the firmware would."""

    device: Device
    secret: str
    client: Client

    def post(
        self, path: str, body: Any, *, device_time: str | None = None, raw: bytes | None = None
    ) -> Any:
        data = raw if raw is not None else json.dumps(body).encode()
        headers = signed_headers(
            device_id=self.device.pk,
            secret=self.secret,
            method="POST",
            path=path,
            body=data,
            device_time=device_time,
        )
        return self.client.post(
            path,
            data=data,
            content_type="application/json",
            headers=headers,  # type: ignore[arg-type]
        )

    def get(self, path: str) -> Any:
        headers = signed_headers(
            device_id=self.device.pk, secret=self.secret, method="GET", path=path, body=b""
        )
        return self.client.get(path, headers=headers)  # type: ignore[arg-type]


ALMATY = ZoneInfo("Asia/Almaty")
_record_numbers = itertools.count(1)


def almaty_at(day: str, time: str) -> dt.datetime:
    """A moment given in Almaty local time: ``almaty_at("2025-03-04", "08:05")``."""
    return dt.datetime.fromisoformat(f"{day}T{time}").replace(tzinfo=ALMATY)


def record_pass(
    terminal: Terminal, person_id: int, when: dt.datetime, direction: str = "in"
) -> None:
    """One allowed pass of ``person_id`` through ``terminal`` at ``when``, recorded as a
    turnstile reports it (``services.record_passes``), with a record number of its own."""
    services.record_passes(
        device=terminal.device,
        reports=[
            services.PassReport(
                record_no=f"r{next(_record_numbers)}",
                direction=direction,
                occurred_at=when,
                allowed=True,
                reason="ok",
                door_id=terminal.device.door_id,
                person_id=person_id,
            )
        ],
    )


@pytest.fixture
def building(school: School) -> Zone:
    return Zone.objects.create(school=school, kind="building", name_kk="Ғимарат", name_ru="Здание")


@pytest.fixture
def main_door(school: School, building: Zone) -> Door:
    return Door.objects.create(
        school=school,
        zone=building,
        name_kk="Басты кіреберіс",
        name_ru="Главный вход",
        name_en="main entrance",
        lanes=8,
    )


@pytest.fixture
def shifts(school: School) -> list[Shift]:
    return [
        Shift.objects.create(
            school=school, number=1, starts_at=dt.time(8, 0), ends_at=dt.time(13, 30)
        ),
        Shift.objects.create(
            school=school, number=2, starts_at=dt.time(13, 30), ends_at=dt.time(19, 0)
        ),
    ]


@pytest.fixture
def groups(school: School, main_door: Door) -> list[AccessGroup]:
    """Pupils of the first shift Mon–Sat 06:30–19:00, staff any time, on working days."""
    pupils = AccessGroup.objects.create(
        school=school, members="pupils_shift_1", name_kk="1-ауысым", name_ru="1 смена"
    )
    staff = AccessGroup.objects.create(
        school=school,
        members="staff",
        name_kk="Қызметкерлер",
        name_ru="Сотрудники",
        open_on_days_off=True,
    )
    for group in (pupils, staff):
        group.doors.add(main_door)
    for weekday in range(6):
        TimeWindow.objects.create(
            school=school,
            group=pupils,
            weekday=weekday,
            starts_at=dt.time(6, 30),
            ends_at=dt.time(19, 0),
        )
    services.bump_rules(school_id=school.pk)
    return [pupils, staff]


@pytest.fixture
def turnstile(school: School, main_door: Door) -> Terminal:
    device, secret = services.register_device(
        school=school, name="Turnstile 1", kind="turnstile", door=main_door, lane=1
    )
    return Terminal(device, secret, Client())


@pytest.fixture
def card(pupil: Any) -> Any:
    return services.issue_card(person=pupil.person, uid="123,45678", by=None)
