"""The tenant (School), its calendar, and the base every school-owned row stands on."""

from __future__ import annotations

from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.utils.translation import get_language
from django.utils.translation import gettext_lazy as _

from kezekshi.core.validators import validate_bin


class TranslatedName(models.Model):
    """A name kept in Kazakh, Russian and English; ``name`` picks the active language."""

    name_kk = models.CharField(_("name (Kazakh)"), max_length=200)
    name_ru = models.CharField(_("name (Russian)"), max_length=200)
    name_en = models.CharField(_("name (English)"), max_length=200, blank=True)

    class Meta:
        abstract = True

    def __str__(self) -> str:
        return self.name

    @property
    def name(self) -> str:
        language = (get_language() or "kk")[:2]
        return str(getattr(self, f"name_{language}", "") or self.name_kk)


class Region(TranslatedName):
    """An oblast or a city of republican significance; authority viewers see one region."""

    code = models.SlugField(_("code"), max_length=40, unique=True)

    class Meta:
        verbose_name = _("region")
        verbose_name_plural = _("regions")
        ordering = ["name_kk"]


class School(TranslatedName):
    """The tenant: a school or a kindergarten. Every school-owned row points here."""

    class Kind(models.TextChoices):
        SCHOOL = "school", _("School")
        KINDERGARTEN = "kindergarten", _("Kindergarten")

    class Ownership(models.TextChoices):
        STATE = "state", _("State")
        PRIVATE = "private", _("Private")

    bin = models.CharField(_("BIN"), max_length=12, unique=True, validators=[validate_bin])  # type: ignore[list-item]
    kind = models.CharField(_("kind"), max_length=20, choices=Kind.choices, default=Kind.SCHOOL)
    ownership = models.CharField(
        _("ownership"), max_length=20, choices=Ownership.choices, default=Ownership.STATE
    )
    region = models.ForeignKey(
        Region, on_delete=models.PROTECT, related_name="schools", verbose_name=_("region")
    )
    district = models.CharField(_("district"), max_length=200, blank=True)
    address = models.CharField(_("address"), max_length=300)
    # Four digits that start every pupil's personal account number, so a payment agent's
    # bare account number leads to its school.
    account_prefix = models.PositiveIntegerField(
        _("account number prefix"),
        unique=True,
        validators=[MinValueValidator(1000), MaxValueValidator(9999)],
    )
    # The last serial handed out for a personal account number (see people.services).
    last_account_serial = models.PositiveIntegerField(default=0, editable=False)
    working_days_per_week = models.PositiveSmallIntegerField(
        _("school days per week"),
        default=5,
        validators=[MinValueValidator(5), MaxValueValidator(6)],
    )
    is_active = models.BooleanField(_("active"), default=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        verbose_name = _("school")
        verbose_name_plural = _("schools")
        ordering = ["name_kk"]


class SchoolOwned(models.Model):
    """Base for every row that belongs to one school (the tenant key, see ARCHITECTURE)."""

    school = models.ForeignKey(School, on_delete=models.CASCADE, verbose_name=_("school"))

    class Meta:
        abstract = True


class Shift(SchoolOwned):
    """A school shift (first or second) with its start and end times."""

    number = models.PositiveSmallIntegerField(
        _("shift"), validators=[MinValueValidator(1), MaxValueValidator(2)]
    )
    starts_at = models.TimeField(_("starts at"))
    ends_at = models.TimeField(_("ends at"))

    class Meta:
        verbose_name = _("shift")
        verbose_name_plural = _("shifts")
        ordering = ["school", "number"]
        constraints = [
            models.UniqueConstraint(fields=["school", "number"], name="shift_unique_per_school"),
            models.CheckConstraint(
                condition=models.Q(ends_at__gt=models.F("starts_at")), name="shift_ends_after_start"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.number}: {self.starts_at:%H:%M}–{self.ends_at:%H:%M}"


class Lesson(SchoolOwned):
    """One line of the bell schedule: lesson N of a shift."""

    shift = models.ForeignKey(Shift, on_delete=models.CASCADE, related_name="lessons")
    number = models.PositiveSmallIntegerField(_("lesson"))
    starts_at = models.TimeField(_("starts at"))
    ends_at = models.TimeField(_("ends at"))

    class Meta:
        verbose_name = _("lesson bell")
        verbose_name_plural = _("bell schedule")
        ordering = ["shift", "number"]
        constraints = [
            models.UniqueConstraint(
                fields=["school", "shift", "number"], name="lesson_unique_per_shift"
            ),
            models.CheckConstraint(
                condition=models.Q(ends_at__gt=models.F("starts_at")),
                name="lesson_ends_after_start",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.number}. {self.starts_at:%H:%M}–{self.ends_at:%H:%M}"


class AcademicYear(SchoolOwned):
    starts_on = models.DateField(_("starts on"))
    ends_on = models.DateField(_("ends on"))

    class Meta:
        verbose_name = _("academic year")
        verbose_name_plural = _("academic years")
        ordering = ["school", "-starts_on"]
        constraints = [
            models.UniqueConstraint(fields=["school", "starts_on"], name="year_unique_per_school"),
            models.CheckConstraint(
                condition=models.Q(ends_on__gt=models.F("starts_on")), name="year_ends_after_start"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.starts_on.year}–{self.ends_on.year}"


class Vacation(SchoolOwned):
    """School holidays (каникулы) or any other day range the school does not work."""

    name = models.CharField(_("name"), max_length=200)
    starts_on = models.DateField(_("starts on"))
    ends_on = models.DateField(_("ends on"))

    class Meta:
        verbose_name = _("vacation")
        verbose_name_plural = _("vacations")
        ordering = ["school", "starts_on"]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(ends_on__gte=models.F("starts_on")),
                name="vacation_ends_after_start",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.name} ({self.starts_on}–{self.ends_on})"


class CalendarDay(TranslatedName):
    """A dated exception to the national calendar, entered per year.

    Fixed-date holidays come from ``kezekshi.core.calendar`` by rule; this table holds
    what moves: Kurban Ait, and the government's transfers of days off (a weekday off,
    and the Saturday that is worked instead).
    """

    class Kind(models.TextChoices):
        HOLIDAY = "holiday", _("Public holiday (movable)")
        DAY_OFF = "day_off", _("Transferred day off")
        WORKING_DAY = "working_day", _("Transferred working day")

    date = models.DateField(_("date"), unique=True)
    kind = models.CharField(_("kind"), max_length=20, choices=Kind.choices)

    class Meta:
        verbose_name = _("calendar exception")
        verbose_name_plural = _("calendar exceptions")
        ordering = ["date"]

    def __str__(self) -> str:
        return f"{self.date}: {self.name}"


class SmsMessage(models.Model):
    """Every SMS we send, as the backend left it (the development outbox reads this)."""

    class Status(models.TextChoices):
        RECORDED = "recorded", _("Recorded (development outbox)")
        SENT = "sent", _("Sent")
        FAILED = "failed", _("Failed")

    phone = models.CharField(_("phone"), max_length=16, db_index=True)
    text = models.TextField(_("text"))
    status = models.CharField(_("status"), max_length=10, choices=Status.choices)
    provider_id = models.CharField(_("gateway's message id"), max_length=100, blank=True)
    error = models.TextField(_("error"), blank=True)
    created_at = models.DateTimeField(_("sent"), auto_now_add=True, db_index=True)

    class Meta:
        verbose_name = _("SMS message")
        verbose_name_plural = _("SMS messages")
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return f"{self.phone} {self.created_at:%Y-%m-%d %H:%M}"
