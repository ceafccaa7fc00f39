"""The import and export pages, through the Django test client with real files."""

from __future__ import annotations

import csv
import datetime as dt
import io
from typing import Any

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from openpyxl import load_workbook

from kezekshi.accounts.roles import Role
from kezekshi.conftest import verified_client
from kezekshi.core.models import School
from kezekshi.core.validators import make_iin
from kezekshi.people.models import Guardian, Person, Pupil, SchoolClass

pytestmark = pytest.mark.django_db

HEADER = ["ИИН", "Фамилия", "Имя", "Дата рождения", "Класс",
          "ФИО представителя 1", "Телефон представителя 1", "Степень родства 1"]  # fmt: skip
PUPIL_IIN = make_iin(birth_date=dt.date(2015, 4, 12), sex="M", serial=77)


def nobd_csv(*rows: list[object]) -> bytes:
    buffer = io.StringIO()
    writer = csv.writer(buffer, delimiter=";")
    writer.writerow(HEADER)
    writer.writerows(rows or [GOOD_ROW])
    return buffer.getvalue().encode("utf-8-sig")


GOOD_ROW: list[object] = [
    PUPIL_IIN,
    "Төлеубаев",
    "Темірлан",
    "12.04.2015",
    "5 Ә",
    "Төлеубаева Сая Ерланқызы",
    "+7 707 555 44 33",
    "мать",
]


def upload(client: Client, data: bytes, name: str = "nobd.csv", **fields: Any) -> Any:
    return client.post(
        "/people/import/", {"file": SimpleUploadedFile(name, data), **fields}, format="multipart"
    )


@pytest.fixture
def admin(school: School, make_user: Any) -> Client:
    return verified_client(make_user(Role.SCHOOL_ADMIN, school))


def test_the_home_page_links_to_the_import_for_an_admin_only(
    school: School, make_user: Any, admin: Client
) -> None:
    assert "/people/import/" in admin.get("/").content.decode()
    guard = verified_client(make_user(Role.GUARD, school))
    assert "/people/import/" not in guard.get("/").content.decode()


def test_an_admin_uploads_a_file_and_sees_the_counts(
    school: School, school_class: SchoolClass, admin: Client
) -> None:
    page = admin.get("/people/import/")
    assert page.status_code == 200
    assert 'enctype="multipart/form-data"' in page.content.decode()

    response = upload(admin, nobd_csv())

    assert response.status_code == 200
    report = response.context["report"]
    assert report.ok and report.counts["pupils"].created == 1
    assert 'id="report"' in response.content.decode()
    pupil = Pupil.objects.get(school=school)
    assert pupil.person.iin == PUPIL_IIN and pupil.school_class == school_class
    assert Guardian.objects.get(school=school).person.phone == "+77075554433"


def test_check_only_reports_and_writes_nothing(
    school: School, school_class: SchoolClass, admin: Client
) -> None:
    response = upload(admin, nobd_csv(), check_only="on")
    report = response.context["report"]
    assert report.ok and report.dry_run and report.counts["pupils"].created == 1
    assert Person.objects.filter(school=school).count() == 0


def test_a_bad_file_is_shown_row_by_row_and_nothing_is_written(
    school: School, school_class: SchoolClass, admin: Client
) -> None:
    bad_phone = [*GOOD_ROW[:6], "12345", "мать"]
    bad_class = [make_iin(birth_date=dt.date(2015, 1, 1), sex="F", serial=78), *GOOD_ROW[1:]]
    bad_class[3], bad_class[4] = "01.01.2015", "9 Я"

    response = upload(admin, nobd_csv(GOOD_ROW, bad_phone, bad_class))

    assert response.status_code == 200
    content = response.content.decode()
    found = [(e.row, e.column, e.code) for e in response.context["report"].errors]
    assert (3, "Телефон представителя 1", "bad_phone") in found
    assert (4, "Класс", "unknown_class") in found
    assert "<code>unknown_class</code>" in content and "<td>4</td>" in content
    assert Person.objects.filter(school=school).count() == 0


def test_an_unreadable_file_is_a_clear_message(school: School, admin: Client) -> None:
    response = upload(admin, b"PK\x03\x04garbage", "nobd.xlsx")
    assert [e.code for e in response.context["report"].errors] == ["unreadable_file"]


