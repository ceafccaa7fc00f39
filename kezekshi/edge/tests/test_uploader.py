"""The gateway's own bookkeeping, in process: what a buffered pass looks like on the wire,
and the disk bound (answered passes go after EDGE_KEEP_DAYS or beyond EDGE_MAX_EVENTS;
a pass the server has not answered for never goes)."""

from __future__ import annotations

import datetime as dt
from typing import Any

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
