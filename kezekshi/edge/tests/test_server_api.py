"""The server's side of the gateway (/api/v1/edge/): who may call it, what the snapshot
holds (and never holds), the delta sync, idempotent uploads, and the health report."""

from __future__ import annotations

import json
from typing import Any

from django.test import Client

from kezekshi.access import services
from kezekshi.access.models import AccessEvent, Credential
from kezekshi.access.tests.conftest import Terminal, almaty_at
from kezekshi.devices.models import Link
from kezekshi.edge import mirror

SNAPSHOT = "/api/v1/edge/snapshot"
EVENTS = "/api/v1/edge/events"
STATUS = "/api/v1/edge/status"


def pull(gateway: Terminal, since: str | None = None) -> dict[str, Any]:
    path = SNAPSHOT
    headers_path = SNAPSHOT
    if since:
        path += f"?since={since}"
    from kezekshi.access.device_auth import signed_headers

    headers = signed_headers(
        device_id=gateway.device.pk,
        secret=gateway.secret,
        method="GET",
        path=headers_path,
        body=b"",
    )
    answer = gateway.client.get(path, headers=headers)  # type: ignore[arg-type]
    assert answer.status_code == 200, answer.content
    return answer.json()  # type: ignore[no-any-return]


def test_only_a_signed_gateway_may_pull(gateway: Terminal, turnstile: Terminal) -> None:
    # Given no signature, then a turnstile's signature
    assert Client().get(SNAPSHOT).status_code == 401
    refused = turnstile.get(SNAPSHOT)
    # Then: a terminal is not a gateway
    assert refused.status_code == 403
    assert refused.json()["code"] == "not_a_gateway"


def test_the_snapshot_holds_what_decisions_need_and_no_more(
    gateway: Terminal, groups: Any, card: Credential, turnstile: Terminal, other_school: Any
) -> None:
    # Given a pupil with an IIN, a phone and a card
    person = card.person
    assert person is not None
    person.phone = "+77010000001"
    person.save()
    # When the gateway pulls everything
    data = pull(gateway)
    # Then the persons carry a first name, an initial and the blocked flag only
    raw = json.dumps(data, ensure_ascii=False)
    assert person.iin not in raw and "+77010000001" not in raw
    assert data["persons"] == [
        {"id": person.pk, "school_id": person.school_id, "first_name": "Әлия",
         "last_name": "С", "blocked_at": None}
    ]  # fmt: skip
    assert [c["value"] for c in data["credentials"]] == [card.value]
    # the doors, groups and the turnstile with its secret (the gateway checks signatures)
    devices = {row["id"]: row for row in data["tables"]["devices"]}
    assert devices[turnstile.device.pk]["secret"] == turnstile.secret
    assert {row["members"] for row in data["tables"]["access_groups"]} == {
        "pupils_shift_1",
        "staff",
    }
    # and nothing of another school
    assert {row["id"] for row in data["tables"]["schools"]} == {gateway.device.school_id}
    assert data["full"] is True


def test_the_delta_brings_changes_and_deletions(
    gateway: Terminal, groups: Any, card: Credential
) -> None:
    first = pull(gateway)
    # When nothing changed, the small tables stay home
    same = pull(gateway, first["cursor"])
    assert same["tables"] == {} and same["full"] is False
    # When the card is blocked and a door added, both come with the next sync
    services.block_credential(credential=card, by=None, reason="lost", lost=True)
    second = pull(gateway, same["cursor"])
    assert [(c["id"], c["status"]) for c in second["credentials"]] == [(card.pk, "lost")]
    assert "access_settings" in second["tables"]  # the rules version moved
    # When the card is deleted, its id leaves the full list the gateway keeps
    Credential.objects.filter(pk=card.pk).delete()
    third = pull(gateway, second["cursor"])
    assert third["credential_ids"] == []


def test_a_garbage_cursor_starts_over(gateway: Terminal, groups: Any) -> None:
    assert pull(gateway, "not-a-cursor")["full"] is True


