"""The gateway's mirror of one school: what the server sends (``snapshot``) and how the
gateway writes it into its own database (``apply``), with the server's primary keys.

Only what a decision at the door reads is mirrored, and of a person only what the
terminal shows (see docs/edge.md, "What the gateway holds"):

- the school, its region, shifts, vacations and the national calendar exceptions (is it a
  school day?); zones, doors, devices with their secrets (the gateway checks the
  terminals' signatures), the devices' protocol links, the access settings (the mode),
  access groups with their doors and listed persons, time windows;
- persons who are pupils, staff, card or template holders, listed in a group or on the
  watch list: first name, the initial of the last name, and whether their data are
  blocked. Never the IIN, birth date, sex, phone, e-mail, photo, account or guardians;
- classes (grade, letter, shift), pupils (class, enrolled) and staff (employed);
- cards (any status, so a blocked card is refused as blocked); face and fingerprint
  template *references* only for persons whose biometric consent holds on the server
  now — the consent ledger itself stays on the server;
- exit permits from yesterday on (no reason text); active watch-list entries that name a
  known person (no name, phone or reason: the gateway only refuses the card).

- persons' PIN digests and QR pass credentials, with the school's two keys that check
  them (``keys``): a QR pass is signed and a PIN digested with keys of the school, derived
  from the server's secret, which itself never leaves the server.

Visitors are not mirrored.

Small tables travel whole when their fingerprint changed since the cursor; persons and
credentials (cards, PINs, QR passes) travel as a delta since the cursor, with the full id
lists so deletions reach the gateway too.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import hashlib
import json
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from django.core.serializers.json import DjangoJSONEncoder
from django.db import IntegrityError, models, transaction
from django.db.models import Model, ProtectedError, Q, QuerySet
from django.utils import timezone

from kezekshi.access.credentials import NoSchoolKey, derived_school_key
from kezekshi.access.decisions import local_time
from kezekshi.access.models import (
    AccessGroup,
    AccessSettings,
    Credential,
    Device,
    Door,
    ExitPermit,
    TimeWindow,
    WatchEntry,
    Zone,
)
from kezekshi.core.models import CalendarDay, Region, School, Shift, Vacation
from kezekshi.devices.models import Link
from kezekshi.edge.models import SchoolKey
from kezekshi.people.models import Person, Pupil, SchoolClass, StaffMember

NAMES = ["name_kk", "name_ru", "name_en"]
BIOMETRIC = (Credential.Kind.FACE, Credential.Kind.FINGERPRINT)
# What a person presents that is not their body: sent as a delta ("credentials").
TOKENS = (Credential.Kind.CARD, Credential.Kind.PIN, Credential.Kind.QR)
# The school's keys the gateway checks QR passes and PINs with, and pairs ZKTeco
# terminals with.
KEY_PURPOSES = ("qr", "pin", "zk")
# Rows written within this long before a sync may commit after it: sent again next time.
OVERLAP = dt.timedelta(minutes=2)
CREDENTIAL_FIELDS = [
    "id", "school_id", "person_id", "kind", "value", "status", "valid_from", "valid_until",
]  # fmt: skip


@dataclass(frozen=True)
class Table:
    """One mirrored table: the fields sent, and the rows of a school (on the server)."""

    name: str
    model: type[Model]
    fields: list[str]
    rows: Callable[[School], QuerySet[Any]]
    many: tuple[str, ...] = ()  # many-to-many fields sent as id lists


def _permits(school: School) -> QuerySet[Any]:
    yesterday = local_time(timezone.now()).date() - dt.timedelta(days=1)
    return ExitPermit.objects.filter(school=school, date__gte=yesterday)


def _biometric_credentials(school: School) -> QuerySet[Any]:
    return Credential.objects.filter(
        school=school, kind__in=BIOMETRIC, person__isnull=False, status=Credential.Status.ACTIVE
    )


# In the order the gateway writes them (a row's references come first).
TABLES: tuple[Table, ...] = (
    Table(
        "regions", Region, ["id", "code", *NAMES], lambda s: Region.objects.filter(pk=s.region_id)
    ),
    Table(
        "schools",
        School,
        [
            "id",
            *NAMES,
            "bin",
            "kind",
            "ownership",
            "region_id",
            "account_prefix",
            "working_days_per_week",
            "is_active",
        ],
        lambda s: School.objects.filter(pk=s.pk),
    ),
    Table(
        "calendar_days",
        CalendarDay,
        ["id", "date", "kind", *NAMES],
        lambda s: CalendarDay.objects.all(),
    ),
    Table(
        "vacations",
        Vacation,
        ["id", "school_id", "name", "starts_on", "ends_on"],
        lambda s: Vacation.objects.filter(school=s),
    ),
    Table(
        "shifts",
        Shift,
        ["id", "school_id", "number", "starts_at", "ends_at"],
        lambda s: Shift.objects.filter(school=s),
    ),
    Table(
        "zones",
        Zone,
        ["id", "school_id", "kind", "parent_id", *NAMES],
        lambda s: Zone.objects.filter(school=s),
    ),
    Table(
        "doors",
        Door,
        ["id", "school_id", "zone_id", "lanes", "is_exit", *NAMES],
        lambda s: Door.objects.filter(school=s),
    ),
    Table(
        "devices",
        Device,
        [
            "id",
            "school_id",
            "name",
            "kind",
            "door_id",
            "lane",
            "direction",
            "serial_number",
            "secret",
            "is_active",
            "firmware",
        ],
        lambda s: Device.objects.filter(school=s),
    ),
    Table(
        "links",
        Link,
        # The ZKTeco pairing too: a terminal paired with the server is paired with the
        # gateway (both derive the codes from the school's "zk" key and the epoch).
        [
            "id",
            "device_id",
            "protocol",
            "decision_mode",
            "registry_code",
            "session_id",
            "pairing_epoch",
        ],
        lambda s: Link.objects.filter(device__school=s),
    ),
    Table(
        "access_settings",
        AccessSettings,
        [
            "id",
            "school_id",
            "mode",
            "anti_passback_minutes",
            "permit_grade_from",
            "permit_grade_to",
            "late_grace_minutes",
            "absence_alert_days",
            "notify_repeat_minutes",
            "rules_version",
        ],
        lambda s: AccessSettings.objects.filter(school=s),
    ),
    Table(
        "classes",
        SchoolClass,
        ["id", "school_id", "grade", "letter", "shift", "language"],
        lambda s: SchoolClass.objects.filter(school=s),
    ),
    Table(
        "pupils",
        Pupil,
        ["id", "school_id", "person_id", "school_class_id", "is_active"],
        lambda s: Pupil.objects.filter(school=s),
    ),
    Table(
        "staff",
        StaffMember,
        ["id", "school_id", "person_id", "is_active"],
        lambda s: StaffMember.objects.filter(school=s),
    ),
    Table(
        "access_groups",
        AccessGroup,
        ["id", "school_id", "members", "valid_from", "valid_until", "open_on_days_off", *NAMES],
        lambda s: AccessGroup.objects.filter(school=s),
        many=("persons", "doors"),
    ),
    Table(
        "time_windows",
        TimeWindow,
        ["id", "school_id", "group_id", "weekday", "starts_at", "ends_at"],
        lambda s: TimeWindow.objects.filter(school=s),
    ),
    Table(
        "exit_permits",
        ExitPermit,
        [
            "id",
            "school_id",
            "pupil_id",
            "date",
            "leave_from",
            "issued_as",
            "cancelled_at",
            "used_at",
        ],
        _permits,
    ),
    Table(
        "watch_entries",
        WatchEntry,
        ["id", "school_id", "person_id", "valid_until", "is_active"],
        lambda s: WatchEntry.objects.filter(school=s, is_active=True, person__isnull=False),
    ),
    Table("biometrics", Credential, CREDENTIAL_FIELDS, _biometric_credentials),
)
TABLE_BY_NAME = {table.name: table for table in TABLES}
PERSON_FIELDS = ["id", "school_id", "first_name", "last_name", "blocked_at"]


# --- the server: what one school's gateway gets ---------------------------------------


def encode_cursor(cursor: dict[str, Any]) -> str:
    return base64.urlsafe_b64encode(json.dumps(cursor, separators=(",", ":")).encode()).decode()


def decode_cursor(text: str | None) -> dict[str, Any]:
    """The cursor the gateway sent back; anything unreadable starts a full sync."""
    if not text:
        return {}
    try:
        cursor = json.loads(base64.urlsafe_b64decode(text.encode()))
    except (ValueError, binascii.Error, UnicodeError):
        return {}
    return cursor if isinstance(cursor, dict) else {}


def _plain(rows: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
    """Rows as JSON would carry them (dates and times as ISO text)."""
    return json.loads(json.dumps(list(rows), cls=DjangoJSONEncoder))  # type: ignore[no-any-return]


def _fingerprint(rows: list[dict[str, Any]]) -> str:
    return hashlib.sha256(json.dumps(rows, sort_keys=True).encode()).hexdigest()[:24]


def _table_rows(table: Table, school: School) -> list[dict[str, Any]]:
    queryset = table.rows(school).order_by("pk")
    rows = list(queryset.values(*table.fields))
    if table.name == "biometrics":
        rows = [row for row in rows if _consent_holds(row["person_id"], row["kind"])]
    for name in table.many:
        through = table.model._meta.get_field(name).remote_field.through  # type: ignore[union-attr]
        own = f"{table.model._meta.model_name}_id"
        other = f"{through._meta.get_field(name[:-1]).attname}"  # type: ignore[union-attr]
        links: dict[int, list[int]] = {}
        for owner_id, other_id in (
            through.objects.filter(**{f"{own}__in": [row["id"] for row in rows]})  # type: ignore[union-attr]
            .order_by(own, other)
            .values_list(own, other)
        ):
            links.setdefault(owner_id, []).append(other_id)
        for row in rows:
            row[name] = links.get(row["id"], [])
    return _plain(rows)


def _consent_holds(person_id: int, kind: str) -> bool:
    from kezekshi.privacy.services import biometric_state

    person = Person.objects.only("pk", "blocked_at", "school_id").get(pk=person_id)
    return biometric_state(person, kind).allowed


def _mirrored_person_ids(school: School, tables: dict[str, list[dict[str, Any]]]) -> set[int]:
    ids = set(Pupil.objects.filter(school=school).values_list("person_id", flat=True))
    ids |= set(StaffMember.objects.filter(school=school).values_list("person_id", flat=True))
    ids |= set(
        Credential.objects.filter(school=school, kind__in=TOKENS, person__isnull=False).values_list(
            "person_id", flat=True
        )
    )
    ids |= {row["person_id"] for row in tables["biometrics"]}
    ids |= {row["person_id"] for row in tables["watch_entries"]}
    for group in tables["access_groups"]:
        ids |= set(group["persons"])
    return ids


def snapshot(*, school: School, since: str | None) -> dict[str, Any]:
    """What the school's gateway needs to catch up from the cursor ``since``.

    ``tables``: each small table whose rows changed, whole. ``persons`` and
    ``credentials`` (cards, PINs, QR passes): the rows changed since the cursor (all of
    them without one); ``person_ids`` and ``credential_ids``: every id the gateway should
    hold, so it deletes the rest. ``keys``: the school's QR and PIN keys (base64).
    ``cursor``: send it back as ``since`` next time. Reads only; safe to repeat.
    """
    cursor = decode_cursor(since)
    started = timezone.now()
    prints: dict[str, str] = cursor.get("fp") if isinstance(cursor.get("fp"), dict) else {}  # type: ignore[assignment]
    all_rows = {table.name: _table_rows(table, school) for table in TABLES}
    new_prints = {name: _fingerprint(rows) for name, rows in all_rows.items()}
    changed = {
        name: rows for name, rows in all_rows.items() if prints.get(name) != new_prints[name]
    }
    person_ids = _mirrored_person_ids(school, all_rows)
    moment = None
    if isinstance(cursor.get("t"), str):
        try:
            moment = dt.datetime.fromisoformat(cursor["t"]) - OVERLAP
        except ValueError:
            moment = None
    tokens = Credential.objects.filter(school=school, kind__in=TOKENS, person__isnull=False)
    token_ids = list(tokens.order_by("pk").values_list("pk", flat=True))
    persons = Person.objects.filter(pk__in=person_ids)
    if moment is not None:
        # Persons whose rows changed, who hold a changed credential, or whom a table sent
        # whole now names (a new listed person, a newly watched one).
        named = {
            row["person_id"]
            for name in ("pupils", "staff", "biometrics", "watch_entries")
            for row in changed.get(name, ())
        }
        for group in changed.get("access_groups", ()):
            named |= set(group["persons"])
        tokens = tokens.filter(changed_at__gte=moment)
        named |= set(tokens.values_list("person_id", flat=True))
        persons = persons.filter(Q(updated_at__gte=moment) | Q(pk__in=named))
    person_rows = [
        {**row, "last_name": row["last_name"][:1]}
        for row in persons.order_by("pk").values(*PERSON_FIELDS)
    ]
    return {
        "school_id": school.pk,
        "cursor": encode_cursor({"t": started.isoformat(), "fp": new_prints}),
        "full": moment is None,
        "tables": changed,
        "persons": _plain(person_rows),
        "person_ids": sorted(person_ids),
        "credentials": _plain(tokens.order_by("pk").values(*CREDENTIAL_FIELDS)),
        "credential_ids": token_ids,
        "keys": {
            purpose: base64.b64encode(derived_school_key(school.pk, purpose)).decode()
            for purpose in KEY_PURPOSES
        },
        "server_time": started.isoformat(),
    }


# --- the gateway: writing a snapshot into its own database -----------------------------


@dataclass
class Applied:
    tables: int = 0
    rows: int = 0
    deleted: int = 0
    kept: int = 0  # rows the server deleted that local passes still name (kept for them)


def _local_user_id() -> int:
    """The gateway's own user, named on the rows whose writer the mirror does not copy."""
    from kezekshi.accounts.models import User

    user, _created = User.objects.get_or_create(
        email="gateway@edge.invalid",
        defaults={"full_name": "Edge gateway", "is_active": False},
    )
    return user.pk


