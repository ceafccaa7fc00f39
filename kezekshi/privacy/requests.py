"""Subject requests: filing them with a deadline, answering them, blocking and correcting.

A parent files requests for themselves and for the children they are a legal
representative of (``subject_data.subject_for`` checks that first). Each request gets a
deadline in Kazakh national working days (``DEADLINE_DAYS``); the data-protection
officer of the school sees them in a queue, overdue first, and answers each one: done
(blocking, unblocking and corrections are carried out by the answer itself) or refused,
with a text the parent reads. Some requests are decided at once and stored already
answered: an erasure the law does not allow (with the reason) and a consent withdrawal
(done, or refused while an obligation is open).

A request the same user sends twice (same kind, same subject, still open) returns the
first one; for corrections the proposed values must match too, since a second, different
correction is a new request.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any
from zoneinfo import ZoneInfo

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.db import transaction
from django.db.models import Case, IntegerField, Q, QuerySet, Value, When
from django.http import HttpRequest
from django.utils import timezone
from django.utils.functional import Promise
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from kezekshi.accounts import services as accounts_services
from kezekshi.accounts.models import User
from kezekshi.core.calendar import add_working_days
from kezekshi.core.crypto import decrypt, encrypt
from kezekshi.core.errors import ServiceError
from kezekshi.core.models import School
from kezekshi.core.validators import normalize_phone, validate_iin
from kezekshi.people.models import (
    Guardianship,
    Person,
    Pupil,
    SchoolClass,
    Sex,
    StaffMember,
    iin_digest,
)
from kezekshi.privacy import audit
from kezekshi.privacy import services as consent_services
from kezekshi.privacy.models import BIOMETRIC_KINDS, AuditEntry, Kind, SubjectRequest
from kezekshi.privacy.subject_data import PERSON_FIELD_LABELS, Subject

RequestKind = SubjectRequest.Kind
Status = SubjectRequest.Status

# Kazakh national working days to answer, counted from the day after the request arrives
# and ending at the close of the last day (Asia/Almaty). See docs/privacy.md.
DEADLINE_DAYS: dict[str, int] = {
    RequestKind.ACCESS: 3,  # information about the data: 3 working days
    RequestKind.EXPORT: 3,
    RequestKind.RECTIFY: 1,  # correct, block: 1 working day
    RequestKind.BLOCK: 1,
    RequestKind.UNBLOCK: 1,  # lifting a block the subject asked for: as fast as setting it
    # Erasure: what reaches the officer has passed the automatic check (nothing the
    # school must keep), so it is data held without a ground: the law's 1 day to delete.
    RequestKind.ERASE: 1,
    # Withdrawal is recorded at once; the day is for what follows it (templates erased
    # from the devices, processing stopped in every app).
    RequestKind.WITHDRAW: 1,
}
MESSAGE_LIMIT = 2000
# Requests a parent files with ``file_request``; corrections and withdrawals have their
# own services because they carry more than a message.
SIMPLE_KINDS = (
    RequestKind.ACCESS,
    RequestKind.EXPORT,
    RequestKind.BLOCK,
    RequestKind.UNBLOCK,
    RequestKind.ERASE,
)


def deadline_for(kind: str, received: dt.datetime) -> dt.datetime:
    """The end of the last working day the answer to a ``kind`` request may take."""
    local = timezone.localtime(received, ZoneInfo(settings.SCHOOL_TIME_ZONE))
    last_day = add_working_days(local.date(), DEADLINE_DAYS[kind])
    return dt.datetime.combine(last_day, dt.time(23, 59, 59), tzinfo=local.tzinfo)


@dataclass(frozen=True)
class Filed:
    """A filed request and whether this call created it (False: the open one returned)."""

    request: SubjectRequest
    created: bool


# --- which record a request is about ------------------------------------------------------


def target_of(subject: Subject, school_id: int | None = None) -> Person | None:
    """The person record a request about ``subject`` concerns, or None for the account.

    A child has one record. The user has one per school they are known in: with one, it
    is that one; with several, ``school_id`` must say which (``choose_school``, 422);
    with none, the request is about the account alone.
    """
    if subject.pupil is not None:
        return subject.pupil.person
    if school_id is not None:
        for person in subject.persons:
            if person.school_id == school_id:
                return person
        raise ServiceError("unknown_school", _("You have no record in that school."), status=422)
    if len(subject.persons) > 1:
        raise ServiceError(
            "choose_school",
            _("You are known in several schools: choose the school this request is for."),
            status=422,
            schools=[{"id": p.school_id, "name": p.school.name} for p in subject.persons],
        )
    return subject.persons[0] if subject.persons else None


# --- erasure: what the law does not let go -----------------------------------------------

# Checks other apps add (e.g. the library: a book still on loan; the canteen: a balance
# to settle). Each gets the person record and returns a reason to refuse, or None.
ErasureCheck = Callable[[Person], str | Promise | None]
ERASURE_CHECKS: list[ErasureCheck] = []


def _school_keeps(person: Person) -> str | Promise | None:
    if Pupil.objects.filter(person=person, is_active=True).exists():
        return gettext_lazy(
            "The school must keep a pupil's enrolment record while they study there."
        )
    if Guardianship.objects.filter(guardian__person=person, pupil__is_active=True).exists():
        return gettext_lazy(
            "The school must keep the contact details of a pupil's legal representative "
            "while the child studies there."
        )
    if StaffMember.objects.filter(person=person, is_active=True).exists():
        return gettext_lazy("The school must keep an employee's record while they work there.")
    return None


def erasure_refusal(person: Person | None) -> str | None:
    """Why the law does not allow erasing ``person``'s record now, or None if it may go."""
    if person is None:
        return None  # the account alone: nothing a school must keep
    for check in (_school_keeps, *ERASURE_CHECKS):
        reason = check(person)
        if reason:
            return str(reason)
    return None


