"""The Kaspi-style check/pay endpoint, driven with the query strings an agent sends."""

from __future__ import annotations

import datetime as dt
import json
from decimal import Decimal
from typing import Any

import pytest
from django.db import DatabaseError, connection
from django.utils import timezone

from kezekshi.canteen import services
from kezekshi.canteen.models import (
    LedgerTransaction,
    PaymentProvider,
    ProviderAnswer,
    ProviderRequest,
)
from kezekshi.canteen.tests.conftest import ALMATY, Agent, agent_time, an_hour_ago, balance
from kezekshi.people.models import Pupil

pytestmark = pytest.mark.django_db


def ledger_untouched() -> bool:
    return not LedgerTransaction.objects.exists()


def test_check_names_the_child_masked_and_the_school(kaspi_agent: Agent, pupil: Pupil) -> None:
    response = kaspi_agent.check(pupil.account_number)

    assert response.status_code == 200
    assert response["Content-Type"] == "application/json; charset=utf-8"
    assert (
        response.content
        == (
            '{"txn_id":"1001","prv_txn_id":"","result":0,"sum":"500.00","comment":"Account found",'
            '"name":"Әлия С.","school":"School No. 1001"}'
        ).encode()
    )
    assert ledger_untouched()


def test_pay_credits_the_wallet_once_booked_at_the_agents_time(
    kaspi_agent: Agent, pupil: Pupil, kaspi: PaymentProvider
) -> None:
    paid_at = an_hour_ago()
    response = kaspi_agent.pay(
        pupil.account_number, "500.00", txn_id="1001", txn_date=agent_time(paid_at)
    )

    booked = LedgerTransaction.objects.get()
    assert response.status_code == 200
    assert (
        response.content
        == (
            f'{{"txn_id":"1001","prv_txn_id":"{booked.pk}","result":0,"sum":"500.00",'
            '"comment":"Payment accepted"}'
        ).encode()
    )
    assert booked.booked_at == paid_at and booked.provider_time == ""
    assert booked.provider == kaspi and booked.provider_txn_id == "1001"
    assert balance(services.wallet_for(pupil=pupil)) == Decimal("500.00")
    stored = ProviderRequest.objects.get()
    assert stored.query.startswith("command=pay&txn_id=1001")
    assert stored.provider == kaspi and stored.school_id == pupil.school_id
    assert stored.command == "pay" and stored.result == "0" and stored.status_code == 200
    assert stored.response_body is not None
    assert bytes(stored.response_body) == response.content
    assert "Authorization" not in stored.query


def test_a_repeated_pay_gets_the_first_answer_byte_for_byte_and_books_nothing(
    kaspi_agent: Agent, pupil: Pupil
) -> None:
    first = kaspi_agent.pay(pupil.account_number, "500.00", txn_id="1001")

    again = kaspi_agent.pay(pupil.account_number, "500.00", txn_id="1001")
    # the same sum written another way is the same payment
    same_sum = kaspi_agent.pay(pupil.account_number, "500", txn_id="1001")

    assert again.content == first.content == same_sum.content
    assert LedgerTransaction.objects.count() == 1
    assert balance(services.wallet_for(pupil=pupil)) == Decimal("500.00")
    assert ProviderRequest.objects.count() == 3
    assert ProviderAnswer.objects.count() == 1


def test_a_pay_reusing_a_txn_id_for_another_sum_or_account_is_refused_and_not_stored(
    kaspi_agent: Agent, pupil: Pupil, family: Any
) -> None:
    first = kaspi_agent.pay(pupil.account_number, "500.00", txn_id="1001")

    other_sum = kaspi_agent.pay(pupil.account_number, "900.00", txn_id="1001")
    other_account = kaspi_agent.pay(family.second.account_number, "500.00", txn_id="1001")
    retry = kaspi_agent.pay(pupil.account_number, "500.00", txn_id="1001")

    for refused in (other_sum, other_account):
        assert refused.status_code == 200
        answer = json.loads(refused.content)
        assert answer["result"] == 5 and answer["prv_txn_id"] == ""
        assert answer["comment"] == "This txn_id was used before for another payment"
    assert json.loads(other_sum.content)["sum"] == "900.00"
    assert retry.content == first.content  # a true retry still gets the first bytes
    assert LedgerTransaction.objects.count() == 1
    assert balance(services.wallet_for(pupil=pupil)) == Decimal("500.00")
    assert ProviderAnswer.objects.count() == 1
    stored = ProviderAnswer.objects.get()
    assert (stored.account, stored.amount) == (pupil.account_number, "500.00")
    refused_requests = ProviderRequest.objects.filter(result="5", command="pay")
    assert refused_requests.count() == 2


