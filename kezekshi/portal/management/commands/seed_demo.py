"""Create the demo school: shifts, bells, calendar, ~1,000 pupils, guardians and staff.

Everything is generated (see ``kezekshi.people.demo``): no real person's data. Pupils,
classes and guardians go in through the same NOBD import a real school uses.
"""

from __future__ import annotations

import datetime as dt
import io
from typing import Any

from django.contrib.auth.hashers import make_password
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import transaction

from kezekshi.accounts.models import Membership, User
from kezekshi.accounts.roles import STAFF_ROLES, Role
from kezekshi.core.models import (
    AcademicYear,
    CalendarDay,
    Lesson,
    Region,
    School,
    Shift,
    Vacation,
)
from kezekshi.core.validators import check_digit
from kezekshi.people.demo import PeopleFactory, nobd_rows, nobd_workbook
from kezekshi.people.importing import import_people
from kezekshi.people.models import Person, StaffMember
from kezekshi.privacy import services as privacy_services

DEMO_BIN_BODY = "95084000123"  # Aug 1995, resident legal entity, head office
DEMO_PREFIX = 1000
DEMO_PASSWORD = "kezekshi-demo"  # noqa: S105 - printed for the demo, never used in production
STAFF_POSITIONS = {
    Role.SCHOOL_ADMIN: "Директор",
    Role.GUARD: "Күзетші",
    Role.CASHIER: "Асхана кассирі",
    Role.LIBRARIAN: "Кітапханашы",
    Role.CLASS_TEACHER: "Сынып жетекшісі",
    Role.SOCIAL_PEDAGOGUE: "Әлеуметтік педагог",
    Role.DPO: "Дербес деректерді қорғау жөніндегі жауапты",
}
# Movable days the government sets each year (check the decree before relying on them).
MOVABLE_DAYS = [
    (dt.date(2026, 5, 27), CalendarDay.Kind.HOLIDAY, "Құрбан айт", "Курбан айт", "Kurban Ait"),
    (dt.date(2027, 5, 16), CalendarDay.Kind.HOLIDAY, "Құрбан айт", "Курбан айт", "Kurban Ait"),
]


def _bell(shift: Shift, start: dt.time, lessons: int) -> list[Lesson]:
    moment = dt.datetime.combine(dt.date(2000, 1, 1), start)
    bells = []
    for number in range(1, lessons + 1):
        end = moment + dt.timedelta(minutes=45)
        bells.append(
            Lesson(
                school=shift.school,
                shift=shift,
                number=number,
                starts_at=moment.time(),
                ends_at=end.time(),
            )
        )
        moment = end + dt.timedelta(minutes=20 if number == 2 else 10)
    return bells


