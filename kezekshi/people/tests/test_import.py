"""Import of NOBD-shaped files: real CSV and XLSX bytes in, people (or a report) out."""

from __future__ import annotations

import csv
import datetime as dt
import io
import zipfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from openpyxl import Workbook, load_workbook

from kezekshi.accounts.models import Membership, User
from kezekshi.accounts.roles import Role
from kezekshi.core.models import School
from kezekshi.core.validators import make_iin
from kezekshi.people import importing, services
from kezekshi.people.exporting import export_csv, export_xlsx
from kezekshi.people.importing import (
    ImportReport,
    import_people,
    parse_class_name,
    parse_date,
)
from kezekshi.people.models import (
    Guardian,
    Guardianship,
    Person,
    Pupil,
    SchoolClass,
    StaffMember,
    iin_digest,
)

pytestmark = pytest.mark.django_db

HEADER = [
    "ИИН",
    "Фамилия",
    "Имя",
    "Отчество",
    "Дата рождения",
    "Пол",
    "Класс",
    "ИИН представителя 1",
    "ФИО представителя 1",
    "Телефон представителя 1",
    "Степень родства 1",
    "ИИН представителя 2",
    "ФИО представителя 2",
    "Телефон представителя 2",
    "Степень родства 2",
]
CLASS_HEADER = ["Класс", "Смена", "Язык обучения", "ИИН классного руководителя"]

# Pupils: a brother and a sister with the same mother and father, and a third child.
ALIYA = make_iin(birth_date=dt.date(2014, 3, 9), sex="F", serial=11)
ERLAN = make_iin(birth_date=dt.date(2012, 11, 30), sex="M", serial=12)
DANA = make_iin(birth_date=dt.date(2014, 7, 1), sex="F", serial=13)
MOTHER = make_iin(birth_date=dt.date(1985, 4, 2), sex="F", serial=21)
FATHER = make_iin(birth_date=dt.date(1983, 1, 15), sex="M", serial=22)
TEACHER = make_iin(birth_date=dt.date(1979, 9, 9), sex="F", serial=23)


def pupil_row(**changes: Any) -> list[object]:
    row: dict[str, object] = {
        "ИИН": ALIYA,
        "Фамилия": "Сейтқали",
        "Имя": "Әлия",
        "Отчество": "Нұрланқызы",
        "Дата рождения": "09.03.2014",
        "Пол": "Ж",
        "Класс": "5 Ә",
        "ИИН представителя 1": MOTHER,
        "ФИО представителя 1": "Сейтқали Айгерім Болатқызы",
        "Телефон представителя 1": "8 (701) 555-01-01",
        "Степень родства 1": "мать",
        "ИИН представителя 2": "",
        "ФИО представителя 2": "Сейтқали Нұрлан",
        "Телефон представителя 2": "+7 702 555 02 02",
        "Степень родства 2": "отец",
    }
    row.update(changes)
    return [row[column] for column in HEADER]


def family() -> list[list[object]]:
    """Three pupils; the first two are siblings with the same mother and father."""
    return [
        pupil_row(),
        pupil_row(
            **{
                "ИИН": ERLAN,
                "Имя": "Ерлан",
                "Отчество": "Нұрланұлы",
                "Дата рождения": "30.11.2012",
                "Пол": "М",
                "Класс": "7 А",
            }
        ),
        pupil_row(
            **{
                "ИИН": DANA,
                "Фамилия": "Иванова",
                "Имя": "Дана",
                "Отчество": "",
                "Дата рождения": "01.07.2014",
                "Пол": "",
                "Класс": "5Ә",
                "ИИН представителя 1": "",
                "ФИО представителя 1": "Иванова Ольга Петровна",
                "Телефон представителя 1": "87015550303",
                "Степень родства 1": "бабушка",
                "ФИО представителя 2": "",
                "Телефон представителя 2": "",
                "Степень родства 2": "",
            }
        ),
    ]