def _filled(table_name: str, row: dict[str, Any], user_id: int) -> dict[str, Any]:
    """Required columns the mirror does not carry, filled with neutral values."""
    if table_name == "pupils":
        return {**row, "account_number": f"e{row['id']}"}
    if table_name == "exit_permits":
        return {**row, "issued_by_id": user_id, "reason": ""}
    if table_name == "watch_entries":
        return {**row, "added_by_id": user_id, "full_name": "", "reason": ""}
    if table_name == "schools":
        return {**row, "address": ""}
    return row


def _upsert(model: type[Model], fields: list[str], rows: list[dict[str, Any]]) -> None:
    if not rows:
        return
    meta = model._meta
    objects = []
    for row in rows:
        values = {}
        for name, value in row.items():
            field = meta.get_field(name)  # by attname too: "device_id", "session_id"
            assert isinstance(field, models.Field)
            values[name] = field.to_python(value) if value is not None else None
        objects.append(model(**values))
    update = [meta.get_field(name).name for name in fields if name != "id"]
    for start in range(0, len(objects), 500):
        model._default_manager.bulk_create(
            objects[start : start + 500],
            update_conflicts=True,
            unique_fields=["id"],
            update_fields=update,
        )


def _delete_missing(
    model: type[Model], queryset: QuerySet[Any], keep: set[int], applied: Applied
) -> None:
    """Delete the rows the server no longer has; a row local passes still need stays."""
    gone = list(queryset.exclude(pk__in=keep).values_list("pk", flat=True))
    for pk in gone:
        try:
            with transaction.atomic():
                model._default_manager.filter(pk=pk).delete()
            applied.deleted += 1
        except (ProtectedError, IntegrityError):
            applied.kept += 1


