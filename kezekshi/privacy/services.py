"""Policy versions and the consent ledger: publishing, consenting, withdrawing.

Every consent decision is a new hash-chained ledger row; the current state is always
computed from the ledger, never stored beside it.
"""

from __future__ import annotations

import functools
import hashlib
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from django.conf import settings
from django.db import transaction
from django.db.models import Max, Q
from django.utils import timezone
from django.utils.module_loading import import_string
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from kezekshi.accounts.models import User
from kezekshi.core.errors import ServiceError
from kezekshi.core.validators import validate_bin
from kezekshi.people.models import Guardianship, Person, Pupil
from kezekshi.privacy import audit, ledger
from kezekshi.privacy.chain import canonical
from kezekshi.privacy.models import (
    BIOMETRIC_KINDS,
    AuditEntry,
    BiometricErasure,
    Consent,
    Kind,
    PolicyVersion,
)

POLICY_TEMPLATES = Path(__file__).parent / "policy"
LANGUAGES = ("kk", "ru", "en")

# What Art. 8 of the personal-data law requires a consent to state, and the heading
# under which each policy text must state it, per language.
REQUIRED_SECTIONS: dict[str, dict[str, str]] = {
    "data_list": {
        "kk": "Дербес деректердің тізбесі",
        "ru": "Перечень персональных данных",
        "en": "List of personal data",
    },
    "term": {"kk": "Келісімнің мерзімі", "ru": "Срок действия согласия", "en": "Term of consent"},
    "third_parties": {
        "kk": "Үшінші тұлғаларға беру",
        "ru": "Передача третьим лицам",
        "en": "Transfer to third parties",
    },
    "cross_border": {
        "kk": "Трансшекаралық беру",
        "ru": "Трансграничная передача",
        "en": "Cross-border transfer",
    },
    "publication": {
        "kk": "Жалпыға қолжетімді дереккөздерде жариялау",
        "ru": "Размещение в общедоступных источниках",
        "en": "Publication in public sources",
    },
}
SECTION_NAMES = {
    "operator": gettext_lazy("the operator's name and BIN"),
    "data_list": gettext_lazy("the list of personal data"),
    "term": gettext_lazy("the term of the consent"),
    "third_parties": gettext_lazy("transfer to third parties"),
    "cross_border": gettext_lazy("cross-border transfer"),
    "publication": gettext_lazy("publication in public sources"),
}

# Checks other apps add (e.g. the canteen: an unsettled balance). Each gets the user and
# the child (or None for the user's own consent) and returns a reason, or None.
Obligation = Callable[[User, Person | None], str | None]
OBLIGATIONS: list[Obligation] = []


def template_text(language: str, *, operator_name: str, operator_bin: str) -> str:
    """The project's own policy text in ``language``, filled in for the operator."""
    text = (POLICY_TEMPLATES / f"{language}.md").read_text(encoding="utf-8")
    return text.format(operator_name=operator_name, operator_bin=operator_bin)


def content_hash(policy: PolicyVersion) -> str:
    return hashlib.sha256(
        canonical(
            {
                "number": policy.number,
                "operator_name": policy.operator_name,
                "operator_bin": policy.operator_bin,
                **{f"text_{language}": policy.text(language) for language in LANGUAGES},
            }
        )
    ).hexdigest()


def missing_items(policy: PolicyVersion) -> list[tuple[str, str]]:
    """(language, item) pairs the texts lack; empty when the policy may be published."""
    missing = []
    for language in LANGUAGES:
        text = policy.text(language) if getattr(policy, f"text_{language}") else ""
        if policy.operator_name not in text or policy.operator_bin not in text:
            missing.append((language, "operator"))
        for item, headings in REQUIRED_SECTIONS.items():
            if headings[language].casefold() not in text.casefold():
                missing.append((language, item))
    return missing


@transaction.atomic
def draft_policy(*, operator_name: str, operator_bin: str) -> PolicyVersion:
    """A new draft version from the project's template texts (edit before publishing)."""
    number = (PolicyVersion.objects.aggregate(last=Max("number"))["last"] or 0) + 1
    texts = {
        f"text_{language}": template_text(
            language, operator_name=operator_name, operator_bin=operator_bin
        )
        for language in LANGUAGES
    }
    return PolicyVersion.objects.create(
        number=number, operator_name=operator_name, operator_bin=operator_bin, **texts
    )


