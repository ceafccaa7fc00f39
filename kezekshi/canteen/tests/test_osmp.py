"""The OSMP/QIWI check/pay endpoint: the same dialogue, answered in XML with OSMP codes."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from decimal import Decimal

import pytest

from kezekshi.canteen import services
from kezekshi.canteen.models import LedgerTransaction, ProviderAnswer
from kezekshi.canteen.tests.conftest import Agent, balance
from kezekshi.people.models import Pupil

pytestmark = pytest.mark.django_db


def result_of(response: object) -> int:
    root = ET.fromstring(response.content)  # type: ignore[attr-defined]  # noqa: S314
    return int(root.findtext("result") or "-1")


def test_check_answers_xml_with_the_masked_name_and_school(osmp_agent: Agent, pupil: Pupil) -> None:
    response = osmp_agent.check(pupil.account_number, txn_id="88")

    assert response.status_code == 200
    assert response["Content-Type"] == "text/xml; charset=utf-8"
    assert response.content.decode() == (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        "<response>\n"
        "<osmp_txn_id>88</osmp_txn_id>\n"
        "<prv_txn></prv_txn>\n"
        "<sum>500.00</sum>\n"
        "<result>0</result>\n"
        "<comment>Account found</comment>\n"
        "<fields>\n"
        '<field1 name="name">Әлия С.</field1>\n'
        '<field2 name="school">School No. 1001</field2>\n'
        "</fields>\n"
        "</response>"
    )


def test_pay_credits_once_and_a_repeat_gets_the_same_bytes(osmp_agent: Agent, pupil: Pupil) -> None:
    first = osmp_agent.pay(pupil.account_number, "1200", txn_id="123456789012")
    again = osmp_agent.pay(pupil.account_number, "1200", txn_id="123456789012")

    booked = LedgerTransaction.objects.get()
    root = ET.fromstring(first.content)  # noqa: S314
    assert root.findtext("osmp_txn_id") == "123456789012"
    assert root.findtext("prv_txn") == str(booked.pk)
    assert root.findtext("sum") == "1200.00"
    assert result_of(first) == 0
    assert again.content == first.content
    assert balance(services.wallet_for(pupil=pupil)) == Decimal("1200.00")


@pytest.mark.parametrize(
    ("account", "code"),
    [("123", 4), ("abcdefghijk", 4), ("10010000016", 4), ("10019999993", 5)],
)
def test_a_bad_account_format_is_4_and_an_unknown_account_5(
    osmp_agent: Agent, pupil: Pupil, account: str, code: int
) -> None:
    assert result_of(osmp_agent.pay(account, txn_id="1")) == code
    assert result_of(osmp_agent.check(account, txn_id="2")) == code
    assert not LedgerTransaction.objects.exists()


@pytest.mark.parametrize(
    ("amount", "code"),
    [("0", 241), ("0.00", 241), ("500000.01", 242), ("99999999999", 242), ("abc", 300),
     ("1e5", 300), ("-5", 300), ("10.001", 300)],
)  # fmt: skip
def test_sums_are_refused_with_the_osmp_codes(
    osmp_agent: Agent, pupil: Pupil, amount: str, code: int
) -> None:
    assert result_of(osmp_agent.pay(pupil.account_number, amount, txn_id="1")) == code
    assert not LedgerTransaction.objects.exists()


def test_a_bad_date_is_credited_at_arrival_and_a_wrong_source_is_300(
    osmp_agent: Agent, pupil: Pupil
) -> None:
    bad_date = osmp_agent.pay(pupil.account_number, txn_id="1", txn_date="20251301000000")
    osmp_agent.address = "10.1.2.3"
    wrong_source = osmp_agent.pay(pupil.account_number, txn_id="2")

    assert result_of(bad_date) == 0
    assert LedgerTransaction.objects.get().provider_time == "20251301000000"
    assert result_of(wrong_source) == 300 and wrong_source.status_code == 403
    assert LedgerTransaction.objects.count() == 1


def test_comments_with_markup_characters_are_escaped(osmp_agent: Agent, pupil: Pupil) -> None:
    response = osmp_agent.call(command="pay", txn_id="<x>", account=pupil.account_number, sum="1")
    root = ET.fromstring(response.content)  # noqa: S314
    assert root.findtext("osmp_txn_id") == "<x>"
    assert result_of(response) == 300


def test_a_pay_reusing_a_txn_id_for_another_sum_is_300_and_not_stored(
    osmp_agent: Agent, pupil: Pupil
) -> None:
    first = osmp_agent.pay(pupil.account_number, "1200", txn_id="555")

    changed = osmp_agent.pay(pupil.account_number, "1300", txn_id="555")
    retry = osmp_agent.pay(pupil.account_number, "1200.00", txn_id="555")

    assert result_of(changed) == 300
    assert ET.fromstring(changed.content).findtext("prv_txn") == ""  # noqa: S314
    assert retry.content == first.content
    assert LedgerTransaction.objects.count() == 1
    assert ProviderAnswer.objects.count() == 1
