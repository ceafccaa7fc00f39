from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest
from django.utils.translation import gettext_lazy as _

from kezekshi.core.errors import ServiceError
from kezekshi.privacy import services
from kezekshi.privacy.models import Consent, PolicyVersion


@admin.register(PolicyVersion)
class PolicyVersionAdmin(admin.ModelAdmin):
    """Platform operators draft and publish the policy here; published texts are read-only."""

    list_display = ["number", "operator_name", "published_at", "content_hash"]
    readonly_fields = ["content_hash", "published_at", "published_by"]
    actions = ["publish"]

    def get_readonly_fields(
        self, request: HttpRequest, obj: PolicyVersion | None = None
    ) -> list[str]:
        if obj is not None and obj.published_at is not None:
            return [field.name for field in PolicyVersion._meta.fields]
        return list(self.readonly_fields)

    def has_delete_permission(self, request: HttpRequest, obj: PolicyVersion | None = None) -> bool:
        return obj is None or obj.published_at is None

    @admin.action(description=_("Publish the selected draft"))
    def publish(self, request: HttpRequest, queryset: QuerySet[PolicyVersion]) -> None:
        for policy in queryset:
            try:
                services.publish_policy(policy=policy, by=request.user)  # type: ignore[arg-type]
            except ServiceError as exc:
                self.message_user(request, str(exc.message), messages.ERROR)
            else:
                self.message_user(request, _("Published."), messages.SUCCESS)


@admin.register(Consent)
class ConsentAdmin(admin.ModelAdmin):
    """The ledger, read-only: it can be inspected, never edited."""

    list_display = ["created_at", "kind", "decision", "subject_user", "subject_person", "given_by"]
    list_filter = ["kind", "decision", "channel"]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Consent | None = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Consent | None = None) -> bool:
        return False