@transaction.atomic
def publish_policy(*, policy: PolicyVersion, by: User | None) -> PolicyVersion:
    """Publish a draft: it becomes the version every parent must consent to.

    Refuses ``policy_published`` (a published text never changes), ``invalid_bin``, and
    ``policy_incomplete`` naming each missing item and language.
    """
    policy = PolicyVersion.objects.select_for_update().get(pk=policy.pk)
    if policy.published_at is not None:
        raise ServiceError("policy_published", _("This version is published already."))
    try:
        validate_bin(policy.operator_bin)
    except Exception as exc:
        raise ServiceError(
            "invalid_bin", _("The operator's BIN is not valid."), status=422
        ) from exc
    missing = missing_items(policy)
    if missing:
        listed = "; ".join(f"{language}: {SECTION_NAMES[item]}" for language, item in missing)
        raise ServiceError(
            "policy_incomplete",
            _("The policy lacks what the law requires a consent to state: %(items)s.")
            % {"items": listed},
            status=422,
            missing=[{"language": language, "item": item} for language, item in missing],
        )
    policy.content_hash = content_hash(policy)
    policy.published_at = timezone.now()
    policy.published_by = by
    policy.save(update_fields=["content_hash", "published_at", "published_by"])
    audit.record(
        action=AuditEntry.Action.CONSENT,
        actor=by,
        school=None,
        target=f"policy v{policy.number}",
        details={"published": policy.content_hash},
    )
    return policy


def current_policy() -> PolicyVersion | None:
    return PolicyVersion.objects.filter(published_at__isnull=False).order_by("-number").first()


def represented_children(user: User) -> list[Pupil]:
    """Pupils for whom ``user`` is a legal representative (in any school)."""
    return list(
        Pupil.objects.filter(
            guardianships__guardian__person__user=user,
            guardianships__is_legal_representative=True,
            is_active=True,
        )
        .select_related("person", "school")
        .distinct()
    )


def _latest(**filters: object) -> Consent | None:
    return Consent.objects.filter(**filters).order_by("-id").first()


def _granted(row: Consent | None, policy: PolicyVersion) -> bool:
    return row is not None and row.decision == Consent.Decision.GRANT and row.policy_id == policy.pk


def has_current_consent(user: User, policy: PolicyVersion | None = None) -> bool:
    """Whether ``user`` consented to the current policy, for themselves and each child."""
    policy = policy or current_policy()
    if policy is None:
        return True  # nothing published yet: nothing to consent to
    if not _granted(_latest(kind=Kind.PROCESSING, subject_user=user), policy):
        return False
    return all(
        _granted(row, policy) or _withdrawn(row)
        for row in (
            _latest(kind=Kind.PROCESSING, subject_person=child.person_id, given_by=user)
            for child in represented_children(user)
        )
    )


def _withdrawn(row: Consent | None) -> bool:
    """A deliberate withdrawal for a child is a settled decision, not a missing consent:
    the parent keeps using the app for their other children and is not asked again."""
    return row is not None and row.decision == Consent.Decision.WITHDRAW


@dataclass(frozen=True)
class Context:
    """Where a decision came from: the verified phone, the network and the browser."""

    phone: str = ""
    ip: str | None = None
    user_agent: str = ""


def _by_parent(user: User, context: Context) -> dict[str, object]:
    """What a parent's own decision records about how it was made (SMS code + checkbox)."""
    return {
        "channel": Consent.Channel.SMS_CHECKBOX,
        "phone": context.phone or (user.phone or ""),
        "ip": context.ip,
        "user_agent": context.user_agent[:300],
    }


def _consent(**fields: object) -> Consent:
    return ledger.append(Consent(created_at=timezone.now(), **fields))


@transaction.atomic
def accept_policy(*, user: User, policy: PolicyVersion, context: Context) -> list[Consent]:
    """Record the user's consent to ``policy`` for themselves and each represented child.

    Refuses ``policy_not_current`` for any version other than the current one.
    Idempotent: subjects who already consented to this version are not recorded again.
    """
    current = current_policy()
    if current is None or policy.pk != current.pk:
        raise ServiceError(
            "policy_not_current", _("This policy version is no longer current."), status=409
        )
    written = []
    common = {
        "kind": Kind.PROCESSING,
        "decision": Consent.Decision.GRANT,
        "given_by": user,
        "policy": policy,
        "policy_hash": policy.content_hash,
        **_by_parent(user, context),
    }
    if not _granted(_latest(kind=Kind.PROCESSING, subject_user=user), policy):
        written.append(_consent(subject_user=user, **common))
    for child in represented_children(user):
        theirs = _latest(kind=Kind.PROCESSING, subject_person=child.person_id, given_by=user)
        if not _granted(theirs, policy) and not _withdrawn(theirs):
            written.append(
                _consent(
                    school=child.school,
                    subject_person=child.person,
                    as_representative=True,
                    **common,
                )
            )
    return written


