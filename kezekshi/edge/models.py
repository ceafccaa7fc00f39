"""What the edge gateway keeps about itself: where its mirror stands and which of its
passes the server has answered for. Both tables are empty on the server."""

from __future__ import annotations

from django.db import models
from django.utils.translation import gettext_lazy as _


class UploadedEvent(models.Model):
    """A local pass the server answered for: stored there, or refused for good (``refused``
    holds the server's error code). A pass without this row is still to be uploaded."""

    event = models.OneToOneField(
        "access.AccessEvent", on_delete=models.CASCADE, primary_key=True, related_name="upload"
    )
    refused = models.CharField(_("refused with"), max_length=40, blank=True)
    answered_at = models.DateTimeField(_("answered"))

    class Meta:
        verbose_name = _("uploaded pass")
        verbose_name_plural = _("uploaded passes")

    def __str__(self) -> str:
        return f"{self.event_id}: {self.refused or 'stored'}"


class MirrorState(models.Model):
    """The gateway's one row: the server's cursor of the last sync applied, and health."""

    cursor = models.CharField(max_length=4000, blank=True)
    synced_at = models.DateTimeField(_("last sync"), null=True, blank=True)
    last_error = models.CharField(_("last error"), max_length=300, blank=True)
    last_error_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name = _("mirror state")
        verbose_name_plural = _("mirror state")

    def __str__(self) -> str:
        return f"mirror synced {self.synced_at}"


class SchoolKey(models.Model):
    """A key of the gateway's school, sent with the mirror: ``qr`` checks the school's QR
    passes, ``pin`` digests the PINs typed at its doors. Empty on the server, which
    derives them from its secret (``access.credentials.school_key``)."""

    school = models.ForeignKey("core.School", on_delete=models.CASCADE, related_name="+")
    purpose = models.CharField(max_length=10)
    key = models.CharField(max_length=100)  # base64

    class Meta:
        verbose_name = _("school key")
        verbose_name_plural = _("school keys")
        constraints = [
            models.UniqueConstraint(fields=["school", "purpose"], name="edge_school_key_unique")
        ]

    def __str__(self) -> str:
        return f"{self.school_id}: {self.purpose}"
