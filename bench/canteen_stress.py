"""Stress the canteen ledger: randomised money operations from several processes at once.

    DEBUG=0 .venv/bin/python bench/canteen_stress.py [--database postgres] [--operations 12000]
        [--processes 4] [--threads 4] [--pupils 300] [--workers 2]

Seeds a throwaway database: a school with ``--pupils`` pupils (pairs of siblings with one
parent each) and two providers (Kaspi, answering on the real HTTP endpoint, and a
"cash desk" booked through the services). Starts uvicorn with the project's ASGI app,
as ``make demo`` does. Then ``--processes`` processes with ``--threads`` threads each run
a shuffled plan of operations at once:

- Kaspi ``pay`` over HTTP (query string, HTTP basic), some sent twice at the same moment
  from two processes and some replayed later, plus ``check`` calls;
- top-ups through ``services.credit_topup``;
- sales (``charge_sale``), some sent twice at once (a till retrying), many refused for
  lack of money; refunds of earlier sales; transfers between siblings.

Afterwards it checks: every Kaspi ``txn_id`` got the same bytes on every call and was
booked at most once; no sale id was charged twice; no wallet is below zero; debits equal
credits; every transaction balances; every cached balance equals its ledger sum. Prints
the figures and exits non-zero if any check fails.
"""

from __future__ import annotations

import argparse
import base64
import http.client
import multiprocessing
import os
import random
import sys
import threading
import time
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from typing import Any

from access_setup import (  # type: ignore[import-not-found]
    Server,
    database_argument,
    database_env,
    latency_summary,
    machine,
    run_on_throwaway_database,
)

PASSWORD = "bench-agent-password-0123456789"
KASPI = "/payments/kaspi/"


@dataclass
class Seeded:
    accounts: list[str]  # personal account number of pupil i
    wallet_ids: list[int]  # wallet of pupil i
    parents: list[int]  # user id of the parent of pupils 2k and 2k+1
    cashier: int  # the user who refunds


@dataclass
class Outcome:
    """What one process saw."""

    counts: Counter[str] = field(default_factory=Counter)
    latencies: dict[str, list[float]] = field(default_factory=lambda: defaultdict(list))
    answers: dict[str, set[bytes]] = field(default_factory=lambda: defaultdict(set))
    errors: list[str] = field(default_factory=list)


