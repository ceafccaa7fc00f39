"""The parents' app on a phone: SMS-code sign-in, the children, and what makes it a PWA."""

from __future__ import annotations

import json
from typing import Any

import pytest
from django.conf import settings
from playwright.sync_api import Page, expect

from kezekshi.e2e.conftest import MOTHER_PHONE, SCREENSHOTS
from kezekshi.e2e.helpers import sms_code, translated
from kezekshi.people.models import Guardianship, Pupil

pytestmark = pytest.mark.browser
LANGUAGE = "kk"

PHONE_AS_TYPED = "8 701 555 01 23"  # how parents in Kazakhstan usually write it


def t(msgid: str, **params: Any) -> str:
    return translated(LANGUAGE, msgid, **params)


@pytest.fixture
def browser_context_args() -> dict[str, Any]:
    """A small Android phone."""
    return {
        "locale": "kk-KZ",
        "viewport": {"width": 360, "height": 740},
        "device_scale_factor": 2,
        "is_mobile": True,
        "has_touch": True,
    }


def ask_for_a_code(page: Page) -> str:
    """Type the phone in, ask for a code, and read it from the SMS outbox."""
    page.goto("/app/")
    page.fill("#phone", PHONE_AS_TYPED)
    page.get_by_role("button", name=t("Get a code")).click()
    expect(page.locator("#code")).to_be_visible()
    expect(page.get_by_text(MOTHER_PHONE)).to_be_visible()
    return sms_code(MOTHER_PHONE)


def fits_the_screen(page: Page) -> bool:
    """No sideways scrolling: a phone browser would zoom the page out to fit it."""
    viewport = page.viewport_size
    assert viewport is not None
    width = page.evaluate("document.documentElement.scrollWidth")
    return bool(width <= viewport["width"])


def test_a_parent_signs_in_with_an_sms_code_and_sees_the_child(
    page: Page, pupil: Pupil, mother: Guardianship
) -> None:
    code = ask_for_a_code(page)

    page.fill("#code", code)
    page.get_by_role("button", name=t("Sign in"), exact=True).click()

    expect(page.locator("h1")).to_have_text(t("My children"))
    child = page.locator(".card.child")
    expect(child).to_have_count(1)
    expect(child.locator("h2")).to_have_text("Әлия Сейтқали")
    expect(child).to_contain_text(pupil.account_number)
    assert fits_the_screen(page), "the children page scrolls sideways on a 360 px phone"
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=SCREENSHOTS / "parents-home.png", full_page=True)


def test_a_wrong_code_says_how_many_attempts_are_left(
    page: Page, pupil: Pupil, mother: Guardianship
) -> None:
    code = ask_for_a_code(page)
    wrong = f"{(int(code) + 1) % 1_000_000:06d}"

    page.fill("#code", wrong)
    page.get_by_role("button", name=t("Sign in"), exact=True).click()

    left = settings.OTP_MAX_ATTEMPTS - 1
    expect(page.get_by_role("alert")).to_have_text(
        t("Wrong code. Attempts left: %(left)d.", left=left)
    )
    expect(page.locator("#code")).to_be_visible()
    # A wrong guess costs an attempt, not the code: the right one still lets the parent in.
    page.fill("#code", code)
    page.get_by_role("button", name=t("Sign in"), exact=True).click()
    expect(page.locator(".card.child h2")).to_have_text("Әлия Сейтқали")


def test_the_app_can_be_installed_manifest_and_service_worker(page: Page, live_server: Any) -> None:
    page.goto("/app/")

    href = page.locator("link[rel=manifest]").get_attribute("href")
    assert href == "/app/manifest.webmanifest"
    response = page.request.get(href)
    assert response.status == 200
    assert response.headers["content-type"].startswith("application/manifest+json")
    manifest = json.loads(response.text())
    assert manifest["start_url"] == "/app/"
    assert manifest["scope"] == "/app/"
    assert manifest["display"] == "standalone"
    assert manifest["name"] == "Kezekshi"
    assert manifest["icons"], manifest

    # Chromium treats http://localhost as secure, so the worker must really register.
    scope = page.evaluate(
        """() => Promise.race([
            navigator.serviceWorker.ready.then((registration) => registration.scope),
            new Promise((_, fail) => setTimeout(() => fail(new Error("not ready in 5 s")), 5000)),
        ])"""
    )
    assert scope == f"{live_server.url}/app/"
    script = page.request.get("/app/sw.js")
    assert script.status == 200
    assert script.headers["content-type"].startswith("text/javascript")


def test_a_new_parent_reads_the_policy_and_consents_before_seeing_the_child(
    page: Page, pupil: Pupil, mother: Guardianship, school: Any
) -> None:
    from kezekshi.privacy import services as privacy_services
    from kezekshi.privacy.models import Consent

    draft = privacy_services.draft_policy(operator_name="ТОО «Kezekshi»", operator_bin=school.bin)
    privacy_services.publish_policy(policy=draft, by=None)
    code = ask_for_a_code(page)
    page.fill("#code", code)
    page.get_by_role("button", name=t("Sign in"), exact=True).click()

    expect(page.locator("h1")).to_have_text(t("Consent to personal-data processing"))
    expect(page.locator(".policy-text")).to_contain_text("Трансшекаралық беру")
    expect(page.get_by_text("Әлия Сейтқали")).to_be_visible()
    assert fits_the_screen(page), "the consent page scrolls sideways on a 360 px phone"
    page.get_by_role("checkbox").check()
    page.get_by_role("button", name=t("Give consent and continue")).click()

    expect(page.locator("h1")).to_have_text(t("My children"))
    assert Consent.objects.filter(subject_person=pupil.person, as_representative=True).exists()
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=SCREENSHOTS / "parents-after-consent.png", full_page=True)
