"""Access control: zones, doors, devices, credentials, rules, events, presence, attendance,
exit permits, visitors, the watch list, pick-ups and evacuation roll calls."""

from __future__ import annotations

from django.conf import settings
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.utils.translation import gettext_lazy as _

from kezekshi.core.crypto import EncryptedTextField
from kezekshi.core.models import SchoolOwned, TranslatedName


class Direction(models.TextChoices):
    IN = "in", _("In")
    OUT = "out", _("Out")


class Zone(SchoolOwned, TranslatedName):
    """A part of the school one passes into through a door: the building, the canteen…"""

    class Kind(models.TextChoices):
        BUILDING = "building", _("Building")
        CANTEEN = "canteen", _("Canteen")
        LIBRARY = "library", _("Library")
        GYM = "gym", _("Gym")
        OTHER = "other", _("Other")

    kind = models.CharField(_("kind"), max_length=20, choices=Kind.choices)
    # The zone this one lies in (the canteen lies in the building); empty: entered from outside.
    parent = models.ForeignKey(
        "self",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="children",
        verbose_name=_("lies inside"),
    )

    class Meta:
        verbose_name = _("zone")
        verbose_name_plural = _("zones")
        ordering = ["school", "id"]


class Door(SchoolOwned, TranslatedName):
    """An entrance into a zone (main entrance, canteen door), with its turnstile lanes.

    Passing *in* enters ``zone``; passing *out* returns to the zone's parent (or outside).
    """

    zone = models.ForeignKey(Zone, on_delete=models.PROTECT, related_name="doors")
    lanes = models.PositiveSmallIntegerField(
        _("lanes"), default=1, validators=[MinValueValidator(1), MaxValueValidator(32)]
    )
    # Whether this door leads out of the building: evacuation opens it, exit permits apply.
    is_exit = models.BooleanField(_("leads outside"), default=True)

    class Meta:
        verbose_name = _("door")
        verbose_name_plural = _("doors")
        ordering = ["school", "id"]


class Device(SchoolOwned):
    """A terminal or controller that calls the device API with its own secret."""

    class Kind(models.TextChoices):
        TURNSTILE = "turnstile", _("Turnstile controller")
        FACE_TERMINAL = "face_terminal", _("Face terminal")
        CARD_READER = "card_reader", _("Card reader")
        EDGE_GATEWAY = "edge_gateway", _("Edge gateway")
        POS_TERMINAL = "pos_terminal", _("Canteen POS terminal")

    name = models.CharField(_("name"), max_length=200)
    kind = models.CharField(_("kind"), max_length=20, choices=Kind.choices)
    door = models.ForeignKey(
        Door,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="devices",
        verbose_name=_("door"),
    )
    lane = models.PositiveSmallIntegerField(_("lane"), default=1)
    # The direction this reader serves; empty: the device says it with each pass.
    direction = models.CharField(
        _("direction"), max_length=3, choices=Direction.choices, blank=True
    )
    serial_number = models.CharField(_("serial number"), max_length=100, blank=True)
    # The shared secret requests are signed with (HMAC-SHA256); shown once when issued.
    secret = EncryptedTextField(_("secret"), editable=False)
    is_active = models.BooleanField(_("active"), default=True)
    firmware = models.CharField(_("firmware"), max_length=100, blank=True)
    last_seen_at = models.DateTimeField(_("last seen"), null=True, blank=True)
    # Device clock minus server clock at the last call, in seconds.
    clock_skew_seconds = models.IntegerField(_("clock skew, s"), default=0)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        verbose_name = _("device")
        verbose_name_plural = _("devices")
        ordering = ["school", "name"]

    def __str__(self) -> str:
        return self.name


