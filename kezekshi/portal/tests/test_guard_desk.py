"""The guard's desk: live feed (rows and the SSE stream), modes, who is inside, roll calls."""

from __future__ import annotations

import datetime as dt
import json
import re
from collections.abc import Callable
from typing import Any

import pytest
from asgiref.sync import async_to_sync
from django.test import AsyncClient, Client
from django.urls import reverse
from django.utils import timezone

from kezekshi.access import presence, rollcall, services
from kezekshi.access.decisions import message
from kezekshi.access.models import (
    AccessGroup,
    AccessSettings,
    Presence,
    RollCall,
    RollCallEntry,
    WatchAlert,
    WatchEntry,
)
from kezekshi.access.tests import conftest as access_fixtures
from kezekshi.access.tests.conftest import Terminal
from kezekshi.accounts.models import User
from kezekshi.accounts.roles import Role
from kezekshi.conftest import verified_client
from kezekshi.core import fanout
from kezekshi.core.errors import ServiceError
from kezekshi.core.models import School
from kezekshi.people import services as people_services
from kezekshi.people.models import Pupil, SchoolClass

pytestmark = pytest.mark.django_db
# The access app's fixtures: a building, its main door, access groups, a turnstile, a card.
building = access_fixtures.building
main_door = access_fixtures.main_door
turnstile = access_fixtures.turnstile
card = access_fixtures.card

DECIDE = "/api/v1/access/decide"


@pytest.fixture
def groups(school: School, main_door: Any) -> list[AccessGroup]:
    """The desk shows what happens now, whatever day the tests run: pupils may always enter."""
    always = AccessGroup.objects.create(
        school=school, members="pupils_shift_1", name_kk="1", name_ru="1", open_on_days_off=True
    )
    always.doors.add(main_door)
    services.bump_rules(school_id=school.pk)
    return [always]


@pytest.fixture
def guard(school: School, make_user: Callable[..., User]) -> User:
    return make_user(Role.GUARD, school, language="en")


@pytest.fixture
def desk(guard: User) -> Client:
    return verified_client(guard)


def pass_card(turnstile: Terminal, credential: str, record_no: str, **extra: Any) -> Any:
    body = {"credential": credential, "time": timezone.now().isoformat(), "record_no": record_no}
    body.update(extra)
    response = turnstile.post(DECIDE, body)
    assert response.status_code == 200, response.content
    return response.json()


# --- the live feed --------------------------------------------------------------------


def test_the_feed_fragment_lists_new_passes_and_refusals_with_their_reasons(
    desk: Client, turnstile: Terminal, card: Any, groups: Any, pupil: Pupil
) -> None:
    # Given a pass already on the page
    first = pass_card(turnstile, "123,45678", "1")
    page = desk.get(reverse("portal:guard_feed"))
    assert page.status_code == 200
    assert pupil.person.full_name in page.content.decode()

    # When a refusal and another pass come in, and the page asks for what is new
    refused = pass_card(turnstile, "04A23B1C", "2")
    pupil.person.photo.name = "photos/2026/aliya.jpg"
    pupil.person.save(update_fields=["photo"])
    again = pass_card(turnstile, "123,45678", "3", direction="out")
    rows = desk.get(reverse("portal:guard_feed_rows"), {"after": first["event_id"]})

    # Then only the new rows come, newest first, the refusal with its reason and the
    # pass with the photo the guard compares the face with
    html = rows.content.decode()
    assert rows.status_code == 200
    assert f'data-id="{first["event_id"]}"' not in html
    assert html.index(f'data-id="{again["event_id"]}"') < html.index(
        f'data-id="{refused["event_id"]}"'
    )
    assert refused["allowed"] is False
    assert message("unknown_credential", "en") in html
    assert "04A23B1C" in html  # what was presented, for the guard
    assert reverse("portal:person_photo", args=[pupil.person_id]) in html
    assert "5 Ә" in html


def test_the_feed_fetches_exactly_the_events_a_live_message_names(
    desk: Client, turnstile: Terminal, card: Any, groups: Any, pupil: Pupil
) -> None:
    # Given three passes, the page holding the newest already (a later id committed first)
    first = pass_card(turnstile, "123,45678", "1")
    second = pass_card(turnstile, "04A23B1C", "2")
    third = pass_card(turnstile, "123,45678", "3", direction="out")

    # When a live message names the two older ones and the page fetches them by id
    rows = desk.get(
        reverse("portal:guard_feed_rows"), {"ids": f"{first['event_id']},{second['event_id']}"}
    )

    # Then exactly those come, newest first, though their ids are below one already shown
    html = rows.content.decode()
    assert rows.status_code == 200
    assert f'data-id="{third["event_id"]}"' not in html
    assert html.index(f'data-id="{second["event_id"]}"') < html.index(
        f'data-id="{first["event_id"]}"'
    )
    assert rows["X-Feed-Time"].isdecimal()


