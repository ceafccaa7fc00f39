from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable
from typing import Any
from unittest import mock

import pytest
from django.core.management import call_command
from django.test import Client

from kezekshi.accounts.models import Membership, User
from kezekshi.accounts.roles import Role
from kezekshi.core.models import Region, School, SmsMessage
from kezekshi.people import services as people_services
from kezekshi.people.models import SchoolClass


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Every transactional test (``transaction=True``, ``live_server``) restores the rows
    the data migrations wrote, by serialized rollback. A flush without it re-creates the
    content types in another order, and the next test that restores the serialized rows
    then fails on their unique key: mixed in one worker, the two kinds break each other."""
    for item in items:
        names = getattr(item, "fixturenames", None)
        if names is None:
            continue
        marker = item.get_closest_marker("django_db")
        transactional = (
            "live_server" in names
            or "transactional_db" in names
            or (marker is not None and marker.kwargs.get("transaction", False))
        )
        if transactional and "django_db_serialized_rollback" not in names:
            names.append("django_db_serialized_rollback")


PASSWORD = "correct horse battery staple"  # noqa: S105


@pytest.fixture(autouse=True)
def _fresh_process_caches() -> Any:
    """Per-process caches key on row ids, which a rolled-back test hands out again."""
    from kezekshi.access import decisions, device_auth
    from kezekshi.canteen import pos

    decisions.forget_rules()
    device_auth.forget_all()
    pos.forget_caches()
    yield


@pytest.fixture(autouse=True)
def _plain_settings(settings: Any, tmp_path: Any) -> None:
    settings.MEDIA_ROOT = tmp_path / "media"
    settings.SECURE_COOKIES = False
    settings.SESSION_COOKIE_SECURE = False
    settings.CSRF_COOKIE_SECURE = False
    settings.LANGUAGE_COOKIE_SECURE = False


_bins = iter(range(1, 10_000))


def make_school(*, prefix: int, region_code: str = "almaty-city", **fields: Any) -> School:
    from kezekshi.core.validators import check_digit

    while True:
        body = f"0809400{next(_bins):04d}"
        digit = check_digit(body)
        if digit is not None:
            break
    return School.objects.create(
        name_kk=fields.pop("name_kk", f"№{prefix} мектеп"),
        name_ru=fields.pop("name_ru", f"Школа №{prefix}"),
        name_en=fields.pop("name_en", f"School No. {prefix}"),
        bin=f"{body}{digit}",
        # get_or_create: a transactional test before this one may have flushed the
        # regions the data migration wrote.
        region=Region.objects.get_or_create(
            code=region_code, defaults={"name_kk": region_code, "name_ru": region_code}
        )[0],
        address="Алматы, Абай даңғылы, 1",
        account_prefix=prefix,
        **fields,
    )


@pytest.fixture
def school(db: None) -> School:
    return make_school(prefix=1001)


@pytest.fixture
def other_school(db: None) -> School:
    return make_school(prefix=1002, region_code="astana")


@pytest.fixture
def make_user(db: None) -> Callable[..., User]:
    counter = iter(range(1, 10_000))

    def make(role: Role | None = None, school: School | None = None, **fields: Any) -> User:
        n = next(counter)
        user = User.objects.create_user(
            email=fields.pop("email", f"user{n}@example.kz"),
            password=fields.pop("password", PASSWORD),
            full_name=fields.pop("full_name", f"Test User {n}"),
            **fields,
        )
        if role == Role.AUTHORITY_VIEWER:
            assert school is not None
            Membership.objects.create(user=user, role=role, region=school.region)
        elif role == Role.PLATFORM_OPERATOR:
            Membership.objects.create(user=user, role=role)
        elif role is not None:
            Membership.objects.create(user=user, role=role, school=school)
        return user

    return make


def verified_client(user: User) -> Client:
    """A client signed in as ``user`` with the second factor already confirmed."""
    from django_otp.plugins.otp_totp.models import TOTPDevice

    client = Client()
    client.force_login(user, backend="kezekshi.accounts.backends.PhoneOrEmailBackend")
    if user.requires_two_factor:
        device = TOTPDevice.objects.create(user=user, name="test", confirmed=True)
        session = client.session
        session["otp_device_id"] = device.persistent_id
        session.save()
    return client


@pytest.fixture
def school_class(school: School) -> SchoolClass:
    return SchoolClass.objects.create(school=school, grade=5, letter="Ә", shift=1)


@pytest.fixture
def pupil(school: School, school_class: SchoolClass) -> Any:
    return people_services.create_pupil(
        school=school,
        last_name="Сейтқали",
        first_name="Әлия",
        iin="120503600127",
        birth_date=dt.date(2012, 5, 3),
        school_class=school_class,
    )


def run_tasks() -> None:
    """Run every queued background task once, as ``manage.py db_worker`` would.

    The worker drops database connections it finds inside a transaction; a test is one
    big transaction, so that check is switched off while the worker runs here.
    """
    with mock.patch("django_tasks_db.management.commands.db_worker.close_old_connections"):
        call_command("db_worker", "--batch", "--no-startup-delay", verbosity=0)


def last_sms_code(phone: str) -> str:
    """Deliver the queued SMS, as the worker would, and read the code sent to ``phone``."""
    run_tasks()
    text = SmsMessage.objects.filter(phone=phone).latest("created_at").text
    match = re.search(r"\b(\d{6})\b", text)
    assert match, f"no 6-digit code in the SMS to {phone}: {text!r}"
    return match.group(1)


def is_transactional(request: Any) -> bool:
    """Whether the test runs outside a rolled-back transaction (and ends with a flush)."""
    marker = request.node.get_closest_marker("django_db")
    return (
        "transactional_db" in request.fixturenames
        or "live_server" in request.fixturenames
        or (marker is not None and bool(marker.kwargs.get("transaction", False)))
    )


@pytest.fixture(autouse=True)
def _ledgers_can_be_flushed(request: Any) -> Any:
    """Tests on a live server end with a flush (DELETE FROM every table on SQLite), which
    the append-only triggers would refuse; lift them for that flush and put them back."""
    if not is_transactional(request):
        yield
        return
    from django.db import connection

    from kezekshi.privacy.triggers import create_append_only_triggers, drop_append_only_triggers

    with connection.cursor() as cursor:
        create_append_only_triggers(connection, cursor)
    yield
    with connection.cursor() as cursor:
        drop_append_only_triggers(connection, cursor)
