"""Approval policy: how many approvers, which roles, whether a legal instrument is required, how long a grant runs.

The policy is data (``ApprovalPolicy`` rows per property, edited by the privacy officer); where no row matches a
request, ``DEFAULTS`` apply. A rule is chosen by request type and, for footage, by the most sensitive area the
request's cameras and areas cover (``sensitivity``). Whatever the rows say, two floors hold (invariant 5 and the
issue's rule): a stays-in-a-window query and footage next to private spaces always need two approvers.
"""

from __future__ import annotations

import calendar
import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass, replace

from custody.accounts.roles import Role
from custody.properties.models import Area, AreaClass, AreaKind, Property
from custody.requests import rules
from custody.requests.models import (
    AccessRequest,
    ApprovalPolicy,
    AreaSensitivity,
    Purpose,
    RequesterKind,
    RequestType,
    Urgency,
)

# Footage of these kinds shows who goes in and out of guest rooms: treated as next to private spaces.
PRIVATE_ADJACENT_KINDS = frozenset({AreaKind.CORRIDOR, AreaKind.ELEVATOR_LOBBY, AreaKind.STAIRWELL})
SENSITIVITY_ORDER = [
    AreaSensitivity.PUBLIC,
    AreaSensitivity.STAFF_ONLY,
    AreaSensitivity.SECURITY,
    AreaSensitivity.PRIVATE_ADJACENT,
]
# Request types that always need two different approvers, whatever the policy rows say.
ALWAYS_TWO = frozenset({RequestType.STAY_WINDOW})

# Every role that may review (the same roles as the "requests.review" permission); footage reviewers are all of them.
REVIEWERS: list[str] = list(rules.REVIEWERS)
FOOTAGE_REVIEWERS: list[str] = REVIEWERS
RECORD_REVIEWERS: list[str] = [Role.PRIVACY_OFFICER, Role.PROPERTY_MANAGER]


@dataclass(frozen=True)
class Requirement:
    approvals_required: int
    approver_roles: list[str]
    instrument_required: bool
    max_window_minutes: int
    grant_days: int
    view_quota: int | None
    due_days: int | None  # None: one calendar month

    @classmethod
    def of(cls, rule: ApprovalPolicy) -> Requirement:
        return cls(
            rule.approvals_required,
            list(rule.approver_roles),
            rule.instrument_required,
            rule.max_window_minutes,
            rule.grant_days,
            rule.view_quota,
            rule.due_days,
        )


DEFAULTS: dict[str, Requirement] = {  # by request type
    RequestType.FOOTAGE_VIEW: Requirement(1, FOOTAGE_REVIEWERS, False, 120, 7, 20, 3),
    RequestType.FOOTAGE_EXPORT: Requirement(1, FOOTAGE_REVIEWERS, False, 120, 7, 3, 5),
    RequestType.GUEST_LOOKUP: Requirement(1, RECORD_REVIEWERS, False, 120, 7, 5, 7),
    RequestType.STAY_WINDOW: Requirement(2, RECORD_REVIEWERS, True, 120, 7, 3, 7),
    RequestType.SUBJECT_ACCESS: Requirement(1, [str(Role.PRIVACY_OFFICER)], False, 120, 30, 5, None),
    RequestType.ERASURE: Requirement(1, [str(Role.PRIVACY_OFFICER)], False, 120, 30, 1, None),
    RequestType.RECTIFICATION: Requirement(1, [str(Role.PRIVACY_OFFICER)], False, 120, 30, 1, None),
}
# Footage next to private spaces: two approvers by default.
DEFAULT_PRIVATE_ADJACENT: dict[str, Requirement] = {
    RequestType.FOOTAGE_VIEW: replace(DEFAULTS[RequestType.FOOTAGE_VIEW], approvals_required=2),
    RequestType.FOOTAGE_EXPORT: replace(DEFAULTS[RequestType.FOOTAGE_EXPORT], approvals_required=2),
}

