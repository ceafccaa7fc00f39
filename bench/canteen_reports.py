"""Benchmark: the canteen's reports for a school of 3,000 pupils and a month of sales.

    DEBUG=0 .venv/bin/python bench/canteen_reports.py [--database postgres] [--pupils 3000]

Seeds a throwaway database (SQLite file, or a PostgreSQL database beside DATABASE_URL)
with the access benchmarks' school, then by bulk inserts a month as the ledger would
hold it: 22 school days of menus (lunch: soup, main, drink; a snack), two top-ups per
pupil from two providers, and every pupil buying a lunch every school day and a snack
every other day — each sale its ``Sale``, ``SaleLine`` rows, its ledger transaction and
two entries; one sale in fifty voided, one in a hundred partly refunded; pupils of
grades 1–4 eat their lunch from the free-meal fund. Wallet balances are the sums of
their entries, so ``canteen_verify`` agrees.

Then each report is asked for through the real URL stack (an accountant's signed-in
client: middleware, permission, audit entry, template or file), five times each, and
the median and the slowest time printed, with the queries one page makes.

Target (brief): "a school of 3,000 pupils and a month of sales must render in well under
a second".
"""

from __future__ import annotations

import argparse
import datetime as dt
import statistics
import sys
import time
from decimal import Decimal
from typing import Any

from access_setup import database_argument, machine, run_on_throwaway_database, seed_school

RUNS = 5


