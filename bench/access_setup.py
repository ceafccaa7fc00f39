"""What the access benchmarks share: a seeded school, the real server, a cheap HTTP client.

- ``seed_school``: a school with a building, a main entrance (8 lanes), the first shift,
  access groups, 8 signed turnstiles and ``pupils`` pupils in classes of 25, each with a
  Mifare card and one guardian who has a user account with a phone (for the notices).
  The pupils' group is open every day at every hour, so a run decides "ok" whenever it
  is started (a real school's windows are only checked, not tighter).
- ``Server``: uvicorn with the project's ASGI app, as ``make demo`` starts it, in its own
  process(es), on the throwaway database.
- ``Connection`` / ``signed_request``: a keep-alive HTTP/1.1 client on asyncio streams
  and requests signed in advance, so the load generator spends little CPU per request.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import json
import os
import signal
import socket
import statistics
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from benchdb import ROOT, make_school, throwaway_database

PUPILS_PER_CLASS = 25
LANES = 8
DECIDE = "/api/v1/access/decide"
EVENTS = "/api/v1/access/events"


@dataclass
class Lane:
    device_id: int
    secret: str


@dataclass
class Seeded:
    school_id: int
    door_id: int
    lanes: list[Lane]
    cards: list[str]  # the card UID of pupil i, as a reader sends it
    person_ids: list[int]  # the person of pupil i
    guardian_user_ids: list[int]  # the guardian's user of pupil i


def card_uid(n: int) -> str:
    """A 4-byte Mifare UID; the letter keeps readers from taking it for a decimal number."""
    return f"A4{n:06X}"


def seed_school(*, pupils: int) -> Seeded:
    """The school every access benchmark runs against (bulk inserts: a few seconds)."""
    from django.contrib.auth.hashers import make_password
    from django.db import transaction

    from kezekshi.access import services
    from kezekshi.access.models import AccessGroup, Credential, Door, TimeWindow, Zone
    from kezekshi.accounts.models import User
    from kezekshi.core.models import Shift
    from kezekshi.people.models import Guardian, Guardianship, Person, Pupil, SchoolClass
    from kezekshi.people.services import reserve_account_numbers

    with transaction.atomic():
        school = make_school()
        building = Zone.objects.create(
            school=school, kind="building", name_kk="Ғимарат", name_ru="Здание"
        )
        door = Door.objects.create(
            school=school,
            zone=building,
            name_kk="Басты кіреберіс",
            name_ru="Главный вход",
            name_en="main entrance",
            lanes=LANES,
        )
        Shift.objects.create(school=school, number=1, starts_at=dt.time(8), ends_at=dt.time(13, 30))
        Shift.objects.create(
            school=school, number=2, starts_at=dt.time(13, 30), ends_at=dt.time(19)
        )
        first_shift = AccessGroup.objects.create(
            school=school,
            members="pupils_shift_1",
            name_kk="1-ауысым",
            name_ru="1 смена",
            open_on_days_off=True,
        )
        staff = AccessGroup.objects.create(
            school=school,
            members="staff",
            name_kk="Қызметкерлер",
            name_ru="Сотрудники",
            open_on_days_off=True,
        )
        for group in (first_shift, staff):
            group.doors.add(door)
        TimeWindow.objects.bulk_create(
            TimeWindow(
                school=school,
                group=first_shift,
                weekday=weekday,
                starts_at=dt.time(0),
                ends_at=dt.time(23, 59, 59, 999999),
            )
            for weekday in range(7)
        )
        classes = SchoolClass.objects.bulk_create(
            SchoolClass(school=school, grade=1 + n % 11, letter="АӘБВГДЕЁЖЗИЙ"[n // 11], shift=1)
            for n in range(-(-pupils // PUPILS_PER_CLASS))
        )
        persons = Person.objects.bulk_create(
            Person(school=school, last_name=f"Оқушы{n}", first_name=f"Бала{n}")
            for n in range(pupils)
        )
        accounts = reserve_account_numbers(school=school, count=pupils)
        pupil_rows = Pupil.objects.bulk_create(
            Pupil(
                school=school,
                person=person,
                school_class=classes[n // PUPILS_PER_CLASS],
                account_number=accounts[n],
            )
            for n, person in enumerate(persons)
        )
        Credential.objects.bulk_create(
            Credential(school=school, person=person, kind="card", value=card_uid(n))
            for n, person in enumerate(persons)
        )
        unusable = make_password(None)
        users = User.objects.bulk_create(
            User(
                phone=f"+7701{n:07d}",
                full_name=f"Ата-ана {n}",
                language=("kk", "ru")[n % 2],
                password=unusable,
            )
            for n in range(pupils)
        )
        parents = Person.objects.bulk_create(
            Person(
                school=school,
                last_name=f"Ата-ана{n}",
                first_name="Бенчмарк",
                phone=user.phone or "",
                user=user,
            )
            for n, user in enumerate(users)
        )
        guardians = Guardian.objects.bulk_create(
            Guardian(school=school, person=person) for person in parents
        )
        Guardianship.objects.bulk_create(
            Guardianship(school=school, guardian=guardian, pupil=pupil, relation="mother")
            for guardian, pupil in zip(guardians, pupil_rows, strict=True)
        )
        services.bump_rules(school_id=school.pk)
        lanes = []
        for lane in range(1, LANES + 1):
            device, secret = services.register_device(
                school=school,
                name=f"Турникет {lane}",
                kind="turnstile",
                door=door,
                lane=lane,
                direction="in",
            )
            lanes.append(Lane(device.pk, secret))
    return Seeded(
        school_id=school.pk,
        door_id=door.pk,
        lanes=lanes,
        cards=[card_uid(n) for n in range(pupils)],
        person_ids=[person.pk for person in persons],
        guardian_user_ids=[user.pk for user in users],
    )


# --- the server -----------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def database_env() -> dict[str, str]:
    """The environment that points another process at this process's throwaway DB."""
    from django.conf import settings
    from django.db import connection

    env = {
        "DJANGO_SETTINGS_MODULE": "kezekshi.settings",
        "DEBUG": "0",
        "SECRET_KEY": os.environ["SECRET_KEY"],
        "DATA_DIR": os.environ["DATA_DIR"],
        "LOG_LEVEL": "WARNING",
        "PYTHONWARNINGS": "ignore:No directory at",  # whitenoise: no collectstatic here
    }
    if connection.vendor == "postgresql":
        # The throwaway database is the test database Django made beside the named one.
        url = os.environ["DATABASE_URL"].rsplit("/", 1)[0]
        env["DATABASE_URL"] = f"{url}/{connection.settings_dict['NAME']}"
    else:
        assert settings.DATABASES["default"]["NAME"].startswith(os.environ["DATA_DIR"])
    return env


