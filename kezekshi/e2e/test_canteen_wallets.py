"""The pupils' wallets page in a real browser: the school administrator finds a pupil's
wallet from the portal's home page and lets the balance go below zero."""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal
from typing import Any

import pytest
from playwright.sync_api import Page, expect

from kezekshi.accounts.models import User
from kezekshi.accounts.roles import Role
from kezekshi.canteen import services
from kezekshi.canteen.models import PaymentProvider, Wallet
from kezekshi.canteen.tests.conftest import make_provider, top_up
from kezekshi.conftest import PASSWORD
from kezekshi.core.models import School
from kezekshi.e2e.conftest import SCREENSHOTS
from kezekshi.e2e.helpers import enrol_authenticator, sign_in, translated
from kezekshi.people.models import Pupil
from kezekshi.privacy.models import AuditEntry

pytestmark = pytest.mark.browser
LANGUAGE = "kk"


def t(msgid: str) -> str:
    return translated(LANGUAGE, msgid)


def test_a_school_admin_sets_an_overdraft_on_the_wallet_page(
    page: Page,
    ledger_flushable: None,
    school: School,
    pupil: Pupil,
    make_user: Callable[..., User],
) -> None:
    # given a pupil with 300 ₸ and the school's administrator
    make_user(Role.SCHOOL_ADMIN, school, email="admin@school.kz")
    kaspi: Any = make_provider("kaspi", PaymentProvider.Protocol.KASPI)
    wallet = services.wallet_for(pupil=pupil)
    top_up(wallet, kaspi, "300.00", "e2e-1")

    sign_in(page, login="admin@school.kz", password=PASSWORD)
    enrol_authenticator(page, language=LANGUAGE)
    # when the admin opens the wallets from the home page and finds the pupil by name
    page.get_by_role("link", name=t("Pupils' wallets")).click()
    page.fill('input[name="q"]', "Сейтқали")
    page.get_by_role("button", name=t("Show"), exact=True).click()
    row = page.locator("#wallets tbody tr", has_text=pupil.person.full_name)
    expect(row).to_contain_text(pupil.account_number)
    expect(row).to_contain_text("300.00")
    row.get_by_role("link", name=pupil.person.full_name).click()
    expect(page.locator("#pupil-name")).to_have_text(pupil.person.full_name)
    expect(page.locator("#statement")).to_contain_text("+300.00")
    # and lets the balance go 1,500 ₸ below zero, saying why
    page.fill("#id_limit", "1500")
    page.fill("#id_reason", "Ата-анасы жұмада төлейді")
    page.get_by_role("button", name=t("Save"), exact=True).click()
    # then the page shows the new overdraft, and it is saved and audited
    expect(page.locator(".messages")).to_contain_text("1\u202f500.00")
    expect(page.locator("#overdraft")).to_contain_text("1500.00")
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=SCREENSHOTS / "canteen-wallet.png", full_page=True)
    assert Wallet.objects.get(pk=wallet.pk).overdraft_limit == Decimal("1500.00")
    entry = AuditEntry.objects.get(target=f"canteen:overdraft:{wallet.pk}")
    assert entry.details["reason"] == "Ата-анасы жұмада төлейді"