class AccessSettings(SchoolOwned):
    """A school's access rules that are not per group, and its emergency mode."""

    class Mode(models.TextChoices):
        NORMAL = "normal", _("Normal")
        EVACUATION = "evacuation", _("Evacuation: every exit open")
        LOCKDOWN = "lockdown", _("Lockdown: entry for staff only")

    mode = models.CharField(_("mode"), max_length=20, choices=Mode.choices, default=Mode.NORMAL)
    mode_changed_at = models.DateTimeField(_("mode changed"), null=True, blank=True)
    mode_changed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    anti_passback_minutes = models.PositiveSmallIntegerField(
        _("anti-passback window, minutes"),
        default=0,
        help_text=_("0 turns anti-passback off."),
    )
    permit_grade_from = models.PositiveSmallIntegerField(
        _("exit permits needed from grade"), default=0, validators=[MaxValueValidator(11)]
    )
    permit_grade_to = models.PositiveSmallIntegerField(
        _("exit permits needed up to grade"), default=4, validators=[MaxValueValidator(11)]
    )
    late_grace_minutes = models.PositiveSmallIntegerField(_("late after, minutes"), default=5)
    absence_alert_days = models.PositiveSmallIntegerField(
        _("alert the class teacher after days absent"), default=3
    )
    notify_repeat_minutes = models.PositiveSmallIntegerField(
        _("repeat pass notices after, minutes"), default=15
    )
    # Raised by every change to rules, groups, doors or credentials; decision caches key on it.
    rules_version = models.PositiveIntegerField(default=0, editable=False)

    class Meta:
        verbose_name = _("access settings")
        verbose_name_plural = _("access settings")
        constraints = [models.UniqueConstraint(fields=["school"], name="access_settings_one")]


class AccessGroup(SchoolOwned, TranslatedName):
    """Who may pass which doors when: pupils of a shift, staff, service staff, or a list."""

    class Members(models.TextChoices):
        PUPILS_SHIFT_1 = "pupils_shift_1", _("Pupils of the first shift")
        PUPILS_SHIFT_2 = "pupils_shift_2", _("Pupils of the second shift")
        STAFF = "staff", _("Staff")
        LISTED = "listed", _("The persons listed")

    members = models.CharField(_("members"), max_length=20, choices=Members.choices)
    persons = models.ManyToManyField(
        "people.Person", blank=True, related_name="access_groups", verbose_name=_("persons")
    )
    doors = models.ManyToManyField(Door, related_name="access_groups", verbose_name=_("doors"))
    valid_from = models.DateField(_("valid from"), null=True, blank=True)
    valid_until = models.DateField(_("valid until"), null=True, blank=True)
    open_on_days_off = models.BooleanField(_("also on holidays and days off"), default=False)

    class Meta:
        verbose_name = _("access group")
        verbose_name_plural = _("access groups")
        ordering = ["school", "id"]


class TimeWindow(SchoolOwned):
    """One weekly window of an access group: on ``weekday`` from ``starts_at`` to ``ends_at``."""

    group = models.ForeignKey(AccessGroup, on_delete=models.CASCADE, related_name="windows")
    weekday = models.PositiveSmallIntegerField(
        _("weekday"), validators=[MaxValueValidator(6)], help_text=_("0 is Monday.")
    )
    starts_at = models.TimeField(_("from"))
    ends_at = models.TimeField(_("until"))

    class Meta:
        verbose_name = _("time window")
        verbose_name_plural = _("time windows")
        ordering = ["group", "weekday", "starts_at"]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(ends_at__gt=models.F("starts_at")),
                name="window_ends_after_start",
            )
        ]


