"""The guard's live feed in a real browser: a pass at the turnstile shows while the page is open."""

from __future__ import annotations

import json
import urllib.request
from collections.abc import Callable
from typing import Any

import pytest
from playwright.sync_api import Page, expect

from kezekshi.access.decisions import message
from kezekshi.access.device_auth import signed_headers
from kezekshi.access.tests import conftest as access_fixtures
from kezekshi.access.tests.conftest import Terminal
from kezekshi.accounts.models import User
from kezekshi.accounts.roles import Role
from kezekshi.conftest import PASSWORD
from kezekshi.core.models import School
from kezekshi.e2e.helpers import sign_in, translated
from kezekshi.people.models import Pupil

pytestmark = pytest.mark.browser
LANGUAGE = "kk"  # the browser's language (``browser_context_args``)
DECIDE = "/api/v1/access/decide"
MONDAY_0752 = "2026-11-30T07:52:00+05:00"

# The access app's fixtures: a building, its main door, access groups, a turnstile, a card.
building = access_fixtures.building
main_door = access_fixtures.main_door
groups = access_fixtures.groups
turnstile = access_fixtures.turnstile
card = access_fixtures.card


def at_the_turnstile(server: str, terminal: Terminal, credential: str, record_no: str) -> Any:
    """The turnstile's own HTTP call to the live server, signed like the firmware signs it."""
    body = json.dumps(
        {"credential": credential, "time": MONDAY_0752, "record_no": record_no}
    ).encode()
    headers = signed_headers(
        device_id=terminal.device.pk, secret=terminal.secret, method="POST", path=DECIDE, body=body
    )
    request = urllib.request.Request(  # noqa: S310 - the live server's own http:// address
        server + DECIDE,
        data=body,
        method="POST",
        headers={"Content-Type": "application/json", **headers},
    )
    with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310
        return json.loads(response.read())


def test_a_pass_at_the_turnstile_appears_on_the_open_live_feed(
    page: Page,
    live_server: Any,
    school: School,
    pupil: Pupil,
    card: Any,
    groups: Any,
    turnstile: Terminal,
    make_user: Callable[..., User],
) -> None:
    # Given a guard with the live feed open and connected
    make_user(Role.GUARD, school, email="guard@school.kz")
    sign_in(page, login="guard@school.kz", password=PASSWORD)
    page.goto("/guard/")
    expect(page.locator("#feed-status")).to_have_text(translated(LANGUAGE, "live"))
    expect(page.locator("#feed-rows tr[data-id]")).to_have_count(0)

    # When the pupil's card passes the turnstile, and then an unknown card is refused
    passed = at_the_turnstile(live_server.url, turnstile, "123,45678", "1001")
    refused = at_the_turnstile(live_server.url, turnstile, "04A23B1C", "1002")

    # Then both rows appear without reloading the page, newest first, the refusal with
    # the reason the terminal gave
    assert passed["allowed"] is True and refused["allowed"] is False
    rows = page.locator("#feed-rows tr[data-id]")
    expect(rows).to_have_count(2)
    expect(page.locator(f'tr[data-id="{passed["event_id"]}"]')).to_contain_text(
        pupil.person.full_name
    )
    expect(page.locator(f'tr[data-id="{passed["event_id"]}"]')).to_contain_text("07:52:00")
    expect(rows.first).to_have_attribute("data-id", str(refused["event_id"]))
    expect(rows.first).to_contain_text(message("unknown_credential", LANGUAGE))
