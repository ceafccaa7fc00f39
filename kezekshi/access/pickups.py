"""Pick-up of young children: who may collect a child, and the record of each hand-over.

A legal representative names trusted adults for their own child (and revokes them);
guardians whose guardianship says ``may_pick_up`` may collect the child too. Staff
record each hand-over with who took the child — nobody else may — and the child's
guardians are told in their own language, in the same transaction (the outbox).

Each write is one transaction with keyword-only arguments.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from zoneinfo import ZoneInfo

from django.conf import settings
from django.db import transaction
from django.db.models import QuerySet
from django.utils import timezone, translation
from django.utils.translation import gettext as _

from kezekshi.access import watchlist
from kezekshi.access.decisions import local_time
from kezekshi.access.models import PickUp, TrustedAdult
from kezekshi.accounts.models import User
from kezekshi.core.errors import ServiceError
from kezekshi.core.models import School
from kezekshi.core.validators import normalize_phone
from kezekshi.notifications import services as notifications
from kezekshi.people.models import Guardian, Guardianship, Pupil
from kezekshi.privacy import audit
from kezekshi.privacy.services import withdrawn_processing

REPEAT_WINDOW = dt.timedelta(minutes=5)


@dataclass(frozen=True)
class Collector:
    """Someone who may collect a child, as the staff page lists them."""

    kind: str  # "guardian" or "trusted"
    id: int  # the Guardian's or the TrustedAdult's id
    full_name: str
    phone: str
    relation: str  # a guardianship's relation code, or what the parent wrote
    # On the active watch list (by person, name or phone): the hand-over is refused.
    watched: bool = False
    # A guardian whose data are blocked: still listed (safety), marked, without a phone.
    blocked: bool = False

    @property
    def relation_label(self) -> str:
        """Who they are to the child, in the active language."""
        if self.kind == "guardian" and self.relation in Guardianship.Relation.values:
            return str(Guardianship.Relation(self.relation).label)
        return self.relation


def trusted_adults_of(pupil: Pupil) -> QuerySet[TrustedAdult]:
    """The child's trusted adults not revoked, oldest first."""
    return TrustedAdult.objects.filter(pupil=pupil, revoked_at__isnull=True).order_by("pk")


def collectors_of(pupil: Pupil) -> list[Collector]:
    """Guardians allowed to pick the child up, then active trusted adults.

    A blocked guardian is listed (the pick-up page serves the safety roles only) marked
    ``blocked`` and without their phone.
    """
    entries = list(watchlist.active_entries(pupil.school_id))
    watched_people = {entry.person_id for entry in entries if entry.person_id}
    watched_names = {watchlist.normalise_name(entry.full_name) for entry in entries}
    watched_phones = {entry.phone for entry in entries if entry.phone}

    def watched(name: str, phone: str, person_id: int | None = None) -> bool:
        return (
            (person_id is not None and person_id in watched_people)
            or watchlist.normalise_name(name) in watched_names
            or (bool(phone) and phone in watched_phones)
        )

    found = [
        Collector(
            kind="guardian",
            id=link.guardian_id,
            full_name=link.guardian.person.full_name,
            # A blocked guardian's phone is not shown (docs/privacy.md, "Blocking").
            phone="" if link.guardian.person.blocked_at else link.guardian.person.phone,
            relation=link.relation,
            watched=watched(
                link.guardian.person.full_name,
                link.guardian.person.phone,
                link.guardian.person_id,
            ),
            blocked=link.guardian.person.blocked_at is not None,
        )
        for link in Guardianship.objects.filter(pupil=pupil, may_pick_up=True)
        .select_related("guardian__person")
        .order_by("pk")
    ]
    found += [
        Collector(
            kind="trusted",
            id=adult.pk,
            full_name=adult.full_name,
            phone=adult.phone,
            relation=adult.relation,
            watched=watched(adult.full_name, adult.phone),
        )
        for adult in trusted_adults_of(pupil)
    ]
    return found


def _legal_representative(user: User, pupil: Pupil) -> Guardian:
    guardian = Guardian.objects.filter(
        school_id=pupil.school_id,
        person__user=user,
        wards__pupil=pupil,
        wards__is_legal_representative=True,
    ).first()
    if guardian is None:
        raise ServiceError(
            "not_legal_representative",
            _("Only the child's legal representative can do this."),
            status=403,
        )
    return guardian


@transaction.atomic
def add_trusted_adult(
    *, pupil: Pupil, full_name: str, phone: str, relation: str, by: User
) -> TrustedAdult:
    """A legal representative names an adult who may collect their child.

    Raises ``ServiceError`` (403) for anyone else, ``ValidationError`` for a malformed
    phone, ``ServiceError`` for an empty name or relation.
    """
    _legal_representative(by, pupil)
    name = " ".join(full_name.split())
    if not name or not relation.strip():
        raise ServiceError(
            "invalid_trusted_adult", _("Give the adult's full name and who they are.")
        )
    adult = TrustedAdult.objects.create(
        school_id=pupil.school_id,
        pupil=pupil,
        full_name=name[:300],
        phone=normalize_phone(phone),
        relation=relation.strip()[:100],
        added_by=by,
    )
    audit.record(
        action=audit.Action.CHANGE,
        actor=by,
        school=pupil.school,
        person=pupil.person,
        target="access.trusted_adult",
        details={"trusted_adult": adult.pk, "change": "added"},
    )
    return adult


