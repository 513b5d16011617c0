"""Who may see a request, and the one place the request pages decrypt its text (STYLE rule 3).

A request is seen by its requester and by the property's reviewers (``requests.review``); anyone else, and any
request of another property, gets a 404 so its existence never leaks. Every decryption writes its audit entry
(``request.viewed``, ``request.instrument.read``, ``request.pdf.rendered``) in the same transaction, first, so a
failed audit write shows nothing (fail closed); the guests a request names are opened through the read gate
(``sealing.open_guest_scope`` on ``authority.for_request``), which writes ``request.guest_scope.read`` too. Audit
details hold codes and counts only.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from typing import Any

from django.db import transaction
from django.db.models import Q, QuerySet
from django.http import Http404
from django.utils import timezone
from django.utils.translation import gettext as _

from custody import authority
from custody.accounts.models import User
from custody.audit import gate
from custody.audit.events import Action
from custody.audit.models import AuditEntry
from custody.footage.models import Camera
from custody.properties.models import Property
from custody.requests import sealing
from custody.requests.actions import RequestData, guest_label, request_data
from custody.requests.models import AccessRequest, Approval, BreakGlassReview, Grant

REVIEW_PERMISSION = "requests.review"
# Reads of the request itself: kept apart from its steps on the timeline.
READ_ACTIONS = frozenset(
    {
        Action.REQUEST_VIEWED,
        Action.REQUEST_INSTRUMENT_READ,
        Action.REQUEST_PDF_RENDERED,
        Action.REQUEST_LIST_VIEWED,
        Action.REQUEST_GUEST_SCOPE_READ,
    }
)
INSTRUMENT_EXTENSIONS = {"application/pdf": "pdf", "image/png": "png", "image/jpeg": "jpg"}


def is_reviewer(user: User, prop: Property) -> bool:
    return user.has_perm(REVIEW_PERMISSION, prop)


def entitled(user: User, request: AccessRequest) -> bool:
    """The requester and the reviewers of the request's property may see it."""
    return request.requester_id == user.pk or is_reviewer(user, request.property)


def _denied(user: User, prop: Property, object_type: str, pk: Any, reason: str) -> Http404:
    gate.record_denied(
        Action.ACCESS_DENIED,
        actor=user,
        prop=prop,
        object_type=object_type,
        object_id=str(pk),
        details={"reason": reason},
    )
    return Http404("No such request.")


def get_request_for_user(prop: Property, user: User, pk: uuid.UUID) -> AccessRequest:
    """The request, if it is this property's and the user may see it; else 404 (and a denied audit entry)."""
    request = AccessRequest.objects.select_related("property", "requester").filter(pk=pk, property=prop).first()
    if request is None:
        raise _denied(user, prop, "requests.accessrequest", pk, "not_found")
    if not entitled(user, request):
        raise _denied(user, prop, "requests.accessrequest", pk, "not_entitled")
    return request


def get_grant_for_user(prop: Property, user: User, pk: uuid.UUID) -> Grant:
    """The grant, if it is this property's and the user holds it or reviews here; else 404."""
    grant = Grant.objects.select_related("request", "holder", "property").filter(pk=pk, property=prop).first()
    if grant is None:
        raise _denied(user, prop, "requests.grant", pk, "not_found")
    if grant.holder_id != user.pk and not is_reviewer(user, prop):
        raise _denied(user, prop, "requests.grant", pk, "not_entitled")
    return grant


def scope_cameras(request: AccessRequest) -> list[Camera]:
    """The cameras a footage request reaches: those named and every camera in the areas named."""
    return list(
        Camera.objects.filter(Q(pk__in=request.cameras.values("pk")) | Q(area__in=request.areas.all()))
        .select_related("area")
        .distinct()
        .order_by("code")
    )


@dataclass
class ApprovalView:
    approval: Approval
    reason: str
    is_answer: bool  # the requester's answer to a question


@dataclass
class OpenedRequest:
    """A request's text, decrypted for one entitled person (the read is in the audit log)."""

    purpose_text: str
    instrument_reference: str
    instrument_name: str
    contact: dict[str, str]
    guests: list[dict[str, str]]
    approvals: list[ApprovalView] = field(default_factory=list)
    revoke_reasons: dict[uuid.UUID, str] = field(default_factory=dict)
    review_notes: dict[uuid.UUID, str] = field(default_factory=dict)

    @property
    def guest_labels(self) -> list[tuple[str, str]]:
        return [(item.get("kind", ""), guest_label(item)) for item in self.guests]


