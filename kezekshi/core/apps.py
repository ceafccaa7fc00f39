from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class CoreConfig(AppConfig):
    name = "kezekshi.core"
    label = "core"
    verbose_name = _("Schools and calendar")

    def ready(self) -> None:
        from kezekshi.core import bulk  # noqa: F401  (registers the ``among`` lookup)