def test_the_feed_refreshes_by_time_when_a_message_was_missed(
    desk: Client, turnstile: Terminal, card: Any, groups: Any, pupil: Pupil
) -> None:
    # Given the page last refreshed a moment ago, and a pass stored since
    page = desk.get(reverse("portal:guard_feed"))
    since = re.search(r'data-since="(\d+)"', page.content.decode())
    assert since is not None
    passed = pass_card(turnstile, "123,45678", "1")
    # When it refreshes by time, then the pass is there
    rows = desk.get(reverse("portal:guard_feed_rows"), {"since": since.group(1)})
    assert f'data-id="{passed["event_id"]}"' in rows.content.decode()
    # And a refresh from well after it has nothing
    later = str(int(rows["X-Feed-Time"]) + 3600)
    empty = desk.get(reverse("portal:guard_feed_rows"), {"since": later})
    assert empty.status_code == 200 and "data-id" not in empty.content.decode()


@pytest.mark.parametrize(
    "query",
    [{"ids": "1,abc"}, {"ids": "²"}, {"ids": ",".join(["1"] * 101)}, {"since": "99999999999"}],
)
def test_malformed_feed_refreshes_are_refused(desk: Client, query: dict[str, str]) -> None:
    assert desk.get(reverse("portal:guard_feed_rows"), query).status_code == 400


def test_a_blocked_pupil_still_shows_in_the_guards_feed(
    desk: Client, turnstile: Terminal, card: Any, groups: Any, pupil: Pupil
) -> None:
    pass_card(turnstile, "123,45678", "1")
    type(pupil.person).objects.filter(pk=pupil.person_id).update(blocked_at="2026-11-01T00:00Z")

    html = desk.get(reverse("portal:guard_feed")).content.decode()

    assert pupil.person.full_name in html and 'tag bad">blocked<' in html


def _stream_url(school: School) -> str:
    return reverse("portal:guard_feed_stream", args=[school.pk])


def test_the_stream_sends_each_published_message_as_a_server_sent_event(
    desk: Client, school: School
) -> None:
    # Given a guard's page connected to the stream (the WSGI shape, as the test client is)
    response = desk.get(_stream_url(school))
    assert response.status_code == 200
    assert response["Content-Type"] == "text/event-stream"
    chunks = iter(response.streaming_content)  # type: ignore[attr-defined]
    assert next(chunks).startswith(b": keep-alive")  # subscribed

    # When a pass of the school is published
    fanout.publish(services.live_channel(school.pk), {"type": "events", "ids": [41, 42]})

    # Then it arrives as one event
    event = next(chunks).decode()
    assert event.startswith("data: ") and event.endswith("\n\n")
    assert json.loads(event.removeprefix("data: ")) == {"type": "events", "ids": [41, 42]}
    response.close()


def test_the_stream_is_async_under_asgi(desk: Client, school: School) -> None:
    # Run from this thread, so the permission check (a thread-sensitive sync part)
    # reads the test's database connection, as it would a request's under uvicorn.
    client = AsyncClient()
    client.cookies = desk.cookies

    async def first_event() -> tuple[int, bytes, bytes]:
        response = await client.get(_stream_url(school))
        chunks = aiter(response.streaming_content)  # type: ignore[attr-defined]
        hello = await anext(chunks)
        fanout.publish(services.live_channel(school.pk), {"type": "mode", "mode": "lockdown"})
        event = await anext(chunks)
        await chunks.aclose()  # type: ignore[attr-defined]
        return response.status_code, hello, event

    status, hello, event = async_to_sync(first_event)()

    assert status == 200
    assert hello.startswith(b": keep-alive")
    assert json.loads(event.decode().removeprefix("data: "))["mode"] == "lockdown"


def test_the_stream_of_another_school_is_not_found(
    desk: Client, other_school: School, school: School
) -> None:
    assert desk.get(_stream_url(other_school)).status_code == 404