def _record(action: Action, request: AccessRequest, actor: User, **details: Any) -> None:
    gate.record(
        action,
        actor=actor,
        prop=request.property,
        obj=request,
        request_ref=request.number,
        details={"status": request.status, **details},
    )


def open_request(
    request: AccessRequest, *, actor: User, action: Action = Action.REQUEST_VIEWED, **details: Any
) -> OpenedRequest:
    """Decrypt what the request pages show; the audit entry is written first, in the same transaction."""
    if not entitled(actor, request):
        raise Http404("No such request.")
    with transaction.atomic():
        _record(action, request, actor, **details)
        dek = sealing.key_of(request)
        opened = OpenedRequest(
            purpose_text=sealing.open_text(dek, request, "purpose_text"),
            instrument_reference=sealing.open_text(dek, request, "instrument_reference"),
            instrument_name=sealing.open_text(dek, request, "instrument_name"),
            contact=sealing.open_json(dek, request, "external_contact", {}),
            guests=sealing.open_guest_scope(request, authority=authority.for_request(request, actor=actor)),
        )
        for approval in request.approvals.select_related("approver").order_by("created_at", "id"):
            opened.approvals.append(
                ApprovalView(
                    approval, sealing.open_text(dek, approval, "reason"), approval.approver_roles == ["requester"]
                )
            )
        for grant in request.grants.all():
            opened.revoke_reasons[grant.pk] = sealing.open_text(dek, grant, "revoke_reason")
        for review in BreakGlassReview.objects.filter(grant__request=request):
            opened.review_notes[review.grant_id] = sealing.open_text(dek, review, "notes")
        return opened


def read_instrument(request: AccessRequest, *, actor: User) -> tuple[bytes, str, str]:
    """The legal instrument's bytes, content type and a download name made of the request number (the stored
    file name may name a person, so it is not sent in a header)."""
    if not entitled(actor, request) or not request.instrument_sha256:
        raise Http404("No legal instrument.")
    with transaction.atomic():
        _record(Action.REQUEST_INSTRUMENT_READ, request, actor, sha256=request.instrument_sha256)
        data = sealing.open_bytes(sealing.key_of(request), request, "instrument_file")
    content_type = request.instrument_content_type or "application/octet-stream"
    extension = INSTRUMENT_EXTENSIONS.get(content_type, "bin")
    return data, content_type, f"{request.number}-instrument.{extension}"


def timeline(request: AccessRequest) -> tuple[list[AuditEntry], list[AuditEntry]]:
    """The request's audit entries (its steps, then the reads of it), oldest first. Entries of its grants that
    name only the grant (the vault's reads under it) are included."""
    grant_ids = [str(pk) for pk in request.grants.values_list("pk", flat=True)]
    entries: QuerySet[AuditEntry] = (
        AuditEntry.objects.filter(property=request.property)
        .filter(Q(request_ref=request.number) | Q(grant_ref__in=grant_ids))
        .select_related("actor")
        .order_by("seq")
    )
    steps: list[AuditEntry] = []
    reads: list[AuditEntry] = []
    for entry in entries:
        (reads if entry.action in READ_ACTIONS else steps).append(entry)
    return steps, reads


def open_for_edit(request: AccessRequest, *, actor: User) -> RequestData:
    """What the requester filled in (``actions.request_data``), decrypted for the edit form; audited."""
    if request.requester_id != actor.pk:
        raise Http404("No such request.")
    with transaction.atomic():
        _record(Action.REQUEST_VIEWED, request, actor, page="edit")
        return request_data(request)


def guest_scope_labels(request: AccessRequest, *, actor: User, page: str) -> list[tuple[str, str]]:
    """The (kind, label) of each guest identifier the request names, for its requester; audited."""
    if request.requester_id != actor.pk and not is_reviewer(actor, request.property):
        raise Http404("No such request.")
    with transaction.atomic():
        _record(Action.REQUEST_VIEWED, request, actor, page=page)
        items = sealing.open_guest_scope(request, authority=authority.for_request(request, actor=actor))
    return [(item.get("kind", ""), guest_label(item)) for item in items]


def grant_state(grant: Grant, now: Any = None) -> tuple[str, str]:
    """A grant's state as (code, label): revoked, ended, used up, not yet valid or active."""
    now = now or timezone.now()
    if grant.revoked_at is not None:
        return "revoked", _("Revoked")
    if grant.expired_at is not None or now >= grant.valid_until:
        return "ended", _("Ended")
    if grant.view_quota is not None and grant.views_used >= grant.view_quota:
        return "used_up", _("All uses taken")
    if now < grant.valid_from:
        return "pending", _("Not yet valid")
    return "active", _("Valid now")