class Command(BaseCommand):
    help = "Create a demo school with generated pupils, guardians and staff of every role."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--pupils", type=int, default=1000)
        parser.add_argument("--classes", type=int, default=40)
        parser.add_argument(
            "--if-empty", action="store_true", help="do nothing when any school exists"
        )

    def handle(self, *args: Any, **options: Any) -> None:
        if options["if_empty"] and School.objects.exists():
            self.stdout.write("A school exists already: the demo data is left as it is.")
            return
        if School.objects.filter(account_prefix=DEMO_PREFIX).exists():
            raise CommandError("The demo school exists already.")
        today = dt.date.today()
        year_start = dt.date(today.year if today.month >= 9 else today.year - 1, 9, 1)
        factory = PeopleFactory()
        with transaction.atomic():
            school = self._school(year_start)
            if privacy_services.current_policy() is None:
                draft = privacy_services.draft_policy(
                    operator_name="ТОО «Kezekshi Demo»", operator_bin=school.bin
                )
                privacy_services.publish_policy(policy=draft, by=None)
            accounts = self._staff(school, factory, classes=options["classes"])
            teacher_iins = list(
                StaffMember.objects.filter(
                    school=school, position=STAFF_POSITIONS[Role.CLASS_TEACHER]
                )
                .order_by("pk")
                .values_list("person__iin", flat=True)
            )
            classes, pupils = nobd_rows(
                factory,
                pupils=options["pupils"],
                classes=options["classes"],
                year_start=year_start,
                teacher_iins=teacher_iins,
            )
            report = import_people(
                school=school,
                file=io.BytesIO(nobd_workbook(classes, pupils)),
                filename="demo.xlsx",
            )
            if not report.ok:
                raise CommandError(f"The demo import failed: {report.errors[:3]}")
        self._print(school, accounts, parent_phone=pupils[0]["Телефон представителя 1"])

    def _school(self, year_start: dt.date) -> School:
        digit = check_digit(DEMO_BIN_BODY)
        school = School.objects.create(
            name_kk="№1 Демо мектеп-гимназиясы",
            name_ru="Демо школа-гимназия №1",
            name_en="Demo School-Gymnasium No. 1",
            bin=f"{DEMO_BIN_BODY}{digit}",
            region=Region.objects.get(code="almaty-city"),
            district="Бостандық ауданы",
            address="Алматы қ., Демо көшесі, 1",
            account_prefix=DEMO_PREFIX,
        )
        first = Shift.objects.create(
            school=school, number=1, starts_at=dt.time(8, 0), ends_at=dt.time(13, 25)
        )
        second = Shift.objects.create(
            school=school, number=2, starts_at=dt.time(13, 30), ends_at=dt.time(18, 55)
        )
        Lesson.objects.bulk_create(
            _bell(first, dt.time(8, 0), 6) + _bell(second, dt.time(13, 30), 6)
        )
        year = year_start.year
        AcademicYear.objects.create(
            school=school, starts_on=year_start, ends_on=dt.date(year + 1, 5, 25)
        )
        vacations = [
            ("Күзгі каникул", dt.date(year, 10, 27), dt.date(year, 11, 2)),
            ("Қысқы каникул", dt.date(year, 12, 29), dt.date(year + 1, 1, 7)),
            ("Көктемгі каникул", dt.date(year + 1, 3, 18), dt.date(year + 1, 3, 29)),
        ]
        Vacation.objects.bulk_create(
            Vacation(school=school, name=name, starts_on=start, ends_on=end)
            for name, start, end in vacations
        )
        for date, kind, kk, ru, en in MOVABLE_DAYS:
            CalendarDay.objects.get_or_create(
                date=date, defaults={"kind": kind, "name_kk": kk, "name_ru": ru, "name_en": en}
            )
        return school

    def _staff(
        self, school: School, factory: PeopleFactory, *, classes: int
    ) -> list[tuple[str, str, str]]:
        """One account per staff role, plus the class teachers; returns (role, login, password)."""
        accounts = []
        password_hash = make_password(DEMO_PASSWORD)  # hashed once: argon2 is slow on purpose
        roles = sorted(STAFF_ROLES, key=list(Role).index)
        for role in roles:
            count = classes if role == Role.CLASS_TEACHER else 1
            for number in range(count):
                adult = factory.person(born_between=(dt.date(1970, 1, 1), dt.date(1998, 12, 31)))
                person = Person(
                    school=school,
                    last_name=adult.last_name,
                    first_name=adult.first_name,
                    patronymic=adult.patronymic,
                    iin=adult.iin,
                    birth_date=adult.birth_date,
                    sex=adult.sex,
                    phone=factory.phone(),
                )
                person.save()
                StaffMember.objects.create(
                    school=school, person=person, position=STAFF_POSITIONS[role]
                )
                suffix = "" if count == 1 else str(number + 1)
                email = f"{role.value.replace('_', '-')}{suffix}@demo.kezekshi.kz"
                user = User.objects.create(
                    email=email,
                    phone=person.phone,
                    password=password_hash,
                    full_name=person.full_name,
                )
                person.user = user
                person.save(update_fields=["user"])
                Membership.objects.create(user=user, school=school, role=role)
                if number == 0:
                    accounts.append((str(role.label), email, DEMO_PASSWORD))
        return accounts

    def _print(
        self, school: School, accounts: list[tuple[str, str, str]], parent_phone: str
    ) -> None:
        self.stdout.write(
            self.style.SUCCESS(f"Demo school created: {school.name_kk} / {school.name_ru}")
        )
        self.stdout.write("Staff accounts (sign in at http://127.0.0.1:8000/login/):")
        for role, login, password in accounts:
            self.stdout.write(f"  {role:<32} {login:<40} {password}")
        self.stdout.write(
            "  The school administrator enrols an authenticator app (TOTP) at first sign-in."
        )
        self.stdout.write(
            f"Parent: open http://127.0.0.1:8000/app/ and sign in with {parent_phone}; "
            f"read the code with: python manage.py sms_outbox {parent_phone}"
        )
