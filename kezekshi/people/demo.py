"""Generated, never real, people for the demo school, tests and benchmarks.

Kazakh and Russian names, IINs with valid check digits that agree with the birth date
and sex, and phone numbers in the +7 700 0xx xx xx block (never a real subscriber's
list). Rows come in the NOBD import shape (``kezekshi.people.importing``), so the demo
school is created through the same import every school uses.
"""

from __future__ import annotations

import datetime as dt
import random
from collections.abc import Iterator
from dataclasses import dataclass

from kezekshi.core.validators import make_iin
from kezekshi.people.models import CLASS_LETTERS

KAZAKH_MALE = [
    "Нұрлан",
    "Ерлан",
    "Асқар",
    "Дәурен",
    "Ержан",
    "Бауыржан",
    "Арман",
    "Нұрсұлтан",
    "Әлихан",
    "Ильяс",
    "Темірлан",
    "Алдияр",
    "Санжар",
    "Мирас",
    "Данияр",
    "Жандос",
]
KAZAKH_FEMALE = [
    "Әсем",
    "Айгерім",
    "Жанар",
    "Гүлнар",
    "Аружан",
    "Дана",
    "Мадина",
    "Айым",
    "Нұрай",
    "Томирис",
    "Інжу",
    "Сая",
    "Ақерке",
    "Балнұр",
    "Әйгерім",
    "Аяулым",
]
KAZAKH_SURNAMES = [
    "Серікбаев",
    "Жұмабеков",
    "Оспанов",
    "Әбдірахманов",
    "Қасымов",
    "Нұрланов",
    "Төлеубаев",
    "Сәрсенбаев",
    "Байжанов",
    "Ахметов",
    "Құдайбергенов",
    "Есенов",
    "Мұхамеджанов",
    "Ермеков",
    "Ибраев",
    "Тұрсынов",
]
RUSSIAN_MALE = [
    "Александр",
    "Дмитрий",
    "Максим",
    "Сергей",
    "Андрей",
    "Алексей",
    "Иван",
    "Михаил",
    "Никита",
    "Егор",
    "Артём",
    "Павел",
]
RUSSIAN_FEMALE = [
    "Анна",
    "Мария",
    "Елена",
    "Ольга",
    "Наталья",
    "Дарья",
    "Алина",
    "Виктория",
    "Екатерина",
    "Полина",
    "Софья",
    "Ксения",
]
RUSSIAN_SURNAMES = ["Иванов", "Смирнов", "Кузнецов", "Попов", "Васильев", "Петров", "Соколов",
                    "Михайлов", "Новиков", "Фёдоров", "Морозов", "Волков"]  # fmt: skip


@dataclass(frozen=True)
class FakePerson:
    last_name: str
    first_name: str
    patronymic: str
    sex: str
    birth_date: dt.date
    iin: str


def _feminine(surname: str) -> str:
    if surname.endswith(("ов", "ев", "ин")):
        return surname + "а"
    return surname


class PeopleFactory:
    """A deterministic source of fake people: the same seed gives the same school."""

    def __init__(self, seed: int = 2026) -> None:
        self.random = random.Random(seed)
        self._serial = 0
        self._phone = 0
        self._iins: set[str] = set()

    def person(self, *, born_between: tuple[dt.date, dt.date], surname: str = "") -> FakePerson:
        rnd = self.random
        russian = rnd.random() < 0.3
        sex = rnd.choice("MF")
        if russian:
            first = rnd.choice(RUSSIAN_MALE if sex == "M" else RUSSIAN_FEMALE)
            father = rnd.choice(RUSSIAN_MALE)
            patronymic = father + ("ович" if sex == "M" else "овна")
            surname = surname or rnd.choice(RUSSIAN_SURNAMES)
        else:
            first = rnd.choice(KAZAKH_MALE if sex == "M" else KAZAKH_FEMALE)
            father = rnd.choice(KAZAKH_MALE)
            patronymic = father + ("ұлы" if sex == "M" else "қызы")
            surname = surname or rnd.choice(KAZAKH_SURNAMES)
        last = _feminine(surname) if sex == "F" else surname.removesuffix("а")
        start, end = born_between
        born = start + dt.timedelta(days=rnd.randrange((end - start).days + 1))
        iin = ""
        while not iin or iin in self._iins:
            self._serial += 1
            iin = make_iin(birth_date=born, sex=sex, serial=self._serial % 10_000)
        self._iins.add(iin)
        return FakePerson(last, first, patronymic, sex, born, iin)

    def phone(self) -> str:
        """A unique number in the +7 700 0xx xx xx block."""
        self._phone += 1
        return f"+77000{self._phone:06d}"