def _local_rows(table: Table, school_id: int) -> QuerySet[Any]:
    model = table.model
    if table.name == "regions":
        return Region.objects.filter(schools__pk=school_id)
    if table.name == "schools":
        return School.objects.filter(pk=school_id)
    if table.name == "calendar_days":
        return CalendarDay.objects.all()
    if table.name == "links":
        return Link.objects.filter(device__school_id=school_id)
    if table.name == "biometrics":
        return Credential.objects.filter(school_id=school_id, kind__in=BIOMETRIC)
    return model._default_manager.filter(school_id=school_id)


# Tables the gateway's own migrations fill too (regions), or that have another unique
# key: a local row with the same key under another id gives way to the server's.
NATURAL_KEYS = {"regions": "code", "calendar_days": "date"}


def _drop_local_twins(table: Table, rows: list[dict[str, Any]]) -> None:
    key = NATURAL_KEYS[table.name]
    by_key = {row[key]: row["id"] for row in rows}
    for pk, value in table.model._default_manager.filter(
        **{f"{key}__in": list(by_key)}
    ).values_list("pk", key):
        if by_key.get(str(value)) != pk:
            try:
                with transaction.atomic():
                    table.model._default_manager.filter(pk=pk).delete()
            except (ProtectedError, IntegrityError):
                table.model._default_manager.filter(pk=pk).update(**{key: f"~{pk}"[:10]})


