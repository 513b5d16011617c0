"""The approval policy as the privacy officer sees and edits it: the effective rule for every request type and
area sensitivity, and the one audited action that changes a rule (``policy.updated``: codes and numbers only).

The effective rule is what ``policy.requirement`` answers, floors included, so the page can never disagree with
what a submitted request gets.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.core.exceptions import PermissionDenied
from django.db import transaction

from custody.accounts.models import User
from custody.accounts.roles import Role
from custody.audit import gate
from custody.audit.events import Action
from custody.properties.models import Area, AreaClass, AreaKind, Property
from custody.requests import policy
from custody.requests.models import FOOTAGE_TYPES, ApprovalPolicy, AreaSensitivity, RequestType

EDIT_PERMISSION = "requests.edit_policy"
FOOTAGE_LEVELS = [
    AreaSensitivity.PUBLIC,
    AreaSensitivity.STAFF_ONLY,
    AreaSensitivity.SECURITY,
    AreaSensitivity.PRIVATE_ADJACENT,
]
# An unsaved area of each sensitivity, so the effective rule comes from policy.requirement itself.
SAMPLE_AREAS: dict[str, Area] = {
    AreaSensitivity.PUBLIC: Area(kind=AreaKind.LOBBY, area_class=AreaClass.PUBLIC),
    AreaSensitivity.STAFF_ONLY: Area(kind=AreaKind.BACK_OFFICE, area_class=AreaClass.STAFF_ONLY),
    AreaSensitivity.SECURITY: Area(kind=AreaKind.SECURITY_ROOM, area_class=AreaClass.SECURITY),
    AreaSensitivity.PRIVATE_ADJACENT: Area(kind=AreaKind.CORRIDOR, area_class=AreaClass.PUBLIC),
}
RULE_FIELDS = (
    "approvals_required",
    "approver_roles",
    "instrument_required",
    "max_window_minutes",
    "grant_days",
    "view_quota",
    "due_days",
)


class Source:
    DEFAULT = "default"
    EXACT = "exact"
    ANY_AREA = "any_area"


@dataclass
class EffectiveRule:
    request_type: str
    sensitivity: str
    rule: policy.Requirement
    source: str  # Source
    floor_applies: bool  # two approvers whatever the rows say

    @property
    def type_label(self) -> str:
        return str(RequestType(self.request_type).label)

    @property
    def sensitivity_label(self) -> str:
        return str(AreaSensitivity(self.sensitivity).label)

    @property
    def role_labels(self) -> list[str]:
        return [str(Role(role).label) if role in Role.values else role for role in self.rule.approver_roles]


def rule_keys() -> list[tuple[str, str]]:
    """Every (request type, area sensitivity) a rule can be set for: footage by sensitivity, the rest for any area."""
    keys: list[tuple[str, str]] = []
    for request_type in RequestType.values:
        levels = FOOTAGE_LEVELS if request_type in FOOTAGE_TYPES else [AreaSensitivity.ANY]
        keys.extend((request_type, str(level)) for level in levels)
    return keys


def effective(prop: Property, request_type: str, sensitivity: str) -> EffectiveRule:
    rows = {
        row.area_sensitivity: row for row in ApprovalPolicy.objects.filter(property=prop, request_type=request_type)
    }
    areas = [SAMPLE_AREAS[sensitivity]] if sensitivity in SAMPLE_AREAS else []
    rule = policy.requirement(prop, request_type, areas)
    if sensitivity in rows:
        source = Source.EXACT
    elif request_type in FOOTAGE_TYPES and AreaSensitivity.ANY in rows:
        source = Source.ANY_AREA
    else:
        source = Source.DEFAULT
    floor = request_type in policy.ALWAYS_TWO or sensitivity == AreaSensitivity.PRIVATE_ADJACENT
    return EffectiveRule(request_type, sensitivity, rule, source, floor)


def effective_rules(prop: Property) -> list[EffectiveRule]:
    return [effective(prop, request_type, sensitivity) for request_type, sensitivity in rule_keys()]


def _details(rule: ApprovalPolicy | None, request_type: str, sensitivity: str, change: str) -> dict[str, Any]:
    details: dict[str, Any] = {"change": change, "request_type": request_type, "area_sensitivity": sensitivity}
    if rule is not None:
        details["rule"] = rule.pk
        details.update({name: getattr(rule, name) for name in RULE_FIELDS})
    return details


@transaction.atomic
def save_policy_rule(
    prop: Property, request_type: str, sensitivity: str, values: dict[str, Any], *, acting_user: User
) -> ApprovalPolicy:
    """Set the rule for one request type and area sensitivity (creating the row); audited."""
    if not acting_user.has_perm(EDIT_PERMISSION, prop):
        raise PermissionDenied
    rule, created = ApprovalPolicy.objects.select_for_update().get_or_create(
        property=prop, request_type=request_type, area_sensitivity=sensitivity
    )
    for name in RULE_FIELDS:
        setattr(rule, name, values[name])
    rule.approver_roles = sorted(values["approver_roles"])
    rule.updated_by = acting_user
    rule.save()
    gate.record(
        Action.POLICY_UPDATED,
        actor=acting_user,
        prop=prop,
        obj=rule,
        details=_details(rule, request_type, sensitivity, "created" if created else "changed"),
    )
    return rule


@transaction.atomic
def reset_policy_rule(prop: Property, request_type: str, sensitivity: str, *, acting_user: User) -> bool:
    """Remove the property's rule so the defaults apply again; audited. False when there was none."""
    if not acting_user.has_perm(EDIT_PERMISSION, prop):
        raise PermissionDenied
    rule = (
        ApprovalPolicy.objects.select_for_update()
        .filter(property=prop, request_type=request_type, area_sensitivity=sensitivity)
        .first()
    )
    if rule is None:
        return False
    details = _details(rule, request_type, sensitivity, "removed")
    rule.delete()
    gate.record(
        Action.POLICY_UPDATED,
        actor=acting_user,
        prop=prop,
        object_type="requests.approvalpolicy",
        object_id=details["rule"],
        details=details,
    )
    return True