def class_names(count: int) -> Iterator[tuple[int, str]]:
    """``count`` classes spread over grades 0–11, lettered А, Ә, Б, … within a grade."""
    per_grade = max(1, -(-count // 12))
    made = 0
    for grade in range(12):
        for letter in CLASS_LETTERS[:per_grade]:
            if made == count:
                return
            made += 1
            yield grade, letter


def birth_window(grade: int, *, year_start: dt.date) -> tuple[dt.date, dt.date]:
    """Birth dates of a child in ``grade`` in the academic year that starts ``year_start``."""
    oldest = dt.date(year_start.year - 7 - grade, 1, 1)
    return oldest, dt.date(oldest.year, 12, 31)


CLASSES_SHEET = "Классы"
PUPILS_SHEET = "Ученики"
RELATIONS = {"F": "мать", "M": "отец"}


def nobd_rows(
    factory: PeopleFactory,
    *,
    pupils: int,
    classes: int,
    year_start: dt.date,
    teacher_iins: list[str] | None = None,
) -> tuple[list[dict[str, str]], list[dict[str, str]]]:
    """Classes and pupils (each with one or two guardians) in the NOBD import shape.

    Grades 0–4 study in the first shift, 5–11 alternate. Brothers and sisters share
    their guardians, as in a real school, about one family in ten.
    """
    rnd = factory.random
    class_list = list(class_names(classes))
    class_rows = []
    for index, (grade, letter) in enumerate(class_list):
        row = {
            "Класс": f"{grade} {letter}",
            "Смена": "1" if grade <= 4 or index % 2 == 0 else "2",
            "Язык обучения": "казахский" if rnd.random() < 0.7 else "русский",
            "ИИН классного руководителя": "",
        }
        if teacher_iins and index < len(teacher_iins):
            row["ИИН классного руководителя"] = teacher_iins[index]
        class_rows.append(row)
    pupil_rows: list[dict[str, str]] = []
    family: list[dict[str, str]] | None = None
    for index in range(pupils):
        grade, letter = class_list[index % len(class_list)]
        sibling = family is not None and rnd.random() < 0.1
        surname = pupil_rows[-1]["Фамилия"].removesuffix("а") if sibling else ""
        child = factory.person(
            born_between=birth_window(grade, year_start=year_start), surname=surname
        )
        if not sibling:
            family = []
            for number in range(1 if rnd.random() < 0.3 else 2):
                adult = factory.person(
                    born_between=(dt.date(1975, 1, 1), dt.date(1995, 12, 31)),
                    surname=child.last_name.removesuffix("а"),
                )
                family.append(
                    {
                        f"ИИН представителя {number + 1}": adult.iin,
                        f"ФИО представителя {number + 1}": (
                            f"{adult.last_name} {adult.first_name} {adult.patronymic}"
                        ),
                        f"Телефон представителя {number + 1}": factory.phone(),
                        f"Степень родства {number + 1}": RELATIONS[adult.sex],
                    }
                )
        row = {
            "ИИН": child.iin,
            "Фамилия": child.last_name,
            "Имя": child.first_name,
            "Отчество": child.patronymic,
            "Дата рождения": f"{child.birth_date:%d.%m.%Y}",
            "Пол": "М" if child.sex == "M" else "Ж",
            "Класс": f"{grade} {letter}",
        }
        for guardian in family or []:
            row.update(guardian)
        pupil_rows.append(row)
    return class_rows, pupil_rows


def nobd_workbook(classes: list[dict[str, str]], pupils: list[dict[str, str]]) -> bytes:
    """An XLSX file with a classes sheet and a pupils sheet, as the importer reads it."""
    import io

    from openpyxl import Workbook

    workbook = Workbook(write_only=True)
    for title, rows in ((CLASSES_SHEET, classes), (PUPILS_SHEET, pupils)):
        sheet = workbook.create_sheet(title)
        headers = list(dict.fromkeys(key for row in rows for key in row))
        sheet.append(headers)
        for row in rows:
            sheet.append([row.get(header, "") for header in headers])
    buffer = io.BytesIO()
    workbook.save(buffer)
    return buffer.getvalue()
