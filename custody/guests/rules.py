"""Permission predicates of the guest registry (django-rules). The object is always the Property."""

from __future__ import annotations

import rules

from custody.accounts.roles import Role
from custody.accounts.rules import role_at_property

# The front desk's standing role purpose: today's lists, check-in, in-house guest detail, booking-reference lookup.
rules.add_perm("guests.front_desk", role_at_property(Role.FRONT_DESK, Role.PROPERTY_MANAGER))
# Importing stays from a PMS export (custody.guests.imports): writes guest data, shows none of it.
rules.add_perm("guests.import", role_at_property(Role.PROPERTY_MANAGER, Role.IT_ADMIN))
