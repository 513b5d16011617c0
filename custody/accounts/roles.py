"""Staff roles. A user may hold several roles, each at one property."""

from __future__ import annotations

from django.db import models
from django.utils.translation import gettext_lazy as _


class Role(models.TextChoices):
    FRONT_DESK = "front_desk", _("Front desk")
    SECURITY_OFFICER = "security_officer", _("Security officer")
    SECURITY_MANAGER = "security_manager", _("Security manager")
    PRIVACY_OFFICER = "privacy_officer", _("Privacy officer")
    PROPERTY_MANAGER = "property_manager", _("Property manager")
    IT_ADMIN = "it_admin", _("IT admin")
    AUDITOR = "auditor", _("Auditor")


# Roles that approve requests or administer the system must sign in with a second factor.
TWO_FACTOR_ROLES: frozenset[str] = frozenset(
    {Role.SECURITY_MANAGER, Role.PRIVACY_OFFICER, Role.PROPERTY_MANAGER, Role.IT_ADMIN}
)

# Roles that decide access requests. Holding one of them at a property also makes a person one of those who confirm
# role proposals there (custody.accounts.proposals).
REVIEWER_ROLES: frozenset[str] = frozenset({Role.SECURITY_MANAGER, Role.PRIVACY_OFFICER, Role.PROPERTY_MANAGER})

# Roles given in two steps: one person proposes, a different holder of a reviewer role at that property confirms.
# Only the confirmation creates the role assignment. Every other role is assigned in one step.
TWO_STEP_ROLES: frozenset[str] = REVIEWER_ROLES | {Role.IT_ADMIN}

# Roles that may manage the property's structure (floors, areas, rooms) and its staff accounts.
ADMINISTER_ROLES: frozenset[str] = frozenset({Role.PROPERTY_MANAGER, Role.IT_ADMIN})

ROLE_DUTIES = {
    Role.FRONT_DESK: _("Checks guests in and out; sees today's arrivals, in-house guests and departures only."),
    Role.SECURITY_OFFICER: _("Requests footage for incidents; views footage only under an approved grant."),
    Role.SECURITY_MANAGER: _("Reviews footage requests, sets legal holds, may open a time-boxed emergency grant."),
    Role.PRIVACY_OFFICER: _("Owns approval policy, reviews requests, answers data-subject and authority requests."),
    Role.PROPERTY_MANAGER: _("Manages the property's floors, areas, rooms and staff accounts; approves requests."),
    Role.IT_ADMIN: _("Runs the system and manages accounts; reads no personal data."),
    Role.AUDITOR: _("Reads the audit log and verifies it; reads no personal data."),
}
