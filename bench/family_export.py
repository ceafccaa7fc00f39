"""Benchmark: a family's full export — everything held about a parent and two children.

    .venv/bin/python bench/family_export.py [--views 400] [--school-pupils 1000] [--runs 20]

Runs on a throwaway SQLite database in a temporary directory, or, when DATABASE_URL is
set, on a throwaway PostgreSQL database created next to the one it names (and dropped
afterwards).

Builds a school year of what the platform holds today (the access, canteen and library
apps do not exist yet, so there are no events or purchases to export): a school with
``--school-pupils`` pupils whose cards staff open ``--views`` times a year each, and in
it a family — a mother and a father, two children — with their consents, biometric
decisions, sign-ins, subject requests (answered, refused, a correction applied, a block
lifted), disclosures and ``--views`` card views per child by five staff roles. Then
times the mother's download of the family's JSON (``GET /app/privacy/export.json``:
session, consent gate, every section of the registry for three subjects, the audit
entries for taking the copy, the JSON encoding) and prints the median and the worst.
The target is under 2 s.
"""

from __future__ import annotations

import argparse
import datetime as dt
import statistics
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any
from unittest import mock

# bench/ is on the path when this file runs; the helpers set Django up without real data.
from benchdb import make_school, throwaway_database

MOTHER, FATHER = "+77015550201", "+77015550202"
STAFF_ROLES = ("guard", "class_teacher", "cashier", "social_pedagogue", "dpo")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--views", type=int, default=400, help="card views per pupil a year")
    parser.add_argument("--school-pupils", type=int, default=1000)
    parser.add_argument("--runs", type=int, default=20)
    args = parser.parse_args()

    with throwaway_database("bench_export") as engine:
        return run(args, engine=engine)


@contextmanager
def clock_at(moment: dt.datetime) -> Iterator[None]:
    """Let the services stamp rows as if it were ``moment`` (spreads a year of data)."""
    with mock.patch("django.utils.timezone.now", return_value=moment):
        yield


def school_year() -> tuple[dt.datetime, float]:
    """1 September of the last school year, and its length in seconds (to 31 May)."""
    today = dt.date.today()
    start_year = today.year - 1 if today.month >= 9 else today.year - 2
    start = dt.datetime(start_year, 9, 1, 3, 0, tzinfo=dt.UTC)
    end = dt.datetime(start_year + 1, 5, 31, 12, 0, tzinfo=dt.UTC)
    return start, (end - start).total_seconds()


def run(args: argparse.Namespace, *, engine: str) -> int:
    from django.db import transaction
    from django.test import Client

    from kezekshi.accounts.models import User
    from kezekshi.privacy.models import AuditEntry

    started = time.perf_counter()
    with transaction.atomic():
        school = make_school()
        staff = make_staff(school)
        mother = build_family(school, staff, views=args.views)
        background(school, staff, pupils=args.school_pupils, views=args.views)
    built = time.perf_counter() - started
    print(
        f"built in {built:.0f} s: {User.objects.count()} users, "
        f"{AuditEntry.objects.count()} audit entries in the school"
    )

    client = Client()
    client.force_login(mother, backend="kezekshi.accounts.backends.PhoneOrEmailBackend")
    response = client.get("/app/privacy/export.json")  # warm-up (and a check)
    if response.status_code != 200:
        print(f"export failed: {response.status_code} {response.content[:300]!r}")
        return 1
    describe(response.content)

    timings = []
    for _ in range(args.runs):
        began = time.perf_counter()
        response = client.get("/app/privacy/export.json")
        timings.append(time.perf_counter() - began)
        assert response.status_code == 200
    median, worst = statistics.median(timings), max(timings)
    print(
        f"family export ({engine}, {args.runs} runs): median {median * 1000:.0f} ms, "
        f"worst {worst * 1000:.0f} ms, {len(response.content) / 1e6:.2f} MB of JSON"
    )
    return 0 if worst < 2.0 else 1


def describe(body: bytes) -> None:
    import json

    document = json.loads(body)
    for subject in document["subjects"]:
        counts = {s["key"]: len(s["items"]) for s in subject["sections"] if s["items"]}
        print(f"  {subject['subject']['key']:>6}: {counts}")


def make_staff(school: Any) -> list[Any]:
    from kezekshi.accounts.models import Membership, User

    staff = []
    for n, role in enumerate(STAFF_ROLES):
        user = User.objects.create_user(
            email=f"{role}@bench.kz", password=None, full_name=f"Staff {n}"
        )
        Membership.objects.create(user=user, school=school, role=role)
        staff.append(user)
    return staff


