"""Import of classes, pupils and guardians from files in the shape of the NOBD export.

NOBD (the national education database) exports a school's pupils as a spreadsheet with
Russian headers; schools keep them as XLSX or save them as CSV. This module reads such a
file, checks every row and then writes everything at once, or nothing:

1. ``read_tables`` turns the bytes into tables (a CSV file is one table; an XLSX workbook
   gives its classes sheet and its pupils sheet).
2. ``import_tables`` recognises the columns by their headers (Russian, Kazakh or English,
   in any case and spacing), parses and checks each row, then compares the rows with what
   the school already holds. Every problem becomes an ``ImportIssue`` naming the sheet, the
   row, the column and a machine-readable code.
3. Only when no row has a problem are classes, persons, pupils, guardians and
   guardianships written, in one transaction and in bulk.

``import_people`` does both steps for an uploaded file. The column reference for schools
is ``docs/import.md``; ``kezekshi.people.exporting`` writes the same shape back.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import re
import zipfile
from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import IO, Any, Protocol

from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.functional import Promise
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from openpyxl import load_workbook
from openpyxl.utils.exceptions import InvalidFileException

from kezekshi.accounts.models import User
from kezekshi.core.models import School
from kezekshi.core.validators import iin_birth_date, iin_sex, normalize_phone, validate_iin
from kezekshi.people.models import (
    CLASS_LETTERS,
    Guardian,
    Guardianship,
    Language,
    Person,
    Pupil,
    SchoolClass,
    Sex,
    iin_digest,
)
from kezekshi.people.services import link_guardian_accounts, reserve_account_numbers

Relation = Guardianship.Relation

# How many guardians a pupils row may carry («… представителя 1» to «… 5»).
MAX_GUARDIANS = 5
# Rows per INSERT/UPDATE batch (SQLite lowers it further to fit its parameter limit).
BATCH_SIZE = 1000
# Header rows may sit below a title; look this far down for them.
HEADER_SEARCH_ROWS = 20
NAME_MAX_LENGTH = 100
# An XLSX is a zip: refuse one that unpacks to more than this (a 10,000-pupil list
# unpacks to about 10 MB).
MAX_UNPACKED_BYTES = 500 * 1024 * 1024

# Progress callback: stage ("read", "check", "write"), rows done, rows in total if known.
Progress = Callable[[str, int, int | None], None]

CLASSES = "classes"
PUPILS = "pupils"


# --- Columns -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Column:
    """One column of an import file: its key, the header NOBD writes, and other names for it."""

    key: str
    title: str
    aliases: tuple[str, ...] = ()
    required: bool = True

    @property
    def names(self) -> tuple[str, ...]:
        return (self.title, *self.aliases)


def _guardian_columns(n: int) -> list[Column]:
    """The columns of guardian ``n``; guardian 1's may also be headed without the number."""
    names = {
        "iin": (
            "ИИН представителя {n}",
            "ИИН законного представителя {n}",
            "Өкілдің ЖСН {n}",
            "ЖСН өкілі {n}",
            "Guardian {n} IIN",
            "Guardian IIN {n}",
        ),
        "name": (
            "ФИО представителя {n}",
            "Ф.И.О. представителя {n}",
            "ФИО законного представителя {n}",
            "Өкілдің аты-жөні {n}",
            "Өкілдің толық аты-жөні {n}",
            "Guardian {n} name",
            "Guardian {n} full name",
            "Guardian name {n}",
        ),
        "phone": (
            "Телефон представителя {n}",
            "Телефон законного представителя {n}",
            "Өкілдің телефоны {n}",
            "Guardian {n} phone",
            "Guardian phone {n}",
        ),
        "relation": (
            "Степень родства {n}",
            "Степень родства представителя {n}",
            "Туыстық дәрежесі {n}",
            "Өкілдің туыстық дәрежесі {n}",
            "Relation {n}",
            "Relationship {n}",
            "Guardian {n} relation",
        ),
    }
    columns = []
    for part, spellings in names.items():
        numbered = [spelling.format(n=n) for spelling in spellings]
        unnumbered = [spelling.format(n="").strip() for spelling in spellings] if n == 1 else []
        columns.append(
            Column(f"guardian{n}_{part}", numbered[0], (*numbered[1:], *unnumbered), required=False)
        )
    return columns


PUPIL_COLUMNS: tuple[Column, ...] = (
    Column("iin", "ИИН", ("ИИН ученика", "ЖСН", "Оқушының ЖСН", "IIN", "Pupil IIN")),
    Column("last_name", "Фамилия", ("Тегі", "Last name", "Surname", "Family name")),
    Column("first_name", "Имя", ("Аты", "First name", "Given name")),
    Column("patronymic", "Отчество", ("Әкесінің аты", "Patronymic", "Middle name"), required=False),
    Column("birth_date", "Дата рождения", ("Туған күні", "Birth date", "Date of birth")),
    Column("sex", "Пол", ("Жынысы", "Sex", "Gender"), required=False),
    Column("class", "Класс", ("Сынып", "Class")),
    *(column for n in range(1, MAX_GUARDIANS + 1) for column in _guardian_columns(n)),
)
CLASS_COLUMNS: tuple[Column, ...] = (
    Column("class", "Класс", ("Сынып", "Class")),
    Column("shift", "Смена", ("Ауысым", "Shift")),
    Column(
        "language",
        "Язык обучения",
        ("Язык", "Оқыту тілі", "Тілі", "Language of instruction", "Language"),
    ),
    Column(
        "teacher_iin",
        "ИИН классного руководителя",
        ("Сынып жетекшісінің ЖСН", "Class teacher IIN", "Class teacher's IIN"),
        required=False,
    ),
)
COLUMNS = {CLASSES: CLASS_COLUMNS, PUPILS: PUPIL_COLUMNS}

CLASS_SHEET_NAMES = ("Классы", "Сыныптар", "Classes")
PUPIL_SHEET_NAMES = ("Ученики", "Оқушылар", "Pupils")

_HEADER_NOISE = re.compile(r"[\s_\-.,:;*№#()\"'«»]+")


def _header_key(text: object) -> str:
    """A header as compared: case, spaces and punctuation do not count, ё is е."""
    return _HEADER_NOISE.sub("", str(text or "").casefold().replace("ё", "е"))


