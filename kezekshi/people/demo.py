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
