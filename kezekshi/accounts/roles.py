"""Roles and what each may do. The one permission table every view and API handler uses."""

from __future__ import annotations

from django.db import models
from django.utils.translation import gettext_lazy as _


class Role(models.TextChoices):
    SCHOOL_ADMIN = "school_admin", _("School administrator")
    GUARD = "guard", _("Security guard")
    CASHIER = "cashier", _("Canteen cashier")
    ACCOUNTANT = "accountant", _("Accountant")
    LIBRARIAN = "librarian", _("Librarian")
    CLASS_TEACHER = "class_teacher", _("Class teacher")
    SOCIAL_PEDAGOGUE = "social_pedagogue", _("Social pedagogue")
    DPO = "dpo", _("Data-protection officer")
    PARENT = "parent", _("Parent")
    AUTHORITY_VIEWER = "authority_viewer", _("Education authority viewer")
    PLATFORM_OPERATOR = "platform_operator", _("Platform operator")


SCHOOL_ROLES = frozenset(Role) - {Role.AUTHORITY_VIEWER, Role.PLATFORM_OPERATOR}
STAFF_ROLES = SCHOOL_ROLES - {Role.PARENT}
# Roles that must confirm every staff sign-in with a TOTP code.
TWO_FACTOR_ROLES = frozenset({Role.SCHOOL_ADMIN, Role.PLATFORM_OPERATOR})


class Perm(models.TextChoices):
    PORTAL = "portal.use", _("Use the staff portal")
    PEOPLE_VIEW = "people.view", _("See pupils, staff and guardians")
    PEOPLE_IMPORT = "people.import", _("Import and export people")
    SCHOOL_MANAGE = "school.manage", _("Manage the school and its staff")
    AUDIT_VIEW = "audit.view", _("See the audit log")
    PRIVACY_REQUESTS = "privacy.requests", _("Handle subject requests")
    DATAMAP_VIEW = "privacy.datamap", _("See the data map")
    PRIVACY_MANAGE = "privacy.manage", _("Manage personal-data protection")
    ACCESS_MANAGE = "access.manage", _("Set up doors, devices and access rules")
    ACCESS_CARDS = "access.cards", _("Issue, block and replace cards")
    ACCESS_GUARD = "access.guard", _("Watch the door: live passes, visitors, pick-ups, emergencies")
    WATCHLIST_MANAGE = "access.watchlist", _("Keep the watch list")
    ATTENDANCE_VIEW = "attendance.view", _("See attendance and time sheets")
    ATTENDANCE_EXCUSE = "attendance.excuse", _("Excuse absences and give exit permits")
    CANTEEN_SELL = "canteen.sell", _("Sell at the canteen till")
    CANTEEN_MANAGE = "canteen.manage", _("Manage the canteen: menu, wallets, overdrafts, refunds")
    CANTEEN_REPORTS = "canteen.reports", _("See canteen reports, top-ups and reconciliations")
    CANTEEN_MENU = "canteen.menu", _("Keep the canteen's dishes and daily menus")
    FREE_MEALS_PROPOSE = "canteen.free_meals.propose", _("Enter pupils entitled to free meals")
    FREE_MEALS_APPROVE = "canteen.free_meals.approve", _("Approve free-meal entitlements")


_ALL_STAFF_VIEW = {Perm.PORTAL, Perm.PEOPLE_VIEW}
ROLE_PERMISSIONS: dict[Role, frozenset[Perm]] = {
    Role.SCHOOL_ADMIN: frozenset(Perm),
    Role.GUARD: frozenset(_ALL_STAFF_VIEW | {Perm.ACCESS_GUARD, Perm.ACCESS_CARDS}),
    # The canteen's staff sell at the till and keep its dishes and daily menus.
    Role.CASHIER: frozenset(_ALL_STAFF_VIEW | {Perm.CANTEEN_SELL, Perm.CANTEEN_MENU}),
    # The accountant reads the money: reports, top-ups and the providers' reconciliations.
    Role.ACCOUNTANT: frozenset(_ALL_STAFF_VIEW | {Perm.CANTEEN_REPORTS}),
    Role.LIBRARIAN: frozenset(_ALL_STAFF_VIEW),
    # Class teachers see attendance of their own classes only (the pages narrow it).
    Role.CLASS_TEACHER: frozenset(_ALL_STAFF_VIEW | {Perm.ATTENDANCE_VIEW, Perm.ATTENDANCE_EXCUSE}),
    # The social pedagogue enters the pupils entitled to free meals; the director (the
    # school administrator) approves them.
    Role.SOCIAL_PEDAGOGUE: frozenset(
        _ALL_STAFF_VIEW | {Perm.ATTENDANCE_VIEW, Perm.FREE_MEALS_PROPOSE}
    ),
    # The data-protection officer answers for the audit log and the subjects' requests
    # (school admins and operators hold every permission, these included).
    Role.DPO: frozenset(
        _ALL_STAFF_VIEW
        | {Perm.AUDIT_VIEW, Perm.PRIVACY_REQUESTS, Perm.DATAMAP_VIEW, Perm.PRIVACY_MANAGE}
    ),
    Role.PARENT: frozenset(),
    # Authority viewers see aggregates of their region, never a person's record.
    Role.AUTHORITY_VIEWER: frozenset({Perm.PORTAL}),
    # Operators run the platform in Django admin; inside a school they act as its admin.
    Role.PLATFORM_OPERATOR: frozenset(Perm),
}
