"""CloudPayments-style card webhooks: signed bodies, check/pay/fail/refund, replays."""

from __future__ import annotations

import datetime as dt
import json
from decimal import Decimal
from typing import Any
from urllib.parse import urlencode

import pytest
from django.utils import timezone

from kezekshi.canteen import selectors, services
from kezekshi.canteen.models import (
    LedgerTransaction,
    PaymentProvider,
    ProviderAnswer,
    ProviderRequest,
)
from kezekshi.canteen.payments.cloudpayments.views import signature
from kezekshi.canteen.tests.conftest import CARD_SECRET, Acquirer, an_hour_ago, balance
from kezekshi.people.models import Pupil

pytestmark = pytest.mark.django_db


def payment(pupil: Pupil, **fields: str) -> dict[str, str]:
    return {
        "TransactionId": "900001",
        "Amount": "1500.00",
        "Currency": "KZT",
        "DateTime": an_hour_ago().astimezone(dt.UTC).strftime("%Y-%m-%d %H:%M:%S"),
        "CardFirstSix": "440043",
        "CardLastFour": "1234",
        "CardType": "Visa",
        "Status": "Completed",
        "OperationType": "Payment",
        "AccountId": pupil.account_number,
        "TestMode": "0",
        **fields,
    }


def code(response: object) -> int:
    return int(json.loads(response.content)["code"])  # type: ignore[attr-defined]


def test_check_accepts_a_known_account(acquirer: Acquirer, pupil: Pupil) -> None:
    response = acquirer.send("check", payment(pupil))

    assert response.status_code == 200
    assert response.content == b'{"code":0}'
    assert not LedgerTransaction.objects.exists()


def test_pay_credits_the_wallet_at_the_acquirers_time(
    acquirer: Acquirer, pupil: Pupil, card: PaymentProvider
) -> None:
    fields = payment(pupil)
    response = acquirer.send("pay", fields)

    assert code(response) == 0
    booked = LedgerTransaction.objects.get()
    assert booked.provider == card and booked.provider_txn_id == "900001"
    assert booked.booked_at.astimezone(dt.UTC).strftime("%Y-%m-%d %H:%M:%S") == fields["DateTime"]
    assert booked.provider_time == ""
    assert balance(services.wallet_for(pupil=pupil)) == Decimal("1500.00")


def test_a_json_body_is_read_without_floats(acquirer: Acquirer, pupil: Pupil) -> None:
    fields = payment(pupil)
    body = {**fields, "TransactionId": 900002, "Amount": 0.1}

    response = acquirer.client.post(
        "/payments/cloudpayments/pay/",
        data=json.dumps(body).encode(),
        content_type="application/json",
        headers={"Content-HMAC": signature(json.dumps(body).encode(), CARD_SECRET)},
        REMOTE_ADDR=acquirer.address,
    )

    assert code(response) == 0
    assert balance(services.wallet_for(pupil=pupil)) == Decimal("0.10")


def test_the_x_content_hmac_over_the_decoded_body_is_accepted(
    acquirer: Acquirer, pupil: Pupil
) -> None:
    fields = payment(pupil, Name="ALIYA S")
    body = urlencode(fields).encode()
    decoded = "&".join(f"{key}={value}" for key, value in fields.items()).encode()

    response = acquirer.client.post(
        "/payments/cloudpayments/pay/",
        data=body,
        content_type="application/x-www-form-urlencoded",
        headers={"X-Content-HMAC": signature(decoded, CARD_SECRET)},
        REMOTE_ADDR=acquirer.address,
    )

    assert code(response) == 0


def test_a_repeated_pay_gets_the_same_bytes_and_books_nothing(
    acquirer: Acquirer, pupil: Pupil
) -> None:
    first = acquirer.send("pay", payment(pupil))
    again = acquirer.send("pay", payment(pupil))

    assert first.content == again.content == b'{"code":0}'
    assert LedgerTransaction.objects.count() == 1
    assert ProviderAnswer.objects.count() == 1


@pytest.mark.parametrize(
    "fields",
    [{"TestMode": "1"}, {"TestMode": "true"}, {"TestMode": "True"}, {"Status": "Authorized"},
     {"Status": "Declined"}],
)  # fmt: skip
def test_a_test_mode_or_not_completed_payment_is_acknowledged_and_books_nothing(
    acquirer: Acquirer, pupil: Pupil, fields: dict[str, str]
) -> None:
    response = acquirer.send("pay", payment(pupil, **fields))

    assert response.status_code == 200 and response.content == b'{"code":0}'
    assert not LedgerTransaction.objects.exists()
    assert ProviderRequest.objects.get().result == "0"


