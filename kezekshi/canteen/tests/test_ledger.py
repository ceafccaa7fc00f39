"""The ledger: double entry, cached balances, overdrafts, idempotency, append-only rows."""

from __future__ import annotations

import io
from decimal import Decimal
from typing import Any

import pytest
from django.core.management import CommandError, call_command
from django.db import DatabaseError, connection, transaction

from kezekshi.canteen import selectors, services
from kezekshi.canteen.models import Entry, LedgerTransaction, PaymentProvider, SystemAccount, Wallet
from kezekshi.canteen.tests.conftest import balance, top_up
from kezekshi.canteen.triggers import drop_ledger_triggers
from kezekshi.conftest import make_school
from kezekshi.core.errors import ServiceError
from kezekshi.notifications.models import Notification
from kezekshi.people import services as people_services
from kezekshi.privacy.models import AppendOnlyError, AuditEntry
from kezekshi.privacy.tests.family import MOTHER_PHONE, Family

pytestmark = pytest.mark.django_db


def entries_of(booked: services.Booked) -> list[tuple[str, Decimal]]:
    rows = Entry.objects.filter(transaction=booked.transaction).select_related("account")
    return sorted(
        ("wallet" if row.wallet_id else row.account.kind, row.amount)  # type: ignore[union-attr]
        for row in rows
    )


def sell(wallet: Wallet, amount: str, till_id: str, items: str = "Палау") -> services.Booked:
    return services.charge_sale(
        wallet=wallet, amount=Decimal(amount), external_id=till_id, items=items
    )


def test_a_top_up_credits_the_wallet_against_the_providers_clearing_account(
    wallet: Wallet, kaspi: PaymentProvider
) -> None:
    # when: Kaspi pays 500 tenge in
    booked = top_up(wallet, kaspi, "500.00", "K1")

    # then: the wallet +500, the school's Kaspi clearing −500, nothing else
    assert entries_of(booked) == [("clearing", Decimal("-500.00")), ("wallet", Decimal("500.00"))]
    assert booked.transaction.provider_txn_id == "K1"
    assert booked.transaction.external_id == "kaspi:K1"
    assert balance(wallet) == Decimal("500.00") == selectors.ledger_sum(wallet)
    clearing = SystemAccount.objects.get(school=wallet.school, kind="clearing", provider=kaspi)
    assert clearing.provider == kaspi
    assert selectors.check_ledger().ok


def test_a_replayed_top_up_returns_the_first_booking_and_books_nothing(
    wallet: Wallet, kaspi: PaymentProvider
) -> None:
    first = top_up(wallet, kaspi, "500.00", "K1")

    again = top_up(wallet, kaspi, "500.00", "K1")

    assert again.replayed and not first.replayed
    assert again.transaction.pk == first.transaction.pk
    assert balance(wallet) == Decimal("500.00")
    assert LedgerTransaction.objects.count() == 1


def test_the_same_txn_id_for_another_amount_is_refused(
    wallet: Wallet, kaspi: PaymentProvider
) -> None:
    top_up(wallet, kaspi, "500.00", "K1")

    with pytest.raises(ServiceError) as refused:
        top_up(wallet, kaspi, "700.00", "K1")

    assert refused.value.code == "external_id_reused"
    assert balance(wallet) == Decimal("500.00")


def test_a_sale_moves_money_from_the_wallet_to_the_revenue(
    wallet: Wallet, kaspi: PaymentProvider
) -> None:
    top_up(wallet, kaspi, "500.00", "K1")

    booked = sell(wallet, "320.50", "till-1")

    assert entries_of(booked) == [("revenue", Decimal("320.50")), ("wallet", Decimal("-320.50"))]
    assert balance(wallet) == Decimal("179.50")
    assert sell(wallet, "320.50", "till-1").replayed
    assert balance(wallet) == Decimal("179.50")


def test_a_sale_beyond_the_balance_is_refused_and_leaves_the_ledger_as_it_was(
    wallet: Wallet, kaspi: PaymentProvider
) -> None:
    top_up(wallet, kaspi, "300.00", "K1")

    with pytest.raises(ServiceError) as refused:
        sell(wallet, "300.01", "till-1")

    assert refused.value.code == "insufficient_funds"
    assert refused.value.status == 409
    assert refused.value.extra["available"] == "300.00"
    assert balance(wallet) == Decimal("300.00")
    assert LedgerTransaction.objects.filter(kind="sale").count() == 0
    assert Entry.objects.count() == 2


