"""core.bulk.insert: ids, values and clashes as the ORM would give them, on both databases."""

from __future__ import annotations

import datetime as dt

import pytest
from django.db import IntegrityError, transaction
from django.utils import timezone

from kezekshi.access.models import AccessEvent, Device, Direction
from kezekshi.access.services import register_device
from kezekshi.core import bulk
from kezekshi.core.models import School


@pytest.fixture
def device(school: School) -> Device:
    return register_device(school=school, name="Lane 1", kind="turnstile", door=None)[0]


def _event(device: Device, number: int, **fields: object) -> AccessEvent:
    return AccessEvent(
        school_id=device.school_id,
        device=device,
        record_no=f"r{number}",
        direction=Direction.OUT,
        occurred_at=dt.datetime(2025, 12, 1, 3, 0, number, tzinfo=dt.UTC),
        allowed=True,
        reason="ok",
        **fields,
    )


def test_rows_get_their_ids_and_read_back_as_written(device: Device) -> None:
    before = timezone.now()
    _event(device, 0).save()  # ids continue after rows the ORM wrote
    events = [_event(device, n) for n in range(1, 51)]
    with transaction.atomic():
        bulk.insert(events)
    for event in events:
        stored = AccessEvent.objects.get(pk=event.pk)
        assert stored.record_no == event.record_no
        assert stored.occurred_at == event.occurred_at
        assert stored.direction == "out"  # a choices member is written by its value
        assert stored.received_at >= before  # auto_now_add filled in
        assert not event._state.adding


def test_a_unique_clash_is_an_integrity_error_and_writes_nothing(device: Device) -> None:
    with transaction.atomic():
        bulk.insert([_event(device, 1)])
    with pytest.raises(IntegrityError), transaction.atomic():
        bulk.insert([_event(device, 2), _event(device, 1)])
    assert list(AccessEvent.objects.values_list("record_no", flat=True)) == ["r1"]


def test_nothing_to_insert(device: Device) -> None:
    assert bulk.insert([]) == []


@pytest.mark.parametrize("values", [[], ["r1"], ["r1", "r3", "nope"]])
def test_among_finds_what_in_finds(device: Device, values: list[str]) -> None:
    with transaction.atomic():
        bulk.insert([_event(device, n) for n in range(1, 5)])
    among = set(AccessEvent.objects.filter(record_no__among=values).values_list("pk", flat=True))
    within = set(AccessEvent.objects.filter(record_no__in=values).values_list("pk", flat=True))
    assert among == within
    ids = list(within)
    assert set(AccessEvent.objects.filter(pk__among=ids).values_list("pk", flat=True)) == within


@pytest.mark.parametrize(
    "awkward",
    ['quote"d', "back\\slash", "comma,brace}{", "NULL", "", "  spaced  ", "Қазақ"],
)
def test_among_matches_awkward_strings_exactly(device: Device, awkward: str) -> None:
    with transaction.atomic():
        bulk.insert([_event(device, 1, presented=awkward), _event(device, 2, presented="other")])
    found = AccessEvent.objects.filter(presented__among=[awkward, "absent"])
    assert list(found.values_list("record_no", flat=True)) == ["r1"]


def test_tuple_rows_get_ids_and_defaults(device: Device) -> None:
    before = timezone.now()
    _event(device, 0).save()
    at = dt.datetime(2025, 12, 1, 3, 0, 7, tzinfo=dt.UTC)
    fields = ("school_id", "device_id", "record_no", "direction", "occurred_at", "allowed")
    rows = [(device.school_id, device.pk, f"t{n}", "in", at, n % 2 == 0) for n in range(30)]
    with transaction.atomic():
        ids = bulk.insert_rows(AccessEvent, fields, rows)
    stored = {event.pk: event for event in AccessEvent.objects.filter(pk__in=ids)}
    for pk, row in zip(ids, rows, strict=True):
        event = stored[pk]
        assert (event.record_no, event.direction, event.occurred_at) == (row[2], "in", at)
        assert event.allowed is row[5]
        # Columns not given take their defaults, the clock its time.
        assert (event.reason, event.clock_skew_seconds, event.clock_flagged) == ("", 0, False)
        assert event.received_at >= before
    assert bulk.insert_rows(AccessEvent, fields, []) == []


def test_a_callable_default_must_be_given_per_row() -> None:
    from kezekshi.devices.models import Command

    # ``data`` defaults to a new dict per row: one dict for the batch would be shared.
    with pytest.raises(ValueError, match="per-row value"):
        bulk.insert_rows(Command, ("device_id",), [(1,)])


def test_update_rows_writes_by_primary_key(device: Device) -> None:
    events = [_event(device, n) for n in range(1, 4)]
    with transaction.atomic():
        bulk.insert(events)
        later = dt.datetime(2025, 12, 2, 9, 30, tzinfo=dt.UTC)
        bulk.update_rows(AccessEvent, ("reason", "occurred_at"), [("moved", later, events[0].pk)])
    rows = dict(AccessEvent.objects.values_list("record_no", "reason"))
    assert rows == {"r1": "moved", "r2": "ok", "r3": "ok"}
    assert AccessEvent.objects.get(pk=events[0].pk).occurred_at == later


def test_rows_that_clash_are_skipped_when_asked(device: Device) -> None:
    fields = ("school_id", "device_id", "record_no", "direction", "occurred_at", "allowed")
    at = dt.datetime(2025, 12, 1, 3, 0, tzinfo=dt.UTC)
    with transaction.atomic():
        bulk.insert_rows(AccessEvent, fields, [(device.school_id, device.pk, "a", "in", at, True)])
        again = [
            (device.school_id, device.pk, "a", "out", at, False),  # clashes: skipped
            (device.school_id, device.pk, "b", "out", at, False),
        ]
        assert bulk.insert_rows(AccessEvent, fields, again, ignore_conflicts=True) == []
    rows = dict(AccessEvent.objects.values_list("record_no", "direction"))
    assert rows == {"a": "in", "b": "out"}
