"""The gateway's own bookkeeping, in process: what a buffered pass looks like on the wire,
and the disk bound (answered passes go after EDGE_KEEP_DAYS or beyond EDGE_MAX_EVENTS;
a pass the server has not answered for never goes)."""

from __future__ import annotations

import datetime as dt
import socket
from typing import Any

import pytest
from django.utils import timezone

from kezekshi.access import services
from kezekshi.access.ingest import EventIn
from kezekshi.access.models import AccessEvent, Credential
from kezekshi.access.tests.conftest import Terminal, almaty_at
from kezekshi.edge import uploader
from kezekshi.edge.models import UploadedEvent


def record(terminal: Terminal, count: int, *, card: Credential | None = None) -> list[int]:
    reports = [
        services.PassReport(
            record_no=f"r{n}",
            direction="in",
            occurred_at=almaty_at("2025-12-01", "07:50") + dt.timedelta(seconds=n),
            allowed=True,
            reason="ok",
            door_id=terminal.device.door_id,
            credential_id=card.pk if card else None,
            credential_kind="card" if card else "",
            person_id=card.person_id if card else None,
        )
        for n in range(count)
    ]
    return [
        stored.event_id
        for stored in services.record_passes(device=terminal.device, reports=reports)
    ]


def test_a_buffered_pass_is_sent_as_the_server_reads_it(
    groups: Any, card: Credential, turnstile: Terminal
) -> None:
    record(turnstile, 1, card=card)
    (pending,) = uploader.pending(10)
    sent = uploader._as_sent(pending, {card.pk: card.value})
    event = EventIn.model_validate(sent)
    assert (event.record_no, event.person, event.allowed, event.credential) == (
        "r0",
        card.person_id,
        True,
        card.value,
    )
    assert event.time == almaty_at("2025-12-01", "07:50")


def test_only_answered_passes_are_pruned(turnstile: Terminal) -> None:
    ids = record(turnstile, 6)
    long_ago = timezone.now() - dt.timedelta(days=8)
    # Given two passes answered long ago, one answered now, three still waiting
    UploadedEvent.objects.bulk_create(
        [UploadedEvent(event_id=pk, answered_at=long_ago) for pk in ids[:2]]
        + [UploadedEvent(event_id=ids[2], answered_at=timezone.now())]
    )
    # When the gateway prunes with a week's keep
    assert uploader.prune(keep_days=7, max_events=100) == 2
    assert sorted(AccessEvent.objects.values_list("pk", flat=True)) == ids[2:]
    # When the disk bound is one pass, still only answered passes go
    assert uploader.prune(keep_days=7, max_events=1) == 1
    assert sorted(AccessEvent.objects.values_list("pk", flat=True)) == ids[3:]
    assert not AccessEvent.objects.filter(upload__isnull=False).exists()


def test_an_upload_answered_in_part_is_marked_in_part_and_sent_again_at_once(
    live_server: Any, gateway: Terminal, groups: Any, card: Credential, turnstile: Terminal
) -> None:
    # Given passes of two terminals, and two connections: one to the server, one to an
    # address where nothing answers (a connection the server's restart broke)
    device, _secret = services.register_device(
        school=turnstile.device.school, name="Lane 2", kind="turnstile",
        door=turnstile.device.door,
    )  # fmt: skip
    record(turnstile, 2, card=card)
    record(Terminal(device, "", turnstile.client), 3, card=card)
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        nowhere = f"http://127.0.0.1:{sock.getsockname()[1]}"
    answering = uploader.Server(live_server.url, gateway.device.pk, gateway.secret)
    broken = uploader.Server(nowhere, gateway.device.pk, gateway.secret, timeout=2)
    # When the gateway uploads one terminal's batch on each
    try:
        result = uploader.upload_once([answering, broken], per_request=1)
    finally:
        answering.close()  # the live server's thread must not outlive the test
    # Then what the server answered is marked, and the gateway is told to go on at once
    assert result.interrupted and result.stored in (2, 3)
    assert UploadedEvent.objects.count() == result.stored
    # and when nothing answers at all, it backs off
    with pytest.raises(uploader.ServerUnavailable):
        uploader.upload_once([broken], per_request=1)


def test_a_kept_alive_connection_the_server_closed_is_opened_again_once(
    live_server: Any, gateway: Terminal
) -> None:
    client = uploader.Server(live_server.url, gateway.device.pk, gateway.secret)
    try:
        assert client.request("GET", "/healthz")[0] == 200
        # Given the server closed the kept-alive connection meanwhile (as a restart does)
        assert client._connection is not None and client._connection.sock is not None
        client._connection.sock.shutdown(socket.SHUT_RDWR)
        # Then the next call still gets through, on a new connection
        assert client.request("GET", "/healthz")[0] == 200
    finally:
        client.close()


def test_an_advice_out_of_bounds_or_garbled_is_bounded_or_ignored() -> None:
    advised = uploader.UploadShape.advised
    assert advised({"upload": {"connections": 99, "batches": 99}}) == uploader.UploadShape(8, 3)
    assert advised({"upload": {"connections": 0, "batches": -1}}) == uploader.UploadShape(1, 1)
    garbage: list[Any] = [{}, {"upload": "fast"}, {"upload": {"connections": "x"}}, []]
    for data in garbage:
        assert advised(data) is None
