"""The portal's home page links each role to the access and attendance pages it may use."""

from __future__ import annotations

from typing import Any

import pytest
from django.urls import reverse

from kezekshi.accounts.roles import Role
from kezekshi.conftest import verified_client

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize(
    ("role", "shown", "hidden"),
    [
        (Role.GUARD, ["guard_feed", "visitors", "guard_mode"], ["access_setup", "attendance"]),
        (Role.SCHOOL_ADMIN, ["guard_feed", "access_setup", "watch_list", "attendance_staff"], []),
        (Role.CLASS_TEACHER, ["attendance", "attendance_permits"], ["guard_feed", "access_setup"]),
        (Role.CASHIER, [], ["guard_feed", "access_setup", "attendance"]),
    ],
)
def test_each_role_sees_the_links_it_may_follow(
    role: Role, shown: list[str], hidden: list[str], school: Any, make_user: Any
) -> None:
    page = verified_client(make_user(role, school)).get("/").content.decode()
    for name in shown:
        assert f'href="{reverse(f"portal:{name}")}"' in page, name
    for name in hidden:
        assert f'href="{reverse(f"portal:{name}")}"' not in page, name


@pytest.mark.parametrize(
    ("role", "shown", "hidden"),
    [
        (Role.CASHIER, ["canteen:till", "canteen:menu"],
         ["canteen:reconciliations", "canteen:wallets"]),
        (Role.ACCOUNTANT, ["canteen:reconciliations", "canteen:free_meal_report"],
         ["canteen:till", "canteen:wallets"]),
        (Role.SCHOOL_ADMIN, ["canteen:wallets", "canteen:settings", "canteen:till"], []),
        (Role.GUARD, [], ["canteen:till", "canteen:reconciliations", "canteen:wallets"]),
    ],
)  # fmt: skip
def test_the_canteen_links_go_to_the_roles_that_use_them_once(
    role: Role, shown: list[str], hidden: list[str], school: Any, make_user: Any
) -> None:
    page = verified_client(make_user(role, school)).get("/").content.decode()
    # The page's title is the school's name only
    title = page.split("<title>", 1)[1].split("</title>", 1)[0]
    assert "<" not in title and "canteen" not in title
    for name in shown:
        assert page.count(f'href="{reverse(name)}"') == 1, name
    for name in hidden:
        assert f'href="{reverse(name)}"' not in page, name
