"""The till and the pupils' data: whose photo the cashier's page shows and who sees which
of the last sales (given / when / then)."""

from __future__ import annotations

import datetime as dt
import re
from typing import Any

import pytest
from django.core.files.base import ContentFile
from django.test import Client
from django.utils import timezone

from kezekshi.accounts.models import User
from kezekshi.accounts.roles import Role
from kezekshi.canteen import services
from kezekshi.canteen.models import PaymentProvider, Sale, Wallet
from kezekshi.canteen.tests.conftest import Menu, top_up
from kezekshi.canteen.tests.test_staff_pages import txn_of
from kezekshi.conftest import verified_client
from kezekshi.core.models import School
from kezekshi.devices.simulator.hikvision import tiny_jpeg
from kezekshi.people import services as people_services
from kezekshi.people.models import Person, Pupil
from kezekshi.privacy.models import AuditEntry
from kezekshi.privacy.tests.family import Family

pytestmark = pytest.mark.django_db


@pytest.fixture
def cashier_user(school: School, make_user: Any) -> User:
    return make_user(Role.CASHIER, school, language="en")  # type: ignore[no-any-return]


@pytest.fixture
def cashier(cashier_user: User) -> Client:
    return verified_client(cashier_user)


def give_photo(person: Person) -> bytes:
    picture = tiny_jpeg()
    person.photo.save("face.jpg", ContentFile(picture), save=True)
    return picture


def photo_of(client: Client, person: Person) -> Any:
    return client.get(f"/canteen/people/{person.pk}/photo/")


def body_of(response: Any) -> bytes:
    """The streamed file; reading it to the end closes the response, as a server would
    (closing it again would end the test's database connection)."""
    return b"".join(response.streaming_content)


# --- the pupil's photo --------------------------------------------------------------------


def test_the_till_shows_the_photo_of_a_pupil_studying_here_and_the_view_is_audited(
    cashier: Client, cashier_user: User, pupil: Pupil
) -> None:
    # given a pupil of this school with a photo on file
    picture = give_photo(pupil.person)
    # when the cashier's page shows it
    response = photo_of(cashier, pupil.person)
    # then the photo comes, never cached by proxies
    assert response.status_code == 200
    assert response["Content-Type"] == "image/jpeg"
    assert response["Cache-Control"] == "private, max-age=300"
    assert body_of(response) == picture
    # and the read of the child's photo is in the school's audit log, as the look-up is
    entry = AuditEntry.objects.get(target=f"canteen:photo:{pupil.pk}")
    assert (entry.action, entry.actor_id, entry.person_id, entry.school_id) == (
        "view",
        cashier_user.pk,
        pupil.person_id,
        pupil.school_id,
    )


def test_the_till_shows_no_photo_of_a_pupil_who_left(cashier: Client, pupil: Pupil) -> None:
    give_photo(pupil.person)
    Pupil.objects.filter(pk=pupil.pk).update(
        is_active=False, left_on=timezone.localdate() - dt.timedelta(days=30)
    )
    assert photo_of(cashier, pupil.person).status_code == 404
    assert not AuditEntry.objects.filter(target__startswith="canteen:photo:").exists()


def test_the_till_shows_no_photo_of_a_pupil_whose_data_are_blocked(
    cashier: Client, pupil: Pupil
) -> None:
    give_photo(pupil.person)
    Person.objects.filter(pk=pupil.person_id).update(blocked_at=timezone.now())
    assert photo_of(cashier, pupil.person).status_code == 404
    assert not AuditEntry.objects.filter(target__startswith="canteen:photo:").exists()


def test_the_till_shows_no_photo_of_a_guardian_or_of_another_schools_pupil(
    cashier: Client, pupil: Pupil, other_school: School
) -> None:
    # a guardian of the pupil, with a photo on file: a person of this school, not a pupil
    father = people_services.add_guardian(
        pupil=pupil, last_name="Сейтқали", first_name="Нұрлан", phone="+77015550101",
        relation="father",
    ).guardian.person  # fmt: skip
    give_photo(father)
    assert photo_of(cashier, father).status_code == 404
    # a pupil of another school
    stranger = people_services.create_pupil(
        school=other_school, last_name="Басқа", first_name="Бала"
    )
    give_photo(stranger.person)
    assert photo_of(cashier, stranger.person).status_code == 404
    assert not AuditEntry.objects.filter(target__startswith="canteen:photo:").exists()


