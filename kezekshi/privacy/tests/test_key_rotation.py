"""Rotating the field-encryption key: old values re-encrypted under the new key."""

from __future__ import annotations

from collections.abc import Iterator
from io import StringIO
from typing import Any

import pytest
from cryptography.fernet import Fernet
from django.core.management import CommandError, call_command
from django.db import connection

from kezekshi.core import crypto
from kezekshi.people.models import Person, Pupil

pytestmark = pytest.mark.django_db
KEY_A = Fernet.generate_key().decode()
KEY_B = Fernet.generate_key().decode()


@pytest.fixture
def keys(settings: Any) -> Iterator[Any]:
    """Set FIELD_ENCRYPTION_KEYS for a test; the cached keys are forgotten on each change."""

    def use(*configured: str) -> None:
        settings.FIELD_ENCRYPTION_KEYS = list(configured)
        crypto.reset_keys()

    yield use
    crypto.reset_keys()  # the settings fixture puts the real keys back after this


def stored_iin(person: Person) -> str:
    with connection.cursor() as cursor:
        cursor.execute("SELECT iin FROM people_person WHERE id = %s", [person.pk])
        return str(cursor.fetchone()[0])


def rotate() -> str:
    out = StringIO()
    call_command("rotate_encryption_keys", "--batch-size", "1", stdout=out)
    return out.getvalue()


def test_values_under_the_old_key_are_readable_with_only_the_new_key_after_rotation(
    keys: Any, pupil: Pupil
) -> None:
    # Given a pupil's IIN encrypted under key A (the fixture wrote it under the default key)
    keys(KEY_A)
    pupil.person.save()
    under_a = stored_iin(pupil.person)
    # When key B is put first and the command runs
    keys(KEY_B, KEY_A)
    output = rotate()
    # Then the stored value changed and reads back with key B alone
    assert "people.Person.iin: 1 re-encrypted, 0 already under the current key" in output
    assert stored_iin(pupil.person) != under_a
    keys(KEY_B)
    assert Person.objects.get(pk=pupil.person.pk).iin == "120503600127"
    # And a second run has nothing left to do
    assert "people.Person.iin: 0 re-encrypted, 1 already under the current key" in rotate()


def test_a_dry_run_counts_but_changes_nothing(keys: Any, pupil: Pupil) -> None:
    keys(KEY_A)
    pupil.person.save()
    before = stored_iin(pupil.person)
    keys(KEY_B, KEY_A)
    out = StringIO()
    call_command("rotate_encryption_keys", "--dry-run", stdout=out)
    assert "1 would be re-encrypted" in out.getvalue()
    assert stored_iin(pupil.person) == before


def test_a_value_no_key_can_read_stops_the_old_keys_being_dropped(keys: Any, pupil: Pupil) -> None:
    keys(KEY_A)
    pupil.person.save()
    keys(KEY_B)  # key A forgotten too early
    with pytest.raises(CommandError, match="could not be read"):
        call_command("rotate_encryption_keys", stdout=StringIO(), stderr=StringIO())
