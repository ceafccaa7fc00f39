"""Personal-data protection: policy versions, the consent ledger, the audit log, subject
requests, blocking, disclosures, breaches, request metadata.

The consent ledger and the audit log are append-only three times over: the models
refuse updates and deletes, database triggers refuse them too (migration 0002), and a
hash chain shows any change made around both.
"""

from __future__ import annotations

from typing import Any, ClassVar

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _

from kezekshi.core.models import School
from kezekshi.people.models import Person


class Kind(models.TextChoices):
    """What a consent covers. Biometric kinds are separate, per child and per kind."""

    PROCESSING = "processing", _("Processing of personal data")
    FACE = "face", _("Face image (biometric)")
    FINGERPRINT = "fingerprint", _("Fingerprint (biometric)")
    PALM = "palm", _("Palm image (biometric)")


BIOMETRIC_KINDS = (Kind.FACE, Kind.FINGERPRINT, Kind.PALM)


class AppendOnlyError(Exception):
    """Raised when code tries to change or delete a ledger row."""


class AppendOnlyQuerySet(models.QuerySet[Any]):
    def update(self, **kwargs: Any) -> int:
        raise AppendOnlyError(f"{self.model.__name__} rows cannot be changed")

    def delete(self) -> tuple[int, dict[str, int]]:
        raise AppendOnlyError(f"{self.model.__name__} rows cannot be deleted")


class AppendOnly(models.Model):
    """A row that can be written once and never changed or deleted by the application."""

    objects: ClassVar[Any] = AppendOnlyQuerySet.as_manager()
    prev_hash = models.CharField(max_length=64, editable=False)
    entry_hash = models.CharField(max_length=64, editable=False, unique=True)

    class Meta:
        abstract = True

    def save(self, *args: Any, **kwargs: Any) -> None:
        if not self._state.adding:
            raise AppendOnlyError(f"{type(self).__name__} rows cannot be changed")
        super().save(*args, **kwargs)

    def delete(self, *args: Any, **kwargs: Any) -> tuple[int, dict[str, int]]:
        raise AppendOnlyError(f"{type(self).__name__} rows cannot be deleted")


class ChainHead(models.Model):
    """The last hash of each chain (one per school and ledger); locked while appending."""

    name = models.CharField(max_length=64, unique=True)
    last_hash = models.CharField(max_length=64)

    def __str__(self) -> str:
        return self.name


class PolicyVersion(models.Model):
    """A version of the personal-data policy, in three languages. Published ones never change."""

    number = models.PositiveIntegerField(_("version"), unique=True)
    operator_name = models.CharField(_("operator"), max_length=300)
    operator_bin = models.CharField(_("operator's BIN"), max_length=12)
    text_kk = models.TextField(_("text (Kazakh)"))
    text_ru = models.TextField(_("text (Russian)"))
    text_en = models.TextField(_("text (English)"))
    content_hash = models.CharField(max_length=64, blank=True, editable=False)
    published_at = models.DateTimeField(_("published"), null=True, blank=True)
    published_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        verbose_name = _("policy version")
        verbose_name_plural = _("policy versions")
        ordering = ["-number"]

    def __str__(self) -> str:
        return f"{_('Policy')} v{self.number}"

    def text(self, language: str) -> str:
        return str(getattr(self, f"text_{language[:2]}", "") or self.text_ru)