def seed(pupils: int) -> Seeded:
    from benchdb import make_school  # type: ignore[import-not-found]
    from django.db import transaction

    from kezekshi.accounts.models import User
    from kezekshi.canteen import services
    from kezekshi.canteen.models import PaymentProvider
    from kezekshi.canteen.payments.common import password_digest
    from kezekshi.people.models import Guardian, Guardianship, Person, Pupil
    from kezekshi.people.services import reserve_account_numbers

    with transaction.atomic():
        school = make_school()
        persons = Person.objects.bulk_create(
            Person(school=school, last_name=f"Оқушы{n}", first_name=f"Бала{n}")
            for n in range(pupils)
        )
        numbers = reserve_account_numbers(school=school, count=pupils)
        rows = Pupil.objects.bulk_create(
            Pupil(school=school, person=person, account_number=numbers[n])
            for n, person in enumerate(persons)
        )
        users = User.objects.bulk_create(
            User(phone=f"+7702{n:07d}", full_name=f"Ата-ана {n}") for n in range(pupils // 2)
        )
        parents = Person.objects.bulk_create(
            Person(school=school, last_name=f"Ата-ана{n}", first_name="Б", user=user)
            for n, user in enumerate(users)
        )
        guardians = Guardian.objects.bulk_create(
            Guardian(school=school, person=person) for person in parents
        )
        Guardianship.objects.bulk_create(
            Guardianship(school=school, guardian=guardians[n // 2], pupil=pupil, relation="mother")
            for n, pupil in enumerate(rows[: len(guardians) * 2])
        )
        PaymentProvider.objects.create(
            code="kaspi",
            name="Kaspi.kz",
            protocol="kaspi",
            username="kaspi",
            password_digest=password_digest(PASSWORD),
            allowed_networks="127.0.0.1/32",
        )
        PaymentProvider.objects.create(code="cash", name="Касса", protocol="kaspi")
        cashier = User.objects.create(email="cashier@bench.kz", full_name="Кассир")
        wallets = [services.wallet_for(pupil=pupil) for pupil in rows]
    return Seeded(
        accounts=[pupil.account_number for pupil in rows],
        wallet_ids=[wallet.pk for wallet in wallets],
        parents=[user.pk for user in users],
        cashier=cashier.pk,
    )


def plan(operations: int, pupils: int, seed_value: int) -> list[tuple[Any, ...]]:
    """The shuffled operations; a duplicate sits right after its original, so the two go
    to different processes at about the same moment."""
    rng = random.Random(seed_value)
    ops: list[tuple[Any, ...]] = []
    sales: list[str] = []
    n = 0
    while len(ops) < operations:
        n += 1
        pupil = rng.randrange(pupils)
        roll = rng.random()
        if roll < 0.28:
            op: tuple[Any, ...] = ("http_pay", pupil, f"{rng.randint(5, 50) * 100}.00", f"{n}")
            ops.append(op)
            if rng.random() < 0.15:
                ops.append(op)  # the same pay at the same instant from another process
            if rng.random() < 0.15:
                ops.insert(rng.randrange(len(ops)), op)  # replayed at some other time
        elif roll < 0.33:
            ops.append(("http_check", pupil, "500.00", f"c{n}"))
        elif roll < 0.43:
            op = ("topup", pupil, f"{rng.randint(5, 50) * 100}.00", f"s{n}")
            ops.append(op)
            if rng.random() < 0.1:
                ops.append(op)  # a cash desk retrying at once
        elif roll < 0.80:
            op = ("sale", pupil, f"{rng.randint(100, 900)}.{rng.randint(0, 99):02d}", f"t{n}")
            sales.append(op[3])
            ops.append(op)
            if rng.random() < 0.1:
                ops.append(op)  # a till retrying at once
        elif roll < 0.88 and sales:
            ops.append(("refund", rng.choice(sales), f"{rng.randint(1, 99)}.00", f"r{n}"))
        else:
            family = rng.randrange(pupils // 2)
            direction = rng.randrange(2)
            ops.append(("transfer", family, direction, f"{rng.randint(1, 300)}.00", f"x{n}"))
    return ops


def worker(job: tuple[dict[str, str], int, int, Seeded, list[tuple[Any, ...]]]) -> Outcome:
    """One process: set Django up on the throwaway database, run its share in threads."""
    env, port, threads, seeded, ops = job
    os.environ.update(env)
    import django

    django.setup()
    outcome = Outcome()
    lock = threading.Lock()
    shares = [ops[i::threads] for i in range(threads)]
    ts = [
        threading.Thread(target=_run_share, args=(share, port, seeded, outcome, lock))
        for share in shares
    ]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    return outcome


def _run_share(
    ops: list[tuple[Any, ...]], port: int, seeded: Seeded, outcome: Outcome, lock: threading.Lock
) -> None:
    from decimal import Decimal

    from django.db import connection
    from django.utils import timezone

    from kezekshi.canteen import services
    from kezekshi.canteen.models import LedgerTransaction, PaymentProvider, Wallet
    from kezekshi.core.errors import ServiceError

    token = base64.b64encode(f"kaspi:{PASSWORD}".encode()).decode()
    headers = {"Authorization": f"Basic {token}", "Host": f"127.0.0.1:{port}"}
    http_connection = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    cash = PaymentProvider.objects.get(code="cash")
    wallets = {w.pk: w for w in Wallet.objects.filter(pk__in=seeded.wallet_ids)}
    school_id = next(iter(wallets.values())).school_id
    parents = {u.pk: u for u in _users([*seeded.parents, seeded.cashier])}

    # An agent's time for its payments: recent, so booked as sent (common.booking_time).
    txn_date = time.strftime("%Y%m%d%H%M%S", time.gmtime(time.time() + 5 * 3600 - 600))

    def wallet(pupil: int) -> Wallet:
        return wallets[seeded.wallet_ids[pupil]]

    def note(kind: str, seconds: float, result: str) -> None:
        with lock:
            outcome.counts[f"{kind}:{result}"] += 1
            outcome.latencies[kind].append(seconds)

    for op in ops:
        kind = op[0]
        started = time.perf_counter()
        try:
            if kind in ("http_pay", "http_check"):
                _, pupil, amount, txn_id = op
                command = "pay" if kind == "http_pay" else "check"
                path = (
                    f"{KASPI}?command={command}&txn_id={txn_id}&account={seeded.accounts[pupil]}"
                    f"&sum={amount}&txn_date={txn_date}"
                )
                http_connection.request("GET", path, headers=headers)
                answer = http_connection.getresponse()
                body = answer.read()
                if answer.status != 200:
                    raise RuntimeError(f"{path}: HTTP {answer.status} {body[:200]!r}")
                if kind == "http_pay":
                    with lock:
                        outcome.answers[txn_id].add(body)
                note(kind, time.perf_counter() - started, "ok" if b'"result":0' in body else "no")
            elif kind == "topup":
                _, pupil, amount, txn_id = op
                booked = services.credit_topup(
                    wallet=wallet(pupil),
                    provider=cash,
                    amount=Decimal(amount),
                    txn_id=txn_id,
                    booked_at=timezone.now(),
                )
                note(kind, time.perf_counter() - started, "replay" if booked.replayed else "ok")
            elif kind == "sale":
                _, pupil, amount, till_id = op
                booked = services.charge_sale(
                    wallet=wallet(pupil), amount=Decimal(amount), external_id=till_id, items="Ас"
                )
                note(kind, time.perf_counter() - started, "replay" if booked.replayed else "ok")
            elif kind == "refund":
                _, till_id, amount, key = op
                sale = LedgerTransaction.objects.filter(
                    school_id=school_id, kind="sale", external_id=till_id
                ).first()
                if sale is None:
                    note(kind, time.perf_counter() - started, "no_sale")
                    continue
                services.refund_sale(
                    sale=sale,
                    amount=Decimal(amount),
                    reason="bench",
                    by=parents[seeded.cashier],
                    external_id=key,
                )
                note(kind, time.perf_counter() - started, "ok")
            elif kind == "transfer":
                _, family, direction, amount, key = op
                source, target = 2 * family + direction, 2 * family + 1 - direction
                services.transfer_between_siblings(
                    source=wallet(source),
                    target=wallet(target),
                    amount=Decimal(amount),
                    by=parents[seeded.parents[family]],
                    external_id=key,
                )
                note(kind, time.perf_counter() - started, "ok")
        except ServiceError as refusal:
            note(kind, time.perf_counter() - started, refusal.code)
        except Exception as error:  # a bug: reported and counted as a failure
            with lock:
                outcome.errors.append(f"{op}: {type(error).__name__}: {error}")
    http_connection.close()
    connection.close()


def _users(ids: list[int]) -> list[Any]:
    from kezekshi.accounts.models import User

    return list(User.objects.filter(pk__in=ids))


def check(outcome: Outcome) -> list[str]:
    """The invariants; returns what is wrong."""
    from django.db.models import Count

    from kezekshi.canteen import selectors
    from kezekshi.canteen.models import LedgerTransaction, Wallet

    problems = list(outcome.errors[:20])
    for txn_id, bodies in outcome.answers.items():
        if len(bodies) != 1:
            problems.append(f"Kaspi txn {txn_id} got {len(bodies)} different answers")
    twice = (
        LedgerTransaction.objects.values("kind", "external_id")
        .annotate(n=Count("id"))
        .filter(n__gt=1)
    )
    problems += [f"booked twice: {row}" for row in twice]
    http_booked = LedgerTransaction.objects.filter(kind="topup", provider__code="kaspi").count()
    if http_booked != len(outcome.answers):
        problems.append(f"{len(outcome.answers)} Kaspi txn ids paid, {http_booked} booked")
    negative = Wallet.objects.filter(balance__lt=0).count()
    if negative:
        problems.append(f"{negative} wallets below zero")
    result = selectors.check_ledger()
    if result.debits != result.credits:
        problems.append(f"debits {result.debits} != credits {result.credits}")
    if result.unbalanced:
        problems.append(f"{len(result.unbalanced)} transactions do not balance")
    if result.wrong_balances:
        problems.append(f"{len(result.wrong_balances)} cached balances differ from the ledger")
    print(
        f"ledger: {result.transactions} transactions, {result.entries} entries, "
        f"debits {result.debits} = credits {result.credits}; "
        f"{len(result.wrong_balances)} cached balances off; {negative} wallets below zero"
    )
    return problems


def run(args: argparse.Namespace, *, engine: str) -> int:
    seeded = seed(args.pupils)
    ops = plan(args.operations, args.pupils, args.seed)
    print(
        f"canteen stress — {len(ops)} operations, {args.processes} processes × {args.threads} "
        f"threads, {args.pupils} pupils, {engine}; server: uvicorn --workers {args.workers}; "
        f"{machine()}"
    )
    with Server(workers=args.workers) as server:
        env = {**database_env(), "DATABASE_POOL_SIZE": str(args.threads + 1)}
        shares = [ops[i :: args.processes] for i in range(args.processes)]
        jobs = [(env, server.port, args.threads, seeded, share) for share in shares]
        started = time.perf_counter()
        with multiprocessing.get_context("spawn").Pool(args.processes) as pool:
            outcomes = pool.map(worker, jobs)
        elapsed = time.perf_counter() - started
    merged = Outcome()
    for outcome in outcomes:
        merged.counts.update(outcome.counts)
        for kind, values in outcome.latencies.items():
            merged.latencies[kind].extend(values)
        for txn_id, bodies in outcome.answers.items():
            merged.answers[txn_id] |= bodies
        merged.errors += outcome.errors
    done = sum(merged.counts.values())
    print(f"{done} operations in {elapsed:.1f} s: {done / elapsed:.0f}/s")
    pays = sum(v for k, v in merged.counts.items() if k.startswith("http_pay:"))
    print(f"  Kaspi pay calls {pays} for {len(merged.answers)} txn ids (the rest repeats)")
    for kind in sorted(merged.latencies):
        results = {k.split(":", 1)[1]: v for k, v in merged.counts.items() if k.startswith(kind)}
        print(f"  {kind:<10} {dict(sorted(results.items()))}")
        print(f"  {'':<10} {latency_summary(merged.latencies[kind])}")
    problems = check(merged)
    if problems:
        print("FAILED:\n  " + "\n  ".join(problems))
        return 1
    print(
        "OK: no double charges, every Kaspi txn_id answered the same bytes and booked once, "
        "debits = credits, every cached balance = its ledger sum, no wallet below zero"
    )
    return 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    database_argument(parser)
    parser.add_argument("--operations", type=int, default=12000)
    parser.add_argument("--processes", type=int, default=4)
    parser.add_argument("--threads", type=int, default=4)
    parser.add_argument("--pupils", type=int, default=300)
    parser.add_argument("--workers", type=int, default=2, help="uvicorn worker processes")
    parser.add_argument("--seed", type=int, default=2025)
    args = parser.parse_args()
    return run_on_throwaway_database(args, suffix="canteen", run=run)


if __name__ == "__main__":
    sys.exit(main())