def csv_file(
    rows: Sequence[Sequence[object]],
    *,
    header: Sequence[str] = HEADER,
    encoding: str = "utf-8-sig",
    delimiter: str = ";",
) -> bytes:
    buffer = io.StringIO()
    writer = csv.writer(buffer, delimiter=delimiter)
    writer.writerow(header)
    writer.writerows(rows)
    return buffer.getvalue().encode(encoding)


def xlsx_file(sheets: dict[str, list[Sequence[object]]]) -> bytes:
    workbook = Workbook()
    workbook.remove(workbook.active)  # type: ignore[arg-type]
    for title, rows in sheets.items():
        sheet = workbook.create_sheet(title)
        for row in rows:
            sheet.append(list(row))
    buffer = io.BytesIO()
    workbook.save(buffer)
    return buffer.getvalue()


def classes_sheet(*rows: Sequence[object]) -> list[Sequence[object]]:
    return [CLASS_HEADER, *rows]


def snapshot(school: School) -> dict[str, int]:
    return {
        model.__name__: model.objects.filter(school=school).count()
        for model in (SchoolClass, Person, Pupil, Guardian, Guardianship)
    }


def run(school: School, data: bytes, filename: str = "nobd.csv", **options: Any) -> ImportReport:
    return import_people(school=school, file=io.BytesIO(data), filename=filename, **options)


def issue_codes(report: ImportReport) -> list[tuple[int | None, str, str]]:
    return [(issue.row, issue.column, issue.code) for issue in report.errors]


@pytest.fixture
def classes(school: School, school_class: SchoolClass) -> None:
    """5 Ә (the conftest's ``school_class``) and 7 А."""
    SchoolClass.objects.create(school=school, grade=7, letter="А")


# --- Good files ------------------------------------------------------------------------------


def test_a_utf8_csv_creates_pupils_guardians_and_links(school: School, classes: None) -> None:
    report = run(school, csv_file(family()))

    assert report.ok, report.errors
    assert {kind: c.created for kind, c in report.counts.items()} == {
        "classes": 0,
        "pupils": 3,
        "guardians": 3,
        "guardianships": 5,
    }
    aliya = Pupil.objects.get(school=school, person__iin_digest=iin_digest(ALIYA))
    assert aliya.person.iin == ALIYA
    assert (aliya.person.last_name, aliya.person.first_name) == ("Сейтқали", "Әлия")
    assert aliya.person.birth_date == dt.date(2014, 3, 9)
    assert aliya.person.sex == "F"
    assert str(aliya.school_class) == "5 Ә"
    assert services.is_valid_account_number(aliya.account_number)
    assert aliya.account_number.startswith(str(school.account_prefix))
    mother = aliya.guardianships.get(relation="mother").guardian.person
    assert (mother.last_name, mother.first_name, mother.patronymic) == (
        "Сейтқали",
        "Айгерім",
        "Болатқызы",
    )
    assert mother.phone == "+77015550101"
    assert mother.birth_date == dt.date(1985, 4, 2) and mother.sex == "F"
    # The sex left empty is read from the IIN.
    dana = Pupil.objects.get(school=school, person__iin_digest=iin_digest(DANA))
    assert dana.person.sex == "F"
    assert dana.guardianships.get().relation == "grandparent"


def test_the_iin_in_the_database_is_encrypted(school: School, classes: None) -> None:
    run(school, csv_file(family()))
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("SELECT iin FROM people_person WHERE iin_digest = %s", [iin_digest(ALIYA)])
        (stored,) = cursor.fetchone()
    assert ALIYA not in stored


def test_siblings_share_one_guardian_row(school: School, classes: None) -> None:
    run(school, csv_file(family()))

    aliya = Pupil.objects.get(person__iin_digest=iin_digest(ALIYA))
    erlan = Pupil.objects.get(person__iin_digest=iin_digest(ERLAN))
    mothers = {g.guardian_id for g in Guardianship.objects.filter(relation="mother")}
    fathers = {g.guardian_id for g in Guardianship.objects.filter(relation="father")}
    # The mother is found by IIN, the father (no IIN) by phone and name.
    assert len(mothers) == 1 and len(fathers) == 1
    assert set(aliya.guardianships.values_list("guardian_id", flat=True)) == mothers | fathers
    assert set(erlan.guardianships.values_list("guardian_id", flat=True)) == mothers | fathers
    assert Guardian.objects.filter(school=school).count() == 3


