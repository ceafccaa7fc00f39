from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class AccessConfig(AppConfig):
    name = "kezekshi.access"
    label = "access"
    verbose_name = _("Access control")

    def ready(self) -> None:
        from kezekshi.access import privacy_hooks

        privacy_hooks.register()
