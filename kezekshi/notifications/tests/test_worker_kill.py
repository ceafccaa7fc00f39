"""Fault test: the worker killed mid-delivery neither loses a notice nor sends one twice.

The worker is the real ``manage.py run_worker`` in its own process, on the test's
database: PostgreSQL's test database by name; on SQLite (whose test database lives in
the test process's memory) a file copy of it, which the test then reads with sqlite3.
"""

from __future__ import annotations

import datetime as dt
import os
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import closing
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from django.conf import settings
from django.db import connection
from django.utils import timezone

from kezekshi.access import services
from kezekshi.access.models import Door, Zone
from kezekshi.accounts.models import User
from kezekshi.core.models import School
from kezekshi.notifications.models import Notification
from kezekshi.people.models import Guardian, Guardianship, Person, Pupil

pytestmark = pytest.mark.django_db(transaction=True)

PASSES = 800
ROOT = Path(settings.BASE_DIR)


@dataclass
class SharedDatabase:
    """Where a worker process finds the test's data, and how this process reads it back."""

    env: dict[str, str]
    query: Callable[[str], list[tuple[Any, ...]]]  # SQL on the database the worker used

    def count(self, sql: str) -> int:
        return int(self.query(sql)[0][0])


@pytest.fixture
def shared_database(tmp_path: Path) -> Iterator[Any]:
    def share() -> SharedDatabase:
        env = {**os.environ, "DEBUG": "0", "LOG_LEVEL": "WARNING"}
        env.pop("DATABASE_URL", None)
        if connection.vendor == "postgresql":
            db = connection.settings_dict
            password = f":{db['PASSWORD']}" if db["PASSWORD"] else ""
            env["DATABASE_URL"] = (
                f"postgres://{db['USER']}{password}@{db['HOST'] or 'localhost'}:"
                f"{db['PORT'] or 5432}/{db['NAME']}"
            )
            return SharedDatabase(env, _on_default)
        # SQLite: copy the (in-memory) test database to the file the settings name for
        # DATA_DIR; everything the test wrote is committed (a transactional test).
        file = tmp_path / "kezekshi.sqlite3"
        connection.ensure_connection()
        target = sqlite3.connect(file)
        connection.connection.backup(target)
        target.execute("PRAGMA journal_mode=WAL")
        target.close()
        env["DATA_DIR"] = str(tmp_path)

        def on_file(sql: str) -> list[tuple[Any, ...]]:
            with closing(sqlite3.connect(file, timeout=20)) as db:
                return db.execute(sql).fetchall()

        return SharedDatabase(env, on_file)

    yield share


def _on_default(sql: str) -> list[tuple[Any, ...]]:
    with connection.cursor() as cursor:
        cursor.execute(sql)
        return list(cursor.fetchall())


def queue_pass_notices(school: School, count: int) -> None:
    """``count`` pupils with a guardian each pass the main door: ``count`` notices queued."""
    zone = Zone.objects.create(school=school, kind="building", name_kk="Ғимарат", name_ru="Здание")
    door = Door.objects.create(school=school, zone=zone, name_kk="Кіреберіс", name_ru="Вход")
    device, _secret = services.register_device(
        school=school, name="Turnstile", kind="turnstile", door=door
    )
    children = Person.objects.bulk_create(
        Person(school=school, last_name=f"Оқушы{n}", first_name=f"Бала{n}") for n in range(count)
    )
    pupils = Pupil.objects.bulk_create(
        Pupil(school=school, person=child, account_number=f"9{n:010d}")
        for n, child in enumerate(children)
    )
    users = User.objects.bulk_create(
        User(phone=f"+7702{n:07d}", full_name=f"Parent {n}", language="ru") for n in range(count)
    )
    parents = Person.objects.bulk_create(
        Person(school=school, last_name="Parent", first_name=str(n), user=user)
        for n, user in enumerate(users)
    )
    guardians = Guardian.objects.bulk_create(Guardian(school=school, person=p) for p in parents)
    Guardianship.objects.bulk_create(
        Guardianship(school=school, guardian=guardian, pupil=pupil, relation="mother")
        for guardian, pupil in zip(guardians, pupils, strict=True)
    )
    now = timezone.now()
    services.record_passes(
        device=device,
        reports=[
            services.PassReport(
                record_no=str(n),
                direction="in",
                occurred_at=now - dt.timedelta(seconds=count - n),
                allowed=True,
                reason="ok",
                door_id=door.pk,
                person_id=child.pk,
            )
            for n, child in enumerate(children)
        ],
    )


def start_worker(env: dict[str, str], *worker_args: str) -> subprocess.Popen[bytes]:
    command = [sys.executable, "manage.py", "run_worker", "--", "--no-startup-delay"]
    return subprocess.Popen(  # noqa: S603 - our own manage.py with fixed arguments
        [*command, *worker_args],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )


def wait_for(condition: Any, *, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.01)


def test_a_worker_killed_mid_delivery_loses_no_notice_and_sends_none_twice(
    school: School, shared_database: Any
) -> None:
    # Given many pass notices queued in the transactions of their passes
    queue_pass_notices(school, PASSES)
    assert Notification.objects.filter(status="pending").count() == PASSES
    shared = shared_database()
    sent = "SELECT count(*) FROM core_smsmessage"
    pending = "SELECT count(*) FROM notifications_notification WHERE status = 'pending'"

    # When the worker is killed (SIGKILL) while it is sending them
    worker = start_worker(shared.env)
    try:
        wait_for(lambda: shared.count(sent) >= PASSES // 10, timeout=40, what="the worker to send")
        os.kill(worker.pid, signal.SIGKILL)
        worker.wait(timeout=10)
    finally:
        if worker.poll() is None:
            worker.kill()
    sent_before_kill = shared.count(sent)
    assert 0 < sent_before_kill < PASSES, "the kill must land in the middle of the delivery"
    assert shared.count(pending) > 0

    # And a new worker starts (it sends what is left, runs the queued tasks, and stops)
    restarted = start_worker(shared.env, "--batch")
    _out, err = restarted.communicate(timeout=50)
    assert restarted.returncode == 0, err.decode()[-2000:]

    # Then every notice was sent exactly once: one SMS each, none lost, none repeated
    assert shared.count("SELECT count(*) FROM notifications_notification") == PASSES
    assert shared.query("SELECT DISTINCT status FROM notifications_notification") == [("sent",)]
    messages = shared.query("SELECT phone, text FROM core_smsmessage")
    assert len(messages) == PASSES
    expected = shared.query(
        "SELECT u.phone, n.text FROM notifications_notification n "
        "JOIN accounts_user u ON u.id = n.recipient_id"
    )
    assert sorted(messages) == sorted(expected)
    assert len({phone for phone, _text in messages}) == PASSES