def test_a_stored_refusal_is_replayed_to_the_same_call_and_reused_ids_are_refused(
    kaspi_agent: Agent, pupil: Pupil
) -> None:
    refused = kaspi_agent.pay(pupil.account_number, "abc", txn_id="31")

    again = kaspi_agent.pay(pupil.account_number, "abc", txn_id="31")
    changed = kaspi_agent.pay(pupil.account_number, "100.00", txn_id="31")
    check = json.loads(kaspi_agent.check(pupil.account_number, txn_id="31").content)

    assert again.content == refused.content
    assert json.loads(changed.content)["result"] == 5
    assert ledger_untouched()
    # the txn_id is spent on a refused pay: a check must not invite a new payment with it
    assert check["result"] == 5
    assert check["comment"] == "This txn_id was used before for another payment"


def test_pay_without_a_check_before_it_is_credited(kaspi_agent: Agent, pupil: Pupil) -> None:
    assert not ProviderRequest.objects.filter(command="check").exists()

    response = kaspi_agent.pay(pupil.account_number, "250.50", txn_id="77")

    assert json.loads(response.content)["result"] == 0
    assert balance(services.wallet_for(pupil=pupil)) == Decimal("250.50")


def test_a_check_of_a_paid_txn_id_says_already_paid(kaspi_agent: Agent, pupil: Pupil) -> None:
    kaspi_agent.pay(pupil.account_number, txn_id="1001")

    answer = json.loads(kaspi_agent.check(pupil.account_number, txn_id="1001").content)

    assert answer["result"] == 3
    assert answer["comment"] == "This payment has been made already"


def test_pay_by_post_form_works_like_get(kaspi_agent: Agent, pupil: Pupil) -> None:
    response = kaspi_agent.post(
        command="pay",
        txn_id="501",
        txn_date=agent_time(an_hour_ago()),
        account=pupil.account_number,
        sum="100",
    )
    assert json.loads(response.content)["result"] == 0
    assert json.loads(response.content)["sum"] == "100.00"


def test_pay_without_txn_date_is_booked_when_it_arrived(kaspi_agent: Agent, pupil: Pupil) -> None:
    response = kaspi_agent.call(command="pay", txn_id="9", account=pupil.account_number, sum="10")

    assert json.loads(response.content)["result"] == 0
    booked = LedgerTransaction.objects.get()
    assert booked.booked_at == ProviderRequest.objects.get().received_at


@pytest.mark.parametrize(
    "amount", ["abc", "1e5", "-5", "0", "0.00", "10.001", "99999999999", "", " 5", "5,00", "NaN"]
)
def test_a_malformed_or_absurd_sum_is_refused_and_books_nothing(
    kaspi_agent: Agent, pupil: Pupil, amount: str
) -> None:
    pay = json.loads(kaspi_agent.pay(pupil.account_number, amount, txn_id="1").content)
    check = json.loads(kaspi_agent.check(pupil.account_number, amount or "x", txn_id="2").content)

    assert pay["result"] == 5 and check["result"] == 5
    assert pay["prv_txn_id"] == ""
    assert ledger_untouched()


def test_a_sum_above_the_providers_largest_is_refused(
    kaspi_agent: Agent, pupil: Pupil, kaspi: PaymentProvider
) -> None:
    answer = json.loads(kaspi_agent.pay(pupil.account_number, "500000.01").content)
    assert answer["result"] == 5
    assert answer["comment"] == "The sum is larger than allowed"
    assert ledger_untouched()


@pytest.mark.parametrize(
    "account",
    ["10019999993", "10010000016", "123", "", "1001000001５", "abcdefghijk", "100100000150"],
)
def test_an_unknown_or_malformed_account_is_not_found(
    kaspi_agent: Agent, pupil: Pupil, account: str
) -> None:
    pay = json.loads(kaspi_agent.pay(account, txn_id="1").content)
    check = json.loads(kaspi_agent.check(account, txn_id="2").content)

    assert pay["result"] == 1 and check["result"] == 1
    assert "name" not in check
    assert ledger_untouched()


@pytest.mark.parametrize(
    "age", [dt.timedelta(days=30) - dt.timedelta(minutes=1), -dt.timedelta(minutes=59)]
)
def test_a_txn_date_up_to_30_days_back_or_an_hour_ahead_is_the_booking_time(
    kaspi_agent: Agent, pupil: Pupil, age: dt.timedelta
) -> None:
    txn_date = agent_time(timezone.now() - age)

    answer = json.loads(kaspi_agent.pay(pupil.account_number, txn_date=txn_date).content)

    assert answer["result"] == 0
    booked = LedgerTransaction.objects.get()
    assert agent_time(booked.booked_at) == txn_date
    assert booked.provider_time == ""