def batch(device_id: int, record_no: str, person_id: int, card_value: str) -> dict[str, Any]:
    return {
        "device": device_id,
        "events": [
            {"record_no": record_no, "time": "2025-12-01T07:52:03+05:00", "direction": "in",
             "allowed": True, "reason": "ok", "credential_kind": "card",
             "credential": card_value, "person": person_id}
        ],
    }  # fmt: skip


def test_uploads_are_stored_once_and_other_schools_devices_refused(
    gateway: Terminal, groups: Any, card: Credential, turnstile: Terminal, other_school: Any
) -> None:
    foreign, _secret = services.register_device(
        school=other_school, name="Elsewhere", kind="turnstile", door=None
    )
    body = {
        "batches": [
            batch(turnstile.device.pk, "g-1", card.person_id, card.value),  # type: ignore[arg-type]
            batch(foreign.pk, "g-2", card.person_id, card.value),  # type: ignore[arg-type]
        ]
    }
    raw = json.dumps(body).encode()
    # When the gateway uploads, and again (its answer was lost)
    first = gateway.post(EVENTS, None, raw=raw)
    again = gateway.post(EVENTS, None, raw=raw)
    # Then the pass is stored once, with the person, and the foreign device is refused
    assert first.status_code == 200, first.content
    assert first.json()["batches"][0]["results"][0]["status"] == "stored"
    assert first.json()["batches"][1]["error"]["code"] == "unknown_device"
    assert again.json()["batches"][0]["results"] == first.json()["batches"][0]["results"]
    events = AccessEvent.objects.filter(device=turnstile.device)
    assert [(e.record_no, e.person_id, e.allowed) for e in events] == [
        ("g-1", card.person_id, True)
    ]
    assert not AccessEvent.objects.filter(device=foreign).exists()


def test_a_terminal_cannot_upload_as_a_gateway(turnstile: Terminal, card: Credential) -> None:
    raw = json.dumps({"batches": [batch(turnstile.device.pk, "x", card.person_id, card.value)]})  # type: ignore[arg-type]
    assert turnstile.post(EVENTS, None, raw=raw.encode()).status_code == 403
    assert not AccessEvent.objects.exists()


def test_garbage_is_refused_clearly(gateway: Terminal) -> None:
    assert gateway.post(EVENTS, None, raw=b"{not json").status_code in (400, 422)
    assert gateway.post(EVENTS, {"batches": "x"}).json()["code"] == "invalid_input"


def test_the_backlog_and_the_terminals_last_calls_are_reported(
    gateway: Terminal, turnstile: Terminal, other_school: Any
) -> None:
    foreign, _secret = services.register_device(
        school=other_school, name="Elsewhere", kind="turnstile", door=None
    )
    answer = gateway.post(
        STATUS, {"backlog": 1200, "oldest_pending": "2025-12-01T07:50:00+05:00",
                 "disk_bytes": 4096, "version": "kezekshi-edge/1",
                 "devices": {str(turnstile.device.pk): "2025-12-01T07:51:00+05:00",
                             str(foreign.pk): "2025-12-01T07:51:00+05:00"}}
    )  # fmt: skip
    assert answer.status_code == 200, answer.content
    link = Link.objects.get(device=gateway.device)
    assert (link.protocol, link.event_backlog) == ("edge", 1200)
    assert link.options["disk_bytes"] == 4096
    gateway.device.refresh_from_db()
    assert gateway.device.last_seen_at is not None
    # The turnstile behind the gateway counts as seen; another school's device does not
    turnstile.device.refresh_from_db()
    assert turnstile.device.last_seen_at == almaty_at("2025-12-01", "07:51")
    foreign.refresh_from_db()
    assert foreign.last_seen_at is None


def test_the_mirror_module_cursor_round_trips() -> None:
    assert mirror.decode_cursor(mirror.encode_cursor({"t": "x"})) == {"t": "x"}


def test_the_snapshot_says_how_to_send_a_backlog_to_this_database(gateway: Terminal) -> None:
    from django.db import connection

    from kezekshi.edge.uploader import UploadShape

    shape = UploadShape.advised(pull(gateway))
    # One writer at a time on SQLite: one connection; PostgreSQL takes several at once
    expected = (1, 3) if connection.vendor == "sqlite" else (4, 2)
    assert shape is not None and (shape.connections, shape.batches) == expected
