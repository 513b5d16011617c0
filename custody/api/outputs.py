"""Requests and grants as the API shows them (dicts the schemas in custody.api.schemas validate).

``request_summary`` uses plain columns only. ``request_detail`` adds the text that ``reading.open_request``
decrypted (and audited) for the caller; nothing here decrypts on its own.
"""

from __future__ import annotations

from typing import Any

from custody.requests.models import AccessRequest, Grant
from custody.requests.reading import OpenedRequest


def request_summary(request: AccessRequest) -> dict[str, Any]:
    return {
        "id": request.pk,
        "number": request.number,
        "property": request.property.code,
        "request_type": request.request_type,
        "status": request.status,
        "urgency": request.urgency,
        "purpose": request.purpose,
        "legal_basis": request.legal_basis,
        "requester_kind": request.requester_kind,
        "requester": request.requester_id,
        "requester_name": str(request.requester),
        "cameras": sorted(c.code for c in request.cameras.all()),
        "areas": sorted(a.pk for a in request.areas.all()),
        "window_start": request.window_start,
        "window_end": request.window_end,
        "stay_from": request.stay_from,
        "stay_until": request.stay_until,
        "approvals_required": request.approvals_required,
        "approver_roles": list(request.approver_roles or []),
        "instrument": {
            "content_type": request.instrument_content_type,
            "size": request.instrument_size or 0,
            "sha256": request.instrument_sha256,
        }
        if request.instrument_sha256
        else None,
        "created_at": request.created_at,
        "submitted_at": request.submitted_at,
        "decided_at": request.decided_at,
        "due_at": request.due_at,
        "updated_at": request.updated_at,
    }


def grant_out(grant: Grant) -> dict[str, Any]:
    return {
        "id": grant.pk,
        "request": grant.request_id,
        "request_number": grant.request.number,
        "request_type": grant.request.request_type,
        "cameras": sorted(c.code for c in grant.cameras.all()),
        "window_start": grant.window_start,
        "window_end": grant.window_end,
        "guest_items": list(grant.guest_items),
        "stay_from": grant.stay_from,
        "stay_until": grant.stay_until,
        "fields": list(grant.fields),
        "valid_from": grant.valid_from,
        "valid_until": grant.valid_until,
        "view_quota": grant.view_quota,
        "views_used": grant.views_used,
        "revoked_at": grant.revoked_at,
        "expired_at": grant.expired_at,
        "break_glass": grant.break_glass,
        "active": grant.is_active() and grant.expired_at is None,
    }


def request_detail(request: AccessRequest, opened: OpenedRequest) -> dict[str, Any]:
    contact = opened.contact or {}
    return {
        **request_summary(request),
        "purpose_text": opened.purpose_text,
        "organisation": contact.get("organisation", ""),  # sealed with the contact
        "contact": {key: contact.get(key, "") for key in ("name", "email", "phone")},
        "identity_check": request.identity_check,
        "instrument_reference": opened.instrument_reference,
        "instrument_name": opened.instrument_name,
        "guests": [{"index": index, **item} for index, item in enumerate(opened.guests)],
        "approvals": [
            {
                "id": view.approval.pk,
                "approver": view.approval.approver_id,
                "approver_name": str(view.approval.approver),
                "roles": list(view.approval.approver_roles),
                "decision": view.approval.decision,
                "reason": view.reason,
                "narrowed": dict(view.approval.narrowed),
                "created_at": view.approval.created_at,
            }
            for view in opened.approvals
        ],
        "grants": [
            grant_out(grant)
            for grant in request.grants.select_related("request").prefetch_related("cameras").order_by("created_at")
        ],
    }
