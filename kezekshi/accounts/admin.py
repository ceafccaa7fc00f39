from django.contrib import admin
from django.contrib.auth.admin import UserAdmin as DjangoUserAdmin

from kezekshi.accounts.models import Membership, User


class MembershipInline(admin.TabularInline):
    model = Membership
    extra = 0


@admin.register(User)
class UserAdmin(DjangoUserAdmin):
    ordering = ["email", "phone"]
    list_display = ["email", "phone", "full_name", "is_active", "is_staff"]
    search_fields = ["email", "phone", "full_name"]
    list_filter = ["is_active", "is_staff", "memberships__role"]
    fieldsets = (
        (None, {"fields": ("email", "phone", "password")}),
        ("", {"fields": ("full_name", "language", "is_active", "is_staff", "is_superuser")}),
    )
    add_fieldsets = ((None, {"fields": ("email", "phone", "password1", "password2")}),)
    filter_horizontal = ()
    inlines = [MembershipInline]
