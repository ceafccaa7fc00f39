"""Everything held about a data subject: a registry of sections, and the export.

A *subject* is either the signed-in user themselves — their account and every person
record linked to it (one per school) — or a child they are a legal representative of.

Each app adds what it holds as a section::

    from kezekshi.privacy.subject_data import Subject, section

    @section("canteen_purchases", gettext_lazy("Canteen purchases"), order=60,
             labels={"time": gettext_lazy("Time"), "item": gettext_lazy("Item")})
    def purchases(subject: Subject) -> list[dict[str, object]]:
        return [...]  # one dict per row, plain values (str, int, bool, date, datetime)

registered at import time from the app's ``AppConfig.ready`` (the access, canteen,
library and notifications apps do not exist yet; their sections belong there, beside
their models). The parents' page, the printable page, the JSON download and the API
all read the same registry, so a new section appears everywhere at once.

Who may ask: ``subject_for`` lets a user through only for themselves and children they
are a *legal representative* of; anything else is refused (403) and written to the
audit log.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

from django.conf import settings
from django.db.models import Q, QuerySet
from django.http import HttpRequest
from django.utils import timezone
from django.utils.formats import date_format
from django.utils.functional import Promise
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from kezekshi.accounts.models import ApiToken, Membership, SignInCode, User
from kezekshi.accounts.roles import Role
from kezekshi.core.errors import ServiceError
from kezekshi.people.models import Guardianship, Person, Pupil
from kezekshi.privacy import audit
from kezekshi.privacy.disclosures import disclosures_visible_to
from kezekshi.privacy.models import AuditEntry, Consent, SubjectRequest
from kezekshi.privacy.services import ensure_representative

SELF = "me"
EXPORT_FORMAT = "kezekshi-subject-data"
EXPORT_VERSION = 1


@dataclass(frozen=True)
class Subject:
    """Whose data: ``user`` themselves (``pupil`` is None), or ``pupil``, a child of theirs."""

    key: str  # "me", or the child's pupil id
    user: User  # the signed-in user: the subject, or the child's legal representative
    persons: tuple[Person, ...]  # the subject's person records (one per school)
    pupil: Pupil | None = None

    @property
    def is_self(self) -> bool:
        return self.pupil is None

    @property
    def label(self) -> str:
        if self.pupil is None:
            return _("You")
        return self.pupil.person.full_name

    @property
    def blocked(self) -> bool:
        return any(person.blocked_at is not None for person in self.persons)


def represented_pupils(user: User) -> QuerySet[Pupil]:
    """Children ``user`` is a legal representative of, in any school.

    Unlike ``privacy.services.represented_children`` this keeps children who have left
    the school: what is still held about them is still theirs to see.
    """
    return (
        Pupil.objects.filter(
            guardianships__guardian__person__user=user,
            guardianships__is_legal_representative=True,
        )
        .select_related("person__school", "school", "school_class")
        .distinct()
        .order_by("person__birth_date", "pk")
    )


def own_subject(user: User) -> Subject:
    persons = Person.objects.filter(user=user).select_related("school").order_by("school_id", "pk")
    return Subject(key=SELF, user=user, persons=tuple(persons))


def subjects_of(user: User) -> list[Subject]:
    """The user and each child they represent, in that order."""
    children = [
        Subject(key=str(pupil.pk), user=user, persons=(pupil.person,), pupil=pupil)
        for pupil in represented_pupils(user)
    ]
    return [own_subject(user), *children]


def subject_for(
    user: User, key: str, *, action: str, request: HttpRequest | None = None
) -> Subject:
    """The subject named ``key`` ("me" or a pupil id) if ``user`` may act for it.

    Refuses ``not_representative`` (403) for someone else's child, for a guardian who is
    not a legal representative, and for an id that names no pupil (the same answer, so
    the refusal does not tell whether the child exists); each refusal is in the audit
    log (REFUSED) before the error is raised. Call it outside the transaction that does
    the work, so the refusal is not rolled back with it.
    """
    if key == SELF:
        return own_subject(user)
    pupil = (
        Pupil.objects.filter(pk=int(key)).select_related("person__school", "school").first()
        if key.isdecimal()
        else None
    )
    if pupil is None:
        audit.record(
            action=AuditEntry.Action.REFUSED,
            actor=user,
            school=None,
            target=f"pupil {key[:50]}",
            details={"reason": "not_representative", "action": action},
            request=request,
        )
        raise ServiceError(
            "not_representative",
            _("Only a legal representative of this child can do this."),
            status=403,
        )
    ensure_representative(user=user, person=pupil.person, action=action)
    return Subject(key=str(pupil.pk), user=user, persons=(pupil.person,), pupil=pupil)


# --- the registry -----------------------------------------------------------------------

Label = str | Promise
Collector = Callable[[Subject], list[dict[str, Any]]]


@dataclass(frozen=True)
class Section:
    key: str
    title: Label
    collect: Collector
    labels: Mapping[str, Label]
    order: int


_SECTIONS: dict[str, Section] = {}


def section(
    key: str, title: Label, *, labels: Mapping[str, Label], order: int = 100
) -> Callable[[Collector], Collector]:
    """Register ``collect`` as the section ``key`` of everything held about a subject.

    ``labels`` names each key of the rows for people (the JSON keeps the keys). A key
    registered again replaces the earlier section.
    """

    def register(collect: Collector) -> Collector:
        _SECTIONS[key] = Section(key, title, collect, dict(labels), order)
        return collect

    return register


def sections() -> list[Section]:
    return sorted(_SECTIONS.values(), key=lambda found: (found.order, found.key))


@dataclass(frozen=True)
class Held:
    """One section's rows about one subject."""

    section: Section
    items: list[dict[str, Any]]

    @property
    def columns(self) -> list[str]:
        seen: dict[str, None] = {}
        for item in self.items:
            seen.update(dict.fromkeys(item))
        return list(seen)

    def table(self) -> tuple[list[str], list[list[str]]]:
        """Column headings and rows of display text, for the pages."""
        columns = self.columns
        headings = [str(self.section.labels.get(column, column)) for column in columns]
        rows = [[display(item.get(column)) for column in columns] for item in self.items]
        return headings, rows


