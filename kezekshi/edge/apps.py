from django.apps import AppConfig
from django.conf import settings
from django.utils.translation import gettext_lazy as _


class EdgeConfig(AppConfig):
    name = "kezekshi.edge"
    label = "edge"
    verbose_name = _("Edge gateway")

    def ready(self) -> None:
        # Only the gateway's own process (kezekshi.edge.settings) answers biometric
        # consent from its mirror; the server keeps asking the consent ledger.
        if getattr(settings, "EDGE_GATEWAY", False):
            from kezekshi.edge import mirror

            mirror.answer_biometric_consent_from_mirror()
            mirror.trust_the_mirror_for_devices()
