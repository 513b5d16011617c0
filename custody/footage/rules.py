"""Permission predicates of the camera registry and footage ingest (django-rules). The object is always the Property.

Camera metadata (code, name, where it hangs, its status) is not personal data, so the roles that run security and the
building see it; recordings themselves are only ever read through a grant (custody.requests.grants).
"""

from __future__ import annotations

import rules

from custody.accounts.roles import Role
from custody.accounts.rules import role_at_property

CAMERA_VIEWERS = (
    Role.SECURITY_OFFICER,
    Role.SECURITY_MANAGER,
    Role.PRIVACY_OFFICER,
    Role.PROPERTY_MANAGER,
    Role.IT_ADMIN,
)
CAMERA_MANAGERS = (Role.SECURITY_MANAGER, Role.PROPERTY_MANAGER, Role.IT_ADMIN)
# Watched folders, direct upload and the quarantine list: running the recording pipeline, not watching footage.
INGEST_MANAGERS = (Role.IT_ADMIN, Role.SECURITY_MANAGER)

rules.add_perm("footage.view_cameras", role_at_property(*CAMERA_VIEWERS))
rules.add_perm("footage.manage_cameras", role_at_property(*CAMERA_MANAGERS))
rules.add_perm("footage.manage_ingest", role_at_property(*INGEST_MANAGERS))