class Credential(SchoolOwned):
    """A card, QR pass, PIN or biometric template reference that identifies a person or visitor."""

    class Kind(models.TextChoices):
        CARD = "card", _("Card")
        QR = "qr", _("QR code")
        PIN = "pin", _("PIN")
        FACE = "face", _("Face template")
        FINGERPRINT = "fingerprint", _("Fingerprint template")

    class Status(models.TextChoices):
        ACTIVE = "active", _("Active")
        LOST = "lost", _("Lost, blocked")
        BLOCKED = "blocked", _("Blocked")
        REPLACED = "replaced", _("Replaced")

    person = models.ForeignKey(
        "people.Person",
        on_delete=models.CASCADE,
        null=True,
        blank=True,
        related_name="credentials",
    )
    visitor = models.ForeignKey(
        "Visitor", on_delete=models.CASCADE, null=True, blank=True, related_name="credentials"
    )
    kind = models.CharField(_("kind"), max_length=12, choices=Kind.choices)
    # Cards: the normalised UID (hex). QR: the pass's own id. PIN: a keyed digest.
    # Face and fingerprint: the template's id in the biometrics store, never the template.
    value = models.CharField(_("value"), max_length=128)
    status = models.CharField(
        _("status"), max_length=10, choices=Status.choices, default=Status.ACTIVE
    )
    valid_from = models.DateTimeField(_("valid from"), null=True, blank=True)
    valid_until = models.DateTimeField(_("valid until"), null=True, blank=True)
    replaced_by = models.OneToOneField(
        "self", on_delete=models.SET_NULL, null=True, blank=True, related_name="replaces"
    )
    status_reason = models.CharField(_("reason"), max_length=200, blank=True)
    issued_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    changed_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name = _("credential")
        verbose_name_plural = _("credentials")
        constraints = [
            models.UniqueConstraint(
                fields=["school", "kind", "value"], name="credential_unique_in_school"
            ),
            models.CheckConstraint(
                condition=models.Q(person__isnull=False, visitor__isnull=True)
                | models.Q(person__isnull=True, visitor__isnull=False),
                name="credential_has_one_holder",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} {self.value[-4:]}"


class ExitPermit(SchoolOwned):
    """Leave for a young pupil to go out during lessons, on one day, from a time."""

    pupil = models.ForeignKey("people.Pupil", on_delete=models.CASCADE, related_name="exit_permits")
    date = models.DateField(_("date"))
    leave_from = models.TimeField(_("may leave from"))
    reason = models.CharField(_("reason"), max_length=300)
    issued_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    issued_as = models.CharField(
        _("issued as"),
        max_length=20,
        choices=[("class_teacher", _("Class teacher")), ("guardian", _("Guardian"))],
    )
    cancelled_at = models.DateTimeField(_("cancelled"), null=True, blank=True)
    used_at = models.DateTimeField(_("used"), null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        verbose_name = _("exit permit")
        verbose_name_plural = _("exit permits")
        indexes = [models.Index(fields=["pupil", "date"])]


class Visitor(SchoolOwned):
    """A visitor the guard registered or staff expected. Never a copy of an ID document."""

    class Status(models.TextChoices):
        EXPECTED = "expected", _("Expected")
        INSIDE = "inside", _("Inside")
        LEFT = "left", _("Left")
        CANCELLED = "cancelled", _("Cancelled")

    full_name = models.CharField(_("full name"), max_length=300)
    phone = models.CharField(_("phone"), max_length=16, blank=True)
    host = models.CharField(_("whom they visit"), max_length=300)
    purpose = models.CharField(_("why"), max_length=300)
    valid_from = models.DateTimeField(_("pass valid from"))
    valid_until = models.DateTimeField(_("pass valid until"))
    doors = models.ManyToManyField(Door, blank=True, related_name="+", verbose_name=_("doors"))
    status = models.CharField(
        _("status"), max_length=10, choices=Status.choices, default=Status.EXPECTED
    )
    registered_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    signed_in_at = models.DateTimeField(_("signed in"), null=True, blank=True)
    signed_out_at = models.DateTimeField(_("signed out"), null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        verbose_name = _("visitor")
        verbose_name_plural = _("visitors")
        ordering = ["-valid_from"]

    def __str__(self) -> str:
        return self.full_name


class WatchEntry(SchoolOwned):
    """A person the guard must be alerted about (a parent barred by a court order…)."""

    full_name = models.CharField(_("full name"), max_length=300)
    phone = models.CharField(_("phone"), max_length=16, blank=True)
    # When the barred person is known to the school (a guardian), their credentials alert too.
    person = models.ForeignKey(
        "people.Person", on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    reason = models.CharField(_("reason"), max_length=300)
    valid_until = models.DateField(_("valid until"), null=True, blank=True)
    is_active = models.BooleanField(_("active"), default=True)
    added_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        verbose_name = _("watch-list entry")
        verbose_name_plural = _("watch list")

    def __str__(self) -> str:
        return self.full_name


class WatchAlert(SchoolOwned):
    """The guard was alerted: a watched person was registered or their credential was used."""

    entry = models.ForeignKey(WatchEntry, on_delete=models.CASCADE, related_name="alerts")
    visitor = models.ForeignKey(
        Visitor, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    event = models.ForeignKey(
        "AccessEvent", on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    acknowledged_at = models.DateTimeField(_("acknowledged"), null=True, blank=True)
    acknowledged_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )

    class Meta:
        verbose_name = _("watch-list alert")
        verbose_name_plural = _("watch-list alerts")
        ordering = ["-created_at"]


class AccessEvent(SchoolOwned):
    """One pass or refusal at a door, placed by the time it happened.

    ``(device, record_no)`` is the idempotency key: the device's own record number.
    """

    device = models.ForeignKey(Device, on_delete=models.PROTECT, related_name="events")
    record_no = models.CharField(_("device record number"), max_length=64)
    door = models.ForeignKey(Door, on_delete=models.PROTECT, null=True, related_name="+")
    direction = models.CharField(_("direction"), max_length=3, choices=Direction.choices)
    occurred_at = models.DateTimeField(_("time"))
    received_at = models.DateTimeField(_("received"), auto_now_add=True)
    person = models.ForeignKey(
        "people.Person", on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    visitor = models.ForeignKey(
        Visitor, on_delete=models.SET_NULL, null=True, blank=True, related_name="events"
    )
    credential = models.ForeignKey(
        Credential, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    credential_kind = models.CharField(_("credential kind"), max_length=12, blank=True)
    # What was presented when no credential matched (normalised card UID), for the guard.
    presented = models.CharField(_("presented"), max_length=128, blank=True)
    allowed = models.BooleanField(_("allowed"))
    reason = models.CharField(_("reason"), max_length=40)
    clock_skew_seconds = models.IntegerField(_("device clock skew, s"), default=0)
    clock_flagged = models.BooleanField(_("device clock off"), default=False)

    class Meta:
        verbose_name = _("access event")
        verbose_name_plural = _("access events")
        constraints = [
            models.UniqueConstraint(fields=["device", "record_no"], name="event_idempotency_key")
        ]
        indexes = [
            models.Index(fields=["school", "occurred_at"]),
            models.Index(fields=["person", "occurred_at"]),
        ]


class Presence(SchoolOwned):
    """Where a person is now, from the latest pass by event time (not arrival time)."""

    person = models.ForeignKey("people.Person", on_delete=models.CASCADE, related_name="+")
    # Empty: outside the school.
    zone = models.ForeignKey(Zone, on_delete=models.SET_NULL, null=True, blank=True)
    since = models.DateTimeField(_("since"))
    door = models.ForeignKey(
        Door, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    direction = models.CharField(max_length=3, choices=Direction.choices)

    class Meta:
        verbose_name = _("presence")
        verbose_name_plural = _("presence")
        constraints = [
            models.UniqueConstraint(fields=["school", "person"], name="presence_one_per_person")
        ]
        indexes = [models.Index(fields=["school", "zone"])]


class DailyAttendance(SchoolOwned):
    """A person's day: first entry and last exit (kept by min/max, so late uploads fit)."""

    person = models.ForeignKey("people.Person", on_delete=models.CASCADE, related_name="+")
    date = models.DateField(_("date"))
    first_in = models.DateTimeField(_("first entry"), null=True, blank=True)
    last_out = models.DateTimeField(_("last exit"), null=True, blank=True)

    class Meta:
        verbose_name = _("attendance day")
        verbose_name_plural = _("attendance")
        constraints = [
            models.UniqueConstraint(
                fields=["school", "person", "date"], name="attendance_one_per_day"
            )
        ]
        indexes = [models.Index(fields=["school", "date"])]


class Excuse(SchoolOwned):
    """Why a pupil is away (ill, family), for days; entered by a guardian or a teacher."""

    pupil = models.ForeignKey("people.Pupil", on_delete=models.CASCADE, related_name="excuses")
    starts_on = models.DateField(_("from"))
    ends_on = models.DateField(_("until"))
    reason = models.CharField(_("reason"), max_length=300)
    entered_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        verbose_name = _("excused absence")
        verbose_name_plural = _("excused absences")
        constraints = [
            models.CheckConstraint(
                condition=models.Q(ends_on__gte=models.F("starts_on")),
                name="excuse_ends_after_start",
            )
        ]


class AbsenceAlert(SchoolOwned):
    """The class teacher was told that a pupil has been away ``days`` school days running."""

    pupil = models.ForeignKey("people.Pupil", on_delete=models.CASCADE, related_name="+")
    date = models.DateField(_("date"))
    days = models.PositiveSmallIntegerField(_("days absent"))
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["school", "pupil", "date"], name="absence_alert_once")
        ]


class TrustedAdult(SchoolOwned):
    """An adult a guardian allows to collect the child (a grandmother, a neighbour)."""

    pupil = models.ForeignKey("people.Pupil", on_delete=models.CASCADE, related_name="trusted")
    full_name = models.CharField(_("full name"), max_length=300)
    phone = models.CharField(_("phone"), max_length=16, blank=True)
    relation = models.CharField(_("who they are"), max_length=100)
    added_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    revoked_at = models.DateTimeField(_("revoked"), null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        verbose_name = _("trusted adult")
        verbose_name_plural = _("trusted adults")

    def __str__(self) -> str:
        return self.full_name


class PickUp(SchoolOwned):
    """A child handed over: who took them, when, and which staff member saw it."""

    pupil = models.ForeignKey("people.Pupil", on_delete=models.CASCADE, related_name="pickups")
    guardian = models.ForeignKey(
        "people.Guardian", on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    trusted_adult = models.ForeignKey(
        TrustedAdult, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    picked_up_at = models.DateTimeField(_("picked up"))
    recorded_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )

    class Meta:
        verbose_name = _("pick-up")
        verbose_name_plural = _("pick-ups")
        ordering = ["-picked_up_at"]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(guardian__isnull=False) | models.Q(trusted_adult__isnull=False),
                name="pickup_names_who",
            )
        ]


class RollCall(SchoolOwned):
    """An evacuation roll call: who was inside at the alarm, ticked off at the assembly point."""

    started_at = models.DateTimeField(_("alarm"))
    started_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    ended_at = models.DateTimeField(_("ended"), null=True, blank=True)

    class Meta:
        verbose_name = _("roll call")
        verbose_name_plural = _("roll calls")
        ordering = ["-started_at"]


class RollCallEntry(SchoolOwned):
    roll_call = models.ForeignKey(RollCall, on_delete=models.CASCADE, related_name="entries")
    person = models.ForeignKey(
        "people.Person", on_delete=models.CASCADE, null=True, blank=True, related_name="+"
    )
    visitor = models.ForeignKey(
        Visitor, on_delete=models.CASCADE, null=True, blank=True, related_name="+"
    )
    zone = models.ForeignKey(Zone, on_delete=models.SET_NULL, null=True, blank=True)
    accounted_at = models.DateTimeField(_("accounted for"), null=True, blank=True)
    accounted_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )

    class Meta:
        verbose_name = _("roll-call line")
        verbose_name_plural = _("roll-call lines")