class Consent(AppendOnly):
    """One line of the consent ledger: a grant, a withdrawal, an objection or a refusal."""

    class Decision(models.TextChoices):
        GRANT = "grant", _("Consent given")
        WITHDRAW = "withdraw", _("Consent withdrawn")
        OBJECT = "object", _("Objection of a legal representative")
        CHILD_REFUSAL = "child_refusal", _("Refusal of the child")

    class Channel(models.TextChoices):
        SMS_CHECKBOX = "sms_checkbox", _("SMS code and a ticked box")
        STAFF = "staff", _("Recorded by staff")
        PAPER = "paper", _("Signed on paper, recorded by staff")

    # NULL for a parent's consent about themselves: that is not one school's row.
    school = models.ForeignKey(School, on_delete=models.PROTECT, null=True, blank=True)
    subject_user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="consents_about_me",
    )
    subject_person = models.ForeignKey(
        Person, on_delete=models.PROTECT, null=True, blank=True, related_name="consents"
    )
    kind = models.CharField(_("kind"), max_length=20, choices=Kind.choices)
    decision = models.CharField(_("decision"), max_length=20, choices=Decision.choices)
    given_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="consents_given"
    )
    as_representative = models.BooleanField(_("as legal representative"), default=False)
    policy = models.ForeignKey(PolicyVersion, on_delete=models.PROTECT, null=True, blank=True)
    policy_hash = models.CharField(max_length=64, blank=True)
    channel = models.CharField(_("channel"), max_length=20, choices=Channel.choices)
    phone = models.CharField(_("verified phone"), max_length=16, blank=True)
    ip = models.GenericIPAddressField(_("IP address"), null=True, blank=True)
    user_agent = models.CharField(_("browser or app"), max_length=300, blank=True)
    note = models.CharField(_("note"), max_length=300, blank=True)
    created_at = models.DateTimeField(_("time"))

    class Meta:
        verbose_name = _("consent record")
        verbose_name_plural = _("consent ledger")
        ordering = ["id"]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(subject_user__isnull=False)
                | models.Q(subject_person__isnull=False),
                name="consent_has_subject",
            )
        ]
        indexes = [models.Index(fields=["school", "subject_person", "kind"])]

    def __str__(self) -> str:
        decision, kind = self.get_decision_display(), self.get_kind_display()
        return f"{decision} · {kind} · {self.created_at:%Y-%m-%d}"


class AuditEntry(AppendOnly):
    """Who did what to whose personal data, when. Chained per school."""

    class Action(models.TextChoices):
        VIEW = "view", _("Viewed a person's card")
        EXPORT = "export", _("Exported personal data")
        CHANGE = "change", _("Changed personal data")
        IMPORT = "import", _("Imported people")
        BLOCK = "block", _("Blocked a person's data")
        UNBLOCK = "unblock", _("Unblocked a person's data")
        ERASE = "erase", _("Erased personal data")
        DISCLOSE = "disclose", _("Disclosed data to a state body")
        CONSENT = "consent", _("Recorded a consent decision")
        REQUEST = "request", _("Handled a subject request")
        BREACH = "breach", _("Recorded or reported a breach")
        REFUSED = "refused", _("Refused an action")
        RETENTION = "retention", _("Applied the retention rules")

    school = models.ForeignKey(School, on_delete=models.PROTECT, null=True, blank=True)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    action = models.CharField(_("action"), max_length=20, choices=Action.choices)
    person = models.ForeignKey(
        Person, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    # Kept as text too, so the entry still reads after the person is erased.
    person_label = models.CharField(_("person (as named then)"), max_length=300, blank=True)
    target = models.CharField(_("object"), max_length=200, blank=True)
    details = models.JSONField(_("details"), default=dict, blank=True)
    ip = models.GenericIPAddressField(_("IP address"), null=True, blank=True)
    created_at = models.DateTimeField(_("time"), db_index=True)

    class Meta:
        verbose_name = _("audit entry")
        verbose_name_plural = _("audit log")
        ordering = ["id"]
        indexes = [
            models.Index(fields=["school", "person", "created_at"]),
            models.Index(fields=["school", "actor", "created_at"]),
        ]

    def __str__(self) -> str:
        return f"{self.created_at:%Y-%m-%d %H:%M} {self.action} {self.person_label}"


class SubjectRequest(models.Model):
    """A request of a data subject (or their representative) under the personal-data law."""

    class Kind(models.TextChoices):
        ACCESS = "access", _("See the data held")
        EXPORT = "export", _("Export the data")
        RECTIFY = "rectify", _("Correct the data")
        BLOCK = "block", _("Block the data")
        UNBLOCK = "unblock", _("Unblock the data")
        ERASE = "erase", _("Erase the data")
        WITHDRAW = "withdraw", _("Withdraw consent")

    class Status(models.TextChoices):
        OPEN = "open", _("Open")
        DONE = "done", _("Done")
        REFUSED = "refused", _("Refused")

    school = models.ForeignKey(School, on_delete=models.PROTECT, null=True, blank=True)
    kind = models.CharField(_("request"), max_length=20, choices=Kind.choices)
    status = models.CharField(
        _("status"), max_length=20, choices=Status.choices, default=Status.OPEN
    )
    subject_person = models.ForeignKey(
        Person, on_delete=models.SET_NULL, null=True, blank=True, related_name="subject_requests"
    )
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="subject_requests"
    )
    payload = models.JSONField(_("details"), default=dict, blank=True)
    created_at = models.DateTimeField(_("received"))
    deadline = models.DateTimeField(_("deadline"))
    resolved_at = models.DateTimeField(_("resolved"), null=True, blank=True)
    resolved_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    resolution = models.TextField(_("answer"), blank=True)

    class Meta:
        verbose_name = _("subject request")
        verbose_name_plural = _("subject requests")
        ordering = ["deadline"]
        indexes = [models.Index(fields=["school", "status", "deadline"])]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} · {self.created_at:%Y-%m-%d}"