# --- filing ---------------------------------------------------------------------------------


def _lock_subject(user: User, person: Person | None) -> None:
    """Serialise filings about one subject, so a double submit cannot create two rows."""
    if person is not None:
        Person.objects.select_for_update().filter(pk=person.pk).first()
    else:
        User.objects.select_for_update().filter(pk=user.pk).first()


def _open_requests(kind: str, user: User, person: Person | None) -> QuerySet[SubjectRequest]:
    rows = SubjectRequest.objects.filter(kind=kind, status=Status.OPEN)
    if person is not None:
        return rows.filter(subject_person=person)
    return rows.filter(subject_person__isnull=True, requested_by=user)


def _create(
    *,
    kind: str,
    user: User,
    person: Person | None,
    payload: dict[str, Any],
    request: HttpRequest | None,
    status: str = Status.OPEN,
    resolution: str = "",
) -> SubjectRequest:
    now = timezone.now()
    closed = status != Status.OPEN
    row = SubjectRequest.objects.create(
        school=person.school if person is not None else None,
        kind=kind,
        status=status,
        subject_person=person,
        requested_by=user,
        payload=payload,
        created_at=now,
        deadline=deadline_for(kind, now),
        resolved_at=now if closed else None,
        resolution=resolution,
    )
    audit.record(
        action=AuditEntry.Action.REQUEST,
        actor=user,
        school=row.school,
        person=person,
        target=f"subject request {row.pk}",
        details={"request": row.pk, "kind": kind, "event": "received", "status": status},
        request=request,
    )
    return row


def _message(text: str) -> str:
    text = (text or "").strip()
    if len(text) > MESSAGE_LIMIT:
        raise ServiceError(
            "message_too_long",
            _("Keep the message under %(limit)d characters.") % {"limit": MESSAGE_LIMIT},
            status=422,
        )
    return text


def file_request(
    *,
    subject: Subject,
    kind: str,
    school_id: int | None = None,
    message: str = "",
    request: HttpRequest | None = None,
) -> Filed:
    """File an access, export, block, unblock or erasure request about ``subject``.

    Idempotent while open: the same kind about the same subject returns the open request
    (``created`` False). An erasure the law does not allow is stored refused at once,
    with the reason as its answer. Refuses ``unknown_kind`` and ``no_school_record``
    (422), ``already_blocked`` and ``not_blocked`` (409).
    """
    if kind not in SIMPLE_KINDS:
        raise ServiceError("unknown_kind", _("Unknown kind of request."), status=422)
    user = subject.user
    person = target_of(subject, school_id)
    message = _message(message)
    if kind in (RequestKind.BLOCK, RequestKind.UNBLOCK) and person is None:
        raise ServiceError(
            "no_school_record",
            _("No school keeps a record about you, so there is nothing to block."),
            status=422,
        )
    with transaction.atomic():
        _lock_subject(user, person)
        existing = _open_requests(kind, user, person).order_by("pk").first()
        if existing is not None:
            return Filed(existing, created=False)
        if person is not None:
            blocked = Person.objects.filter(pk=person.pk, blocked_at__isnull=False).exists()
            if kind == RequestKind.BLOCK and blocked:
                raise ServiceError(
                    "already_blocked", _("These data are blocked already."), status=409
                )
            if kind == RequestKind.UNBLOCK and not blocked:
                raise ServiceError("not_blocked", _("These data are not blocked."), status=409)
        payload = {"message": message} if message else {}
        if kind == RequestKind.ERASE:
            reason = erasure_refusal(person)
            if reason:
                row = _create(
                    kind=kind,
                    user=user,
                    person=person,
                    payload={**payload, "refused": "must_keep"},
                    request=request,
                    status=Status.REFUSED,
                    resolution=reason,
                )
                return Filed(row, created=True)
        return Filed(
            _create(kind=kind, user=user, person=person, payload=payload, request=request), True
        )


