"""The parents' pick-up page: a legal representative names and revokes trusted adults."""

from __future__ import annotations

from typing import Any

import pytest

from kezekshi.access.models import TrustedAdult
from kezekshi.people.models import Pupil
from kezekshi.privacy.tests.family import Family, make_family, signed_in, stranger_with_child

pytestmark = pytest.mark.django_db


@pytest.fixture
def family(pupil: Pupil) -> Family:
    return make_family(pupil)


def test_a_mother_names_a_trusted_adult_and_revokes_her(family: Family) -> None:
    # given the mother on her child's pick-up page
    client = signed_in(family.mother)
    url = f"/app/children/{family.first.pk}/pick-up/"
    assert "Nobody yet." in client.get(url).content.decode()
    # when she names the aunt
    response = client.post(
        url, {"full_name": "Айгүл Нұрланқызы", "phone": "8 701 555 77 88", "relation": "aunt"}
    )
    # then the aunt is listed, with her phone as the school will see it
    assert response.status_code == 302
    page = client.get(url).content.decode()
    assert "Айгүл Нұрланқызы" in page and "+77015557788" in page
    adult = TrustedAdult.objects.get()
    assert adult.pupil == family.first and adult.added_by == family.mother
    # when she revokes her, the aunt is gone from the page but kept on record
    client.post(f"{url}{adult.pk}/revoke/")
    listed = client.get(url).content.decode().split('id="trusted-adults"')[1]
    assert "Айгүл Нұрланқызы" not in listed
    adult.refresh_from_db()
    assert adult.revoked_at is not None


def test_a_bad_phone_is_shown_and_nothing_is_saved(family: Family) -> None:
    response = signed_in(family.mother).post(
        f"/app/children/{family.first.pk}/pick-up/",
        {"full_name": "Айгүл", "phone": "123", "relation": "aunt"},
    )
    assert response.status_code == 422
    assert "Kazakh mobile number" in response.content.decode()
    assert not TrustedAdult.objects.exists()


def test_nobody_but_a_legal_representative_reaches_the_page(family: Family, school: Any) -> None:
    stranger, _their_child = stranger_with_child(school)
    aunt = TrustedAdult.objects.create(
        school=school,
        pupil=family.first,
        full_name="Айгүл",
        phone="+77015557788",
        relation="aunt",
        added_by=family.mother,
    )
    url = f"/app/children/{family.first.pk}/pick-up/"
    for outsider in (stranger, family.grandmother):
        client = signed_in(outsider)
        assert client.get(url).status_code == 404
        assert (
            client.post(
                url, {"full_name": "X", "phone": "+77015550199", "relation": "r"}
            ).status_code
            == 404
        )
        assert client.post(f"{url}{aunt.pk}/revoke/").status_code == 404
    assert TrustedAdult.objects.filter(revoked_at__isnull=True).count() == 1
    anonymous = signed_in(family.mother)
    anonymous.logout()
    assert anonymous.get(url).status_code == 302


def test_another_childs_trusted_adult_cannot_be_revoked_through_this_child(
    family: Family,
) -> None:
    client = signed_in(family.mother)
    client.post(
        f"/app/children/{family.second.pk}/pick-up/",
        {"full_name": "Сосед", "phone": "+77015550199", "relation": "neighbour"},
    )
    neighbour = TrustedAdult.objects.get()
    response = client.post(f"/app/children/{family.first.pk}/pick-up/{neighbour.pk}/revoke/")
    assert response.status_code == 404
    neighbour.refresh_from_db()
    assert neighbour.revoked_at is None
