"""What we know about real terminals beyond ``access.Device``: the protocol each speaks,
terminals waiting for approval, the command queue that keeps them in line with our
records, and what each terminal holds (its user table, as far as we commanded it).

Commands are protocol-neutral (``kind`` + ``data``); each adapter renders them: the
ZKTeco adapter as ``C:<id>:DATA UPDATE user ...`` lines at the device's next poll, the
Hikvision client as ISAPI calls.
"""

from __future__ import annotations

from django.db import models
from django.utils.translation import gettext_lazy as _

from kezekshi.access.models import Device
from kezekshi.core.crypto import EncryptedTextField


class Protocol(models.TextChoices):
    NATIVE = "native", _("Kezekshi (signed JSON)")
    ZKTECO_ACC = "zkteco-acc", _("ZKTeco PUSH, access (security) dialect")
    ZKTECO_ATT = "zkteco-att", _("ZKTeco PUSH, attendance dialect")
    HIKVISION = "hikvision", _("Hikvision ISAPI")
    EDGE = "edge", _("Kezekshi edge gateway")


class DecisionMode(models.TextChoices):
    DEVICE = "device", _("The terminal decides from its synced list")
    SERVER = "server", _("The terminal asks the server (online check)")


class Link(models.Model):
    """How we talk to one terminal, and what it last told us about itself."""

    device = models.OneToOneField(Device, on_delete=models.CASCADE, related_name="link")
    protocol = models.CharField(_("protocol"), max_length=20, choices=Protocol.choices)
    decision_mode = models.CharField(
        _("who decides"), max_length=10, choices=DecisionMode.choices, default=DecisionMode.DEVICE
    )
    # ZKTeco: the registration the security dialect negotiates, and the device's options.
    registry_code = models.CharField(max_length=64, blank=True)
    session_id = models.CharField(max_length=64, blank=True)
    # The code and session are derived from the school's key and this number (so the
    # school's edge gateway pairs the terminal exactly as the server would); "pair
    # again" counts it up.
    pairing_epoch = models.PositiveIntegerField(default=0)
    push_version = models.CharField(max_length=20, blank=True)
    options = models.JSONField(default=dict, blank=True)
    # Hikvision: where the terminal listens, and the account we call it with (digest).
    address = models.CharField(_("address (http://host:port)"), max_length=200, blank=True)
    username = models.CharField(_("user name"), max_length=100, blank=True)
    password = EncryptedTextField(_("password"), blank=True)
    # Health, as the terminal reports it.
    users_count = models.PositiveIntegerField(null=True, blank=True)
    users_capacity = models.PositiveIntegerField(null=True, blank=True)
    faces_count = models.PositiveIntegerField(null=True, blank=True)
    faces_capacity = models.PositiveIntegerField(null=True, blank=True)
    events_capacity = models.PositiveIntegerField(null=True, blank=True)
    event_backlog = models.PositiveIntegerField(_("events waiting on the device"), default=0)
    last_error = models.CharField(max_length=300, blank=True)
    last_error_at = models.DateTimeField(null=True, blank=True)
    silent_alerted_at = models.DateTimeField(null=True, blank=True)
    synced_at = models.DateTimeField(_("last full sync"), null=True, blank=True)
    # The school's edge gateway this terminal calls instead of the server (as the
    # gateway last reported): its commands go through the gateway (edge.relay).
    gateway = models.ForeignKey(
        Device,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="relayed_links",
        verbose_name=_("through the gateway"),
    )
    gateway_seen_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name = _("terminal link")
        verbose_name_plural = _("terminal links")

    def __str__(self) -> str:
        return f"{self.device} ({self.protocol})"


class PendingTerminal(models.Model):
    """A terminal that called us with a serial number we do not know: it waits here until
    a school admin binds it to a school and a door (or forgets it)."""

    serial_number = models.CharField(_("serial number"), max_length=100, unique=True)
    protocol = models.CharField(_("protocol"), max_length=20, choices=Protocol.choices)
    remote_addr = models.GenericIPAddressField(_("address"), null=True, blank=True)
    info = models.JSONField(default=dict, blank=True)
    first_seen_at = models.DateTimeField(auto_now_add=True)
    last_seen_at = models.DateTimeField(auto_now=True)
    contacts = models.PositiveIntegerField(default=1)

    class Meta:
        verbose_name = _("terminal waiting for approval")
        verbose_name_plural = _("terminals waiting for approval")
        ordering = ["-last_seen_at"]

    def __str__(self) -> str:
        return f"{self.serial_number} ({self.protocol})"


class Command(models.Model):
    """One change a terminal must apply. ``id`` is the command id the device echoes back."""

    class Kind(models.TextChoices):
        USER_UPSERT = "user.upsert", _("Add or update a person")
        USER_DELETE = "user.delete", _("Remove a person")
        FACE_UPSERT = "face.upsert", _("Send a face photo")
        FACE_DELETE = "face.delete", _("Remove a face photo")
        DOOR_OPEN = "door.open", _("Open the door")
        REBOOT = "device.reboot", _("Restart")
        QUERY_USERS = "device.query_users", _("Count the people held")

    class Status(models.TextChoices):
        PENDING = "pending", _("Waiting")
        SENT = "sent", _("Sent, not yet confirmed")
        DONE = "done", _("Done")
        FAILED = "failed", _("Failed")
        SUPERSEDED = "superseded", _("Replaced by a newer command")

    device = models.ForeignKey(Device, on_delete=models.CASCADE, related_name="commands")
    kind = models.CharField(max_length=30, choices=Kind.choices)
    # user.upsert: {"pin", "name", "card" (decimal), "valid_from", "valid_until" (ISO
    # or null), "doors": [1]}; user.delete/face.*: {"pin"}; door.open: {"door", "seconds"}.
    # A face photo is not copied here: the adapter reads it from the person at sending
    # time, and only while the biometric consent holds. (On an edge gateway a face.upsert
    # relayed from the server carries it as "photo", base64, until the terminal answers.)
    data = models.JSONField(default=dict)
    person = models.ForeignKey(
        "people.Person", on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    status = models.CharField(max_length=12, choices=Status.choices, default=Status.PENDING)
    attempts = models.PositiveSmallIntegerField(default=0)
    return_code = models.IntegerField(null=True, blank=True)
    error = models.CharField(max_length=300, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    sent_at = models.DateTimeField(null=True, blank=True)
    done_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name = _("device command")
        verbose_name_plural = _("device commands")
        ordering = ["id"]
        indexes = [models.Index(fields=["device", "status", "id"])]

    def __str__(self) -> str:
        return f"#{self.pk} {self.kind} → {self.device_id}"


class Enrolment(models.Model):
    """A person as one terminal holds them: the state we last commanded, so a change
    sends exactly the difference."""

    device = models.ForeignKey(Device, on_delete=models.CASCADE, related_name="enrolments")
    pin = models.CharField(max_length=24)
    person = models.ForeignKey(
        "people.Person", on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    digest = models.CharField(max_length=64, blank=True)
    has_face = models.BooleanField(default=False)
    face_confirmed = models.BooleanField(default=False)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name = _("person on a terminal")
        verbose_name_plural = _("persons on terminals")
        constraints = [
            models.UniqueConstraint(fields=["device", "pin"], name="devices_enrolment_unique_pin")
        ]

    def __str__(self) -> str:
        return f"{self.pin} on {self.device_id}"