# --- corrections ------------------------------------------------------------------------------

# Fields a school keeps: a correction goes to the school for review.
REVIEWED_FIELDS: dict[str, Promise] = {
    **PERSON_FIELD_LABELS,
    "school_class": gettext_lazy("Class"),
}
CHILD_FIELDS = ("last_name", "first_name", "patronymic", "iin", "birth_date", "sex", "school_class")
OWN_FIELDS = ("last_name", "first_name", "patronymic", "iin", "birth_date", "sex", "phone")
# The user's own contact details: changed at once with ``change_contact``.
DIRECT_FIELDS = ("email", "language")
SEALED = "sealed:"  # values kept encrypted inside the request's payload (the IIN)


def _seal(value: str) -> str:
    return SEALED + encrypt(value)


def _unseal(value: str) -> str:
    return decrypt(value[len(SEALED) :]) if value.startswith(SEALED) else value


def _clean_value(field: str, raw: str, person: Person) -> str:
    """The proposed value in its stored form, or ValidationError naming the field."""
    value = str(raw or "").strip()
    try:
        if field in ("last_name", "first_name") and not value:
            raise ValidationError(_("This field cannot be empty."), code="required")
        if field in ("last_name", "first_name", "patronymic") and len(value) > 100:
            raise ValidationError(_("Too long."), code="max_length")
        if field == "iin":
            return validate_iin(value)
        if field == "birth_date":
            try:
                return dt.date.fromisoformat(value).isoformat()
            except ValueError:
                raise ValidationError(_("Enter the date as YYYY-MM-DD."), code="invalid") from None
        if field == "sex" and value not in Sex.values:
            raise ValidationError(_("Choose M or F."), code="invalid_choice")
        if field == "phone":
            return normalize_phone(value)
        if field == "school_class":
            found = (
                SchoolClass.objects.filter(school=person.school, pk=value).first()
                if (value.isdecimal())
                else None
            )
            if found is None:
                raise ValidationError(_("No such class in the school."), code="invalid_choice")
            return str(found.pk)
    except ValidationError as exc:
        raise ValidationError({field: exc.error_list}) from exc
    return value


def current_value(field: str, person: Person) -> str:
    if field == "school_class":
        pupil = Pupil.objects.filter(person=person).first()
        return str(pupil.school_class_id) if pupil and pupil.school_class_id else ""
    value = getattr(person, field)
    return value.isoformat() if isinstance(value, dt.date) else str(value or "")


def _with_changes(person: Person, changes: Mapping[str, str]) -> Person:
    """``person`` with ``changes`` set (not saved); checked as a whole (IIN vs birth date)."""
    for field, value in changes.items():
        if field == "school_class":
            continue
        setattr(person, field, dt.date.fromisoformat(value) if field == "birth_date" else value)
    if "iin" in changes:
        # The unique check below must see the new IIN's digest, which save() would set.
        person.iin_digest = iin_digest(person.iin) if person.iin else None
    person.full_clean()
    return person