def held_about(subject: Subject) -> list[Held]:
    """Every registered section's rows about ``subject`` (empty sections included)."""
    return [Held(found, found.collect(subject)) for found in sections()]


def _local(moment: dt.datetime) -> dt.datetime:
    return timezone.localtime(moment, ZoneInfo(settings.SCHOOL_TIME_ZONE))


def display(value: Any) -> str:
    """A value as people read it: local time, dd.mm.yyyy, yes/no, a dash for nothing."""
    if value is None or value == "" or value == []:
        return "—"
    if isinstance(value, bool):
        return _("yes") if value else _("no")
    if isinstance(value, dt.datetime):
        return date_format(_local(value), "d.m.Y H:i")
    if isinstance(value, dt.date):
        return date_format(value, "d.m.Y")
    if isinstance(value, list | tuple):
        return "; ".join(display(part) for part in value)
    return str(value)


def jsonable(value: Any) -> Any:
    """A value for the JSON export: ISO dates, text for translations and money."""
    if isinstance(value, dt.datetime | dt.date):
        return value.isoformat()
    if isinstance(value, Promise | Decimal):
        return str(value)
    if isinstance(value, Mapping):
        return {str(key): jsonable(part) for key, part in value.items()}
    if isinstance(value, list | tuple):
        return [jsonable(part) for part in value]
    return value


def export(subject: Subject, *, held: Iterable[Held] | None = None) -> dict[str, Any]:
    """Everything held about ``subject`` as one JSON-ready document."""
    return {
        "format": EXPORT_FORMAT,
        "version": EXPORT_VERSION,
        "generated_at": timezone.now().isoformat(),
        "subject": {"key": subject.key, "name": subject_name(subject)},
        "sections": [
            {
                "key": found.section.key,
                "title": str(found.section.title),
                "items": jsonable(found.items),
            }
            for found in (held if held is not None else held_about(subject))
        ],
    }


def family_export(user: User) -> dict[str, Any]:
    """The user's own data and each represented child's, in one document."""
    return {
        "format": EXPORT_FORMAT,
        "version": EXPORT_VERSION,
        "generated_at": timezone.now().isoformat(),
        "subjects": [export(subject) for subject in subjects_of(user)],
    }


def subject_name(subject: Subject) -> str:
    if subject.pupil is not None:
        return subject.pupil.person.full_name
    return subject.user.full_name or (
        subject.persons[0].full_name if subject.persons else str(subject.user)
    )


def record_export(
    subjects: Iterable[Subject], *, user: User, form: str, request: HttpRequest | None = None
) -> None:
    """Write who took a copy of whose data to each school's audit log."""
    for subject in subjects:
        for person in subject.persons or (None,):
            audit.record(
                action=AuditEntry.Action.EXPORT,
                actor=user,
                school=person.school if person is not None else None,
                person=person,
                target=f"subject data ({form})",
                details={"form": form, "by_subject": subject.is_self},
                request=request,
            )


