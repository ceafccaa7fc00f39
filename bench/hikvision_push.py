"""Benchmark: Hikvision terminals pushing passes to ``/isapi/<serial>/<token>/events``.

    .venv/bin/python bench/hikvision_push.py [--database postgres] [--pushes 2000]

Seeds the school of the access benchmarks (3,000 pupils with cards), binds its 8 lanes
as Hikvision terminals, starts uvicorn with the project's ASGI app and has each lane push
card passes as a DS-K1T terminal does: one multipart message per pass with the event JSON
and a ~100 KB picture, one connection per terminal. Prints pushes/s and the latency of
one push. A lane passes at most 60 people a minute (DS-K1T673), so 8 lanes need 8
pushes/s; the figure shows the headroom.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import os
import sys
import time

from access_setup import (
    Connection,
    Seeded,
    Server,
    access_bench_parser,
    latency_summary,
    run_on_throwaway_database,
    seed_school,
    server_banner,
)

PICTURE = b"\xff\xd8\xff\xe0" + os.urandom(100 * 1024) + b"\xff\xd9"


def bind_terminals(seeded: Seeded) -> list[str]:
    """The lanes as Hikvision terminals: a serial number and a link each; their push paths."""
    from kezekshi.access.models import Device
    from kezekshi.devices.hikvision import push_path
    from kezekshi.devices.models import Link

    paths = []
    for number, lane in enumerate(seeded.lanes):
        serial = f"DS-K1T671M-BENCH{number:02d}"
        Device.objects.filter(pk=lane.device_id).update(serial_number=serial)
        Link.objects.create(device_id=lane.device_id, protocol="hikvision")
        paths.append(push_path(lane.secret, serial))
    return paths


def pushes(seeded: Seeded, paths: list[str], port: int, *, count: int) -> list[list[bytes]]:
    """``count`` pushes, dealt to the terminals in turn; each terminal's in its order."""
    from kezekshi.devices.simulator.hikvision import event_json, multipart_body

    now = dt.datetime.now(dt.timezone(dt.timedelta(hours=5))).replace(microsecond=0)
    start = time.time_ns() % 10**9  # serial numbers of this run only
    queues: list[list[bytes]] = [[] for _ in paths]
    for number in range(count):
        lane = number % len(paths)
        pupil = number % len(seeded.cards)
        moment = now - dt.timedelta(hours=1) + dt.timedelta(milliseconds=number * 10)
        document = event_json(
            serial_no=start + number,
            when=moment.isoformat(),
            minor=0x01,
            card_no=seeded.cards[pupil],
        )
        content_type, body = multipart_body(document, picture=PICTURE)
        head = (
            f"POST {paths[lane]} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n"
            f"Content-Type: {content_type}\r\nContent-Length: {len(body)}\r\n\r\n"
        )
        queues[lane].append(head.encode() + body)
    return queues


async def push_all(port: int, queues: list[list[bytes]]) -> tuple[int, list[float]]:
    accepted = 0
    latencies: list[float] = []

    async def terminal(requests: list[bytes]) -> None:
        nonlocal accepted
        connection = await Connection.open(port)
        for request in requests:
            sent = time.perf_counter()
            status, body = await connection.send(request)
            latencies.append(time.perf_counter() - sent)
            if status != 200:
                raise SystemExit(f"push refused: {status} {body[:300]!r}")
            accepted += 1
        connection.close()

    await asyncio.gather(*(terminal(requests) for requests in queues))
    return accepted, latencies


def main() -> int:
    parser = access_bench_parser(__doc__.splitlines()[0])
    parser.add_argument("--pushes", type=int, default=2000)
    args = parser.parse_args()
    return run_on_throwaway_database(args, suffix="bench_hikvision", run=run)


def run(args: argparse.Namespace, *, engine: str) -> int:
    from kezekshi.access.models import AccessEvent

    seeded = seed_school(pupils=args.pupils)
    paths = bind_terminals(seeded)
    with Server(workers=args.workers, interface=args.interface) as server:
        print(server_banner(args, load=f"{len(paths)} terminals, one connection each"))
        asyncio.run(push_all(server.port, pushes(seeded, paths, server.port, count=32)))
        queues = pushes(seeded, paths, server.port, count=args.pushes)
        started = time.perf_counter()
        accepted, latencies = asyncio.run(push_all(server.port, queues))
        seconds = time.perf_counter() - started
    rate = accepted / seconds
    picture = f"~{len(PICTURE) // 1024} KB picture each"
    per_push = latency_summary(latencies)
    print(f"hikvision pushes ({engine}): {accepted} in {seconds:.1f} s = {rate:,.0f} pushes/s "
          f"({picture}); per push: {per_push}")  # fmt: skip
    stored = AccessEvent.objects.count()
    print(f"  in the database: {stored} events (with the 32 warm-up ones)")
    print(f"  8 lanes at 60 passes/min need 8 pushes/s: {'met' if rate >= 8 else 'MISSED'}")
    return 0 if stored == args.pushes + 32 else 1


if __name__ == "__main__":
    sys.exit(main())