def test_a_cp1251_csv_with_commas_is_read(school: School) -> None:
    SchoolClass.objects.create(school=school, grade=3, letter="Б")
    pupil = make_iin(birth_date=dt.date(2017, 2, 3), sex="M", serial=31)
    rows = [
        [
            pupil,
            "Петров",
            "Иван",
            "Сергеевич",
            "03.02.2017",
            "М",
            "3 Б",
            "",
            "Петрова Анна Ивановна",
            "+7 705 555 11 22",
            "Мать",
        ]
    ]
    data = csv_file(rows, header=HEADER[:11], encoding="cp1251", delimiter=",")
    with pytest.raises(UnicodeDecodeError):
        data.decode("utf-8")

    report = run(school, data)

    assert report.ok, report.errors
    person = Person.objects.get(iin_digest=iin_digest(pupil))
    assert (person.last_name, person.patronymic) == ("Петров", "Сергеевич")
    assert Guardian.objects.get(school=school).person.full_name == "Петрова Анна Ивановна"


def test_an_xlsx_workbook_imports_its_classes_and_pupils_together(
    school: School, make_user: Any
) -> None:
    teacher = Person.objects.create(
        school=school, last_name="Әбенова", first_name="Гүлнар", iin=TEACHER
    )
    staff = StaffMember.objects.create(school=school, person=teacher, position="Мұғалім")
    pupils = family()
    # A real spreadsheet date, and an IIN typed as a number.
    pupils[0][HEADER.index("Дата рождения")] = dt.datetime(2014, 3, 9)
    pupils[1][HEADER.index("ИИН")] = int(ERLAN)
    data = xlsx_file(
        {
            "Ученики": [HEADER, *pupils],
            "Классы": classes_sheet(["5 Ә", 1, "казахский", TEACHER], ["7 A", "2", "русский", ""]),
        }
    )

    report = run(school, data, "nobd.xlsx")

    assert report.ok, report.errors
    assert report.counts["classes"].created == 2
    assert report.counts["pupils"].created == 3
    five = SchoolClass.objects.get(school=school, grade=5, letter="Ә")
    seven = SchoolClass.objects.get(school=school, grade=7, letter="А")  # Latin A → Cyrillic
    assert (five.shift, five.language, five.class_teacher) == (1, "kk", staff)
    assert (seven.shift, seven.language, seven.class_teacher) == (2, "ru", None)
    assert Pupil.objects.filter(school_class=five).count() == 2
    assert Pupil.objects.get(school_class=seven).person.iin == ERLAN


def test_kazakh_and_english_headers_in_any_case_below_a_title_row(school: School) -> None:
    kazakh = [" жсн ", "ТЕГІ", "Аты", "Туған  күні", "Сынып", "Өкілдің аты-жөні",
              "Өкілдің телефоны 1", "Туыстық дәрежесі 1", "Ұлты"]  # fmt: skip
    english = ["Class", "Shift", "Language of instruction"]
    data = xlsx_file(
        {
            "Сыныптар": [english, ["5 Ә", 1, "kk"]],
            "Оқушылар": [
                ["Оқушылар тізімі, 2026"],
                kazakh,
                [
                    ALIYA,
                    "Сейтқали",
                    "Әлия",
                    "2014-03-09",
                    "5-ә",
                    "Сейтқали Айгерім",
                    "87015550101",
                    "ана",
                    "қазақ",
                ],
            ],
        }
    )

    report = run(school, data, "nobd.xlsx")

    assert report.ok, report.errors
    pupil = Pupil.objects.get(school=school)
    assert pupil.person.sex == "F" and pupil.person.patronymic == ""
    assert pupil.guardianships.get().relation == "mother"


