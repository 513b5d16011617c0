import rules

from custody.accounts.roles import Role
from custody.accounts.rules import role_at_property

rules.add_perm("audit.view_log", role_at_property(Role.AUDITOR, Role.PRIVACY_OFFICER, Role.PROPERTY_MANAGER))
