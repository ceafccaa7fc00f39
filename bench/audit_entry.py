"""Benchmark: the time one audit-log entry adds to a request.

    .venv/bin/python bench/audit_entry.py [--entries 5000]

Runs on a throwaway SQLite database in a temporary directory, or, when DATABASE_URL is
set, on a throwaway PostgreSQL database created next to the one it names (and dropped
afterwards). Calls ``kezekshi.privacy.audit.record`` as the portal's pupil card does
(a staff user, a person, the request's IP) and times each call:

- "own transaction": the caller is in autocommit, as a portal view is, so the entry is
  written and committed by ``record`` itself — what a card view pays;
- "in a transaction": the caller has a transaction open (an import, a service), so the
  commit is the caller's and is not counted;
- "commit alone": a one-row write committed and nothing else: the floor any write on
  this machine and database pays, whatever the code does;
- "SELECT 1": one statement's round trip, to read the others by (a busy machine makes
  every round trip to PostgreSQL slower);
- SQLite only, "own, no checkpoint": "own transaction" with the WAL checkpoints left
  to someone else.

Prints the SQL of one entry, then the median, p99 and worst call in milliseconds.
The target is under 1 ms for the median and p99 of "own transaction".
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from collections.abc import Callable

# bench/ is on the path when this file runs; the helpers set Django up without real data.
from benchdb import make_school, throwaway_database

WARM_UP = 200
PERSONS = 100


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--entries", type=int, default=5000)
    args = parser.parse_args()
    with throwaway_database("bench_audit") as engine:
        return run(args.entries, engine=engine)


def run(entries: int, *, engine: str) -> int:
    from django.db import connection, transaction
    from django.test import RequestFactory
    from django.test.utils import CaptureQueriesContext

    from kezekshi.accounts.models import Membership, User
    from kezekshi.accounts.roles import Role
    from kezekshi.people.models import Person
    from kezekshi.privacy import audit, ledger
    from kezekshi.privacy.models import AuditEntry, ChainHead

    school = make_school()
    staff = User.objects.create_user(email="dpo@bench.kz", password=None, full_name="Бенчмарк")
    Membership.objects.create(user=staff, school=school, role=Role.CLASS_TEACHER)
    persons = Person.objects.bulk_create(
        Person(school=school, last_name=f"Оқушы{n}", first_name="Бенчмарк") for n in range(PERSONS)
    )
    request = RequestFactory().get("/pupils/1/", REMOTE_ADDR="10.0.0.7")
    request.user = staff
    calls = iter(range(10**9))

    def one() -> None:
        n = next(calls)
        audit.record(
            action=AuditEntry.Action.VIEW,
            actor=staff,
            school=school,
            person=persons[n % PERSONS],
            target=f"/pupils/{n}/",
            request=request,
        )

    one()  # the chain's first entry also creates its head; show a usual one
    with CaptureQueriesContext(connection) as queries:
        one()
    print(f"audit entry ({engine}), the SQL of one in its own transaction:")
    for query in queries.captured_queries:
        print(f"    {query['sql'][:100]}")

    def in_transaction() -> float:
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute("SELECT 1")  # the caller's work so far: its transaction is open
            started = time.perf_counter()
            one()
            return time.perf_counter() - started

    def round_trip() -> float:
        with connection.cursor() as cursor:
            started = time.perf_counter()
            cursor.execute("SELECT 1")
            cursor.fetchone()
            return time.perf_counter() - started

    floor = ChainHead.objects.create(name="bench:floor", last_hash="0")

    def commit_alone() -> float:
        # The floor: any write committed on this machine costs this much.
        started = time.perf_counter()
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute(
                "UPDATE privacy_chainhead SET last_hash = %s WHERE id = %s",
                [str(started), floor.pk],
            )
        return time.perf_counter() - started

    runs = [
        ("own transaction", _timer(one)),
        ("in a transaction", in_transaction),
        ("commit alone", commit_alone),
        ("SELECT 1", round_trip),
    ]
    if engine == "sqlite":
        runs.append(("own, no checkpoint", _without_checkpoints(one)))
    for label, run_one in runs:
        print(f"  {label:<18} {_summary(_timed(run_one, entries))}")

    problems = ledger.verify(AuditEntry)
    total = AuditEntry.objects.count()
    print(f"  chain checked: {total} entries, {len(problems)} problems")
    return 0 if not problems else 1


def _without_checkpoints(call: Callable[[], None]) -> Callable[[], float]:
    """Time ``call`` with SQLite's automatic WAL checkpoint off, as if a worker ran the
    checkpoints: otherwise the commit that crosses 1,000 WAL pages copies them into the
    database and syncs it, inside whichever request it happens to be."""
    from django.db import connection

    timed = _timer(call)

    def without() -> float:
        with connection.cursor() as cursor:
            cursor.execute("PRAGMA wal_autocheckpoint = 0")
        try:
            return timed()
        finally:
            with connection.cursor() as cursor:
                cursor.execute("PRAGMA wal_autocheckpoint = 1000")

    return without


def _timer(call: Callable[[], None]) -> Callable[[], float]:
    def timed() -> float:
        started = time.perf_counter()
        call()
        return time.perf_counter() - started

    return timed


def _timed(call: Callable[[], float], entries: int) -> list[float]:
    """``entries`` timings of ``call`` (which times itself), after a warm-up."""
    for _ in range(WARM_UP):
        call()
    return [call() for _ in range(entries)]


def _summary(timings: list[float]) -> str:
    ms = sorted(value * 1000 for value in timings)
    p99 = ms[min(len(ms) - 1, round(len(ms) * 0.99))]
    return (
        f"median {statistics.median(ms):.3f} ms   p99 {p99:.3f} ms   worst {ms[-1]:.2f} ms   "
        f"({len(ms)} entries)"
    )


if __name__ == "__main__":
    sys.exit(main())