def request_correction(
    *,
    subject: Subject,
    changes: Mapping[str, str],
    school_id: int | None = None,
    message: str = "",
    request: HttpRequest | None = None,
) -> Filed:
    """Ask the school to correct fields it keeps (name, IIN, birth date, sex, class, phone).

    The proposal is checked at once (a valid IIN that agrees with the birth date, a class
    of that school, a Kazakh mobile number) and stored for review; the IIN is stored
    encrypted. Idempotent while open for the same proposal. Refuses ``change_directly``
    for the user's own e-mail and language (use ``change_contact``), ``not_correctable``,
    ``nothing_to_change`` and ``no_school_record`` (422); ValidationError per field.
    """
    user = subject.user
    person = target_of(subject, school_id)
    if person is None:
        raise ServiceError(
            "no_school_record",
            _("No school keeps a record about you; change your contact details directly."),
            status=422,
        )
    allowed = CHILD_FIELDS if subject.pupil is not None else OWN_FIELDS
    for field in changes:
        if field in DIRECT_FIELDS and subject.is_self:
            raise ServiceError(
                "change_directly",
                _("Change your e-mail and language yourself, without a request."),
                status=422,
                field=field,
            )
        if field not in allowed:
            raise ServiceError(
                "not_correctable",
                _("This field cannot be corrected this way: %(field)s.") % {"field": field},
                status=422,
                field=field,
            )
    proposed = {
        field: cleaned
        for field, raw in changes.items()
        if (cleaned := _clean_value(field, raw, person)) != current_value(field, person)
    }
    if not proposed:
        raise ServiceError(
            "nothing_to_change", _("The values are the same as those on record."), status=422
        )
    _with_changes(Person.objects.get(pk=person.pk), proposed)
    message = _message(message)
    with transaction.atomic():
        _lock_subject(user, person)
        for existing in _open_requests(RequestKind.RECTIFY, user, person).order_by("pk"):
            if proposed_values(existing) == proposed:
                return Filed(existing, created=False)
        sealed = {
            field: _seal(value) if field == "iin" else value for field, value in proposed.items()
        }
        payload: dict[str, Any] = {"changes": sealed}
        if message:
            payload["message"] = message
        row = _create(
            kind=RequestKind.RECTIFY, user=user, person=person, payload=payload, request=request
        )
        return Filed(row, created=True)


def proposed_values(subject_request: SubjectRequest) -> dict[str, str]:
    """The correction asked for, in clear (the IIN decrypted)."""
    changes = subject_request.payload.get("changes", {})
    return {field: _unseal(str(value)) for field, value in changes.items()}


@dataclass(frozen=True)
class ProposedChange:
    field: str
    label: str
    current: str
    proposed: str


def review_rows(subject_request: SubjectRequest) -> list[ProposedChange]:
    """What the officer compares: each field's value on record beside the proposed one."""
    person = subject_request.subject_person
    classes = {}
    if person is not None:
        classes = {str(c.pk): str(c) for c in SchoolClass.objects.filter(school=person.school_id)}
    rows = []
    for field, value in proposed_values(subject_request).items():
        current = current_value(field, person) if person is not None else ""
        if field == "school_class":
            current, value = classes.get(current, current), classes.get(value, value)
        rows.append(ProposedChange(field, str(REVIEWED_FIELDS.get(field, field)), current, value))
    return rows


def _apply_correction(
    subject_request: SubjectRequest, *, by: User, request: HttpRequest | None
) -> None:
    person = subject_request.subject_person
    if person is None:
        raise ServiceError(
            "subject_gone", _("The record this request is about is gone."), status=409
        )
    person = Person.objects.select_for_update().get(pk=person.pk)
    changes = proposed_values(subject_request)
    try:
        _with_changes(person, changes)
    except ValidationError as exc:
        messages = "; ".join(exc.messages)
        raise ServiceError(
            "correction_invalid",
            _("The correction no longer fits the record: %(problems)s") % {"problems": messages},
            status=422,
        ) from exc
    person.save()
    if "school_class" in changes:
        Pupil.objects.filter(person=person).update(school_class_id=int(changes["school_class"]))
    audit.record(
        action=AuditEntry.Action.CHANGE,
        actor=by,
        school=person.school,
        person=person,
        target=f"subject request {subject_request.pk}",
        details={"fields": sorted(changes), "request": subject_request.pk},
        request=request,
    )


