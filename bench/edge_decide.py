"""Benchmark: decisions answered by the edge gateway while the server is down.

    DEBUG=0 .venv/bin/python bench/edge_decide.py [--database postgres] [--rate 80]

Seeds a throwaway server database (3,000 pupils with cards, 8 turnstiles, a gateway
device), starts the server, starts ``manage.py run_edge`` in its own process (its own
SQLite file; it mirrors the school on start), then stops the server. From this process,
8 lanes ask the gateway ``POST /api/v1/access/decide`` with a record number (the pass is
recorded at the gateway) at a fixed offered rate; latency is counted from the moment
each request was due. Target (issue 5): p99 ≤ 5 ms.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from access_setup import (
    DECIDE,
    LANES,
    Connection,
    Lane,
    Seeded,
    Server,
    access_bench_parser,
    free_port,
    latency_summary,
    machine,
    percentile,
    run_on_throwaway_database,
    seed_school,
    signed_request,
    stop_process,
    wait_until_healthy,
)
from benchdb import ROOT


class Gateway:
    """``manage.py run_edge`` in its own process, on its own data directory."""

    def __init__(
        self, *, server_url: str, lane: Lane, data_dir: str, max_backoff: float = 60
    ) -> None:
        self.port = free_port()
        env = {
            **os.environ,
            "DJANGO_SETTINGS_MODULE": "kezekshi.edge.settings",
            "EDGE_DATA_DIR": data_dir,
            "DEBUG": "0",
            "LOG_LEVEL": "WARNING",
            "PYTHONWARNINGS": "ignore:No directory at",
        }
        env.pop("DATABASE_URL", None)
        env.pop("SECRET_KEY", None)
        env.pop("DATA_DIR", None)
        self.process = subprocess.Popen(  # noqa: S603 - our interpreter, our command
            [sys.executable, "manage.py", "run_edge", "--server", server_url,
             "--device-id", str(lane.device_id), f"--secret={lane.secret}",
             "--listen", f"127.0.0.1:{self.port}", "--data-dir", data_dir,
             "--sync-every", "5", "--max-backoff", str(max_backoff)],
            cwd=ROOT, env=env, start_new_session=True,
        )  # fmt: skip
        wait_until_healthy(self.process, self.port, what="run_edge", seconds=120)

    def stop(self) -> None:
        stop_process(self.process)


def register_gateway() -> Lane:
    from kezekshi.access import services
    from kezekshi.core.models import School

    school = School.objects.get(account_prefix=9999)
    device, secret = services.register_device(
        school=school, name="Edge gateway", kind="edge_gateway", door=None
    )
    return Lane(device.pk, secret)


def decide_requests(
    seeded: Seeded, port: int, *, count: int, series: str | None
) -> list[list[bytes]]:
    """Per lane, the signed requests it will send (cards in turn; with ``series``, each
    with a record number, so the gateway records the pass in the same request)."""
    lanes: list[list[bytes]] = [[] for _ in seeded.lanes]
    for n in range(count):
        lane = n % len(seeded.lanes)
        payload = {"credential": seeded.cards[n % len(seeded.cards)], "direction": "in"}
        if series:
            payload["record_no"] = f"{series}-{n}"
        lanes[lane].append(
            signed_request(lane=seeded.lanes[lane], path=DECIDE, payload=payload, port=port)
        )
    return lanes


# The load generator sleeps until this long before a request is due, then watches the clock.
SPIN = 0.002


async def fixed_rate(
    port: int, lanes: list[list[bytes]], *, rate: float
) -> tuple[list[float], dict[int, int]]:
    """Each lane sends its requests at ``rate / lanes`` per second; latency from due time."""
    latencies: list[float] = []
    statuses: dict[int, int] = {}
    interval = len(lanes) / rate
    start = time.perf_counter() + 0.2

    async def lane(offset: int, requests: list[bytes]) -> None:
        connection = await Connection.open(port)
        try:
            for n, request in enumerate(requests):
                due = start + offset * interval / len(lanes) + n * interval
                delay = due - time.perf_counter()
                if delay > SPIN:
                    await asyncio.sleep(delay - SPIN)
                while time.perf_counter() < due:  # the last moment by the clock, not a
                    pass  # timer that wakes up to a millisecond late (it would count as ours)
                status, _body = await connection.send(request)
                latencies.append(time.perf_counter() - due)
                statuses[status] = statuses.get(status, 0) + 1
        finally:
            connection.close()

    await asyncio.gather(*(lane(i, requests) for i, requests in enumerate(lanes)))
    return latencies, statuses


def main() -> int:
    parser = access_bench_parser(__doc__.splitlines()[0] if __doc__ else "")
    parser.add_argument("--rate", type=float, default=80.0, help="decisions per second, all lanes")
    parser.add_argument("--seconds", type=float, default=20.0)
    args = parser.parse_args()
    return run_on_throwaway_database(args, suffix="bench_edge_decide", run=run)


def run(args: argparse.Namespace, *, engine: str) -> int:
    seeded = seed_school(pupils=args.pupils)
    gateway_lane = register_gateway()
    with tempfile.TemporaryDirectory(prefix="kezekshi-edge-") as data_dir:
        with Server(workers=1) as server:
            started = time.perf_counter()
            gateway = Gateway(
                server_url=f"http://127.0.0.1:{server.port}", lane=gateway_lane, data_dir=data_dir
            )
            took = time.perf_counter() - started
            print(f"gateway started and mirrored {args.pupils} pupils in {took:.1f} s")
        print("server stopped: the gateway decides from its mirror")
        results = []
        try:
            count = int(args.rate * args.seconds)
            for label, series in (
                ("decide only (the terminal reports the pass later)", None),
                ("decide and record (record_no)", str(int(time.time()))),
            ):
                lanes = decide_requests(seeded, gateway.port, count=count, series=series)
                latencies, statuses = asyncio.run(fixed_rate(gateway.port, lanes, rate=args.rate))
                results.append((label, latencies, statuses))
        finally:
            gateway.stop()
        db_size = sum(p.stat().st_size for p in Path(data_dir).glob("edge.sqlite3*"))
    print(
        f"edge decide with the server down ({engine} server; the gateway on SQLite, "
        f"synchronous=FULL), {LANES} lanes, {args.rate:.0f}/s for {args.seconds:.0f} s; "
        f"{machine()}"
    )
    ok = True
    for label, latencies, statuses in results:
        ms = sorted(value * 1000 for value in latencies)
        p99 = percentile(ms, 0.99)
        verdict = "met" if p99 <= 5 else "MISSED"
        print(f"  {label}: {latency_summary(latencies)}; statuses {statuses}")
        p50 = percentile(ms, 0.50)
        print(f"    p50 {p50:.2f} ms, p99 {p99:.2f} ms (target p99 <= 5 ms: {verdict})")
        ok = ok and statuses.get(200) == count
    print(f"  gateway database after the run: {db_size / 1e6:.1f} MB")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
