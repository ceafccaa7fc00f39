"""The audit log as staff and the data-protection officer meet it, through the test client."""

from __future__ import annotations

import csv
import datetime as dt
import io
from typing import Any

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client

from kezekshi.accounts.models import User
from kezekshi.accounts.roles import Role
from kezekshi.conftest import verified_client
from kezekshi.core.models import School
from kezekshi.people.models import Person, Pupil, SchoolClass
from kezekshi.portal.tests.test_people_io import nobd_csv
from kezekshi.privacy import ledger
from kezekshi.privacy.models import AuditEntry

pytestmark = pytest.mark.django_db

Action = AuditEntry.Action
UTC = dt.UTC


@pytest.fixture
def dpo(school: School, make_user: Any) -> User:
    return make_user(Role.DPO, school, full_name="Ержанова Гүлнар")


def entry_at(
    when: dt.datetime,
    *,
    school: School,
    action: str = Action.VIEW,
    actor: User | None = None,
    person: Person | None = None,
    target: str = "",
) -> AuditEntry:
    """An entry at a chosen moment (``audit.record`` always writes now)."""
    return ledger.append(
        AuditEntry(
            school=school,
            action=action,
            actor=actor,
            person=person,
            person_label=person.full_name if person else "",
            target=target,
            created_at=when,
        )
    )


def shown(response: Any) -> list[AuditEntry]:
    assert response.status_code == 200
    return [entry for entry, _details in response.context["rows"]]


def csv_rows(response: Any) -> list[list[str]]:
    return list(csv.reader(io.StringIO(response.content.decode("utf-8-sig")), delimiter=";"))


# --- What is written -----------------------------------------------------------------------


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


# --- Who sees the log ------------------------------------------------------------------------


def test_the_home_page_links_to_the_log_for_those_who_may_see_it(
    school: School, dpo: User, make_user: Any
) -> None:
    assert "/privacy/audit/" in verified_client(dpo).get("/").content.decode()
    guard = verified_client(make_user(Role.GUARD, school))
    assert "/privacy/audit/" not in guard.get("/").content.decode()


def test_a_guard_cannot_open_the_log_or_download_it(school: School, make_user: Any) -> None:
    guard = verified_client(make_user(Role.GUARD, school))

    assert guard.get("/privacy/audit/").status_code == 403
    assert guard.get("/privacy/audit/export/").status_code == 403
    assert not AuditEntry.objects.filter(action=Action.EXPORT).exists()


def test_a_dpo_of_another_school_never_sees_this_schools_entries(
    school: School, other_school: School, pupil: Pupil, make_user: Any
) -> None:
    teacher = make_user(Role.CLASS_TEACHER, school)
    verified_client(teacher).get(f"/pupils/{pupil.pk}/")
    elsewhere = verified_client(make_user(Role.DPO, other_school))

    page = elsewhere.get("/privacy/audit/")
    searched = elsewhere.get("/privacy/audit/", {"person": "Сейтқали"})
    export = elsewhere.get("/privacy/audit/export/")

    assert shown(page) == shown(searched) == []
    assert "Сейтқали" not in page.content.decode()
    assert len(csv_rows(export)) == 1  # the header only
    assert "Сейтқали" not in export.content.decode("utf-8-sig")
    # Choosing the other school in the switcher does not help either.
    session = elsewhere.session
    session["school_id"] = school.pk
    session.save()
    after_switch = shown(elsewhere.get("/privacy/audit/"))
    assert [entry.school for entry in after_switch] == [other_school]  # their own export


# --- Filters, order, pages -------------------------------------------------------------------


@pytest.fixture
def log(school: School, pupil: Pupil, dpo: User, make_user: Any) -> dict[str, Any]:
    """Four entries over three days, by two staff members, about two persons."""
    teacher = make_user(Role.CLASS_TEACHER, school, full_name="Ахметов Бауыржан")
    other = Person.objects.create(school=school, last_name="Омаров", first_name="Данияр")
    day = dt.datetime(2026, 3, 2, 5, 0, tzinfo=UTC)  # 10:00 in Almaty
    return {
        "teacher": teacher,
        "card": entry_at(day, school=school, actor=teacher, person=pupil.person),
        "other_card": entry_at(
            day + dt.timedelta(hours=1), school=school, actor=teacher, person=other
        ),
        "export": entry_at(
            day + dt.timedelta(days=1), school=school, actor=dpo, action=Action.EXPORT
        ),
        # 20:00 UTC on 1 March is already 2 March in Almaty.
        "late": entry_at(
            dt.datetime(2026, 3, 1, 20, 0, tzinfo=UTC), school=school, actor=dpo, person=other
        ),
    }


def test_the_log_is_newest_first(dpo: User, log: dict[str, Any]) -> None:
    entries = shown(verified_client(dpo).get("/privacy/audit/"))

    assert entries == [log["export"], log["other_card"], log["card"], log["late"]]


def test_filter_by_person_in_any_case(dpo: User, log: dict[str, Any]) -> None:
    client = verified_client(dpo)

    assert shown(client.get("/privacy/audit/", {"person": "сейтқали"})) == [log["card"]]
    assert shown(client.get("/privacy/audit/", {"person": "ОМАРОВ"})) == [
        log["other_card"],
        log["late"],
    ]


