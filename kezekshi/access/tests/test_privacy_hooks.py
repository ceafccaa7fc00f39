"""The access app's part in the subject's rights and in retention."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest

from kezekshi.access import services
from kezekshi.access.models import AccessEvent, DailyAttendance
from kezekshi.privacy import retention
from kezekshi.privacy.subject_data import Subject, held_about

pytestmark = pytest.mark.django_db
ALMATY = dt.timezone(dt.timedelta(hours=5))


def _pass(
    turnstile: Any, person: Any, record_no: str, at: dt.datetime, direction: str = "in"
) -> None:
    services.record_passes(
        device=turnstile.device,
        reports=[
            services.PassReport(
                record_no=record_no,
                direction=direction,
                occurred_at=at,
                allowed=True,
                reason="ok",
                door_id=turnstile.device.door_id,
                person_id=person.pk,
            )
        ],
    )


def test_the_parent_sees_the_childs_passes_attendance_and_cards(
    turnstile: Any, card: Any, pupil: Any, make_user: Any
) -> None:
    _pass(turnstile, pupil.person, "1", dt.datetime(2026, 11, 30, 7, 52, tzinfo=ALMATY))
    parent = make_user(phone="+77010000009")
    held = {
        h.section.key: h
        for h in held_about(
            Subject(key=str(pupil.pk), user=parent, persons=(pupil.person,), pupil=pupil)
        )
    }
    assert len(held["access_passes"].items) == 1
    assert held["access_passes"].items[0]["door"] == "Басты кіреберіс"
    assert held["attendance"].items[0]["date"] == dt.date(2026, 11, 30)
    assert held["access_credentials"].items[0]["ends_with"] == card.value[-4:]


def test_retention_cuts_old_passes_loose_and_holds_blocked_persons(
    turnstile: Any, pupil: Any, school: Any
) -> None:
    from kezekshi.people import services as people_services

    other = people_services.create_pupil(school=school, last_name="Ким", first_name="Ли")
    old = dt.datetime(2022, 9, 5, 8, 0, tzinfo=ALMATY)
    _pass(turnstile, pupil.person, "1", old)
    _pass(turnstile, other.person, "2", old)
    _pass(turnstile, pupil.person, "3", dt.datetime(2026, 11, 30, 8, 0, tzinfo=ALMATY))
    other.person.blocked_at = old
    other.person.save()
    report = retention.apply_retention(today=dt.date(2026, 12, 1))
    assert report.pseudonymised["access.history"] == 2  # one pass + one attendance day
    kept = AccessEvent.objects.order_by("record_no")
    assert [e.person_id for e in kept] == [None, other.person_id, pupil.person_id]
    assert kept[0].occurred_at == old and kept[0].allowed  # counts stay right
    assert set(DailyAttendance.objects.values_list("person_id", flat=True)) == {
        pupil.person_id,
        other.person_id,
    }
    again = retention.apply_retention(today=dt.date(2026, 12, 1))
    assert again.pseudonymised.get("access.history", 0) == 0


def test_retention_deletes_old_visitors_and_notices_and_forgets_who_passed(
    turnstile: Any, pupil: Any, school: Any, make_user: Any
) -> None:
    from kezekshi.access.models import Visitor
    from kezekshi.notifications.models import Notification

    guard = make_user()
    old = dt.datetime(2022, 9, 5, 8, 0, tzinfo=ALMATY)
    visitor = Visitor.objects.create(
        school=school,
        full_name="Иванов Пётр",
        phone="+77010001122",
        host="director",
        purpose="meeting",
        valid_from=old,
        valid_until=old + dt.timedelta(hours=2),
        registered_by=guard,
    )
    services.record_passes(
        device=turnstile.device,
        reports=[
            services.PassReport(
                record_no="v1",
                direction="in",
                occurred_at=old,
                allowed=True,
                reason="ok",
                door_id=turnstile.device.door_id,
                visitor_id=visitor.pk,
            )
        ],
    )
    notice = Notification.objects.create(
        school=school, recipient=guard, kind="pass", key="pass:old", text="old news"
    )
    Notification.objects.filter(pk=notice.pk).update(created_at=old)
    fresh = Notification.objects.create(
        school=school, recipient=guard, kind="pass", key="new", text="x"
    )
    report = retention.apply_retention(today=dt.date(2026, 12, 1))
    assert not Visitor.objects.exists()
    assert AccessEvent.objects.get(record_no="v1").visitor_id is None
    assert list(Notification.objects.all()) == [fresh]
    assert report.pseudonymised["notifications.history"] == 1
