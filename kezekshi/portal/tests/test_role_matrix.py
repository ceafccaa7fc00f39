"""Every page and API endpoint, against every role and against a foreign school.

The endpoints are found by walking the URL resolver and the API's routers, so a new
page or endpoint is checked without anyone remembering to add it here; one that does
not declare its permission fails the first test.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from django.test import Client
from django.urls import URLPattern, URLResolver, get_resolver

from kezekshi.accounts.roles import ROLE_PERMISSIONS, Perm, Role
from kezekshi.api import api
from kezekshi.conftest import make_school, verified_client
from kezekshi.people.models import Pupil

pytestmark = pytest.mark.django_db

# Our own pages live under these namespaces; Django admin and the API have their own gates.
OWN_NAMESPACES = {"portal", "parents", "canteen"}


@dataclass(frozen=True)
class Endpoint:
    name: str
    route: str
    perm: Perm | None
    methods: tuple[str, ...]


def _walk(patterns: list[Any], prefix: str = "", namespace: str = "") -> Iterator[Endpoint]:
    for entry in patterns:
        if isinstance(entry, URLResolver):
            yield from _walk(
                entry.url_patterns, prefix + str(entry.pattern), entry.namespace or namespace
            )
        elif isinstance(entry, URLPattern) and namespace in OWN_NAMESPACES:
            view = entry.callback
            if not hasattr(view, "required_permission"):
                raise AssertionError(f"{namespace}:{entry.name} declares no permission")
            yield Endpoint(
                f"{namespace}:{entry.name}",
                prefix + str(entry.pattern),
                view.required_permission,
                ("GET",),
            )


def page_endpoints() -> list[Endpoint]:
    return list(_walk(get_resolver().url_patterns))


def api_endpoints() -> list[Endpoint]:
    found = []
    for prefix, router in api._routers:
        for path, path_view in router.path_operations.items():
            for operation in path_view.operations:
                view = operation.view_func
                if not hasattr(view, "required_permission"):
                    raise AssertionError(f"API {prefix}{path} declares no permission")
                found.append(
                    Endpoint(
                        f"api:{view.__name__}",
                        f"api{prefix}{path}",
                        view.required_permission,
                        tuple(operation.methods),
                    )
                )
    return found


def test_every_page_and_endpoint_declares_its_permission() -> None:
    pages = page_endpoints()
    endpoints = api_endpoints()
    assert len(pages) >= 5 and len(endpoints) >= 4
    protected = [e for e in pages + endpoints if e.perm is not None]
    assert protected, "nothing is protected?"


_OTHER_ID = re.compile(r"<int:\w+>")


def _url(route: str, *, school_id: int, pupil_id: int) -> str:
    """The route with the school and pupil filled in; other ids become 0 (no such row)."""
    url = "/" + route.replace("^", "").replace("$", "")
    url = (
        url.replace("<int:pupil_id>", str(pupil_id))
        .replace("{school_id}", str(school_id))
        .replace("{int:school_id}", str(school_id))
    )
    return _OTHER_ID.sub("0", url)


def _names_a_row(route: str) -> bool:
    """A page for one row other than the pupil: an allowed role gets 404 for row 0."""
    return bool(_OTHER_ID.search(route.replace("<int:pupil_id>", "")))


@pytest.mark.parametrize("role", list(Role))
def test_each_role_reaches_exactly_what_its_permissions_allow(
    role: Role, school: Any, pupil: Pupil, make_user: Any
) -> None:
    user = make_user(role, school)
    client = verified_client(user)
    allowed = ROLE_PERMISSIONS[role]
    checked = 0
    for endpoint in page_endpoints() + api_endpoints():
        if endpoint.perm is None or "GET" not in endpoint.methods:
            continue
        url = _url(endpoint.route, school_id=school.pk, pupil_id=pupil.pk)
        response = client.get(url)
        if response.status_code == 405:  # a POST-only page: an empty form is enough
            response = client.post(url)
            if endpoint.perm in allowed:
                assert response.status_code not in (401, 403), (role, endpoint.name)
                continue
        if endpoint.perm in allowed:
            expected = 404 if _names_a_row(endpoint.route) else 200
            assert response.status_code == expected, (role, endpoint.name, response.status_code)
        else:
            assert response.status_code == 403, (role, endpoint.name, response.status_code)
        checked += 1
    assert checked >= 4


@pytest.mark.parametrize("role", [Role.SCHOOL_ADMIN, Role.GUARD, Role.DPO, Role.PARENT])
def test_a_user_of_another_school_never_sees_this_schools_data(
    role: Role, school: Any, pupil: Pupil, make_user: Any
) -> None:
    elsewhere = make_school(prefix=2001, region_code="turkistan")
    client = verified_client(make_user(role, elsewhere))
    for endpoint in page_endpoints() + api_endpoints():
        if endpoint.perm is None or "GET" not in endpoint.methods:
            continue
        url = _url(endpoint.route, school_id=school.pk, pupil_id=pupil.pk)
        response = client.get(url)
        if response.status_code == 405:  # a POST-only page
            response = client.post(url)
        # Exports may be binary (XLSX): what decodes is searched.
        content = response.content.decode(errors="replace")
        assert pupil.person.last_name not in content, (role, endpoint.name)
        assert pupil.account_number not in content, (role, endpoint.name)
        if "{school_id}" in endpoint.route or "<int:pupil_id>" in endpoint.route:
            assert response.status_code in (403, 404), (role, endpoint.name)


def test_anonymous_visitors_are_sent_to_sign_in_or_refused(school: Any, pupil: Pupil) -> None:
    client = Client()
    for endpoint in page_endpoints() + api_endpoints():
        if endpoint.perm is None or "GET" not in endpoint.methods:
            continue
        response = client.get(_url(endpoint.route, school_id=school.pk, pupil_id=pupil.pk))
        if endpoint.name.startswith("api:"):
            assert response.status_code == 401, endpoint.name
        else:
            assert response.status_code == 302, endpoint.name
            assert response["Location"].startswith("/login/"), endpoint.name


def test_a_school_admin_without_the_second_factor_is_sent_to_it(
    school: Any, make_user: Any
) -> None:
    client = Client()
    client.force_login(make_user(Role.SCHOOL_ADMIN, school))
    response = client.get("/pupils/")
    assert response.status_code == 302
    assert response["Location"].startswith("/login/2fa/")
