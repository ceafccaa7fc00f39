"""Benchmark: ``POST /api/v1/canteen/sales`` from 100 POS terminals on the real server.

    DEBUG=0 .venv/bin/python bench/canteen_sale.py [--database postgres] [--workers 2]

Seeds a throwaway database (SQLite file, or a PostgreSQL database beside DATABASE_URL)
like the access benchmarks — 3,000 pupils with cards and a guardian each, who has an
account and a phone, so every sale writes the parents' notice — then today's menu
(lunch and snacks), 5,000 ₸ on every wallet (real top-ups through the ledger), daily
limits and allergies for a third of the pupils, and 100 signed POS terminals. Then it
starts uvicorn with the project's ASGI app, as ``make demo`` does, and drives it from
this process over 100 keep-alive HTTP/1.1 connections (one per terminal) with sales
signed in advance:

1. sales at a fixed offered rate (``--rate``, default 20/s: each of the 100 terminals
   sells once every 5 s, a brisk cashier's pace; ``--rate 100`` is one sale a second
   from every terminal) for 20 s, latency counted from the moment each sale was due, so
   a stalled server cannot hide its queue;
2. sales as fast as the 100 terminals get answers (closed loop, 10 s): the throughput,
   and the latency when every terminal waits on the one before;
3. 1,000 of the sales sent again (a terminal that lost the answer): every answer must
   be the original's bytes (as stored with the sale), and nothing more may be charged.

Afterwards: every 200 answer is one sale, each charged once, the ledger balances and
every cached balance equals its entries (``canteen_verify``'s checks).

Target (issue 6): p99 ≤ 30 ms with 100 concurrent POS clients, on SQLite and PostgreSQL.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import json
import random
import sys
import time
from decimal import Decimal

from access_decide import Run, fixed_rate, max_rate, p99_ms, report
from access_setup import (
    Connection,
    Lane,
    Seeded,
    Server,
    access_bench_parser,
    machine,
    run_on_throwaway_database,
    seed_school,
    signed_request,
)

SALES = "/api/v1/canteen/sales"
TERMINALS = 100


def seed_canteen(seeded: Seeded) -> tuple[list[Lane], list[int], list[list[int]]]:
    """Menu, money, parents' rules and terminals; returns the terminals, the pupils, and
    the menu items each sale may take (a lunch and a drink, or a snack)."""
    from django.db import transaction

    from kezekshi.access import services as access_services
    from kezekshi.canteen import menu, services
    from kezekshi.canteen.models import PaymentProvider, PupilControls
    from kezekshi.canteen.money import CENT
    from kezekshi.core.models import School
    from kezekshi.people.models import Pupil

    school = School.objects.get(pk=seeded.school_id)
    with transaction.atomic():
        soups = menu.save_category(school=school, name_kk="Сорпалар", name_ru="Супы")
        mains = menu.save_category(school=school, name_kk="Негізгі", name_ru="Вторые")
        drinks = menu.save_category(school=school, name_kk="Сусындар", name_ru="Напитки")
        sweets = menu.save_category(school=school, name_kk="Тәттілер", name_ru="Сладкое")
        spec = [
            (soups, "Борщ", "350", ["celery"]),
            (mains, "Палау", "600", []),
            (mains, "Котлета", "450", ["eggs", "gluten"]),
            (drinks, "Компот", "150", []),
            (drinks, "Шай", "50", []),
            (sweets, "Бәліш", "200", ["gluten", "milk"]),
        ]
        dishes = [
            menu.save_dish(
                school=school, category=category, name_kk=name, name_ru=name,
                price=Decimal(price), allergens=allergens,
            )
            for category, name, price, allergens in spec
        ]  # fmt: skip
        today = menu.local_today()
        lunch = menu.set_menu(
            school=school, date=today, meal="lunch",
            items=[(dish, None) for dish in dishes[:5]], publish=True,
        )  # fmt: skip
        snack = menu.set_menu(
            school=school, date=today, meal="snack", items=[(dishes[5], None)], publish=True
        )
        item = {i.dish_id: i.pk for i in [*lunch.items.all(), *snack.items.all()]}
        baskets = [
            [item[dishes[0].pk], item[dishes[3].pk]],  # borscht, compote
            [item[dishes[1].pk], item[dishes[4].pk]],  # plov, tea
            [item[dishes[2].pk]],  # cutlet
            [item[dishes[5].pk], item[dishes[4].pk]],  # pastry, tea
        ]
        provider = PaymentProvider.objects.create(
            code="bench", name="Bench Bank", protocol="kaspi", username="bench"
        )
    pupils = list(Pupil.objects.filter(school=school).select_related("person").order_by("pk"))
    at = dt.datetime.now(dt.UTC) - dt.timedelta(days=1)
    for pupil in pupils:
        services.credit_topup(
            wallet=services.wallet_for(pupil=pupil),
            provider=provider,
            amount=Decimal("5000.00"),
            txn_id=f"seed-{pupil.pk}",
            booked_at=at,
        )
    # A third of the pupils have parents' rules: a daily limit, and for some an allergy
    # the baskets above avoid (the rules are read and checked at every sale).
    PupilControls.objects.bulk_create(
        PupilControls(
            school=school,
            pupil=pupil,
            daily_limit=Decimal("3000.00").quantize(CENT),
            allergens=["peanuts"] if n % 2 else [],
            low_balance_threshold=Decimal("500.00"),
        )
        for n, pupil in enumerate(pupils)
        if n % 3 == 0
    )
    terminals = []
    for n in range(TERMINALS):
        device, secret = access_services.register_device(
            school=school, name=f"Касса {n + 1}", kind="pos_terminal", door=None
        )
        terminals.append(Lane(device.pk, secret))
    return terminals, [pupil.pk for pupil in pupils], baskets


def sale_requests(
    terminals: list[Lane], pupils: list[int], baskets: list[list[int]], port: int, *, count: int
) -> list[bytes]:
    """``count`` signed sales: terminal i%100, each pupil in turn, a basket at random."""
    prefix = f"b{time.time_ns()}-"
    chooser = random.Random(6)
    requests = []
    for n in range(count):
        basket = chooser.choice(baskets)
        payload = {
            "txn_id": f"{prefix}{n}",
            "pupil_id": pupils[n % len(pupils)],
            "items": [{"menu_item_id": item, "quantity": 1} for item in basket],
        }
        requests.append(
            signed_request(
                lane=terminals[n % len(terminals)], path=SALES, payload=payload, port=port
            )
        )
    return requests


async def collect(port: int, requests: list[bytes]) -> dict[int, bytes]:
    """The answers to ``requests`` (sent once each, 10 at a time), by index."""
    answers: dict[int, bytes] = {}
    queue = list(enumerate(requests))

    async def client() -> None:
        connection = await Connection.open(port)
        while queue:
            index, request = queue.pop()
            status, body = await connection.send(request)
            if status == 200:
                answers[index] = body
        connection.close()

    await asyncio.gather(*(client() for _ in range(10)))
    return answers


def main() -> int:
    parser = access_bench_parser(__doc__.splitlines()[0])
    parser.add_argument(
        "--rate",
        type=float,
        default=20.0,
        help="sales/s from all terminals (20: each of the 100 sells once every 5 s)",
    )
    parser.add_argument("--seconds", type=float, default=20.0, help="at the fixed rate")
    parser.add_argument("--max-seconds", type=float, default=10.0, help="closed loop")
    args = parser.parse_args()
    return run_on_throwaway_database(args, suffix="bench_pos", run=run)


def run(args: argparse.Namespace, *, engine: str) -> int:
    from kezekshi.canteen.models import LedgerTransaction, Sale
    from kezekshi.canteen.selectors import check_ledger

    started = time.perf_counter()
    seeded = seed_school(pupils=args.pupils)
    terminals, pupils, baskets = seed_canteen(seeded)
    print(f"seeded {args.pupils} pupils, wallets, menu and {TERMINALS} POS terminals in "
          f"{time.perf_counter() - started:.1f} s ({engine})")  # fmt: skip
    with Server(workers=args.workers, interface=args.interface) as server:
        port = server.port
        print(f"server: uvicorn kezekshi.{args.interface}:application --workers {args.workers}; "
              f"load: this process, {TERMINALS} keep-alive connections (one per terminal); "
              f"{machine()}")  # fmt: skip
        steady_count = int(args.rate * args.seconds)
        requests = sale_requests(terminals, pupils, baskets, port, count=steady_count + 40_000)
        # Warm every worker (its connections, the device cache) with sales of their own.
        warm = asyncio.run(max_rate(port, requests[-2_000:], seconds=2, connections=TERMINALS))

        print(f"sales ({engine}):")
        steady: Run = asyncio.run(
            fixed_rate(
                port,
                requests[:steady_count],
                rate=args.rate,
                seconds=args.seconds,
                connections=TERMINALS,
            )
        )
        report(f"offered {args.rate:.0f}/s for {args.seconds:.0f} s", steady)
        rest = requests[steady_count:-2_000]
        top = asyncio.run(max_rate(port, rest, seconds=args.max_seconds, connections=TERMINALS))
        report("max rate (closed loop)", top)
        p99 = p99_ms(steady)
        print(f"  p99 at {args.rate:.0f}/s from {TERMINALS} terminals: {p99:.1f} ms")
        resent = requests[: min(1_000, steady_count)]  # sold in the first phase
        replays = asyncio.run(collect(port, resent))

    sold = Sale.objects.count()
    charges = LedgerTransaction.objects.filter(kind=LedgerTransaction.Kind.SALE).count()
    answered = sum(len(run.latencies) for run in (warm, steady, top))
    stored = {
        sale.external_id.split(":", 1)[1]: sale.answer.encode()
        for sale in Sale.objects.only("external_id", "answer")
    }
    same = sum(1 for body in replays.values() if stored.get(json.loads(body)["txn_id"]) == body)
    print(f"  replays: {same} of {len(resent)} answered with the original's bytes; "
          f"sales stored {sold}, charged {charges}, 200 answers {answered}")  # fmt: skip
    check = check_ledger()
    print(f"  ledger {'balanced' if check.ok else 'NOT BALANCED'}: {check.transactions} "
          f"transactions, debits {check.debits} = credits {check.credits}")  # fmt: skip
    ok = (
        p99 <= 30
        and not steady.errors
        and not top.errors
        and same == len(resent)
        and check.ok
        and sold == charges == answered
    )
    print(f"  target (p99 ≤ 30 ms with {TERMINALS} POS clients): {'met' if ok else 'MISSED'}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
