"""The notification feed: the parents' page and the JSON API, each user's own notices only."""

from __future__ import annotations

from typing import Any

import pytest
from django.test import Client
from django.utils import timezone

from kezekshi.accounts import services as accounts
from kezekshi.accounts.models import User
from kezekshi.notifications.models import Notification
from kezekshi.privacy.tests.family import signed_in

pytestmark = pytest.mark.django_db
FEED = "/api/v1/notifications/me/notifications"


@pytest.fixture
def mother(db: None) -> User:
    return User.objects.create_user(phone="+77015550101", full_name="Гүлнар")


@pytest.fixture
def stranger(db: None) -> User:
    return User.objects.create_user(phone="+77015550103", full_name="Нұрлан")


def _notices(school: Any, user: User, count: int, *, start: int = 0) -> list[Notification]:
    return [
        Notification.objects.create(
            school=school,
            recipient=user,
            kind="pass",
            key=f"pass:{start + n}",
            text=f"Әлия entered school at 07:{start + n:02d} (main entrance)",
            status="sent",
        )
        for n in range(count)
    ]


def _bearer(user: User) -> Client:
    token = accounts.issue_api_token(user=user, user_agent="test")
    return Client(headers={"Authorization": f"Bearer {token}"})


def test_the_feed_page_lists_own_notices_newest_first_and_marks_them_read(
    school: Any, mother: User, stranger: User
) -> None:
    # given three notices to the mother, one read, and one to a stranger
    first, second, third = _notices(school, mother, 3)
    first.read_at = timezone.now()
    first.save()
    _notices(school, stranger, 1, start=50)
    client = signed_in(mother)
    # when she opens the feed
    page = client.get("/app/notifications/").content.decode()
    # then her notices are there newest first, the unread marked, the stranger's absent
    assert page.index(third.text) < page.index(second.text) < page.index(first.text)
    assert page.count("<strong>New</strong>") == 2 and "(2 new)" in page
    assert "07:50" not in page
    # and "mark all read" marks hers only
    assert client.post("/app/notifications/read/").status_code == 302
    assert not Notification.objects.filter(recipient=mother, read_at__isnull=True).exists()
    assert Notification.objects.filter(recipient=stranger, read_at__isnull=True).count() == 1
    assert "<strong>New</strong>" not in client.get("/app/notifications/").content.decode()


def test_the_api_pages_newest_first_and_polls_for_new(
    school: Any, mother: User, stranger: User
) -> None:
    rows = _notices(school, mother, 5)
    _notices(school, stranger, 2, start=50)
    client = _bearer(mother)
    # a first page of two, newest first, with the cursor to the older ones
    first = client.get(FEED, {"limit": 2}).json()
    assert [item["id"] for item in first["items"]] == [rows[4].pk, rows[3].pk]
    assert first["unread"] == 5 and first["next_before_id"] == rows[3].pk
    rest = client.get(FEED, {"limit": 100, "before_id": first["next_before_id"]}).json()
    assert [item["id"] for item in rest["items"]] == [rows[2].pk, rows[1].pk, rows[0].pk]
    assert rest["next_before_id"] is None
    # polling with the newest id seen returns only what came after it
    newer = _notices(school, mother, 1, start=10)[0]
    polled = client.get(FEED, {"after_id": rows[4].pk}).json()
    assert [item["id"] for item in polled["items"]] == [newer.pk]


def test_the_api_limit_is_at_most_a_hundred(mother: User) -> None:
    response = _bearer(mother).get(FEED, {"limit": 101})
    assert response.status_code == 422 and response.json()["code"] == "invalid_input"


def test_marking_read_through_the_api(school: Any, mother: User, stranger: User) -> None:
    one, *_rest = _notices(school, mother, 3)
    theirs = _notices(school, stranger, 1, start=50)[0]
    client = _bearer(mother)
    # marking some by id, including someone else's, marks only her own
    response = client.post(
        f"{FEED}/read", {"ids": [one.pk, theirs.pk]}, content_type="application/json"
    )
    assert response.json() == {"marked": 1}
    theirs.refresh_from_db()
    assert theirs.read_at is None
    # marking without ids marks the rest
    assert client.post(f"{FEED}/read", {}, content_type="application/json").json() == {"marked": 2}
    assert client.get(FEED).json()["unread"] == 0


def test_the_api_wants_a_signed_in_user() -> None:
    assert Client().get(FEED).status_code == 401
    assert Client().post(f"{FEED}/read", {}, content_type="application/json").status_code == 401
