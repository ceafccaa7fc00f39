"""The gateway writes a snapshot into an empty database, keeping the server's ids, and the
unchanged access decisions answer from it as the server would."""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

import pytest

from kezekshi.access import credentials, decisions, services
from kezekshi.access.credentials import normalise_card_uid
from kezekshi.access.models import (
    AccessEvent,
    AccessGroup,
    AccessSettings,
    Credential,
    Device,
    Door,
    TimeWindow,
    Zone,
)
from kezekshi.access.tests.conftest import Terminal, almaty_at
from kezekshi.core.models import Shift
from kezekshi.edge import mirror
from kezekshi.edge.models import SchoolKey
from kezekshi.people.models import Person, Pupil, SchoolClass, StaffMember

MONDAY_MORNING = almaty_at("2025-12-01", "07:52")


def wipe(school_id: int) -> None:
    """The gateway's fresh database: nothing of the school but the school row itself."""
    Credential.objects.filter(school_id=school_id).delete()
    AccessGroup.objects.filter(school_id=school_id).delete()
    TimeWindow.objects.filter(school_id=school_id).delete()
    Pupil.objects.filter(school_id=school_id).delete()
    StaffMember.objects.filter(school_id=school_id).delete()
    SchoolClass.objects.filter(school_id=school_id).delete()
    Person.objects.filter(school_id=school_id).delete()
    AccessSettings.objects.filter(school_id=school_id).delete()
    Device.objects.filter(school_id=school_id).delete()
    Door.objects.filter(school_id=school_id).delete()
    Zone.objects.filter(school_id=school_id).delete()
    Shift.objects.filter(school_id=school_id).delete()
    SchoolKey.objects.filter(school_id=school_id).delete()
    mirror._keys.clear()
    decisions.forget_rules()


def decide(school_id: int, door_id: int, value: str, kind: str = "card") -> decisions.Decision:
    return decisions.decide(
        school_id=school_id,
        door_id=door_id,
        direction="in",
        at=MONDAY_MORNING,
        credential_kind=kind,
        credential_value=value,
    )


@pytest.fixture
def plain_card(school: Any, school_class: Any) -> Credential:
    """A pupil with a card, written straight to the tables (no audit entry, which the
    gateway's fresh database of these tests could not drop)."""
    person = Person.objects.create(
        school=school,
        last_name="Сейтқали",
        first_name="Әлия",
        iin="120503600127",
        phone="+77010000001",
    )
    Pupil.objects.create(
        school=school, person=person, school_class=school_class, account_number="10010000001"
    )
    card = Credential.objects.create(
        school=school, person=person, kind="card", value=normalise_card_uid("123,45678")
    )
    services.bump_rules(school_id=school.pk)
    return card


def test_an_applied_snapshot_decides_as_the_server(
    django_capture_on_commit_callbacks: Any,
    school: Any,
    shifts: Any,
    groups: Any,
    plain_card: Credential,
    turnstile: Terminal,
) -> None:
    card = plain_card
    door_id = turnstile.device.door_id
    assert door_id is not None
    before = decide(school.pk, door_id, "123,45678")
    data = mirror.snapshot(school=school, since=None)
    # Given the gateway's empty database
    wipe(school.pk)
    assert decide(school.pk, door_id, "123,45678").reason == "unknown_credential"
    # When the snapshot is applied (twice: it is idempotent)
    with django_capture_on_commit_callbacks(execute=True):
        mirror.apply(data, school_id=school.pk)
    mirror.apply(data, school_id=school.pk)
    # Then the same ids are back, minimised, and the decision is the server's
    person = Person.objects.get()
    assert person.pk == card.person_id
    assert (person.first_name, person.last_name, person.iin, person.phone) == ("Әлия", "С", "", "")
    after = decide(school.pk, door_id, "123,45678")
    assert (after.allowed, after.reason, after.person and after.person.pk) == (
        before.allowed,
        before.reason,
        before.person and before.person.pk,
    )
    assert after.allowed and after.pupil_class == "5 Ә"
    assert Device.objects.get(pk=turnstile.device.pk).secret == turnstile.secret


def test_deletions_reach_the_gateway_but_passes_keep_their_door(
    django_capture_on_commit_callbacks: Any,
    school: Any,
    groups: Any,
    plain_card: Credential,
    turnstile: Terminal,
) -> None:
    first = mirror.snapshot(school=school, since=None)
    # Given a pass recorded at the gateway through the turnstile
    services.record_passes(
        device=turnstile.device,
        reports=[
            services.PassReport("r1", "in", MONDAY_MORNING, True, "ok", turnstile.device.door_id)
        ],
    )
    # When the server no longer has the card nor the turnstile
    data = dict(first)
    data["credential_ids"], data["credentials"] = [], []
    data["tables"] = {**first["tables"], "devices": []}
    with django_capture_on_commit_callbacks(execute=True):
        applied = mirror.apply(data, school_id=school.pk)
    # Then the card is gone; the turnstile stays for the pass that names it
    assert not Credential.objects.exists()
    assert Device.objects.filter(pk=turnstile.device.pk).exists()
    assert applied.kept == 1 and AccessEvent.objects.count() == 1


