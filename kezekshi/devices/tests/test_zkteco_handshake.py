"""ZKTeco PUSH: first contact of both dialects, unknown and disabled terminals, tokens,
what terminals tell about themselves, and what is refused before anything is read."""

from __future__ import annotations

import hashlib
from typing import Any

import pytest
from django.test import Client

from kezekshi.devices.models import Link, PendingTerminal

pytestmark = pytest.mark.django_db

REGISTRY_BODY = (
    "DeviceType=acc,~DeviceName=SpeedFace-V5L,FirmVer=ZAM180-NF-Ver1.1.7,"
    "PushVersion=3.1.2,CommType=ethernet,MaxPackageSize=2048000,LockCount=1,"
    "ReaderCount=2,AuxInCount=1,AuxOutCount=1,MachineType=101,~IsOnlyRFMachine=0,"
    "~MaxUserCount=3000,~MaxAttLogCount=100000,~MaxFaceCount=3000,UserCount=12,"
    "TransactionCount=340,FaceCount=9,IPAddress=192.168.1.201,"
    "~DSTF=0,MultiBioDataSupport=0:1:0:0:0:0:0:0:0:1"
)


def test_an_attendance_terminal_gets_its_options_on_first_contact(att: Any) -> None:
    answer = att.get("cdata", options="all", pushver="2.4.1", language="69")
    assert answer.status_code == 200
    assert answer["Content-Type"].startswith("text/plain")
    assert answer["Date"].endswith("GMT")
    text = answer.content.decode()
    assert text.startswith(f"GET OPTION FROM: {att.serial}\n")
    for line in ("ATTLOGStamp=None", "TimeZone=5", "Realtime=1", "Encrypt=None"):
        assert line in text.splitlines()
    att.refresh()
    assert att.link.push_version == "2.4.1"
    assert att.device.last_seen_at is not None


def test_an_access_terminal_registers_once_and_gets_its_session(acc: Any) -> None:
    first = acc.post("registry", REGISTRY_BODY, pushver="3.1.2")
    assert first.status_code == 200
    code = first.content.decode().strip().removeprefix("RegistryCode=")
    assert code and "\n" not in code
    again = acc.post("registry", REGISTRY_BODY, pushver="3.1.2")
    assert again.content.decode().strip() == f"RegistryCode={code}"
    config = acc.get("push").content.decode().splitlines()
    assert "PushProtVer=3.1.2" in config and "Realtime=1" in config
    session = next(line for line in config if line.startswith("SessionID="))[10:]
    acc.refresh()
    acc.client.cookies["token"] = hashlib.md5(
        f"{code}{acc.serial}{session}".encode(), usedforsecurity=False
    ).hexdigest()
    # Re-registering and re-pushing with its token: the same code and session.
    again = acc.post("registry", REGISTRY_BODY, pushver="3.1.2")
    assert again.content.decode().strip() == f"RegistryCode={code}"
    assert acc.get("push").content.decode().count(f"SessionID={session}") == 1
    acc.refresh()
    assert acc.link.registry_code == code and acc.link.session_id == session
    assert acc.device.firmware == "ZAM180-NF-Ver1.1.7"
    assert acc.link.users_capacity == 3000 and acc.link.faces_capacity == 3000
    assert acc.link.users_count == 12 and acc.link.faces_count == 9
    assert acc.link.events_capacity == 100000 and acc.link.event_backlog == 340
    assert acc.link.options["info"]["MultiBioDataSupport"] == "0:1:0:0:0:0:0:0:0:1"


def test_the_cookie_token_must_be_this_terminals(acc: Any, zk_terminal: Any) -> None:
    acc.post("registry", REGISTRY_BODY)
    acc.get("push")
    acc.refresh()
    link = acc.link
    token = hashlib.md5(
        f"{link.registry_code}{acc.serial}{link.session_id}".encode(), usedforsecurity=False
    ).hexdigest()
    acc.client.cookies["token"] = token
    assert acc.get("getrequest").status_code == 200
    other = zk_terminal("CKJX201860099", "zkteco-acc")
    other.client.cookies["token"] = token  # the first terminal's token with another SN
    refused = other.get("getrequest")
    assert refused.status_code == 403
    assert b"token" in refused.content


