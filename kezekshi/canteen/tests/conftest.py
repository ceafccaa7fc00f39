"""Fixtures of the canteen: payment providers with known credentials, agents that call
our endpoints as a real agent would (query strings, HTTP basic, a source address), a
card acquirer that signs its bodies, and a family whose children have wallets."""

from __future__ import annotations

import base64
import datetime as dt
import json
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any
from urllib.parse import urlencode
from zoneinfo import ZoneInfo

import pytest
from django.db import connection
from django.test import Client
from django.utils import timezone

from kezekshi.canteen import services
from kezekshi.canteen.models import PaymentProvider, Wallet
from kezekshi.canteen.payments.cloudpayments.views import signature
from kezekshi.canteen.payments.common import password_digest
from kezekshi.canteen.triggers import create_ledger_triggers, drop_ledger_triggers
from kezekshi.conftest import is_transactional
from kezekshi.people.models import Pupil
from kezekshi.privacy.tests.family import Family, make_family

ALMATY = ZoneInfo("Asia/Almaty")
AGENT_ADDRESS = "194.187.247.10"
AGENT_PASSWORD = "agent-password-0123456789"
CARD_SECRET = "acquirer-secret-0123456789"


@pytest.fixture(autouse=True)
def _ledger_can_be_flushed(request: Any) -> Any:
    """A transactional test ends with a flush (DELETE FROM every table on SQLite), which
    the ledger's triggers refuse: lift them for that flush, as the privacy ledgers'
    fixture does (a test that needs them puts them back: ``ledger_triggers``)."""
    yield
    if is_transactional(request):
        with connection.cursor() as cursor:
            drop_ledger_triggers(connection, cursor)


@pytest.fixture
def ledger_triggers(db: None) -> None:
    """The append-only triggers, as migration 0002 made them (a transactional test run
    before in this worker may have lifted them)."""
    with connection.cursor() as cursor:
        create_ledger_triggers(connection, cursor)


def make_provider(code: str, protocol: str, **fields: Any) -> PaymentProvider:
    defaults: dict[str, Any] = {
        "name": f"{code.title()} Bank",
        "protocol": protocol,
        "allowed_networks": "194.187.247.0/24\n2a00:1450::/32",
    }
    if protocol == PaymentProvider.Protocol.CLOUDPAYMENTS:
        defaults["secret"] = CARD_SECRET
    else:
        defaults["username"] = code
        defaults["password_digest"] = password_digest(AGENT_PASSWORD)
    return PaymentProvider.objects.create(code=code, **{**defaults, **fields})


@pytest.fixture
def kaspi(db: None) -> PaymentProvider:
    return make_provider("kaspi", PaymentProvider.Protocol.KASPI)


@pytest.fixture
def qiwi(db: None) -> PaymentProvider:
    return make_provider("qiwi", PaymentProvider.Protocol.OSMP)


@pytest.fixture
def card(db: None) -> PaymentProvider:
    return make_provider("cloudpayments", PaymentProvider.Protocol.CLOUDPAYMENTS)


@dataclass
class Agent:
    """A payment agent: GETs our endpoint with its login and from its own address."""

    path: str
    username: str
    password: str = AGENT_PASSWORD
    address: str = AGENT_ADDRESS
    client: Client = field(default_factory=lambda: Client(HTTP_ACCEPT_LANGUAGE="en"))

    def headers(self) -> dict[str, str]:
        token = base64.b64encode(f"{self.username}:{self.password}".encode()).decode()
        return {"Authorization": f"Basic {token}"}

    def call(self, **params: str) -> Any:
        return self.client.get(
            f"{self.path}?{urlencode(params)}",
            headers=self.headers(),  # type: ignore[arg-type]
            REMOTE_ADDR=self.address,
        )

    def post(self, **params: str) -> Any:
        return self.client.post(
            self.path,
            data=urlencode(params),
            content_type="application/x-www-form-urlencoded",
            headers=self.headers(),  # type: ignore[arg-type]
            REMOTE_ADDR=self.address,
        )

    def check(self, account: str, amount: str = "500.00", txn_id: str = "1001") -> Any:
        return self.call(command="check", txn_id=txn_id, account=account, sum=amount)

    def pay(
        self,
        account: str,
        amount: str = "500.00",
        txn_id: str = "1001",
        txn_date: str | None = None,
    ) -> Any:
        return self.call(
            command="pay",
            txn_id=txn_id,
            txn_date=agent_time(an_hour_ago()) if txn_date is None else txn_date,
            account=account,
            sum=amount,
        )


