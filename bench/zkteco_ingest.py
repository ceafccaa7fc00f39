"""Benchmark: ZKTeco rtlog uploads (``POST /iclock/cdata?table=rtlog``) into a real server.

    .venv/bin/python bench/zkteco_ingest.py [--database postgres] [--lines 200]

Seeds a throwaway database like the access benchmarks (3,000 pupils with cards, 8
turnstiles at the main entrance), binds each turnstile to a ZKTeco access-dialect link
with a serial number, starts uvicorn with the project's ASGI app and uploads rtlog
bodies (``--lines`` records each, as a terminal sends its backlog after an outage: the
pupil's pin and card, event 0, its own record index) from the 8 terminals over
keep-alive connections. Every body is acknowledged only after it is stored. Prints
lines/s; the target is ≥ 2,000.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import sys
import time
from urllib.parse import urlencode
from zoneinfo import ZoneInfo

from access_setup import (
    Seeded,
    Server,
    access_bench_parser,
    latency_summary,
    run_on_throwaway_database,
    seed_school,
    send_all,
    server_banner,
)

ALMATY = ZoneInfo("Asia/Almaty")
TARGET = 2000


def bind_terminals(seeded: Seeded) -> list[str]:
    """A ZKTeco link with a serial number for each of the seeded turnstiles."""
    from kezekshi.access.models import Device
    from kezekshi.devices.models import Link

    serials = []
    for number, lane in enumerate(seeded.lanes, 1):
        serial = f"BENCHZK{number:04d}"
        Device.objects.filter(pk=lane.device_id).update(serial_number=serial)
        Link.objects.create(device_id=lane.device_id, protocol="zkteco-acc")
        serials.append(serial)
    return serials


def upload_request(serial: str, body: bytes, port: int) -> bytes:
    path = "/iclock/cdata?" + urlencode({"SN": serial, "table": "rtlog", "Stamp": "9999"})
    head = (
        f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n"
        f"Content-Type: text/plain\r\nContent-Length: {len(body)}\r\n\r\n"
    )
    return head.encode() + body


def bodies(
    seeded: Seeded, serials: list[str], port: int, *, lines: int, count: int, first_index: int
) -> list[bytes]:
    """``count`` uploads of ``lines`` rtlog records; each pupil in, out, in again…"""
    start = dt.datetime.now(ALMATY).replace(microsecond=0, tzinfo=None) - dt.timedelta(hours=3)
    requests = []
    serial_no = 0
    indexes = dict.fromkeys(serials, first_index)
    for number in range(count):
        serial = serials[number % len(serials)]
        rows = []
        for _ in range(lines):
            pupil = serial_no % len(seeded.cards)
            round_ = serial_no // len(seeded.cards)
            moment = start + dt.timedelta(seconds=round_ * 60 + pupil % 60)
            index = indexes[serial]
            indexes[serial] += 1
            rows.append(
                f"time={moment:%Y-%m-%d %H:%M:%S}\tpin={seeded.person_ids[pupil]}\t"
                f"cardno={int(seeded.cards[pupil], 16)}\teventaddr=1\tevent=0\t"
                f"inoutstatus={round_ % 2}\tverifytype=4\tindex={index}\n"
            )
            serial_no += 1
        requests.append(upload_request(serial, "".join(rows).encode(), port))
    return requests


async def upload(port: int, requests: list[bytes], *, connections: int) -> list[float]:
    def check(status: int, body: bytes) -> None:
        if status != 200 or not body.startswith(b"OK"):
            raise SystemExit(f"upload refused: {status} {body[:300]!r}")

    return await send_all(port, requests, connections=connections, check=check)


def main() -> int:
    parser = access_bench_parser(__doc__.splitlines()[0])
    parser.add_argument("--lines", type=int, default=200, help="rtlog lines per upload")
    parser.add_argument("--uploads", type=int, default=150)
    parser.add_argument("--connections", type=int, default=8)
    args = parser.parse_args()
    return run_on_throwaway_database(args, suffix="bench_zkteco", run=run)


def run(args: argparse.Namespace, *, engine: str) -> int:
    from kezekshi.access.models import AccessEvent

    seeded = seed_school(pupils=args.pupils)
    serials = bind_terminals(seeded)
    with Server(workers=args.workers, interface=args.interface) as server:
        load = f"this process, {args.connections} keep-alive connections (one per terminal)"
        print(server_banner(args, load=load))
        warm = bodies(seeded, serials, server.port, lines=20, count=16, first_index=1)
        asyncio.run(upload(server.port, warm, connections=4))
        requests = bodies(
            seeded, serials, server.port, lines=args.lines, count=args.uploads, first_index=1000
        )
        started = time.perf_counter()
        latencies = asyncio.run(upload(server.port, requests, connections=args.connections))
        seconds = time.perf_counter() - started
        # The terminals reboot and send the last uploads again: nothing is stored twice.
        replay = requests[-len(serials) :]
        asyncio.run(upload(server.port, replay, connections=args.connections))
    sent = args.lines * args.uploads
    rate = sent / seconds
    in_database = AccessEvent.objects.count()
    expected = sent + 16 * 20
    per_upload = latency_summary(latencies)
    print(f"rtlog ({engine}): {sent} lines in {args.uploads} uploads in {seconds:.1f} s = "
          f"{rate:,.0f} lines/s; per upload of {args.lines}: {per_upload}")  # fmt: skip
    print(f"  in the database: {in_database} events (expected {expected}, re-sends included)")
    print(f"  target ≥ {TARGET:,} lines/s: {'met' if rate >= TARGET else 'MISSED'}")
    return 0 if in_database == expected else 1


if __name__ == "__main__":
    sys.exit(main())