_COLUMN_BY_HEADER = {
    kind: {_header_key(name): column for column in columns for name in column.names}
    for kind, columns in COLUMNS.items()
}
_CLASS_SHEETS = {_header_key(name) for name in CLASS_SHEET_NAMES}
_PUPIL_SHEETS = {_header_key(name) for name in PUPIL_SHEET_NAMES}


# --- Accepted values -----------------------------------------------------------------------


def _value_key(text: str) -> str:
    return " ".join(text.casefold().replace("ё", "е").split())


SEX_VALUES = {
    Sex.MALE: ("М", "Е", "M", "муж", "мужской", "ер", "male", "man", "boy"),
    Sex.FEMALE: ("Ж", "Ә", "F", "W", "жен", "женский", "әйел", "female", "woman", "girl"),
}
LANGUAGE_VALUES = {
    Language.KAZAKH: ("казахский", "каз", "қазақ", "қазақша", "қазақ тілі", "kazakh", "kk", "kz"),
    Language.RUSSIAN: ("русский", "рус", "орыс", "орысша", "орыс тілі", "russian", "ru"),
    Language.ENGLISH: ("английский", "англ", "ағылшын", "ағылшын тілі", "english", "en"),
    Language.MIXED: ("смешанный", "смеш", "аралас", "mixed", "mix"),
}
RELATION_VALUES = {
    Relation.MOTHER: ("мать", "мама", "ана", "анасы", "mother", "mom", "mum"),
    Relation.FATHER: ("отец", "папа", "әке", "әкесі", "father", "dad"),
    Relation.GRANDPARENT: (
        "бабушка",
        "дедушка",
        "әже",
        "әжесі",
        "ата",
        "атасы",
        "grandmother",
        "grandfather",
        "grandparent",
    ),
    Relation.GUARDIAN: ("опекун", "попечитель", "қамқоршы", "guardian"),
    Relation.OTHER: ("другое", "другой", "иное", "родственник", "басқа", "туысы", "other"),
}
_SEX = {_value_key(v): sex for sex, values in SEX_VALUES.items() for v in values}
_LANGUAGE = {_value_key(v): lang for lang, values in LANGUAGE_VALUES.items() for v in values}
_RELATION = {_value_key(v): rel for rel, values in RELATION_VALUES.items() for v in values}

# Latin letters typed for the Cyrillic ones they look like (a class «5 A» typed in a Latin
# layout is «5 А»), and the Latin schwa and barred o for Ә and Ө.
_LOOKALIKES = str.maketrans("ABCEHIKMOPTXYƏƟ", "АВСЕНІКМОРТХҮӘӨ")
_CLASS_NAME = re.compile(
    r"^(\d{1,2})\s*[-–—/]?\s*(\S)\s*(?:КЛАСС|КЛ|СЫНЫП|CLASS)?\.?$", re.IGNORECASE
)


def parse_class_name(value: object) -> tuple[int, str] | None:
    """``(grade, letter)`` for «5 Ә», «5Ә», «5-Ә», «5 A» (Latin look-alike); None if not a class."""
    text = re.sub(r"[\"'«»“”]", "", _text(value)).strip().upper()
    match = _CLASS_NAME.match(text)
    if not match:
        return None
    grade, letter = int(match.group(1)), match.group(2).translate(_LOOKALIKES)
    if not 0 <= grade <= 11 or letter not in CLASS_LETTERS:
        return None
    return grade, letter


def class_title(grade: int, letter: str) -> str:
    """A class as NOBD writes it: «5 Ә»."""
    return f"{grade} {letter}"


# --- The report ----------------------------------------------------------------------------


@dataclass(frozen=True)
class ImportIssue:
    """One problem: where it is (sheet, row, column as headed in the file) and what it is."""

    sheet: str
    row: int | None
    column: str
    code: str
    message: str


@dataclass
class Counts:
    created: int = 0
    updated: int = 0
    unchanged: int = 0

    @property
    def total(self) -> int:
        return self.created + self.updated + self.unchanged


KIND_LABELS: dict[str, Promise] = {
    "classes": gettext_lazy("Classes"),
    "pupils": gettext_lazy("Pupils"),
    "guardians": gettext_lazy("Guardians"),
    "guardianships": gettext_lazy("Pupil–guardian links"),
}


@dataclass
class ImportReport:
    """What an import found and did. ``ok`` is False when anything is wrong; then nothing
    was written. With ``dry_run`` the counts say what an import would create and update."""

    filename: str
    dry_run: bool = False
    errors: list[ImportIssue] = field(default_factory=list)
    counts: dict[str, Counts] = field(default_factory=lambda: {k: Counts() for k in KIND_LABELS})
    rows: int = 0
    linked_accounts: int = 0

    @property
    def ok(self) -> bool:
        return not self.errors

    @property
    def written(self) -> bool:
        return self.ok and not self.dry_run

    def add(
        self, code: str, message: str, *, sheet: str = "", row: int | None = None, column: str = ""
    ) -> None:
        self.errors.append(ImportIssue(sheet, row, column, code, message))

    def count_rows(self) -> list[tuple[str, Counts]]:
        """(translated kind, counts) for display."""
        return [(str(KIND_LABELS[kind]), counts) for kind, counts in self.counts.items()]


# --- Reading files -------------------------------------------------------------------------


@dataclass
class Table:
    """Rows of one sheet (or a CSV file) as ``(row number, cells)``; ``kind`` if its name
    says what it holds."""

    sheet: str
    rows: list[tuple[int, Sequence[object]]]
    kind: str | None = None


class FileProblem(Exception):
    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


def read_tables(data: bytes, filename: str, progress: Progress | None = None) -> list[Table]:
    """The tables in an XLSX or CSV file. Raises ``FileProblem`` (unsupported_file,
    unreadable_file) when the file cannot be read as either."""
    name = filename.lower()
    if name.endswith((".xlsx", ".xlsm")):
        return _read_xlsx(data, progress)
    if name.endswith((".csv", ".txt")):
        return [_read_csv(data, filename)]
    if name.endswith((".xls", ".ods")):
        raise FileProblem(
            "unsupported_file",
            _("This spreadsheet format cannot be read: save the file as .xlsx or .csv."),
        )
    raise FileProblem("unsupported_file", _("Upload an .xlsx or a .csv file."))