def test_a_face_passes_at_the_gateway_only_with_consent_held_on_the_server(
    django_capture_on_commit_callbacks: Any,
    school: Any,
    groups: Any,
    plain_card: Credential,
    turnstile: Terminal,
    settings: Any,
) -> None:
    person = plain_card.person
    assert person is not None
    door_id = turnstile.device.door_id
    assert door_id is not None
    # Given a face template registered without consent (as an older import might have)
    Credential.objects.create(school=school, person=person, kind="face", value="tpl-1")
    services.bump_rules(school_id=school.pk)
    assert decide(school.pk, door_id, "tpl-1", "face").reason == "biometric_no_consent"
    data = mirror.snapshot(school=school, since=None)
    # Then the server does not send it
    assert data["tables"]["biometrics"] == []
    # and the gateway, asking its mirror instead of the ledger, refuses the face
    settings.BIOMETRIC_CONSENT_SOURCE = "kezekshi.edge.mirror.mirrored_biometric_states"
    wipe(school.pk)
    with django_capture_on_commit_callbacks(execute=True):
        mirror.apply(data, school_id=school.pk)
    assert not decide(school.pk, door_id, "tpl-1", "face").allowed
    # When a template reference arrives in the mirror (the consent holds on the server)
    consented = {**data, "tables": {**data["tables"], "biometrics": [
        {"id": 999, "school_id": school.pk, "person_id": person.pk, "kind": "face",
         "value": "tpl-1", "status": "active", "valid_from": None, "valid_until": None}
    ]}}  # fmt: skip
    with django_capture_on_commit_callbacks(execute=True):
        mirror.apply(consented, school_id=school.pk)
    decisions.forget_rules()
    # Then the gateway lets the face through, as the server would with the consent
    answer = decide(school.pk, door_id, "tpl-1", "face")
    assert (answer.allowed, answer.reason) == (True, "ok")


def test_qr_passes_and_pins_open_at_the_gateway_with_the_school_keys_it_was_sent(
    django_capture_on_commit_callbacks: Any,
    school: Any,
    other_school: Any,
    groups: Any,
    plain_card: Credential,
    turnstile: Terminal,
    settings: Any,
) -> None:
    person = plain_card.person
    assert person is not None
    door_id = turnstile.device.door_id
    assert door_id is not None
    # Given a pupil with a QR pass credential and a PIN, issued on the server
    Credential.objects.create(school=school, person=person, kind="qr", value="qr-aliya-1")
    Credential.objects.create(
        school=school,
        person=person,
        kind="pin",
        value=credentials.pin_digest(school_id=school.pk, pin="482913"),
    )
    services.bump_rules(school_id=school.pk)
    qr = credentials.sign_qr(
        school_id=school.pk, credential_value="qr-aliya-1", valid_for=dt.timedelta(days=1)
    )
    foreign = credentials.sign_qr(
        school_id=other_school.pk, credential_value="qr-aliya-1", valid_for=dt.timedelta(days=1)
    )
    data = mirror.snapshot(school=school, since=None)
    # The snapshot carries this school's keys, not the server's secret
    assert set(data["keys"]) == {"qr", "pin", "zk"}
    assert settings.SECRET_KEY not in json.dumps(data)
    # When the gateway, holding no keys yet, is asked
    settings.SCHOOL_KEY_SOURCE = "kezekshi.edge.mirror.mirrored_school_key"
    wipe(school.pk)
    Credential.objects.filter(school=school).delete()
    assert decide(school.pk, door_id, "482913", "pin").reason == "unknown_credential"
    assert decide(school.pk, door_id, qr, "qr").reason == "qr_invalid"
    # Then after the snapshot is applied the QR pass and the PIN open the door
    with django_capture_on_commit_callbacks(execute=True):
        mirror.apply(data, school_id=school.pk)
    by_qr = decide(school.pk, door_id, qr, "qr")
    by_pin = decide(school.pk, door_id, "482913", "pin")
    assert (by_qr.allowed, by_qr.person and by_qr.person.pk) == (True, person.pk)
    assert (by_pin.allowed, by_pin.person and by_pin.person.pk) == (True, person.pk)
    # and the gateway cannot vouch for another school's pass, a wrong PIN or a forgery
    assert decide(school.pk, door_id, foreign, "qr").reason == "qr_invalid"
    assert decide(school.pk, door_id, "482914", "pin").reason == "unknown_credential"
    forged = qr[:-4] + ("AAAA" if not qr.endswith("AAAA") else "BBBB")
    assert decide(school.pk, door_id, forged, "qr").reason == "qr_invalid"


def test_a_listed_person_missing_after_a_delta_makes_the_next_sync_full(
    school: Any, groups: Any, plain_card: Credential
) -> None:
    data = mirror.snapshot(school=school, since=None)
    assert not mirror.missing(data)
    # Given a person the server lists whose row never came (written in a long transaction)
    assert mirror.missing({**data, "person_ids": [*data["person_ids"], 10**9]})
