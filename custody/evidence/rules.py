"""Permission predicates of footage exports and evidence packages (django-rules). The object is the Property.

Staff who may hold a footage-export grant (everyone who files requests) see their own exports; reviewers see every
export of the property. IT admins and auditors never see footage nor packages. Whether a given export may be seen is
decided per object in custody.evidence.views (its creator, or a reviewer).
"""

from __future__ import annotations

import rules

from custody.accounts.rules import role_at_property
from custody.requests.rules import FILERS, REVIEWERS

rules.add_perm("evidence.view_exports", role_at_property(*FILERS, *REVIEWERS))
rules.add_perm("evidence.review_exports", role_at_property(*REVIEWERS))