def _read_xlsx(data: bytes, progress: Progress | None) -> list[Table]:
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            unpacked = sum(member.file_size for member in archive.infolist())
    except zipfile.BadZipFile as exc:
        raise FileProblem(
            "unreadable_file", _("The file is not a readable .xlsx workbook.")
        ) from exc
    if unpacked > MAX_UNPACKED_BYTES:
        # A few megabytes that unpack to gigabytes are not a list of pupils.
        raise FileProblem(
            "unreadable_file", _("The workbook is too large once unpacked; save it again.")
        )
    try:
        workbook = load_workbook(io.BytesIO(data), read_only=True, data_only=True)
    except (zipfile.BadZipFile, InvalidFileException, KeyError, OSError, ValueError) as exc:
        raise FileProblem(
            "unreadable_file", _("The file is not a readable .xlsx workbook.")
        ) from exc
    try:
        sheets = [ws for ws in workbook.worksheets if hasattr(ws, "iter_rows")]
        classes = next((ws for ws in sheets if _header_key(ws.title) in _CLASS_SHEETS), None)
        pupils = next((ws for ws in sheets if _header_key(ws.title) in _PUPIL_SHEETS), None)
        if pupils is None:
            pupils = next((ws for ws in sheets if ws is not classes), None)
        chosen = [(ws, CLASSES) for ws in [classes] if ws is not None]
        if pupils is not None:
            named = _header_key(pupils.title) in _PUPIL_SHEETS
            chosen.append((pupils, PUPILS if named else ""))
        expected = sum(ws.max_row or 0 for ws, _kind in chosen)
        tables, done = [], 0
        for ws, kind in chosen:
            # Some writers record a wrong sheet size; read every cell that is there.
            ws.reset_dimensions()  # type: ignore[union-attr]
            rows: list[tuple[int, Sequence[object]]] = []
            for number, cells in enumerate(ws.iter_rows(min_row=1, values_only=True), start=1):
                if any(_text(cell) for cell in cells):
                    rows.append((number, cells))
                done += 1
                if progress and done % 1000 == 0:
                    progress("read", done, expected or None)
            tables.append(Table(ws.title, rows, kind or None))
        if progress:
            progress("read", done, done)
        return tables
    except (zipfile.BadZipFile, KeyError, OSError, ValueError) as exc:
        raise FileProblem(
            "unreadable_file", _("The file is not a readable .xlsx workbook.")
        ) from exc
    finally:
        workbook.close()


def _decode(data: bytes) -> str:
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        return data.decode("utf-16")
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        pass
    try:
        return data.decode("cp1251")
    except UnicodeDecodeError as exc:
        raise FileProblem(
            "unreadable_file", _("The file's text is neither UTF-8 nor Windows-1251.")
        ) from exc


def _read_csv(data: bytes, filename: str) -> Table:
    if b"\x00" in data[:4096] and not data.startswith((b"\xff\xfe", b"\xfe\xff")):
        raise FileProblem("unreadable_file", _("The file is not a text (CSV) file."))
    text = _decode(data)
    sample = "\n".join(text.splitlines()[:HEADER_SEARCH_ROWS])
    try:
        delimiter = csv.Sniffer().sniff(sample, delimiters=";,\t").delimiter
    except csv.Error:
        first = next((line for line in text.splitlines() if line.strip()), "")
        delimiter = max(";,\t", key=first.count)
    rows: list[tuple[int, Sequence[object]]] = []
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)
    try:
        for cells in reader:
            if any(cell.strip() for cell in cells):
                rows.append((reader.line_num, cells))
    except csv.Error as exc:
        raise FileProblem(
            "unreadable_file", _("The CSV file is malformed: %(error)s") % {"error": exc}
        ) from exc
    return Table(filename, rows)


# --- Cells ---------------------------------------------------------------------------------


def _text(value: object) -> str:
    """A cell as text: numbers without a trailing .0, spaces (also non-breaking) trimmed."""
    if value is None:
        return ""
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    return " ".join(str(value).replace("\xa0", " ").split())


def _iin_text(value: object) -> str:
    if isinstance(value, int | float) and not isinstance(value, bool):
        return f"{int(value):012d}" if value >= 0 else str(value)
    text = re.sub(r"[\s\-]", "", _text(value))
    # Excel drops the leading zero of an IIN of someone born in 2000–2009.
    return text.zfill(12) if len(text) == 11 and text.isdigit() else text


_DATE_DMY = re.compile(r"^(\d{1,2})[./\-](\d{1,2})[./\-](\d{4})$")
_DATE_YMD = re.compile(r"^(\d{4})-(\d{1,2})-(\d{1,2})(?:[ T].*)?$")


def parse_date(value: object) -> dt.date | None:
    """A date from a real spreadsheet date, «DD.MM.YYYY» or «YYYY-MM-DD»; None if none."""
    if isinstance(value, dt.datetime):
        return value.date()
    if isinstance(value, dt.date):
        return value
    if isinstance(value, int | float) and not isinstance(value, bool):
        # A date cell that lost its format: a spreadsheet day number.
        if 1 <= value <= 2_958_465:
            return dt.date(1899, 12, 30) + dt.timedelta(days=int(value))
        return None
    text = _text(value)
    try:
        if match := _DATE_DMY.match(text):
            day, month, year = (int(g) for g in match.groups())
            return dt.date(year, month, day)
        if match := _DATE_YMD.match(text):
            year, month, day = (int(g) for g in match.groups())
            return dt.date(year, month, day)
    except ValueError:
        return None
    return None


# --- Parsed rows ---------------------------------------------------------------------------


@dataclass
class _Place:
    sheet: str
    row: int
    headers: dict[str, str]  # column key → header as written in the file

    def column(self, key: str) -> str:
        return self.headers.get(key, key)


@dataclass
class _ClassRow:
    place: _Place
    grade: int
    letter: str
    shift: int
    language: str
    teacher_digest: str | None


@dataclass
class _GuardianRow:
    place: _Place
    n: int
    iin: str
    last_name: str
    first_name: str
    patronymic: str
    phone: str
    relation: str
    group: _GuardianGroup | None = None

    def key(self, suffix: str) -> str:
        return f"guardian{self.n}_{suffix}"


@dataclass
class _PupilRow:
    place: _Place
    iin: str
    digest: str
    last_name: str
    first_name: str
    patronymic: str
    birth_date: dt.date
    sex: str
    grade: int
    letter: str
    guardians: list[_GuardianRow]


@dataclass
class _GuardianGroup:
    """One guardian, however many rows name them (a parent of siblings)."""

    first: _GuardianRow
    iin: str
    phone: str
    person_id: int | None = None
    guardian_id: int | None = None
    rows: list[_GuardianRow] = field(default_factory=list)


