from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class NotificationsConfig(AppConfig):
    name = "kezekshi.notifications"
    label = "notifications"
    verbose_name = _("Notifications")

    def ready(self) -> None:
        # Importing registers the section of everything held about a user.
        from kezekshi.notifications import privacy_hooks  # noqa: F401