@pytest.mark.parametrize(
    "txn_date",
    ["far_past", "far_future", "20250230081500", "2025-09-04", "202509040815", "19991231235959"],
)
def test_a_txn_date_out_of_range_or_unreadable_is_credited_at_arrival_and_flagged(
    kaspi_agent: Agent, pupil: Pupil, txn_date: str
) -> None:
    txn_date = {
        "far_past": agent_time(timezone.now() - dt.timedelta(days=30, minutes=5)),
        "far_future": agent_time(timezone.now() + dt.timedelta(minutes=65)),
    }.get(txn_date, txn_date)

    answer = json.loads(kaspi_agent.pay(pupil.account_number, txn_date=txn_date).content)

    assert answer["result"] == 0  # the payer's money is taken: never refused for its date
    booked = LedgerTransaction.objects.get()
    assert booked.booked_at == ProviderRequest.objects.get().received_at
    assert booked.provider_time == txn_date  # kept, and flagged for the reconciliation
    assert balance(services.wallet_for(pupil=pupil)) == Decimal("500.00")


@pytest.mark.parametrize(
    "params",
    [
        {"command": "pay", "txn_id": ""},
        {"command": "pay", "txn_id": "x" * 21},
        {"command": "pay", "txn_id": "12 34"},
        {"command": "cancel", "txn_id": "1"},
        {"txn_id": "1"},
    ],
)
def test_a_bad_command_or_txn_id_is_refused(
    kaspi_agent: Agent, pupil: Pupil, params: dict[str, str]
) -> None:
    response = kaspi_agent.call(**params, account=pupil.account_number, sum="100")
    assert response.status_code == 200
    assert json.loads(response.content)["result"] == 5
    assert ledger_untouched()


def test_a_call_from_an_address_not_allowed_is_refused_with_403(
    kaspi_agent: Agent, pupil: Pupil
) -> None:
    kaspi_agent.address = "203.0.113.7"

    response = kaspi_agent.pay(pupil.account_number)

    assert response.status_code == 403
    answer = json.loads(response.content)
    assert answer["result"] == 5 and answer["comment"] == "Calls from this address are not allowed"
    assert ledger_untouched()
    assert ProviderRequest.objects.get().remote_addr == "203.0.113.7"


def test_an_ipv6_address_of_an_allowed_network_is_accepted(
    kaspi_agent: Agent, pupil: Pupil
) -> None:
    kaspi_agent.address = "2a00:1450:4001::5"
    assert json.loads(kaspi_agent.pay(pupil.account_number).content)["result"] == 0


@pytest.mark.parametrize("password", ["wrong", ""])
def test_wrong_credentials_are_refused_with_401(
    kaspi_agent: Agent, pupil: Pupil, password: str
) -> None:
    kaspi_agent.password = password
    response = kaspi_agent.pay(pupil.account_number)
    assert response.status_code == 401
    assert json.loads(response.content)["result"] == 5
    assert ledger_untouched()


def test_no_credentials_or_an_inactive_provider_are_refused(
    kaspi_agent: Agent, pupil: Pupil, kaspi: PaymentProvider
) -> None:
    anonymous = kaspi_agent.client.get(
        f"/payments/kaspi/?command=pay&txn_id=1&account={pupil.account_number}&sum=5",
        REMOTE_ADDR=kaspi_agent.address,
    )
    kaspi.is_active = False
    kaspi.save()
    inactive = kaspi_agent.pay(pupil.account_number)

    assert anonymous.status_code == inactive.status_code == 401
    assert ledger_untouched()


def test_the_login_of_another_protocols_provider_is_not_accepted(
    pupil: Pupil, qiwi: PaymentProvider
) -> None:
    response = Agent("/payments/kaspi/", username="qiwi").pay(pupil.account_number)
    assert response.status_code == 401
    assert ledger_untouched()


def test_a_pupil_who_left_is_not_found_by_check_but_a_pay_is_still_credited(
    kaspi_agent: Agent, pupil: Pupil
) -> None:
    Pupil.objects.filter(pk=pupil.pk).update(is_active=False)

    check = json.loads(kaspi_agent.check(pupil.account_number).content)
    pay = json.loads(kaspi_agent.pay(pupil.account_number).content)

    assert check["result"] == 1
    assert pay["result"] == 0  # the payer's money is taken: it is kept for the family


def fail_ledger_inserts(cursor: Any) -> None:
    """Make the database refuse every new ledger transaction (a failure we do not cause)."""
    if connection.vendor == "postgresql":
        cursor.execute(
            "CREATE FUNCTION kz_test_fail() RETURNS trigger AS $$ BEGIN "
            "RAISE EXCEPTION 'disk full'; END $$ LANGUAGE plpgsql"
        )
        cursor.execute(
            "CREATE TRIGGER kz_test_fail BEFORE INSERT ON canteen_ledgertransaction "
            "FOR EACH ROW EXECUTE FUNCTION kz_test_fail()"
        )
    else:
        cursor.execute(
            "CREATE TRIGGER kz_test_fail BEFORE INSERT ON canteen_ledgertransaction "
            "BEGIN SELECT RAISE(ABORT, 'disk full'); END"
        )