# --- the sections for what exists today ---------------------------------------------------


def _person_ids(subject: Subject) -> list[int]:
    return [person.pk for person in subject.persons]


@section(
    "account",
    gettext_lazy("Account"),
    order=10,
    labels={
        "phone": gettext_lazy("Phone"),
        "email": gettext_lazy("E-mail"),
        "full_name": gettext_lazy("Name"),
        "language": gettext_lazy("Language"),
        "joined": gettext_lazy("Registered"),
        "last_sign_in": gettext_lazy("Last sign-in"),
        "roles": gettext_lazy("Roles"),
    },
)
def _account(subject: Subject) -> list[dict[str, Any]]:
    if not subject.is_self:
        return []
    user = subject.user
    roles = [
        f"{Role(m.role).label} — {m.school.name}" if m.school else str(Role(m.role).label)
        for m in Membership.objects.filter(user=user).select_related("school").order_by("pk")
    ]
    return [
        {
            "phone": user.phone,
            "email": user.email,
            "full_name": user.full_name,
            "language": user.language,
            "joined": user.date_joined,
            "last_sign_in": user.last_login,
            "roles": roles,
        }
    ]


# How a person's fields are named to the subject; corrections (requests.py) use them too.
PERSON_FIELD_LABELS: dict[str, Any] = {
    "last_name": gettext_lazy("Last name"),
    "first_name": gettext_lazy("First name"),
    "patronymic": gettext_lazy("Patronymic"),
    "iin": gettext_lazy("IIN"),
    "birth_date": gettext_lazy("Birth date"),
    "sex": gettext_lazy("Sex"),
    "phone": gettext_lazy("Phone"),
}


@section(
    "person_records",
    gettext_lazy("Records kept by schools"),
    order=20,
    labels={
        "school": gettext_lazy("School"),
        **PERSON_FIELD_LABELS,
        "email": gettext_lazy("E-mail"),
        "photo": gettext_lazy("Photo on file"),
        "blocked_since": gettext_lazy("Blocked since"),
        "recorded": gettext_lazy("Recorded"),
        "updated": gettext_lazy("Last changed"),
    },
)
def _person_records(subject: Subject) -> list[dict[str, Any]]:
    return [
        {
            "school": person.school.name,
            "last_name": person.last_name,
            "first_name": person.first_name,
            "patronymic": person.patronymic,
            "iin": person.iin,
            "birth_date": person.birth_date,
            "sex": person.get_sex_display(),
            "phone": person.phone,
            "email": person.email,
            "photo": bool(person.photo),
            "blocked_since": person.blocked_at,
            "recorded": person.created_at,
            "updated": person.updated_at,
        }
        for person in subject.persons
    ]


@section(
    "guardianships",
    gettext_lazy("Guardianships"),
    order=30,
    labels={
        "school": gettext_lazy("School"),
        "child": gettext_lazy("Child"),
        "guardian": gettext_lazy("Guardian"),
        "relation": gettext_lazy("Relation"),
        "legal_representative": gettext_lazy("Legal representative"),
        "may_pick_up": gettext_lazy("May pick up"),
    },
)
def _guardianships(subject: Subject) -> list[dict[str, Any]]:
    if subject.pupil is not None:
        # The child's guardians by name and relation only: their contacts are their data.
        rows = Guardianship.objects.filter(pupil=subject.pupil).select_related(
            "guardian__person", "school"
        )
        return [
            {
                "school": row.school.name,
                "guardian": row.guardian.person.full_name,
                "relation": row.get_relation_display(),
                "legal_representative": row.is_legal_representative,
                "may_pick_up": row.may_pick_up,
            }
            for row in rows.order_by("pk")
        ]
    rows = Guardianship.objects.filter(guardian__person__in=_person_ids(subject)).select_related(
        "pupil__person", "school"
    )
    return [
        {
            "school": row.school.name,
            "child": row.pupil.person.full_name,
            "relation": row.get_relation_display(),
            "legal_representative": row.is_legal_representative,
            "may_pick_up": row.may_pick_up,
        }
        for row in rows.order_by("pk")
    ]


