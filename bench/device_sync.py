"""Device sync on a full school: 3,000 pupils (with a guardian each) and 8 terminals.

    DEBUG=0 .venv/bin/python bench/device_sync.py [--database postgres] [--pupils 3000]

Prints how long it takes to queue the first full load of every terminal, to diff an
unchanged school, to answer a terminal's poll when nothing changed (and the queries it
costs), and to carry one changed pupil to every terminal.
"""

from __future__ import annotations

import argparse
import time

from access_setup import (  # type: ignore[import-not-found]
    database_argument,
    machine,
    run_on_throwaway_database,
    seed_school,
)


def run(args: argparse.Namespace, *, engine: str) -> int:
    from django.core.cache import cache
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from kezekshi.access.models import Device
    from kezekshi.devices import sync
    from kezekshi.devices.models import Command, Link, Protocol
    from kezekshi.people.models import Person

    seeded = seed_school(pupils=args.pupils)
    school_id = seeded.school_id
    for n, lane in enumerate(seeded.lanes):
        protocol = Protocol.HIKVISION if n % 2 else Protocol.ZKTECO_ACC
        Link.objects.create(device_id=lane.device_id, protocol=protocol)
    # Every tenth pupil has a photo on file (no biometric consent: no face goes out).
    Person.objects.filter(pk__in=seeded.person_ids[::10]).update(photo="photos/2025/p.jpg")
    devices = Device.objects.filter(school_id=school_id).count()
    print(f"device sync — {args.pupils} pupils, {devices} terminals, {engine}; {machine()}")

    started = time.perf_counter()
    queued = sync.reconcile(school_id)
    first = time.perf_counter() - started
    print(f"first full load: {queued} commands queued in {first:.2f} s")

    started = time.perf_counter()
    assert sync.reconcile(school_id) == 0
    print(f"full diff of an unchanged school: {time.perf_counter() - started:.2f} s")

    cache.clear()
    sync.reconcile_if_changed(school_id)  # remembers the fingerprint
    polls = 200
    with CaptureQueriesContext(connection) as queries:
        started = time.perf_counter()
        for _ in range(polls):
            sync.forget_checks()  # measure the fingerprint query, not the 2 s throttle
            assert sync.reconcile_if_changed(school_id) == 0
        per_poll = (time.perf_counter() - started) / polls
    print(
        f"a poll with nothing changed: {per_poll * 1000:.2f} ms, {len(queries) / polls:.0f} query"
    )

    person = Person.objects.get(pk=seeded.person_ids[0])
    person.first_name = "Өзгерген"
    person.save()
    before = Command.objects.count()
    started = time.perf_counter()
    sync.forget_checks()
    queued = sync.reconcile_if_changed(school_id)
    changed = time.perf_counter() - started
    assert queued == devices and Command.objects.count() - before == devices
    print(f"one renamed pupil to every terminal: {queued} commands in {changed:.2f} s")
    return 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    database_argument(parser)
    parser.add_argument("--pupils", type=int, default=3000)
    args = parser.parse_args()
    return run_on_throwaway_database(args, suffix="device_sync", run=run)


if __name__ == "__main__":
    raise SystemExit(main())