def test_the_request_is_stored_even_when_processing_fails_and_a_retry_then_succeeds(
    kaspi_agent: Agent, pupil: Pupil
) -> None:
    with connection.cursor() as cursor:
        fail_ledger_inserts(cursor)
    with pytest.raises(DatabaseError, match="disk full"):
        kaspi_agent.pay(pupil.account_number, txn_id="42")
    with connection.cursor() as cursor:  # the database is back
        cursor.execute(
            "DROP TRIGGER kz_test_fail ON canteen_ledgertransaction"
            if connection.vendor == "postgresql"
            else "DROP TRIGGER kz_test_fail"
        )

    # (the test's own transaction keeps the failed request's savepoint rolled back, but
    # the raw request was written before processing began)
    assert ProviderRequest.objects.filter(txn_id="", query__contains="txn_id=42").exists()
    assert not ProviderAnswer.objects.exists()
    retry = json.loads(kaspi_agent.pay(pupil.account_number, txn_id="42").content)
    assert retry["result"] == 0
    assert LedgerTransaction.objects.count() == 1


def test_the_comment_follows_the_agents_language(kaspi_agent: Agent, pupil: Pupil) -> None:
    kaspi_agent.client.defaults["HTTP_ACCEPT_LANGUAGE"] = "ru"
    answer: dict[str, Any] = json.loads(kaspi_agent.check("10019999993").content)
    assert answer["result"] == 1 and answer["comment"]


def test_a_txn_id_the_ledger_has_for_another_sum_is_refused_not_booked_twice(
    kaspi_agent: Agent, pupil: Pupil, kaspi: PaymentProvider
) -> None:
    # given: the same Kaspi transaction was booked by hand (e.g. from a register) for 300
    services.credit_topup(
        wallet=services.wallet_for(pupil=pupil),
        provider=kaspi,
        amount=Decimal("300.00"),
        txn_id="55",
        booked_at=dt.datetime(2025, 9, 4, 8, 15, tzinfo=ALMATY),
    )

    answer = json.loads(kaspi_agent.pay(pupil.account_number, "500.00", txn_id="55").content)

    assert answer["result"] == 5
    assert LedgerTransaction.objects.count() == 1


def test_the_url_without_its_trailing_slash_is_served_not_redirected(
    kaspi_agent: Agent, pupil: Pupil
) -> None:
    kaspi_agent.path = "/payments/kaspi"

    response = kaspi_agent.pay(pupil.account_number, txn_id="61")

    assert response.status_code == 200 and json.loads(response.content)["result"] == 0
    assert ProviderRequest.objects.get().path == "/payments/kaspi"
    assert LedgerTransaction.objects.count() == 1


@pytest.mark.parametrize("method", ["put", "delete", "patch"])
def test_a_wrong_method_is_stored_and_refused_in_the_protocol(
    kaspi_agent: Agent, pupil: Pupil, method: str
) -> None:
    response = getattr(kaspi_agent.client, method)(
        f"/payments/kaspi/?command=pay&txn_id=62&account={pupil.account_number}&sum=5",
        headers=kaspi_agent.headers(),
        REMOTE_ADDR=kaspi_agent.address,
    )

    assert response.status_code == 405 and response["Allow"] == "GET, POST"
    assert json.loads(response.content)["result"] == 5
    stored = ProviderRequest.objects.get()
    assert stored.method == method.upper() and stored.status_code == 405
    assert stored.response_body is not None and bytes(stored.response_body) == response.content
    assert ledger_untouched()


def test_a_body_over_64_kb_is_stored_in_part_with_its_size_and_refused(
    kaspi_agent: Agent, pupil: Pupil
) -> None:
    body = f"command=pay&txn_id=63&account={pupil.account_number}&sum=5&pad=" + "x" * 70_000

    response = kaspi_agent.client.post(
        "/payments/kaspi/",
        data=body,
        content_type="application/x-www-form-urlencoded",
        headers=kaspi_agent.headers(),
        REMOTE_ADDR=kaspi_agent.address,
    )

    assert response.status_code == 413 and json.loads(response.content)["result"] == 5
    stored = ProviderRequest.objects.get()
    assert bytes(stored.body) == body.encode()[: 64 * 1024]
    assert stored.body_size == len(body) and stored.status_code == 413
    assert ledger_untouched()
