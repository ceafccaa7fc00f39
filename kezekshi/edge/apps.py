from django.apps import AppConfig
from django.conf import settings
from django.utils.translation import gettext_lazy as _


class EdgeConfig(AppConfig):
    name = "kezekshi.edge"
    label = "edge"
    verbose_name = _("Edge gateway")

    def ready(self) -> None:
        # Only the gateway's own process (kezekshi.edge.settings) keeps terminals' rows
        # cached until its mirror changes.
        if getattr(settings, "EDGE_GATEWAY", False):
            from kezekshi.edge import mirror

            mirror.trust_the_mirror_for_devices()
