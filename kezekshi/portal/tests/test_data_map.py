"""The data-protection officer reads the data map in the portal and downloads it."""

from __future__ import annotations

import csv
import io
import json
from typing import Any

import pytest
from django.test import Client

from kezekshi.accounts.roles import Role
from kezekshi.conftest import verified_client
from kezekshi.privacy.datamap import DATA_MAP, DataCategory, model_fields, our_models

pytestmark = pytest.mark.django_db


@pytest.fixture
def dpo(school: Any, make_user: Any) -> Client:
    client = verified_client(make_user(Role.DPO, school, language="en"))
    client.cookies["django_language"] = "en"
    return client


def test_the_dpo_reads_every_category_with_its_fields_purposes_and_retention(
    dpo: Client, settings: Any
) -> None:
    settings.PRIVACY_BIOMETRIC_RETENTION_DAYS = 21
    response = dpo.get("/privacy/data-map/")
    assert response.status_code == 200
    page = response.content.decode()
    for category in DataCategory:
        assert f'id="category-{category.value}"' in page
    # Verbose names of models and fields, whose data, the purpose and the note.
    assert "Person" in page and "IIN" in page and "people.Person.iin" in page
    assert "Pupils, Guardians, Staff" in page
    assert "Encrypted at rest." in page
    assert "Legal obligations" in page
    assert "Erased 21 days after the pupil leaves the school" in page
    assert "screen with the photo" in page  # photos are used at the door
    assert "No field of the platform holds data of this category yet." in page  # biometrics
    assert "Access to the school and safety, Attendance" in page  # the biometric rule
    assert "/privacy/data-map/export/?format=csv" in page


def test_staff_without_the_permission_are_refused(school: Any, make_user: Any) -> None:
    client = verified_client(make_user(Role.GUARD, school))
    assert client.get("/privacy/data-map/").status_code == 403
    assert client.get("/privacy/data-map/export/?format=csv").status_code == 403


def test_the_home_page_links_the_data_map_for_those_who_may_see_it(
    dpo: Client, school: Any, make_user: Any
) -> None:
    assert "/privacy/data-map/" in dpo.get("/").content.decode()
    guard = verified_client(make_user(Role.GUARD, school))
    assert "/privacy/data-map/" not in guard.get("/").content.decode()


def test_the_json_download_is_the_whole_map(dpo: Client) -> None:
    response = dpo.get("/privacy/data-map/export/?format=json")
    assert response.status_code == 200
    assert response["Content-Type"].startswith("application/json")
    assert 'filename="kezekshi-data-map-' in response["Content-Disposition"]
    exported = json.loads(response.content)
    fields = [row["field"] for c in exported["categories"] for row in c["fields"]]
    assert len(fields) + len(exported["not_personal"]) == len(DATA_MAP.tags)
    assert exported["language"] == "en"


def test_the_csv_download_has_a_row_per_field(dpo: Client) -> None:
    response = dpo.get("/privacy/data-map/export/?format=csv")
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/csv")
    rows = list(csv.reader(io.StringIO(response.content.decode("utf-8-sig")), delimiter=";"))
    expected = sum(len(model_fields(model)) for model in our_models())
    assert len(rows) == 1 + expected


def test_an_unknown_format_is_refused_with_a_reason(dpo: Client) -> None:
    response = dpo.get("/privacy/data-map/export/?format=xml")
    assert response.status_code == 400
    assert "json or csv" in response.content.decode()
