"""The staff portal in a real browser: sign-in with TOTP enrolment, pupils, tenancy, language."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

import pytest
from django.utils import translation
from django_otp.plugins.otp_totp.models import TOTPDevice
from playwright.sync_api import Page, expect

from kezekshi.accounts.models import User
from kezekshi.accounts.roles import Role
from kezekshi.conftest import PASSWORD
from kezekshi.core.models import School
from kezekshi.e2e.conftest import MOTHER_PHONE, SCREENSHOTS
from kezekshi.e2e.helpers import sign_in, totp_now, translated
from kezekshi.people import services as people_services
from kezekshi.people.models import Guardianship, Pupil, SchoolClass

pytestmark = pytest.mark.browser
LANGUAGE = "kk"  # the browser's language (``browser_context_args``)


def t(msgid: str, **params: Any) -> str:
    return translated(LANGUAGE, msgid, **params)


def school_name(school: School, language: str = LANGUAGE) -> str:
    with translation.override(language):
        return school.name


def path_of(page: Page) -> str:
    return re.sub(r"^https?://[^/]+", "", page.url)


@pytest.fixture
def classmate(school: School) -> Pupil:
    """A pupil of another class, so that the class filter has something to hide."""
    other_class = SchoolClass.objects.create(school=school, grade=7, letter="Б", shift=1)
    return people_services.create_pupil(
        school=school, last_name="Абенов", first_name="Нұрлан", school_class=other_class
    )


def test_a_school_admin_enrols_totp_then_finds_a_pupil_and_the_guardian(
    page: Page,
    school: School,
    pupil: Pupil,
    classmate: Pupil,
    mother: Guardianship,
    make_user: Callable[..., User],
) -> None:
    admin = make_user(Role.SCHOOL_ADMIN, school, email="admin@school.kz")

    sign_in(page, login="admin@school.kz", password=PASSWORD)

    # A school admin must enrol an authenticator before reaching any page.
    assert path_of(page).startswith("/login/2fa/")
    expect(page.locator(".card svg")).to_be_visible()  # the QR code
    secret = page.locator("#totp-secret").inner_text().strip()
    assert re.fullmatch(r"[A-Z2-7]{32}", secret), secret
    page.fill("#id_code", totp_now(secret))
    page.get_by_role("button", name=t("Confirm")).click()

    expect(page.locator("h1")).to_have_text(school_name(school))
    assert path_of(page) == "/"
    pupils_stat = page.locator(".stats > div").first
    expect(pupils_stat).to_contain_text(t("pupils"))
    expect(pupils_stat.locator("b")).to_have_text("2")
    assert TOTPDevice.objects.get(user=admin).confirmed
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=SCREENSHOTS / "portal-home.png", full_page=True)

    page.get_by_role("link", name=t("Pupils and classes")).click()
    expect(page.locator("h1")).to_have_text(t("Pupils"))
    rows = page.locator("tbody tr")
    expect(rows).to_have_count(2)

    page.locator(".classes a", has_text="5 Ә").click()
    expect(page.locator("h1")).to_contain_text("5 Ә")
    expect(rows).to_have_count(1)
    expect(rows.first).to_contain_text("Сейтқали Әлия")
    expect(page.get_by_text("Абенов Нұрлан")).to_have_count(0)

    page.get_by_role("link", name="Сейтқали Әлия").click()
    expect(page.locator("h1")).to_have_text("Сейтқали Әлия")
    expect(page.get_by_text(pupil.account_number)).to_be_visible()
    guardian_row = page.locator("tbody tr", has_text="Сейтқали Гүлнар")
    expect(guardian_row).to_contain_text(MOTHER_PHONE)
    expect(guardian_row).to_contain_text(t("Mother"))


def test_a_wrong_password_is_refused_with_a_message(
    page: Page, school: School, make_user: Callable[..., User]
) -> None:
    make_user(Role.SCHOOL_ADMIN, school, email="admin@school.kz")

    sign_in(page, login="admin@school.kz", password="not the password")  # noqa: S106

    expect(page.locator(".errorlist")).to_have_text(t("Wrong e-mail, phone or password."))
    assert path_of(page).startswith("/login/")
    assert not path_of(page).startswith("/login/2fa/")


def test_a_wrong_totp_code_is_refused_and_home_stays_closed(
    page: Page, school: School, make_user: Callable[..., User]
) -> None:
    make_user(Role.SCHOOL_ADMIN, school, email="admin@school.kz")
    sign_in(page, login="admin@school.kz", password=PASSWORD)
    secret = page.locator("#totp-secret").inner_text().strip()
    accepted = {totp_now(secret, drift) for drift in (-1, 0, 1)}
    wrong = next(code for code in ("000000", "111111", "222222") if code not in accepted)

    page.fill("#id_code", wrong)
    page.get_by_role("button", name=t("Confirm")).click()

    expect(page.locator(".errorlist")).to_have_text(t("The code is wrong or has expired."))
    assert path_of(page).startswith("/login/2fa/")
    page.goto("/")
    assert path_of(page).startswith("/login/2fa/")
    expect(page.locator("h1")).to_have_text(t("Two-step sign-in"))
    assert not TOTPDevice.objects.filter(confirmed=True).exists()


def test_a_guard_signs_in_without_a_second_step_and_opens_a_pupil(
    page: Page, school: School, pupil: Pupil, make_user: Callable[..., User]
) -> None:
    make_user(Role.GUARD, school, email="guard@school.kz")

    sign_in(page, login="guard@school.kz", password=PASSWORD)

    assert path_of(page) == "/"
    expect(page.locator("h1")).to_have_text(school_name(school))
    page.goto(f"/pupils/{pupil.pk}/")
    expect(page.locator("h1")).to_have_text("Сейтқали Әлия")


def test_a_guard_of_another_school_never_sees_this_schools_pupil(
    page: Page,
    school: School,
    other_school: School,
    pupil: Pupil,
    make_user: Callable[..., User],
) -> None:
    make_user(Role.GUARD, other_school, email="guard@other.kz")
    sign_in(page, login="guard@other.kz", password=PASSWORD)
    expect(page.locator("h1")).to_have_text(school_name(other_school))

    page.goto("/pupils/")
    expect(page.locator("h1")).to_have_text(t("Pupils"))
    expect(page.get_by_text("Сейтқали")).to_have_count(0)

    for url in (f"/pupils/{pupil.pk}/", f"/pupils/?class={pupil.school_class_id}"):
        response = page.goto(url)
        assert response is not None
        assert response.status in {403, 404}, (url, response.status)
        expect(page.get_by_text("Сейтқали")).to_have_count(0)


def test_switching_the_language_to_russian_changes_the_page_and_is_remembered(
    page: Page, school: School, make_user: Callable[..., User]
) -> None:
    guard = make_user(Role.GUARD, school, email="guard@school.kz")
    sign_in(page, login="guard@school.kz", password=PASSWORD)
    page.goto("/pupils/")
    expect(page.locator("html")).to_have_attribute("lang", "kk")

    page.select_option("#language-select", "ru")

    expect(page.locator("html")).to_have_attribute("lang", "ru")
    assert path_of(page) == "/pupils/"
    expect(page.locator("#language-select")).to_have_value("ru")
    expect(page.locator("#language-select option:checked")).to_have_text("Русский")
    heading = translated("ru", "Pupils")
    expect(page.locator("h1")).to_have_text(heading)
    if heading != "Pupils":  # once Russian is translated, the English msgid must be gone
        expect(page.locator("h1")).not_to_have_text("Pupils")
    guard.refresh_from_db()
    assert guard.language == "ru"
    # The choice belongs to the account: after the next sign-in (the sign-in page itself
    # follows the browser's Kazakh again) it wins over the browser's language.
    page.context.clear_cookies()
    sign_in(page, login="guard@school.kz", password=PASSWORD)
    assert path_of(page) == "/"
    expect(page.locator("html")).to_have_attribute("lang", "ru")