def wait_until_healthy(
    process: subprocess.Popen[bytes], port: int, *, what: str, seconds: float
) -> None:
    """Wait for ``/healthz`` on ``port`` to answer 200; fail if ``process`` exits first."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"{what} exited with {process.returncode}")
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=2) as answer:
                if answer.status == 200:
                    return
        except OSError:
            time.sleep(0.2)
    raise RuntimeError(f"{what} did not answer /healthz within {seconds:.0f} s")


def stop_process(process: subprocess.Popen[bytes]) -> None:
    """SIGTERM the process group, SIGKILL it if it is still there after 20 s."""
    if process.poll() is None:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()


class Server:
    """``uvicorn kezekshi.asgi:application`` in its own process(es), as ``make demo`` runs it.

    ``interface="wsgi"`` serves the WSGI app instead (uvicorn's thread pool), to compare.
    """

    def __init__(
        self, *, workers: int, interface: str = "asgi", extra_env: dict[str, str] | None = None
    ) -> None:
        self.port = free_port()
        self.workers = workers
        env = {**os.environ, **database_env(), **(extra_env or {})}
        command = [
            sys.executable,
            "-m",
            "uvicorn",
            f"kezekshi.{interface}:application",
            "--interface",
            "wsgi" if interface == "wsgi" else "asgi3",
            "--host",
            "127.0.0.1",
            "--port",
            str(self.port),
            "--no-access-log",
            "--log-level",
            "warning",
        ]
        if workers > 1:
            command += ["--workers", str(workers)]
        self.process = subprocess.Popen(  # noqa: S603 - our own interpreter and app
            command, cwd=ROOT, env=env, start_new_session=True
        )
        self._wait_ready()

    def _wait_ready(self) -> None:
        wait_until_healthy(self.process, self.port, what="uvicorn", seconds=60)

    def stop(self) -> None:
        stop_process(self.process)

    def __enter__(self) -> Server:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


# --- the client -----------------------------------------------------------------------


def signed_request(
    *, lane: Lane, path: str, payload: Any, port: int, device_time: str | None = None
) -> bytes:
    """The bytes of one signed POST, ready to write on a keep-alive connection."""
    from kezekshi.access.device_auth import signed_headers

    body = json.dumps(payload, separators=(",", ":")).encode()
    headers = signed_headers(
        device_id=lane.device_id,
        secret=lane.secret,
        method="POST",
        path=path,
        body=body,
        device_time=device_time,
    )
    lines = [
        f"POST {path} HTTP/1.1",
        f"Host: 127.0.0.1:{port}",
        "Content-Type: application/json",
        f"Content-Length: {len(body)}",
        *(f"{name}: {value}" for name, value in headers.items()),
    ]
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + body


def get_request(path: str, port: int) -> bytes:
    return f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n\r\n".encode()


class Connection:
    """One keep-alive HTTP/1.1 connection; ``send`` returns (status, body)."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader, self.writer = reader, writer

    @classmethod
    async def open(cls, port: int) -> Connection:
        reader, writer = await asyncio.open_connection("127.0.0.1", port, limit=2**22)
        return cls(reader, writer)

    async def send(self, request: bytes) -> tuple[int, bytes]:
        self.writer.write(request)
        head = await self.reader.readuntil(b"\r\n\r\n")
        status = int(head[9:12])
        length = 0
        chunked = False
        for line in head.split(b"\r\n")[1:]:
            name, _sep, value = line.partition(b":")
            name = name.strip().lower()
            if name == b"content-length":
                length = int(value)
            elif name == b"transfer-encoding" and b"chunked" in value.lower():
                chunked = True
        if chunked:
            body = b""
            while True:
                size = int((await self.reader.readuntil(b"\r\n")).strip(), 16)
                chunk = await self.reader.readexactly(size + 2)
                if size == 0:
                    break
                body += chunk[:-2]
            return status, body
        return status, await self.reader.readexactly(length)

    def close(self) -> None:
        self.writer.close()


def percentile(sorted_values: list[float], fraction: float) -> float:
    if not sorted_values:
        return float("nan")
    index = min(len(sorted_values) - 1, max(0, round(len(sorted_values) * fraction) - 1))
    return sorted_values[index]


def latency_summary(seconds: list[float]) -> str:
    ms = sorted(value * 1000 for value in seconds)
    if not ms:
        return "no requests"
    return (
        f"p50 {percentile(ms, 0.50):.1f} ms  p95 {percentile(ms, 0.95):.1f} ms  "
        f"p99 {percentile(ms, 0.99):.1f} ms  max {ms[-1]:.1f} ms  "
        f"mean {statistics.fmean(ms):.1f} ms  (n={len(ms)})"
    )


def machine() -> str:
    cpus = os.cpu_count()
    load = ", ".join(f"{value:.1f}" for value in os.getloadavg())
    return f"{cpus} CPUs, load average {load}, Python {sys.version.split()[0]}"


def database_argument(parser: Any) -> None:
    parser.add_argument(
        "--database",
        choices=["sqlite", "postgres"],
        default="postgres" if os.environ.get("DATABASE_URL") else "sqlite",
        help="sqlite (a temporary file) or postgres (DATABASE_URL, by default "
        "postgres://postgres@127.0.0.1:5432/kezekshi_bench; a throwaway database beside it)",
    )


def access_bench_parser(description: str) -> argparse.ArgumentParser:
    """The command line the access benchmarks share: the database, the server's worker
    processes and interface, and how many pupils to seed; each adds its own load options."""
    parser = argparse.ArgumentParser(description=description)
    database_argument(parser)
    parser.add_argument("--workers", type=int, default=2, help="uvicorn worker processes")
    parser.add_argument(
        "--interface",
        choices=["asgi", "wsgi"],
        default="asgi",
        help="serve kezekshi.asgi (as make demo does) or kezekshi.wsgi, to compare",
    )
    parser.add_argument("--pupils", type=int, default=3000)
    return parser


def run_on_throwaway_database(
    args: argparse.Namespace, *, suffix: str, run: Callable[..., int]
) -> int:
    """``run(args, engine=...)`` on an empty, migrated database of the engine chosen with
    ``--database``, dropped afterwards; returns its exit status."""
    use_database(args.database)
    with throwaway_database(suffix) as engine:
        return run(args, engine=engine)


def server_banner(args: argparse.Namespace, *, load: str) -> str:
    """The line that says how the server was started, what load it gets, on what machine."""
    return (
        f"server: uvicorn kezekshi.{args.interface}:application --workers {args.workers}; "
        f"load: {load}; {machine()}"
    )


def use_database(choice: str) -> None:
    """Point this process (and the servers it starts) at the chosen engine."""
    if choice == "postgres":
        os.environ.setdefault("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/kezekshi_bench")
    else:
        os.environ.pop("DATABASE_URL", None)


async def send_all(
    port: int, requests: list[bytes], *, connections: int, check: Callable[[int, bytes], None]
) -> list[float]:
    """Send ``requests`` in order over ``connections`` keep-alive connections taking from
    one queue; ``check`` sees each answer (and stops the run on a refusal). Returns each
    request's latency."""
    queue = list(reversed(requests))
    latencies: list[float] = []

    async def client() -> None:
        connection = await Connection.open(port)
        while queue:
            request = queue.pop()
            sent = time.perf_counter()
            status, body = await connection.send(request)
            latencies.append(time.perf_counter() - sent)
            check(status, body)
        connection.close()

    await asyncio.gather(*(client() for _ in range(connections)))
    return latencies
