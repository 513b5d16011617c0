"""Permission predicates of access requests (django-rules). The object is always the Property.

Who may do what to one request (four eyes, the policy's roles) is decided in custody.requests.actions.
"""

from __future__ import annotations

import rules

from custody.accounts.roles import Role
from custody.accounts.rules import role_at_property

# Staff who may file requests: everyone who serves guests or keeps the hotel safe. IT admins and auditors read no
# personal data, so they file none.
FILERS = (Role.FRONT_DESK, Role.SECURITY_OFFICER, Role.SECURITY_MANAGER, Role.PRIVACY_OFFICER, Role.PROPERTY_MANAGER)
REVIEWERS = (Role.SECURITY_MANAGER, Role.PRIVACY_OFFICER, Role.PROPERTY_MANAGER)

rules.add_perm("requests.file", role_at_property(*FILERS))
rules.add_perm("requests.review", role_at_property(*REVIEWERS))
rules.add_perm("requests.edit_policy", role_at_property(Role.PRIVACY_OFFICER))
rules.add_perm("requests.break_glass", role_at_property(Role.SECURITY_MANAGER))
rules.add_perm("requests.review_break_glass", role_at_property(Role.PRIVACY_OFFICER))
