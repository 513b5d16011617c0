"""Separation of duties between the person who decides a request and the account that filed it.

Two people are not independent when one made the other: an administrator who created an account, or who proposed
or confirmed one of its roles, could file requests with it and approve them with their own. And an account or role
that was made yesterday may exist only to approve something today. `decision_conflict` names the first such
conflict, or returns "" when there is none:

    conflict = decision_conflict(acting_user, request.requester, request.property, roles=deciding_roles)
    if conflict:
        ...refuse, with a denied audit entry whose reason is `conflict`...

Reason codes, in the order they are checked:

    missing_data         an account or the property is unsaved or unknown: refuse rather than guess
    same_person          approver and requester are one account (the request workflow refuses this first)
    no_reviewer_role     the approver is disabled, holds none of the roles asked about, or no reviewer role at all
    created_requester    the approver created the requester's account (User.created_by)
    empowered_requester  the approver proposed, assigned or confirmed a role the requester holds at the property
    cooling_off          the approver's account, or a role they decide with, came into force less than
                         CUSTODY_APPROVER_COOLING_OFF_HOURS ago (default 72); an unknown age counts as too young

The function only reads; the caller refuses and audits. It fails closed: anything it cannot establish is a conflict.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime, timedelta

from django.conf import settings
from django.db.models import Q
from django.utils import timezone

from custody.accounts.models import RoleAssignment, User
from custody.accounts.roles import REVIEWER_ROLES
from custody.properties.models import Property

MISSING_DATA = "missing_data"
SAME_PERSON = "same_person"
NO_REVIEWER_ROLE = "no_reviewer_role"
CREATED_REQUESTER = "created_requester"
EMPOWERED_REQUESTER = "empowered_requester"
COOLING_OFF = "cooling_off"

REASONS = (MISSING_DATA, SAME_PERSON, NO_REVIEWER_ROLE, CREATED_REQUESTER, EMPOWERED_REQUESTER, COOLING_OFF)


def cooling_off_period() -> timedelta:
    # Read without a default: a missing setting is a deployment error, not a reason to skip the check.
    hours = int(settings.CUSTODY_APPROVER_COOLING_OFF_HOURS)
    if hours < 1:
        raise ValueError("CUSTODY_APPROVER_COOLING_OFF_HOURS must be at least 1")
    return timedelta(hours=hours)


def decision_conflict(
    approver: User,
    requester: User,
    prop: Property,
    *,
    roles: Iterable[str] | None = None,
    now: datetime | None = None,
) -> str:
    """The reason `approver` may not decide a request `requester` filed at `prop`, or "" when they may.

    `roles`: the roles the approver decides with (for a request: their roles the policy names). Left out, every
    reviewer role they hold at the property counts. Each of them must be past the cooling-off period.
    """
    if approver is None or requester is None or prop is None:
        return MISSING_DATA
    if approver.pk is None or requester.pk is None or prop.pk is None:
        return MISSING_DATA
    if approver.pk == requester.pk:
        return SAME_PERSON
    if not approver.is_active:
        return NO_REVIEWER_ROLE
    held = {
        assignment.role: assignment
        for assignment in RoleAssignment.objects.filter(user_id=approver.pk, property_id=prop.pk)
    }
    deciding = set(roles) if roles is not None else set(held) & REVIEWER_ROLES
    if not deciding or not deciding <= held.keys():
        return NO_REVIEWER_ROLE
    # Read the requester afresh: a stale instance must not hide who created it.
    creator = User.objects.filter(pk=requester.pk).values_list("created_by_id", flat=True).first()
    if creator is None and not User.objects.filter(pk=requester.pk).exists():
        return MISSING_DATA
    if creator == approver.pk:
        return CREATED_REQUESTER
    gave_a_role = RoleAssignment.objects.filter(user_id=requester.pk, property_id=prop.pk).filter(
        Q(granted_by_id=approver.pk) | Q(confirmed_by_id=approver.pk) | Q(proposal__proposed_by_id=approver.pk)
    )
    if gave_a_role.exists():
        return EMPOWERED_REQUESTER
    threshold = (now or timezone.now()) - cooling_off_period()
    joined = User.objects.filter(pk=approver.pk).values_list("date_joined", flat=True).first()
    if joined is None or joined > threshold:
        return COOLING_OFF
    if any(held[role].granted_at is None or held[role].granted_at > threshold for role in deciding):
        return COOLING_OFF
    return ""