@section(
    "enrolment",
    gettext_lazy("Class and enrolment"),
    order=40,
    labels={
        "school": gettext_lazy("School"),
        "class": gettext_lazy("Class"),
        "shift": gettext_lazy("Shift"),
        "language_of_instruction": gettext_lazy("Language of instruction"),
        "class_teacher": gettext_lazy("Class teacher"),
        "personal_account": gettext_lazy("Personal account"),
        "studies_here": gettext_lazy("Studies here"),
        "left_on": gettext_lazy("Left the school on"),
    },
)
def _enrolment(subject: Subject) -> list[dict[str, Any]]:
    pupils = Pupil.objects.filter(person__in=_person_ids(subject)).select_related(
        "school", "school_class__class_teacher__person"
    )
    rows = []
    for pupil in pupils.order_by("pk"):
        school_class = pupil.school_class
        teacher = school_class.class_teacher if school_class else None
        rows.append(
            {
                "school": pupil.school.name,
                "class": str(school_class) if school_class else None,
                "shift": school_class.shift if school_class else None,
                "language_of_instruction": (
                    school_class.get_language_display() if school_class else None
                ),
                "class_teacher": teacher.person.full_name if teacher else None,
                "personal_account": pupil.account_number,
                "studies_here": pupil.is_active,
                "left_on": pupil.left_on,
            }
        )
    return rows


def _who(subject: Subject, user_id: int | None, *, staff: bool = False) -> str:
    if user_id is not None and user_id == subject.user.pk:
        return _("you")
    if staff:
        return _("school staff")
    return _("another legal representative") if subject.pupil is not None else _("someone else")


@section(
    "consents",
    gettext_lazy("Consents"),
    order=50,
    labels={
        "time": gettext_lazy("Time"),
        "kind": gettext_lazy("Kind"),
        "decision": gettext_lazy("Decision"),
        "given_by": gettext_lazy("By"),
        "as_representative": gettext_lazy("As legal representative"),
        "channel": gettext_lazy("How"),
        "policy_version": gettext_lazy("Policy version"),
        "ip": gettext_lazy("IP address"),
        "browser": gettext_lazy("Browser"),
    },
)
def _consents(subject: Subject) -> list[dict[str, Any]]:
    about = Q(subject_person__in=_person_ids(subject))
    if subject.is_self:
        about |= Q(subject_user=subject.user)
    rows = Consent.objects.filter(about).select_related("policy").order_by("id")
    staff_channels = {Consent.Channel.STAFF, Consent.Channel.PAPER}
    found = []
    for row in rows:
        mine = row.given_by_id == subject.user.pk
        found.append(
            {
                "time": row.created_at,
                "kind": row.get_kind_display(),
                "decision": row.get_decision_display(),
                "given_by": _who(subject, row.given_by_id, staff=row.channel in staff_channels),
                "as_representative": row.as_representative,
                "channel": row.get_channel_display(),
                "policy_version": row.policy.number if row.policy else None,
                # Where a consent was given from is the giver's data: shown to them only.
                "ip": row.ip if mine else None,
                "browser": row.user_agent if mine else None,
            }
        )
    return found


def requests_about(subject: Subject) -> QuerySet[SubjectRequest]:
    """The subject's requests: about their person records, or (for the user) their account."""
    about = Q(subject_person__in=_person_ids(subject))
    if subject.is_self:
        about |= Q(subject_person__isnull=True, requested_by=subject.user)
    return SubjectRequest.objects.filter(about).select_related("school", "subject_person")


@section(
    "requests",
    gettext_lazy("Requests about the data"),
    order=60,
    labels={
        "number": gettext_lazy("No."),
        "received": gettext_lazy("Received"),
        "request": gettext_lazy("Request"),
        "by": gettext_lazy("By"),
        "message": gettext_lazy("Message"),
        "status": gettext_lazy("Status"),
        "deadline": gettext_lazy("Answer due"),
        "resolved": gettext_lazy("Answered"),
        "answer": gettext_lazy("Answer"),
    },
)
def _requests(subject: Subject) -> list[dict[str, Any]]:
    return [
        {
            "number": row.pk,
            "received": row.created_at,
            "request": row.get_kind_display(),
            "by": _who(subject, row.requested_by_id),
            "message": row.payload.get("message", ""),
            "status": row.get_status_display(),
            "deadline": row.deadline,
            "resolved": row.resolved_at,
            "answer": row.resolution,
        }
        for row in requests_about(subject).order_by("created_at", "pk")
    ]