def test_only_the_tills_staff_see_a_pupils_photo_at_the_till(
    pupil: Pupil, school: School, make_user: Any
) -> None:
    give_photo(pupil.person)
    for role in (Role.ACCOUNTANT, Role.CLASS_TEACHER, Role.LIBRARIAN):
        client = verified_client(make_user(role, school))
        assert photo_of(client, pupil.person).status_code == 403, role


# --- the last sales on the till page ------------------------------------------------------


def sell_at_till(client: Client, pupil: Pupil, item: Any) -> Sale:
    page = client.get("/canteen/till/", {"find": pupil.account_number, "kind": "account"})
    form = {"pupil": pupil.pk, "txn_id": txn_of(page.content.decode()), f"qty_{item.pk}": "1"}
    assert client.post("/canteen/till/sell/", form).status_code == 302
    return Sale.objects.latest("pk")


def listed(client: Client) -> str:
    return client.get("/canteen/till/").content.decode()  # type: ignore[no-any-return]


def test_a_cashier_sees_only_their_own_last_sales_and_the_manager_the_schools(
    cashier: Client,
    school: School,
    make_user: Any,
    family: Family,
    menu: Menu,
    funded: Wallet,
    kaspi: PaymentProvider,
) -> None:
    # given a sale to the first child at this till and one to the second at the next till
    top_up(services.wallet_for(pupil=family.second), kaspi, "500.00", "second-1")
    colleague = verified_client(make_user(Role.CASHIER, school, language="en"))
    mine = sell_at_till(cashier, family.first, menu.item["tea"])
    theirs = sell_at_till(colleague, family.second, menu.item["tea"])
    # then each cashier's page lists their own sale only, and names only that pupil
    page = listed(cashier)
    assert f'id="sale-{mine.pk}"' in page and f'id="sale-{theirs.pk}"' not in page
    assert family.second.person.first_name not in page
    page = listed(colleague)
    assert f'id="sale-{theirs.pk}"' in page and f'id="sale-{mine.pk}"' not in page
    # and the canteen's manager sees both
    manager = verified_client(make_user(Role.SCHOOL_ADMIN, school, language="en"))
    page = listed(manager)
    assert f'id="sale-{mine.pk}"' in page and f'id="sale-{theirs.pk}"' in page


def test_the_last_sales_listed_by_name_are_an_audited_read(
    cashier: Client, cashier_user: User, pupil: Pupil, menu: Menu, funded: Wallet
) -> None:
    # given no sale yet: the list names nobody, and nothing is written
    listed(cashier)
    assert not AuditEntry.objects.filter(details__list="canteen_till_sales").exists()
    # when a sale is listed
    sell_at_till(cashier, pupil, menu.item["tea"])
    before = AuditEntry.objects.filter(details__list="canteen_till_sales").count()
    listed(cashier)
    # then showing it is a read of named pupils, in the audit log
    entries = AuditEntry.objects.filter(details__list="canteen_till_sales").order_by("pk")
    assert entries.count() == before + 1
    entry = entries.last()
    assert entry is not None
    assert (entry.action, entry.actor_id, entry.school_id) == (
        "view",
        cashier_user.pk,
        pupil.school_id,
    )
    assert entry.details["shown"] == 1


def test_a_blocked_pupils_sale_is_listed_without_a_name_except_to_the_safety_roles(
    cashier: Client, school: School, make_user: Any, pupil: Pupil, menu: Menu, funded: Wallet
) -> None:
    # given a sale, and then the child's data blocked at the parents' request
    sale = sell_at_till(cashier, pupil, menu.item["tea"])
    listed(cashier)  # the page that says "Sold to …"
    Person.objects.filter(pk=pupil.person_id).update(blocked_at=timezone.now())
    # then the cashier's list keeps the sale (it can still be voided) without the name
    page = listed(cashier)
    row = re.search(rf'<tr id="sale-{sale.pk}">.*?</tr>', page, re.S)
    assert row is not None
    assert "(data blocked)" in row.group(0)
    assert pupil.person.first_name not in page
    # and the school admin, a safety role, sees the child named and marked
    manager = verified_client(make_user(Role.SCHOOL_ADMIN, school, language="en"))
    row = re.search(rf'<tr id="sale-{sale.pk}">.*?</tr>', listed(manager), re.S)
    assert row is not None
    assert f"{pupil.person.full_name} (blocked)" in row.group(0)


def test_the_cashiers_page_keeps_the_staff_photo_link(
    cashier: Client, pupil: Pupil, menu: Menu
) -> None:
    give_photo(pupil.person)
    page = cashier.get("/canteen/till/", {"find": pupil.account_number, "kind": "account"})
    assert f'<img src="/canteen/people/{pupil.person_id}/photo/"' in page.content.decode()