@pytest.mark.parametrize(
    ("text", "parsed"),
    [
        ("5 Ә", (5, "Ә")),
        ("5Ә", (5, "Ә")),
        ("5-Ә", (5, "Ә")),
        ("5 ә", (5, "Ә")),
        ("11 «Б» класс", (11, "Б")),
        ("0 А", (0, "А")),
        ("5 A", (5, "А")),  # Latin A
        ("5B", (5, "В")),  # Latin B looks like Cyrillic В
        ("5 Ə", (5, "Ә")),  # Latin schwa
        ("12 А", None),
        ("5", None),
        ("5 W", None),
        ("5 Ъ", None),
    ],
)
def test_class_names(text: str, parsed: tuple[int, str] | None) -> None:
    assert parse_class_name(text) == parsed


@pytest.mark.parametrize(
    ("value", "date"),
    [
        ("09.03.2014", dt.date(2014, 3, 9)),
        ("9.3.2014", dt.date(2014, 3, 9)),
        ("2014-03-09", dt.date(2014, 3, 9)),
        (dt.datetime(2014, 3, 9, 0, 0), dt.date(2014, 3, 9)),
        (41707, dt.date(2014, 3, 9)),
        ("31.02.2014", None),
        ("март 2014", None),
    ],
)
def test_dates(value: object, date: dt.date | None) -> None:
    assert parse_date(value) == date


# --- Bad files: every problem named by row and column, and nothing written ----------------


def _without_guardian_2(**changes: Any) -> list[object]:
    return pupil_row(
        **{"ФИО представителя 2": "", "Телефон представителя 2": "", "Степень родства 2": ""},
        **changes,
    )


BAD_ROWS = [
    ("bad_iin", "ИИН", {"ИИН": ALIYA[:11] + str((int(ALIYA[11]) + 1) % 10)}),
    ("bad_iin", "ИИН", {"ИИН": "12345"}),
    ("required", "ИИН", {"ИИН": ""}),
    ("required", "Фамилия", {"Фамилия": " "}),
    ("iin_birth_date", "Дата рождения", {"Дата рождения": "10.03.2014"}),
    ("iin_sex", "Пол", {"Пол": "М"}),
    ("bad_sex", "Пол", {"Пол": "X"}),
    ("bad_date", "Дата рождения", {"Дата рождения": "31.02.2014"}),
    ("bad_class", "Класс", {"Класс": "5"}),
    ("unknown_class", "Класс", {"Класс": "9 Ж"}),
    ("bad_phone", "Телефон представителя 1", {"Телефон представителя 1": "+7 727 250 00 00"}),
    ("bad_iin", "ИИН представителя 1", {"ИИН представителя 1": "111111111111"}),
    ("bad_name", "ФИО представителя 1", {"ФИО представителя 1": "Айгерім"}),
    ("required", "ФИО представителя 1", {"ФИО представителя 1": ""}),
    ("bad_relation", "Степень родства 1", {"Степень родства 1": "соседка"}),
    ("too_long", "Фамилия", {"Фамилия": "Ә" * 101}),
    ("duplicate_iin", "ИИН представителя 1", {"ИИН представителя 1": ALIYA}),
]


@pytest.mark.parametrize(("code", "column", "changes"), BAD_ROWS)
def test_a_bad_cell_is_reported_by_row_and_column_and_nothing_is_written(
    school: School, classes: None, code: str, column: str, changes: dict[str, object]
) -> None:
    good = family()[1]
    before = snapshot(school)

    report = run(school, csv_file([good, _without_guardian_2(**changes)]))

    assert not report.ok
    assert (3, column, code) in issue_codes(report), report.errors
    assert all(issue.message for issue in report.errors)
    assert snapshot(school) == before


def test_duplicate_iins_in_a_file_name_the_first_row(school: School, classes: None) -> None:
    rows = family()
    rows.append(rows[0])
    report = run(school, csv_file(rows))
    assert issue_codes(report) == [(5, "ИИН", "duplicate_iin")]
    assert "2" in report.errors[0].message
    assert snapshot(school)["Person"] == 0


