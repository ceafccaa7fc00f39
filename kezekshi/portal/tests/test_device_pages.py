"""The terminal pages: approving a waiting terminal, health and sync status, the buttons."""

from __future__ import annotations

from typing import Any

import pytest
from django.core.cache import cache
from django.test import Client
from django.utils import timezone

from kezekshi.access import services
from kezekshi.access.models import AccessGroup, Device, Door, Zone
from kezekshi.access.tests.conftest import building, groups, main_door  # noqa: F401
from kezekshi.accounts.roles import Role
from kezekshi.conftest import make_school, verified_client
from kezekshi.devices import queue, sync
from kezekshi.devices.models import Command, Enrolment, Link, PendingTerminal, Protocol
from kezekshi.edge import relay
from kezekshi.people.models import Pupil
from kezekshi.privacy.models import AuditEntry

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _empty_cache() -> None:
    cache.clear()
    sync.forget_checks()


@pytest.fixture
def admin(school: Any, make_user: Any) -> Client:
    client = verified_client(make_user(Role.SCHOOL_ADMIN, school))
    client.defaults["HTTP_ACCEPT_LANGUAGE"] = "en"
    return client


@pytest.fixture
def zk(school: Any, main_door: Door) -> Device:  # noqa: F811
    device, _secret = services.register_device(
        school=school, name="Main ZK", kind="turnstile", door=main_door, serial_number="ZK0009"
    )
    Link.objects.create(device=device, protocol=Protocol.ZKTECO_ACC)
    return device


CLAIM = "/access/terminals/claim/"
FORGET = "/access/terminals/claim/forget/"


def approve_form(door: Door, serial: str, **fields: Any) -> dict[str, Any]:
    return {
        "serial_number": serial,
        "name": "Кіреберіс 1",
        "kind": "turnstile",
        "door": door.pk,
        "lane": 1,
        "direction": "",
        "decision_mode": "device",
        **fields,
    }


def test_a_terminal_that_called_in_is_approved_and_gets_its_people(
    admin: Client,
    school: Any,
    main_door: Door,  # noqa: F811
    pupil: Pupil,
    groups: list[AccessGroup],  # noqa: F811
) -> None:
    card = services.issue_card(person=pupil.person, uid="123,45678", by=None)
    terminal = Client()
    # given a ZKTeco terminal (attendance dialect) calling in with an unknown serial
    first = terminal.get("/iclock/cdata?SN=AJYS220160123&options=all&pushver=2.4.1")
    assert first.status_code == 403
    assert PendingTerminal.objects.filter(serial_number="AJYS220160123").exists()
    # the admin types the serial number read off the terminal and sees its details
    found = admin.post(CLAIM, {"serial_number": " AJYS220160123 "})
    assert found.status_code == 200
    assert "AJYS220160123" in found.content.decode() and 'name="door"' in found.content.decode()
    # when the admin approves it onto the main door
    response = admin.post(CLAIM, approve_form(main_door, "AJYS220160123"))
    assert response.status_code == 302
    device = Device.objects.get(serial_number="AJYS220160123")
    assert (device.school_id, device.door_id, device.link.protocol) == (
        school.pk,
        main_door.pk,
        Protocol.ZKTECO_ATT,
    )
    assert not PendingTerminal.objects.exists()
    # then the terminal is recognised and its next poll brings the pupil and the card
    assert (
        terminal.get("/iclock/cdata?SN=AJYS220160123&options=all&pushver=2.4.1").status_code == 200
    )
    commands = terminal.get("/iclock/getrequest?SN=AJYS220160123").content.decode()
    assert f"PIN={pupil.person_id}" in commands
    assert str(int(card.value, 16)) in commands
    # and the terminal's page shows the command sent, awaiting its answer
    page = admin.get(f"/access/terminals/{device.pk}/").content.decode()
    assert "Сейтқали" in page and "Add or update a person" in page
    assert AuditEntry.objects.filter(details__list="terminal_commands").exists()


def test_a_serial_already_bound_cannot_be_approved_twice(
    admin: Client,
    zk: Device,
    main_door: Door,  # noqa: F811
) -> None:
    PendingTerminal.objects.create(serial_number="ZK0009", protocol=Protocol.ZKTECO_ACC)
    response = admin.post(CLAIM, approve_form(main_door, "ZK0009"))
    assert response.status_code == 409
    assert "already registered" in response.content.decode()
    assert Device.objects.filter(serial_number="ZK0009").count() == 1


