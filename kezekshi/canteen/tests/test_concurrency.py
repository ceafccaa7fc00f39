"""Money under concurrency: identical pays at the same instant, sales racing for the last
tenge, transfers crossing each other. Real threads on a committed database (transactional
tests), on SQLite and on PostgreSQL."""

from __future__ import annotations

import sqlite3
import threading
import time
from collections.abc import Callable, Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from django.db import OperationalError, close_old_connections, connection, connections

from kezekshi.canteen import selectors, services
from kezekshi.canteen.models import LedgerTransaction, PaymentProvider, ProviderAnswer, Wallet
from kezekshi.canteen.tests.conftest import Agent, balance, top_up
from kezekshi.core.errors import ServiceError
from kezekshi.people.models import Pupil
from kezekshi.privacy.tests.family import Family

pytestmark = pytest.mark.django_db(transaction=True)


def at_once(
    count: int, work: Callable[[int], Any], *, connect: Callable[[], None] | None = None
) -> list[Any]:
    """Run ``work(i)`` in ``count`` threads released together; their results (or errors).

    ``connect`` (from ``waiting_database``) gives each thread a database where a writer
    waits for another's locks as in production; then nothing is retried."""
    barrier = threading.Barrier(count)
    results: list[Any] = [None] * count

    def run(index: int) -> None:
        try:
            if connect is not None:
                connect()
            barrier.wait()
            results[index] = work(index) if connect is not None else _retrying(lambda: work(index))
        except BaseException as error:  # reported by the caller's assertions
            results[index] = error
        finally:
            close_old_connections()
            connection.close()

    threads = [threading.Thread(target=run, args=(i,)) for i in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return results


def _retrying(call: Callable[[], Any]) -> Any:
    """SQLite's in-memory test database shares one cache between threads, where a second
    writer is told "locked" at once instead of waiting as a file database does (20 s,
    settings.py); such a writer retries, as an agent that got an error would. The
    in-memory database's lock error reaches the test client as a 500 answer."""
    for _attempt in range(500):
        try:
            result = call()
        except OperationalError as error:
            if connection.vendor != "sqlite" or "locked" not in str(error):
                raise
        else:
            if connection.vendor != "sqlite" or getattr(result, "status_code", 200) != 500:
                return result
        threading.Event().wait(0.005)
    return call()


# How long a reversal (void, refund, card refund) holds its locks after inserting its row:
# long enough that a duplicate started at the same instant has looked for the original
# (and not found it) before the first commits, and then waits for the first's locks.
SLOW = 0.4
REVERSALS = "('sale_void', 'sale_refund', 'topup_refund')"


@pytest.fixture
def waiting_database(tmp_path: Path) -> Iterator[Callable[[], None]]:
    """Connections on which a second writer waits for the first, as in production, and on
    which a reversal holds its locks for ``SLOW`` seconds (a trigger after its insert).

    PostgreSQL: the test database itself. SQLite: the in-memory test database answers a
    second writer "locked" at once (and ``_retrying`` would hide a race by starting the
    call over), so the threads get a file copy of it, where a writer waits (busy
    timeout, settings.py). Call the returned function in each thread; the test's own
    thread is connected to it already."""
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute(
                "CREATE FUNCTION kz_test_slow() RETURNS trigger AS $$ BEGIN "
                f"PERFORM pg_sleep({SLOW}); RETURN NULL; END $$ LANGUAGE plpgsql"
            )
            cursor.execute(
                "CREATE TRIGGER kz_test_slow AFTER INSERT ON canteen_ledgertransaction "
                f"FOR EACH ROW WHEN (NEW.kind IN {REVERSALS}) EXECUTE FUNCTION kz_test_slow()"
            )
        yield lambda: None
        with connection.cursor() as cursor:
            cursor.execute("DROP TRIGGER kz_test_slow ON canteen_ledgertransaction")
            cursor.execute("DROP FUNCTION kz_test_slow()")
        return
    path = tmp_path / "canteen.sqlite3"
    connection.ensure_connection()
    copy = sqlite3.connect(path)
    connection.connection.backup(copy)
    copy.execute("PRAGMA journal_mode=WAL")
    copy.execute(
        "CREATE TRIGGER kz_test_slow AFTER INSERT ON canteen_ledgertransaction "
        f"WHEN NEW.kind IN {REVERSALS} BEGIN SELECT kz_test_sleep({SLOW}); END"
    )
    copy.commit()
    copy.close()
    memory = connections["default"]
    on_file = {**memory.settings_dict, "NAME": str(path)}

    def connect() -> None:
        wrapper = type(memory)(on_file, "default")
        wrapper.ensure_connection()
        wrapper.connection.create_function("kz_test_sleep", 1, time.sleep)
        connections["default"] = wrapper

    connect()
    yield connect
    connections["default"].close()
    connections["default"] = memory


def timed(call: Callable[[], Any]) -> tuple[Any, float]:
    started = time.monotonic()
    return call(), time.monotonic() - started


@pytest.mark.parametrize("reversal", ["void", "refund", "card_refund"])
def test_identical_reversals_at_the_same_instant_reverse_once_and_the_rest_replay(
    pupil: Pupil, kaspi: PaymentProvider, make_user: Any, school: Any, reversal: str,
    waiting_database: Callable[[], None],
) -> None:  # fmt: skip
    cashier = make_user(None, school)
    wallet = services.wallet_for(pupil=pupil)
    topup = top_up(wallet, kaspi, "1000.00", "K1").transaction
    sale = services.charge_sale(
        wallet=wallet, amount=Decimal("600.00"), external_id="till-1", items="Ас"
    ).transaction
    calls: dict[str, Callable[[], services.Booked]] = {
        "void": lambda: services.void_sale(sale=sale, reason="Қате", by=cashier),
        "refund": lambda: services.refund_sale(
            sale=sale, amount=Decimal("400.00"), reason="Суық", by=cashier, external_id="r-1"
        ),
        "card_refund": lambda: services.refund_topup(
            topup=topup, amount=Decimal("700.00"), refund_id="C1"
        ),
    }

    results = at_once(3, lambda _i: timed(calls[reversal]), connect=waiting_database)

    assert all(isinstance(r, tuple) for r in results), results
    booked = [r[0] for r in results]
    assert len({b.transaction.pk for b in booked}) == 1
    assert sum(not b.replayed for b in booked) == 1
    # the duplicates looked before the first committed, then waited for its locks
    assert all(seconds > SLOW / 2 for b, seconds in results if b.replayed), results
    expected = {"void": "1000.00", "refund": "800.00", "card_refund": "-300.00"}[reversal]
    assert balance(wallet) == Decimal(expected)
    assert LedgerTransaction.objects.filter(reverses__isnull=False).count() == 1
    assert selectors.check_ledger().ok


def test_two_identical_pays_at_the_same_instant_credit_once(
    kaspi_agent: Agent, pupil: Pupil
) -> None:
    responses = at_once(
        6,
        lambda _i: Agent(kaspi_agent.path, "kaspi").pay(
            pupil.account_number, "500.00", txn_id="7001"
        ),
    )

    answers = [response.content for response in responses]

    assert all(isinstance(answer, bytes) for answer in answers), answers
    assert len(set(answers)) == 1
    assert b'"result":0' in answers[0]
    assert LedgerTransaction.objects.count() == 1
    assert ProviderAnswer.objects.count() == 1
    assert balance(Wallet.objects.get(pupil=pupil)) == Decimal("500.00")
    assert selectors.check_ledger().ok


def test_sales_racing_for_the_last_tenge_never_overspend(
    pupil: Pupil, kaspi: PaymentProvider
) -> None:
    wallet = services.wallet_for(pupil=pupil)
    top_up(wallet, kaspi, "1000.00", "K1")

    def sell(index: int) -> Any:
        return services.charge_sale(
            wallet=wallet, amount=Decimal("300.00"), external_id=f"till-{index}", items="Ас"
        )

    results = at_once(8, sell)

    sold = [r for r in results if isinstance(r, services.Booked)]
    refused = [r for r in results if isinstance(r, ServiceError)]
    assert len(sold) == 3 and len(refused) == 5, results
    assert all(r.code == "insufficient_funds" for r in refused)
    assert balance(wallet) == Decimal("100.00")
    assert selectors.check_ledger().ok


def test_one_sale_sent_by_several_tills_at_once_is_charged_once(
    pupil: Pupil, kaspi: PaymentProvider
) -> None:
    wallet = services.wallet_for(pupil=pupil)
    top_up(wallet, kaspi, "1000.00", "K1")

    results = at_once(
        6,
        lambda _i: services.charge_sale(
            wallet=wallet, amount=Decimal("250.00"), external_id="till-77", items="Ас"
        ),
    )

    assert all(isinstance(r, services.Booked) for r in results), results
    assert len({r.transaction.pk for r in results}) == 1
    assert sum(not r.replayed for r in results) == 1
    assert balance(wallet) == Decimal("750.00")


def test_transfers_crossing_each_other_neither_deadlock_nor_lose_money(
    family: Family, kaspi: PaymentProvider
) -> None:
    first = services.wallet_for(pupil=family.first)
    second = services.wallet_for(pupil=family.second)
    top_up(first, kaspi, "1000.00", "K1")
    top_up(second, kaspi, "1000.00", "K2")

    def move(index: int) -> Any:
        source, target = (first, second) if index % 2 else (second, first)
        return services.transfer_between_siblings(
            source=source, target=target, amount=Decimal("10.00"), by=family.mother,
            external_id=f"t{index}",
        )  # fmt: skip

    results = at_once(10, move)

    assert all(isinstance(r, services.Booked) for r in results), results
    assert balance(first) + balance(second) == Decimal("2000.00")
    assert balance(first) == Decimal("1000.00")
    assert selectors.check_ledger().ok
