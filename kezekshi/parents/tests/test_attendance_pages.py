"""The parents' attendance pages: a child's month, excusing an absence, an exit permit."""

from __future__ import annotations

import datetime as dt
import itertools
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from kezekshi.access.models import Excuse, ExitPermit
from kezekshi.access.services import PassReport, record_passes
from kezekshi.access.tests import conftest as access_fixtures
from kezekshi.people.models import Person, Pupil
from kezekshi.privacy import services as privacy
from kezekshi.privacy.tests.family import Family, make_family, signed_in, stranger_with_child

pytestmark = pytest.mark.django_db
ALMATY = ZoneInfo("Asia/Almaty")
_numbers = itertools.count(1)
# The access app's fixtures: a building, its main entrance, the shifts, a turnstile.
building = access_fixtures.building
main_door = access_fixtures.main_door
shifts = access_fixtures.shifts
turnstile = access_fixtures.turnstile


@pytest.fixture
def family(pupil: Pupil) -> Family:
    return make_family(pupil)


def pass_(terminal: Any, person_id: int, when: dt.datetime, direction: str = "in") -> None:
    record_passes(
        device=terminal.device,
        reports=[
            PassReport(
                record_no=f"q{next(_numbers)}",
                direction=direction,
                occurred_at=when,
                allowed=True,
                reason="ok",
                door_id=terminal.device.door_id,
                person_id=person_id,
            )
        ],
    )


def today() -> dt.date:
    return dt.datetime.now(ALMATY).date()


def test_a_parent_sees_the_childs_month_with_times(
    family: Family, shifts: Any, turnstile: Any
) -> None:
    # given: Әлия came at 08:09 on 4 March 2025 (late after 08:00 + 5) and left at 13:31
    moment = dt.datetime(2025, 3, 4, 8, 9, tzinfo=ALMATY)
    pass_(turnstile, family.first.person_id, moment)
    pass_(turnstile, family.first.person_id, moment.replace(hour=13, minute=31), "out")
    # when
    page = signed_in(family.mother).get(
        f"/app/children/{family.first.pk}/attendance/?month=2025-03"
    )
    # then
    text = page.content.decode()
    assert page.status_code == 200
    assert "08:09" in text and "13:31" in text and "Late" in text and "Absent" in text
    assert "Excuse an absence" in text


def test_someone_elses_child_is_not_found(family: Family, school: Any) -> None:
    stranger, _child = stranger_with_child(school)
    client = signed_in(stranger)
    base = f"/app/children/{family.first.pk}/attendance/"
    assert client.get(base).status_code == 404
    assert client.post(f"{base}excuse/", {"reason": "x"}).status_code == 404
    assert client.post(f"{base}permit/", {"reason": "x"}).status_code == 404


def test_a_parent_excuses_today_and_a_range(family: Family) -> None:
    client = signed_in(family.mother)
    url = f"/app/children/{family.first.pk}/attendance/excuse/"
    start = today()
    assert f'value="{start.isoformat()}"' in client.get(url).content.decode()
    done = client.post(
        url,
        {
            "starts_on": start.isoformat(),
            "ends_on": (start + dt.timedelta(days=2)).isoformat(),
            "reason": "ill",
        },
    )
    assert done.status_code == 302
    excuse = Excuse.objects.get()
    assert excuse.pupil == family.first and excuse.entered_by == family.mother
    assert (excuse.ends_on - excuse.starts_on).days == 2


def test_a_bad_range_is_refused_with_a_reason(family: Family) -> None:
    url = f"/app/children/{family.first.pk}/attendance/excuse/"
    start = today()
    response = signed_in(family.mother).post(
        url,
        {
            "starts_on": start.isoformat(),
            "ends_on": (start - dt.timedelta(days=3)).isoformat(),
            "reason": "ill",
        },
    )
    assert response.status_code == 422 and "before the first" in response.content.decode()
    assert not Excuse.objects.exists()


def test_a_grandmother_who_is_not_a_representative_may_look_but_not_excuse(
    family: Family,
) -> None:
    client = signed_in(family.grandmother)
    base = f"/app/children/{family.first.pk}/attendance/"
    page = client.get(base)
    assert page.status_code == 200 and "Excuse an absence" not in page.content.decode()
    refused = client.post(
        f"{base}excuse/",
        {"starts_on": today().isoformat(), "ends_on": today().isoformat(), "reason": "ill"},
    )
    assert refused.status_code == 403 and not Excuse.objects.exists()


def test_a_parent_gives_an_exit_permit_for_today(family: Family) -> None:
    client = signed_in(family.mother)
    url = f"/app/children/{family.first.pk}/attendance/permit/"
    done = client.post(url, {"leave_from": "11:15", "reason": "doctor"})
    assert done.status_code == 302
    permit = ExitPermit.objects.get()
    assert (permit.date, permit.leave_from, permit.issued_as) == (
        today(),
        dt.time(11, 15),
        "guardian",
    )
    page = client.get(f"/app/children/{family.first.pk}/attendance/").content.decode()
    assert "11:15" in page and "doctor" in page


def test_a_blocked_child_is_shown_only_to_the_representative(family: Family) -> None:
    from django.utils import timezone

    Person.objects.filter(pk=family.first.person_id).update(blocked_at=timezone.now())
    url = f"/app/children/{family.first.pk}/attendance/"
    assert signed_in(family.grandmother).get(url).status_code == 404
    assert signed_in(family.mother).get(url).status_code == 200


def test_the_pages_wait_for_the_parents_consent(family: Family, school: Any) -> None:
    draft = privacy.draft_policy(operator_name="ТОО «Kezekshi»", operator_bin=school.bin)
    privacy.publish_policy(policy=draft, by=None)
    response = signed_in(family.mother).get(f"/app/children/{family.first.pk}/attendance/")
    assert response.status_code == 302 and response["Location"].startswith("/app/consent/")
