"""The data map covers every field of our models, and biometrics serve only their purposes.

The checks are the map's own functions; each is run on the real map and, to show that it
would catch a mistake, on a small map built here around models that exist only in the test.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterator
from typing import Any

import pytest
from django.db import models
from django.test.utils import isolate_apps
from django.utils import translation

from kezekshi.privacy import datamap_report
from kezekshi.privacy.datamap import (
    DATA_MAP,
    OUTSIDE_OUR_APPS,
    RESTRICTED_PURPOSES,
    DataCategory,
    DataMap,
    Purpose,
    Subject,
    model_fields,
    our_models,
)


@pytest.fixture(autouse=True)
def _in_english() -> Iterator[None]:
    with translation.override("en"):
        yield


def all_field_keys() -> list[str]:
    return [
        f"{model._meta.label}.{field.name}"
        for model in our_models()
        for field in model_fields(model)
    ]


@pytest.fixture
def fake_models() -> Iterator[dict[str, type[models.Model]]]:
    """Two models in a private app registry, so the real one never sees them."""
    with isolate_apps("kezekshi.privacy"):

        class Gadget(models.Model):  # noqa: DJ008 - never printed
            owner_name = models.CharField(max_length=100)
            serial = models.CharField(max_length=20)
            added_at = models.DateTimeField()

            class Meta:
                app_label = "privacy"

        class FaceTemplate(models.Model):  # noqa: DJ008 - never printed
            template = models.BinaryField()
            enrolled_at = models.DateTimeField()

            class Meta:
                app_label = "privacy"

        yield {"gadget": Gadget, "face": FaceTemplate}


# --- every field is tagged ------------------------------------------------------------


def test_every_field_of_our_apps_is_tagged() -> None:
    untagged = DATA_MAP.untagged(our_models())
    assert not untagged, (
        "Tag these fields in kezekshi/privacy/datamap.py (a data category, or not_personal): "
        + ", ".join(untagged)
    )


def test_no_tag_names_a_field_that_is_gone() -> None:
    assert DATA_MAP.stale(our_models()) == []


def test_the_real_map_has_no_problems_at_all() -> None:
    assert DATA_MAP.problems(our_models()) == []


def test_our_models_are_the_kezekshi_apps_and_only_them() -> None:
    labels = {model._meta.label for model in our_models()}
    assert {"accounts.User", "people.Person", "privacy.Consent", "core.SmsMessage"} <= labels
    assert not labels & {"otp_totp.TOTPDevice", "sessions.Session", "admin.LogEntry"}
    assert all(
        label.split(".")[0]
        in {"core", "accounts", "people", "privacy", "access", "canteen", "devices", "edge"}
        | {"notifications"}
        for label in labels
    )


def test_a_field_left_out_is_named(fake_models: dict[str, Any]) -> None:
    gadget = fake_models["gadget"]
    data_map = DataMap()
    data_map.register("privacy.Gadget", subjects=[Subject.STAFF], name=["owner_name"])
    data_map.register("privacy.FaceTemplate", not_personal=["id", "enrolled_at"])

    assert data_map.untagged([gadget]) == [
        "privacy.Gadget.id",
        "privacy.Gadget.serial",
        "privacy.Gadget.added_at",
    ]
    problems = data_map.problems(fake_models.values())
    assert "privacy.Gadget.serial has no data-map tag" in problems
    assert "privacy.FaceTemplate.template has no data-map tag" in problems


def test_the_real_map_names_every_field_of_a_model_it_does_not_know(
    fake_models: dict[str, Any],
) -> None:
    assert DATA_MAP.untagged([fake_models["gadget"]]) == [
        "privacy.Gadget.id",
        "privacy.Gadget.owner_name",
        "privacy.Gadget.serial",
        "privacy.Gadget.added_at",
    ]


def test_a_tag_for_a_field_that_does_not_exist_is_named(fake_models: dict[str, Any]) -> None:
    data_map = DataMap()
    data_map.register(
        "privacy.Gadget",
        subjects=[Subject.STAFF],
        name=["owner_name", "owner_nickname"],
        not_personal=["id", "serial", "added_at"],
    )
    assert data_map.stale([fake_models["gadget"]]) == ["privacy.Gadget.owner_nickname"]


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        ({"favourite_colour": ["serial"]}, "unknown data category"),
        ({"name": ["serial"], "not_personal": ["serial"]}, "tagged twice"),
        ({"name": ["serial"], "subjects": []}, "say whose data"),
        ({"whose": {"serial": [Subject.STAFF]}, "not_personal": ["serial"]}, "not personal"),
    ],
)
def test_a_muddled_registration_fails_at_once(arguments: dict[str, Any], message: str) -> None:
    arguments.setdefault("subjects", [Subject.STAFF])
    with pytest.raises(ValueError, match=message):
        DataMap().register("privacy.Gadget", **arguments)


def test_a_model_is_registered_in_one_place_only() -> None:
    data_map = DataMap()
    data_map.register("privacy.Gadget", not_personal=["id"])
    with pytest.raises(ValueError, match="registered twice"):
        data_map.register("privacy.Gadget", not_personal=["serial"])


def test_key_fields_carry_the_expected_tags() -> None:
    expected = {
        "people.Person.iin": DataCategory.GOVERNMENT_ID,
        "people.Person.iin_digest": DataCategory.GOVERNMENT_ID,
        "people.Person.last_name": DataCategory.NAME,
        "people.Person.birth_date": DataCategory.BIRTH_AND_SEX,
        "people.Guardianship.relation": DataCategory.FAMILY,
        "people.Pupil.account_number": DataCategory.FINANCIAL,
        "accounts.User.phone": DataCategory.CONTACT,
        "accounts.SignInCode.ip": DataCategory.TECHNICAL,
        "core.SmsMessage.phone": DataCategory.CONTACT,
        "core.SmsMessage.text": DataCategory.MESSAGES,
        "privacy.Consent.phone": DataCategory.CONTACT,
        "privacy.Consent.user_agent": DataCategory.TECHNICAL,
        "privacy.RequestRecord.ip": DataCategory.TECHNICAL,
    }
    assert {key: DATA_MAP.tags[key].category for key in expected} == expected
    assert DATA_MAP.tags["people.Person.school"].category is None
    assert DATA_MAP.tags["privacy.Consent.entry_hash"].category is None
    assert all(tag.subjects for tag in DATA_MAP.personal_tags())


# --- biometrics serve only access, safety and attendance ----------------------------------


def test_the_biometric_rule_is_access_safety_and_attendance() -> None:
    # Widening this set is a decision for the data-protection officer, not a code change.
    assert RESTRICTED_PURPOSES[DataCategory.BIOMETRIC] == {
        Purpose.ACCESS_SAFETY,
        Purpose.ATTENDANCE,
    }


def test_no_real_use_sends_biometrics_elsewhere() -> None:
    assert DATA_MAP.purpose_violations() == []
    for use in DATA_MAP.uses_of(DataCategory.BIOMETRIC):
        assert use.purpose in {Purpose.ACCESS_SAFETY, Purpose.ATTENDANCE}, use.feature


def biometric_map() -> DataMap:
    data_map = DataMap()
    data_map.register(
        "privacy.FaceTemplate",
        subjects=[Subject.PUPIL],
        biometric=["template"],
        not_personal=["id", "enrolled_at"],
    )
    return data_map


@pytest.mark.parametrize("purpose", list(Purpose))
def test_biometrics_reaching_any_other_purpose_is_a_violation(
    purpose: Purpose, fake_models: dict[str, Any]
) -> None:
    data_map = biometric_map()
    data_map.use(
        "biometrics.door", "Face at the door", purpose=purpose, categories=[DataCategory.BIOMETRIC]
    )
    allowed = purpose in {Purpose.ACCESS_SAFETY, Purpose.ATTENDANCE}
    expected = [] if allowed else [f"biometrics.door uses biometric for {purpose.value}"]
    assert data_map.purpose_violations() == expected
    assert (data_map.problems([fake_models["face"]]) == []) is allowed


def test_a_use_mixing_biometrics_into_marketing_is_named_among_others() -> None:
    data_map = biometric_map()
    data_map.use(
        "canteen.offers",
        "Offers",
        purpose=Purpose.MARKETING,
        categories=[DataCategory.NAME, DataCategory.BIOMETRIC],
    )
    assert data_map.purpose_violations() == ["canteen.offers uses biometric for marketing"]


# --- every category is accounted for -----------------------------------------------------


def test_every_category_held_is_used_or_declared_kept_but_unused() -> None:
    assert DATA_MAP.unaccounted_categories() == []
    assert DATA_MAP.claims_without_data() == []
    for category in DATA_MAP.held_categories():
        assert DATA_MAP.uses_of(category) or category in DATA_MAP.kept_unused, category


def test_a_held_category_nobody_uses_is_named(fake_models: dict[str, Any]) -> None:
    data_map = biometric_map()
    assert data_map.unaccounted_categories() == [
        "biometric is held but neither used nor declared kept-but-unused"
    ]
    data_map.keep_unused(DataCategory.BIOMETRIC, "enrolled, matching not built yet")
    assert data_map.unaccounted_categories() == []


def test_claims_about_data_that_no_field_holds_are_named() -> None:
    data_map = biometric_map()
    data_map.use(
        "access.turnstile",
        "Turnstile",
        purpose=Purpose.ACCESS_SAFETY,
        categories=[DataCategory.BIOMETRIC, DataCategory.PRESENCE],
    )
    data_map.keep_unused(DataCategory.LIBRARY, "no library yet")
    data_map.keep_unused(DataCategory.BIOMETRIC, "contradicts the use above")
    assert data_map.claims_without_data() == [
        "access.turnstile claims to use presence, which no field holds",
        "library is declared kept-but-unused, but no field holds it",
        "biometric is declared kept-but-unused, but access.turnstile uses it",
    ]


def test_the_third_party_stores_listed_exist() -> None:
    from django.apps import apps

    for store in OUTSIDE_OUR_APPS:
        assert apps.get_model(store.model), store.model


# --- the export is complete ---------------------------------------------------------------


def test_the_json_export_lists_every_field_once() -> None:
    exported = json.loads(datamap_report.export_json())
    personal = [row["field"] for c in exported["categories"] for row in c["fields"]]
    listed = personal + exported["not_personal"]
    assert sorted(listed) == sorted(all_field_keys())
    assert len(listed) == len(set(listed))


def test_the_json_export_has_every_category_purpose_and_use() -> None:
    exported = json.loads(datamap_report.export_json())
    assert [c["code"] for c in exported["categories"]] == list(DataCategory.values)
    assert [p["code"] for p in exported["purposes"]] == list(Purpose.values)
    features = [u["feature"] for p in exported["purposes"] for u in p["uses"]]
    assert sorted(features) == sorted(use.feature for use in DATA_MAP.uses)
    biometric = next(c for c in exported["categories"] if c["code"] == "biometric")
    assert biometric["allowed_purposes"] == ["access_safety", "attendance"]
    iin = next(
        row
        for c in exported["categories"]
        for row in c["fields"]
        if row["field"] == "people.Person.iin"
    )
    assert iin["encrypted"] is True
    assert iin["subjects"] == ["pupil", "guardian", "staff"]
    assert [s["model"] for s in exported["outside_our_apps"]] == [s.model for s in OUTSIDE_OUR_APPS]


def test_the_csv_export_has_one_row_per_field() -> None:
    content = datamap_report.export_csv().decode("utf-8")
    assert content.startswith("\ufeff")
    rows = list(csv.reader(io.StringIO(content[1:]), delimiter=";"))
    header, body = rows[0], rows[1:]
    assert header[0] == "Field" and len(header) == 9
    assert sorted(row[0] for row in body) == sorted(all_field_keys())
    iin = next(row for row in body if row[0] == "people.Person.iin")
    assert iin[3] == "government_id" and iin[8] == "yes"
    school = next(row for row in body if row[0] == "people.Person.school")
    assert school[3] == "" and school[4] == "Not personal"


# --- retention comes from the settings ----------------------------------------------------


def _retention(code: str) -> list[str]:
    exported = json.loads(datamap_report.export_json())
    return next(c["retention"] for c in exported["categories"] if c["code"] == code)


def test_retention_follows_the_settings(settings: Any) -> None:
    settings.PRIVACY_BIOMETRIC_RETENTION_DAYS = 45
    settings.PRIVACY_PRESENCE_PSEUDONYMISE_YEARS = 2
    settings.PRIVACY_REQUEST_LOG_DAYS = 14
    assert "45 days after the pupil leaves" in _retention("biometric")[0]
    assert "2 years" in _retention("presence")[0]
    record_ip = next(
        row for row in datamap_report.field_rows() if row.tag.key == "privacy.RequestRecord.ip"
    )
    assert record_ip.retention == ["Request records are deleted 14 days after the request."]
    consent_ip = next(
        row for row in datamap_report.field_rows() if row.tag.key == "privacy.Consent.ip"
    )
    assert consent_ip.retention == []


def test_retention_has_defaults_while_settings_lack_them(settings: Any) -> None:
    for name in (
        "PRIVACY_BIOMETRIC_RETENTION_DAYS",
        "PRIVACY_PRESENCE_PSEUDONYMISE_YEARS",
        "PRIVACY_REQUEST_LOG_DAYS",
    ):
        if hasattr(settings, name):
            delattr(settings, name)
    assert "30 days after the pupil leaves" in _retention("biometric")[0]
    exported = json.loads(datamap_report.export_json())
    assert exported["retention_settings"] == {
        "PRIVACY_BIOMETRIC_RETENTION_DAYS": 30,
        "PRIVACY_PRESENCE_PSEUDONYMISE_YEARS": 3,
        "PRIVACY_REQUEST_LOG_DAYS": 90,
    }