def test_a_cashier_gets_403_everywhere_on_the_desk(
    school: School, make_user: Callable[..., User]
) -> None:
    cashier = verified_client(make_user(Role.CASHIER, school))
    for url in (
        reverse("portal:guard_feed"),
        reverse("portal:guard_feed_rows"),
        _stream_url(school),
        reverse("portal:guard_mode"),
        reverse("portal:guard_inside"),
        reverse("portal:guard_roll_call"),
        reverse("portal:guard_roll_calls"),
    ):
        assert cashier.get(url).status_code == 403, url
    refused = cashier.post(reverse("portal:guard_mode"), {"mode": "evacuation", "confirm": "yes"})
    assert refused.status_code == 403
    assert AccessSettings.objects.filter(school=school, mode="evacuation").count() == 0


def test_an_anonymous_visitor_of_the_stream_is_sent_to_sign_in(school: School) -> None:
    response = Client().get(_stream_url(school))
    assert response.status_code == 302 and response["Location"].startswith("/login/")


def test_a_watch_list_alert_stands_out_until_acknowledged(
    desk: Client, guard: User, turnstile: Terminal, card: Any, groups: Any, pupil: Pupil
) -> None:
    # Given a watched person's pass raised an alert
    entry = WatchEntry.objects.create(
        school=pupil.school, full_name="Barred Person", reason="court order", added_by=guard
    )
    stored = pass_card(turnstile, "123,45678", "1")
    alert = WatchAlert.objects.create(school=pupil.school, entry=entry, event_id=stored["event_id"])
    html = desk.get(reverse("portal:guard_feed")).content.decode()
    assert f'id="alert-{alert.pk}"' in html and "court order" in html

    # When the guard acknowledges it
    response = desk.post(reverse("portal:guard_acknowledge_alert", args=[alert.pk]))

    # Then it is recorded who and when, and it no longer shows
    assert response.status_code == 302
    alert.refresh_from_db()
    assert alert.acknowledged_by == guard and alert.acknowledged_at is not None
    assert f'id="alert-{alert.pk}"' not in desk.get(reverse("portal:guard_alerts")).content.decode()


# --- emergency modes ------------------------------------------------------------------


def test_evacuation_needs_a_confirmation_then_starts_a_roll_call(
    desk: Client, guard: User, school: School, turnstile: Terminal, card: Any, groups: Any
) -> None:
    pass_card(turnstile, "123,45678", "1")  # the pupil is inside
    url = reverse("portal:guard_mode")

    # The first press only asks
    asked = desk.post(url, {"mode": "evacuation"})
    assert asked.status_code == 200
    assert 'name="confirm"' in asked.content.decode()
    assert not AccessSettings.objects.filter(school=school, mode="evacuation").exists()

    # The confirmation switches, records who, and opens the roll call
    done = desk.post(url, {"mode": "evacuation", "confirm": "yes"})
    assert done.status_code == 302 and done["Location"] == reverse("portal:guard_roll_call")
    settings_row = AccessSettings.objects.get(school=school)
    assert settings_row.mode == "evacuation" and settings_row.mode_changed_by == guard
    roll_call = RollCall.objects.get(school=school, ended_at__isnull=True)
    assert roll_call.entries.count() == 1

    # Back to normal ends it
    desk.post(url, {"mode": "normal", "confirm": "yes"})
    settings_row.refresh_from_db()
    roll_call.refresh_from_db()
    assert settings_row.mode == "normal" and roll_call.ended_at is not None


# --- who is inside --------------------------------------------------------------------


def test_inside_now_counts_per_zone_and_finds_by_class(
    desk: Client, school: School, turnstile: Terminal, card: Any, groups: Any, pupil: Pupil
) -> None:
    other_class = SchoolClass.objects.create(school=school, grade=7, letter="Б")
    classmate = people_services.create_pupil(
        school=school, last_name="Абенов", first_name="Нұрлан", school_class=other_class
    )
    services.issue_card(person=classmate.person, uid="04:A2:3B:1C", by=None)
    pass_card(turnstile, "123,45678", "1")
    pass_card(turnstile, "04a23b1c", "2")
    assert Presence.objects.filter(school=school, zone__isnull=False).count() == 2

    everyone = desk.get(reverse("portal:guard_inside")).content.decode()
    seventh = desk.get(reverse("portal:guard_inside"), {"q": "7Б"}).content.decode()

    assert pupil.person.full_name in everyone and classmate.person.full_name in everyone
    assert 'Ғимарат <span class="muted">(2)</span>' in everyone
    assert classmate.person.full_name in seventh and pupil.person.full_name not in seventh


