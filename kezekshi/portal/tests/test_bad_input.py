"""Bad input typed into a URL or a request body gives 4xx or a fallback, never a 500."""

from __future__ import annotations

from typing import Any

import pytest
from django.test import Client

from kezekshi.accounts import services as accounts
from kezekshi.accounts.models import User
from kezekshi.accounts.roles import Role
from kezekshi.conftest import verified_client
from kezekshi.people.models import Pupil
from kezekshi.privacy.tests.family import make_family, signed_in

pytestmark = pytest.mark.django_db

BAD_PAGES = [
    "/visitors/?date=2024-02-30",
    "/visitors/?date=0001-01-01",
    "/pick-ups/log/?date=2024-13-01",
    "/pick-ups/?class=abc",
    "/pick-ups/?class=²",
    "/pick-ups/?class=99999999999999999999999999",
    "/attendance/?class=²",
    "/attendance/day/?date=0001-01-01",
    "/attendance/day/?date=9999-12-31",
    "/attendance/day/?class=99999999999999999999999999",
    "/attendance/day/?class=١",
    "/attendance/month/?month=9999-12",
    "/attendance/month/?month=0001-01",
    "/attendance/month/?month=²-1",
    "/attendance/staff/?month=9999-12",
    "/attendance/excuse/?date=9999-12-31",
    "/guard/inside/?zone=²",
    "/guard/inside/?zone=99999999999999999999999999",
    "/guard/feed/rows/?after=²",
    "/guard/feed/rows/?after=99999999999999999999999999",
    "/guard/feed/rows/?ids=²",
    "/guard/feed/rows/?since=99999999999999999999",
]


@pytest.mark.parametrize("url", BAD_PAGES)
def test_a_bad_query_is_never_a_server_error(
    url: str, school: Any, pupil: Pupil, make_user: Any
) -> None:
    # given a school admin, who may open every one of these pages
    client = verified_client(make_user(Role.SCHOOL_ADMIN, school))
    client.raise_request_exception = False
    # when the URL carries a malformed or out-of-range value
    response = client.get(url)
    # then the page falls back or refuses, without a server error
    assert response.status_code < 500, (url, response.status_code)


@pytest.mark.parametrize("body", [{"ids": [10**30]}, {"ids": [0]}, {"ids": [-1]}, {"ids": ["²"]}])
def test_marking_notices_read_with_impossible_ids_is_a_422(body: dict[str, Any]) -> None:
    # given a signed-in API user
    user = User.objects.create_user(phone="+77015550101", full_name="Гүлнар")
    token = accounts.issue_api_token(user=user, user_agent="test")
    client = Client(headers={"Authorization": f"Bearer {token}"}, raise_request_exception=False)
    # when they mark notices read with an id no database holds
    response = client.post(
        "/api/v1/notifications/me/notifications/read", body, content_type="application/json"
    )
    # then the request is refused as invalid
    assert response.status_code == 422, response.content


@pytest.mark.parametrize(
    "query", ["after_id=99999999999999999999", "before_id=99999999999999999999"]
)
def test_paging_notices_with_impossible_ids_is_a_422(query: str) -> None:
    user = User.objects.create_user(phone="+77015550101", full_name="Гүлнар")
    token = accounts.issue_api_token(user=user, user_agent="test")
    client = Client(headers={"Authorization": f"Bearer {token}"}, raise_request_exception=False)
    response = client.get(f"/api/v1/notifications/me/notifications?{query}")
    assert response.status_code == 422, response.content


@pytest.mark.parametrize("month", ["9999-12", "0001-01", "²-1", "2025-13"])
def test_a_parents_bad_month_falls_back_to_this_month(month: str, pupil: Pupil) -> None:
    # given a mother signed in to the parents' app
    family = make_family(pupil)
    client = signed_in(family.mother)
    client.raise_request_exception = False
    # when she asks for an impossible month of her child's attendance
    response = client.get(f"/app/children/{pupil.pk}/attendance/", {"month": month})
    # then she gets a page (this month), not a server error
    assert response.status_code == 200, response.status_code