def seed_month(school_id: int, first: dt.date, days: int) -> dict[str, int]:
    """A month of top-ups and sales, bulk-inserted as the services would have booked them."""
    from django.db import transaction

    from kezekshi.access.models import Device
    from kezekshi.canteen import menu as menus
    from kezekshi.canteen import services
    from kezekshi.canteen.menu import day_range
    from kezekshi.canteen.models import (
        CanteenSettings,
        Entry,
        LedgerTransaction,
        MenuItem,
        PaymentProvider,
        Sale,
        SaleLine,
        SystemAccount,
        Wallet,
    )
    from kezekshi.core.models import School
    from kezekshi.people.models import Pupil

    Kind = LedgerTransaction.Kind
    school = School.objects.get(pk=school_id)
    with transaction.atomic():
        CanteenSettings.objects.create(school=school, free_lunch_cost=Decimal("700.00"))
        soups = menus.save_category(school=school, name_kk="Сорпалар", name_ru="Супы")
        mains = menus.save_category(school=school, name_kk="Негізгі", name_ru="Вторые")
        drinks = menus.save_category(school=school, name_kk="Сусындар", name_ru="Напитки")
        sweets = menus.save_category(school=school, name_kk="Тәттілер", name_ru="Сладкое")

        def dish(category: Any, name: str, price: str) -> Any:
            return menus.save_dish(
                school=school,
                category=category,
                name_kk=name,
                name_ru=name,
                name_en=name,
                price=Decimal(price),
                allergens=[],
            )

        soups_ = [dish(soups, "Борщ", "350"), dish(soups, "Сорпа", "300")]
        mains_ = [dish(mains, "Палау", "600"), dish(mains, "Котлета", "450")]
        drink = dish(drinks, "Компот", "150")
        snacks = [dish(sweets, "Бәліш", "200"), dish(sweets, "Алма", "100")]
        providers = [
            PaymentProvider.objects.create(code=f"bench-{code}", name=name, protocol=protocol)
            for code, name, protocol in (
                ("kaspi", "Kaspi", "kaspi"),
                ("qiwi", "Qiwi", "osmp"),
            )
        ]
        terminals = [
            Device.objects.create(school=school, name=f"Касса {n}", kind="pos_terminal", secret="x")
            for n in (1, 2, 3)
        ]
        revenue = services.system_account(school_id=school_id, kind=SystemAccount.Kind.REVENUE)
        fund = services.system_account(school_id=school_id, kind=SystemAccount.Kind.FREE_MEAL_FUND)
        refunds_account = services.system_account(
            school_id=school_id, kind=SystemAccount.Kind.REFUNDS
        )
        clearing = {
            provider.pk: services.system_account(
                school_id=school_id, kind=SystemAccount.Kind.CLEARING, provider=provider
            )
            for provider in providers
        }
        pupils = list(
            Pupil.objects.filter(school=school).select_related("school_class").order_by("pk")
        )
        wallets = Wallet.objects.bulk_create(Wallet(school=school, pupil=pupil) for pupil in pupils)
        balance = {wallet.pk: Decimal(0) for wallet in wallets}

        school_days: list[dt.date] = []
        day = first
        while len(school_days) < days:
            if day.weekday() < 5:
                school_days.append(day)
            day += dt.timedelta(days=1)
        menu_items: dict[dt.date, dict[int, MenuItem]] = {}
        for day in school_days:
            lunch = menus.set_menu(
                school=school,
                date=day,
                meal="lunch",
                items=[(d, None) for d in (*soups_, *mains_, drink)],
                publish=True,
            )
            snack = menus.set_menu(
                school=school, date=day, meal="snack", items=[(d, None) for d in snacks]
            )
            menu_items[day] = {
                item.dish_id: item for item in (*lunch.items.all(), *snack.items.all())
            }

        transactions: list[LedgerTransaction] = []
        legs: list[list[tuple[Any, Decimal]]] = []  # entries of transactions[i]
        sales: list[tuple[Sale, list[tuple[Any, int]], int | None, int | None]] = []

        def book(
            kind: str, external_id: str, amount: Decimal, at: dt.datetime, **extra: Any
        ) -> int:
            transactions.append(
                LedgerTransaction(
                    school=school,
                    kind=kind,
                    external_id=external_id,
                    amount=amount,
                    booked_at=at,
                    created_at=at,
                    **extra,
                )
            )
            legs.append([])
            return len(transactions) - 1

        for n, wallet in enumerate(wallets):
            for k, provider in enumerate(providers):
                at = day_range(school_days[0 if k == 0 else len(school_days) // 2])[0]
                at += dt.timedelta(hours=7, minutes=n % 600 / 10)
                amount = Decimal(10000 + 500 * (n % 7))
                i = book(Kind.TOPUP, f"{provider.code}:{n}-{k}", amount, at, provider=provider,
                         provider_txn_id=f"{n}-{k}")  # fmt: skip
                legs[i] = [(wallet, amount), (clearing[provider.pk], -amount)]
                balance[wallet.pk] += amount
        counter = 0
        for day_number, day in enumerate(school_days):
            items = menu_items[day]
            start = day_range(day)[0]
            for n, (pupil, wallet) in enumerate(zip(pupils, wallets, strict=True)):
                free = pupil.school_class is not None and pupil.school_class.grade <= 4
                baskets = [
                    (
                        "lunch",
                        [
                            (items[soups_[(n + day_number) % 2].pk], 1),
                            (items[mains_[n % 2].pk], 1),
                            (items[drink.pk], 1),
                        ],
                    )
                ]
                if (n + day_number) % 2 == 0:
                    baskets.append(("snack", [(items[snacks[n % 2].pk], 1 + n % 2)]))
                for meal, lines in baskets:
                    counter += 1
                    at = start + dt.timedelta(hours=9 if meal == "snack" else 12, seconds=n)
                    device = terminals[n % len(terminals)]
                    total = sum((item.price * count for item, count in lines), Decimal(0))
                    free_part = min(total, Decimal("700.00")) if free and meal == "lunch" else 0
                    wallet_part = total - free_part
                    external_id = f"d{device.pk}:{counter}"
                    voided = counter % 50 == 0
                    sale = Sale(
                        school=school,
                        pupil=pupil,
                        external_id=external_id,
                        device=device,
                        sold_at=at,
                        recorded_at=at,
                        total=total,
                        free_amount=free_part,
                        wallet_amount=wallet_part,
                        status=Sale.Status.VOIDED if voided else Sale.Status.SOLD,
                        voided_at=at + dt.timedelta(minutes=1) if voided else None,
                        void_reason="bench" if voided else "",
                    )
                    charge = free_booked = None
                    if wallet_part:
                        charge = book(Kind.SALE, external_id, wallet_part, at)
                        legs[charge] = [(wallet, -wallet_part), (revenue, wallet_part)]
                        balance[wallet.pk] -= wallet_part
                        if voided:
                            i = book(Kind.SALE_VOID, f"void:{counter}", wallet_part, at)
                            legs[i] = [(wallet, wallet_part), (revenue, -wallet_part)]
                            balance[wallet.pk] += wallet_part
                        elif counter % 100 == 1:
                            i = book(Kind.SALE_REFUND, f"{external_id}-r", Decimal(50), at,
                                     reason="bench")  # fmt: skip
                            legs[i] = [(wallet, Decimal(50)), (refunds_account, Decimal(-50))]
                            balance[wallet.pk] += 50
                    if free_part:
                        free_booked = book(Kind.FREE_MEAL, external_id, Decimal(free_part), at)
                        fund_part = Decimal(free_part)
                        legs[free_booked] = [(fund, -fund_part), (revenue, fund_part)]
                    sales.append((sale, lines, charge, free_booked))

        LedgerTransaction.objects.bulk_create(transactions, batch_size=5000)
        Entry.objects.bulk_create(
            (
                Entry(
                    school=school,
                    transaction=booked,
                    wallet=account if isinstance(account, Wallet) else None,
                    account=account if isinstance(account, SystemAccount) else None,
                    amount=value,
                )
                for booked, entries in zip(transactions, legs, strict=True)
                for account, value in entries
            ),
            batch_size=5000,
        )
        for sale, _lines, charge, free_booked in sales:
            sale.charge = transactions[charge] if charge is not None else None
            sale.free_meal = transactions[free_booked] if free_booked is not None else None
        Sale.objects.bulk_create([sale for sale, *_rest in sales], batch_size=5000)
        SaleLine.objects.bulk_create(
            (
                SaleLine(
                    school=school,
                    sale=sale,
                    dish_id=item.dish_id,
                    meal=item.menu.meal,
                    quantity=count,
                    unit_price=item.price,
                    amount=item.price * count,
                )
                for sale, lines, *_rest in sales
                for item, count in lines
            ),
            batch_size=5000,
        )
        for wallet in wallets:
            wallet.balance = balance[wallet.pk]
        Wallet.objects.bulk_update(wallets, ["balance"], batch_size=2000)
    return {
        "pupils": len(pupils),
        "sales": len(sales),
        "sale lines": SaleLine.objects.filter(school=school).count(),
        "ledger transactions": len(transactions),
        "entries": Entry.objects.filter(school=school).count(),
    }


def run(args: argparse.Namespace, *, engine: str) -> int:
    from django.db import connection
    from django.test import Client
    from django.test.utils import CaptureQueriesContext

    from kezekshi.accounts.models import Membership, User
    from kezekshi.canteen.menu import local_today
    from kezekshi.canteen.selectors import check_ledger
    from kezekshi.core.models import School

    started = time.perf_counter()
    seeded = seed_school(pupils=args.pupils)
    first = local_today().replace(day=1) - dt.timedelta(days=35)
    first = first.replace(day=1)
    counts = seed_month(seeded.school_id, first, days=22)
    school = School.objects.get(pk=seeded.school_id)
    if connection.vendor == "postgresql":
        # What autovacuum does after a bulk load: the planner's statistics.
        with connection.cursor() as cursor:
            cursor.execute("ANALYZE")
    checked = check_ledger(school=school)
    print(f"seeded in {time.perf_counter() - started:.0f} s: " + ", ".join(
        f"{value:,} {name}" for name, value in counts.items()
    ) + f"; ledger adds up: {checked.ok}")  # fmt: skip
    if not checked.ok:
        return 1

    user = User.objects.create_user(email="accountant@bench.kz", password=None, language="en")
    Membership.objects.create(user=user, role="accountant", school=school)
    client = Client()
    client.force_login(user, backend="kezekshi.accounts.backends.PhoneOrEmailBackend")
    last = first + dt.timedelta(days=31)
    month = {"from": first.isoformat(), "to": last.isoformat()}
    end_of_month = {"day": last.isoformat()}
    sample_day = {"day": (first + dt.timedelta(days=2)).isoformat()}
    pages = [
        ("sales by item and day, a month", "/canteen/reports/sales/", month),
        ("  as XLSX", "/canteen/reports/sales.xlsx", month),
        ("shift close, all tills, a day", "/canteen/reports/shift/", sample_day),
        ("balances at a date, 3,000 pupils", "/canteen/reports/balances/", end_of_month),
        ("  as XLSX", "/canteen/reports/balances.xlsx", end_of_month),
        ("  as CSV", "/canteen/reports/balances.csv", end_of_month),
        ("top-ups by provider, a month", "/canteen/reports/topups/", month),
    ]
    print(f"engine: {engine}; {machine()}")
    print(f"{'report':38} {'median':>8} {'slowest':>8} {'queries':>8}  size")
    worst = 0.0
    for name, url, params in pages:
        times = []
        for _run in range(RUNS):
            with CaptureQueriesContext(connection) as queries:
                began = time.perf_counter()
                response = client.get(url, params)
                times.append(time.perf_counter() - began)
            assert response.status_code == 200, (url, response.status_code)
        worst = max(worst, statistics.median(times))
        print(
            f"{name:38} {statistics.median(times) * 1000:6.0f}ms {max(times) * 1000:6.0f}ms "
            f"{len(queries):8d}  {len(response.content) / 1024:,.0f} KiB"
        )
    return 0 if worst < 1.0 else 1


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    database_argument(parser)
    parser.add_argument("--pupils", type=int, default=3000)
    args = parser.parse_args()
    return run_on_throwaway_database(args, suffix="reports", run=run)


if __name__ == "__main__":
    sys.exit(main())