def build_family(school: Any, staff: list[Any], *, views: int) -> Any:
    """The mother, the father, two children, and a school year of what is held on them."""
    from kezekshi.accounts.models import User
    from kezekshi.accounts.services import issue_api_token, request_sign_in_code
    from kezekshi.people import services as people
    from kezekshi.people.models import SchoolClass
    from kezekshi.privacy import audit, services
    from kezekshi.privacy import requests as subject_requests
    from kezekshi.privacy.disclosures import record_disclosure
    from kezekshi.privacy.models import AuditEntry, Kind
    from kezekshi.privacy.subject_data import subject_for

    start, length = school_year()
    fifth = SchoolClass.objects.create(school=school, grade=5, letter="А")
    second = SchoolClass.objects.create(school=school, grade=2, letter="Б")
    children = [
        people.create_pupil(
            school=school,
            last_name="Жұмабаева",
            first_name="Аружан",
            iin="130915600017",
            school_class=fifth,
        ),
        people.create_pupil(
            school=school,
            last_name="Жұмабаев",
            first_name="Нұрсұлтан",
            iin="170203500014",
            school_class=second,
        ),
    ]
    for child in children:
        people.add_guardian(
            pupil=child, last_name="Жұмабаева", first_name="Әсел", phone=MOTHER, relation="mother"
        )
        people.add_guardian(
            pupil=child, last_name="Жұмабаев", first_name="Ерлан", phone=FATHER, relation="father"
        )
    parents = []
    for phone in (MOTHER, FATHER):
        user = User.objects.create_user(phone=phone, full_name=f"Parent {phone[-1]}")
        people.link_guardian_accounts(user=user)
        parents.append(user)
    mother, father = parents

    policy = services.publish_policy(
        policy=services.draft_policy(operator_name="ТОО «Kezekshi»", operator_bin=school.bin),
        by=None,
    )
    with clock_at(start):
        for parent in parents:
            services.accept_policy(user=parent, policy=policy, context=services.Context())
    for child in children:
        for kind in (Kind.FACE, Kind.FINGERPRINT):
            services.decide_biometrics(
                user=mother, child=child.person, kind=kind, grant=True, context=services.Context()
            )
    services.decide_biometrics(
        user=father,
        child=children[1].person,
        kind=Kind.FINGERPRINT,
        grant=False,
        context=services.Context(),
    )

    # A sign-in a week for each parent, and the app on two phones.
    for week in range(36):
        moment = start + dt.timedelta(weeks=week)
        with clock_at(moment):
            for phone in (MOTHER, FATHER):
                request_sign_in_code(phone=phone, ip="10.0.0.1")
    for parent in parents:
        issue_api_token(user=parent, user_agent="Kezekshi/1.0 (Android 14)")

    # Card views through the year, by every staff role in turn.
    for child in children:
        for n in range(views):
            with clock_at(start + dt.timedelta(seconds=length * n / views)):
                audit.record(
                    action=AuditEntry.Action.VIEW,
                    actor=staff[n % len(staff)],
                    school=school,
                    person=child.person,
                    target=f"/pupils/{child.pk}/",
                )

    # Requests: asked and answered, refused, a correction applied, a block lifted.
    dpo = staff[-1]
    for child in children:
        subject = subject_for(mother, str(child.pk), action="bench")
        access = subject_requests.file_request(subject=subject, kind="access", message="Who?")
        subject_requests.resolve_request(
            subject_request=access.request, by=dpo, done=True, answer="The class teacher."
        )
        subject_requests.file_request(subject=subject, kind="erase")  # refused: studies here
        block = subject_requests.file_request(subject=subject, kind="block")
        subject_requests.resolve_request(subject_request=block.request, by=dpo, done=True)
        unblock = subject_requests.file_request(subject=subject, kind="unblock")
        subject_requests.resolve_request(subject_request=unblock.request, by=dpo, done=True)
        fix = subject_requests.request_correction(
            subject=subject,
            changes={"patronymic": "Ерланқызы" if child == children[0] else "Ерланұлы"},
        )
        subject_requests.resolve_request(subject_request=fix.request, by=dpo, done=True)
        record_disclosure(
            school=school,
            person=child.person,
            body="Білім басқармасы",
            legal_ground="Білім туралы заң",
            request_number=f"17-{child.pk}",
            data_sent="Т.А.Ә., сынып",
            disclosed_on=dt.date.today() - dt.timedelta(days=30),
            visible_to_subject=True,
            recorded_by=dpo,
        )
    subject_requests.file_request(
        subject=subject_for(mother, "me", action="bench"), kind="access", message="Why?"
    )
    return mother


def background(school: Any, staff: list[Any], *, pupils: int, views: int) -> None:
    """The rest of the school: pupils whose cards are viewed as often as the family's.

    Written as the application writes them (one chained audit entry at a time), so the
    family's rows sit among the school's, as they would after a year.
    """
    from kezekshi.people.models import Person
    from kezekshi.privacy import audit
    from kezekshi.privacy.models import AuditEntry

    others = Person.objects.bulk_create(
        Person(school=school, last_name=f"Оқушы{n}", first_name="Бенчмарк") for n in range(pupils)
    )
    # A tenth of the year's views is enough to make the table a real school's size
    # without the setup taking many minutes; each pupil gets ``views / 10``.
    for person in others:
        for n in range(max(1, views // 10)):
            audit.record(
                action=AuditEntry.Action.VIEW,
                actor=staff[n % len(staff)],
                school=school,
                person=person,
                target="/pupils/",
            )


if __name__ == "__main__":
    sys.exit(main())