def test_an_iin_of_another_person_in_the_school_is_refused(
    school: School, classes: None, pupil: Pupil
) -> None:
    before = snapshot(school)
    row = pupil_row(
        **{
            "ИИН": pupil.person.iin,
            "Фамилия": "Оспанова",
            "Имя": "Дана",
            "Дата рождения": "03.05.2012",
            "Пол": "Ж",
        }
    )

    report = run(school, csv_file([row]))

    assert issue_codes(report) == [(2, "ИИН", "iin_conflict")]
    assert "Сейтқали Әлия" in report.errors[0].message
    assert snapshot(school) == before


def test_one_guardian_written_two_ways_is_refused(school: School, classes: None) -> None:
    rows = family()
    rows[1][HEADER.index("ФИО представителя 1")] = "Оспанова Айгерім"
    report = run(school, csv_file(rows))
    assert (3, "ИИН представителя 1", "guardian_mismatch") in issue_codes(report)
    assert snapshot(school)["Guardian"] == 0


def test_a_phone_of_another_guardian_in_the_school_is_refused(
    school: School, classes: None, pupil: Pupil
) -> None:
    services.add_guardian(
        pupil=pupil,
        last_name="Байжанов",
        first_name="Арман",
        phone="+77015550303",
        relation="father",
    )
    before = snapshot(school)
    report = run(school, csv_file([family()[2]]))
    assert issue_codes(report) == [(2, "Телефон представителя 1", "phone_conflict")]
    assert snapshot(school) == before


def test_a_missing_required_column_is_a_file_level_error(school: School, classes: None) -> None:
    header = [c for c in HEADER if c != "Дата рождения"]
    rows = [
        [v for c, v in zip(HEADER, row, strict=True) if c != "Дата рождения"] for row in family()
    ]
    report = run(school, csv_file(rows, header=header))
    assert [(i.column, i.code) for i in report.errors] == [("Дата рождения", "missing_column")]
    assert "Дата рождения" in report.errors[0].message
    assert snapshot(school)["Person"] == 0


def test_an_unknown_class_teacher_is_refused(school: School) -> None:
    data = xlsx_file({"Классы": classes_sheet(["5 Ә", 1, "kk", TEACHER], ["6 Ә", 3, "латынь", ""])})
    report = run(school, data, "classes.xlsx")
    assert issue_codes(report) == [
        (2, "ИИН классного руководителя", "unknown_teacher"),
        (3, "Смена", "bad_shift"),
        (3, "Язык обучения", "bad_language"),
    ]
    assert SchoolClass.objects.filter(school=school).count() == 0


def test_a_class_listed_twice_is_refused(school: School) -> None:
    data = xlsx_file({"Классы": classes_sheet(["5 Ә", 1, "kk"], ["5Ә", 2, "kk"])})
    report = run(school, data, "classes.xlsx")
    assert issue_codes(report) == [(3, "Класс", "duplicate_class")]


@pytest.mark.parametrize(
    ("data", "filename", "code"),
    [
        (b"", "nobd.csv", "empty_file"),
        (b"PK\x03\x04 this is not a workbook", "nobd.xlsx", "unreadable_file"),
        (b"\xd0\xcf\x11\xe0 an old Excel file", "nobd.xls", "unsupported_file"),
        (b"%PDF-1.7", "nobd.pdf", "unsupported_file"),
        ("ИИН;Фамилия;Имя;Дата рождения;Класс\n".encode(), "nobd.csv", "empty_file"),
        ("Список учеников\nкто;где\n".encode(), "nobd.csv", "no_header"),
    ],
)
def test_an_unreadable_or_empty_file_is_one_clear_error(
    school: School, data: bytes, filename: str, code: str
) -> None:
    report = run(school, data, filename)
    assert [issue.code for issue in report.errors] == [code]
    assert report.errors[0].message


