"""Permission predicates of retention, legal holds and the backup register (django-rules). The object is always the
Property.

IT admins run the storage, so they see destruction records and keep the backup register, but never footage or a
hold's reason. Auditors see holds (case reference, scope, who and when: never the sealed reason), destruction
records and the register.
"""

from __future__ import annotations

import rules

from custody.accounts.roles import Role
from custody.accounts.rules import role_at_property

SM, PO, PM, IT, AU = (
    Role.SECURITY_MANAGER,
    Role.PRIVACY_OFFICER,
    Role.PROPERTY_MANAGER,
    Role.IT_ADMIN,
    Role.AUDITOR,
)

rules.add_perm("retention.set_hold", role_at_property(SM, PO, PM))
rules.add_perm("retention.release_hold", role_at_property(PO, PM))
rules.add_perm("retention.view_holds", role_at_property(SM, PO, PM, AU))
rules.add_perm("retention.view_destruction", role_at_property(PO, PM, AU, IT))
rules.add_perm("retention.run_now", role_at_property(PO, PM))
rules.add_perm("retention.record_backup", role_at_property(IT, SM))
rules.add_perm("retention.view_backups", role_at_property(IT, SM, PO, PM, AU))