def test_an_upload_over_the_limit_is_refused_before_it_is_read(
    school: School, school_class: SchoolClass, admin: Client, settings: Any
) -> None:
    settings.PEOPLE_IMPORT_MAX_BYTES = 1024
    big = nobd_csv(*([GOOD_ROW] * 40))
    assert len(big) > 1024

    response = upload(admin, big)

    assert response.status_code == 413
    assert 'id="too-big"' in response.content.decode()
    assert response.context["too_big"]
    assert Person.objects.count() == 0
    # A file under the limit still goes through.
    assert upload(admin, nobd_csv()).context["report"].ok


def test_a_body_far_over_the_limit_is_not_parsed_at_all(
    school: School, admin: Client, settings: Any
) -> None:
    settings.PEOPLE_IMPORT_MAX_BYTES = 1024
    response = upload(admin, b"x" * (200 * 1024))
    assert response.status_code == 413


def test_the_upload_needs_the_csrf_token(
    school: School, school_class: SchoolClass, make_user: Any
) -> None:
    user = make_user(Role.SCHOOL_ADMIN, school)
    client = verified_client(user)
    client.handler.enforce_csrf_checks = True
    response = upload(client, nobd_csv())
    assert response.status_code == 403
    assert Person.objects.count() == 0


@pytest.mark.parametrize("role", [Role.GUARD, Role.CASHIER, Role.CLASS_TEACHER, Role.PARENT])
def test_a_user_without_the_import_permission_is_refused(
    school: School, school_class: SchoolClass, make_user: Any, role: Role
) -> None:
    client = verified_client(make_user(role, school))
    assert client.get("/people/import/").status_code == 403
    assert upload(client, nobd_csv()).status_code == 403
    assert client.get("/people/export/?format=xlsx").status_code == 403
    assert Person.objects.count() == 0


def test_anonymous_visitors_are_sent_to_sign_in(school: School) -> None:
    response = Client().post("/people/import/", {"file": SimpleUploadedFile("a.csv", b"x")})
    assert response.status_code == 302 and response["Location"].startswith("/login/")
    assert Person.objects.count() == 0


def test_the_export_downloads_the_schools_people(
    school: School, school_class: SchoolClass, admin: Client
) -> None:
    upload(admin, nobd_csv())

    xlsx = admin.get("/people/export/?format=xlsx")
    assert xlsx.status_code == 200
    assert xlsx["Content-Type"].startswith("application/vnd.openxmlformats")
    assert f"kezekshi-{school.bin}-people-" in xlsx["Content-Disposition"]
    workbook = load_workbook(io.BytesIO(xlsx.content), read_only=True)
    pupils = list(workbook["Ученики"].iter_rows(values_only=True))
    assert pupils[1][:3] == (PUPIL_IIN, "Төлеубаев", "Темірлан")

    text = admin.get("/people/export/?format=csv").content.decode("utf-8-sig")
    assert text.startswith("ИИН;Фамилия;Имя") and "Төлеубаева Сая Ерланқызы" in text


def test_an_admin_of_another_school_sees_and_changes_only_their_own(
    school: School, other_school: School, school_class: SchoolClass, admin: Client, make_user: Any
) -> None:
    upload(admin, nobd_csv())
    stranger = verified_client(make_user(Role.SCHOOL_ADMIN, other_school))
    # Even asking for this school in the session does not switch to it.
    session = stranger.session
    session["school_id"] = school.pk
    session.save()

    for fmt in ("csv", "xlsx"):
        response = stranger.get(f"/people/export/?format={fmt}")
        assert response.status_code == 200
        assert other_school.bin in response["Content-Disposition"]
        if fmt == "csv":
            assert "Төлеубаев" not in response.content.decode("utf-8-sig")
        else:
            sheet = load_workbook(io.BytesIO(response.content), read_only=True)["Ученики"]
            assert len(list(sheet.iter_rows(values_only=True))) == 1  # the header alone

    # Their upload goes into their own school, where class 5 Ә does not exist.
    report = upload(stranger, nobd_csv()).context["report"]
    assert [e.code for e in report.errors] == ["unknown_class"]
    assert Pupil.objects.filter(school=other_school).count() == 0
    assert Pupil.objects.filter(school=school).count() == 1