def test_a_hikvision_terminal_is_approved_with_its_address_and_account(
    admin: Client,
    main_door: Door,  # noqa: F811
) -> None:
    serial = "DS-K1T671M20230101"
    PendingTerminal.objects.create(
        serial_number=serial, protocol=Protocol.HIKVISION, remote_addr="10.0.0.7"
    )
    # an address that is no terminal on a network: the server does not call it
    for address in ("ftp://10.0.0.7", "http://169.254.169.254", "http://127.0.0.1:5432"):
        bad = approve_form(main_door, serial, address=address, username="admin", password="x")
        assert admin.post(CLAIM, bad).status_code == 422, address
    good = approve_form(
        main_door, serial, kind="face_terminal", address="http://10.0.0.7:80", username="admin",
        password="Secret-123",
    )  # fmt: skip
    assert admin.post(CLAIM, good).status_code == 302
    link = Link.objects.get(device__serial_number="DS-K1T671M20230101")
    assert (link.protocol, link.address, link.username, link.password) == (
        Protocol.HIKVISION,
        "http://10.0.0.7:80",
        "admin",
        "Secret-123",
    )
    # the page shows where the terminal pushes its events, never the password
    page = admin.get(f"/access/terminals/{link.device_id}/").content.decode()
    assert "/isapi/DS-K1T671M20230101/" in page and "Secret-123" not in page
    # a settings change with an empty password keeps the stored one
    response = admin.post(
        f"/access/terminals/{link.device_id}/",
        {"decision_mode": "server", "address": "http://10.0.0.8", "username": "ops"},
    )
    assert response.status_code == 302
    link.refresh_from_db()
    assert (link.decision_mode, link.address, link.password) == (
        "server",
        "http://10.0.0.8",
        "Secret-123",
    )


def test_a_waiting_terminal_is_forgotten_by_its_serial_number(admin: Client) -> None:
    PendingTerminal.objects.create(serial_number="X1", protocol=Protocol.ZKTECO_ACC)
    assert admin.post(FORGET, {"serial_number": "x1"}).status_code == 404  # exact match
    assert PendingTerminal.objects.exists()
    response = admin.post(FORGET, {"serial_number": "X1"})
    assert response.status_code == 302
    assert not PendingTerminal.objects.exists()
    assert admin.post(FORGET, {"serial_number": "X1"}).status_code == 404


def test_waiting_terminals_are_listed_to_nobody_and_claimed_by_the_exact_serial(
    admin: Client,
    school: Any,
    main_door: Door,  # noqa: F811
    make_user: Any,
) -> None:
    # given a terminal waiting, and an admin of another school
    PendingTerminal.objects.create(
        serial_number="AJYS220160123", protocol=Protocol.ZKTECO_ATT, remote_addr="10.1.2.3"
    )
    elsewhere = make_school(prefix=3004)
    stranger = verified_client(make_user(Role.SCHOOL_ADMIN, elsewhere))
    stranger.defaults["HTTP_ACCEPT_LANGUAGE"] = "en"
    # nobody sees it listed
    for client in (admin, stranger):
        page = client.get("/access/terminals/").content.decode()
        assert "AJYS220160123" not in page and "10.1.2.3" not in page
    # a wrong serial number is a clear error on the form
    for typed in ("AJYS22016012", "ajys220160123", "AJYS220160123%", "%"):
        wrong = admin.post(CLAIM, {"serial_number": typed})
        assert wrong.status_code == 404, typed
        assert "No terminal with this serial number is waiting" in wrong.content.decode()
    wrong = admin.post(CLAIM, approve_form(main_door, "AJYS22016012"))
    assert wrong.status_code == 404 and not Device.objects.exists()
    # when this school claims it
    assert admin.post(CLAIM, approve_form(main_door, "AJYS220160123")).status_code == 302
    # then the other school can neither see it, nor claim it, nor forget it
    assert "AJYS220160123" not in stranger.get("/access/terminals/").content.decode()
    zone = Zone.objects.create(school=elsewhere, kind="building", name_kk="Ғимарат")
    other_door = Door.objects.create(school=elsewhere, zone=zone, name_kk="Кіреберіс")
    assert stranger.post(CLAIM, {"serial_number": "AJYS220160123"}).status_code == 404
    assert stranger.post(CLAIM, approve_form(other_door, "AJYS220160123")).status_code == 404
    assert stranger.post(FORGET, {"serial_number": "AJYS220160123"}).status_code == 404
    device = Device.objects.get(serial_number="AJYS220160123")
    assert device.school_id == school.pk