def _representative_of(user: User, person: Person) -> bool:
    return Guardianship.objects.filter(
        pupil__person=person, guardian__person__user=user, is_legal_representative=True
    ).exists()


def ensure_representative(*, user: User, person: Person, action: str) -> None:
    """Refuse (403 ``not_representative``) anyone but a legal representative of ``person``.

    The refusal is written to the school's audit log before the error is raised; call
    this before opening the transaction that does the work, so it is not rolled back.
    """
    if _representative_of(user, person):
        return
    audit.record(
        action=AuditEntry.Action.REFUSED,
        actor=user,
        school=person.school,
        person=person,
        details={"reason": "not_representative", "action": action},
    )
    raise ServiceError(
        "not_representative",
        _("Only a legal representative of this child can do this."),
        status=403,
    )


def order_erasure(*, person: Person, kind: str, reason: str) -> BiometricErasure:
    """Order the person's templates of ``kind`` erased; one open order per kind."""
    order, _created = BiometricErasure.objects.get_or_create(
        school=person.school,
        person=person,
        kind=kind,
        done_at__isnull=True,
        defaults={"reason": reason, "ordered_at": timezone.now()},
    )
    return order


def decide_biometrics(
    *, user: User, child: Person, kind: str, grant: bool, context: Context
) -> Consent:
    """A legal representative grants or withdraws biometric consent of one kind for a child.

    A withdrawal stops processing at once and orders the templates erased (and removed
    from devices). Refuses ``not_biometric`` (422) and ``not_representative`` (403, logged).
    """
    if kind not in BIOMETRIC_KINDS:
        raise ServiceError("not_biometric", _("This is not a kind of biometric data."), status=422)
    ensure_representative(user=user, person=child, action=f"biometrics:{kind}")
    if grant and not has_current_consent(user):
        raise ServiceError(
            "consent_required",
            _("Read the personal-data policy and give your consent first."),
            status=403,
        )
    policy = current_policy()
    with transaction.atomic():
        row = _consent(
            school=child.school,
            subject_person=child,
            kind=kind,
            decision=Consent.Decision.GRANT if grant else Consent.Decision.WITHDRAW,
            given_by=user,
            as_representative=True,
            policy=policy,
            policy_hash=policy.content_hash if policy else "",
            **_by_parent(user, context),
        )
        if not grant:
            order_erasure(person=child, kind=kind, reason="consent withdrawn")
    return row


@transaction.atomic
def record_child_will(
    *, staff: User, child: Person, kind: str, refuses: bool, note: str = ""
) -> Consent:
    """Staff record that the child refuses biometrics of ``kind`` (or no longer refuses).

    The child's refusal overrides every representative's consent.
    """
    if kind not in BIOMETRIC_KINDS:
        raise ServiceError("not_biometric", _("This is not a kind of biometric data."), status=422)
    row = _consent(
        school=child.school,
        subject_person=child,
        kind=kind,
        decision=Consent.Decision.CHILD_REFUSAL if refuses else Consent.Decision.WITHDRAW,
        given_by=staff,
        as_representative=False,
        channel=Consent.Channel.STAFF,
        note=note[:300],
    )
    if refuses:
        order_erasure(person=child, kind=kind, reason="child refused")
    audit.record(
        action=AuditEntry.Action.CONSENT, actor=staff, school=child.school, person=child,
        details={"kind": kind, "child_refuses": refuses},
    )  # fmt: skip
    return row


@dataclass(frozen=True)
class BiometricState:
    allowed: bool
    reason: str  # "consented", "no_consent", "withdrawn", "objected", "child_refused", "blocked"


def biometric_state(person: Person, kind: str) -> BiometricState:
    """Whether biometrics of ``kind`` may be processed for ``person``, from the ledger.

    Allowed only if some legal representative's latest decision is a grant, no
    representative's latest decision is a withdrawal or objection, the child does not
    refuse, and the person's data are not blocked.
    """
    return biometric_states({person.pk: person.blocked_at is not None}, kind)[person.pk]


def biometric_states(persons: dict[int, bool], kind: str) -> dict[int, BiometricState]:
    """``biometric_state`` for many persons at once (person id → blocked?): device sync
    asks it for a whole school.

    The answer comes from ``settings.BIOMETRIC_CONSENT_SOURCE``: the consent ledger
    (``ledger_biometric_states``), or on the edge gateway, which holds no ledger, its
    mirror (``kezekshi.edge.mirror.mirrored_biometric_states``).
    """
    return _consent_source(settings.BIOMETRIC_CONSENT_SOURCE)(persons, kind)  # type: ignore[no-any-return]


@functools.cache
def _consent_source(path: str) -> Any:
    return import_string(path)


