"""Permission predicates (django-rules). The object is always the Property the action happens at."""

from __future__ import annotations

from typing import Any

import rules

from custody.accounts.roles import ADMINISTER_ROLES, REVIEWER_ROLES, Role


def role_at_property(*roles: str) -> Any:
    wanted = frozenset(roles)

    @rules.predicate(name=f"has_role:{'|'.join(sorted(wanted))}")
    def predicate(user: Any, prop: Any) -> bool:
        if prop is None or not getattr(user, "is_authenticated", False):
            return False
        return bool(user.roles_at(prop) & wanted)

    return predicate


any_role = role_at_property(*Role.values)
administers = role_at_property(*ADMINISTER_ROLES)

rules.add_perm("properties.view_property", any_role)
rules.add_perm("properties.manage_structure", administers)
rules.add_perm("accounts.manage_staff", administers)
rules.add_perm("core.view_system_status", role_at_property(Role.IT_ADMIN))
rules.add_perm("accounts.disable_staff", role_at_property(Role.IT_ADMIN))
# Role proposals: those who propose (staff managers) and those who confirm (reviewers) see them; only reviewers
# confirm or reject, never their own proposal nor one about themselves (custody.accounts.proposals).
rules.add_perm("accounts.view_role_proposals", role_at_property(*ADMINISTER_ROLES, *REVIEWER_ROLES))
rules.add_perm("accounts.review_roles", role_at_property(*REVIEWER_ROLES))