@transaction.atomic
def apply(snapshot_data: dict[str, Any], *, school_id: int) -> Applied:
    """Write a snapshot into this (the gateway's) database in one transaction.

    Rows keep the server's primary keys, so passes recorded here name the same persons,
    doors and devices as on the server. Deletions go first (a card re-issued under a new
    id must not collide with the old row), then upserts in reference order. Idempotent.
    """
    applied = Applied()
    tables: dict[str, list[dict[str, Any]]] = snapshot_data.get("tables", {})
    user_id = _local_user_id()
    # Deletions, the most dependent rows first.
    _delete_missing(
        Credential,
        Credential.objects.filter(school_id=school_id, kind__in=TOKENS),
        set(snapshot_data.get("credential_ids", [])),
        applied,
    )
    # (A row of default access settings made by a decision asked before the first sync
    # goes here too: the server's row wins.)
    for table in reversed(TABLES):
        if table.name in tables and table.name not in {"regions", "schools"}:
            keep = {row["id"] for row in tables[table.name]}
            _delete_missing(table.model, _local_rows(table, school_id), keep, applied)
    if "person_ids" in snapshot_data:
        _delete_missing(
            Person,
            Person.objects.filter(school_id=school_id),
            set(snapshot_data["person_ids"]),
            applied,
        )
    # Upserts, references first; persons right before the tables that name them.
    for table in TABLES:
        if table.name == "classes":
            _upsert(Person, PERSON_FIELDS, snapshot_data.get("persons", []))
            applied.rows += len(snapshot_data.get("persons", []))
        if table.name not in tables:
            continue
        if table.name in NATURAL_KEYS:
            _drop_local_twins(table, tables[table.name])
        rows = [
            _filled(table.name, {k: v for k, v in row.items() if k not in table.many}, user_id)
            for row in tables[table.name]
        ]
        _upsert(table.model, table.fields, rows)
        for name in table.many:
            for row in tables[table.name]:
                manager = getattr(table.model(pk=row["id"]), name)
                manager.set(row[name])
        applied.tables += 1
        applied.rows += len(rows)
    _upsert(Credential, CREDENTIAL_FIELDS, snapshot_data.get("credentials", []))
    applied.rows += len(snapshot_data.get("credentials", []))
    for purpose, key in snapshot_data.get("keys", {}).items():
        if purpose in KEY_PURPOSES:
            SchoolKey.objects.update_or_create(
                school_id=school_id, purpose=purpose, defaults={"key": key}
            )
    if applied.rows or applied.deleted or snapshot_data.get("keys"):
        transaction.on_commit(_forget_caches)
    return applied