# The guest fields a granted lookup shows, by purpose: only what the purpose needs (invariant 1).
NAME = ["surname", "second_surname", "given_names"]
FIELDS_FOR_PURPOSE: dict[str, list[str]] = {
    Purpose.SECURITY_INCIDENT: [*NAME, "nationality", "phone"],
    Purpose.SERVICE_DISPUTE: [*NAME, "phone", "email", "address"],
    Purpose.INSURANCE_CLAIM: [*NAME, "phone", "email", "address"],
    Purpose.LEGAL_OBLIGATION: [*NAME, "sex", "date_of_birth", "nationality", "address"],
    Purpose.LAW_ENFORCEMENT: [*NAME, "sex", "date_of_birth", "nationality", "address", "phone"],
    Purpose.OWN_REQUEST: [
        *NAME,
        "sex",
        "date_of_birth",
        "nationality",
        "address",
        "phone",
        "email",
        "preferences",
        "special_needs",
        "consents",
    ],
    Purpose.INTERNAL_AUDIT: [*NAME],
    Purpose.OTHER: [*NAME],
}
# Identity document fields shown with them (the number only where the purpose needs it).
DOCUMENT_FIELDS_FOR_PURPOSE: dict[str, list[str]] = {
    Purpose.LEGAL_OBLIGATION: ["doc_type", "number", "issuing_country"],
    Purpose.LAW_ENFORCEMENT: ["doc_type", "number", "issuing_country"],
    Purpose.OWN_REQUEST: ["doc_type", "number", "issuing_country", "issue_date", "expiry_date"],
}


def area_sensitivity(area: Area) -> str:
    if area.kind in PRIVATE_ADJACENT_KINDS:
        return AreaSensitivity.PRIVATE_ADJACENT
    if area.area_class == AreaClass.SECURITY:
        return AreaSensitivity.SECURITY
    if area.area_class == AreaClass.STAFF_ONLY:
        return AreaSensitivity.STAFF_ONLY
    return AreaSensitivity.PUBLIC


def sensitivity(areas: Iterable[Area]) -> str:
    """The most sensitive of the areas (public when there are none)."""
    found = [SENSITIVITY_ORDER.index(area_sensitivity(area)) for area in areas]  # type: ignore[arg-type]
    return SENSITIVITY_ORDER[max(found)] if found else AreaSensitivity.PUBLIC


def scope_areas(request: AccessRequest) -> list[Area]:
    """The areas a footage request reaches: those named and those of the cameras named."""
    areas = {area.pk: area for area in request.areas.all()}
    for camera in request.cameras.select_related("area"):
        areas[camera.area_id] = camera.area
    return list(areas.values())


def requirement(prop: Property, request_type: str, areas: Iterable[Area] = (), purpose: str = "") -> Requirement:
    """The rule that applies: a row for the exact sensitivity, else the type's "any" row, else the defaults."""
    level = sensitivity(areas) if request_type in (RequestType.FOOTAGE_VIEW, RequestType.FOOTAGE_EXPORT) else "any"
    rules = {r.area_sensitivity: r for r in ApprovalPolicy.objects.filter(property=prop, request_type=request_type)}
    if level in rules:
        found = Requirement.of(rules[level])
    elif AreaSensitivity.ANY in rules:
        found = Requirement.of(rules[AreaSensitivity.ANY])
    elif level == AreaSensitivity.PRIVATE_ADJACENT and request_type in DEFAULT_PRIVATE_ADJACENT:
        found = DEFAULT_PRIVATE_ADJACENT[request_type]
    else:
        found = DEFAULTS[request_type]
    # Floors no policy row can lower.
    if request_type in ALWAYS_TWO or level == AreaSensitivity.PRIVATE_ADJACENT:
        found = replace(found, approvals_required=max(found.approvals_required, 2))
    if purpose == Purpose.LAW_ENFORCEMENT:
        found = replace(found, instrument_required=True)
    return found


def requirement_for(request: AccessRequest) -> Requirement:
    return requirement(request.property, request.request_type, scope_areas(request), request.purpose)


def external_needs_identity_check(request: AccessRequest) -> bool:
    return request.requester_kind in (RequesterKind.GUEST, RequesterKind.AUTHORITY, RequesterKind.OTHER)


def due_at(submitted: dt.datetime, rule: Requirement, urgency: str) -> dt.datetime:
    """When an answer is due: a calendar month for data-subject requests (None days), else the rule's days;
    urgent halves it (at least a day), an emergency is due within 4 hours."""
    if urgency == Urgency.EMERGENCY:
        return submitted + dt.timedelta(hours=4)
    if rule.due_days is None:
        return add_calendar_month(submitted)
    days = rule.due_days if urgency == Urgency.NORMAL else max(1, rule.due_days // 2)
    return submitted + dt.timedelta(days=days)


def add_calendar_month(moment: dt.datetime) -> dt.datetime:
    """The same day next month, or the last day of next month when it is shorter (31 Jan -> 28/29 Feb)."""
    year, month = (moment.year + 1, 1) if moment.month == 12 else (moment.year, moment.month + 1)
    day = min(moment.day, calendar.monthrange(year, month)[1])
    return moment.replace(year=year, month=month, day=day)