def an_hour_ago() -> dt.datetime:
    """A payment's time as agents send it: recent (within the 30 days booked as sent)."""
    return (timezone.now() - dt.timedelta(hours=1)).replace(microsecond=0)


def agent_time(moment: dt.datetime) -> str:
    """``moment`` as an agent's ``txn_date``: ``YYYYMMDDHHMMSS`` in Almaty."""
    return moment.astimezone(ALMATY).strftime("%Y%m%d%H%M%S")


@pytest.fixture
def kaspi_agent(kaspi: PaymentProvider) -> Agent:
    return Agent("/payments/kaspi/", username="kaspi")


@pytest.fixture
def osmp_agent(qiwi: PaymentProvider) -> Agent:
    return Agent("/payments/osmp/", username="qiwi")


@dataclass
class Acquirer:
    """A card acquirer: POSTs form bodies signed with base64(HMAC-SHA256(body, secret))."""

    secret: str = CARD_SECRET
    address: str = AGENT_ADDRESS
    client: Client = field(default_factory=lambda: Client(HTTP_ACCEPT_LANGUAGE="en"))

    def send(
        self, kind: str, fields: dict[str, str], *, sign: str | None = None, as_json: bool = False
    ) -> Any:
        if as_json:
            body = json.dumps(fields).encode()
            content_type = "application/json"
        else:
            body = urlencode(fields).encode()
            content_type = "application/x-www-form-urlencoded"
        header = sign if sign is not None else signature(body, self.secret)
        return self.client.post(
            f"/payments/cloudpayments/{kind}/",
            data=body,
            content_type=content_type,
            headers={"Content-HMAC": header},  # type: ignore[arg-type]
            REMOTE_ADDR=self.address,
        )


@pytest.fixture
def acquirer(card: PaymentProvider) -> Acquirer:
    return Acquirer()


@pytest.fixture
def family(pupil: Pupil) -> Family:
    return make_family(pupil)


@pytest.fixture
def wallet(pupil: Pupil) -> Wallet:
    return services.wallet_for(pupil=pupil)


def almaty(text: str) -> dt.datetime:
    """``"2025-09-04 08:15"`` in Almaty, as an aware time."""
    return dt.datetime.fromisoformat(text).replace(tzinfo=ALMATY)


def top_up(
    wallet: Wallet,
    provider: PaymentProvider,
    amount: str,
    txn_id: str,
    at: str = "2025-09-04 08:15",
) -> services.Booked:
    return services.credit_topup(
        wallet=wallet,
        provider=provider,
        amount=Decimal(amount),
        txn_id=txn_id,
        booked_at=almaty(at),
    )


def balance(wallet: Wallet) -> Decimal:
    wallet.refresh_from_db()
    return wallet.balance


# --- the canteen's food and tills (menus, POS terminals, parents' controls) -------------


@dataclass
class Menu:
    """Today's menu of the ``school``: lunch and breakfast, with dishes whose allergens
    the tests rely on. ``item[name]`` is the menu item of the day, ``dish[name]`` the dish."""

    lunch: Any
    breakfast: Any
    dish: dict[str, Any]
    item: dict[str, Any]
    category: dict[str, Any]


@pytest.fixture
def menu(school: Any) -> Menu:
    return make_menu(school)


