"""Benchmark: ``POST /api/v1/access/events``, batches of passes the devices decided.

    .venv/bin/python bench/access_events.py [--database postgres] [--batch 1000]

Seeds a throwaway database like ``bench/access_decide.py`` (3,000 pupils with cards and
a guardian each), starts uvicorn with the project's ASGI app, and uploads batches of
pre-decided passes (``allowed: true``, the pupils' card UIDs, a record number each, the
time of the pass) from 8 turnstiles over keep-alive connections, signed in advance.
Each event is stored with presence, attendance and the guardian's notice, as a device
coming back from an outage would upload them. Prints events/s; the target is ≥ 5,000.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import json
import sys
import time

from access_setup import (
    EVENTS,
    Seeded,
    Server,
    access_bench_parser,
    latency_summary,
    run_on_throwaway_database,
    seed_school,
    send_all,
    server_banner,
    signed_request,
)


def batches(seeded: Seeded, port: int, *, batch: int, count: int) -> list[bytes]:
    """``count`` signed batches; every pupil passes in, then out, then in again…"""
    now = dt.datetime.now(dt.UTC).replace(microsecond=0)
    prefix = f"ev-{time.time_ns()}-"
    requests = []
    serial = 0
    for number in range(count):
        lane = seeded.lanes[number % len(seeded.lanes)]
        events = []
        for _ in range(batch):
            pupil = serial % len(seeded.cards)
            round_ = serial // len(seeded.cards)
            moment = now - dt.timedelta(hours=2) + dt.timedelta(seconds=round_ * 60)
            events.append(
                {
                    "record_no": f"{prefix}{serial}",
                    "time": moment.isoformat(),
                    "direction": "in" if round_ % 2 == 0 else "out",
                    "credential_kind": "card",
                    "credential": seeded.cards[pupil],
                    "allowed": True,
                }
            )
            serial += 1
        requests.append(
            signed_request(lane=lane, path=EVENTS, payload={"events": events}, port=port)
        )
    return requests


async def upload(port: int, requests: list[bytes], *, connections: int) -> tuple[int, list[float]]:
    stored = 0

    def check(status: int, body: bytes) -> None:
        nonlocal stored
        if status != 200:
            raise SystemExit(f"batch refused: {status} {body[:300]!r}")
        answer = json.loads(body)
        if answer["errors"]:
            raise SystemExit(f"batch with errors: {answer['results'][:3]}")
        stored += answer["stored"]

    latencies = await send_all(port, requests, connections=connections, check=check)
    return stored, latencies


def main() -> int:
    parser = access_bench_parser(__doc__.splitlines()[0])
    parser.add_argument("--batch", type=int, default=1000, help="events per batch (≤ 1000)")
    parser.add_argument("--batches", type=int, default=30)
    parser.add_argument("--connections", type=int, default=4)
    args = parser.parse_args()
    return run_on_throwaway_database(args, suffix="bench_events", run=run)


def run(args: argparse.Namespace, *, engine: str) -> int:
    from kezekshi.access.models import AccessEvent

    seeded = seed_school(pupils=args.pupils)
    with Server(workers=args.workers, interface=args.interface) as server:
        load = f"this process, {args.connections} keep-alive connections"
        print(server_banner(args, load=load))
        warm = batches(seeded, server.port, batch=50, count=4)
        asyncio.run(upload(server.port, warm, connections=2))  # every worker compiled, connected
        requests = batches(seeded, server.port, batch=args.batch, count=args.batches)
        started = time.perf_counter()
        stored, latencies = asyncio.run(upload(server.port, requests, connections=args.connections))
        seconds = time.perf_counter() - started
    expected = args.batch * args.batches
    rate = stored / seconds
    per_batch = latency_summary(latencies)
    print(f"events ({engine}): {stored} of {expected} stored in {seconds:.1f} s = "
          f"{rate:,.0f} events/s; per batch of {args.batch}: {per_batch}")  # fmt: skip
    in_database = AccessEvent.objects.count()
    print(f"  in the database: {in_database} events (with the {4 * 50} warm-up ones)")
    print(f"  target ≥ 5,000 events/s: {'met' if rate >= 5000 else 'MISSED'}")
    return 0 if stored == expected and in_database == expected + 200 else 1


if __name__ == "__main__":
    sys.exit(main())
