"""Persons of a school — pupils, staff, guardians — their classes and guardianships."""

from __future__ import annotations

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import MaxValueValidator, MinValueValidator, RegexValidator
from django.db import models
from django.utils.translation import gettext_lazy as _

from kezekshi.core.crypto import EncryptedTextField, blind_index
from kezekshi.core.models import SchoolOwned
from kezekshi.core.validators import iin_birth_date, iin_sex, validate_iin

# Letters a class may carry: the Kazakh Cyrillic alphabet, without the hard and soft signs.
CLASS_LETTERS = "АӘБВГҒДЕЁЖЗИЙКҚЛМНҢОӨПРСТУҰҮФХҺЦЧШЩЫІЭЮЯ"


class Sex(models.TextChoices):
    MALE = "M", _("Male")
    FEMALE = "F", _("Female")


class Language(models.TextChoices):
    KAZAKH = "kk", _("Kazakh")
    RUSSIAN = "ru", _("Russian")
    ENGLISH = "en", _("English")
    MIXED = "mixed", _("Mixed")


class Person(SchoolOwned):
    """Anyone the school knows by name: a pupil, an employee, a parent.

    The IIN is stored encrypted; ``iin_digest`` (a keyed hash) finds it and keeps it
    unique within the school.
    """

    last_name = models.CharField(_("last name"), max_length=100)
    first_name = models.CharField(_("first name"), max_length=100)
    patronymic = models.CharField(_("patronymic"), max_length=100, blank=True)
    iin = EncryptedTextField(_("IIN"), blank=True, validators=[validate_iin])  # type: ignore[list-item]
    # NULL, not "", for "no IIN": the unique constraint must let many persons lack one.
    iin_digest = models.CharField(  # noqa: DJ001
        _("IIN digest"), max_length=64, null=True, blank=True, editable=False
    )
    birth_date = models.DateField(_("birth date"), null=True, blank=True)
    sex = models.CharField(_("sex"), max_length=1, choices=Sex.choices, blank=True)
    photo = models.ImageField(_("photo"), upload_to="photos/%Y/", blank=True)
    phone = models.CharField(_("phone"), max_length=16, blank=True, db_index=True)
    email = models.EmailField(_("e-mail"), blank=True)
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="persons",
        verbose_name=_("account"),
    )
    # Set while the person's data are blocked (see docs/privacy.md for what that stops).
    blocked_at = models.DateTimeField(_("blocked since"), null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name = _("person")
        verbose_name_plural = _("persons")
        ordering = ["last_name", "first_name"]
        constraints = [
            models.UniqueConstraint(
                fields=["school", "iin_digest"],
                condition=models.Q(iin_digest__isnull=False),
                name="person_iin_unique_in_school",
            )
        ]
        indexes = [models.Index(fields=["school", "last_name", "first_name"])]

    def __str__(self) -> str:
        return self.full_name

    @property
    def full_name(self) -> str:
        return " ".join(part for part in (self.last_name, self.first_name, self.patronymic) if part)

    def clean(self) -> None:
        """The IIN must agree with the birth date and sex on record (filled in when empty)."""
        if not self.iin:
            return
        try:
            self.iin = validate_iin(self.iin)
        except ValidationError as exc:
            raise ValidationError({"iin": exc.messages}) from exc
        born, sex = iin_birth_date(self.iin), iin_sex(self.iin)
        errors = {}
        if self.birth_date and self.birth_date != born:
            errors["birth_date"] = _("The birth date does not match the IIN.")
        if self.sex and self.sex != sex:
            errors["sex"] = _("The sex does not match the IIN.")
        if errors:
            raise ValidationError(errors)
        self.birth_date, self.sex = born, sex

    def save(self, *args: object, **kwargs: object) -> None:
        self.iin_digest = iin_digest(self.iin) if self.iin else None
        super().save(*args, **kwargs)  # type: ignore[arg-type]


def iin_digest(iin: str) -> str:
    return blind_index(f"iin:{iin}")


class SchoolClass(SchoolOwned):
    """A class such as «5 Ә»: grade 0 (pre-school) to 11 and a letter."""

    grade = models.PositiveSmallIntegerField(
        _("grade"), validators=[MinValueValidator(0), MaxValueValidator(11)]
    )
    letter = models.CharField(
        _("letter"),
        max_length=1,
        validators=[
            RegexValidator(
                f"^[{CLASS_LETTERS}]$", _("Use one capital letter of the Kazakh alphabet.")
            )
        ],
    )
    shift = models.PositiveSmallIntegerField(
        _("shift"), default=1, validators=[MinValueValidator(1), MaxValueValidator(2)]
    )
    language = models.CharField(
        _("language of instruction"), max_length=5, choices=Language.choices, default="kk"
    )
    class_teacher = models.ForeignKey(
        "StaffMember",
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="classes",
        verbose_name=_("class teacher"),
    )

    class Meta:
        verbose_name = _("class")
        verbose_name_plural = _("classes")
        ordering = ["grade", "letter"]
        constraints = [
            models.UniqueConstraint(
                fields=["school", "grade", "letter"], name="class_unique_in_school"
            )
        ]

    def __str__(self) -> str:
        return f"{self.grade} {self.letter}"


class Pupil(SchoolOwned):
    """A pupil (or a kindergarten child) with the personal account number for the canteen."""

    person = models.OneToOneField(Person, on_delete=models.CASCADE, related_name="pupil")
    school_class = models.ForeignKey(
        SchoolClass,
        on_delete=models.PROTECT,
        related_name="pupils",
        null=True,
        blank=True,
        verbose_name=_("class"),
    )
    account_number = models.CharField(_("personal account"), max_length=11, unique=True)
    is_active = models.BooleanField(_("studies here"), default=True)
    left_on = models.DateField(_("left the school on"), null=True, blank=True)

    class Meta:
        verbose_name = _("pupil")
        verbose_name_plural = _("pupils")
        constraints = [
            models.UniqueConstraint(
                fields=["school", "account_number"], name="pupil_account_unique_in_school"
            )
        ]

    def __str__(self) -> str:
        return str(self.person)


class StaffMember(SchoolOwned):
    person = models.OneToOneField(Person, on_delete=models.CASCADE, related_name="staff")
    position = models.CharField(_("position"), max_length=200)
    is_active = models.BooleanField(_("works here"), default=True)

    class Meta:
        verbose_name = _("employee")
        verbose_name_plural = _("staff")

    def __str__(self) -> str:
        return str(self.person)


class Guardian(SchoolOwned):
    """A parent or another legal representative, known to this school."""

    person = models.OneToOneField(Person, on_delete=models.CASCADE, related_name="guardian")

    class Meta:
        verbose_name = _("guardian")
        verbose_name_plural = _("guardians")

    def __str__(self) -> str:
        return str(self.person)


class Guardianship(SchoolOwned):
    class Relation(models.TextChoices):
        MOTHER = "mother", _("Mother")
        FATHER = "father", _("Father")
        GRANDPARENT = "grandparent", _("Grandparent")
        GUARDIAN = "guardian", _("Guardian (by law)")
        OTHER = "other", _("Other relative")

    guardian = models.ForeignKey(Guardian, on_delete=models.CASCADE, related_name="wards")
    pupil = models.ForeignKey(Pupil, on_delete=models.CASCADE, related_name="guardianships")
    relation = models.CharField(_("relation"), max_length=20, choices=Relation.choices)
    is_legal_representative = models.BooleanField(_("legal representative"), default=True)
    may_pick_up = models.BooleanField(_("may pick up the child"), default=True)

    class Meta:
        verbose_name = _("guardianship")
        verbose_name_plural = _("guardianships")
        constraints = [
            models.UniqueConstraint(
                fields=["school", "guardian", "pupil"], name="guardianship_unique"
            )
        ]

    def __str__(self) -> str:
        return f"{self.guardian} → {self.pupil}"