@dataclass
class _ExistingPerson:
    id: int
    iin_digest: str | None
    last_name: str
    first_name: str
    patronymic: str
    birth_date: dt.date | None
    sex: str
    phone: str
    pupil_id: int | None
    pupil_class_id: int | None
    pupil_active: bool | None
    guardian_id: int | None
    staff_id: int | None


# --- The import ----------------------------------------------------------------------------


def import_people(
    *,
    school: School,
    file: IO[bytes] | bytes,
    filename: str,
    progress: Progress | None = None,
    dry_run: bool = False,
) -> ImportReport:
    """Import the classes, pupils and guardians of an NOBD-shaped XLSX or CSV file.

    Guarantees: every row is checked before anything is written; if any problem is found
    the report lists them all (``ok`` is False) and the database is untouched; otherwise
    everything is written in one transaction. Idempotent: persons are matched by IIN (and
    guardians without an IIN by phone), so importing the same file again changes nothing
    and pupils keep their personal account numbers. With ``dry_run`` nothing is written
    and the counts say what would be. Never raises for bad input.
    """
    report = ImportReport(filename=filename, dry_run=dry_run)
    data = file if isinstance(file, bytes) else file.read()
    if not data:
        report.add("empty_file", _("The file is empty."), sheet=filename)
        return report
    try:
        tables = read_tables(data, filename, progress)
    except FileProblem as problem:
        report.add(problem.code, problem.message, sheet=filename)
        return report
    return import_tables(
        school=school, tables=tables, report=report, progress=progress, dry_run=dry_run
    )


def import_tables(
    *,
    school: School,
    tables: Iterable[Table],
    report: ImportReport | None = None,
    progress: Progress | None = None,
    dry_run: bool = False,
) -> ImportReport:
    """Check and import tables already read (from a file, or built in memory by the demo).

    Same guarantees as ``import_people``.
    """
    report = report or ImportReport(filename="", dry_run=dry_run)
    run = _Import(school=school, report=report, progress=progress)
    run.parse(list(tables))
    if run.classes or run.pupils:
        try:
            with transaction.atomic():
                # One import per school at a time: the rows are compared with the database
                # and written under the same lock.
                list(School.objects.select_for_update().filter(pk=school.pk).values_list("pk"))
                # Compared even when some rows are wrong, so one report lists everything.
                run.check_against_database()
                if not report.errors:
                    run.plan()
                    if not dry_run:
                        run.write()
        except IntegrityError:
            report.add(
                "conflict",
                _("The school's people changed while the file was imported; import it again."),
            )
    report.errors.sort(key=lambda issue: (run.sheet_order.get(issue.sheet, -1), issue.row or 0))
    return report


@dataclass
class _Headed:
    """A table whose header row was found: what it holds and where each column is."""

    table: Table
    kind: str
    headers: dict[str, str]  # column key → header as written in the file
    index: dict[str, int]  # column key → position in a row
    rows: list[tuple[int, Sequence[object]]]


