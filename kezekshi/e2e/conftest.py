"""Headless Chromium for the end-to-end tests: a fresh browser for each test.

Chromium is Debian's (``apt-get install chromium``); Playwright's own browser download is
not used. A missing browser fails the tests loudly; it never skips them.

Why not one browser for the whole session: Playwright's sync API keeps an asyncio loop
running in the main thread for as long as it is started. While it runs, Django refuses
ORM calls from the test body (hence ``DJANGO_ALLOW_ASYNC_UNSAFE`` below), ``async_to_sync``
refuses to run at all, and asgiref keeps Django's database connections in a context
variable instead of the thread — so the test database's own connection, which carries
the serialized rows for the rollback, is out of reach and the regions written by the
data migrations are not restored after the flush. Starting Playwright after the
database is set up and stopping it before the database is flushed keeps all of that
inside one test. A launch costs about a second.
"""

from __future__ import annotations

import re
from collections.abc import Generator
from pathlib import Path
from typing import Any

import pytest
from django.db import connection, connections
from playwright.sync_api import Page, sync_playwright

from kezekshi.canteen.triggers import drop_ledger_triggers
from kezekshi.people import services as people_services
from kezekshi.people.models import Guardianship, Pupil

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
SCREENSHOTS = Path("/tmp/kezekshi-e2e")  # noqa: S108 - a place to look at after a failure


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Any:
    """Keep each phase's report on the test, so ``page`` knows whether the test failed."""
    report = yield
    setattr(item, f"report_{report.when}", report)
    return report


@pytest.fixture(autouse=True)
def _quick_password_hashing(settings: Any) -> None:
    """Argon2 costs a third of a second per hash and per sign-in; these tests are not
    about hashing, and the live server reads the same settings."""
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture
def browser_context_args() -> dict[str, Any]:
    """How the browser presents itself; a module overrides this (the parents' phone)."""
    return {"locale": "kk-KZ", "viewport": {"width": 1280, "height": 800}}


@pytest.fixture
def page(
    request: pytest.FixtureRequest,
    live_server: Any,
    django_db_serialized_rollback: None,
    browser_context_args: dict[str, Any],
    monkeypatch: pytest.MonkeyPatch,
) -> Generator[Page]:
    """A page in a fresh Chromium (no cookies, no service workers) on the live server.

    ``live_server`` makes the test transactional: the database is flushed after it, and
    the serialized rollback puts back the rows data migrations wrote. A failed test
    leaves a full-page screenshot in /tmp/kezekshi-e2e.
    """
    if not CHROMIUM.exists():
        pytest.fail(
            f"{CHROMIUM} is missing: the browser tests need Debian's Chromium. "
            "Install it with `apt-get install chromium`.",
            pytrace=False,
        )
    monkeypatch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        context = browser.new_context(base_url=live_server.url, **browser_context_args)
        context.set_default_timeout(10_000)
        page = context.new_page()
        try:
            yield page
            if any(
                getattr(getattr(request.node, f"report_{when}", None), "failed", False)
                for when in ("setup", "call")
            ):
                SCREENSHOTS.mkdir(parents=True, exist_ok=True)
                name = re.sub(r"[^\w.-]+", "_", request.node.nodeid)
                page.screenshot(path=SCREENSHOTS / f"FAILED-{name}.png", full_page=True)
        finally:
            # Connections the test body opened while the loop ran (see above) are not the
            # test database's own; close them, or PostgreSQL cannot drop the database.
            connections.close_all()
            browser.close()


@pytest.fixture
def ledger_flushable() -> Generator[None]:
    """The live server's test ends with a flush, which the canteen ledger's append-only
    triggers refuse: lift them for it (as the canteen tests' conftest does)."""
    yield
    with connection.cursor() as cursor:
        drop_ledger_triggers(connection, cursor)


MOTHER_PHONE = "+77015550123"


@pytest.fixture
def mother(pupil: Pupil) -> Guardianship:
    """The pupil's mother, a guardian with a phone the parents' app signs in with."""
    return people_services.add_guardian(
        pupil=pupil,
        last_name="Сейтқали",
        first_name="Гүлнар",
        phone=MOTHER_PHONE,
        relation=Guardianship.Relation.MOTHER,
    )
