"""The cashier's page in a real browser: a USB card reader types the card's number and
Enter, the cashier taps dishes and sells; a dish with the child's allergen cannot be
tapped."""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal
from typing import Any

import pytest
from playwright.sync_api import Page, expect

from kezekshi.access.models import Credential
from kezekshi.accounts.models import User
from kezekshi.accounts.roles import Role
from kezekshi.canteen import controls, services
from kezekshi.canteen.models import PaymentProvider, Sale, Wallet
from kezekshi.canteen.tests.conftest import make_menu, make_provider, top_up
from kezekshi.conftest import PASSWORD
from kezekshi.core.models import School
from kezekshi.e2e.conftest import SCREENSHOTS
from kezekshi.e2e.helpers import sign_in, translated
from kezekshi.people.models import Pupil

pytestmark = pytest.mark.browser
LANGUAGE = "kk"


def t(msgid: str) -> str:
    return translated(LANGUAGE, msgid)


def test_the_cashier_identifies_by_a_typed_card_adds_dishes_and_sells(
    page: Page,
    ledger_flushable: None,
    school: School,
    pupil: Pupil,
    make_user: Callable[..., User],
) -> None:
    # given a cashier, today's menu, a pupil with a card, 2,000 ₸ and a peanut allergy
    make_user(Role.CASHIER, school, email="cashier@school.kz")
    admin = make_user(Role.SCHOOL_ADMIN, school)
    menu = make_menu(school)
    Credential.objects.create(school=school, person=pupil.person, kind="card", value="04A23B1C")
    kaspi: Any = make_provider("kaspi", PaymentProvider.Protocol.KASPI)
    wallet = services.wallet_for(pupil=pupil)
    top_up(wallet, kaspi, "2000.00", "e2e-1")
    controls.set_controls(pupil=pupil, by=admin, daily_limit=None, allergens=["peanuts"])

    sign_in(page, login="cashier@school.kz", password=PASSWORD)
    page.goto("/canteen/till/")
    # when the USB reader types the card's number and Enter into the focused box
    expect(page.locator("#find")).to_be_focused()
    page.keyboard.type("04:A2:3B:1C")
    page.keyboard.press("Enter")
    # then the pupil's card shows
    expect(page.locator("#pupil-name")).to_have_text(pupil.person.full_name)
    expect(page.locator("#balance")).to_contain_text("2000.00")
    # and the peanut bar cannot be tapped
    expect(page.locator(f'button.dish[data-item="{menu.item["peanut_bar"].pk}"]')).to_be_disabled()
    # when the cashier taps plov once and compote twice, then sells
    page.locator(f'button.dish[data-item="{menu.item["plov"].pk}"]').click()
    compote = page.locator(f'button.dish[data-item="{menu.item["compote"].pk}"]')
    compote.click()
    compote.click()
    expect(page.locator("#total")).to_have_text("900.00")
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=SCREENSHOTS / "canteen-till.png", full_page=True)
    page.locator("#sell").click()
    # then the sale is made once and the page is ready for the next pupil
    expect(page.locator(".messages")).to_contain_text(pupil.person.full_name)
    expect(page.locator("#find")).to_be_focused()
    sale = Sale.objects.get()
    assert sale.total == Decimal("900.00")
    assert Wallet.objects.get(pk=wallet.pk).balance == Decimal("1100.00")
    expect(page.locator("#recent")).to_contain_text("900.00")