def ledger_biometric_states(persons: dict[int, bool], kind: str) -> dict[int, BiometricState]:
    """What the consent ledger says, in two queries."""
    candidates = [pk for pk, blocked in persons.items() if not blocked]
    representatives: dict[int, set[int]] = defaultdict(set)
    child_will: dict[int, str] = {}
    processing: dict[int, str] = {}
    latest_by_representative: dict[int, dict[int, str]] = defaultdict(dict)
    if candidates:
        for person_id, user_id in Guardianship.objects.filter(
            pupil__person_id__among=candidates,
            is_legal_representative=True,
            guardian__person__user__isnull=False,
        ).values_list("pupil__person_id", "guardian__person__user_id"):
            representatives[person_id].add(user_id)
        rows = (
            Consent.objects.filter(
                subject_person_id__among=candidates, kind__in=[kind, Kind.PROCESSING]
            )
            .order_by("id")
            .values_list(
                "subject_person_id", "kind", "decision", "as_representative", "given_by_id"
            )
        )
        for person_id, row_kind, decision, as_representative, given_by in rows:
            if row_kind == Kind.PROCESSING:
                if as_representative:
                    processing[person_id] = decision
            elif not as_representative:
                child_will[person_id] = decision
            elif given_by in representatives[person_id]:
                latest_by_representative[person_id][given_by] = decision
    return {
        pk: _biometric_verdict(
            blocked=blocked,
            child_will=child_will.get(pk),
            processing=processing.get(pk),
            representatives=set(latest_by_representative[pk].values()),
        )
        for pk, blocked in persons.items()
    }


def _biometric_verdict(
    *, blocked: bool, child_will: str | None, processing: str | None, representatives: set[str]
) -> BiometricState:
    if blocked:
        return BiometricState(False, "blocked")
    if child_will == Consent.Decision.CHILD_REFUSAL:
        return BiometricState(False, "child_refused")
    if processing != Consent.Decision.GRANT:
        return BiometricState(False, "no_consent")
    if Consent.Decision.OBJECT in representatives:
        return BiometricState(False, "objected")
    if Consent.Decision.WITHDRAW in representatives:
        return BiometricState(False, "withdrawn")
    if Consent.Decision.GRANT in representatives:
        return BiometricState(True, "consented")
    return BiometricState(False, "no_consent")


def withdraw_consent(
    *, user: User, subject_person: Person | None = None, kind: str, context: Context | None = None
) -> Consent:
    """Withdraw the consent of ``kind`` the user gave for themselves or for a child.

    Refuses ``obligation_open`` (409, with the reason) while another app reports an open
    obligation, e.g. an unsettled canteen balance; ``not_representative`` (403, logged).
    Biometric withdrawals go through ``decide_biometrics``.
    """
    context = context or Context()
    if kind in BIOMETRIC_KINDS and subject_person is not None:
        return decide_biometrics(
            user=user, child=subject_person, kind=kind, grant=False, context=context
        )
    if subject_person is not None:
        ensure_representative(user=user, person=subject_person, action="withdraw")
    for obligation in OBLIGATIONS:
        reason = obligation(user, subject_person)
        if reason:
            raise ServiceError(
                "obligation_open",
                _("Consent cannot be withdrawn yet: %(reason)s") % {"reason": reason},
                status=409,
            )
    with transaction.atomic():
        return _consent(
            school=subject_person.school if subject_person else None,
            subject_user=None if subject_person else user,
            subject_person=subject_person,
            kind=kind,
            decision=Consent.Decision.WITHDRAW,
            given_by=user,
            as_representative=subject_person is not None,
            **_by_parent(user, context),
        )


def withdrawn_processing(*, users: set[int], children: set[int]) -> set[tuple[int, int | None]]:
    """Whose processing consent is withdrawn, for many users at once (notice fan-out).

    Holds ``(user, None)`` when the user's own latest decision is a withdrawal, and
    ``(user, child)`` when their latest decision for that child is. One query.
    """
    if not users:
        return set()
    latest: dict[tuple[int, int | None], str] = {}
    rows = (
        Consent.objects.filter(kind=Kind.PROCESSING)
        .filter(
            Q(given_by_id__among=users, subject_person_id__among=children)
            | Q(subject_user_id__among=users)
        )
        .values_list("given_by_id", "subject_person_id", "subject_user_id", "decision")
        .order_by("id")
    )
    for given_by, child, own, decision in rows:
        if own is not None and own in users:
            latest[(own, None)] = decision
        if child is not None and given_by in users:
            latest[(given_by, child)] = decision
    return {key for key, decision in latest.items() if decision == Consent.Decision.WITHDRAW}
