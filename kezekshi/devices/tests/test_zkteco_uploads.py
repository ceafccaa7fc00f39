"""ZKTeco uploads: ATTLOG and rtlog become passes once (re-sends after a reboot change
nothing), device events and alarms become status, malformed lines are skipped while the
good ones land, and nothing is acknowledged that the database did not take."""

from __future__ import annotations

from typing import Any

import pytest
from django.db import OperationalError, connection

from kezekshi.access.models import AccessEvent

pytestmark = pytest.mark.django_db


def rtlog(index: int, *, pin: Any = 0, card: str = "0", event: int = 0, inout: int = 0,
          verify: int = 15, time: str = "2025-12-01 07:55:0") -> str:  # fmt: skip
    stamp = f"{time}{index % 10}" if len(time) == 18 else time
    return (
        f"time={stamp}\tpin={pin}\tcardno={card}\teventaddr=1\tevent={event}\t"
        f"inoutstatus={inout}\tverifytype={verify}\tindex={index}\n"
    )


def test_attlog_passes_are_stored_once_across_resends(att: Any, pupil: Any) -> None:
    pin = str(pupil.person_id)
    body = (
        f"{pin}\t2025-12-01 07:58:12\t0\t15\t0\t0\t0\n"
        f"{pin}\t2025-12-01 13:31:40\t1\t15\t0\t0\t0\r\n"
        f"{pin}\t2025-12-01 14:02:03\t3\t4\t0\t0\t0\n"
    )
    answer = att.post("cdata", body, table="ATTLOG", Stamp="9999")
    assert answer.status_code == 200 and answer.content == b"OK\n"
    events = list(AccessEvent.objects.order_by("occurred_at"))
    assert [e.record_no for e in events] == [
        f"att:{pin}:2025-12-01T07:58:12",
        f"att:{pin}:2025-12-01T13:31:40",
        f"att:{pin}:2025-12-01T14:02:03",
    ]
    assert [e.direction for e in events] == ["in", "out", "in"]  # 3: the device's default
    assert {e.allowed for e in events} == {True}
    # A face match of a pupil without biometric consent is kept without the pupil.
    assert events[0].person_id is None and events[0].reason == "biometric_no_consent"
    assert events[2].person_id == pupil.person_id and events[2].reason == "ok"
    assert events[0].occurred_at.isoformat() == "2025-12-01T02:58:12+00:00"
    # After a reboot the terminal sends its log again, with one new pass.
    again = body + f"{pin}\t2025-12-01 15:00:00\t1\t4\t0\t0\t0\n"
    assert att.post("cdata", again, table="ATTLOG").status_code == 200
    assert AccessEvent.objects.count() == 4


def test_rtlog_passes_denials_and_device_events(acc: Any, card: Any, pupil: Any) -> None:
    pin = pupil.person_id
    body = (
        rtlog(101, pin=pin, card="8106606", verify=4)  # the pupil's card (123,45678)
        + rtlog(102, pin=pin, event=0, inout=1, verify=4)
        + rtlog(103, pin=0, card="99999", event=27, verify=4)  # unregistered card
        + rtlog(104, pin=pin, event=24, verify=4)  # anti-passback
        + rtlog(105, pin=0, event=206)  # device started
        + rtlog(106, pin=0, event=102)  # door forced open: an alarm
        + rtlog(107, pin=pin, event=200)  # door opened: the door's state, not a pass
        + rtlog(108, pin=pin, event=41, verify=4)
    )
    answer = acc.post("cdata", body, table="rtlog")
    assert answer.status_code == 200 and answer.content == b"OK\n"
    events = {e.record_no: e for e in AccessEvent.objects.all()}
    assert sorted(events) == ["rt:101", "rt:102", "rt:103", "rt:104", "rt:108"]
    first = events["rt:101"]
    assert first.allowed and first.person_id == pin and first.credential_id == card.pk
    assert first.direction == "in"
    assert events["rt:102"].direction == "out" and events["rt:102"].person_id == pin
    unknown = events["rt:103"]
    assert not unknown.allowed and unknown.reason == "unknown_credential"
    assert unknown.person_id is None
    assert events["rt:104"].reason == "anti_passback" and not events["rt:104"].allowed
    assert events["rt:108"].reason == "zk_41"
    acc.refresh()
    assert acc.link.last_error.startswith("alarm 102 at 2025-12-01T07:55:06")
    assert [e["event"] for e in acc.link.options["last_events"]] == ["206", "102", "200"]
    # The reboot: everything again, and nothing changes.
    assert acc.post("cdata", body, table="rtlog").status_code == 200
    assert AccessEvent.objects.count() == 5


def test_the_acknowledgement_may_carry_the_count(acc: Any, pupil: Any, settings: Any) -> None:
    settings.ZKTECO_ACK_COUNT = True
    body = rtlog(1, pin=pupil.person_id) + rtlog(2, pin=pupil.person_id)
    assert acc.post("cdata", body, table="rtlog").content == b"OK: 2\n"


def test_malformed_lines_are_skipped_and_the_good_ones_land(
    acc: Any, pupil: Any, caplog: Any
) -> None:
    body = (
        rtlog(201, pin=pupil.person_id)
        + "time=yesterday\tpin=5\tevent=0\tindex=202\n"
        + "garbage without fields\n"
        + "time=2025-12-01 07:56:00\tpin=5\tevent=0\tindex=-3\n"
        + "time=2025-12-01 07:56:00\tpin=5\tevent=zero\tindex=204\n"
        + rtlog(205, pin=pupil.person_id, inout=1)
    )
    caplog.set_level("WARNING", logger="kezekshi.devices.zkteco")
    answer = acc.post("cdata", body, table="rtlog")
    assert answer.status_code == 200
    assert sorted(AccessEvent.objects.values_list("record_no", flat=True)) == ["rt:201", "rt:205"]
    warnings = [r.getMessage() for r in caplog.records]
    assert any(acc.serial in w and "4 of 6 lines malformed" in w for w in warnings)