@transaction.atomic
def change_contact(
    *,
    user: User,
    email: str | None = None,
    language: str | None = None,
    request: HttpRequest | None = None,
) -> list[str]:
    """Change the user's own e-mail and language at once; returns the fields changed.

    The e-mail goes on the account and on every school's record of the user. Refuses
    ``email_taken`` (409), ``email_required`` and ``invalid_language`` (422); an
    invalid address raises ValidationError.
    """
    changed = []
    if email is not None:
        email = email.strip().lower()
        if email:
            try:
                validate_email(email)
            except ValidationError as exc:
                raise ValidationError({"email": exc.error_list}) from exc
            if len(email) > User._meta.get_field("email").max_length:  # type: ignore[operator]
                raise ValidationError(
                    {"email": [_("This e-mail address is too long.")]}, code="max_length"
                )
        elif not user.phone:
            raise ServiceError(
                "email_required", _("Your account needs an e-mail to sign in."), status=422
            )
        if email and User.objects.filter(email=email).exclude(pk=user.pk).exists():
            raise ServiceError("email_taken", _("Another account uses this e-mail."), status=409)
        if email != (user.email or ""):
            User.objects.filter(pk=user.pk).update(email=email or None)
            user.email = email or None
            changed.append("email")
        persons = list(
            Person.objects.filter(user=user).exclude(email=email).select_related("school")
        )
        for person in persons:
            Person.objects.filter(pk=person.pk).update(email=email, updated_at=timezone.now())
            audit.record(
                action=AuditEntry.Action.CHANGE,
                actor=user,
                school=person.school,
                person=person,
                target="contact details",
                details={"fields": ["email"], "by_subject": True},
                request=request,
            )
    if language is not None and language != user.language:
        accounts_services.set_language(user=user, language=language)
        user.language = language
        changed.append("language")
    if changed:
        audit.record(
            action=AuditEntry.Action.CHANGE,
            actor=user,
            school=None,
            target="account",
            details={"fields": changed, "by_subject": True},
            request=request,
        )
    return changed


# --- withdrawing consent -----------------------------------------------------------------------


def withdraw(
    *,
    subject: Subject,
    consent_kind: str,
    context: consent_services.Context,
    request: HttpRequest | None = None,
) -> Filed:
    """Withdraw a consent about ``subject`` and keep the request, answered at once.

    Done: the ledger has the withdrawal (and, for biometrics, the templates are ordered
    erased). Refused while an obligation is open, with the reason as the answer.
    Refuses ``unknown_consent`` (422) for a kind that does not fit the subject.
    """
    kinds = set(Kind.values) if subject.pupil is not None else {Kind.PROCESSING.value}
    if consent_kind not in kinds:
        raise ServiceError(
            "unknown_consent", _("There is no such consent to withdraw."), status=422
        )
    person = subject.pupil.person if subject.pupil is not None else None
    payload = {"consent_kind": consent_kind}
    try:
        with transaction.atomic():
            row = consent_services.withdraw_consent(
                user=subject.user, subject_person=person, kind=consent_kind, context=context
            )
            done = _create(
                kind=RequestKind.WITHDRAW,
                user=subject.user,
                person=person,
                payload={**payload, "consent": row.pk},
                request=request,
                status=Status.DONE,
                resolution=_("Consent withdrawn."),
            )
            return Filed(done, created=True)
    except ServiceError as exc:
        if exc.code != "obligation_open":
            raise
        refused = _create(
            kind=RequestKind.WITHDRAW,
            user=subject.user,
            person=person,
            payload={**payload, "refused": exc.code},
            request=request,
            status=Status.REFUSED,
            resolution=str(exc.message),
        )
        return Filed(refused, created=True)


def withdrawable_kinds(subject: Subject) -> list[tuple[str, str]]:
    """The consents a withdrawal may name for ``subject``, with their names."""
    if subject.pupil is None:
        return [(Kind.PROCESSING.value, str(Kind.PROCESSING.label))]
    return [(kind.value, str(kind.label)) for kind in (Kind.PROCESSING, *BIOMETRIC_KINDS)]


# --- blocking --------------------------------------------------------------------------------


@transaction.atomic
def block_person(
    *, person: Person, by: User | None, reason: str = "", request: HttpRequest | None = None
) -> Person:
    """Block ``person``'s data from now on (see docs/privacy.md for what stops). Idempotent.

    Writes BLOCK to the school's audit log when the block is set.
    """
    locked = (
        Person.objects.select_for_update(of=("self",)).select_related("school").get(pk=person.pk)
    )
    if locked.blocked_at is None:
        locked.blocked_at = timezone.now()
        locked.save(update_fields=["blocked_at", "updated_at"])
        audit.record(
            action=AuditEntry.Action.BLOCK,
            actor=by,
            school=locked.school,
            person=locked,
            details={"reason": reason[:300]} if reason else {},
            request=request,
        )
    person.blocked_at = locked.blocked_at
    return locked


@transaction.atomic
def unblock_person(
    *, person: Person, by: User | None, reason: str = "", request: HttpRequest | None = None
) -> Person:
    """Lift the block on ``person``'s data. Idempotent; writes UNBLOCK when it was set."""
    locked = (
        Person.objects.select_for_update(of=("self",)).select_related("school").get(pk=person.pk)
    )
    if locked.blocked_at is not None:
        locked.blocked_at = None
        locked.save(update_fields=["blocked_at", "updated_at"])
        audit.record(
            action=AuditEntry.Action.UNBLOCK,
            actor=by,
            school=locked.school,
            person=locked,
            details={"reason": reason[:300]} if reason else {},
            request=request,
        )
    person.blocked_at = None
    return locked