def test_an_overdraft_lets_the_balance_go_down_to_its_limit_and_no_further(
    wallet: Wallet, make_user: Any, school: Any
) -> None:
    # given: the school allows this pupil 1,000 tenge of overdraft
    admin = make_user(None, school)
    services.set_overdraft(
        wallet=wallet, limit=Decimal("1000.00"), by=admin, reason="Әкесі кешігеді"
    )

    sell(wallet, "999.99", "till-1")
    sell(wallet, "0.01", "till-2")
    with pytest.raises(ServiceError):
        sell(wallet, "0.01", "till-3")

    assert balance(wallet) == Decimal("-1000.00")
    entry = AuditEntry.objects.get(target=f"canteen:overdraft:{wallet.pk}")
    assert entry.details["overdraft"] == {"from": "0.00", "to": "1000.00"}
    assert entry.details["reason"] == "Әкесі кешігеді"


@pytest.mark.parametrize("limit", ["-1", "50000.01", "10.001", "NaN"])
def test_an_overdraft_out_of_range_is_refused(
    wallet: Wallet, make_user: Any, school: Any, limit: str
) -> None:
    with pytest.raises(ServiceError) as refused:
        services.set_overdraft(
            wallet=wallet, limit=Decimal(limit), by=make_user(None, school), reason="x"
        )
    assert refused.value.code == "invalid_overdraft"


@pytest.mark.parametrize("amount", ["0", "-5", "0.001", "Infinity", "10000000.01"])
def test_amounts_that_are_not_money_are_refused(
    wallet: Wallet, kaspi: PaymentProvider, amount: str
) -> None:
    with pytest.raises(ServiceError) as refused:
        top_up(wallet, kaspi, amount, "K1")
    assert refused.value.code == "invalid_amount"
    assert LedgerTransaction.objects.count() == 0


def test_refunds_of_a_sale_need_a_reason_never_exceed_it_and_are_audited(
    wallet: Wallet, kaspi: PaymentProvider, make_user: Any, school: Any
) -> None:
    cashier = make_user(None, school)
    top_up(wallet, kaspi, "1000.00", "K1")
    sale = sell(wallet, "600.00", "till-1").transaction

    with pytest.raises(ServiceError) as no_reason:
        services.refund_sale(
            sale=sale, amount=Decimal("100"), reason="  ", by=cashier, external_id="r1"
        )
    first = services.refund_sale(
        sale=sale, amount=Decimal("100.00"), reason="Компот төгілді", by=cashier, external_id="r1"
    )
    replay = services.refund_sale(
        sale=sale, amount=Decimal("100.00"), reason="Компот төгілді", by=cashier, external_id="r1"
    )
    with pytest.raises(ServiceError) as too_much:
        services.refund_sale(
            sale=sale, amount=Decimal("500.01"), reason="қате", by=cashier, external_id="r2"
        )
    with pytest.raises(ServiceError) as void_after_refund:
        services.void_sale(sale=sale, reason="қате", by=cashier)

    assert no_reason.value.code == "reason_required"
    assert replay.replayed and replay.transaction.pk == first.transaction.pk
    assert too_much.value.code == "refund_exceeds_payment"
    assert too_much.value.extra["refundable"] == "500.00"
    assert void_after_refund.value.code == "refund_exceeds_payment"
    assert entries_of(first) == [("refunds", Decimal("-100.00")), ("wallet", Decimal("100.00"))]
    assert balance(wallet) == Decimal("500.00")
    entry = AuditEntry.objects.get(target=f"canteen:sale_refund:{first.transaction.pk}")
    assert entry.actor == cashier and entry.person == wallet.pupil.person
    assert entry.details == {"sale": sale.pk, "amount": "100.00", "reason": "Компот төгілді"}


def test_a_void_gives_the_whole_sale_back_once(
    wallet: Wallet, kaspi: PaymentProvider, make_user: Any, school: Any
) -> None:
    cashier = make_user(None, school)
    top_up(wallet, kaspi, "1000.00", "K1")
    sale = sell(wallet, "600.00", "till-1").transaction

    voided = services.void_sale(sale=sale, reason="Басқа оқушы", by=cashier)
    again = services.void_sale(sale=sale, reason="Басқа оқушы", by=cashier)

    assert again.replayed and again.transaction.pk == voided.transaction.pk
    assert entries_of(voided) == [("revenue", Decimal("-600.00")), ("wallet", Decimal("600.00"))]
    assert balance(wallet) == Decimal("1000.00")
    assert AuditEntry.objects.filter(target__startswith="canteen:sale_void:").count() == 1


def test_a_parent_moves_money_between_their_childrens_wallets(
    family: Family, kaspi: PaymentProvider
) -> None:
    first = services.wallet_for(pupil=family.first)
    second = services.wallet_for(pupil=family.second)
    top_up(first, kaspi, "800.00", "K1")

    booked = services.transfer_between_siblings(
        source=first, target=second, amount=Decimal("300.00"), by=family.mother, external_id="t1"
    )

    assert balance(first) == Decimal("500.00") and balance(second) == Decimal("300.00")
    assert booked.transaction.created_by == family.mother
    with pytest.raises(ServiceError) as too_much:
        services.transfer_between_siblings(
            source=first,
            target=second,
            amount=Decimal("500.01"),
            by=family.mother,
            external_id="t2",
        )
    assert too_much.value.code == "insufficient_funds"