class _Import:
    """One run of an import: parse, check against the database, plan, write."""

    def __init__(self, *, school: School, report: ImportReport, progress: Progress | None) -> None:
        self.school = school
        self.report = report
        self.progress = progress
        self.sheet_order: dict[str, int] = {}
        # Parsed rows.
        self.classes: list[_ClassRow] = []
        self.class_rows: dict[tuple[int, str], int] = {}  # every class the file names → row
        self.pupils: list[_PupilRow] = []
        self.groups: list[_GuardianGroup] = []
        # What the school holds.
        self.existing_classes: dict[tuple[int, str], tuple[int, int, str, int | None]] = {}
        self.persons: dict[int, _ExistingPerson] = {}
        self.by_digest: dict[str, _ExistingPerson] = {}
        self.teacher_ids: dict[str, int] = {}
        # The plan.
        self.new_classes: list[SchoolClass] = []
        self.changed_classes: list[SchoolClass] = []
        self.new_persons: list[Person] = []
        self.changed_persons: list[Person] = []
        self.persons_given_iin: list[Person] = []
        self.pupil_person: dict[int, Person | int] = {}  # pupil row position → Person or id
        self.new_pupils: list[int] = []  # pupil row positions
        self.changed_pupils: list[int] = []
        self.group_person: dict[int, Person | int] = {}  # id(group) → Person or id
        self.new_guardians: list[_GuardianGroup] = []
        self.new_links: list[tuple[_GuardianRow, int]] = []
        self.changed_links: list[Guardianship] = []

    def error(self, place: _Place, key: str, code: str, message: str) -> None:
        self.report.add(code, message, sheet=place.sheet, row=place.row, column=place.column(key))

    # -- Reading the tables ---------------------------------------------------------------

    def parse(self, tables: list[Table]) -> None:
        """Find the headers, parse every row, and gather the guardians."""
        headed = []
        for table in tables:
            self.sheet_order.setdefault(table.sheet, len(self.sheet_order))
            found = self._find_header(table)
            if found is not None:
                headed.append(found)
        # Classes first: a pupils sheet may name the classes the classes sheet creates.
        headed.sort(key=lambda item: item.kind != CLASSES)
        total = sum(len(item.rows) for item in headed)
        self.report.rows = total
        done = 0
        for item in headed:
            for number, cells in item.rows:
                place = _Place(item.table.sheet, number, item.headers)
                if item.kind == CLASSES:
                    self._parse_class(place, item.index, cells)
                else:
                    self._parse_pupil(place, item.index, cells)
                done += 1
                if self.progress and done % 1000 == 0:
                    self.progress("check", done, total)
        if not self.report.errors and not self.classes and not self.pupils:
            sheet = tables[0].sheet if tables else self.report.filename
            self.report.add("empty_file", _("The file has no rows to import."), sheet=sheet)
        self._check_pupil_iins()
        self._group_guardians()
        if self.progress:
            self.progress("check", done, total)

    def _find_header(self, table: Table) -> _Headed | None:
        kinds = [table.kind] if table.kind else [PUPILS, CLASSES]
        for position, (_number, cells) in enumerate(table.rows[:HEADER_SEARCH_ROWS]):
            known = {
                kind: [
                    (i, column)
                    for i, cell in enumerate(cells)
                    if (column := _COLUMN_BY_HEADER[kind].get(_header_key(cell)))
                ]
                for kind in kinds
            }
            if not any(len(found) >= 2 for found in known.values()):
                continue
            kind = table.kind or _guess_kind(known)
            return self._map_columns(table, kind, position, known[kind])
        if table.rows:
            wanted = COLUMNS[table.kind or PUPILS]
            self.report.add(
                "no_header",
                _("No header row found: the first rows must name the columns (%(names)s).")
                % {"names": ", ".join(c.title for c in wanted if c.required)},
                sheet=table.sheet,
            )
        return None

    def _map_columns(
        self, table: Table, kind: str, position: int, known: list[tuple[int, Column]]
    ) -> _Headed | None:
        header_row, cells = table.rows[position]
        index: dict[str, int] = {}
        headers: dict[str, str] = {}
        ok = True
        for i, column in known:
            if column.key in index:
                self.report.add(
                    "duplicate_column",
                    _("Two columns mean «%(column)s»; keep one.") % {"column": column.title},
                    sheet=table.sheet,
                    row=header_row,
                    column=_text(cells[i]),
                )
                ok = False
                continue
            index[column.key] = i
            headers[column.key] = _text(cells[i])
        for column in COLUMNS[kind]:
            headers.setdefault(column.key, column.title)
            if column.required and column.key not in index:
                self.report.add(
                    "missing_column",
                    _("The required column «%(column)s» is missing.") % {"column": column.title},
                    sheet=table.sheet,
                    row=header_row,
                    column=column.title,
                )
                ok = False
        if not ok:
            return None
        return _Headed(table, kind, headers, index, table.rows[position + 1 :])

    # -- Rows -----------------------------------------------------------------------------

    def _required(
        self, place: _Place, index: dict[str, int], cells: Sequence[object], key: str
    ) -> str:
        value = _text(_cell(cells, index, key))
        if not value:
            self.error(place, key, "required", _("This cell must be filled in."))
        return value

    def _name(self, place: _Place, key: str, value: str) -> str:
        if len(value) > NAME_MAX_LENGTH:
            message = _("At most %(max)d characters.") % {"max": NAME_MAX_LENGTH}
            self.error(place, key, "too_long", message)
        return value

    def _iin(self, place: _Place, key: str, raw: object) -> str | None:
        try:
            return validate_iin(_iin_text(raw))
        except ValidationError as exc:
            self.error(place, key, "bad_iin", exc.messages[0])
            return None

    def _class_of(self, place: _Place, key: str, raw: object) -> tuple[int, str] | None:
        parsed = parse_class_name(raw)
        if parsed is None:
            self.error(
                place,
                key,
                "bad_class",
                _("«%(value)s» is not a class: write a grade 0–11 and a letter, like «5 Ә».")
                % {"value": _text(raw)},
            )
        return parsed

    def _parse_class(self, place: _Place, index: dict[str, int], cells: Sequence[object]) -> None:
        errors_before = len(self.report.errors)
        parsed = None
        if raw_class := self._required(place, index, cells, "class"):
            parsed = self._class_of(place, "class", raw_class)
        if parsed in self.class_rows:
            self.error(
                place,
                "class",
                "duplicate_class",
                _("Class %(name)s is already in row %(row)d.")
                % {"name": class_title(*parsed), "row": self.class_rows[parsed]},
            )
        elif parsed:
            self.class_rows[parsed] = place.row
        shift = 0
        if raw_shift := self._required(place, index, cells, "shift"):
            shift = _SHIFTS.get(raw_shift.upper().split()[0].rstrip("-."), 0)
            if not shift:
                self.error(place, "shift", "bad_shift", _("The shift is 1 or 2."))
        language = None
        if raw_language := self._required(place, index, cells, "language"):
            language = _LANGUAGE.get(_value_key(re.sub(r"\s+(язык|тілі)$", "", raw_language)))
            if language is None:
                self.error(
                    place,
                    "language",
                    "bad_language",
                    _(
                        "Write the language of instruction: казахский, русский, английский "
                        "or смешанный (kk, ru, en, mixed)."
                    ),
                )
        teacher_digest = None
        if _text(_cell(cells, index, "teacher_iin")):
            teacher_iin = self._iin(place, "teacher_iin", _cell(cells, index, "teacher_iin"))
            teacher_digest = iin_digest(teacher_iin) if teacher_iin else None
        if len(self.report.errors) == errors_before:
            assert parsed is not None and language is not None
            self.classes.append(
                _ClassRow(place, parsed[0], parsed[1], shift, str(language), teacher_digest)
            )

    def _parse_pupil(self, place: _Place, index: dict[str, int], cells: Sequence[object]) -> None:
        errors_before = len(self.report.errors)
        iin = None
        if self._required(place, index, cells, "iin"):
            iin = self._iin(place, "iin", _cell(cells, index, "iin"))
        last_name = self._name(place, "last_name", self._required(place, index, cells, "last_name"))
        first_name = self._name(
            place, "first_name", self._required(place, index, cells, "first_name")
        )
        patronymic = self._name(place, "patronymic", _text(_cell(cells, index, "patronymic")))
        born = None
        if self._required(place, index, cells, "birth_date"):
            raw_born = _cell(cells, index, "birth_date")
            born = parse_date(raw_born)
            if born is None:
                self.error(
                    place,
                    "birth_date",
                    "bad_date",
                    _("«%(value)s» is not a date: write DD.MM.YYYY.") % {"value": _text(raw_born)},
                )
        sex = ""
        if raw_sex := _text(_cell(cells, index, "sex")):
            sex = _SEX.get(_value_key(raw_sex), "")
            if not sex:
                self.error(place, "sex", "bad_sex", _("Write the sex as М or Ж (Е or Ә, M or F)."))
        if iin:
            if born and born != iin_birth_date(iin):
                self.error(
                    place,
                    "birth_date",
                    "iin_birth_date",
                    _("The birth date does not match the IIN, which says %(date)s.")
                    % {"date": iin_birth_date(iin).strftime("%d.%m.%Y")},
                )
            if sex and sex != iin_sex(iin):
                self.error(place, "sex", "iin_sex", _("The sex does not match the IIN."))
            sex = sex or iin_sex(iin)
        parsed = None
        if raw_class := self._required(place, index, cells, "class"):
            parsed = self._class_of(place, "class", raw_class)
        guardians = [
            guardian
            for n in range(1, MAX_GUARDIANS + 1)
            if (guardian := self._parse_guardian(place, index, cells, n)) is not None
        ]
        if len(self.report.errors) > errors_before:
            return
        assert iin and born and parsed
        self.pupils.append(
            _PupilRow(
                place=place,
                iin=iin,
                digest=iin_digest(iin),
                last_name=last_name,
                first_name=first_name,
                patronymic=patronymic,
                birth_date=born,
                sex=sex,
                grade=parsed[0],
                letter=parsed[1],
                guardians=guardians,
            )
        )

    def _parse_guardian(
        self, place: _Place, index: dict[str, int], cells: Sequence[object], n: int
    ) -> _GuardianRow | None:
        keys = {part: f"guardian{n}_{part}" for part in ("iin", "name", "phone", "relation")}
        raw = {part: _cell(cells, index, key) for part, key in keys.items()}
        if not any(_text(value) for value in raw.values()):
            return None
        errors_before = len(self.report.errors)
        iin = ""
        if _text(raw["iin"]):
            iin = self._iin(place, keys["iin"], raw["iin"]) or ""
        name = self._required(place, index, cells, keys["name"])
        parts = name.split()
        if name and len(parts) < 2:
            self.error(
                place,
                keys["name"],
                "bad_name",
                _("Write the full name as «Last name First name Patronymic»."),
            )
        last_name = self._name(place, keys["name"], parts[0] if parts else "")
        first_name = self._name(place, keys["name"], parts[1] if len(parts) > 1 else "")
        patronymic = self._name(place, keys["name"], " ".join(parts[2:]))
        phone = ""
        if _text(raw["phone"]):
            try:
                phone = normalize_phone(_text(raw["phone"]))
            except ValidationError as exc:
                self.error(place, keys["phone"], "bad_phone", exc.messages[0])
        elif not _text(raw["iin"]):
            self.error(
                place,
                keys["phone"],
                "required",
                _("Give the guardian's phone or IIN: one of them tells guardians apart."),
            )
        relation = Relation.OTHER
        if raw_relation := _text(raw["relation"]):
            found = _RELATION.get(_value_key(raw_relation))
            if found is None:
                self.error(
                    place,
                    keys["relation"],
                    "bad_relation",
                    _("Write the relation: мать, отец, бабушка, дедушка, опекун or другое."),
                )
            relation = found or Relation.OTHER
        if len(self.report.errors) > errors_before:
            return None
        return _GuardianRow(place, n, iin, last_name, first_name, patronymic, phone, relation)

    def _check_pupil_iins(self) -> None:
        first_row: dict[str, int] = {}
        for pupil in self.pupils:
            if pupil.iin in first_row:
                self.error(
                    pupil.place,
                    "iin",
                    "duplicate_iin",
                    _("This IIN is already in row %(row)d.") % {"row": first_row[pupil.iin]},
                )
            first_row.setdefault(pupil.iin, pupil.place.row)

    def _group_guardians(self) -> None:
        """Gather the rows that name one guardian: the same IIN, or the same phone and name.

        A guardian written differently in two rows (another name for the same IIN, another
        phone for it) is an error rather than a guess.
        """
        pupil_rows = {pupil.iin: pupil.place.row for pupil in self.pupils}
        by_iin: dict[str, _GuardianGroup] = {}
        by_phone: dict[str, list[_GuardianGroup]] = defaultdict(list)
        rows = [guardian for pupil in self.pupils for guardian in pupil.guardians]
        # Rows with an IIN first, so that a row with the phone alone joins the guardian.
        for row in sorted(rows, key=lambda guardian: not guardian.iin):
            if row.iin in pupil_rows:
                self.error(
                    row.place,
                    row.key("iin"),
                    "duplicate_iin",
                    _("This IIN is a pupil's, in row %(row)d.") % {"row": pupil_rows[row.iin]},
                )
                continue
            if row.iin:
                group = by_iin.get(row.iin)
                if group is None:
                    group = by_iin[row.iin] = _GuardianGroup(row, row.iin, row.phone)
                    self.groups.append(group)
                elif row.phone and group.phone and row.phone != group.phone:
                    self._mismatch(row, group, _("the same IIN with another phone"))
                    continue
                if not group.phone and row.phone:
                    group.phone = row.phone
                if row.phone and group not in by_phone[row.phone]:
                    by_phone[row.phone].append(group)
                if not _same_name(group.first, row):
                    self._mismatch(row, group, _("the same IIN with another name"))
                    continue
            else:
                on_phone = by_phone[row.phone]
                found = next((g for g in on_phone if _same_name(g.first, row)), None)
                if found is None and on_phone:
                    self._mismatch(row, on_phone[0], _("the same phone with another name"))
                    continue
                if found is None:
                    found = _GuardianGroup(row, "", row.phone)
                    on_phone.append(found)
                    self.groups.append(found)
                group = found
            row.group = group
            group.rows.append(row)
        for pupil in self.pupils:
            seen: list[_GuardianGroup] = []
            for row in pupil.guardians:
                if row.group is not None and row.group in seen:
                    self.error(
                        row.place,
                        row.key("name"),
                        "duplicate_guardian",
                        _("This guardian is already given for this pupil."),
                    )
                seen.append(row.group)  # type: ignore[arg-type]

    def _mismatch(self, row: _GuardianRow, group: _GuardianGroup, what: str) -> None:
        self.error(
            row.place,
            row.key("iin" if row.iin else "phone"),
            "guardian_mismatch",
            _("Row %(row)d has %(what)s: write one guardian the same way in every row.")
            % {"row": group.first.place.row, "what": what},
        )

    # -- Against the database -------------------------------------------------------------

    def check_against_database(self) -> None:
        """Compare the rows with the school's classes, staff and persons."""
        school = self.school
        for pk, grade, letter, shift, language, teacher_id in SchoolClass.objects.filter(
            school=school
        ).values_list("pk", "grade", "letter", "shift", "language", "class_teacher_id"):
            self.existing_classes[(grade, letter)] = (pk, shift, language, teacher_id)
        # Only the columns needed: the encrypted IINs are never decrypted here.
        for values in Person.objects.filter(school=school).values_list(
            "pk",
            "iin_digest",
            "last_name",
            "first_name",
            "patronymic",
            "birth_date",
            "sex",
            "phone",
            "pupil__pk",
            "pupil__school_class_id",
            "pupil__is_active",
            "guardian__pk",
            "staff__pk",
        ):
            person = _ExistingPerson(*values)
            self.persons[person.id] = person
            if person.iin_digest:
                self.by_digest[person.iin_digest] = person
        self._check_classes()
        self._check_pupils()
        self._match_guardians()

    def _check_classes(self) -> None:
        for row in self.classes:
            if not row.teacher_digest:
                continue
            person = self.by_digest.get(row.teacher_digest)
            if person is None or person.staff_id is None:
                self.error(
                    row.place,
                    "teacher_iin",
                    "unknown_teacher",
                    _("No employee of the school has this IIN."),
                )
            else:
                self.teacher_ids[row.teacher_digest] = person.staff_id

    def _check_pupils(self) -> None:
        known_classes = set(self.existing_classes) | set(self.class_rows)
        for pupil in self.pupils:
            if (pupil.grade, pupil.letter) not in known_classes:
                self.error(
                    pupil.place,
                    "class",
                    "unknown_class",
                    _("The school has no class %(name)s: add it on the classes sheet first.")
                    % {"name": class_title(pupil.grade, pupil.letter)},
                )
            existing = self.by_digest.get(pupil.digest)
            if existing and not _same_name(existing, pupil):
                self._iin_conflict(pupil.place, "iin", existing)

    def _iin_conflict(self, place: _Place, key: str, existing: _ExistingPerson) -> None:
        self.error(
            place,
            key,
            "iin_conflict",
            _("This IIN already belongs to %(name)s in this school.")
            % {"name": f"{existing.last_name} {existing.first_name}"},
        )

    def _match_guardians(self) -> None:
        """Find each guardian among the school's persons: by IIN, else by phone and name."""
        on_phone: dict[str, list[_ExistingPerson]] = defaultdict(list)
        for person in self.persons.values():
            if person.guardian_id and person.phone:
                on_phone[person.phone].append(person)
        claimed: set[int] = set()
        for group in self.groups:
            row = group.first
            existing: _ExistingPerson | None = None
            if group.iin:
                existing = self.by_digest.get(iin_digest(group.iin))
                if existing and not _same_name(existing, row):
                    self._iin_conflict(row.place, row.key("iin"), existing)
                    continue
            candidates = [p for p in on_phone.get(group.phone, []) if p.id not in claimed]
            if existing is None and group.iin:
                # A guardian recorded by phone before their IIN was known.
                existing = next(
                    (p for p in candidates if not p.iin_digest and _same_name(p, row)), None
                )
            elif existing is None:
                existing = next((p for p in candidates if _same_name(p, row)), None)
                if existing is None and candidates:
                    self.error(
                        row.place,
                        row.key("phone"),
                        "phone_conflict",
                        _(
                            "This phone already belongs to the guardian %(name)s in this "
                            "school; give this guardian's IIN or another phone."
                        )
                        % {"name": f"{candidates[0].last_name} {candidates[0].first_name}"},
                    )
                    continue
            if existing is not None:
                claimed.add(existing.id)
                group.person_id = existing.id
                group.guardian_id = existing.guardian_id

    # -- Planning and writing -------------------------------------------------------------

    def plan(self) -> None:
        """Decide what to create and what to update (nothing for rows already as written)."""
        self._plan_classes()
        self._plan_pupils()
        self._plan_guardians()
        self._plan_links()

    def _plan_classes(self) -> None:
        counts = self.report.counts["classes"]
        for row in self.classes:
            teacher_id = self.teacher_ids.get(row.teacher_digest or "")
            current = self.existing_classes.get((row.grade, row.letter))
            if current is None:
                self.new_classes.append(
                    SchoolClass(
                        school=self.school,
                        grade=row.grade,
                        letter=row.letter,
                        shift=row.shift,
                        language=row.language,
                        class_teacher_id=teacher_id,
                    )
                )
                counts.created += 1
                continue
            pk, shift, language, old_teacher = current
            # An empty teacher cell keeps the teacher on record.
            teacher_id = teacher_id or old_teacher
            if (shift, language, old_teacher) == (row.shift, row.language, teacher_id):
                counts.unchanged += 1
            else:
                self.changed_classes.append(
                    SchoolClass(
                        pk=pk, shift=row.shift, language=row.language, class_teacher_id=teacher_id
                    )
                )
                counts.updated += 1

    def _update_person(self, existing: _ExistingPerson, wanted: dict[str, Any]) -> bool:
        if all(getattr(existing, name) == value for name, value in wanted.items()):
            return False
        values = {name: getattr(existing, name) for name in _PERSON_FIELDS} | wanted
        self.changed_persons.append(Person(pk=existing.id, updated_at=timezone.now(), **values))
        return True

    def _plan_pupils(self) -> None:
        counts = self.report.counts["pupils"]
        for position, row in enumerate(self.pupils):
            wanted = {
                "last_name": row.last_name,
                "first_name": row.first_name,
                "patronymic": row.patronymic,
                "birth_date": row.birth_date,
                "sex": row.sex,
            }
            existing = self.by_digest.get(row.digest)
            if existing is None:
                person = Person(school=self.school, iin=row.iin, iin_digest=row.digest, **wanted)
                self.new_persons.append(person)
                self.pupil_person[position] = person
                self.new_pupils.append(position)
                counts.created += 1
                continue
            self.pupil_person[position] = existing.id
            person_changed = self._update_person(existing, wanted)
            if existing.pupil_id is None:
                self.new_pupils.append(position)
                counts.created += 1
                continue
            current_class = self.existing_classes.get((row.grade, row.letter))
            moved = current_class is None or current_class[0] != existing.pupil_class_id
            if moved or not existing.pupil_active:
                self.changed_pupils.append(position)
            if person_changed or moved or not existing.pupil_active:
                counts.updated += 1
            else:
                counts.unchanged += 1

    def _plan_guardians(self) -> None:
        counts = self.report.counts["guardians"]
        for group in self.groups:
            row = group.first
            wanted: dict[str, Any] = {
                "last_name": row.last_name,
                "first_name": row.first_name,
                "patronymic": row.patronymic,
            }
            if group.phone:
                wanted["phone"] = group.phone
            if group.iin:
                wanted |= {"birth_date": iin_birth_date(group.iin), "sex": iin_sex(group.iin)}
            if group.person_id is None:
                person = Person(
                    school=self.school,
                    iin=group.iin,
                    iin_digest=iin_digest(group.iin) if group.iin else None,
                    **wanted,
                )
                self.new_persons.append(person)
                self.group_person[id(group)] = person
                self.new_guardians.append(group)
                counts.created += 1
                continue
            existing = self.persons[group.person_id]
            self.group_person[id(group)] = existing.id
            changed = self._update_person(existing, wanted)
            if group.iin and not existing.iin_digest:
                self.persons_given_iin.append(
                    Person(pk=existing.id, iin=group.iin, iin_digest=iin_digest(group.iin))
                )
                changed = True
            if group.guardian_id is None:
                self.new_guardians.append(group)
                counts.created += 1
            elif changed:
                counts.updated += 1
            else:
                counts.unchanged += 1

    def _plan_links(self) -> None:
        counts = self.report.counts["guardianships"]
        existing_links = {
            (guardian_id, pupil_id): (pk, relation)
            for pk, guardian_id, pupil_id, relation in Guardianship.objects.filter(
                school=self.school
            ).values_list("pk", "guardian_id", "pupil_id", "relation")
        }
        for position, pupil in enumerate(self.pupils):
            person = self.by_digest.get(pupil.digest)
            pupil_id = person.pupil_id if person else None
            for row in pupil.guardians:
                assert row.group is not None
                guardian_id = row.group.guardian_id
                link = (
                    existing_links.get((guardian_id, pupil_id))
                    if guardian_id and pupil_id
                    else None
                )
                if link is None:
                    self.new_links.append((row, position))
                    counts.created += 1
                elif link[1] != row.relation:
                    self.changed_links.append(Guardianship(pk=link[0], relation=row.relation))
                    counts.updated += 1
                else:
                    counts.unchanged += 1

    def write(self) -> None:
        """Carry out the plan with bulk inserts and updates (the caller's transaction)."""
        school = self.school
        total = (
            len(self.new_classes)
            + len(self.new_persons)
            + len(self.new_pupils)
            + len(self.new_guardians)
            + len(self.new_links)
        )
        done = 0

        def create(model: Any, objects: list[Any]) -> None:
            nonlocal done
            for start in range(0, len(objects), BATCH_SIZE):
                batch = objects[start : start + BATCH_SIZE]
                model.objects.bulk_create(batch)
                done += len(batch)
                if self.progress:
                    self.progress("write", done, total)

        create(SchoolClass, self.new_classes)
        SchoolClass.objects.bulk_update(
            self.changed_classes, ["shift", "language", "class_teacher"], batch_size=BATCH_SIZE
        )
        class_ids = {key: value[0] for key, value in self.existing_classes.items()}
        class_ids |= {(c.grade, c.letter): c.pk for c in self.new_classes}

        create(Person, self.new_persons)
        Person.objects.bulk_update(
            self.changed_persons, [*_PERSON_FIELDS, "updated_at"], batch_size=BATCH_SIZE
        )
        Person.objects.bulk_update(
            self.persons_given_iin, ["iin", "iin_digest"], batch_size=BATCH_SIZE
        )

        numbers = reserve_account_numbers(school=school, count=len(self.new_pupils))
        new_pupils = [
            Pupil(
                school=school,
                person_id=_pk(self.pupil_person[position]),
                school_class_id=class_ids[
                    (self.pupils[position].grade, self.pupils[position].letter)
                ],
                account_number=number,
            )
            for position, number in zip(self.new_pupils, numbers, strict=True)
        ]
        create(Pupil, new_pupils)
        pupil_ids = {
            self.pupils[position].digest: pupil.pk
            for position, pupil in zip(self.new_pupils, new_pupils, strict=True)
        }
        for row in self.pupils:
            person = self.by_digest.get(row.digest)
            if person and person.pupil_id:
                pupil_ids[row.digest] = person.pupil_id
        Pupil.objects.bulk_update(
            [
                Pupil(
                    pk=pupil_ids[self.pupils[position].digest],
                    school_class_id=class_ids[
                        (self.pupils[position].grade, self.pupils[position].letter)
                    ],
                    is_active=True,
                )
                for position in self.changed_pupils
            ],
            ["school_class", "is_active"],
            batch_size=BATCH_SIZE,
        )

        new_guardians = [
            Guardian(school=school, person_id=_pk(self.group_person[id(group)]))
            for group in self.new_guardians
        ]
        create(Guardian, new_guardians)
        for group, guardian in zip(self.new_guardians, new_guardians, strict=True):
            group.guardian_id = guardian.pk

        links = []
        for guardian_row, position in self.new_links:
            assert guardian_row.group is not None and guardian_row.group.guardian_id is not None
            links.append(
                Guardianship(
                    school=school,
                    guardian_id=guardian_row.group.guardian_id,
                    pupil_id=pupil_ids[self.pupils[position].digest],
                    relation=guardian_row.relation,
                )
            )
        create(Guardianship, links)
        Guardianship.objects.bulk_update(self.changed_links, ["relation"], batch_size=BATCH_SIZE)
        self._link_accounts()

    def _link_accounts(self) -> None:
        """Parents who already use the app see their new children at once."""
        phones = sorted({group.phone for group in self.groups if group.phone})
        users: list[User] = []
        for start in range(0, len(phones), 500):
            users.extend(User.objects.filter(phone__in=phones[start : start + 500]))
        for user in users:
            self.report.linked_accounts += link_guardian_accounts(user=user)


_PERSON_FIELDS = ("last_name", "first_name", "patronymic", "birth_date", "sex", "phone")
_SHIFTS = {"1": 1, "2": 2, "I": 1, "II": 2}


def _pk(ref: Person | int) -> int:
    return ref if isinstance(ref, int) else ref.pk


def _guess_kind(known: dict[str, list[tuple[int, Column]]]) -> str:
    """Pupils if the header names a pupil column, classes if it names shift or language."""
    if {c.key for _i, c in known[PUPILS]} & {"iin", "last_name", "first_name"}:
        return PUPILS
    if {c.key for _i, c in known[CLASSES]} & {"shift", "language"}:
        return CLASSES
    return PUPILS


class _Named(Protocol):
    last_name: str
    first_name: str


def _same_name(a: _Named, b: _Named) -> bool:
    """Same last and first name, ignoring case, spacing and ё/е."""
    return (_value_key(a.last_name), _value_key(a.first_name)) == (
        _value_key(b.last_name),
        _value_key(b.first_name),
    )


def _cell(cells: Sequence[object], index: dict[str, int], key: str) -> object:
    position = index.get(key)
    if position is None or position >= len(cells):
        return None
    return cells[position]
