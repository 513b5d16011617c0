"""/api/v1/grants: the caller's grants, revoking one (reviewers), and the granted guest reads.

A granted read goes through ``custody.requests.grants``, which checks the grant on every use (holder, revocation,
validity, quota, scope), counts the use and writes the audit entries; a refusal is a 403 naming the reason (404 for
a grant of another property), logged as denied. Results carry only the fields the request's purpose needs.
"""

from __future__ import annotations

import uuid
from typing import Any

from django.db import transaction
from django.http import HttpRequest
from ninja import Router

from custody.api import outputs
from custody.api.auth import Caller, caller
from custody.api.errors import ERRORS_FOR_BODY, ERRORS_FOR_OBJECT, ERRORS_FOR_READ
from custody.api.models import Scope
from custody.api.schemas import GrantOut, GuestLookupOut, RevokeIn, StayWindowOut
from custody.audit import gate
from custody.audit.events import Action
from custody.requests import actions, grants, reading
from custody.requests.models import Grant

router = Router(tags=["grants"])

FILE = "requests.file"
REVIEW = "requests.review"


def _grant_out(grant_id: uuid.UUID) -> dict[str, Any]:
    grant = Grant.objects.select_related("request").prefetch_related("cameras").get(pk=grant_id)
    return outputs.grant_out(grant)


@router.get(
    "/grants",
    response={200: list[GrantOut], **ERRORS_FOR_READ},
    operation_id="list_grants",
    url_name="list_grants",
    summary="Your grants",
)
def list_grants(request: HttpRequest) -> list[dict[str, Any]]:
    """The grants you hold at the token's property, newest first (active or not)."""
    who = caller(request, Scope.GRANTS_USE, FILE)
    with transaction.atomic():
        rows = list(
            Grant.objects.filter(property=who.prop, holder=who.user)
            .select_related("request")
            .prefetch_related("cameras")
            .order_by("-created_at")[:500]
        )
        gate.record(
            Action.REQUEST_LIST_VIEWED,
            actor=who.user,
            prop=who.prop,
            obj=who.prop,
            details=who.audit_details(list="grants", shown=len(rows)),
        )
        return [outputs.grant_out(grant) for grant in rows]


@router.post(
    "/grants/{grant_id}/revoke",
    response={200: GrantOut, **ERRORS_FOR_BODY},
    operation_id="revoke_grant",
    url_name="revoke_grant",
    summary="Revoke a grant",
)
def revoke_grant(request: HttpRequest, grant_id: uuid.UUID, payload: RevokeIn) -> dict[str, Any]:
    """Effective on the grant's next use. A reviewer's step; the reason is required."""
    who = caller(request, Scope.REQUESTS_REVIEW, REVIEW)
    grant = reading.get_grant_for_user(who.prop, who.user, grant_id)
    actions.revoke_grant(grant, payload.reason, acting_user=who.user)
    return _grant_out(grant.pk)


def _user(request: HttpRequest) -> Caller:
    return caller(request, Scope.GRANTS_USE, FILE)


@router.get(
    "/grants/{grant_id}/guest-lookup",
    response={200: GuestLookupOut, **ERRORS_FOR_OBJECT},
    operation_id="granted_guest_lookup",
    url_name="granted_guest_lookup",
    summary="Look up the granted guests",
)
def granted_guest_lookup(request: HttpRequest, grant_id: uuid.UUID) -> dict[str, Any]:
    """Every guest identifier the grant covers, looked up exactly; one use of the grant. Each guest found comes with
    the fields the request's purpose needs and their stays here, nothing more."""
    who = _user(request)
    results = grants.granted_guest_lookup(grant_id, actor=who.user, prop=who.prop)
    return {
        "grant": grant_id,
        "results": [{"index": r.index, "kind": r.kind, "guests": r.guests} for r in results],
    }


@router.get(
    "/grants/{grant_id}/stay-window",
    response={200: StayWindowOut, **ERRORS_FOR_OBJECT},
    operation_id="granted_stay_window",
    url_name="granted_stay_window",
    summary="The stays in the granted window",
)
def granted_stay_window(request: HttpRequest, grant_id: uuid.UUID) -> dict[str, Any]:
    """Every stay that overlaps the grant's stay window (arrived on or before its last day, left on or after its
    first), with its guests' fields as the purpose allows; one use of the grant."""
    who = _user(request)
    rows = grants.granted_stay_window(grant_id, actor=who.user, prop=who.prop)
    grant = Grant.objects.get(pk=grant_id)
    return {
        "grant": grant_id,
        "stay_from": grant.stay_from,
        "stay_until": grant.stay_until,
        "rows": [
            {
                "stay": {
                    "id": row.stay.pk,
                    "room": row.stay.room.number if row.stay.room else "",
                    "check_in": row.stay.check_in_planned,
                    "check_out": row.stay.check_out_planned,
                    "status": row.stay.get_status_display(),
                },
                "guests": row.guests,
            }
            for row in rows
        ],
    }