def test_one_bad_row_among_many_good_writes_nothing(school: School, classes: None) -> None:
    rows = [*family(), pupil_row(**{"ИИН": DANA, "Класс": "10 Я"})]
    report = run(school, csv_file(rows))
    assert not report.ok
    assert snapshot(school) == {
        "SchoolClass": 2,
        "Person": 0,
        "Pupil": 0,
        "Guardian": 0,
        "Guardianship": 0,
    }
    assert School.objects.get(pk=school.pk).last_account_serial == 0


# --- Re-import, dry run, accounts --------------------------------------------------------


def test_importing_the_same_file_again_changes_nothing(school: School, classes: None) -> None:
    data = csv_file(family())
    run(school, data)
    numbers = dict(Pupil.objects.values_list("person__iin_digest", "account_number"))
    before = snapshot(school)

    again = run(school, data)

    assert again.ok
    assert {kind: (c.created, c.updated) for kind, c in again.counts.items()} == {
        "classes": (0, 0),
        "pupils": (0, 0),
        "guardians": (0, 0),
        "guardianships": (0, 0),
    }
    assert again.counts["pupils"].unchanged == 3
    assert snapshot(school) == before
    assert dict(Pupil.objects.values_list("person__iin_digest", "account_number")) == numbers


def test_a_changed_file_updates_people_and_keeps_account_numbers(
    school: School, classes: None
) -> None:
    run(school, csv_file(family()))
    number = Pupil.objects.get(person__iin_digest=iin_digest(ERLAN)).account_number
    rows = family()
    rows[1][HEADER.index("Класс")] = "5 Ә"  # moved to another class
    rows[1][HEADER.index("Отчество")] = "Нұрланұлы-Ахмет"
    rows[0][HEADER.index("Степень родства 2")] = "опекун"
    rows[1][HEADER.index("Степень родства 2")] = "опекун"
    rows[2][HEADER.index("ИИН представителя 1")] = make_iin(
        birth_date=dt.date(1960, 6, 6), sex="F", serial=41
    )  # the grandmother's IIN, now known

    report = run(school, csv_file(rows))

    assert report.ok, report.errors
    assert report.counts["pupils"].updated == 1
    assert report.counts["guardians"].updated == 1
    assert report.counts["guardianships"].updated == 2
    assert sum(c.created for c in report.counts.values()) == 0
    erlan = Pupil.objects.get(person__iin_digest=iin_digest(ERLAN))
    assert erlan.account_number == number
    assert str(erlan.school_class) == "5 Ә"
    assert erlan.person.patronymic == "Нұрланұлы-Ахмет"
    grandmother = Guardian.objects.get(person__phone="+77015550303").person
    assert grandmother.iin and grandmother.birth_date == dt.date(1960, 6, 6)


def test_a_dry_run_counts_what_it_would_do_and_writes_nothing(
    school: School, classes: None
) -> None:
    report = run(school, csv_file(family()), dry_run=True)
    assert report.ok and report.dry_run and not report.written
    assert report.counts["pupils"].created == 3
    assert snapshot(school)["Person"] == 0


def test_a_guardian_added_by_hand_is_found_by_phone_not_duplicated(
    school: School, classes: None, pupil: Pupil
) -> None:
    services.add_guardian(
        pupil=pupil,
        last_name="Иванова",
        first_name="Ольга",
        phone="+77015550303",
        relation="grandparent",
    )
    report = run(school, csv_file([family()[2]]))
    assert report.ok, report.errors
    assert report.counts["guardians"].created == 0
    assert Guardian.objects.filter(school=school).count() == 1


def test_a_parent_who_uses_the_app_gets_the_children_at_once(school: School, classes: None) -> None:
    parent = User.objects.create_user(phone="+77015550101")
    report = run(school, csv_file(family()))
    assert report.linked_accounts == 1
    assert Membership.objects.filter(user=parent, school=school, role=Role.PARENT).exists()
    assert Person.objects.get(iin_digest=iin_digest(MOTHER)).user == parent