def test_a_payment_without_status_or_test_mode_fields_is_credited(
    acquirer: Acquirer, pupil: Pupil
) -> None:
    fields = payment(pupil)
    del fields["Status"], fields["TestMode"]

    assert acquirer.send("pay", fields).content == b'{"code":0}'
    assert balance(services.wallet_for(pupil=pupil)) == Decimal("1500.00")


@pytest.mark.parametrize(
    "changed", [{"Amount": "2000.00"}, {"AccountId": "10010000023"}, {"Amount": "1500.01"}]
)
def test_a_pay_reusing_a_transaction_id_for_another_amount_or_account_is_13_not_stored(
    acquirer: Acquirer, pupil: Pupil, changed: dict[str, str]
) -> None:
    first = acquirer.send("pay", payment(pupil))

    refused = acquirer.send("pay", payment(pupil, **changed))
    retry = acquirer.send("pay", payment(pupil))

    assert refused.status_code == 200 and code(refused) == 13
    assert retry.content == first.content == b'{"code":0}'
    assert LedgerTransaction.objects.count() == 1
    assert balance(services.wallet_for(pupil=pupil)) == Decimal("1500.00")
    assert ProviderAnswer.objects.count() == 1


@pytest.mark.parametrize(
    "header", ["", "bm90IGEgc2lnbmF0dXJl", signature(b"other body", CARD_SECRET)]
)
def test_a_bad_signature_is_rejected_with_13(acquirer: Acquirer, pupil: Pupil, header: str) -> None:
    response = acquirer.send("pay", payment(pupil), sign=header)

    assert response.status_code == 401
    assert code(response) == 13
    assert not LedgerTransaction.objects.exists()
    assert ProviderRequest.objects.get().signature == header


def test_a_signature_header_with_non_ascii_bytes_is_a_bad_signature(
    acquirer: Acquirer, pupil: Pupil
) -> None:
    # The server hands header bytes over as latin-1 text (PEP 3333, ASGI): UTF-8 bytes
    # of "подпись" arrive as the characters below, not as ASCII.
    header = "подпись".encode().decode("latin-1")

    response = acquirer.send("pay", payment(pupil), sign=header)

    assert response.status_code == 401 and code(response) == 13
    assert not LedgerTransaction.objects.exists()
    stored = ProviderRequest.objects.get()
    assert stored.status_code == 401 and stored.result == "13"  # answered, not left open


def test_a_transaction_id_the_ledger_has_for_another_amount_is_13_not_booked_twice(
    acquirer: Acquirer, pupil: Pupil, card: PaymentProvider
) -> None:
    # given: the same card payment was booked outside the webhook (e.g. from a register)
    services.credit_topup(
        wallet=services.wallet_for(pupil=pupil),
        provider=card,
        amount=Decimal("300.00"),
        txn_id="900001",
        booked_at=timezone.now(),
    )

    response = acquirer.send("pay", payment(pupil))

    assert response.status_code == 200 and code(response) == 13
    assert LedgerTransaction.objects.count() == 1
    assert balance(services.wallet_for(pupil=pupil)) == Decimal("300.00")


def test_a_body_signed_with_another_secret_is_rejected(acquirer: Acquirer, pupil: Pupil) -> None:
    acquirer.secret = "someone-elses-secret"
    assert code(acquirer.send("pay", payment(pupil))) == 13
    assert not LedgerTransaction.objects.exists()


def test_a_wrong_source_address_is_rejected_with_403(acquirer: Acquirer, pupil: Pupil) -> None:
    acquirer.address = "198.51.100.1"
    response = acquirer.send("pay", payment(pupil))
    assert response.status_code == 403 and code(response) == 13
    assert not LedgerTransaction.objects.exists()


@pytest.mark.parametrize(
    ("fields", "expected"),
    [
        ({"AccountId": "10019999993"}, 10),
        ({"AccountId": "nonsense"}, 10),
        ({"Amount": "abc"}, 12),
        ({"Amount": "-5"}, 12),
        ({"Amount": "0"}, 12),
        ({"Amount": "10.001"}, 12),
        ({"Amount": "99999999999"}, 12),
        ({"Currency": "USD"}, 13),
        ({"TransactionId": "abc"}, 13),
    ],
)
def test_bad_payments_are_refused_per_protocol(
    acquirer: Acquirer, pupil: Pupil, fields: dict[str, str], expected: int
) -> None:
    assert code(acquirer.send("pay", payment(pupil, **fields))) == expected
    assert not LedgerTransaction.objects.exists()


def test_check_refuses_an_unknown_account_and_a_bad_amount(
    acquirer: Acquirer, pupil: Pupil
) -> None:
    assert code(acquirer.send("check", payment(pupil, AccountId="10019999993"))) == 10
    assert code(acquirer.send("check", payment(pupil, Amount="1e5"))) == 12
    assert code(acquirer.send("check", payment(pupil, Currency="RUB"))) == 13