def test_a_presence_from_an_earlier_day_no_longer_counts_as_inside(
    desk: Client, school: School, turnstile: Terminal, card: Any, groups: Any, pupil: Pupil
) -> None:
    # Given a classmate who came in yesterday and whose exit was never reported,
    # and the pupil who came in today
    classmate = people_services.create_pupil(
        school=school, last_name="Абенов", first_name="Нұрлан", school_class=pupil.school_class
    )
    services.issue_card(person=classmate.person, uid="04:A2:3B:1C", by=None)
    pass_card(turnstile, "04a23b1c", "1")
    earlier = timezone.now() - dt.timedelta(days=1)
    Presence.objects.filter(person=classmate.person).update(since=earlier)
    pass_card(turnstile, "123,45678", "2", time=timezone.now().isoformat())

    # When the guard looks at who is inside
    page = desk.get(reverse("portal:guard_inside")).content.decode()

    # Then only today's pass counts, and the page says so
    assert pupil.person.full_name in page and classmate.person.full_name not in page
    assert 'Ғимарат <span class="muted">(1)</span>' in page
    assert 'id="inside-today"' in page
    assert list(presence.inside_today(school).values_list("person", flat=True)) == [pupil.person_id]


# --- evacuation roll call -------------------------------------------------------------


@pytest.fixture
def evacuation(
    guard: User, school: School, turnstile: Terminal, card: Any, groups: Any, pupil: Pupil
) -> RollCall:
    pass_card(turnstile, "123,45678", "1")
    services.set_mode(school=school, mode="evacuation", by=guard)
    return RollCall.objects.get(school=school, ended_at__isnull=True)


def test_ticking_a_pupil_off_is_idempotent_and_counts(
    desk: Client, guard: User, evacuation: RollCall, pupil: Pupil
) -> None:
    entry = RollCallEntry.objects.get(roll_call=evacuation, person=pupil.person)
    lines = reverse("portal:guard_roll_call_lines", args=[evacuation.pk])
    before = desk.get(lines).content.decode()
    assert 'data-count="missing">1<' in before

    # When two staff tap the same pupil
    tick = reverse("portal:guard_roll_call_tick", args=[entry.pk])
    assert desk.post(tick, headers={"X-Requested-With": "fetch"}).status_code == 204
    entry.refresh_from_db()
    first = entry.accounted_at
    assert desk.post(tick).status_code == 302

    # Then the first tick stands and the counts follow
    entry.refresh_from_db()
    assert entry.accounted_at == first and entry.accounted_by == guard
    after = desk.get(lines).content.decode()
    assert 'data-count="missing">0<' in after and 'data-count="accounted">1<' in after

    # A mistaken tick can be taken back
    desk.post(reverse("portal:guard_roll_call_untick", args=[entry.pk]))
    entry.refresh_from_db()
    assert entry.accounted_at is None


def test_an_ended_roll_call_cannot_be_ticked_any_more(
    guard: User, school: School, evacuation: RollCall
) -> None:
    services.set_mode(school=school, mode="normal", by=guard)
    entry = evacuation.entries.get()
    with pytest.raises(ServiceError) as refused:
        rollcall.account_for(entry=entry, by=guard)
    assert refused.value.code == "roll_call_ended"
    entry.refresh_from_db()
    assert entry.accounted_at is None


def test_the_open_roll_call_and_its_printable_list_name_everyone(
    desk: Client, evacuation: RollCall, pupil: Pupil
) -> None:
    page = desk.get(reverse("portal:guard_roll_call")).content.decode()
    printable = desk.get(reverse("portal:guard_roll_call_print", args=[evacuation.pk]))

    by_zone = desk.get(
        reverse("portal:guard_roll_call_detail", args=[evacuation.pk]), {"by": "zone"}
    ).content.decode()
    assert pupil.person.full_name in page and "5 Ә" in page
    assert "<h2>Ғимарат" in by_zone and pupil.person.full_name in by_zone
    assert printable.status_code == 200
    html = printable.content.decode()
    assert pupil.person.full_name in html and "@media print" in html


def test_past_roll_calls_are_listed_with_their_counts(
    desk: Client, guard: User, school: School, evacuation: RollCall
) -> None:
    rollcall.account_for(entry=evacuation.entries.get(), by=guard)
    services.set_mode(school=school, mode="normal", by=guard)

    html = desk.get(reverse("portal:guard_roll_calls")).content.decode()

    assert reverse("portal:guard_roll_call_detail", args=[evacuation.pk]) in html
    assert "1 / 1" in html