def missing(snapshot_data: dict[str, Any]) -> bool:
    """Whether a person or credential the server listed is not in this database after
    ``apply``."""
    school_id = int(snapshot_data["school_id"])
    persons = set(Person.objects.filter(school_id=school_id).values_list("pk", flat=True))
    tokens = set(
        Credential.objects.filter(school_id=school_id, kind__in=TOKENS).values_list("pk", flat=True)
    )
    return not (
        set(snapshot_data.get("person_ids", ())) <= persons
        and set(snapshot_data.get("credential_ids", ())) <= tokens
    )


def _forget_caches() -> None:
    from kezekshi.access import decisions, device_auth

    decisions.forget_rules()
    device_auth.forget_all()
    _keys.clear()


# --- the gateway: the school's QR and PIN keys ------------------------------------------

_keys: dict[tuple[int, str], bytes] = {}


def mirrored_school_key(school_id: int, purpose: str) -> bytes:
    """The gateway's ``SCHOOL_KEY_SOURCE``: the key the mirror brought (cached until the
    next change). Raises ``NoSchoolKey`` for another school, or before the first sync."""
    cached = _keys.get((school_id, purpose))
    if cached is not None:
        return cached
    text = (
        SchoolKey.objects.filter(school_id=school_id, purpose=purpose)
        .values_list("key", flat=True)
        .first()
    )
    if not text:
        raise NoSchoolKey(f"no {purpose} key of school {school_id}")
    key = _keys[(school_id, purpose)] = base64.b64decode(text)
    return key