def test_people_of_another_school_are_not_touched(
    school: School, other_school: School, classes: None
) -> None:
    run(school, csv_file(family()))
    SchoolClass.objects.create(school=other_school, grade=5, letter="Ә")
    SchoolClass.objects.create(school=other_school, grade=7, letter="А")
    report = run(other_school, csv_file(family()))
    assert report.counts["pupils"].created == 3  # the same IINs are new in another school
    assert Person.objects.filter(school=school).count() == 6
    assert Person.objects.filter(school=other_school).count() == 6


# --- Export and round trip -----------------------------------------------------------------


def people_of(school: School) -> set[tuple[object, ...]]:
    found: set[tuple[object, ...]] = set()
    for pupil in Pupil.objects.filter(school=school).select_related("person", "school_class"):
        p = pupil.person
        guardians = frozenset(
            (
                g.guardian.person.iin,
                g.guardian.person.full_name,
                g.guardian.person.phone,
                g.relation,
            )
            for g in pupil.guardianships.select_related("guardian__person")
        )
        found.add((p.iin, p.full_name, p.birth_date, p.sex, str(pupil.school_class), guardians))
    return found


def test_an_export_imports_into_another_school_as_the_same_people(
    school: School, other_school: School
) -> None:
    data = xlsx_file(
        {
            "Классы": classes_sheet(["5 Ә", 2, "mixed"], ["7 А", 1, "en"]),
            "Ученики": [HEADER, *family()],
        }
    )
    assert run(school, data, "nobd.xlsx").ok

    exported = export_xlsx(school=school)
    workbook = load_workbook(io.BytesIO(exported), read_only=True)
    assert workbook.sheetnames == ["Классы", "Ученики"]
    report = run(other_school, exported, "export.xlsx")

    assert report.ok, report.errors
    assert people_of(other_school) == people_of(school)
    assert len(people_of(school)) == 3
    copied = SchoolClass.objects.get(school=other_school, grade=5, letter="Ә")
    assert (copied.shift, copied.language) == (2, "mixed")
    assert Guardian.objects.filter(school=other_school).count() == 3


def test_a_csv_export_imports_back_and_into_another_school(
    school: School, other_school: School, classes: None
) -> None:
    run(school, csv_file(family()))
    exported = export_csv(school=school)
    assert exported.startswith("\ufeff".encode())

    again = run(school, exported, "export.csv")
    assert again.ok and again.counts["pupils"].unchanged == 3
    assert sum(c.created + c.updated for c in again.counts.values()) == 0

    SchoolClass.objects.create(school=other_school, grade=5, letter="Ә")
    SchoolClass.objects.create(school=other_school, grade=7, letter="А")
    assert run(other_school, exported, "export.csv").ok
    assert people_of(other_school) == people_of(school)


def test_the_class_teacher_round_trips_within_the_school(school: School) -> None:
    teacher = Person.objects.create(
        school=school, last_name="Әбенова", first_name="Гүлнар", iin=TEACHER
    )
    StaffMember.objects.create(school=school, person=teacher, position="Мұғалім")
    assert run(school, xlsx_file({"Классы": classes_sheet(["5 Ә", 1, "kk", TEACHER])}), "c.xlsx").ok
    report = run(school, export_xlsx(school=school), "export.xlsx")
    assert report.ok, report.errors
    assert report.counts["classes"].unchanged == 1


# --- Management commands -------------------------------------------------------------------


def test_the_import_command_prints_counts(
    school: School, classes: None, tmp_path: Path, capsys: Any
) -> None:
    path = tmp_path / "nobd.csv"
    path.write_bytes(csv_file(family()))

    call_command("import_people", str(path), "--school", school.bin)

    out = capsys.readouterr().out
    assert "3" in out and Pupil.objects.filter(school=school).count() == 3