# --- answering -------------------------------------------------------------------------------

DONE_ANSWERS: dict[str, Promise] = {
    RequestKind.ACCESS: gettext_lazy("Answered."),
    RequestKind.EXPORT: gettext_lazy("The export has been given to you."),
    RequestKind.RECTIFY: gettext_lazy("The data have been corrected."),
    RequestKind.BLOCK: gettext_lazy("The data have been blocked."),
    RequestKind.UNBLOCK: gettext_lazy("The block has been lifted."),
    RequestKind.ERASE: gettext_lazy("The data have been erased."),
    RequestKind.WITHDRAW: gettext_lazy("Consent withdrawn."),
}


def resolve_request(
    *,
    subject_request: SubjectRequest,
    by: User,
    done: bool,
    answer: str = "",
    request: HttpRequest | None = None,
) -> SubjectRequest:
    """Answer an open request: done (carrying it out) or refused (an answer is required).

    Done carries out a block, an unblock or a correction in the same transaction, so a
    request is never marked done without its effect. An erasure has no tool yet: the
    officer has it carried out first, and marking it done records the answer. Refuses
    ``request_closed`` (409), ``answer_required`` (422), ``correction_invalid`` (422) and
    ``subject_gone``.
    """
    answer = (answer or "").strip()
    if not done and not answer:
        raise ServiceError(
            "answer_required",
            _("Say why the request is refused: the parent reads it."),
            status=422,
        )
    with transaction.atomic():
        row = (
            SubjectRequest.objects.select_for_update(of=("self",))
            .select_related("subject_person__school")
            .get(pk=subject_request.pk)
        )
        if row.status != Status.OPEN:
            raise ServiceError("request_closed", _("This request is answered already."), status=409)
        if done:
            person = row.subject_person
            needs_person = (RequestKind.BLOCK, RequestKind.UNBLOCK, RequestKind.RECTIFY)
            if row.kind in needs_person and person is None:
                raise ServiceError(
                    "subject_gone", _("The record this request is about is gone."), status=409
                )
            reason = f"subject request {row.pk}"
            if row.kind == RequestKind.BLOCK and person is not None:
                block_person(person=person, by=by, reason=reason, request=request)
            elif row.kind == RequestKind.UNBLOCK and person is not None:
                unblock_person(person=person, by=by, reason=reason, request=request)
            elif row.kind == RequestKind.RECTIFY:
                _apply_correction(row, by=by, request=request)
            answer = answer or str(DONE_ANSWERS[row.kind])
        row.status = Status.DONE if done else Status.REFUSED
        row.resolved_at = timezone.now()
        row.resolved_by = by
        row.resolution = answer
        row.save(update_fields=["status", "resolved_at", "resolved_by", "resolution"])
        audit.record(
            action=AuditEntry.Action.REQUEST,
            actor=by,
            school=row.school,
            person=row.subject_person,
            target=f"subject request {row.pk}",
            details={"request": row.pk, "kind": row.kind, "event": row.status},
            request=request,
        )
    subject_request.refresh_from_db()
    return row


# --- reading the queue ---------------------------------------------------------------------


def queue(
    school: School, *, include_platform: bool = False, status: str = Status.OPEN
) -> QuerySet[SubjectRequest]:
    """A school's requests for its officer: open ones first, the most overdue at the top.

    ``include_platform`` adds requests about accounts alone (no school keeps a record),
    which the platform operator answers. ``status`` is open, closed or all.
    """
    scope = Q(school=school)
    if include_platform:
        scope |= Q(school__isnull=True)
    rows = SubjectRequest.objects.filter(scope).select_related(
        "subject_person", "requested_by", "school", "resolved_by"
    )
    if status == Status.OPEN:
        rows = rows.filter(status=Status.OPEN)
    elif status == "closed":
        rows = rows.exclude(status=Status.OPEN)
    open_first = Case(
        When(status=Status.OPEN, then=Value(0)), default=Value(1), output_field=IntegerField()
    )
    return rows.order_by(open_first, "deadline", "pk")


def is_overdue(subject_request: SubjectRequest, now: dt.datetime | None = None) -> bool:
    return subject_request.status == Status.OPEN and subject_request.deadline < (
        now or timezone.now()
    )
