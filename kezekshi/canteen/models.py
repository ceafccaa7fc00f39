"""The canteen's money: wallets, the school's system accounts, the double-entry ledger,
payment providers, what they sent us and what we answered, and the daily reconciliations.

Money is ``Decimal`` KZT with 2 places, never a float. Every movement is one
``LedgerTransaction`` with two or more ``Entry`` rows that sum to zero (services.py makes
sure). Ledger rows are append-only three ways: the models refuse updates and deletes,
database triggers refuse them too (migration 0002), and ``manage.py canteen_verify``
checks that every cached wallet balance equals the sum of its entries.
See docs/canteen.md.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any, ClassVar

from django.conf import settings
from django.db import models
from django.db.models import F, Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from kezekshi.core.crypto import EncryptedTextField
from kezekshi.core.models import School, SchoolOwned, TranslatedName
from kezekshi.people.models import Pupil
from kezekshi.privacy.models import AppendOnlyError, AppendOnlyQuerySet

ZERO = Decimal("0.00")


def money(verbose_name: Any, **options: Any) -> models.DecimalField[Any, Any]:
    """A KZT amount: up to 999,999,999,999.99, two places."""
    return models.DecimalField(verbose_name, max_digits=14, decimal_places=2, **options)


class PaymentProvider(models.Model):
    """A bank, payment agent or card acquirer that tops wallets up (platform-wide).

    Kaspi- and OSMP-style agents sign in with HTTP basic (``username`` and a password kept
    only as a keyed digest); a CloudPayments-style acquirer signs each body with
    ``secret`` (kept encrypted: the signature must be recomputed). Calls are accepted only
    from ``allowed_networks``.
    """

    class Protocol(models.TextChoices):
        KASPI = "kaspi", _("Kaspi-style check/pay (JSON answers)")
        OSMP = "osmp", _("OSMP/QIWI check/pay (XML answers)")
        CLOUDPAYMENTS = "cloudpayments", _("CloudPayments-style card webhooks")

    code = models.SlugField(_("code"), max_length=40, unique=True)
    name = models.CharField(_("name"), max_length=200)
    protocol = models.CharField(_("protocol"), max_length=20, choices=Protocol.choices)
    is_active = models.BooleanField(_("active"), default=True)
    username = models.CharField(_("login (HTTP basic)"), max_length=100, blank=True)
    password_digest = models.CharField(max_length=64, blank=True, editable=False)
    secret = EncryptedTextField(_("signing secret"), blank=True)
    # One network per line (or comma-separated), e.g. 194.187.247.0/24; empty: nobody.
    allowed_networks = models.TextField(_("allowed source networks"), blank=True)
    max_amount = money(_("largest payment"), default=Decimal("500000.00"))
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        verbose_name = _("payment provider")
        verbose_name_plural = _("payment providers")
        ordering = ["code"]
        constraints = [
            models.UniqueConstraint(
                fields=["protocol", "username"],
                condition=~Q(username=""),
                name="provider_login_unique_per_protocol",
            )
        ]

    def __str__(self) -> str:
        return self.name


class Wallet(SchoolOwned):
    """A pupil's canteen balance, found by the pupil's personal account number.

    ``balance`` is a cache of the sum of the wallet's ledger entries, changed only by
    ``canteen.services`` in the same transaction as those entries. It never goes below
    ``-overdraft_limit`` (0 unless the school allows an overdraft), except when a card
    payment already spent is refunded by the bank (see docs/canteen.md).
    """

    pupil = models.OneToOneField(
        Pupil, on_delete=models.PROTECT, related_name="wallet", verbose_name=_("pupil")
    )
    balance = money(_("balance"), default=ZERO)
    overdraft_limit = money(_("overdraft allowed"), default=ZERO)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(default=timezone.now)

    class Meta:
        verbose_name = _("wallet")
        verbose_name_plural = _("wallets")
        constraints = [
            models.UniqueConstraint(fields=["school", "pupil"], name="wallet_unique_per_pupil"),
            models.CheckConstraint(
                condition=Q(overdraft_limit__gte=0), name="wallet_overdraft_not_negative"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.pupil.account_number} {self.balance}"

    @property
    def account_number(self) -> str:
        return self.pupil.account_number


class SystemAccount(SchoolOwned):
    """One of the school's own accounts: a provider's clearing account (money a provider
    has taken for the school and owes it), canteen revenue, the free-meal fund, refunds.

    No cached balance: every sale of a school touches its revenue account, and a cached
    balance there would make all sales wait for one row. The balance is the sum of entries.
    """

    class Kind(models.TextChoices):
        CLEARING = "clearing", _("Provider clearing")
        REVENUE = "revenue", _("Canteen revenue")
        FREE_MEAL_FUND = "free_meal_fund", _("Free-meal fund")
        REFUNDS = "refunds", _("Refunds")

    kind = models.CharField(_("kind"), max_length=20, choices=Kind.choices)
    provider = models.ForeignKey(
        PaymentProvider,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("payment provider"),
    )

    class Meta:
        verbose_name = _("system account")
        verbose_name_plural = _("system accounts")
        constraints = [
            models.UniqueConstraint(
                fields=["school", "kind"],
                condition=Q(provider__isnull=True),
                name="system_account_unique_kind",
            ),
            models.UniqueConstraint(
                fields=["school", "provider"],
                condition=Q(provider__isnull=False),
                name="system_account_unique_clearing",
            ),
            models.CheckConstraint(
                condition=Q(kind="clearing", provider__isnull=False)
                | (~Q(kind="clearing") & Q(provider__isnull=True)),
                name="system_account_clearing_has_provider",
            ),
        ]

    def __str__(self) -> str:
        label = self.get_kind_display()
        return f"{label} ({self.provider})" if self.provider_id else str(label)


class AppendOnlyRow(models.Model):
    """A ledger row: written once, never changed or deleted by the application."""

    objects: ClassVar[Any] = AppendOnlyQuerySet.as_manager()

    class Meta:
        abstract = True

    def save(self, *args: Any, **kwargs: Any) -> None:
        if not self._state.adding:
            raise AppendOnlyError(f"{type(self).__name__} rows cannot be changed")
        super().save(*args, **kwargs)

    def delete(self, *args: Any, **kwargs: Any) -> tuple[int, dict[str, int]]:
        raise AppendOnlyError(f"{type(self).__name__} rows cannot be deleted")


class LedgerTransaction(SchoolOwned, AppendOnlyRow):
    """One movement of money: its entries (two or more) sum to zero.

    ``external_id`` is the idempotency key of whoever asked (``<provider>:<txn_id>`` for a
    top-up, the till's transaction id for a sale…), unique per school and kind: a replay
    finds the original instead of booking again.
    """

    class Kind(models.TextChoices):
        TOPUP = "topup", _("Top-up")
        TOPUP_REFUND = "topup_refund", _("Top-up refunded by the bank")
        SALE = "sale", _("Purchase")
        SALE_VOID = "sale_void", _("Purchase voided")
        SALE_REFUND = "sale_refund", _("Purchase refunded")
        TRANSFER = "transfer", _("Transfer between siblings")
        FREE_MEAL = "free_meal", _("Free meal")
        FREE_MEAL_VOID = "free_meal_void", _("Free meal voided")

    kind = models.CharField(_("kind"), max_length=20, choices=Kind.choices)
    external_id = models.CharField(_("external id"), max_length=100)
    amount = money(_("amount"))
    booked_at = models.DateTimeField(_("booked at"))
    created_at = models.DateTimeField(_("recorded at"), default=timezone.now)
    provider = models.ForeignKey(
        PaymentProvider,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("payment provider"),
    )
    provider_txn_id = models.CharField(_("provider's transaction id"), max_length=40, blank=True)
    # The provider's own time for the payment, as sent, when it could not be the booking
    # time (unreadable, more than 30 days before it reached us or more than an hour
    # after): the payment is booked when it arrived, and the reconciliation page lists
    # it for someone to look at. Empty when ``booked_at`` is the provider's time.
    provider_time = models.CharField(_("provider's time, not used"), max_length=40, blank=True)
    reverses = models.ForeignKey(
        "self",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="reversals",
        verbose_name=_("reverses"),
    )
    description = models.CharField(_("description"), max_length=300, blank=True)
    reason = models.CharField(_("reason"), max_length=300, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("by"),
    )
    # A bank refund of a top-up already spent: what the wallet did not hold.
    shortfall = money(_("shortfall"), default=ZERO)

    class Meta:
        verbose_name = _("ledger transaction")
        verbose_name_plural = _("ledger transactions")
        ordering = ["-booked_at", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["school", "kind", "external_id"], name="ledger_transaction_once"
            ),
            models.CheckConstraint(condition=Q(amount__gt=0), name="ledger_amount_positive"),
            models.CheckConstraint(condition=~Q(external_id=""), name="ledger_has_external_id"),
        ]
        indexes = [
            models.Index(fields=["school", "kind", "booked_at"]),
            models.Index(fields=["provider", "booked_at"]),
        ]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} {self.amount} ({self.external_id})"


class Entry(SchoolOwned, AppendOnlyRow):
    """One side of a transaction: ``amount`` (signed) on a wallet or a system account."""

    transaction = models.ForeignKey(
        LedgerTransaction, on_delete=models.PROTECT, related_name="entries"
    )
    wallet = models.ForeignKey(
        Wallet, on_delete=models.PROTECT, null=True, blank=True, related_name="entries"
    )
    account = models.ForeignKey(
        SystemAccount, on_delete=models.PROTECT, null=True, blank=True, related_name="entries"
    )
    amount = money(_("amount"))

    class Meta:
        verbose_name = _("ledger entry")
        verbose_name_plural = _("ledger entries")
        constraints = [
            models.CheckConstraint(
                condition=Q(wallet__isnull=False, account__isnull=True)
                | Q(wallet__isnull=True, account__isnull=False),
                name="entry_on_one_account",
            ),
            models.CheckConstraint(condition=~Q(amount=0), name="entry_not_zero"),
        ]
        indexes = [
            models.Index(fields=["school", "wallet", "transaction"]),
            models.Index(fields=["school", "account"]),
        ]

    def __str__(self) -> str:
        return f"{self.amount}"


class ProviderRequest(models.Model):
    """A call from a payment provider, stored (and committed) before anything else is done
    with it; the answer is added once it is sent. Credentials are never stored."""

    protocol = models.CharField(max_length=20, choices=PaymentProvider.Protocol.choices)
    provider = models.ForeignKey(
        PaymentProvider, on_delete=models.PROTECT, null=True, blank=True, related_name="requests"
    )
    school = models.ForeignKey(
        School, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    method = models.CharField(max_length=10)
    path = models.CharField(max_length=200)
    query = models.TextField(blank=True)
    # The body's first 64 KB (a provider's call is far smaller); ``body_size`` is the
    # whole body's size, so a larger one shows as cut.
    body = models.BinaryField(blank=True, default=b"")
    body_size = models.PositiveIntegerField(default=0)
    content_type = models.CharField(max_length=100, blank=True)
    signature = models.CharField(max_length=200, blank=True)
    remote_addr = models.GenericIPAddressField(null=True, blank=True)
    received_at = models.DateTimeField(auto_now_add=True, db_index=True)
    command = models.CharField(max_length=20, blank=True)
    txn_id = models.CharField(max_length=40, blank=True)
    status_code = models.PositiveSmallIntegerField(null=True, blank=True)
    result = models.CharField(max_length=10, blank=True)
    response_body = models.BinaryField(null=True, blank=True)
    answered_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name = _("provider request")
        verbose_name_plural = _("provider requests")
        ordering = ["-received_at", "-id"]
        indexes = [models.Index(fields=["provider", "txn_id"])]

    def __str__(self) -> str:
        return f"{self.protocol} {self.command} {self.txn_id}"


class ProviderAnswer(models.Model):
    """The answer given to a provider's ``command`` for its ``txn_id``, byte for byte.

    Unique per provider, command and transaction: a repeated call gets these bytes back,
    and two identical calls at once write one row (the second waits, then reads it). Only
    a call naming the same ``account`` and ``amount`` is a repeat; one that reuses the
    ``txn_id`` for another payment is refused and gets no row.
    """

    provider = models.ForeignKey(PaymentProvider, on_delete=models.PROTECT, related_name="+")
    command = models.CharField(max_length=20)
    txn_id = models.CharField(max_length=40)
    # What the first call asked, as sent (a readable sum with two places: "500" is
    # "500.00"): a repeat must ask the same.
    account = models.CharField(max_length=40, blank=True)
    amount = models.CharField(max_length=20, blank=True)
    school = models.ForeignKey(
        School, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    transaction = models.ForeignKey(
        LedgerTransaction, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    request = models.ForeignKey(ProviderRequest, on_delete=models.PROTECT, related_name="+")
    status_code = models.PositiveSmallIntegerField(default=200)
    content_type = models.CharField(max_length=100)
    body = models.BinaryField()
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        verbose_name = _("answer to a provider")
        verbose_name_plural = _("answers to providers")
        constraints = [
            models.UniqueConstraint(
                fields=["provider", "command", "txn_id"], name="provider_answer_once"
            )
        ]

    def __str__(self) -> str:
        return f"{self.command} {self.txn_id}"


class Reconciliation(models.Model):
    """One provider's register for one day, compared with our ledger (platform-wide: a
    register covers every school; its lines carry their school)."""

    provider = models.ForeignKey(
        PaymentProvider,
        on_delete=models.PROTECT,
        related_name="reconciliations",
        verbose_name=_("payment provider"),
    )
    date = models.DateField(_("day"))
    file_name = models.CharField(_("file"), max_length=200)
    file_sha256 = models.CharField(max_length=64)
    imported_at = models.DateTimeField(_("imported"), auto_now_add=True)
    imported_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    their_count = models.PositiveIntegerField(_("payments in the register"), default=0)
    their_total = money(_("total in the register"), default=ZERO)
    our_count = models.PositiveIntegerField(_("payments in our ledger"), default=0)
    our_total = money(_("total in our ledger"), default=ZERO)
    matched = models.PositiveIntegerField(_("matched"), default=0)

    class Meta:
        verbose_name = _("reconciliation")
        verbose_name_plural = _("reconciliations")
        ordering = ["-date", "-id"]
        indexes = [models.Index(fields=["provider", "date"])]

    def __str__(self) -> str:
        return f"{self.provider} {self.date}"


class ReconciliationLine(models.Model):
    """One mismatch found by a reconciliation. ``school`` is empty when the register names
    an account we do not know (only the platform operator sees those)."""

    class Kind(models.TextChoices):
        MISSING_OURS = "missing_ours", _("In the register, not in our ledger")
        MISSING_THEIRS = "missing_theirs", _("In our ledger, not in the register")
        AMOUNT_DIFFERS = "amount_differs", _("Amounts differ")
        ACCOUNT_DIFFERS = "account_differs", _("Personal accounts differ")
        DUPLICATE_IN_REGISTER = "duplicate_in_register", _("Repeated in the register")

    reconciliation = models.ForeignKey(
        Reconciliation, on_delete=models.CASCADE, related_name="lines"
    )
    school = models.ForeignKey(
        School, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    kind = models.CharField(_("mismatch"), max_length=30, choices=Kind.choices)
    txn_id = models.CharField(_("provider's transaction id"), max_length=40)
    account = models.CharField(_("personal account"), max_length=40, blank=True)
    # The account our ledger credited, when the register names another.
    our_account = models.CharField(_("personal account in our ledger"), max_length=40, blank=True)
    their_amount = money(_("amount in the register"), null=True, blank=True)
    our_amount = money(_("amount in our ledger"), null=True, blank=True)
    their_at = models.DateTimeField(_("time in the register"), null=True, blank=True)
    transaction = models.ForeignKey(
        LedgerTransaction, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )

    class Meta:
        verbose_name = _("reconciliation mismatch")
        verbose_name_plural = _("reconciliation mismatches")
        ordering = ["kind", "txn_id"]
        indexes = [models.Index(fields=["school", "reconciliation"])]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} {self.txn_id}"


# === The canteen's food: menu, parents' controls, the till's sales, free meals, ratings ===
# (see docs/canteen-pos.md). Money still moves only through the ledger above; these rows
# say what was sold and why, and point at the ledger transactions that moved the money.


class Allergen(models.TextChoices):
    """The 14 allergens food labels must name (the EU list Kazakh caterers use too)."""

    GLUTEN = "gluten", _("Cereals containing gluten")
    CRUSTACEANS = "crustaceans", _("Crustaceans")
    EGGS = "eggs", _("Eggs")
    FISH = "fish", _("Fish")
    PEANUTS = "peanuts", _("Peanuts")
    SOYBEANS = "soybeans", _("Soybeans")
    MILK = "milk", _("Milk")
    NUTS = "nuts", _("Tree nuts")
    CELERY = "celery", _("Celery")
    MUSTARD = "mustard", _("Mustard")
    SESAME = "sesame", _("Sesame")
    SULPHITES = "sulphites", _("Sulphites")
    LUPIN = "lupin", _("Lupin")
    MOLLUSCS = "molluscs", _("Molluscs")


class Meal(models.TextChoices):
    BREAKFAST = "breakfast", _("Breakfast")
    LUNCH = "lunch", _("Lunch")
    SNACK = "snack", _("Snack")


class CanteenSettings(SchoolOwned):
    """A school's canteen rules: what one free meal of each kind may cost the free-meal fund
    (0: that meal is not subsidised) and how much a pupil may spend at a till that has
    lost its connection."""

    free_breakfast_cost = money(_("free breakfast: cost covered"), default=ZERO)
    free_lunch_cost = money(_("free lunch: cost covered"), default=ZERO)
    free_snack_cost = money(_("free snack: cost covered"), default=ZERO)
    offline_limit = money(_("spending per pupil per day at an offline till"), default=Decimal(1000))
    updated_at = models.DateTimeField(default=timezone.now)

    class Meta:
        verbose_name = _("canteen settings")
        verbose_name_plural = _("canteen settings")
        constraints = [
            models.UniqueConstraint(fields=["school"], name="canteen_settings_once"),
            models.CheckConstraint(
                condition=Q(free_breakfast_cost__gte=0)
                & Q(free_lunch_cost__gte=0)
                & Q(free_snack_cost__gte=0)
                & Q(offline_limit__gte=0),
                name="canteen_settings_not_negative",
            ),
        ]

    def free_meal_cost(self, meal: str) -> Decimal:
        return Decimal(getattr(self, f"free_{meal}_cost"))


class DishCategory(SchoolOwned, TranslatedName):
    """Soups, mains, drinks, pastry… — what parents can ban as a whole."""

    position = models.PositiveSmallIntegerField(_("order"), default=0)

    class Meta:
        verbose_name = _("dish category")
        verbose_name_plural = _("dish categories")
        ordering = ["school", "position", "name_kk"]
        constraints = [
            models.UniqueConstraint(fields=["school", "name_kk"], name="dish_category_unique_name")
        ]


class Dish(SchoolOwned, TranslatedName):
    """A dish or an item the canteen sells, with its usual price and its allergens."""

    category = models.ForeignKey(
        DishCategory, on_delete=models.PROTECT, related_name="dishes", verbose_name=_("category")
    )
    photo = models.ImageField(_("photo"), upload_to="dishes/%Y/", blank=True)
    price = money(_("price"))
    # Codes of ``Allergen``, sorted; a dish is never sold to a pupil allergic to any of them.
    allergens = models.JSONField(_("allergens"), default=list, blank=True)
    is_active = models.BooleanField(_("on sale"), default=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        verbose_name = _("dish")
        verbose_name_plural = _("dishes")
        ordering = ["school", "category__position", "name_kk"]
        constraints = [
            models.CheckConstraint(condition=Q(price__gt=0), name="dish_price_positive"),
        ]
        indexes = [models.Index(fields=["school", "is_active"])]

    def allergen_labels(self) -> list[str]:
        return [str(Allergen(code).label) for code in self.allergens if code in Allergen.values]


class DailyMenu(SchoolOwned):
    """One meal of one day (breakfast, lunch or snack), published to parents."""

    date = models.DateField(_("date"))
    meal = models.CharField(_("meal"), max_length=10, choices=Meal.choices)
    is_published = models.BooleanField(_("published"), default=False)
    published_at = models.DateTimeField(_("published"), null=True, blank=True)

    class Meta:
        verbose_name = _("daily menu")
        verbose_name_plural = _("daily menus")
        ordering = ["school", "date", "meal"]
        constraints = [
            models.UniqueConstraint(fields=["school", "date", "meal"], name="daily_menu_once")
        ]

    def __str__(self) -> str:
        return f"{self.date} {self.get_meal_display()}"


class MenuItem(SchoolOwned):
    """A dish on a day's menu, at that day's price."""

    menu = models.ForeignKey(DailyMenu, on_delete=models.CASCADE, related_name="items")
    dish = models.ForeignKey(Dish, on_delete=models.PROTECT, related_name="menu_items")
    price = money(_("price of the day"))

    class Meta:
        verbose_name = _("menu item")
        verbose_name_plural = _("menu items")
        ordering = ["menu", "dish__category__position", "dish__name_kk"]
        constraints = [
            models.UniqueConstraint(fields=["school", "menu", "dish"], name="menu_item_once"),
            models.CheckConstraint(condition=Q(price__gt=0), name="menu_item_price_positive"),
        ]

    def __str__(self) -> str:
        return f"{self.dish} {self.price}"


class PupilControls(SchoolOwned):
    """What the parents set for one child: a daily limit, allergens, banned dishes and
    categories, and the low-balance alert. Written only by ``canteen.controls``."""

    pupil = models.OneToOneField(
        Pupil, on_delete=models.CASCADE, related_name="canteen_controls", verbose_name=_("pupil")
    )
    daily_limit = money(_("daily spending limit"), null=True, blank=True)
    allergens = models.JSONField(_("allergens"), default=list, blank=True)
    banned_dishes = models.JSONField(_("banned dishes"), default=list, blank=True)
    banned_categories = models.JSONField(_("banned categories"), default=list, blank=True)
    low_balance_threshold = money(_("low-balance alert below"), null=True, blank=True)
    # Set once the alert for the current stay below the threshold was sent (see
    # ``controls.after_debit``): a new alert needs the balance to rise above it first.
    low_balance_alerted = models.BooleanField(default=False)
    updated_at = models.DateTimeField(default=timezone.now)
    updated_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )

    class Meta:
        verbose_name = _("parents' canteen controls")
        verbose_name_plural = _("parents' canteen controls")
        constraints = [
            models.UniqueConstraint(fields=["school", "pupil"], name="pupil_controls_once"),
            models.CheckConstraint(
                condition=Q(daily_limit__isnull=True) | Q(daily_limit__gte=0),
                name="pupil_controls_limit_not_negative",
            ),
        ]


class FreeMealEntitlement(SchoolOwned):
    """A pupil of grades 5–11 entitled to free meals for a social reason: entered by the
    social pedagogue, in force once the director (school administrator) approves it.

    Pupils of grades 1–4 of state schools need no row: they are entitled by their grade.
    """

    class Basis(models.TextChoices):
        SOCIAL_ASSISTANCE = "social_assistance", _("Family receives targeted social assistance")
        LOW_INCOME = "low_income", _("Family income below the subsistence minimum")
        ORPHAN = "orphan", _("Orphan")
        NO_PARENTAL_CARE = "no_parental_care", _("Child left without parental care")
        OTHER = "other", _("Other category set by law")

    class Status(models.TextChoices):
        PROPOSED = "proposed", _("Waiting for approval")
        APPROVED = "approved", _("Approved")
        REJECTED = "rejected", _("Rejected")
        REVOKED = "revoked", _("Revoked")

    pupil = models.ForeignKey(
        Pupil, on_delete=models.CASCADE, related_name="free_meal_entitlements"
    )
    basis = models.CharField(_("basis"), max_length=20, choices=Basis.choices)
    valid_from = models.DateField(_("valid from"))
    valid_until = models.DateField(_("valid until"))
    status = models.CharField(
        _("status"), max_length=10, choices=Status.choices, default=Status.PROPOSED
    )
    note = models.CharField(_("note"), max_length=300, blank=True)
    proposed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    proposed_at = models.DateTimeField(default=timezone.now)
    decided_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    decided_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name = _("free-meal entitlement")
        verbose_name_plural = _("free-meal entitlements")
        ordering = ["school", "-proposed_at"]
        constraints = [
            models.CheckConstraint(
                condition=Q(valid_until__gte=F("valid_from")), name="entitlement_dates_in_order"
            )
        ]
        indexes = [models.Index(fields=["school", "pupil", "status"])]


class Sale(SchoolOwned):
    """What a till sold to a pupil, once per till transaction id.

    ``external_id`` is the till's transaction id, prefixed with the till (``d<device>:``
    for a POS terminal, ``web:`` for the cashier page): a retry finds this row and gets
    ``answer`` back, byte for byte the same JSON. The money is in the ledger:
    ``charge`` (the wallet's part) and ``free_meal`` (the free-meal fund's part).
    """

    class Status(models.TextChoices):
        SOLD = "sold", _("Sold")
        VOIDED = "voided", _("Voided")

    pupil = models.ForeignKey(Pupil, on_delete=models.PROTECT, related_name="canteen_sales")
    external_id = models.CharField(max_length=100)
    device = models.ForeignKey(
        "access.Device", on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    cashier = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    sold_at = models.DateTimeField(_("sold at"))
    recorded_at = models.DateTimeField(default=timezone.now)
    offline = models.BooleanField(_("sold offline"), default=False)
    total = money(_("total"), default=ZERO)
    free_amount = money(_("paid by the free-meal fund"), default=ZERO)
    wallet_amount = money(_("paid from the balance"), default=ZERO)
    # An offline sale the wallet could not cover: what it now owes.
    shortfall = money(_("shortfall"), default=ZERO)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.SOLD)
    charge = models.ForeignKey(
        LedgerTransaction, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    free_meal = models.ForeignKey(
        LedgerTransaction, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    voided_at = models.DateTimeField(null=True, blank=True)
    void_reason = models.CharField(max_length=300, blank=True)
    # The JSON answered to the till, kept as text: a replay gets the same bytes back.
    answer = models.TextField(blank=True)

    class Meta:
        verbose_name = _("sale")
        verbose_name_plural = _("sales")
        ordering = ["-sold_at", "-id"]
        constraints = [
            models.UniqueConstraint(fields=["school", "external_id"], name="sale_once"),
            models.CheckConstraint(condition=Q(total__gte=0), name="sale_total_not_negative"),
        ]
        indexes = [
            models.Index(fields=["school", "pupil", "sold_at"]),
            models.Index(fields=["school", "sold_at"]),
        ]

    def __str__(self) -> str:
        return f"{self.external_id} {self.total}"


class SaleLine(SchoolOwned):
    sale = models.ForeignKey(Sale, on_delete=models.CASCADE, related_name="lines")
    dish = models.ForeignKey(Dish, on_delete=models.PROTECT, related_name="+")
    meal = models.CharField(max_length=10, choices=Meal.choices)
    quantity = models.PositiveSmallIntegerField(default=1)
    unit_price = money(_("price"))
    amount = money(_("amount"))

    class Meta:
        verbose_name = _("sale line")
        verbose_name_plural = _("sale lines")
        indexes = [models.Index(fields=["school", "dish"])]


class FreeMeal(SchoolOwned):
    """One subsidised meal served: at most one per pupil, meal and day (a voided sale
    gives the day's meal back). The monthly free-meal report lists these rows."""

    pupil = models.ForeignKey(Pupil, on_delete=models.PROTECT, related_name="free_meals")
    date = models.DateField(_("date"))
    meal = models.CharField(_("meal"), max_length=10, choices=Meal.choices)
    cost = money(_("cost"))
    served_at = models.DateTimeField(_("served at"))
    sale = models.ForeignKey(Sale, on_delete=models.PROTECT, related_name="free_meals")
    basis = models.CharField(_("basis"), max_length=20)
    voided_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name = _("free meal")
        verbose_name_plural = _("free meals")
        ordering = ["school", "date", "served_at"]
        constraints = [
            models.UniqueConstraint(
                fields=["school", "pupil", "date", "meal"],
                condition=Q(voided_at__isnull=True),
                name="free_meal_once_per_day",
            ),
            models.CheckConstraint(condition=Q(cost__gt=0), name="free_meal_cost_positive"),
        ]
        indexes = [models.Index(fields=["school", "date"])]


class MealRating(SchoolOwned):
    """A parent's (or, through the parent's app, the child's own) mark for a dish of a day."""

    pupil = models.ForeignKey(Pupil, on_delete=models.CASCADE, related_name="meal_ratings")
    dish = models.ForeignKey(Dish, on_delete=models.CASCADE, related_name="ratings")
    date = models.DateField(_("date"))
    author = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    by_child = models.BooleanField(_("the child's own mark"), default=False)
    score = models.PositiveSmallIntegerField(_("mark"))
    comment = models.CharField(_("comment"), max_length=500, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name = _("meal rating")
        verbose_name_plural = _("meal ratings")
        constraints = [
            models.UniqueConstraint(
                fields=["school", "pupil", "dish", "date", "author", "by_child"],
                name="meal_rating_once",
            ),
            models.CheckConstraint(
                condition=Q(score__gte=1) & Q(score__lte=5), name="meal_rating_one_to_five"
            ),
        ]
        indexes = [models.Index(fields=["school", "dish", "date"])]