def test_filter_by_staff_member(dpo: User, log: dict[str, Any]) -> None:
    client = verified_client(dpo)

    by_name = shown(client.get("/privacy/audit/", {"user": "ахметов"}))
    by_email = shown(client.get("/privacy/audit/", {"user": log["teacher"].email}))

    assert by_name == by_email == [log["other_card"], log["card"]]


def test_filter_by_action(dpo: User, log: dict[str, Any]) -> None:
    response = verified_client(dpo).get("/privacy/audit/", {"action": Action.EXPORT})

    assert shown(response) == [log["export"]]


def test_filter_by_days_of_the_schools_calendar(dpo: User, log: dict[str, Any]) -> None:
    client = verified_client(dpo)

    on_the_2nd = shown(
        client.get("/privacy/audit/", {"since": "2026-03-02", "until": "2026-03-02"})
    )
    until_the_1st = shown(client.get("/privacy/audit/", {"until": "2026-03-01"}))
    from_the_3rd = shown(client.get("/privacy/audit/", {"since": "2026-03-03"}))

    assert on_the_2nd == [log["other_card"], log["card"], log["late"]]
    assert until_the_1st == []
    assert from_the_3rd == [log["export"]]


def test_filters_combine_and_a_wrong_date_is_shown_not_applied(
    dpo: User, log: dict[str, Any]
) -> None:
    client = verified_client(dpo)

    both = client.get("/privacy/audit/", {"person": "Омаров", "user": "Ахметов"})
    wrong = client.get("/privacy/audit/", {"since": "yesterday", "action": Action.EXPORT})
    reversed_days = client.get("/privacy/audit/", {"since": "2026-03-03", "until": "2026-03-01"})

    assert shown(both) == [log["other_card"]]
    assert shown(wrong) == [log["export"]]
    assert wrong.context["form"].errors["since"]
    assert reversed_days.context["form"].non_field_errors()


def test_the_log_is_paged(school: School, dpo: User) -> None:
    start = dt.datetime(2026, 3, 2, 5, 0, tzinfo=UTC)
    made = [
        entry_at(start + dt.timedelta(minutes=n), school=school, target=f"/pupils/{n}/")
        for n in range(51)
    ]
    client = verified_client(dpo)

    first = client.get("/privacy/audit/", {"action": Action.VIEW})
    second = client.get("/privacy/audit/", {"action": Action.VIEW, "page": "2"})

    assert shown(first)[0] == made[-1] and len(shown(first)) == 50
    assert shown(second) == [made[0]]
    assert "?action=view&amp;page=2" in first.content.decode()  # the next page keeps the filter
    # The download takes the filters, not the page.
    assert 'href="/privacy/audit/export/?action=view"' in second.content.decode()


# --- The download ----------------------------------------------------------------------------


def test_the_download_holds_the_filtered_entries_and_is_itself_recorded(
    school: School, dpo: User, log: dict[str, Any]
) -> None:
    response = verified_client(dpo).get("/privacy/audit/export/", {"person": "Омаров"})

    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/csv")
    assert f"kezekshi-{school.bin}-audit-" in response["Content-Disposition"]
    header, *rows = csv_rows(response)
    assert len(header) == 10
    assert [int(row[0]) for row in rows] == [log["other_card"].pk, log["late"].pk]
    assert rows[0][1] == "2026-03-02T11:00:00+05:00"
    assert rows[0][2] == "Ахметов Бауыржан"
    assert rows[0][4] == "Омаров Данияр"
    assert rows[0][9] == log["other_card"].entry_hash
    recorded = AuditEntry.objects.latest("id")
    assert (recorded.action, recorded.actor, recorded.target) == (
        Action.EXPORT,
        dpo,
        "/privacy/audit/export/",
    )
    assert recorded.details["entries"] == 2
    assert recorded.details["filters"]["person"] == "Омаров"
    assert recorded.details["filename"] in response["Content-Disposition"]


def test_a_name_is_never_run_as_a_formula(school: School, dpo: User) -> None:
    hostile = Person.objects.create(school=school, last_name="=HYPERLINK(1)", first_name="x")
    entry_at(dt.datetime(2026, 3, 2, tzinfo=UTC), school=school, person=hostile)

    _header, row = csv_rows(verified_client(dpo).get("/privacy/audit/export/"))

    assert row[4] == "'=HYPERLINK(1) x"


def test_the_page_and_the_download_are_translated(dpo: User, log: dict[str, Any]) -> None:
    client = verified_client(dpo)
    client.cookies["django_language"] = "en"

    page = client.get("/privacy/audit/").content.decode()
    header = csv_rows(client.get("/privacy/audit/export/"))[0]

    assert "Audit log" in page and "Viewed a person&#x27;s card" in page
    assert header[:3] == ["Entry", "Time", "Staff member"]


def test_the_log_answers_a_client_not_signed_in_with_the_sign_in_page() -> None:
    response = Client().get("/privacy/audit/")
    assert response.status_code == 302 and response["Location"].startswith("/login/")
