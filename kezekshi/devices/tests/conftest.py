"""Fixtures of the devices app: the access fixtures (a school with a building, a main
entrance, access groups, a pupil with a card...) and ZKTeco terminals bound to the main
entrance, driven with the raw bytes a real terminal sends."""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

import pytest
from django.test import Client

from kezekshi.access.models import Device, Door
from kezekshi.access.services import register_device
from kezekshi.access.tests.conftest import (  # noqa: F401 - fixtures for the device tests
    building,
    card,
    groups,
    main_door,
    shifts,
    turnstile,
)
from kezekshi.core.models import School
from kezekshi.devices.models import Link, Protocol


@pytest.fixture(autouse=True)
def _english(settings: Any) -> Iterator[None]:
    """Terminals send no Accept-Language, so refusals come in the default language
    (Kazakh); these tests read the English texts."""
    from django.utils import translation

    settings.LANGUAGE_CODE = "en"
    with translation.override("en"):
        yield


@pytest.fixture(autouse=True)
def _fresh_zkteco_caches() -> Iterator[None]:
    """``last_seen_at`` is written at most every few seconds per device id; a rolled-back
    test hands the same ids out again."""
    from kezekshi.devices import sync
    from kezekshi.devices.zkteco import services

    services.forget_seen()
    sync.forget_checks()  # the 2 s fingerprint throttle keys on school ids too
    yield
    services.forget_seen()


@dataclass
class ZkTerminal:
    """A ZKTeco terminal as the tests drive it: raw bytes to ``/iclock/...``."""

    device: Device
    link: Link
    client: Client

    @property
    def serial(self) -> str:
        return self.device.serial_number

    def url(self, endpoint: str, **params: Any) -> str:
        return f"/iclock/{endpoint}?{urlencode({'SN': self.serial, **params})}"

    def get(self, endpoint: str, **params: Any) -> Any:
        return self.client.get(self.url(endpoint, **params))

    def post(self, endpoint: str, body: bytes | str, **params: Any) -> Any:
        raw = body.encode() if isinstance(body, str) else body
        return self.client.generic(
            "POST", self.url(endpoint, **params), data=raw, content_type="text/plain"
        )

    def pair(self) -> str:
        """The access dialect's handshake (registry, then push), then the cookie token on
        every request, as a real terminal does; returns the token."""
        self.post("registry", "DeviceType=acc,~DeviceName=ZK", pushver="3.1.2")
        self.get("push")
        self.refresh()
        token = hashlib.md5(
            f"{self.link.registry_code}{self.serial}{self.link.session_id}".encode(),
            usedforsecurity=False,
        ).hexdigest()
        self.client.cookies["token"] = token
        return token

    def refresh(self) -> None:
        self.device.refresh_from_db()
        self.link.refresh_from_db()


def bind_terminal(
    *, school: School, door: Door | None, serial: str, protocol: str, direction: str = ""
) -> ZkTerminal:
    """A device with a ZKTeco link, as approval in the portal makes it."""
    device = Device.objects.create(
        school=school,
        name=f"ZK {serial}",
        kind=Device.Kind.FACE_TERMINAL,
        door=door,
        direction=direction,
        serial_number=serial,
        secret="unused-by-zkteco",
    )
    link = Link.objects.create(device=device, protocol=protocol)
    return ZkTerminal(device, link, Client())


@pytest.fixture
def zk_terminal(school: School, main_door: Door) -> Callable[..., ZkTerminal]:  # noqa: F811
    def make(serial: str = "CKJX201860013", protocol: str = "zkteco-acc", **kw: Any) -> ZkTerminal:
        return bind_terminal(school=school, door=main_door, serial=serial, protocol=protocol, **kw)

    return make


@pytest.fixture
def acc(zk_terminal: Callable[..., ZkTerminal]) -> ZkTerminal:
    """A security (access) dialect terminal at the main entrance."""
    return zk_terminal("CKJX201860013", "zkteco-acc")


@pytest.fixture
def att(zk_terminal: Callable[..., ZkTerminal]) -> ZkTerminal:
    """An attendance dialect terminal at the main entrance."""
    return zk_terminal("BOCK194960010", "zkteco-att")


def terminal(school: Any, door: Door, protocol: str, *, name: str = "T", kind: str = "") -> Device:
    """A registered device with a link of ``protocol`` (the device-sync and queue tests)."""
    device, _secret = register_device(
        school=school,
        name=name,
        kind=kind or Device.Kind.TURNSTILE,
        door=door,
        serial_number=f"SN-{name}",
    )
    Link.objects.create(device=device, protocol=protocol)
    return device


@pytest.fixture
def zk(school: Any, main_door: Door) -> Device:  # noqa: F811
    return terminal(school, main_door, Protocol.ZKTECO_ACC, name="ZK")


@pytest.fixture
def hik(school: Any, main_door: Door) -> Device:  # noqa: F811
    return terminal(school, main_door, Protocol.HIKVISION, name="HIK", kind="face_terminal")
