"""What staff pages and the API write to the audit log, through the test client."""

from __future__ import annotations

from typing import Any

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from kezekshi.accounts.roles import Role
from kezekshi.conftest import verified_client
from kezekshi.core.models import School
from kezekshi.people.models import Pupil, SchoolClass
from kezekshi.portal.tests.test_people_io import nobd_csv
from kezekshi.privacy.models import AuditEntry

pytestmark = pytest.mark.django_db

Action = AuditEntry.Action


def test_opening_a_pupil_card_writes_one_view_entry(
    school: School, pupil: Pupil, make_user: Any
) -> None:
    teacher = make_user(Role.CLASS_TEACHER, school)

    response = verified_client(teacher).get(f"/pupils/{pupil.pk}/", REMOTE_ADDR="10.1.2.3")

    assert response.status_code == 200
    entry = AuditEntry.objects.get()
    assert (entry.action, entry.actor, entry.person) == (Action.VIEW, teacher, pupil.person)
    assert (entry.school, entry.target, entry.ip) == (school, f"/pupils/{pupil.pk}/", "10.1.2.3")
    assert entry.person_label == "Сейтқали Әлия"


def test_a_card_that_is_not_found_writes_nothing(
    school: School, other_school: School, pupil: Pupil, make_user: Any
) -> None:
    stranger = verified_client(make_user(Role.CLASS_TEACHER, other_school))

    assert stranger.get(f"/pupils/{pupil.pk}/").status_code == 404
    assert not AuditEntry.objects.exists()


def test_a_list_of_pupils_is_one_entry_with_its_filters(
    school: School, pupil: Pupil, make_user: Any
) -> None:
    teacher = make_user(Role.CLASS_TEACHER, school)
    client = verified_client(teacher)

    client.get("/pupils/", {"q": "Сейт"})
    client.get(f"/api/v1/schools/{school.pk}/pupils", {"search": "Сейт"})

    page, api = AuditEntry.objects.order_by("id")
    assert (page.action, page.actor, page.person, page.target) == (
        Action.VIEW,
        teacher,
        None,
        "/pupils/",
    )
    assert page.details == {
        "list": "pupils",
        "class_id": None,
        "search": "Сейт",
        "page": 1,
        "shown": 1,
    }
    assert (api.action, api.actor, api.target) == (
        Action.VIEW,
        teacher,
        f"/api/v1/schools/{school.pk}/pupils",
    )
    assert api.details == {"list": "pupils", "class_id": None, "search": "Сейт"}


def test_an_export_is_one_entry_for_the_school(
    school: School, pupil: Pupil, make_user: Any
) -> None:
    admin = make_user(Role.SCHOOL_ADMIN, school)
    client = verified_client(admin)

    xlsx = client.get("/people/export/?format=xlsx")
    client.get("/people/export/?format=csv")

    first, second = AuditEntry.objects.order_by("id")
    assert (first.action, first.actor, first.school, first.person) == (
        Action.EXPORT,
        admin,
        school,
        None,
    )
    assert first.details["format"] == "xlsx"
    assert first.details["filename"] in xlsx["Content-Disposition"]
    assert (first.details["pupils"], first.details["guardians"]) == (1, 0)
    assert second.details["format"] == "csv"


def test_an_import_and_a_check_are_recorded_with_their_counts(
    school: School, school_class: SchoolClass, make_user: Any
) -> None:
    admin = make_user(Role.SCHOOL_ADMIN, school)
    client = verified_client(admin)

    for check_only in (True, False):
        fields = {"check_only": "on"} if check_only else {}
        client.post(
            "/people/import/",
            {"file": SimpleUploadedFile("nobd.csv", nobd_csv()), **fields},
            format="multipart",
        )

    check, real = AuditEntry.objects.order_by("id")
    for entry in (check, real):
        assert (entry.action, entry.actor, entry.target) == (
            Action.IMPORT,
            admin,
            "/people/import/",
        )
        assert (entry.details["filename"], entry.details["format"]) == ("nobd.csv", "csv")
        assert entry.details["counts"]["pupils"]["created"] == 1
    assert (check.details["dry_run"], check.details["written"]) == (True, False)
    assert (real.details["dry_run"], real.details["written"]) == (False, True)
