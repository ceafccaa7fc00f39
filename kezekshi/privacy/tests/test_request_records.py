"""Request metadata: one row per page view, nothing for static files and health checks."""

from __future__ import annotations

from typing import Any
from unittest import mock

import pytest
from django.test import Client

from kezekshi.privacy.models import RequestRecord

pytestmark = pytest.mark.django_db


def test_each_page_view_writes_one_row_with_the_agreements_fields(db: None) -> None:
    client = Client(
        HTTP_USER_AGENT="Mozilla/5.0 (Android 14) Chrome/126",
        HTTP_REFERER="https://school.example.kz/pupils/?q=Сейтқали",
        REMOTE_ADDR="10.1.2.3",
    )
    client.get("/login/?next=/pupils/%3Fq%3DSeitkali")
    client.get("/app/")
    rows = list(RequestRecord.objects.order_by("id"))
    assert [(row.method, row.path, row.status) for row in rows] == [
        ("GET", "/login/", 200),
        ("GET", "/app/", 200),
    ]
    first = rows[0]
    assert first.ip == "10.1.2.3"
    assert first.user_agent == "Mozilla/5.0 (Android 14) Chrome/126"
    # Query strings carry searches and names: neither the path nor the referrer keeps one.
    assert first.referrer == "https://school.example.kz/pupils/"
    assert first.at is not None


def test_redirects_and_refusals_are_recorded_with_their_status(db: None) -> None:
    Client().get("/pupils/")  # not signed in: sent to sign in
    assert list(RequestRecord.objects.values_list("path", "status")) == [("/pupils/", 302)]


def test_static_files_health_checks_and_the_service_worker_are_not_recorded(db: None) -> None:
    client = Client()
    client.get("/healthz")
    client.get("/static/kezekshi/site.css")
    client.get("/app/sw.js")
    client.get("/app/manifest.webmanifest")
    assert RequestRecord.objects.count() == 0


def test_the_skip_list_is_a_setting(settings: Any, db: None) -> None:
    settings.PRIVACY_REQUEST_LOG_SKIP = ["/login/"]
    client = Client()
    client.get("/login/")
    client.get("/healthz")
    assert list(RequestRecord.objects.values_list("path", flat=True)) == ["/healthz"]


def test_a_failure_to_record_never_breaks_the_page(db: None) -> None:
    with mock.patch.object(RequestRecord.objects, "create", side_effect=RuntimeError("disk full")):
        response = Client().get("/login/")
    assert response.status_code == 200
    assert RequestRecord.objects.count() == 0


def test_a_bad_address_is_stored_as_unknown(db: None) -> None:
    Client(REMOTE_ADDR="not-an-ip").get("/login/")
    assert RequestRecord.objects.get().ip is None
