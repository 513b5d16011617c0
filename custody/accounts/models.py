from __future__ import annotations

from typing import TYPE_CHECKING

from django.contrib.auth import models as auth_models
from django.contrib.auth.models import AbstractUser
from django.db import models
from django.utils.translation import gettext_lazy as _

from custody.accounts.roles import TWO_FACTOR_ROLES, Role

if TYPE_CHECKING:
    from custody.properties.models import Property


class User(AbstractUser):
    """A member of staff. Guests and authorities never get accounts here; they use the portal."""

    display_name = models.CharField(_("display name"), max_length=150, blank=True)
    must_change_password = models.BooleanField(
        _("must change password"),
        default=False,
        help_text=_("Set when someone else chose the password; cleared when the user picks their own."),
    )

    class Meta:
        verbose_name = _("user")
        verbose_name_plural = _("users")
        constraints = [
            # Custody has no all-powerful account: every permission comes from a role at a property.
            models.CheckConstraint(condition=models.Q(is_superuser=False), name="no_superusers"),
        ]

    def __str__(self) -> str:
        return self.display_name or self.get_username()

    def has_perm(self, perm: str, obj: object = None) -> bool:
        # Unlike Django's default, being a superuser grants nothing (and the database refuses superusers).
        return self.is_active and auth_models._user_has_perm(self, perm, obj)  # type: ignore[attr-defined]

    def roles_at(self, prop: Property) -> set[str]:
        if not self.is_authenticated or not self.is_active:
            return set()
        cache: dict[int, set[str]] = self.__dict__.setdefault("_roles_cache", {})
        if prop.pk not in cache:
            cache[prop.pk] = set(self.role_assignments.filter(property=prop).values_list("role", flat=True))
        return cache[prop.pk]

    def has_role_at(self, prop: Property, *roles: str) -> bool:
        return bool(self.roles_at(prop) & set(roles))

    @property
    def requires_two_factor(self) -> bool:
        return self.role_assignments.filter(role__in=TWO_FACTOR_ROLES).exists()


class RoleAssignment(models.Model):
    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="role_assignments")
    property = models.ForeignKey("properties.Property", on_delete=models.CASCADE, related_name="role_assignments")
    role = models.CharField(_("role"), max_length=32, choices=Role.choices)
    granted_at = models.DateTimeField(auto_now_add=True)
    granted_by = models.ForeignKey(User, on_delete=models.SET_NULL, null=True, blank=True, related_name="+")

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["user", "property", "role"], name="unique_role_per_property"),
            models.CheckConstraint(condition=models.Q(role__in=Role.values), name="role_assignment_role_known"),
        ]
        ordering = ["property_id", "role"]

    def __str__(self) -> str:
        return f"{self.user} · {self.get_role_display()} · {self.property}"
