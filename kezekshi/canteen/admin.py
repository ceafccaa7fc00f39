"""Django admin for platform operators: providers (credentials via ``manage.py
payment_provider``), and the ledger and provider traffic read-only."""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.http import HttpRequest

from kezekshi.canteen.models import (
    LedgerTransaction,
    PaymentProvider,
    ProviderRequest,
    Reconciliation,
    ReconciliationLine,
    Wallet,
)


@admin.register(PaymentProvider)
class PaymentProviderAdmin(admin.ModelAdmin):
    list_display = ["code", "name", "protocol", "is_active", "username", "max_amount"]
    fields = ["code", "name", "protocol", "is_active", "username", "allowed_networks", "max_amount"]
    readonly_fields = ["username"]

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> list[str]:
        # The code is part of every top-up's external id (``<code>:<txn_id>``): changed,
        # the provider's replays would no longer find their payments.
        return ["code", "username"] if obj is not None else ["username"]


class ReadOnly(admin.ModelAdmin):
    """The money's history is changed only by the services, never by hand."""

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(LedgerTransaction)
class LedgerTransactionAdmin(ReadOnly):
    list_display = ["booked_at", "school", "kind", "amount", "external_id", "provider"]
    list_filter = ["kind", "provider"]
    search_fields = ["external_id", "provider_txn_id"]


@admin.register(Wallet)
class WalletAdmin(ReadOnly):
    list_display = ["pupil", "school", "balance", "overdraft_limit"]
    search_fields = ["pupil__account_number"]


@admin.register(ProviderRequest)
class ProviderRequestAdmin(ReadOnly):
    list_display = [
        "received_at",
        "protocol",
        "provider",
        "command",
        "txn_id",
        "status_code",
        "result",
    ]
    list_filter = ["protocol", "command"]
    search_fields = ["txn_id"]


class LineInline(admin.TabularInline):
    model = ReconciliationLine
    extra = 0
    can_delete = False
    fields = ("kind", "school", "txn_id", "account", "their_amount", "our_amount", "their_at")
    readonly_fields = fields


@admin.register(Reconciliation)
class ReconciliationAdmin(ReadOnly):
    list_display = [
        "date",
        "provider",
        "their_count",
        "their_total",
        "our_count",
        "our_total",
        "matched",
    ]
    inlines = [LineInline]