# --- the gateway: biometric consent without the consent ledger -------------------------


def mirrored_biometric_states(persons: dict[int, bool], kind: str) -> dict[int, Any]:
    """The server's answer to "may these persons' faces (fingerprints) be used", as the
    mirror carries it: the server sends a template reference only while the consent
    holds and deletes it from the gateway when it no longer does. The gateway's
    ``BIOMETRIC_CONSENT_SOURCE``."""
    from kezekshi.privacy.services import BiometricState

    held = set(
        Credential.objects.filter(
            person_id__among=[pk for pk, blocked in persons.items() if not blocked],
            kind=kind,
            status=Credential.Status.ACTIVE,
        ).values_list("person_id", flat=True)
    )
    return {
        pk: BiometricState(False, "blocked")
        if blocked
        else BiometricState(True, "consented")
        if pk in held
        else BiometricState(False, "no_consent")
        for pk, blocked in persons.items()
    }


# On the gateway a device row changes only when the mirror is applied, which forgets the
# cache at once; the server's 30 s (for secrets rotated in another process) would only
# add a write of ``last_seen_at`` to a decision every half minute per terminal. Two
# minutes keep "last seen" (reported to the server with the status) well inside the
# silent-terminal alert's ten.
GATEWAY_DEVICE_CACHE_SECONDS = 120.0


def trust_the_mirror_for_devices() -> None:
    """Keep terminals' rows cached until the mirror changes (see above)."""
    from kezekshi.access import device_auth

    device_auth.CACHE_SECONDS = GATEWAY_DEVICE_CACHE_SECONDS
