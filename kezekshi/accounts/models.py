"""Users, their roles in schools, sign-in codes and API tokens."""

from __future__ import annotations

from typing import Any, ClassVar

from django.contrib.auth.models import AbstractBaseUser, BaseUserManager, PermissionsMixin
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from kezekshi.accounts.roles import TWO_FACTOR_ROLES, Role
from kezekshi.core.models import Region, School


class UserManager(BaseUserManager["User"]):
    def create_user(
        self,
        *,
        phone: str | None = None,
        email: str | None = None,
        password: str | None = None,
        **fields: Any,
    ) -> User:
        if not phone and not email:
            raise ValueError("A user needs a phone or an e-mail.")
        user = self.model(phone=phone or None, email=self.normalize_email(email) or None, **fields)
        user.set_password(password)  # None gives an unusable password (parents)
        user.save(using=self._db)
        return user

    def create_superuser(self, email: str, password: str, **fields: Any) -> User:
        """A platform operator (``createsuperuser``); must enrol TOTP on first sign-in."""
        user = self.create_user(
            email=email, password=password, is_staff=True, is_superuser=True, **fields
        )
        Membership.objects.create(user=user, role=Role.PLATFORM_OPERATOR)
        return user


class User(AbstractBaseUser, PermissionsMixin):
    """A person who signs in: parents by phone and SMS code, staff by password (+ TOTP)."""

    phone = models.CharField(_("phone"), max_length=16, unique=True, null=True, blank=True)
    email = models.EmailField(_("e-mail"), unique=True, null=True, blank=True)
    full_name = models.CharField(_("full name"), max_length=300, blank=True)
    language = models.CharField(
        _("language"),
        max_length=2,
        choices=[("kk", "Қазақша"), ("ru", "Русский"), ("en", "English")],
        blank=True,
        help_text=_("Empty until the user picks one; then it wins over the browser's."),
    )
    is_active = models.BooleanField(_("active"), default=True)
    is_staff = models.BooleanField(_("may use Django admin"), default=False)
    date_joined = models.DateTimeField(_("joined"), default=timezone.now)

    objects: ClassVar[UserManager] = UserManager()  # type: ignore[assignment]

    USERNAME_FIELD = "email"
    EMAIL_FIELD = "email"
    REQUIRED_FIELDS: ClassVar[list[str]] = []

    class Meta:
        verbose_name = _("user")
        verbose_name_plural = _("users")
        constraints = [
            models.CheckConstraint(
                condition=models.Q(phone__isnull=False) | models.Q(email__isnull=False),
                name="user_has_phone_or_email",
            )
        ]

    def __str__(self) -> str:
        return self.full_name or self.email or self.phone or f"#{self.pk}"

    @property
    def requires_two_factor(self) -> bool:
        return self.is_superuser or self.memberships.filter(role__in=TWO_FACTOR_ROLES).exists()


class Membership(models.Model):
    """A role a user holds: in one school, in one region (authority), or platform-wide."""

    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="memberships")
    role = models.CharField(_("role"), max_length=32, choices=Role.choices)
    school = models.ForeignKey(
        School, on_delete=models.CASCADE, null=True, blank=True, verbose_name=_("school")
    )
    region = models.ForeignKey(
        Region, on_delete=models.CASCADE, null=True, blank=True, verbose_name=_("region")
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        verbose_name = _("role")
        verbose_name_plural = _("roles")
        constraints = [
            models.UniqueConstraint(
                fields=["school", "user", "role"],
                condition=models.Q(school__isnull=False),
                name="membership_unique_in_school",
            ),
            models.UniqueConstraint(
                fields=["user", "role"],
                condition=models.Q(school__isnull=True),
                name="membership_unique_outside_school",
            ),
            models.CheckConstraint(
                name="membership_scope_fits_role",
                condition=(
                    models.Q(role=Role.PLATFORM_OPERATOR, school__isnull=True, region__isnull=True)
                    | models.Q(
                        role=Role.AUTHORITY_VIEWER, school__isnull=True, region__isnull=False
                    )
                    | (
                        ~models.Q(role__in=[Role.PLATFORM_OPERATOR, Role.AUTHORITY_VIEWER])
                        & models.Q(school__isnull=False, region__isnull=True)
                    )
                ),
            ),
        ]

    def __str__(self) -> str:
        return f"{self.user} — {self.get_role_display()}"


class SignInCode(models.Model):
    """A one-time SMS code. Only its keyed digest is stored."""

    phone = models.CharField(_("phone"), max_length=16, db_index=True)
    code_digest = models.CharField(_("code digest"), max_length=64)
    ip = models.GenericIPAddressField(_("IP address"), null=True, db_index=True)
    created_at = models.DateTimeField(_("sent"), default=timezone.now, db_index=True)
    expires_at = models.DateTimeField(_("expires"))
    attempts = models.PositiveSmallIntegerField(_("wrong attempts"), default=0)
    consumed_at = models.DateTimeField(_("used"), null=True, blank=True)

    class Meta:
        verbose_name = _("sign-in code")
        verbose_name_plural = _("sign-in codes")
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return f"{self.phone} {self.created_at:%Y-%m-%d %H:%M}"


class ApiToken(models.Model):
    """A bearer token for the API (the parents' app). Only its digest is stored."""

    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="api_tokens")
    digest = models.CharField(_("token digest"), max_length=64, unique=True)
    created_at = models.DateTimeField(_("issued"), default=timezone.now)
    expires_at = models.DateTimeField(_("expires"))
    last_used_at = models.DateTimeField(_("last used"), null=True, blank=True)
    user_agent = models.CharField(_("browser or app"), max_length=300, blank=True)

    class Meta:
        verbose_name = _("API token")
        verbose_name_plural = _("API tokens")

    def __str__(self) -> str:
        return f"{self.user} ({self.created_at:%Y-%m-%d})"


class PasswordFailure(models.Model):
    """A wrong staff password: counted to slow down guessing. The login is kept as a digest."""

    login_digest = models.CharField(_("login digest"), max_length=64, db_index=True)
    ip = models.GenericIPAddressField(_("IP address"), null=True, db_index=True)
    created_at = models.DateTimeField(_("time"), default=timezone.now, db_index=True)

    class Meta:
        verbose_name = _("wrong password")
        verbose_name_plural = _("wrong passwords")

    def __str__(self) -> str:
        return f"{self.created_at:%Y-%m-%d %H:%M} {self.ip}"