@transaction.atomic
def revoke_trusted_adult(*, adult: TrustedAdult, by: User) -> TrustedAdult:
    """The adult may no longer collect the child, from now; idempotent.

    Only a legal representative of the child may revoke (403 otherwise).
    """
    _legal_representative(by, adult.pupil)
    changed = TrustedAdult.objects.filter(pk=adult.pk, revoked_at__isnull=True).update(
        revoked_at=timezone.now()
    )
    adult.refresh_from_db(fields=["revoked_at"])
    if changed:
        audit.record(
            action=audit.Action.CHANGE,
            actor=by,
            school=adult.pupil.school,
            person=adult.pupil.person,
            target="access.trusted_adult",
            details={"trusted_adult": adult.pk, "change": "revoked"},
        )
    return adult


def _refuse(message: str) -> ServiceError:
    return ServiceError("not_allowed_to_collect", message, status=409)


@transaction.atomic
def record_pickup(
    *,
    pupil: Pupil,
    by: User,
    guardian: Guardian | None = None,
    trusted_adult: TrustedAdult | None = None,
    at: dt.datetime | None = None,
) -> PickUp:
    """Record that ``guardian`` or ``trusted_adult`` took the child, and tell the guardians.

    Exactly one of the two must be given (422 otherwise). Refused (409,
    ``not_allowed_to_collect``) for a guardian without ``may_pick_up`` for this child, a
    revoked or another child's trusted adult, and anyone on the active watch list.
    Recording the same collector for the same child again within ``REPEAT_WINDOW``
    returns the first record (a double tap). The guardians' notices (kind "pickup",
    each in the recipient's language, key ``pickup:<id>``) are written in the same
    transaction.
    """
    if (guardian is None) == (trusted_adult is None):
        raise ServiceError("choose_collector", _("Choose who is taking the child."), status=422)
    collectors = {(c.kind, c.id): c for c in collectors_of(pupil)}
    key = ("guardian", guardian.pk) if guardian is not None else ("trusted", trusted_adult.pk)  # type: ignore[union-attr]
    collector = collectors.get(key)
    if collector is None:
        raise _refuse(_("This person may not collect the child."))
    if collector.watched:
        raise _refuse(_("This person is on the watch list: do not hand the child over."))
    # A double tap or a resent form within a few minutes is the same hand-over.
    Pupil.objects.select_for_update().filter(pk=pupil.pk).first()
    repeated = PickUp.objects.filter(
        pupil=pupil,
        guardian=guardian,
        trusted_adult=trusted_adult,
        picked_up_at__gte=(at or timezone.now()) - REPEAT_WINDOW,
    ).first()
    if repeated is not None:
        return repeated
    pickup = PickUp.objects.create(
        school_id=pupil.school_id,
        pupil=pupil,
        guardian=guardian,
        trusted_adult=trusted_adult,
        picked_up_at=at or timezone.now(),
        recorded_by=by,
    )
    audit.record(
        action=audit.Action.CHANGE,
        actor=by,
        school=pupil.school,
        person=pupil.person,
        target="access.pickup",
        details={"pickup": pickup.pk, "by": collector.kind},
    )
    _notify_guardians(pickup, pupil, collector)
    return pickup


def _pickup_text(*, language: str, child: str, collector: Collector, at: dt.datetime) -> str:
    with translation.override(language):
        return _("%(child)s was picked up at %(time)s by %(who)s (%(relation)s)") % {
            "child": child,
            "time": f"{local_time(at):%H:%M}",
            "who": collector.full_name,
            "relation": collector.relation_label,
        }


def _notify_guardians(pickup: PickUp, pupil: Pupil, collector: Collector) -> None:
    """Every guardian with an account hears of the hand-over; for a blocked child only
    the legal representatives (safety notices go on while blocked). Nobody whose
    processing consent is withdrawn — for themselves or for this child — is told."""
    links = list(
        Guardianship.objects.filter(
            pupil=pupil,
            guardian__person__user__isnull=False,
            guardian__person__user__is_active=True,
        ).select_related("guardian__person__user")
    )
    if pupil.person.blocked_at is not None:
        links = [link for link in links if link.is_legal_representative]
    users = {link.guardian.person.user_id for link in links if link.guardian.person.user_id}
    withdrawn = withdrawn_processing(users=users, children={pupil.person_id})
    notices = []
    for link in links:
        user = link.guardian.person.user
        assert user is not None
        if (user.pk, None) in withdrawn or (user.pk, pupil.person_id) in withdrawn:
            continue
        language = user.language or "kk"
        notices.append(
            notifications.Notice(
                school_id=pupil.school_id,
                recipient_id=user.pk,
                kind="pickup",
                key=f"pickup:{pickup.pk}",
                text=_pickup_text(
                    language=language,
                    child=pupil.person.first_name,
                    collector=collector,
                    at=pickup.picked_up_at,
                ),
                person_id=pupil.person_id,
            )
        )
    notifications.enqueue(notices)


def pickups_on(school: School, day: dt.date) -> QuerySet[PickUp]:
    """The hand-overs of ``day`` (school time), latest first."""
    starts = dt.datetime.combine(day, dt.time.min, tzinfo=ZoneInfo(settings.SCHOOL_TIME_ZONE))
    return PickUp.objects.filter(
        school=school, picked_up_at__gte=starts, picked_up_at__lt=starts + dt.timedelta(days=1)
    ).select_related(
        "pupil__person", "pupil__school_class", "guardian__person", "trusted_adult", "recorded_by"
    )
