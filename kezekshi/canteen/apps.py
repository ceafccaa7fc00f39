from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class CanteenConfig(AppConfig):
    name = "kezekshi.canteen"
    label = "canteen"
    verbose_name = _("Canteen")

    def ready(self) -> None:
        from kezekshi.canteen import privacy_hooks  # noqa: F401 - registers its section
