"""The native simulator speaks the signed JSON API over real HTTP: decisions recorded with
its record numbers, its log reported in batches, and re-sent after a reboot with the
same answers and nothing stored twice."""

from __future__ import annotations

import io
from typing import Any

import pytest

from kezekshi.access import services
from kezekshi.access.credentials import normalise_card_uid
from kezekshi.access.models import AccessEvent, Credential
from kezekshi.access.tests.conftest import Terminal
from kezekshi.devices.simulator.native import NativeTerminal, run
from kezekshi.people.models import Person, Pupil

pytestmark = pytest.mark.django_db(transaction=True, serialized_rollback=True)


def test_a_native_terminal_reports_and_resends_after_a_reboot(
    live_server: Any, school: Any, school_class: Any, groups: Any, turnstile: Terminal
) -> None:
    person = Person.objects.create(school=school, last_name="Сейтқали", first_name="Әлия")
    Pupil.objects.create(
        school=school, person=person, school_class=school_class, account_number="10010000001"
    )
    Credential.objects.create(
        school=school, person=person, kind="card", value=normalise_card_uid("123,45678")
    )
    services.bump_rules(school_id=school.pk)
    terminal = NativeTerminal(
        server=live_server.url, device_id=turnstile.device.pk, secret=turnstile.secret,
        cards=["123,45678", "200,12345"],
    )  # fmt: skip
    assert terminal.state()["mode"] == "normal"
    answers = [terminal.present(card) for card in terminal.cards]
    assert [a["reason"] for a in answers][1] == "unknown_credential"
    first = terminal.report()
    terminal.reboot()
    again = terminal.report()
    assert [r["event_id"] for r in again] == [r["event_id"] for r in first]
    assert AccessEvent.objects.filter(device=turnstile.device).count() == 2


def test_the_command_entry_point_runs_passes_and_a_reboot(
    live_server: Any, school: Any, groups: Any, turnstile: Terminal
) -> None:
    out = io.StringIO()
    run(
        {"server": live_server.url, "device_id": turnstile.device.pk,
         "secret": turnstile.secret, "passes": 3, "rate": 0, "reboot": True},
        out,
    )  # fmt: skip
    assert "same answers: True" in out.getvalue()
    assert AccessEvent.objects.filter(device=turnstile.device).count() == 3
