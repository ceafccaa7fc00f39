"""Export of a school's classes, pupils and guardians in the shape the importer reads.

The XLSX workbook has two sheets, «Классы» and «Ученики»; the CSV file holds the pupils
sheet alone (UTF-8 with a BOM, «;» between columns, as Excel in Kazakhstan expects).
Importing an export into a school that has the same staff gives the same people back.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
from collections import defaultdict
from collections.abc import Iterator

from openpyxl import Workbook
from openpyxl.cell import WriteOnlyCell
from openpyxl.worksheet._write_only import WriteOnlyWorksheet

from kezekshi.core.models import School
from kezekshi.people.importing import (
    CLASS_COLUMNS,
    CLASS_SHEET_NAMES,
    MAX_GUARDIANS,
    PUPIL_COLUMNS,
    PUPIL_SHEET_NAMES,
    class_title,
)
from kezekshi.people.models import Guardianship, Language, Pupil, SchoolClass, Sex

Relation = Guardianship.Relation

# The words the export writes; the importer reads these and many more.
SEX_WORDS = {Sex.MALE: "М", Sex.FEMALE: "Ж"}
LANGUAGE_WORDS = {
    Language.KAZAKH: "казахский",
    Language.RUSSIAN: "русский",
    Language.ENGLISH: "английский",
    Language.MIXED: "смешанный",
}
RELATION_WORDS = {
    Relation.MOTHER: "мать",
    Relation.FATHER: "отец",
    Relation.GUARDIAN: "опекун",
    Relation.OTHER: "другое",
}
DATE_FORMAT = "%d.%m.%Y"

Row = list[object]


def class_header() -> list[str]:
    return [column.title for column in CLASS_COLUMNS]


def class_rows(school: School) -> Iterator[Row]:
    """One row per class of ``school``: class, shift, language, class teacher's IIN."""
    classes = SchoolClass.objects.filter(school=school).select_related("class_teacher__person")
    for school_class in classes.order_by("grade", "letter"):
        teacher = school_class.class_teacher
        yield [
            class_title(school_class.grade, school_class.letter),
            school_class.shift,
            LANGUAGE_WORDS.get(Language(school_class.language), school_class.language),
            teacher.person.iin if teacher else "",
        ]


def pupil_header(guardians: int) -> list[str]:
    """The pupils sheet's headers with ``guardians`` sets of guardian columns."""
    last_guardian_column = f"Степень родства {guardians}"
    titles = []
    for column in PUPIL_COLUMNS:
        titles.append(column.title)
        if column.title == last_guardian_column:
            break
    return titles


def pupil_rows(school: School) -> tuple[list[str], Iterator[Row]]:
    """The header and rows of the active pupils of ``school``, each with their guardians.

    As many guardian column sets as the pupil with the most guardians needs (at least 2,
    at most ``MAX_GUARDIANS``); legal representatives come first.
    """
    by_pupil: dict[int, list[Guardianship]] = defaultdict(list)
    links = (
        Guardianship.objects.filter(school=school, pupil__is_active=True)
        .select_related("guardian__person")
        .order_by("pupil_id", "-is_legal_representative", "pk")
    )
    for link in links:
        by_pupil[link.pupil_id].append(link)
    most = max((len(found) for found in by_pupil.values()), default=0)
    guardians = min(max(2, most), MAX_GUARDIANS)
    pupils = (
        Pupil.objects.filter(school=school, is_active=True)
        .select_related("person", "school_class")
        .order_by(
            "school_class__grade", "school_class__letter", "person__last_name", "person__first_name"
        )
    )

    def rows() -> Iterator[Row]:
        for pupil in pupils.iterator(chunk_size=2000):
            person = pupil.person
            school_class = pupil.school_class
            row: Row = [
                person.iin,
                person.last_name,
                person.first_name,
                person.patronymic,
                person.birth_date,
                SEX_WORDS.get(Sex(person.sex), "") if person.sex else "",
                class_title(school_class.grade, school_class.letter) if school_class else "",
            ]
            for link in by_pupil.get(pupil.pk, [])[:guardians]:
                parent = link.guardian.person
                relation = _relation_word(link, parent.sex)
                row += [parent.iin, parent.full_name, parent.phone, relation]
            yield row + [""] * (len(header) - len(row))

    header = pupil_header(guardians)
    return header, rows()


def _relation_word(link: Guardianship, sex: str) -> str:
    if link.relation == Relation.GRANDPARENT:
        return "дедушка" if sex == Sex.MALE else "бабушка"
    return RELATION_WORDS.get(Relation(link.relation), "другое")


def export_xlsx(*, school: School) -> bytes:
    """The school's classes and pupils as an XLSX workbook the importer reads back."""
    workbook = Workbook(write_only=True)
    classes = workbook.create_sheet(CLASS_SHEET_NAMES[0])
    classes.append(class_header())
    for row in class_rows(school):
        classes.append(_cells(classes, row))
    pupils = workbook.create_sheet(PUPIL_SHEET_NAMES[0])
    header, rows = pupil_rows(school)
    pupils.append(header)
    for row in rows:
        pupils.append(_cells(pupils, row))
    buffer = io.BytesIO()
    workbook.save(buffer)
    return buffer.getvalue()


def _cells(sheet: WriteOnlyWorksheet, row: Row) -> list[object]:
    cells: list[object] = []
    for value in row:
        if isinstance(value, dt.date):
            cell = WriteOnlyCell(sheet, value)
            cell.number_format = "DD.MM.YYYY"
            cells.append(cell)
        elif isinstance(value, str) and value.startswith("="):
            # Text, never a formula, whatever a name holds.
            cell = WriteOnlyCell(sheet, value)
            cell.data_type = "s"
            cells.append(cell)
        else:
            cells.append(value)
    return cells


def export_csv(*, school: School) -> bytes:
    """The school's pupils as a CSV file (UTF-8 with a BOM, «;»); classes are not in it."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, delimiter=";")
    header, rows = pupil_rows(school)
    writer.writerow(header)
    for row in rows:
        writer.writerow(
            [value.strftime(DATE_FORMAT) if isinstance(value, dt.date) else value for value in row]
        )
    return ("\ufeff" + buffer.getvalue()).encode("utf-8")