class Disclosure(models.Model):
    """The register of data given to state bodies."""

    school = models.ForeignKey(School, on_delete=models.PROTECT)
    person = models.ForeignKey(Person, on_delete=models.PROTECT, related_name="disclosures")
    body = models.CharField(_("state body"), max_length=300)
    legal_ground = models.CharField(_("legal ground"), max_length=300)
    request_number = models.CharField(_("request number"), max_length=100)
    data_sent = models.TextField(_("data sent"))
    disclosed_on = models.DateField(_("date"))
    # The law lets some bodies (investigations) keep a disclosure from the subject.
    visible_to_subject = models.BooleanField(_("the subject may see it"), default=True)
    recorded_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        verbose_name = _("disclosure")
        verbose_name_plural = _("disclosures")
        ordering = ["-disclosed_on", "-id"]

    def __str__(self) -> str:
        return f"{self.body} №{self.request_number} ({self.disclosed_on})"


class Breach(models.Model):
    """A personal-data incident: loss, leak or unlawful access."""

    school = models.ForeignKey(School, on_delete=models.PROTECT)
    detected_at = models.DateTimeField(_("detected"))
    description = models.TextField(_("what happened"))
    measures = models.TextField(_("measures taken"))
    responsible_name = models.CharField(_("responsible person"), max_length=200)
    responsible_phone = models.CharField(_("responsible person's phone"), max_length=16)
    responsible_email = models.EmailField(_("responsible person's e-mail"), blank=True)
    affected = models.ManyToManyField(Person, related_name="breaches", verbose_name=_("affected"))
    authority_notified_at = models.DateTimeField(_("authority notified"), null=True, blank=True)
    subjects_notified_at = models.DateTimeField(_("subjects notified"), null=True, blank=True)
    recorded_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        verbose_name = _("breach")
        verbose_name_plural = _("breaches")
        ordering = ["-detected_at"]

    def __str__(self) -> str:
        return f"{self.detected_at:%Y-%m-%d}: {self.description[:60]}"


class BiometricErasure(models.Model):
    """An order to erase a person's biometric templates (and remove them from devices).

    Written by privacy when consent is withdrawn or retention runs out; carried out by
    the biometrics and devices apps, which mark it done.
    """

    school = models.ForeignKey(School, on_delete=models.CASCADE)
    person = models.ForeignKey(Person, on_delete=models.CASCADE, related_name="+")
    kind = models.CharField(max_length=20, choices=Kind.choices)
    reason = models.CharField(max_length=100)
    ordered_at = models.DateTimeField()
    done_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name = _("biometric erasure")
        verbose_name_plural = _("biometric erasures")
        constraints = [
            models.UniqueConstraint(
                fields=["school", "person", "kind"],
                condition=models.Q(done_at__isnull=True),
                name="one_open_erasure_per_kind",
            )
        ]

    def __str__(self) -> str:
        return f"{self.person_id} {self.kind} {self.reason}"


class RequestRecord(models.Model):
    """Non-personal request metadata (the agreement's list), kept for a retention period."""

    at = models.DateTimeField(_("time"), db_index=True)
    method = models.CharField(_("method"), max_length=8)
    path = models.CharField(_("page"), max_length=300)
    status = models.PositiveSmallIntegerField(_("answer"))
    ip = models.GenericIPAddressField(_("IP address"), null=True)
    user_agent = models.CharField(_("browser or app"), max_length=300, blank=True)
    referrer = models.CharField(_("came from"), max_length=300, blank=True)

    class Meta:
        verbose_name = _("request record")
        verbose_name_plural = _("request records")

    def __str__(self) -> str:
        return f"{self.at:%Y-%m-%d %H:%M:%S} {self.method} {self.path} {self.status}"