@section(
    "disclosures",
    gettext_lazy("Data given to state bodies"),
    order=70,
    labels={
        "date": gettext_lazy("Date"),
        "state_body": gettext_lazy("State body"),
        "legal_ground": gettext_lazy("Legal ground"),
        "request_number": gettext_lazy("Request number"),
        "data_sent": gettext_lazy("Data sent"),
    },
)
def _disclosures(subject: Subject) -> list[dict[str, Any]]:
    # A body may keep its request from the subject (an investigation): those stay hidden.
    return [
        {
            "date": row.disclosed_on,
            "state_body": row.body,
            "legal_ground": row.legal_ground,
            "request_number": row.request_number,
            "data_sent": row.data_sent,
        }
        for person in subject.persons
        for row in disclosures_visible_to(person)
    ]


def _actor_labels(subject: Subject, entries: list[AuditEntry]) -> dict[tuple[int, int | None], str]:
    """Each (actor, school) as the subject sees it: the roles, never the staff member's name."""
    actor_ids = {entry.actor_id for entry in entries if entry.actor_id is not None}
    roles: dict[tuple[int, int | None], list[str]] = {}
    operators: set[int] = set()
    for user_id, school_id, role in Membership.objects.filter(user_id__in=actor_ids).values_list(
        "user_id", "school_id", "role"
    ):
        if role == Role.PLATFORM_OPERATOR:
            operators.add(user_id)
        elif school_id is not None:
            roles.setdefault((user_id, school_id), []).append(str(Role(role).label))
    labels = {}
    for entry in entries:
        if entry.actor_id is None:
            continue
        key = (entry.actor_id, entry.school_id)
        if entry.actor_id == subject.user.pk:
            labels[key] = _("you")
        elif key in roles:
            labels[key] = ", ".join(sorted(roles[key]))
        elif entry.actor_id in operators:
            labels[key] = str(Role.PLATFORM_OPERATOR.label)
        else:
            labels[key] = _("someone else")
    return labels


@section(
    "processing_log",
    gettext_lazy("Who processed the data"),
    order=80,
    labels={
        "time": gettext_lazy("Time"),
        "action": gettext_lazy("Action"),
        "school": gettext_lazy("School"),
        "by": gettext_lazy("By"),
    },
)
def _processing_log(subject: Subject) -> list[dict[str, Any]]:
    # Shown by role and school, not by the staff member's name: the subject learns who
    # processed the data (the law's right), a guard is not singled out to a parent; the
    # DPO names the person on an access request.
    entries = list(
        AuditEntry.objects.filter(person__in=_person_ids(subject))
        .select_related("school")
        .order_by("created_at", "id")
    )
    labels = _actor_labels(subject, entries)
    # Translated once: a year of card views is hundreds of rows with a handful of actions.
    actions = {value: str(label) for value, label in AuditEntry.Action.choices}
    return [
        {
            "time": entry.created_at,
            "action": actions.get(entry.action, entry.action),
            "school": entry.school.name if entry.school else None,
            "by": (
                labels[(entry.actor_id, entry.school_id)]
                if entry.actor_id is not None
                else _("the system")
            ),
        }
        for entry in entries
    ]


@section(
    "sign_in_codes",
    gettext_lazy("Sign-in codes sent"),
    order=90,
    labels={
        "sent": gettext_lazy("Sent"),
        "expires": gettext_lazy("Valid until"),
        "attempts": gettext_lazy("Wrong attempts"),
        "used": gettext_lazy("Used"),
        "ip": gettext_lazy("IP address"),
    },
)
def _sign_in_codes(subject: Subject) -> list[dict[str, Any]]:
    # The codes themselves are stored only as digests, so there is nothing more to show.
    if not subject.is_self or not subject.user.phone:
        return []
    rows = SignInCode.objects.filter(phone=subject.user.phone).order_by("created_at", "pk")
    return [
        {
            "sent": row.created_at,
            "expires": row.expires_at,
            "attempts": row.attempts,
            "used": row.consumed_at,
            "ip": row.ip,
        }
        for row in rows
    ]


@section(
    "app_sessions",
    gettext_lazy("Signed-in apps"),
    order=91,
    labels={
        "issued": gettext_lazy("Signed in"),
        "expires": gettext_lazy("Valid until"),
        "last_used": gettext_lazy("Last used"),
        "device": gettext_lazy("Device"),
    },
)
def _app_sessions(subject: Subject) -> list[dict[str, Any]]:
    if not subject.is_self:
        return []
    rows = ApiToken.objects.filter(user=subject.user).order_by("created_at", "pk")
    return [
        {
            "issued": row.created_at,
            "expires": row.expires_at,
            "last_used": row.last_used_at,
            "device": row.user_agent,
        }
        for row in rows
    ]
