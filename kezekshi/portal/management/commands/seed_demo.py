"""Create the demo school: shifts, bells, calendar, ~1,000 pupils, guardians and staff,
doors and turnstiles, access rules, a card for everyone and this morning's passes.

Everything is generated (see ``kezekshi.people.demo``): no real person's data. Pupils,
classes and guardians go in through the same NOBD import a real school uses; the
morning's passes go through ``access.services.record_passes`` like a turnstile's.
"""

from __future__ import annotations

import datetime as dt
import io
import random
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

from django.conf import settings
from django.contrib.auth.hashers import make_password
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import transaction
from django.utils import timezone

from kezekshi.access import services as access
from kezekshi.access import setup as access_setup
from kezekshi.access.models import AccessGroup, AccessSettings, Credential, Device, Door, Zone
from kezekshi.accounts.models import Membership, User
from kezekshi.accounts.roles import STAFF_ROLES, Role
from kezekshi.canteen import menu
from kezekshi.canteen import services as canteen
from kezekshi.canteen.models import PaymentProvider, Wallet
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
from kezekshi.people.models import Person, Pupil, StaffMember
from kezekshi.people.services import link_guardian_accounts
from kezekshi.privacy import services as privacy_services

DEMO_BIN_BODY = "95084000123"  # Aug 1995, resident legal entity, head office
DEMO_PREFIX = 1000
DEMO_PASSWORD = "kezekshi-demo"  # noqa: S105 - printed for the demo, never used in production
STAFF_POSITIONS = {
    Role.SCHOOL_ADMIN: "Директор",
    Role.GUARD: "Күзетші",
    Role.CASHIER: "Асхана кассирі",
    Role.ACCOUNTANT: "Бухгалтер",
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
            parent_phone = pupils[0]["Телефон представителя 1"]
            # The demo parent has an account already, so this morning's passes of their
            # children are in their notification feed when they sign in.
            parent = User.objects.create_user(phone=parent_phone, full_name="Demo parent")
            link_guardian_accounts(user=parent)
            summary = DemoAccess(school, year_start, random.Random(DEMO_PREFIX)).build()
            summary += "\n" + DemoCanteen(school, parent, random.Random(DEMO_PREFIX)).build()
        self._print(school, accounts, parent_phone=parent_phone, access_summary=summary)

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
        self,
        school: School,
        accounts: list[tuple[str, str, str]],
        parent_phone: str,
        access_summary: str,
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
        self.stdout.write(access_summary)


class DemoAccess:
    """Doors, turnstiles, access rules, a card for everyone and this morning's passes."""

    def __init__(self, school: School, year_start: dt.date, rng: random.Random) -> None:
        self.school, self.year_start, self.rng = school, year_start, rng
        self.zone = ZoneInfo(settings.SCHOOL_TIME_ZONE)
        self.now = timezone.now()
        self.today = self.now.astimezone(self.zone).date()

    def build(self) -> str:
        main, canteen = self._doors()
        turnstiles = [
            access_setup.add_device(
                school=self.school,
                name=f"Турникет {lane} / Turnstile {lane}",
                kind=Device.Kind.TURNSTILE,
                door=main,
                lane=lane,
                serial_number=f"DEMO-{lane:04d}",
            )[0]
            for lane in (1, 2)
        ]
        self._groups(main, canteen)
        AccessSettings.objects.get_or_create(school=self.school)
        cards = self._cards()
        passes = self._morning(main, canteen, turnstiles)
        return (
            f"Access: main entrance (8 lanes) and canteen door, {len(turnstiles)} turnstiles "
            f"(issue their secrets in the portal: /access/setup/devices/), {cards} cards, "
            f"{passes} passes today."
        )

    def _doors(self) -> tuple[Door, Door]:
        school = self.school
        building = access_setup.save_zone(
            school=school,
            name_kk="Мектеп ғимараты",
            name_ru="Здание школы",
            name_en="School building",
            kind=Zone.Kind.BUILDING,
        )
        canteen_zone = access_setup.save_zone(
            school=school,
            name_kk="Асхана",
            name_ru="Столовая",
            name_en="Canteen",
            kind=Zone.Kind.CANTEEN,
            parent=building,
        )
        main = access_setup.save_door(
            school=school,
            name_kk="Басты кіреберіс",
            name_ru="Главный вход",
            name_en="main entrance",
            zone=building,
            lanes=8,
            is_exit=True,
        )
        canteen = access_setup.save_door(
            school=school,
            name_kk="Асхана есігі",
            name_ru="Вход в столовую",
            name_en="canteen door",
            zone=canteen_zone,
            lanes=1,
            is_exit=False,
        )
        return main, canteen

    def _groups(self, main: Door, canteen: Door) -> None:
        valid_from = self.year_start
        valid_until = valid_from.replace(year=valid_from.year + 1) - dt.timedelta(days=1)
        shifts = [
            ("pupils_shift_1", "1-ауысым оқушылары", "Ученики 1 смены", "Pupils, 1st shift"),
            ("pupils_shift_2", "2-ауысым оқушылары", "Ученики 2 смены", "Pupils, 2nd shift"),
        ]
        hours = {
            "pupils_shift_1": (dt.time(6, 30), dt.time(14, 30)),
            "pupils_shift_2": (dt.time(12, 0), dt.time(19, 30)),
        }
        for members, kk, ru, en in shifts:
            group = access_setup.save_group(
                school=self.school,
                name_kk=kk,
                name_ru=ru,
                name_en=en,
                members=members,
                doors=[main, canteen],
                valid_from=valid_from,
                valid_until=valid_until,
            )
            access_setup.set_week(group=group, week={day: [hours[members]] for day in range(6)})
        access_setup.save_group(
            school=self.school,
            name_kk="Қызметкерлер",
            name_ru="Сотрудники",
            name_en="Staff",
            members=AccessGroup.Members.STAFF,
            doors=[main, canteen],
            open_on_days_off=True,
        )

    def _cards(self) -> int:
        """A Mifare card (random 8-hex UID) for every pupil and staff member.

        Written in one statement, not ``issue_card`` by ``issue_card``: a thousand audit
        entries and rule bumps would make ``make demo`` slow for nothing.
        """
        people = list(
            Person.objects.filter(school=self.school)
            .exclude(pupil__isnull=True, staff__isnull=True)
            .values_list("pk", flat=True)
        )
        uids: set[str] = set()
        while len(uids) < len(people):
            uids.add(f"{self.rng.getrandbits(32):08X}")
        Credential.objects.bulk_create(
            Credential(school=self.school, person_id=pk, kind=Credential.Kind.CARD, value=uid)
            for pk, uid in zip(people, sorted(uids), strict=True)
        )
        access.bump_rules(school_id=self.school.pk)
        return len(people)

    def _at(self, start: dt.time, minutes: int) -> dt.datetime:
        moment = dt.datetime.combine(self.today, start, tzinfo=self.zone)
        return moment + dt.timedelta(seconds=self.rng.randrange(minutes * 60))

    def _morning(self, main: Door, canteen: Door, turnstiles: list[Device]) -> int:
        """Most pupils of the first shift in between 07:30 and 08:10, some late, a few
        absent; staff earlier; a canteen break at 10:05. The second shift only once its
        time has come."""
        cards = dict(
            Credential.objects.filter(school=self.school, kind=Credential.Kind.CARD).values_list(
                "person_id", "pk"
            )
        )
        passes: list[tuple[dt.datetime, int, int, str]] = []  # time, person, door, direction
        for person_id in StaffMember.objects.filter(school=self.school).values_list(
            "person_id", flat=True
        ):
            passes.append((self._at(dt.time(7, 0), 55), person_id, main.pk, "in"))
        pupils = Pupil.objects.filter(school=self.school, is_active=True).values_list(
            "person_id", "school_class__shift"
        )
        for person_id, shift in pupils:
            luck = self.rng.random()
            if luck < 0.04:
                continue  # absent
            start = dt.time(7, 30) if shift == 1 else dt.time(13, 0)
            came = (
                self._at(start, 40)
                if luck > 0.12
                else self._at(start, 70) + dt.timedelta(minutes=25)
            )
            if shift != 1 and came > self.now:
                continue
            passes.append((came, person_id, main.pk, "in"))
            if shift == 1 and luck > 0.6:
                lunch = self._at(dt.time(10, 5), 10)
                passes.append((lunch, person_id, canteen.pk, "in"))
                passes.append((lunch + dt.timedelta(minutes=12), person_id, canteen.pk, "out"))
        passes.sort()
        by_device: dict[int, list[access.PassReport]] = {}
        for number, (at, person_id, door_id, direction) in enumerate(passes, start=1):
            device = turnstiles[number % len(turnstiles)]
            by_device.setdefault(device.pk, []).append(
                access.PassReport(
                    record_no=str(number),
                    direction=direction,
                    occurred_at=at,
                    allowed=True,
                    reason="ok",
                    door_id=door_id,
                    credential_id=cards.get(person_id),
                    credential_kind=Credential.Kind.CARD,
                    person_id=person_id,
                )
            )
        for device in turnstiles:
            access.record_passes(device=device, reports=by_device.get(device.pk, []))
        return len(passes)


class DemoCanteen:
    """A wallet for every pupil, and some top-ups and purchases of the last days: the
    demo parent's children have a few of each, so the wallet page has something to show.
    Booked through the canteen services, like real ones (the parent is notified)."""

    def __init__(self, school: School, parent: User, rng: random.Random) -> None:
        self.school, self.parent, self.rng = school, parent, rng
        self.now = timezone.now()

    def build(self) -> str:
        provider, _created = PaymentProvider.objects.get_or_create(
            code="demo-kaspi",
            defaults={"name": "Kaspi.kz (demo)", "protocol": PaymentProvider.Protocol.KASPI},
        )
        pupils = list(Pupil.objects.filter(school=self.school).order_by("pk"))
        Wallet.objects.bulk_create(Wallet(school=self.school, pupil=pupil) for pupil in pupils)
        wallets = {wallet.pupil_id: wallet for wallet in Wallet.objects.filter(school=self.school)}
        own = set(
            Pupil.objects.filter(
                school=self.school, guardianships__guardian__person__user=self.parent
            ).values_list("pk", flat=True)
        )
        chosen = [pupil for pupil in pupils if pupil.pk in own]
        chosen += self.rng.sample(pupils, min(len(pupils), 60))
        topups = sales = 0
        for pupil in dict.fromkeys(chosen):
            wallet = wallets[pupil.pk]
            for day in (3, 1):
                amount = Decimal(self.rng.choice([1000, 2000, 3000, 5000]))
                topups += 1
                canteen.credit_topup(
                    wallet=wallet,
                    provider=provider,
                    amount=amount,
                    txn_id=f"demo{topups}",
                    booked_at=self.now - dt.timedelta(days=day, hours=self.rng.randint(1, 5)),
                )
            for item, price in self.rng.sample(MENU, 2):
                sales += 1
                canteen.charge_sale(
                    wallet=wallet,
                    amount=price,
                    external_id=f"demo-sale-{sales}",
                    items=item,
                    booked_at=self.now - dt.timedelta(hours=self.rng.randint(2, 30)),
                )
        days = self._menus()
        return (
            f"Canteen: {len(wallets)} wallets; {topups} demo top-ups ({provider.name}) and "
            f"{sales} purchases, the demo parent's children among them; published menus for "
            f"{days} school days of this week (the cashier's till sells from today's)."
        )

    def _menus(self) -> int:
        """Dishes and this week's published menus, so the till and the parents' menu page
        have something to show."""
        hot = menu.save_category(school=self.school, name_kk="Ыстық тағамдар",
                                 name_ru="Горячие блюда", name_en="Hot dishes")  # fmt: skip
        drinks = menu.save_category(school=self.school, name_kk="Сусындар",
                                    name_ru="Напитки", name_en="Drinks", position=1)  # fmt: skip
        dishes = {
            key: menu.save_dish(school=self.school, category=category, name_kk=kk, name_ru=ru,
                                name_en=en, price=Decimal(price), allergens=allergens)
            for key, group, kk, ru, en, price, allergens in DEMO_DISHES
            for category in [hot if group == "hot" else drinks]
        }  # fmt: skip
        days = [day for day in menu.week_of(menu.local_today()) if day.weekday() < 5]
        for day in days:
            for meal, keys in DEMO_MEALS.items():
                menu.set_menu(
                    school=self.school,
                    date=day,
                    meal=meal,
                    items=[(dishes[key], None) for key in keys],
                    publish=True,
                )
        return len(days)


DEMO_DISHES = [
    ("porridge", "hot", "Сүт ботқасы", "Молочная каша", "Milk porridge", "250", ["milk"]),
    ("syrniki", "hot", "Сырники", "Сырники", "Cottage cheese pancakes", "450",
     ["milk", "eggs", "gluten"]),
    ("palau", "hot", "Палау", "Плов", "Pilaf", "650", []),
    ("sorpa", "hot", "Тауық сорпасы", "Куриный суп", "Chicken soup", "420", ["celery"]),
    ("balish", "hot", "Бәліш", "Бялиш", "Meat pie", "380", ["gluten", "eggs"]),
    ("tea", "drinks", "Шай", "Чай", "Tea", "60", []),
    ("compote", "drinks", "Компот", "Компот", "Compote", "120", []),
]  # fmt: skip
DEMO_MEALS = {
    "breakfast": ["porridge", "syrniki", "tea"],
    "lunch": ["palau", "sorpa", "tea", "compote"],
    "snack": ["balish", "compote"],
}

MENU = [
    ("Палау, шай", Decimal("650.00")),
    ("Тауық сорпасы, нан", Decimal("420.00")),
    ("Бәліш, компот", Decimal("380.50")),
    ("Сырники, шай", Decimal("450.00")),
    ("Манты (4)", Decimal("700.00")),
]
