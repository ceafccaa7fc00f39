"""Notifications to people: the in-app feed and what was sent through each channel."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _

from kezekshi.core.models import SchoolOwned


class Notification(SchoolOwned):
    """One notice to one user, written in their language in the transaction that caused it.

    ``key`` says what caused it (``pass:<event id>``…); with the recipient it is unique,
    so a replayed cause never notifies twice. ``status`` moves pending → sent/failed once,
    under a row lock, in the same transaction as the delivery record.
    """

    class Kind(models.TextChoices):
        PASS = "pass", _("Entry and exit")
        ABSENCE = "absence", _("Absence")
        WATCH = "watch", _("Watch-list alert")
        EMERGENCY = "emergency", _("Emergency")
        PICKUP = "pickup", _("Pick-up")
        DEVICE = "device", _("Terminal")
        CANTEEN = "canteen", _("Canteen")

    class Status(models.TextChoices):
        PENDING = "pending", _("Waiting to be sent")
        SENT = "sent", _("Sent")
        FAILED = "failed", _("Failed")
        FEED_ONLY = "feed_only", _("In the app only")

    recipient = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="notifications"
    )
    # The person the notice is about (the child), when there is one.
    person = models.ForeignKey(
        "people.Person", on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    kind = models.CharField(_("kind"), max_length=20, choices=Kind.choices)
    key = models.CharField(max_length=100)
    text = models.CharField(_("text"), max_length=500)
    status = models.CharField(
        _("status"), max_length=10, choices=Status.choices, default=Status.PENDING
    )
    channel = models.CharField(_("channel"), max_length=20, blank=True)
    created_at = models.DateTimeField(_("created"), auto_now_add=True, db_index=True)
    sent_at = models.DateTimeField(_("sent"), null=True, blank=True)
    read_at = models.DateTimeField(_("read"), null=True, blank=True)

    class Meta:
        verbose_name = _("notification")
        verbose_name_plural = _("notifications")
        ordering = ["-created_at", "-id"]
        constraints = [
            models.UniqueConstraint(fields=["recipient", "key"], name="notification_once_per_cause")
        ]
        indexes = [models.Index(fields=["status", "created_at"])]

    def __str__(self) -> str:
        return self.text
