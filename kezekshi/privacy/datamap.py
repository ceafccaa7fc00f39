"""The data map: every field of our models tagged with a data category, every use with a purpose.

This file is the one place to look up, or add, the tag of a field. Each ``register`` call
below covers one model completely: its personal fields by category, and the rest
declared ``not_personal``. A field added to a model of a ``kezekshi.*`` app without a tag
here fails ``privacy/tests/test_datamap.py``, naming the field.

How to tag (the rules the registrations below follow):
- A column that tells something about a person is personal, even when derived or
  hashed: the keyed IIN digest is a government id (whoever holds the key can test an IIN
  against it, and erasing the IIN must erase it too); a password hash or a token digest
  belongs to *account and sign-in*.
- Row ids, the tenant key (``school``), flags and statuses, and the timestamps that only
  say when a row was written or expires are bookkeeping: ``not_personal``. A time that
  records what a person did or what happened to them (last sign-in, the day a pupil
  left, when their data were blocked) takes that person's category.
- A foreign key is a reference: the data it points to are tagged where they live. The
  exception is a link that *is* the information — a pupil's class, a guardianship, the
  persons a breach affected — which carries the category of that information.
- Hash-chain links, content hashes of public texts and data about organisations
  (schools, the operator) are not personal.

Uses say which purpose a feature serves and which categories it needs. Biometric data
may serve only access to the school and safety, and attendance (``RESTRICTED_PURPOSES``);
matching a face at the door is part of access, never *identification* (finding a pupil
in the portal or signing a parent in by face would be a new purpose and is forbidden).

Only our own apps are mapped. Third-party apps that hold personal data (TOTP devices,
sessions, the task queue, Django admin's log) are listed in ``OUTSIDE_OUR_APPS`` so the
data-protection officer sees them, but their fields are not tagged one by one.

Models are named by label ("app_label.Model"), never imported, so that the dependency
arrows keep pointing one way: domain apps built on ``privacy`` register their fields
here without ``privacy`` importing them.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from django.apps import apps
from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext
from django_stubs_ext import StrOrPromise

OUR_APPS_PREFIX = "kezekshi."


class DataCategory(models.TextChoices):
    NAME = "name", _("Name")
    CONTACT = "contact", _("Contact details")
    GOVERNMENT_ID = "government_id", _("Government identifier (IIN)")
    BIRTH_AND_SEX = "birth_and_sex", _("Birth date and sex")
    PHOTO = "photo", _("Photo")
    BIOMETRIC = "biometric", _("Biometric data")
    FAMILY = "family", _("Family links")
    EDUCATION = "education", _("Education and work at school (class, position)")
    PRESENCE = "presence", _("Location and presence")
    FINANCIAL = "financial", _("Financial data")
    HEALTH = "health", _("Health data (food allergies)")
    SOCIAL = "social", _("Social status (grounds for free meals)")
    LIBRARY = "library", _("Library use")
    ACCOUNT = "account", _("Account and sign-in")
    TECHNICAL = "technical", _("Technical request data")
    MESSAGES = "messages", _("Messages sent to a person")
    PRIVACY_RECORDS = "privacy_records", _("Consents and data-protection records")


class Purpose(models.TextChoices):
    IDENTIFICATION = "identification", _("Identification")
    ACCESS_SAFETY = "access_safety", _("Access to the school and safety")
    ATTENDANCE = "attendance", _("Attendance")
    PAYMENTS = "payments", _("Payments")
    SUPPORT = "support", _("Support")
    NOTIFICATIONS = "notifications", _("Notifications")
    STATISTICS = "statistics", _("Statistics")
    MARKETING = "marketing", _("Marketing")
    LEGAL_OBLIGATIONS = "legal_obligations", _("Legal obligations")


class Subject(models.TextChoices):
    """Whose data a field holds."""

    PUPIL = "pupil", _("Pupils")
    GUARDIAN = "guardian", _("Guardians")
    STAFF = "staff", _("Staff")
    USER = "user", _("Users of the platform")


# The purposes a category may serve at all. A use outside them is a violation, whatever
# consent says: the agreement and the law allow a child's biometrics only for safety,
# attendance and fast access to the school.
RESTRICTED_PURPOSES: dict[DataCategory, frozenset[Purpose]] = {
    DataCategory.BIOMETRIC: frozenset({Purpose.ACCESS_SAFETY, Purpose.ATTENDANCE}),
}


# Retention settings (days or years) and their defaults, the same as settings.py's.
RETENTION_DEFAULTS: dict[str, int] = {
    "PRIVACY_BIOMETRIC_RETENTION_DAYS": 30,
    "PRIVACY_PRESENCE_PSEUDONYMISE_YEARS": 3,
    "PRIVACY_REQUEST_LOG_DAYS": 90,
}


def retention_setting(name: str) -> int:
    return int(getattr(settings, name, RETENTION_DEFAULTS[name]))


@dataclass(frozen=True)
class FieldTag:
    """One field and what it holds; ``category`` is None for a non-personal field."""

    model: str  # "app_label.Model"
    field: str
    category: DataCategory | None
    subjects: tuple[Subject, ...] = ()

    @property
    def key(self) -> str:
        return f"{self.model}.{self.field}"


@dataclass(frozen=True)
class Use:
    """A feature that uses some categories of personal data for one purpose."""

    feature: str  # "app.feature", stable: it is in the export
    label: StrOrPromise
    purpose: Purpose
    categories: frozenset[DataCategory]

    @property
    def category_list(self) -> list[DataCategory]:
        """The categories in the order of ``DataCategory``, for pages and exports."""
        return [category for category in DataCategory if category in self.categories]


@dataclass(frozen=True)
class KeptUnused:
    category: DataCategory
    reason: StrOrPromise


@dataclass(frozen=True)
class OutsideStore:
    """A third-party model that holds personal data, listed but not tagged field by field."""

    model: str
    categories: tuple[DataCategory, ...]
    note: StrOrPromise


@dataclass(frozen=True)
class RetentionRule:
    """How long data are kept: for a whole category, or for the fields of some models."""

    key: str
    describe: Callable[[], str]  # reads the settings each time, in the active language
    categories: frozenset[DataCategory] = frozenset()
    models: frozenset[str] = frozenset()

    def applies_to(self, tag: FieldTag) -> bool:
        return tag.category in self.categories or tag.model in self.models


def _biometric_retention() -> str:
    days = retention_setting("PRIVACY_BIOMETRIC_RETENTION_DAYS")
    return ngettext(
        "Erased %(days)d day after the pupil leaves the school, and when the consent is withdrawn.",
        "Erased %(days)d days after the pupil leaves the school, and when the consent is "
        "withdrawn.",
        days,
    ) % {"days": days}


def _presence_retention() -> str:
    years = retention_setting("PRIVACY_PRESENCE_PSEUDONYMISE_YEARS")
    return ngettext(
        "Pseudonymised %(years)d year after it was recorded.",
        "Pseudonymised %(years)d years after it was recorded.",
        years,
    ) % {"years": years}


def _request_log_retention() -> str:
    days = retention_setting("PRIVACY_REQUEST_LOG_DAYS")
    return ngettext(
        "Request records are deleted %(days)d day after the request.",
        "Request records are deleted %(days)d days after the request.",
        days,
    ) % {"days": days}


RETENTION_RULES: tuple[RetentionRule, ...] = (
    RetentionRule(
        "biometric", _biometric_retention, categories=frozenset({DataCategory.BIOMETRIC})
    ),
    RetentionRule("presence", _presence_retention, categories=frozenset({DataCategory.PRESENCE})),
    RetentionRule(
        "request_log", _request_log_retention, models=frozenset({"privacy.RequestRecord"})
    ),
)


class DataMap:
    """Field tags, uses and the checks over them. ``DATA_MAP`` below is the real one."""

    def __init__(self) -> None:
        self.tags: dict[str, FieldTag] = {}
        self.uses: list[Use] = []
        self.kept_unused: dict[DataCategory, KeptUnused] = {}
        self._models: set[str] = set()

    # --- registering -------------------------------------------------------------------

    def register(
        self,
        model: str,
        *,
        subjects: Sequence[Subject] = (),
        whose: Mapping[str, Sequence[Subject]] | None = None,
        not_personal: Iterable[str] = (),
        **categories: Sequence[str],
    ) -> None:
        """Tag every field of ``model``: ``<category>=[fields]`` and ``not_personal=[...]``.

        ``subjects`` says whose data the personal fields hold; ``whose`` overrides it for
        single fields. Raises ``ValueError`` at import time on an unknown category, a
        field tagged twice, a personal field without a subject, or a model registered twice.
        """
        if model in self._models:
            raise ValueError(f"{model} is registered twice; keep its tags in one place")
        self._models.add(model)
        overrides = dict(whose or {})
        entries: list[tuple[str, DataCategory | None]] = [(f, None) for f in not_personal]
        for code, fields in categories.items():
            if code not in DataCategory.values:
                raise ValueError(f"{model}: unknown data category {code!r}")
            entries += [(f, DataCategory(code)) for f in fields]
        for field, category in entries:
            key = f"{model}.{field}"
            if key in self.tags:
                raise ValueError(f"{key} is tagged twice")
            owners = tuple(overrides.pop(field, subjects)) if category else ()
            if category and not owners:
                raise ValueError(f"{key}: say whose data it is (subjects=… or whose=…)")
            self.tags[key] = FieldTag(model, field, category, owners)
        if overrides:
            raise ValueError(f"{model}: whose= names fields that are not personal: {overrides}")

    def use(
        self,
        feature: str,
        label: StrOrPromise,
        *,
        purpose: Purpose,
        categories: Iterable[DataCategory],
    ) -> None:
        self.uses.append(Use(feature, label, purpose, frozenset(categories)))

    def keep_unused(self, category: DataCategory, reason: StrOrPromise) -> None:
        """Declare that data of ``category`` are held but no feature uses them (yet)."""
        self.kept_unused[category] = KeptUnused(category, reason)

    # --- reading -----------------------------------------------------------------------

    def personal_tags(self) -> list[FieldTag]:
        return [tag for tag in self.tags.values() if tag.category is not None]

    def held_categories(self) -> set[DataCategory]:
        return {tag.category for tag in self.personal_tags() if tag.category is not None}

    def uses_of(self, category: DataCategory) -> list[Use]:
        return [use for use in self.uses if category in use.categories]

    def purposes_of(self, category: DataCategory) -> list[Purpose]:
        found = {use.purpose for use in self.uses_of(category)}
        return [purpose for purpose in Purpose if purpose in found]

    # --- checks: each returns what is wrong, in words that name the field or feature ----

    def untagged(self, model_classes: Iterable[type[models.Model]]) -> list[str]:
        """Fields of ``model_classes`` with no tag (personal or not), as "app.Model.field"."""
        return [
            f"{model._meta.label}.{field.name}"
            for model in model_classes
            for field in model_fields(model)
            if f"{model._meta.label}.{field.name}" not in self.tags
        ]

    def stale(self, model_classes: Iterable[type[models.Model]]) -> list[str]:
        """Tags naming a field that ``model_classes`` do not have (renamed or removed)."""
        existing = {
            f"{model._meta.label}.{field.name}"
            for model in model_classes
            for field in model_fields(model)
        }
        return [key for key in self.tags if key not in existing]

    def purpose_violations(self) -> list[str]:
        """Uses that feed a restricted category (biometrics) to a purpose not allowed for it."""
        return [
            f"{use.feature} uses {category.value} for {use.purpose.value}"
            for use in self.uses
            for category, allowed in RESTRICTED_PURPOSES.items()
            if category in use.categories and use.purpose not in allowed
        ]

    def unaccounted_categories(self) -> list[str]:
        """Held categories that no use needs and that are not declared kept-but-unused."""
        held = self.held_categories()
        return [
            f"{category.value} is held but neither used nor declared kept-but-unused"
            for category in DataCategory
            if category in held and not self.uses_of(category) and category not in self.kept_unused
        ]

    def claims_without_data(self) -> list[str]:
        """Uses or kept-unused declarations naming a category that no field holds."""
        held = self.held_categories()
        problems = [
            f"{use.feature} claims to use {category.value}, which no field holds"
            for use in self.uses
            for category in sorted(use.categories - held)
        ]
        problems += [
            f"{category.value} is declared kept-but-unused, but no field holds it"
            for category in self.kept_unused
            if category not in held
        ]
        problems += [
            f"{category.value} is declared kept-but-unused, but {use.feature} uses it"
            for category in self.kept_unused
            for use in self.uses_of(category)
        ]
        return problems

    def problems(self, model_classes: Iterable[type[models.Model]]) -> list[str]:
        """Everything wrong with the map against ``model_classes``; empty when it is whole."""
        model_classes = list(model_classes)
        return [
            *(f"{key} has no data-map tag" for key in self.untagged(model_classes)),
            *(f"{key} is tagged but does not exist" for key in self.stale(model_classes)),
            *self.purpose_violations(),
            *self.unaccounted_categories(),
            *self.claims_without_data(),
        ]


def model_fields(model: type[models.Model]) -> list[Any]:
    """The fields the map must tag: every column, and many-to-many links declared on the model."""
    return [*model._meta.concrete_fields, *model._meta.many_to_many]


def our_models() -> list[type[models.Model]]:
    """Every concrete model of our apps (``kezekshi.*``); auto-created M2M tables excluded."""
    return [
        model
        for model in apps.get_models()
        if model._meta.app_config is not None
        and model._meta.app_config.name.startswith(OUR_APPS_PREFIX)
        and not model._meta.proxy
    ]


DATA_MAP = DataMap()
register = DATA_MAP.register
use = DATA_MAP.use
C, S, P = DataCategory, Subject, Purpose
PERSONS = [S.PUPIL, S.GUARDIAN, S.STAFF]

# ==== Field tags, per app and model ===================================================

# --- core: the tenant and the calendar are about organisations, not persons ---
register("core.Region", not_personal=["id", "name_kk", "name_ru", "name_en", "code"])
register(
    "core.School",
    not_personal=[
        "id", "name_kk", "name_ru", "name_en", "bin", "kind", "ownership", "region",
        "district", "address", "account_prefix", "last_account_serial",
        "working_days_per_week", "is_active", "created_at",
    ],
)  # fmt: skip
register("core.Shift", not_personal=["id", "school", "number", "starts_at", "ends_at"])
register("core.Lesson", not_personal=["id", "school", "shift", "number", "starts_at", "ends_at"])
register("core.AcademicYear", not_personal=["id", "school", "starts_on", "ends_on"])
register("core.Vacation", not_personal=["id", "school", "name", "starts_on", "ends_on"])
register("core.CalendarDay", not_personal=["id", "name_kk", "name_ru", "name_en", "date", "kind"])
register(
    "core.SmsMessage",
    subjects=[S.USER],
    contact=["phone"],
    messages=["text"],
    not_personal=["id", "status", "provider_id", "error", "created_at"],
)

# --- accounts ---
register(
    "accounts.User",
    subjects=[S.USER],
    name=["full_name"],
    contact=["phone", "email"],
    account=["password", "last_login", "language"],
    not_personal=[
        "id", "is_superuser", "is_active", "is_staff", "date_joined",
        "groups", "user_permissions",
    ],
)  # fmt: skip
register(
    "accounts.Membership",
    subjects=[S.USER],
    account=["role"],
    not_personal=["id", "user", "school", "region", "created_at"],
)
register(
    "accounts.SignInCode",
    subjects=[S.USER],
    contact=["phone"],
    account=["code_digest"],
    technical=["ip"],
    not_personal=["id", "created_at", "expires_at", "attempts", "consumed_at"],
)
register(
    "accounts.PasswordFailure",
    subjects=[S.USER],
    account=["login_digest"],
    technical=["ip"],
    not_personal=["id", "created_at"],
)
register(
    "accounts.ApiToken",
    subjects=[S.USER],
    account=["digest", "last_used_at"],
    technical=["user_agent"],
    not_personal=["id", "user", "created_at", "expires_at"],
)

# --- people ---
register(
    "people.Person",
    subjects=PERSONS,
    name=["last_name", "first_name", "patronymic"],
    government_id=["iin", "iin_digest"],
    birth_and_sex=["birth_date", "sex"],
    photo=["photo"],
    contact=["phone", "email"],
    privacy_records=["blocked_at"],
    not_personal=["id", "school", "user", "created_at", "updated_at"],
)
register(
    "people.SchoolClass",
    not_personal=["id", "school", "grade", "letter", "shift", "language", "class_teacher"],
)
register(
    "people.Pupil",
    subjects=[S.PUPIL],
    education=["school_class", "is_active", "left_on"],
    financial=["account_number"],
    not_personal=["id", "school", "person"],
)
register(
    "people.StaffMember",
    subjects=[S.STAFF],
    education=["position", "is_active"],
    not_personal=["id", "school", "person"],
)
register("people.Guardian", not_personal=["id", "school", "person"])
register(
    "people.Guardianship",
    subjects=[S.PUPIL, S.GUARDIAN],
    family=["guardian", "pupil", "relation", "is_legal_representative", "may_pick_up"],
    not_personal=["id", "school"],
)

# --- privacy: the records the law makes us keep ---
register("privacy.ChainHead", not_personal=["id", "name", "last_hash"])
register(
    "privacy.PolicyVersion",
    not_personal=[
        "id", "number", "operator_name", "operator_bin", "text_kk", "text_ru", "text_en",
        "content_hash", "published_at", "published_by", "created_at",
    ],
)  # fmt: skip
register(
    "privacy.Consent",
    subjects=[S.PUPIL, S.GUARDIAN, S.USER],
    # Who gave the consent, and from where: the evidence Art. 8 asks for.
    whose={"phone": [S.USER], "ip": [S.USER], "user_agent": [S.USER]},
    privacy_records=["kind", "decision", "as_representative", "channel", "note"],
    contact=["phone"],
    technical=["ip", "user_agent"],
    not_personal=[
        "id", "prev_hash", "entry_hash", "school", "subject_user", "subject_person",
        "given_by", "policy", "policy_hash", "created_at",
    ],
)  # fmt: skip
register(
    "privacy.AuditEntry",
    # The subject whose card was read, and the staff member who read it.
    subjects=PERSONS,
    whose={"ip": [S.STAFF, S.USER]},
    privacy_records=["action", "target", "details"],
    name=["person_label"],
    technical=["ip"],
    not_personal=["id", "prev_hash", "entry_hash", "school", "actor", "person", "created_at"],
)
register(
    "privacy.SubjectRequest",
    subjects=PERSONS,
    privacy_records=["kind", "payload", "resolution"],
    not_personal=[
        "id", "school", "status", "subject_person", "requested_by", "created_at",
        "deadline", "resolved_at", "resolved_by",
    ],
)  # fmt: skip
register(
    "privacy.Disclosure",
    subjects=PERSONS,
    privacy_records=["body", "legal_ground", "request_number", "data_sent", "disclosed_on"],
    not_personal=["id", "school", "person", "visible_to_subject", "recorded_by", "created_at"],
)
register(
    "privacy.Breach",
    subjects=PERSONS,
    whose={
        "responsible_name": [S.STAFF],
        "responsible_phone": [S.STAFF],
        "responsible_email": [S.STAFF],
    },
    privacy_records=["description", "measures", "affected"],
    name=["responsible_name"],
    contact=["responsible_phone", "responsible_email"],
    not_personal=[
        "id", "school", "detected_at", "authority_notified_at", "subjects_notified_at",
        "recorded_by", "created_at",
    ],
)  # fmt: skip
register(
    "privacy.BiometricErasure",
    # An erasure order, not biometric data: it holds no template, only that one existed.
    subjects=[S.PUPIL, S.STAFF],
    privacy_records=["kind", "reason"],
    not_personal=["id", "school", "person", "ordered_at", "done_at"],
)
register(
    "privacy.RequestRecord",
    subjects=[S.USER],
    # The agreement calls these non-personal; an IP can identify someone, so we treat
    # them as personal and keep them only for PRIVACY_REQUEST_LOG_DAYS.
    technical=["path", "ip", "user_agent", "referrer"],
    not_personal=["id", "at", "method", "status"],
)

# --- devices: terminals are about the building; what they hold is about persons ---
register(
    "devices.Link",
    not_personal=[
        "id", "device", "protocol", "decision_mode", "registry_code", "session_id",
        "push_version", "options", "address", "username", "password", "users_count",
        "users_capacity", "faces_count", "faces_capacity", "events_capacity", "event_backlog",
        "last_error", "last_error_at", "silent_alerted_at", "synced_at", "pairing_epoch",
        "gateway", "gateway_seen_at",
    ],
)  # fmt: skip
register(
    "devices.PendingTerminal",
    not_personal=[
        "id", "serial_number", "protocol", "remote_addr", "info", "first_seen_at",
        "last_seen_at", "contacts",
    ],
)  # fmt: skip
register(
    "devices.Command",
    subjects=PERSONS,
    # A command carries the person's name, card and validity to the terminal.
    account=["data"],
    not_personal=[
        "id", "device", "kind", "person", "status", "attempts", "return_code", "error",
        "created_at", "sent_at", "done_at",
    ],
)  # fmt: skip
register(
    "devices.Enrolment",
    subjects=PERSONS,
    account=["pin", "digest", "has_face", "face_confirmed"],
    not_personal=["id", "device", "person", "updated_at"],
)

# --- access: doors and devices are about the building; passes are about persons ---
register(
    "access.Zone", not_personal=["id", "school", "name_kk", "name_ru", "name_en", "kind", "parent"]
)
register(
    "access.Door",
    not_personal=["id", "school", "name_kk", "name_ru", "name_en", "zone", "lanes", "is_exit"],
)
register(
    "access.Device",
    not_personal=[
        "id", "school", "name", "kind", "door", "lane", "direction", "serial_number",
        "secret", "is_active", "firmware", "last_seen_at", "clock_skew_seconds", "created_at",
    ],
)  # fmt: skip
register(
    "access.AccessSettings",
    not_personal=[
        "id", "school", "mode", "mode_changed_at", "mode_changed_by", "anti_passback_minutes",
        "permit_grade_from", "permit_grade_to", "late_grace_minutes", "absence_alert_days",
        "notify_repeat_minutes", "rules_version",
    ],
)  # fmt: skip
register(
    "access.AccessGroup",
    subjects=[S.PUPIL, S.STAFF],
    # A listed group says who may enter where: part of that person's access record.
    presence=["persons"],
    not_personal=[
        "id", "school", "name_kk", "name_ru", "name_en", "members", "doors", "valid_from",
        "valid_until", "open_on_days_off",
    ],
)  # fmt: skip
register(
    "access.TimeWindow", not_personal=["id", "school", "group", "weekday", "starts_at", "ends_at"]
)
register(
    "access.Credential",
    subjects=PERSONS,
    # A card UID or a QR id points at one person, like a login; a template reference
    # says that a template exists, the template itself lives in the biometrics store.
    account=["kind", "value", "status", "valid_from", "valid_until", "status_reason"],
    not_personal=[
        "id", "school", "person", "visitor", "replaced_by", "issued_by", "created_at",
        "changed_at",
    ],
)  # fmt: skip
register(
    "access.ExitPermit",
    subjects=[S.PUPIL],
    presence=["date", "leave_from", "reason", "used_at"],
    not_personal=["id", "school", "pupil", "issued_by", "issued_as", "cancelled_at", "created_at"],
)
register(
    "access.Visitor",
    subjects=[S.USER],
    name=["full_name"],
    contact=["phone"],
    presence=["host", "purpose", "valid_from", "valid_until", "signed_in_at", "signed_out_at"],
    not_personal=["id", "school", "doors", "status", "registered_by", "created_at"],
)
register(
    "access.WatchEntry",
    subjects=[S.GUARDIAN, S.USER],
    name=["full_name"],
    contact=["phone"],
    privacy_records=["reason", "valid_until"],
    not_personal=["id", "school", "person", "is_active", "added_by", "created_at"],
)
register(
    "access.WatchAlert",
    not_personal=[
        "id", "school", "entry", "visitor", "event", "created_at", "acknowledged_at",
        "acknowledged_by",
    ],
)  # fmt: skip
register(
    "access.AccessEvent",
    subjects=PERSONS,
    presence=["door", "direction", "occurred_at", "allowed", "reason"],
    account=["presented", "credential_kind"],
    not_personal=[
        "id", "school", "device", "record_no", "received_at", "person", "visitor",
        "credential", "clock_skew_seconds", "clock_flagged",
    ],
)  # fmt: skip
register(
    "access.Presence",
    subjects=PERSONS,
    presence=["zone", "since", "door", "direction"],
    not_personal=["id", "school", "person"],
)
register(
    "access.DailyAttendance",
    subjects=[S.PUPIL, S.STAFF],
    presence=["date", "first_in", "last_out"],
    not_personal=["id", "school", "person"],
)
register(
    "access.Excuse",
    subjects=[S.PUPIL],
    presence=["starts_on", "ends_on", "reason"],
    not_personal=["id", "school", "pupil", "entered_by", "created_at"],
)
register(
    "access.AbsenceAlert",
    subjects=[S.PUPIL],
    presence=["date", "days"],
    not_personal=["id", "school", "pupil", "created_at"],
)
register(
    "access.TrustedAdult",
    subjects=[S.PUPIL, S.USER],
    whose={"full_name": [S.USER], "phone": [S.USER]},
    name=["full_name"],
    contact=["phone"],
    family=["relation", "revoked_at"],
    not_personal=["id", "school", "pupil", "added_by", "created_at"],
)
register(
    "access.PickUp",
    subjects=[S.PUPIL],
    presence=["picked_up_at", "guardian", "trusted_adult"],
    not_personal=["id", "school", "pupil", "recorded_by"],
)
register(
    "access.RollCall",
    not_personal=["id", "school", "started_at", "started_by", "ended_at"],
)
register(
    "access.RollCallEntry",
    subjects=PERSONS,
    presence=["zone", "accounted_at"],
    not_personal=["id", "school", "roll_call", "person", "visitor", "accounted_by"],
)

# --- notifications ---
register(
    "notifications.Notification",
    subjects=[S.USER, S.PUPIL],
    messages=["kind", "text", "sent_at", "read_at"],
    not_personal=["id", "school", "recipient", "person", "key", "status", "channel", "created_at"],
)

# --- canteen: wallets and the ledger hold a pupil's money; providers are organisations ---
register(
    "canteen.PaymentProvider",
    not_personal=[
        "id", "code", "name", "protocol", "is_active", "username", "password_digest", "secret",
        "allowed_networks", "max_amount", "created_at",
    ],
)  # fmt: skip
register(
    "canteen.Wallet",
    subjects=[S.PUPIL],
    financial=["balance", "overdraft_limit"],
    not_personal=["id", "school", "pupil", "created_at", "updated_at"],
)
register("canteen.SystemAccount", not_personal=["id", "school", "kind", "provider"])
register(
    "canteen.LedgerTransaction",
    subjects=[S.PUPIL],
    # What a child bought, when, and what their parents paid in: the wallet's history.
    financial=[
        "kind", "amount", "booked_at", "provider_time", "description", "reason", "shortfall",
    ],
    not_personal=[
        "id", "school", "external_id", "created_at", "provider", "provider_txn_id", "reverses",
        "created_by",
    ],
)  # fmt: skip
register(
    "canteen.Entry",
    subjects=[S.PUPIL],
    financial=["amount"],
    not_personal=["id", "school", "transaction", "wallet", "account"],
)
register(
    "canteen.ProviderRequest",
    subjects=[S.PUPIL],
    # The agent's call names the personal account and the sum; a check's answer the
    # child's masked name.
    financial=["query", "body", "response_body"],
    not_personal=[
        "id", "protocol", "provider", "school", "method", "path", "body_size", "content_type",
        "signature",
        "remote_addr", "received_at", "command", "txn_id", "status_code", "result",
        "answered_at",
    ],
)  # fmt: skip
register(
    "canteen.ProviderAnswer",
    subjects=[S.PUPIL],
    financial=["body", "account", "amount"],
    not_personal=[
        "id", "provider", "command", "txn_id", "school", "transaction", "request",
        "status_code", "content_type", "created_at",
    ],
)  # fmt: skip
register(
    "canteen.Reconciliation",
    not_personal=[
        "id", "provider", "date", "file_name", "file_sha256", "imported_at", "imported_by",
        "their_count", "their_total", "our_count", "our_total", "matched",
    ],
)  # fmt: skip
register(
    "canteen.ReconciliationLine",
    subjects=[S.PUPIL],
    financial=["account", "our_account", "their_amount", "our_amount", "their_at"],
    not_personal=["id", "reconciliation", "school", "kind", "txn_id", "transaction"],
)

register(
    "canteen.CanteenSettings",
    not_personal=[
        "id", "school", "free_breakfast_cost", "free_lunch_cost", "free_snack_cost",
        "offline_limit", "updated_at",
    ],
)  # fmt: skip
register(
    "canteen.DishCategory",
    not_personal=["id", "school", "name_kk", "name_ru", "name_en", "position"],
)
register(
    "canteen.Dish",
    not_personal=[
        "id", "school", "name_kk", "name_ru", "name_en", "category", "photo", "price",
        "allergens", "is_active", "created_at",
    ],
)  # fmt: skip
register(
    "canteen.DailyMenu",
    not_personal=["id", "school", "date", "meal", "is_published", "published_at"],
)
register("canteen.MenuItem", not_personal=["id", "school", "menu", "dish", "price"])
register(
    "canteen.PupilControls",
    subjects=[S.PUPIL],
    # A child's food allergies are health data; the limits and bans are the family's
    # decisions about the child's money.
    health=["allergens"],
    financial=[
        "daily_limit", "banned_dishes", "banned_categories", "low_balance_threshold",
        "low_balance_alerted",
    ],
    not_personal=["id", "school", "pupil", "updated_at", "updated_by"],
)  # fmt: skip
register(
    "canteen.FreeMealEntitlement",
    subjects=[S.PUPIL],
    social=["basis", "valid_from", "valid_until", "status", "note"],
    not_personal=[
        "id",
        "school",
        "pupil",
        "proposed_by",
        "proposed_at",
        "decided_by",
        "decided_at",
    ],
)
register(
    "canteen.Sale",
    subjects=[S.PUPIL],
    # What a child bought, when, and who paid: the purchase history.
    financial=[
        "sold_at", "total", "free_amount", "wallet_amount", "shortfall", "status",
        "void_reason", "answer",
    ],
    not_personal=[
        "id", "school", "pupil", "external_id", "device", "cashier", "recorded_at", "offline",
        "charge", "free_meal", "voided_at",
    ],
)  # fmt: skip
register(
    "canteen.SaleLine",
    subjects=[S.PUPIL],
    financial=["dish", "meal", "quantity", "unit_price", "amount"],
    not_personal=["id", "school", "sale"],
)
register(
    "canteen.FreeMeal",
    subjects=[S.PUPIL],
    social=["basis"],
    financial=["date", "meal", "cost", "served_at"],
    not_personal=["id", "school", "pupil", "sale", "voided_at"],
)
register(
    "canteen.MealRating",
    subjects=[S.PUPIL, S.USER],
    messages=["score", "comment", "by_child"],
    not_personal=["id", "school", "pupil", "dish", "date", "author", "created_at", "updated_at"],
)

# ==== Uses: which feature needs which categories, for which purpose ===================

use(
    "accounts.sign_in",
    _("Sign-in by phone and SMS code or by password, roles, per-network limits on codes"),
    purpose=P.IDENTIFICATION,
    categories=[C.NAME, C.CONTACT, C.ACCOUNT, C.TECHNICAL, C.MESSAGES],
)
use(
    "people.records",
    _("Records of pupils, staff and guardians in the staff portal and the API"),
    purpose=P.IDENTIFICATION,
    categories=[C.NAME, C.GOVERNMENT_ID, C.BIRTH_AND_SEX, C.CONTACT, C.EDUCATION, C.FAMILY],
)
use(
    "parents.children",
    _("Parents' app: a parent is linked to their children by phone and sees them"),
    purpose=P.IDENTIFICATION,
    categories=[C.NAME, C.CONTACT, C.BIRTH_AND_SEX, C.EDUCATION, C.FAMILY],
)
use(
    "people.nobd",
    _("Import and export in the shape of NOBD, the state education database"),
    purpose=P.LEGAL_OBLIGATIONS,
    categories=[C.NAME, C.GOVERNMENT_ID, C.BIRTH_AND_SEX, C.CONTACT, C.EDUCATION, C.FAMILY],
)
use(
    "people.personal_account",
    _("The pupil's personal account number, by which payment agents top up the canteen"),
    purpose=P.PAYMENTS,
    categories=[C.FINANCIAL],
)
use(
    "core.sms_log",
    _("The log of sent SMS, to answer 'my code did not arrive'"),
    purpose=P.SUPPORT,
    categories=[C.CONTACT, C.MESSAGES],
)
use(
    "privacy.consent_ledger",
    _("The consent ledger: who consented to what, when, and how it was verified"),
    purpose=P.LEGAL_OBLIGATIONS,
    categories=[C.PRIVACY_RECORDS, C.CONTACT, C.TECHNICAL],
)
use(
    "privacy.audit_log",
    _("The audit log of who read or changed whose personal data"),
    purpose=P.LEGAL_OBLIGATIONS,
    categories=[C.PRIVACY_RECORDS, C.NAME, C.TECHNICAL],
)
use(
    "privacy.subject_rights",
    _("Subject requests, blocking, erasure orders, disclosures to state bodies, breaches"),
    purpose=P.LEGAL_OBLIGATIONS,
    categories=[C.PRIVACY_RECORDS, C.NAME, C.CONTACT],
)
use(
    "privacy.request_log",
    _("Request records: diagnosing faults and misuse"),
    purpose=P.SUPPORT,
    categories=[C.TECHNICAL],
)
use(
    "privacy.request_log_statistics",
    _("Request records: counting how the platform is used"),
    purpose=P.STATISTICS,
    categories=[C.TECHNICAL],
)

use(
    "access.doors",
    _(
        "Deciding who may pass a door, the guard's screen with the photo, presence, "
        "evacuation roll calls, visitors and the watch list, pick-ups"
    ),
    purpose=P.ACCESS_SAFETY,
    categories=[C.NAME, C.PHOTO, C.EDUCATION, C.PRESENCE, C.ACCOUNT, C.CONTACT, C.FAMILY],
)
use(
    "access.attendance",
    _("Attendance: first entry and last exit, late and absent days, excuses, time sheets"),
    purpose=P.ATTENDANCE,
    categories=[C.NAME, C.EDUCATION, C.PRESENCE],
)
use(
    "notifications.passes",
    _("Telling guardians when their child enters or leaves, and the in-app notification feed"),
    purpose=P.NOTIFICATIONS,
    categories=[C.NAME, C.PRESENCE, C.CONTACT, C.MESSAGES],
)

use(
    "canteen.wallets",
    _(
        "Canteen wallets: top-ups by payment agents, banks and cards, purchases, balances "
        "and movements in the parents' app, reconciliation with the providers' registers"
    ),
    purpose=P.PAYMENTS,
    categories=[C.NAME, C.FINANCIAL, C.EDUCATION],
)
use(
    "notifications.canteen",
    _("Telling guardians of each top-up of their child's canteen balance"),
    purpose=P.NOTIFICATIONS,
    categories=[C.NAME, C.FINANCIAL, C.CONTACT, C.MESSAGES],
)

use(
    "canteen.pos",
    _(
        "The canteen till: finding the pupil by card, QR or personal account, the photo "
        "and class to confirm who it is, the balance, the parents' limits, bans and the "
        "child's allergies checked at each sale, free meals"
    ),
    purpose=P.PAYMENTS,
    categories=[C.NAME, C.PHOTO, C.EDUCATION, C.FINANCIAL, C.HEALTH, C.SOCIAL, C.ACCOUNT],
)
use(
    "canteen.free_meal_report",
    _("The monthly free-meal report for the state Social Wallet: pupil, day, time, meal, cost"),
    purpose=P.LEGAL_OBLIGATIONS,
    categories=[C.NAME, C.EDUCATION, C.FINANCIAL, C.SOCIAL],
)
use(
    "canteen.ratings",
    _("Meal quality marks and comments by parents and pupils, shown to the canteen"),
    purpose=P.SUPPORT,
    categories=[C.MESSAGES],
)
use(
    "notifications.canteen_purchases",
    _("Telling guardians of each purchase (items, amount, time) and of a low balance"),
    purpose=P.NOTIFICATIONS,
    categories=[C.NAME, C.FINANCIAL, C.CONTACT, C.MESSAGES],
)

# ==== Third-party apps that hold personal data (not tagged field by field) ============

OUTSIDE_OUR_APPS: tuple[OutsideStore, ...] = (
    OutsideStore(
        "otp_totp.TOTPDevice",
        (C.ACCOUNT,),
        _("Staff authenticator secrets (django-otp), for the second sign-in factor."),
    ),
    OutsideStore(
        "sessions.Session",
        (C.ACCOUNT,),
        _("Signed-in sessions: the user, the confirmed second factor, the chosen school."),
    ),
    OutsideStore(
        "django_tasks_database.DBTaskResult",
        (C.CONTACT, C.MESSAGES),
        _("Queued background tasks keep their arguments, such as a phone and an SMS text."),
    ),
    OutsideStore(
        "admin.LogEntry",
        (C.NAME, C.ACCOUNT),
        _("Django admin's history of changes: who changed which object, named as text."),
    ),
)

# --- edge: the gateway's bookkeeping (its mirror holds copies of the rows tagged above) ---
register("edge.UploadedEvent", not_personal=["event", "refused", "answered_at"])
register(
    "edge.MirrorState", not_personal=["id", "cursor", "synced_at", "last_error", "last_error_at"]
)
register("edge.SchoolKey", not_personal=["id", "school", "purpose", "key"])