def make_menu(school: Any) -> Menu:
    from kezekshi.canteen import menu as menus
    from kezekshi.canteen.menu import local_today

    soups = menus.save_category(school=school, name_kk="Сорпалар", name_ru="Супы", position=1)
    mains = menus.save_category(school=school, name_kk="Негізгі", name_ru="Вторые", position=2)
    sweets = menus.save_category(school=school, name_kk="Тәттілер", name_ru="Сладкое", position=3)
    drinks = menus.save_category(school=school, name_kk="Сусындар", name_ru="Напитки", position=4)

    def dish(category: Any, kk: str, ru: str, en: str, price: str, allergens: list[str]) -> Any:
        return menus.save_dish(
            school=school,
            category=category,
            name_kk=kk,
            name_ru=ru,
            name_en=en,
            price=Decimal(price),
            allergens=allergens,
        )

    dishes = {
        "borscht": dish(soups, "Борщ", "Борщ", "Borscht", "350.00", ["celery"]),
        "plov": dish(mains, "Палау", "Плов", "Plov", "600.00", []),
        "compote": dish(drinks, "Компот", "Компот", "Compote", "150.00", []),
        "peanut_bar": dish(sweets, "Жаңғақ батончигі", "Батончик", "Peanut bar", "200.00",
                           ["peanuts", "nuts"]),
        "porridge": dish(mains, "Сүт ботқасы", "Молочная каша", "Milk porridge", "300.00",
                         ["milk", "gluten"]),
        "tea": dish(drinks, "Шай", "Чай", "Tea", "50.00", []),
    }  # fmt: skip
    today = local_today()
    lunch = menus.set_menu(
        school=school,
        date=today,
        meal="lunch",
        items=[(dishes[name], None) for name in ("borscht", "plov", "compote", "peanut_bar")],
        publish=True,
    )
    breakfast = menus.set_menu(
        school=school,
        date=today,
        meal="breakfast",
        items=[(dishes["porridge"], None), (dishes["tea"], None)],
        publish=True,
    )
    items = {item.dish_id: item for item in lunch.items.all()} | {
        item.dish_id: item for item in breakfast.items.all()
    }
    return Menu(
        lunch=lunch,
        breakfast=breakfast,
        dish=dishes,
        item={name: items[d.pk] for name, d in dishes.items()},
        category={"soups": soups, "mains": mains, "sweets": sweets, "drinks": drinks},
    )


@dataclass
class Terminal:
    """A canteen POS terminal: signs its calls as the device API requires."""

    device: Any
    secret: str
    client: Client = field(default_factory=lambda: Client(HTTP_ACCEPT_LANGUAGE="en"))

    def post(self, path: str, payload: Any, *, language: str = "en") -> Any:
        from kezekshi.access.device_auth import signed_headers

        body = json.dumps(payload).encode()
        full = f"/api/v1/canteen{path}"
        headers = signed_headers(
            device_id=self.device.pk, secret=self.secret, method="POST", path=full, body=body
        )
        return self.client.post(
            full,
            data=body,
            content_type="application/json",
            headers={**headers, "Accept-Language": language},  # type: ignore[arg-type]
        )

    def get(self, path: str) -> Any:
        from kezekshi.access.device_auth import signed_headers

        full = f"/api/v1/canteen{path}"
        headers = signed_headers(
            device_id=self.device.pk, secret=self.secret, method="GET", path=full, body=b""
        )
        return self.client.get(full, headers=headers)  # type: ignore[arg-type]

    def sell(self, pupil: Pupil, txn_id: str, *items: Any, language: str = "en") -> Any:
        lines = [
            {"menu_item_id": entry[0].pk, "quantity": entry[1]}
            if isinstance(entry, tuple)
            else {"menu_item_id": entry.pk, "quantity": 1}
            for entry in items
        ]
        return self.post(
            "/sales", {"txn_id": txn_id, "pupil_id": pupil.pk, "items": lines}, language=language
        )


def make_terminal(school: Any, name: str = "Касса 1") -> Terminal:
    from kezekshi.access import services as access_services

    device, secret = access_services.register_device(
        school=school, name=name, kind="pos_terminal", door=None
    )
    return Terminal(device, secret)


@pytest.fixture
def terminal(school: Any) -> Terminal:
    return make_terminal(school)


@pytest.fixture
def funded(wallet: Wallet, kaspi: PaymentProvider) -> Wallet:
    """The pupil's wallet with 2,000 ₸ on it."""
    top_up(wallet, kaspi, "2000.00", "fund-1", at="2025-09-01 08:00")
    wallet.refresh_from_db()
    return wallet
