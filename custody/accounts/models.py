from __future__ import annotations

from typing import TYPE_CHECKING

from django.contrib.auth import models as auth_models
from django.contrib.auth.models import AbstractUser
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from custody.accounts.roles import TWO_FACTOR_ROLES, TWO_STEP_ROLES, Role

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
    # Who created the account; empty for accounts made by `custody createuser` (the server's operator) and for
    # accounts older than this field. Separation of duties reads it: no one decides a request filed by an account
    # they created (custody.accounts.separation).
    created_by = models.ForeignKey(
        "self", on_delete=models.PROTECT, null=True, blank=True, related_name="+", verbose_name=_("created by")
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
    """A role a user holds at a property, and who gave it.

    granted_at is when the role came into force (for a two-step role: its confirmation), so the cooling-off period
    of custody.accounts.separation counts from there. granted_by assigned a one-step role or proposed a two-step
    one; confirmed_by confirmed it. Both are empty for roles given by `custody createuser` and for older rows.
    """

    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="role_assignments")
    property = models.ForeignKey("properties.Property", on_delete=models.CASCADE, related_name="role_assignments")
    role = models.CharField(_("role"), max_length=32, choices=Role.choices)
    granted_at = models.DateTimeField(auto_now_add=True)
    # PROTECT: who gave a role must stay known, or separation of duties could not be checked.
    granted_by = models.ForeignKey(User, on_delete=models.PROTECT, null=True, blank=True, related_name="+")
    confirmed_by = models.ForeignKey(User, on_delete=models.PROTECT, null=True, blank=True, related_name="+")
    proposal = models.OneToOneField(
        "RoleProposal", on_delete=models.PROTECT, null=True, blank=True, related_name="assignment"
    )

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["user", "property", "role"], name="unique_role_per_property"),
            models.CheckConstraint(condition=models.Q(role__in=Role.values), name="role_assignment_role_known"),
        ]
        ordering = ["property_id", "role"]

    def __str__(self) -> str:
        return f"{self.user} · {self.get_role_display()} · {self.property}"


class ProposalStatus(models.TextChoices):
    PENDING = "pending", _("Awaiting confirmation")
    CONFIRMED = "confirmed", _("Confirmed")
    REJECTED = "rejected", _("Rejected")
    WITHDRAWN = "withdrawn", _("Withdrawn")


class RoleProposal(models.Model):
    """A proposal to give a two-step role (a reviewer role or IT admin); only its confirmation creates the role.

    proposed_by is empty when the proposal came from `custody createuser`. decided_by confirmed, rejected or (the
    proposer) withdrew it. The database itself refuses a confirmation by the proposer or by the person proposed.
    """

    user = models.ForeignKey(User, on_delete=models.PROTECT, related_name="role_proposals")
    property = models.ForeignKey("properties.Property", on_delete=models.PROTECT, related_name="role_proposals")
    role = models.CharField(_("role"), max_length=32, choices=Role.choices)
    proposed_by = models.ForeignKey(User, on_delete=models.PROTECT, null=True, blank=True, related_name="+")
    proposed_at = models.DateTimeField(default=timezone.now)
    status = models.CharField(
        _("status"), max_length=16, choices=ProposalStatus.choices, default=ProposalStatus.PENDING
    )
    decided_by = models.ForeignKey(User, on_delete=models.PROTECT, null=True, blank=True, related_name="+")
    decided_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name = _("role proposal")
        ordering = ["-proposed_at", "-id"]
        constraints = [
            models.CheckConstraint(condition=models.Q(role__in=sorted(TWO_STEP_ROLES)), name="proposal_two_step_role"),
            models.CheckConstraint(condition=models.Q(status__in=ProposalStatus.values), name="proposal_status_known"),
            models.UniqueConstraint(
                fields=["user", "property", "role"],
                condition=models.Q(status="pending"),
                name="one_pending_proposal_per_role",
            ),
            models.CheckConstraint(
                condition=~models.Q(status="confirmed")
                | (
                    models.Q(decided_by__isnull=False)
                    & ~models.Q(decided_by=models.F("user"))
                    & (models.Q(proposed_by__isnull=True) | ~models.Q(decided_by=models.F("proposed_by")))
                ),
                name="proposal_confirmed_by_another",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.get_role_display()} for {self.user} · {self.get_status_display()}"


class Invitation(models.Model):
    """A link for a new account to set its own password: single-use, expiring, only the token's SHA-256 stored."""

    user = models.ForeignKey(User, on_delete=models.PROTECT, related_name="invitations")
    property = models.ForeignKey(
        "properties.Property", on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    token_hash = models.CharField(max_length=64, unique=True, editable=False)  # SHA-256 of the token, hex
    created_by = models.ForeignKey(User, on_delete=models.PROTECT, null=True, blank=True, related_name="+")
    created_at = models.DateTimeField(default=timezone.now)
    expires_at = models.DateTimeField()
    used_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)  # a newer invitation replaced it

    class Meta:
        verbose_name = _("invitation")
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return f"invitation {self.pk} for {self.user}"
