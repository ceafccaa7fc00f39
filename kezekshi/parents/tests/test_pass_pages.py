"""The child's QR pass in the parents' app: own children only, renewed, refused when blocked."""

from __future__ import annotations

import datetime as dt
import re
from typing import Any

import pytest
from django.utils import timezone

from kezekshi.access import credentials, watchlist
from kezekshi.access.models import Credential
from kezekshi.accounts.roles import Role
from kezekshi.people.models import Guardian, Guardianship, Pupil
from kezekshi.privacy import services as privacy
from kezekshi.privacy.requests import block_person
from kezekshi.privacy.tests.family import Family, make_family, signed_in, stranger_with_child

pytestmark = pytest.mark.django_db


@pytest.fixture
def family(pupil: Pupil) -> Family:
    return make_family(pupil)


def test_the_pass_shows_a_qr_code_that_renews_itself(family: Family) -> None:
    client = signed_in(family.mother)
    # when the mother opens her child's pass
    response = client.get(f"/app/children/{family.first.pk}/pass/")
    # then there is a QR code for the child's own QR credential, and a script renewing it
    assert response.status_code == 200
    page = response.content.decode()
    assert "<svg" in page and "Valid until" in page
    assert f"/app/children/{family.first.pk}/pass/code/" in page and "setTimeout" in page
    assert "no-store" in response["Cache-Control"]
    credential = Credential.objects.get(person=family.first.person, kind="qr", status="active")
    # and the renewed code is another signed text for the same credential
    renewed = client.get(f"/app/children/{family.first.pk}/pass/code/")
    assert renewed.status_code == 200 and "<svg" in renewed.content.decode()
    assert "<html" not in renewed.content.decode()
    assert Credential.objects.filter(person=family.first.person, kind="qr").count() == 1
    assert credential.value not in page  # the raw credential is never shown, only signed


def test_the_code_is_a_signed_pass_valid_for_five_minutes(family: Family, monkeypatch: Any) -> None:
    shown: list[str] = []
    real = credentials.sign_qr

    def spy(**kwargs: Any) -> str:
        shown.append(real(**kwargs))
        return shown[-1]

    monkeypatch.setattr(credentials, "sign_qr", spy)
    signed_in(family.mother).get(f"/app/children/{family.first.pk}/pass/")
    qr = credentials.read_qr(shown[-1], at=timezone.now())
    assert qr.school_id == family.first.school_id
    assert dt.timedelta(minutes=4) < qr.expires_at - timezone.now() <= dt.timedelta(minutes=5)
    with pytest.raises(credentials.QrRefused):
        credentials.read_qr(shown[-1], at=timezone.now() + dt.timedelta(minutes=6))


def test_someone_elses_child_has_no_pass(family: Family, school: Any) -> None:
    stranger, _own = stranger_with_child(school)
    response = signed_in(stranger).get(f"/app/children/{family.first.pk}/pass/")
    assert response.status_code == 404
    assert not Credential.objects.filter(person=family.first.person).exists()


def test_a_blocked_child_gets_no_pass(family: Family) -> None:
    block_person(person=family.first.person, by=None)
    response = signed_in(family.mother).get(f"/app/children/{family.first.pk}/pass/")
    assert response.status_code == 403
    page = response.content.decode()
    assert "blocked" in page and "<svg" not in page
    assert not Credential.objects.filter(person=family.first.person, kind="qr").exists()
    assert not re.search(r"setTimeout", page)


def test_without_consent_the_pass_waits_for_it(family: Family) -> None:
    privacy.publish_policy(
        policy=privacy.draft_policy(
            operator_name="ТОО «Тест»", operator_bin=family.first.school.bin
        ),
        by=None,
    )
    response = signed_in(family.mother).get(f"/app/children/{family.first.pk}/pass/")
    assert response.status_code == 302 and response["Location"].startswith("/app/consent/")


def test_a_guardian_who_may_not_collect_the_child_gets_no_pass(family: Family) -> None:
    # given the grandmother is neither a legal representative nor allowed to collect
    Guardianship.objects.filter(
        pupil=family.first, guardian__person__user=family.grandmother
    ).update(may_pick_up=False)
    # when she opens the child's pass (or its renewed code)
    client = signed_in(family.grandmother)
    response = client.get(f"/app/children/{family.first.pk}/pass/")
    code = client.get(f"/app/children/{family.first.pk}/pass/code/")
    # then both are refused with a reason, and no QR credential is made
    assert response.status_code == 403 and code.status_code == 403
    page = response.content.decode()
    assert "legal representative" in page and "<svg" not in page
    assert "setTimeout" not in page
    assert not Credential.objects.filter(person=family.first.person, kind="qr").exists()


def test_a_guardian_allowed_to_collect_the_child_gets_the_pass(family: Family) -> None:
    # given the grandmother is not a legal representative but may collect the child
    assert Guardianship.objects.get(
        pupil=family.first, guardian__person__user=family.grandmother
    ).may_pick_up
    # when she opens the pass, then she sees the code
    response = signed_in(family.grandmother).get(f"/app/children/{family.first.pk}/pass/")
    assert response.status_code == 200 and "<svg" in response.content.decode()


def test_a_parent_on_the_watch_list_cannot_open_the_childs_pass(
    family: Family, make_user: Any, school: Any
) -> None:
    # given the mother is on the school's active watch list (by her person)
    mother = Guardian.objects.get(school=school, person__user=family.mother)
    watchlist.add_entry(
        school=school,
        full_name="Кто-то Другой",
        phone="",
        reason="court order",
        by=make_user(Role.SCHOOL_ADMIN, school),
        person=mother.person,
    )
    # when she opens her child's pass or its renewed code
    client = signed_in(family.mother)
    response = client.get(f"/app/children/{family.first.pk}/pass/")
    code = client.get(f"/app/children/{family.first.pk}/pass/code/")
    # then both are refused and no code that lets the child in is made
    assert response.status_code == 403 and code.status_code == 403
    assert "<svg" not in response.content.decode() + code.content.decode()
    assert "contact the school" in response.content.decode()
    assert not Credential.objects.filter(person=family.first.person, kind="qr").exists()