def test_an_unknown_terminal_waits_for_approval(school: Any) -> None:
    client = Client(REMOTE_ADDR="10.0.0.7")
    answer = client.get("/iclock/cdata?SN=NEW0001&options=all&pushver=2.4.1&language=69")
    assert answer.status_code == 403
    assert answer.content.decode().endswith("\n") and len(answer.content) < 80
    client.get("/iclock/getrequest?SN=NEW0001&INFO=Ver%208.0.4,10,0,0,10.0.0.7")
    waiting = PendingTerminal.objects.get(serial_number="NEW0001")
    assert waiting.protocol == "zkteco-att"
    assert waiting.contacts == 2
    assert waiting.remote_addr == "10.0.0.7"
    assert waiting.info["pushver"] == "2.4.1" and waiting.info["INFO"].startswith("Ver 8.0.4")
    registry = client.generic(
        "POST",
        "/iclock/registry?SN=NEW0002",
        data=REGISTRY_BODY.encode(),
        content_type="text/plain",
    )
    assert registry.status_code == 403
    acc = PendingTerminal.objects.get(serial_number="NEW0002")
    assert acc.protocol == "zkteco-acc" and acc.info["~DeviceName"] == "SpeedFace-V5L"
    assert not Link.objects.exists()


def test_a_disabled_terminal_is_refused(acc: Any) -> None:
    acc.device.is_active = False
    acc.device.save()
    answer = acc.post("cdata", "time=2025-12-01 08:00:00\tpin=1\tevent=0\tindex=1", table="rtlog")
    assert answer.status_code == 403


@pytest.mark.parametrize("serial", ["", "a b", "x" * 101, "SN\n1"])
def test_a_request_without_a_proper_serial_number_is_refused(client: Client, serial: str) -> None:
    from urllib.parse import quote

    assert client.get(f"/iclock/getrequest?SN={quote(serial)}").status_code == 400


def test_the_aspx_spellings_and_ping(att: Any) -> None:
    assert att.client.get(f"/iclock/cdata.aspx?SN={att.serial}&options=all").status_code == 200
    assert att.client.get(f"/iclock/getrequest.aspx?SN={att.serial}").content == b"OK\n"
    assert att.get("ping").content == b"OK\n"
    assert att.client.get(f"/iclock/ping.aspx?SN={att.serial}").status_code == 200


def test_a_terminal_asks_the_time(acc: Any) -> None:
    text = acc.get("rtdata", type="time").content.decode()
    assert text.startswith("DateTime=") and text.strip().endswith("ServerTZ=+0500")


def test_an_oversized_body_is_refused_unread(acc: Any) -> None:
    line = (
        b"time=2025-12-01 08:00:00\tpin=1\tcardno=0\teventaddr=1\tevent=0\t"
        b"inoutstatus=0\tverifytype=15\tindex=1\n"
    )
    body = line * (2 * 1024 * 1024 // len(line) + 1)
    answer = acc.post("cdata", body, table="rtlog")
    assert answer.status_code == 413
    from kezekshi.access.models import AccessEvent

    assert not AccessEvent.objects.exists()


def test_attendance_info_on_a_poll_is_kept(att: Any) -> None:
    att.get("getrequest", INFO="Ver 8.0.4.2-20190425,120,30,4512,192.168.1.201,10,7,12,88,111")
    att.refresh()
    assert att.device.firmware == "Ver 8.0.4.2-20190425"
    assert att.link.users_count == 120 and att.link.faces_count == 88
    assert att.link.event_backlog == 4512