def test_the_import_command_lists_problems_and_fails(
    school: School, classes: None, tmp_path: Path, capsys: Any
) -> None:
    path = tmp_path / "nobd.csv"
    path.write_bytes(csv_file([pupil_row(**{"Класс": "9 Ж"})]))

    with pytest.raises(CommandError) as failure:
        call_command("import_people", str(path), "--school", str(school.pk))

    assert failure.value.returncode == 1
    out = capsys.readouterr().out
    assert "unknown_class" in out and ":2" in out and "Класс" in out
    assert Pupil.objects.count() == 0


def test_the_import_command_dry_run_writes_nothing(
    school: School, classes: None, tmp_path: Path
) -> None:
    path = tmp_path / "nobd.csv"
    path.write_bytes(csv_file(family()))
    call_command("import_people", str(path), "--school", str(school.pk), "--dry-run")
    assert Pupil.objects.count() == 0


def test_the_import_command_refuses_an_unknown_school(tmp_path: Path, db: None) -> None:
    path = tmp_path / "nobd.csv"
    path.write_bytes(csv_file(family()))
    with pytest.raises(CommandError):
        call_command("import_people", str(path), "--school", "999999")


def test_the_export_command_writes_a_file_the_import_command_reads(
    school: School, other_school: School, tmp_path: Path
) -> None:
    data = xlsx_file(
        {
            "Классы": classes_sheet(["5 Ә", 1, "kk"], ["7 А", 1, "ru"]),
            "Ученики": [HEADER, *family()],
        }
    )
    assert run(school, data, "nobd.xlsx").ok
    path = tmp_path / "people.xlsx"

    call_command("export_people", "--school", str(school.pk), "--format", "xlsx", "-o", str(path))
    call_command("import_people", str(path), "--school", other_school.bin)

    assert people_of(other_school) == people_of(school)
    csv_path = tmp_path / "people.csv"
    call_command("export_people", "--school", school.bin, "--format", "csv", "-o", str(csv_path))
    assert csv_path.read_bytes() == export_csv(school=school)


def test_a_classes_csv_is_told_apart_by_its_headers(school: School) -> None:
    data = csv_file(
        [["5 Ә", "1", "қазақ тілі"], ["10-б", "II", "English"]], header=CLASS_HEADER[:3]
    )
    report = run(school, data, "classes.csv")
    assert report.ok, report.errors
    assert set(
        SchoolClass.objects.filter(school=school).values_list(
            "grade", "letter", "shift", "language"
        )
    ) == {(5, "Ә", 1, "kk"), (10, "Б", 2, "en")}


def test_a_pupil_who_had_left_and_is_in_the_file_studies_again(
    school: School, classes: None
) -> None:
    run(school, csv_file(family()))
    Pupil.objects.filter(person__iin_digest=iin_digest(DANA)).update(is_active=False)
    report = run(school, csv_file(family()))
    assert report.counts["pupils"].updated == 1
    assert Pupil.objects.get(person__iin_digest=iin_digest(DANA)).is_active


def test_progress_is_reported_by_stage_up_to_the_total(school: School, classes: None) -> None:
    seen: dict[str, tuple[int, int | None]] = {}

    def progress(stage: str, done: int, total: int | None) -> None:
        seen[stage] = (done, total)

    data = xlsx_file({"Ученики": [HEADER, *family()]})
    assert import_people(school=school, file=data, filename="nobd.xlsx", progress=progress).ok
    assert seen["check"] == (3, 3)
    assert (
        seen["write"][0] == seen["write"][1] == 6 + 3 + 3 + 5
    )  # persons, pupils, guardians, links
    assert seen["read"][0] == seen["read"][1]


def test_a_workbook_that_unpacks_to_gigabytes_is_refused_unread(
    school: School, monkeypatch: Any
) -> None:
    monkeypatch.setattr(importing, "MAX_UNPACKED_BYTES", 1024 * 1024)
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("xl/worksheets/sheet1.xml", b" " * (2 * 1024 * 1024))
    assert len(buffer.getvalue()) < 10 * 1024
    report = run(school, buffer.getvalue(), "bomb.xlsx")
    assert [issue.code for issue in report.errors] == ["unreadable_file"]