def test_a_transfer_key_reused_for_another_sibling_is_refused_not_replayed(
    family: Family, kaspi: PaymentProvider
) -> None:
    youngest = people_services.create_pupil(
        school=family.first.school, last_name="Сейтқали", first_name="Дина"
    )
    people_services.add_guardian(
        pupil=youngest, last_name="Сейтқали", first_name="Гүлнар", phone=MOTHER_PHONE,
        relation="mother",
    )  # fmt: skip
    people_services.link_guardian_accounts(user=family.mother)
    first, second, third = (
        services.wallet_for(pupil=child) for child in (family.first, family.second, youngest)
    )
    top_up(first, kaspi, "800.00", "K1")
    services.transfer_between_siblings(
        source=first, target=second, amount=Decimal("300.00"), by=family.mother, external_id="t1"
    )

    with pytest.raises(ServiceError) as reused:
        services.transfer_between_siblings(
            source=first, target=third, amount=Decimal("300.00"), by=family.mother,
            external_id="t1",
        )  # fmt: skip

    assert reused.value.code == "external_id_reused"
    assert (balance(first), balance(second), balance(third)) == (
        Decimal("500.00"), Decimal("300.00"), Decimal("0.00"),
    )  # fmt: skip


def test_only_a_legal_representative_of_both_children_may_move_their_money(
    family: Family, kaspi: PaymentProvider, other_school: Any
) -> None:
    first = services.wallet_for(pupil=family.first)
    second = services.wallet_for(pupil=family.second)
    top_up(first, kaspi, "800.00", "K1")
    elsewhere = people_services.create_pupil(
        school=other_school, last_name="Сейтқали", first_name="Дина"
    )
    people_services.add_guardian(
        pupil=elsewhere,
        last_name="Сейтқали",
        first_name="Гүлнар",
        phone="+77015550101",
        relation="mother",
    )
    people_services.link_guardian_accounts(user=family.mother)
    third = services.wallet_for(pupil=elsewhere)

    # the grandmother may pick the first child up but does not represent it
    with pytest.raises(ServiceError) as grandmother:
        services.transfer_between_siblings(
            source=first, target=second, amount=Decimal("1"), by=family.grandmother, external_id="g"
        )
    with pytest.raises(ServiceError) as across:
        services.transfer_between_siblings(
            source=first, target=third, amount=Decimal("1"), by=family.mother, external_id="x"
        )

    assert grandmother.value.code == "not_your_children" and grandmother.value.status == 404
    assert across.value.code == "different_schools"
    assert balance(first) == Decimal("800.00")


def test_a_card_refund_of_a_spent_top_up_leaves_the_wallet_in_debt_visibly(
    wallet: Wallet, card: PaymentProvider
) -> None:
    topup = top_up(wallet, card, "1000.00", "555").transaction
    sell(wallet, "700.00", "till-1")

    refund = services.refund_topup(topup=topup, amount=Decimal("1000.00"), refund_id="556")

    assert balance(wallet) == Decimal("-700.00")
    assert refund.transaction.shortfall == Decimal("700.00")
    assert list(selectors.wallets_in_debt(wallet.school)) == [wallet]
    # the debt is not an error of the ledger, and it stops purchases until a top-up
    assert selectors.check_ledger().ok
    with pytest.raises(ServiceError):
        sell(wallet, "1.00", "till-2")
    with pytest.raises(ServiceError) as twice:
        services.refund_topup(topup=topup, amount=Decimal("0.01"), refund_id="557")
    assert twice.value.code == "refund_exceeds_payment"


def test_entries_that_do_not_sum_to_zero_never_reach_the_database(
    wallet: Wallet, kaspi: PaymentProvider
) -> None:
    revenue = services.system_account(school_id=wallet.school_id, kind="revenue")

    with pytest.raises(services.Unbalanced), transaction.atomic():
        services._book(
            school_id=wallet.school_id,
            kind="sale",
            external_id="bad",
            amount=Decimal("10.00"),
            legs=[(wallet, Decimal("-10.00")), (revenue, Decimal("9.99"))],
        )
    with pytest.raises(services.Unbalanced):
        services._book(
            school_id=wallet.school_id,
            kind="sale",
            external_id="bad",
            amount=Decimal("10.00"),
            legs=[(wallet, Decimal("0.00")), (revenue, Decimal("0.00"))],
        )

    assert LedgerTransaction.objects.count() == 0