def test_a_failed_payment_is_recorded_and_books_nothing(acquirer: Acquirer, pupil: Pupil) -> None:
    response = acquirer.send("fail", payment(pupil, Reason="InsufficientFunds", ReasonCode="5051"))

    assert code(response) == 0
    assert not LedgerTransaction.objects.exists()
    assert ProviderAnswer.objects.get().command == "fail"


def test_a_refund_reverses_the_payment_and_a_spent_one_leaves_a_visible_debt(
    acquirer: Acquirer, pupil: Pupil
) -> None:
    acquirer.send("pay", payment(pupil))
    wallet = services.wallet_for(pupil=pupil)
    services.charge_sale(wallet=wallet, amount=Decimal("1000.00"), external_id="t1", items="Ас")
    refund = {
        "TransactionId": "900050",
        "PaymentTransactionId": "900001",
        "Amount": "1500.00",
        "Currency": "KZT",
        "DateTime": "2025-09-05 10:00:00",
        "OperationType": "Refund",
        "AccountId": pupil.account_number,
    }

    response = acquirer.send("refund", refund)
    again = acquirer.send("refund", refund)

    assert code(response) == 0 and again.content == response.content
    assert balance(wallet) == Decimal("-1000.00")
    booked = LedgerTransaction.objects.get(kind="topup_refund")
    assert booked.shortfall == Decimal("1000.00")
    assert list(selectors.wallets_in_debt(pupil.school)) == [wallet]
    assert selectors.check_ledger().ok
    # more than was paid, or a payment we never had, cannot be refunded
    assert (
        code(acquirer.send("refund", {**refund, "TransactionId": "900051", "Amount": "0.01"})) == 12
    )
    assert (
        code(
            acquirer.send(
                "refund", {**refund, "TransactionId": "900052", "PaymentTransactionId": "1"}
            )
        )
        == 10
    )


def test_a_json_body_with_test_mode_false_is_credited(acquirer: Acquirer, pupil: Pupil) -> None:
    fields: dict[str, Any] = {**payment(pupil), "TestMode": False}
    assert acquirer.send("pay", fields, as_json=True).content == b'{"code":0}'
    assert balance(services.wallet_for(pupil=pupil)) == Decimal("1500.00")


@pytest.mark.parametrize("when", ["yesterday", "2020-01-01 00:00:00", "2099-01-01 00:00:00"])
def test_a_datetime_out_of_range_or_unreadable_is_credited_at_arrival_and_flagged(
    acquirer: Acquirer, pupil: Pupil, when: str
) -> None:
    assert code(acquirer.send("pay", payment(pupil, DateTime=when))) == 0
    booked = LedgerTransaction.objects.get()
    assert booked.booked_at == ProviderRequest.objects.get().received_at
    assert booked.provider_time == when


def test_an_unknown_notification_kind_is_stored_and_refused(
    acquirer: Acquirer, pupil: Pupil
) -> None:
    response = acquirer.send("confirm", payment(pupil))

    assert response.status_code == 404 and code(response) == 13
    stored = ProviderRequest.objects.get()
    assert stored.path == "/payments/cloudpayments/confirm/" and stored.status_code == 404
    assert not LedgerTransaction.objects.exists()


def test_a_get_is_stored_and_refused_and_a_url_without_slash_is_served(
    acquirer: Acquirer, pupil: Pupil
) -> None:
    wrong_method = acquirer.client.get("/payments/cloudpayments/pay/", REMOTE_ADDR=acquirer.address)
    body = urlencode(payment(pupil)).encode()
    no_slash = acquirer.client.post(
        "/payments/cloudpayments/pay",
        data=body,
        content_type="application/x-www-form-urlencoded",
        headers={"Content-HMAC": signature(body, CARD_SECRET)},
        REMOTE_ADDR=acquirer.address,
    )

    assert wrong_method.status_code == 405 and code(wrong_method) == 13
    assert no_slash.status_code == 200 and code(no_slash) == 0
    assert [r.status_code for r in ProviderRequest.objects.order_by("id")] == [405, 200]
    assert LedgerTransaction.objects.count() == 1


def test_a_body_over_64_kb_is_stored_in_part_and_refused(acquirer: Acquirer, pupil: Pupil) -> None:
    response = acquirer.send("pay", payment(pupil, Data="x" * 70_000))

    assert response.status_code == 413 and code(response) == 13
    stored = ProviderRequest.objects.get()
    assert len(bytes(stored.body)) == 64 * 1024 and stored.body_size > 70_000
    assert not LedgerTransaction.objects.exists()