def test_the_terminals_page_shows_sync_status_and_the_buttons_queue_commands(
    admin: Client,
    school: Any,
    zk: Device,
    pupil: Pupil,
    groups: list[AccessGroup],  # noqa: F811
) -> None:
    services.issue_card(person=pupil.person, uid="123,45678", by=None)
    sync.reconcile(school.pk)
    for command in queue.due(zk):
        queue.complete(zk, command.pk, return_code=-1002, error="syntax error")
    Link.objects.filter(device=zk).update(users_count=1, users_capacity=3000, event_backlog=7)
    page = admin.get("/access/terminals/").content.decode()
    assert "Main ZK" in page and "syntax error" in page and "1/3000" in page
    # the resync button queues everything again (and asks the terminal to count)
    assert admin.post(f"/access/terminals/{zk.pk}/resync/").status_code == 302
    kinds = list(Command.objects.filter(device=zk, status="pending").values_list("kind", flat=True))
    assert kinds == ["user.upsert", "device.query_users"]
    # open the door, restart
    assert admin.post(f"/access/terminals/{zk.pk}/open/").status_code == 302
    assert admin.post(f"/access/terminals/{zk.pk}/reboot/").status_code == 302
    assert Command.objects.filter(device=zk, kind="door.open", data__seconds=5).exists()
    assert Command.objects.filter(device=zk, kind="device.reboot").exists()
    # a replaced access-dialect terminal pairs again
    Link.objects.filter(device=zk).update(registry_code="R1", session_id="S1")
    assert admin.post(f"/access/terminals/{zk.pk}/pair-again/").status_code == 302
    link = Link.objects.get(device=zk)
    assert (link.registry_code, link.session_id) == ("", "")


def test_a_face_removal_waiting_for_the_device_is_shown(
    admin: Client,
    school: Any,
    zk: Device,
    pupil: Pupil,
) -> None:
    Enrolment.objects.create(
        device=zk,
        pin=str(pupil.person_id),
        person=pupil.person,
        digest="a" * 32 + sync.NO_FACE,
        has_face=True,
        face_confirmed=True,
    )
    page = admin.get("/access/terminals/").content.decode()
    assert "1 face removal waiting for the device" in page


def test_a_native_device_takes_no_terminal_commands(
    admin: Client,
    school: Any,
    main_door: Door,  # noqa: F811
) -> None:
    device, _secret = services.register_device(
        school=school, name="Reader", kind="card_reader", door=main_door
    )
    response = admin.post(f"/access/terminals/{device.pk}/open/", follow=True)
    assert "Only ZKTeco and Hikvision terminals" in response.content.decode()
    assert not Command.objects.exists()


def test_a_teacher_is_refused_and_another_schools_terminal_is_not_found(
    school: Any,
    zk: Device,
    make_user: Any,
) -> None:
    teacher = verified_client(make_user(Role.CLASS_TEACHER, school))
    assert teacher.get("/access/terminals/").status_code == 403
    assert teacher.post(f"/access/terminals/{zk.pk}/open/").status_code == 403
    elsewhere = make_school(prefix=3003)
    stranger = verified_client(make_user(Role.SCHOOL_ADMIN, elsewhere))
    assert stranger.get(f"/access/terminals/{zk.pk}/").status_code == 404
    assert stranger.post(f"/access/terminals/{zk.pk}/open/").status_code == 404
    assert stranger.post(f"/access/terminals/{zk.pk}/resync/").status_code == 404
    assert not Command.objects.exists()


def test_the_terminals_page_says_which_terminals_call_the_edge_gateway(
    admin: Client, school: Any, zk: Device
) -> None:
    gateway, _secret = services.register_device(
        school=school, name="Gateway", kind="edge_gateway", door=None
    )
    assert "through the edge gateway" not in admin.get("/access/terminals/").content.decode()
    # When the gateway reports the ZKTeco terminal calling it
    relay.note_terminals(gateway, {zk.pk: timezone.now()}, now=timezone.now())
    # Then the page says so next to the terminal's protocol
    page = admin.get("/access/terminals/").content.decode()
    assert page.count("through the edge gateway") == 1