def test_ledger_rows_cannot_be_changed_or_deleted(
    wallet: Wallet, kaspi: PaymentProvider, ledger_triggers: None
) -> None:
    booked = top_up(wallet, kaspi, "500.00", "K1").transaction
    entry = booked.entries.get(wallet=wallet)

    with pytest.raises(AppendOnlyError):
        booked.save()
    with pytest.raises(AppendOnlyError):
        entry.delete()
    with pytest.raises(AppendOnlyError):
        LedgerTransaction.objects.filter(pk=booked.pk).update(amount=Decimal("5"))
    with pytest.raises(AppendOnlyError):
        Entry.objects.all().delete()
    # and the database refuses, whatever code asks
    for statement in (
        "UPDATE canteen_entry SET amount = 1",
        "DELETE FROM canteen_ledgertransaction",
    ):
        with pytest.raises(DatabaseError), transaction.atomic(), connection.cursor() as cursor:
            cursor.execute(statement)
    assert balance(wallet) == selectors.ledger_sum(wallet) == Decimal("500.00")


def test_canteen_verify_passes_a_sound_ledger_and_names_a_tampered_balance(
    wallet: Wallet, kaspi: PaymentProvider
) -> None:
    top_up(wallet, kaspi, "500.00", "K1")
    sell(wallet, "120.00", "till-1")
    out = io.StringIO()
    call_command("canteen_verify", stdout=out)
    assert "debits 620.00, credits 620.00" in out.getvalue()
    assert "adds up" in out.getvalue()

    # someone edits a balance behind the services' back
    Wallet.objects.filter(pk=wallet.pk).update(balance=Decimal("1000.00"))
    out = io.StringIO()
    with pytest.raises(CommandError):
        call_command("canteen_verify", stdout=out)
    assert f"wallet {wallet.pk}: cached balance 1000.00, ledger sum 380.00" in out.getvalue()


def test_canteen_verify_names_an_entry_written_around_the_services(
    wallet: Wallet, kaspi: PaymentProvider
) -> None:
    booked = top_up(wallet, kaspi, "500.00", "K1").transaction
    with connection.cursor() as cursor:
        drop_ledger_triggers(connection, cursor)
    Entry.objects.bulk_create(
        [Entry(school=wallet.school, transaction=booked, wallet=wallet, amount=Decimal("1.00"))]
    )

    result = selectors.check_ledger()

    assert not result.ok
    assert result.unbalanced == [booked.pk]
    assert result.debits == Decimal("500.00") and result.credits == Decimal("501.00")


def test_the_guardians_are_told_of_each_top_up_in_their_language(
    family: Family, kaspi: PaymentProvider
) -> None:
    family.mother.language = "en"
    family.mother.save(update_fields=["language"])
    wallet = services.wallet_for(pupil=family.first)

    booked = top_up(wallet, kaspi, "1500.00", "K1").transaction
    top_up(wallet, kaspi, "1500.00", "K1")

    notice = Notification.objects.get(recipient=family.mother)
    assert notice.kind == "canteen" and notice.key == f"canteen:{booked.pk}"
    assert notice.person_id == family.first.person_id
    assert notice.text == (
        "Әлия's canteen balance was topped up by 1\u202f500.00 ₸ (Kaspi Bank). "
        "Balance: 1\u202f500.00 ₸."
    )
    # the grandmother (not a legal representative) is told too: she is a guardian
    assert Notification.objects.filter(recipient=family.grandmother).count() == 1


def test_wallets_and_system_accounts_are_per_school(wallet: Wallet, kaspi: PaymentProvider) -> None:
    other = make_school(prefix=1003)
    pupil = people_services.create_pupil(school=other, last_name="Ахметов", first_name="Ержан")
    top_up(wallet, kaspi, "100.00", "K1")
    top_up(services.wallet_for(pupil=pupil), kaspi, "100.00", "K2")

    clearing = SystemAccount.objects.filter(kind="clearing", provider=kaspi)
    assert sorted(clearing.values_list("school_id", flat=True)) == sorted(
        [wallet.school_id, other.pk]
    )
    assert selectors.check_ledger(school=other).credits == Decimal("100.00")


def test_lowering_the_overdraft_below_the_debt_takes_no_money_and_stops_sales(
    wallet: Wallet, make_user: Any, school: Any
) -> None:
    admin = make_user(None, school)
    services.set_overdraft(wallet=wallet, limit=Decimal("1000.00"), by=admin, reason="рұқсат")
    sell(wallet, "800.00", "till-1")

    services.set_overdraft(wallet=wallet, limit=Decimal("0.00"), by=admin, reason="қарызы бар")

    assert balance(wallet) == Decimal("-800.00")
    with pytest.raises(ServiceError):
        sell(wallet, "0.01", "till-2")
    assert selectors.check_ledger().ok
    assert list(selectors.wallets_in_debt(school)) == [wallet]