def test_nul_bytes_and_broken_utf8_are_no_storage_failure(acc: Any, pupil: Any) -> None:
    body = (
        rtlog(211, pin=pupil.person_id).encode()
        + b"time=2025-12-01 07:57:00\tpin=0\tevent=206\tindex=212\tnote=\x00\xff\xfe\n"
        + b"\x00\x00\x00\n"
    )
    answer = acc.post("cdata", body, table="rtlog")
    assert answer.status_code == 200
    assert AccessEvent.objects.get().record_no == "rt:211"
    acc.refresh()
    assert acc.link.options["last_events"][0]["note"] == "\ufffd\ufffd"
    unknown = acc.client.get("/iclock/cdata?SN=NUL0001&options=all&pushver=2.4%00")
    assert unknown.status_code == 403


def test_garbage_attlog_lines(att: Any, pupil: Any) -> None:
    body = (
        "\t2025-12-01 07:58:12\t0\t15\n"
        f"{pupil.person_id}\t2025-13-01 07:58:12\t0\t15\n"
        f"{pupil.person_id}\n"
        "1 2 3\tnot a time\n"
        f"{pupil.person_id}\t2025-12-01 07:59:00\t0\t4\t0\t0\t0\n"
    )
    assert att.post("cdata", body, table="ATTLOG").status_code == 200
    assert AccessEvent.objects.get().record_no == f"att:{pupil.person_id}:2025-12-01T07:59:00"


def test_a_pin_that_is_nobody_here_is_still_a_pass(acc: Any, other_school: Any) -> None:
    from kezekshi.people.models import Person

    stranger = Person.objects.create(school=other_school, last_name="X", first_name="Y")
    body = rtlog(301, pin=stranger.pk, verify=4) + rtlog(302, pin=1, verify=4)
    assert acc.post("cdata", body, table="rtlog").status_code == 200
    events = list(AccessEvent.objects.order_by("record_no"))
    assert [e.record_no for e in events] == ["rt:301", "rt:302"]
    assert {e.person_id for e in events} == {None}


def test_an_unknown_table_is_refused(acc: Any) -> None:
    answer = acc.post("cdata", "x=1\n", table="SALARY")
    assert answer.status_code == 400
    assert answer.content.decode() == "Unknown table: SALARY\n"


def test_a_database_failure_answers_500_and_nothing_is_acknowledged(acc: Any, pupil: Any) -> None:
    body = rtlog(401, pin=pupil.person_id) + rtlog(402, pin=pupil.person_id)

    def events_table_fails(execute: Any, sql: str, params: Any, many: bool, context: Any) -> Any:
        # Every statement on the events table fails, as on a full disk or a lost server.
        if "access_accessevent" in sql:
            raise OperationalError("could not extend file: No space left on device")
        return execute(sql, params, many, context)

    with connection.execute_wrapper(events_table_fails):
        failed = acc.post("cdata", body, table="rtlog")
    assert failed.status_code == 500
    assert b"OK" not in failed.content
    assert not AccessEvent.objects.exists()
    # The terminal sends the same again once the database is back.
    assert acc.post("cdata", body, table="rtlog").content == b"OK\n"
    assert AccessEvent.objects.count() == 2


def test_rtstate_operlog_and_table_counts(acc: Any, att: Any) -> None:
    state = "time=2025-12-01 08:00:00\tsensor=01\trelay=00\talarm=0200000000000000\n"
    assert acc.post("cdata", state, table="rtstate").content == b"OK\n"
    acc.refresh()
    assert acc.link.options["state"]["alarm"] == "0200000000000000"
    operlog = (
        "USER PIN=7\tName=Әлия\tPri=0\tPasswd=\tCard=\tGrp=1\tTZ=0000000100000000\n"
        "USER PIN=8\tName=Арман\tPri=0\tPasswd=\tCard=8106606\tGrp=1\n"
        "FP PIN=7\tFID=6\tSize=1184\tValid=1\tTMP=ocoSAAAAAAAAAAAAAAAAAAAAAAAAAAAA\n"
        "OPLOG 4\t0\t2025-12-01 09:35:00\t0\t0\t0\t0\n"
        "NONSENSE\n"
    )
    assert att.post("cdata", operlog, table="OPERLOG", Stamp="1").status_code == 200
    att.refresh()
    assert att.link.users_count == 2
    assert att.link.options["operlog"] == {"users": 2, "operations": 2}
    assert not AccessEvent.objects.exists()
    rows = "user uid=1\tcardno=0\tpin=7\tpassword=\tgroup=1\tname=A\nuser uid=2\tpin=8\tname=B\n"
    answer = acc.post("querydata", rows, type="tabledata", cmdid="77", tablename="user",
                      count="2", packcnt="1", packidx="1")  # fmt: skip
    assert answer.content == b"user=2\n"
    acc.refresh()
    assert acc.link.users_count == 2 and acc.link.options["tables"] == {"user": 2}
    assert acc.post("querydata", "x", type="nonsense").status_code == 400
