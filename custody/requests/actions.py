"""Every state change of an access request, one audited action each (STYLE rule 2).

    draft -> submitted -> in review -> approved | partly approved | denied
                 \\-> needs information -> submitted (the requester answers, or changes the request)
    draft, submitted, in review, needs information -> withdrawn (by the requester)
    approved, partly approved -> fulfilled (by the holder) | expired (the grant ran out unused)

Each action locks the request row (``select_for_update``), checks the transition and the actor, writes the change and
its audit entry in one transaction, and sends its e-mails only after the commit. Four eyes (invariant 5): the
requester never approves or denies their own request, and the approvals a request needs come from as many different
people, each holding a role the policy names. A denial needs a reason.

An approval is given to one version of the request (``custody.requests.versions``): a change of its content after
submission makes a new version, sends it back to "submitted", applies the approval policy again to the new content
and leaves every earlier approval without effect; a grant comes only from approvals of the current version.
Answering a question without changing the content keeps the approvals.

A refused step (wrong state, four eyes, a role the policy does not name, a narrowing outside the request) raises a
``Refusal`` carrying a reason code, and its ``denied`` audit entry is written after the step's transaction has rolled
back, so it is kept (``custody.requests.errors``). The guests of a scope are checked in ``guest_scope``.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from django.db import IntegrityError, connection, transaction
from django.db.models import F
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from custody.accounts.models import User
from custody.accounts.separation import decision_conflict
from custody.audit import gate
from custody.audit.events import Action
from custody.footage.models import Camera
from custody.properties.models import Area, Property
from custody.requests import notify, policy, sealing, versions
from custody.requests.errors import TEXT_LIMIT as TEXT_LIMIT
from custody.requests.errors import (
    NarrowingRefused,
    RequestError,
    TransitionRefused,
    audited,
    check_text,
)
from custody.requests.guest_scope import SECOND_KINDS as SECOND_KINDS
from custody.requests.guest_scope import check_guest_scope
from custody.requests.guest_scope import guest_label as guest_label
from custody.requests.models import (
    CLOSED_STATUSES,
    FOOTAGE_TYPES,
    GRANTED_STATUSES,
    OPEN_STATUSES,
    AccessRequest,
    Alert,
    AlertKind,
    Approval,
    BreakGlassReview,
    Decision,
    Grant,
    IdentityCheck,
    LegalBasis,
    Preservation,
    Purpose,
    RequestCounter,
    RequesterKind,
    RequestType,
    ReviewOutcome,
    Status,
    Urgency,
)

INSTRUMENT_MAX_BYTES = 10 * 1024 * 1024
INSTRUMENT_TYPES = {b"%PDF-": "application/pdf", b"\x89PNG\r\n\x1a\n": "image/png", b"\xff\xd8\xff": "image/jpeg"}
MAX_STAY_WINDOW_DAYS = 92
BREAK_GLASS_HOURS = 4
# Footage cannot be asked for beyond this far ahead of now (it does not exist yet).
FUTURE_SLACK = dt.timedelta(minutes=5)
# What a reviewer is told when separation of duties stops their decision (reason codes of decision_conflict).
DECISION_CONFLICT_MESSAGES = {
    "created_requester": _("You created the account that filed this request: someone else must decide it."),
    "empowered_requester": _("You gave a role to the account that filed this request: someone else must decide it."),
    "cooling_off": _(
        "Your account or reviewer role is too new to decide requests; another reviewer must decide this one."
    ),
}
DECISION_CONFLICT_FALLBACK = _("You cannot decide this request: another reviewer must.")


@dataclass
class RequestData:
    """What a requester fills in. Guests: items of the stored shape described at SECOND_KINDS."""

    request_type: str
    purpose: str
    legal_basis: str
    purpose_text: str = ""
    urgency: str = Urgency.NORMAL
    requester_kind: str = RequesterKind.STAFF
    organisation: str = ""
    contact: dict[str, str] = field(default_factory=dict)  # name, email, phone of an external requester
    identity_check: str = IdentityCheck.NONE
    instrument_reference: str = ""
    instrument: bytes | None = None
    instrument_name: str = ""
    cameras: Sequence[Camera] = ()
    areas: Sequence[Area] = ()
    window_start: dt.datetime | None = None
    window_end: dt.datetime | None = None
    guests: list[dict[str, str]] = field(default_factory=list)
    stay_from: dt.date | None = None
    stay_until: dt.date | None = None


@dataclass(frozen=True)
class Narrowing:
    """An approver's narrower scope: each field None keeps what the request (or an earlier narrowing) had."""

    cameras: list[int] | None = None
    window_start: dt.datetime | None = None
    window_end: dt.datetime | None = None
    guest_items: list[int] | None = None
    stay_from: dt.date | None = None
    stay_until: dt.date | None = None
    grant_days: int | None = None
    view_quota: int | None = None

    def as_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for name in ("cameras", "guest_items", "grant_days", "view_quota"):
            if getattr(self, name) is not None:
                out[name] = getattr(self, name)
        for name in ("window_start", "window_end", "stay_from", "stay_until"):
            if getattr(self, name) is not None:
                out[name] = getattr(self, name).isoformat()
        return out

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Narrowing:
        def moment(name: str) -> dt.datetime | None:
            return dt.datetime.fromisoformat(data[name]) if name in data else None

        def day(name: str) -> dt.date | None:
            return dt.date.fromisoformat(data[name]) if name in data else None

        return cls(
            cameras=data.get("cameras"),
            window_start=moment("window_start"),
            window_end=moment("window_end"),
            guest_items=data.get("guest_items"),
            stay_from=day("stay_from"),
            stay_until=day("stay_until"),
            grant_days=data.get("grant_days"),
            view_quota=data.get("view_quota"),
        )


# --- validation ---------------------------------------------------------------------------------------------------


def check_instrument(data: bytes, name: str) -> str:
    """The legal instrument's content type, from its first bytes; RequestError when it is not a PDF or image."""
    if len(data) == 0:
        raise RequestError("instrument", _("The file is empty."))
    if len(data) > INSTRUMENT_MAX_BYTES:
        raise RequestError("instrument", _("The file is larger than 10 MB."))
    for magic, content_type in INSTRUMENT_TYPES.items():
        if data.startswith(magic):
            return content_type
    raise RequestError("instrument", _("Only PDF, PNG and JPEG files are accepted."))


def _check_scope(prop: Property, data: RequestData, *, complete: bool) -> None:
    """Scope rules; ``complete`` (at submission) also requires what a draft may still lack."""
    if data.request_type not in RequestType.values:
        raise RequestError("request_type", _("Choose a request type."))
    if data.purpose not in Purpose.values:
        raise RequestError("purpose", _("Choose a purpose."))
    if data.purpose == Purpose.OTHER and not data.purpose_text.strip():
        raise RequestError("purpose_text", _("Say what the purpose is."))
    for camera in data.cameras:
        if camera.property_id != prop.pk:
            raise RequestError("cameras", _("A camera of another property was named."))
    for area in data.areas:
        if area.property_id != prop.pk:
            raise RequestError("areas", _("An area of another property was named."))
        if area.is_private:
            raise RequestError("areas", _("%(area)s is a private area: it has no cameras.") % {"area": area.name})
    if data.window_start and data.window_end:
        if data.window_end <= data.window_start:
            raise RequestError("window_end", _("The window ends before it starts."))
        if data.window_start > timezone.now() + FUTURE_SLACK:
            raise RequestError("window_start", _("The window starts in the future: there is no footage yet."))
    guests = check_guest_scope(data.guests)
    if data.stay_from and data.stay_until:
        if data.stay_until < data.stay_from:
            raise RequestError("stay_until", _("The stay window ends before it starts."))
        if (data.stay_until - data.stay_from).days + 1 > MAX_STAY_WINDOW_DAYS:
            raise RequestError(
                "stay_until", _("A stay window is at most %(days)s days.") % {"days": MAX_STAY_WINDOW_DAYS}
            )
        for n, item in enumerate(guests, start=1):
            if item["second_kind"] == "stay_date" and not (
                data.stay_from.isoformat() <= item["second_value"] <= data.stay_until.isoformat()
            ):
                raise RequestError(
                    "guests", _("Guest %(n)s: the date of the stay lies outside the stay window.") % {"n": n}
                )
    if data.requester_kind != RequesterKind.STAFF:
        if complete and not data.contact.get("name", "").strip():
            raise RequestError("contact_name", _("Name the person who asks."))
        external_body = data.requester_kind in (RequesterKind.AUTHORITY, RequesterKind.OTHER)
        if complete and external_body and not data.organisation.strip():
            raise RequestError("organisation", _("Name the organisation that asks."))
        if complete and not data.identity_check:
            raise RequestError("identity_check", _("Record how the requester's identity was checked."))
    if not complete:
        return
    if data.request_type in FOOTAGE_TYPES:
        if not data.cameras and not data.areas:
            raise RequestError("cameras", _("Name at least one camera or area."))
        if not (data.window_start and data.window_end):
            raise RequestError("window_start", _("Give the start and end of the footage window."))
        rule = policy.requirement(prop, data.request_type, _areas_of(data), data.purpose)
        minutes = (data.window_end - data.window_start).total_seconds() / 60
        if minutes > rule.max_window_minutes:
            raise RequestError(
                "window_end",
                _("The window is longer than %(minutes)s minutes; split the request or narrow it.")
                % {"minutes": rule.max_window_minutes},
            )
    elif data.request_type == RequestType.STAY_WINDOW:
        if not (data.stay_from and data.stay_until):
            raise RequestError("stay_from", _("Give the first and last day of the stay window."))
    else:
        if not guests:
            raise RequestError("guests", _("Name at least one guest, with a second identifier."))
        if data.request_type == RequestType.GUEST_LOOKUP and not (data.stay_from and data.stay_until):
            raise RequestError(
                "stay_from", _("Give the first and last day of the stays to look up: only stays in it are shown.")
            )


def _areas_of(data: RequestData) -> list[Area]:
    areas = {area.pk: area for area in data.areas}
    for camera in data.cameras:
        areas[camera.area_id] = camera.area
    return list(areas.values())


def _next_number(prop: Property, year: int) -> str:
    counter, _created = RequestCounter.objects.select_for_update().get_or_create(property=prop, year=year)
    RequestCounter.objects.filter(pk=counter.pk).update(last=counter.last + 1)
    return f"R-{year}-{counter.last + 1:05d}"


def _write(request: AccessRequest, data: RequestData, dek: bytes) -> None:
    request.request_type = data.request_type
    request.purpose = data.purpose
    request.legal_basis = data.legal_basis
    request.urgency = data.urgency
    request.requester_kind = data.requester_kind
    request.identity_check = data.identity_check if data.requester_kind != RequesterKind.STAFF else ""
    who = {
        key: check_text(f"contact_{key}", str(data.contact[key]).strip(), 254)
        for key in ("name", "email", "phone")
        if str(data.contact.get(key) or "").strip()
    }
    organisation = check_text("organisation", data.organisation.strip(), 200)
    if organisation:
        who["organisation"] = organisation
    request.external_contact = sealing.seal_json(dek, request, "external_contact", who)
    request.purpose_text = sealing.seal(dek, request, "purpose_text", check_text("purpose_text", data.purpose_text))
    reference = check_text("instrument_reference", data.instrument_reference.strip(), 200)
    request.instrument_reference = sealing.seal(dek, request, "instrument_reference", reference)
    if data.instrument is not None:
        request.instrument_content_type = check_instrument(data.instrument, data.instrument_name)
        request.instrument_file = sealing.seal_bytes(dek, request, "instrument_file", data.instrument)
        name = check_text("instrument", data.instrument_name[-200:] or "instrument")
        request.instrument_name = sealing.seal(dek, request, "instrument_name", name)
        request.instrument_size = len(data.instrument)
        request.instrument_sha256 = hashlib.sha256(data.instrument).hexdigest()
    elif not request.instrument_sha256:
        request.instrument_file = sealing.seal(dek, request, "instrument_file", "")
        request.instrument_name = sealing.seal(dek, request, "instrument_name", "")
    request.guest_scope = sealing.seal_json(dek, request, "guest_scope", check_guest_scope(data.guests))
    request.window_start, request.window_end = data.window_start, data.window_end
    request.stay_from, request.stay_until = data.stay_from, data.stay_until


def _scope_details(request: AccessRequest) -> dict[str, Any]:
    return {
        "type": request.request_type,
        "purpose": request.purpose,
        "cameras": sorted(request.cameras.values_list("code", flat=True)),
        "areas": sorted(request.areas.values_list("pk", flat=True)),
        "window_start": request.window_start.isoformat() if request.window_start else None,
        "window_end": request.window_end.isoformat() if request.window_end else None,
        "stay_from": request.stay_from.isoformat() if request.stay_from else None,
        "stay_until": request.stay_until.isoformat() if request.stay_until else None,
    }


def _audit(action: Action, request: AccessRequest, actor: User | None, **details: Any) -> None:
    gate.record(
        action,
        actor=actor,
        prop=request.property,
        obj=request,
        request_ref=request.number,
        details={"status": request.status, **details},
    )


def _locked(request: AccessRequest) -> AccessRequest:
    """The request row, locked until the transaction ends. SQLite has no row locks: a no-op write takes its
    database write lock first, so a concurrent decision waits (busy timeout) instead of failing to upgrade."""
    if connection.vendor == "sqlite":
        AccessRequest.objects.filter(pk=request.pk).update(status=F("status"))
    return AccessRequest.objects.select_for_update().select_related("property", "requester").get(pk=request.pk)


# --- the requester's actions --------------------------------------------------------------------------------------


@transaction.atomic
def create_request(prop: Property, data: RequestData, *, acting_user: User) -> AccessRequest:
    """A draft, validated as far as a draft can be; ``submit_request`` checks the rest."""
    _check_scope(prop, data, complete=False)
    now = timezone.now()
    request = AccessRequest(id=uuid.uuid4(), property=prop, requester=acting_user, created_at=now)
    dek = sealing.new_key(request)
    _write(request, data, dek)
    request.number = _next_number(prop, now.year)
    request.save(force_insert=True)
    request.cameras.set(data.cameras)
    request.areas.set(data.areas)
    versions.stamp(request)
    request.save(update_fields=["content_digest", "field_digests"])
    _audit(Action.REQUEST_CREATED, request, acting_user, **_scope_details(request))
    return request


@audited(Action.REQUEST_UPDATED)
def update_draft(request: AccessRequest, data: RequestData, *, acting_user: User) -> AccessRequest:
    """Change a draft, or a request a reviewer asked about. A request that was submitted must stay complete, and a
    change of its content is a new version: back to "submitted", the policy applied again to the new content, the
    earlier approvals void (they name the digest of a version that is no longer current). Saving it unchanged keeps
    everything as it was."""
    request = _locked(request)
    if request.requester_id != acting_user.pk:
        raise TransitionRefused(_("Only the requester can change a request."), "not_the_requester")
    if request.status not in (Status.DRAFT, Status.NEEDS_INFO):
        raise TransitionRefused(
            _("Only a draft, or a request that needs information, can be changed."), "not_editable"
        )
    submitted_before = request.status != Status.DRAFT
    _check_scope(request.property, data, complete=submitted_before)
    before = versions.of(request)
    _write(request, data, sealing.key_of(request))
    request.save()
    request.cameras.set(data.cameras)
    request.areas.set(data.areas)
    changed = versions.of(request).changed_since(before.fields)
    details: dict[str, Any] = {"changed": changed}
    if submitted_before and changed:
        voided = request.approvals.filter(
            decision__in=[Decision.APPROVE, Decision.NARROW], request_digest=before.digest
        ).count()
        request.version += 1
        rule = _apply_policy(request, data)
        details |= {"version": request.version, "approvals_voided": voided, "approvals_required":
                    rule.approvals_required, "instrument_required": rule.instrument_required}  # fmt: skip
    version = versions.stamp(request)
    request.save()
    details["digest"] = version.digest
    _audit(Action.REQUEST_UPDATED, request, acting_user, **_scope_details(request), **details)
    if submitted_before and changed:
        if request.request_type in FOOTAGE_TYPES:
            _release(request, acting_user)
            _preserve(request, acting_user)
        transaction.on_commit(lambda: notify.submitted(request.pk))
    return request


def _apply_policy(request: AccessRequest, data: RequestData) -> policy.Requirement:
    """Submit the request's current content: the rule for it is fixed on the row (approvers, instrument, grant
    terms), the due date set. RequestError when the rule needs a legal instrument the request lacks."""
    rule = policy.requirement_for(request)
    if rule.instrument_required and not (request.instrument_sha256 and data.instrument_reference.strip()):
        raise RequestError("instrument", _("This request needs the legal instrument: its reference and a copy."))
    now = timezone.now()
    request.status = Status.SUBMITTED
    request.submitted_at = now
    request.due_at = policy.due_at(now, rule, request.urgency)
    request.approvals_required = rule.approvals_required
    request.approver_roles = list(rule.approver_roles)
    request.instrument_required = rule.instrument_required
    request.grant_days = rule.grant_days
    request.view_quota = rule.view_quota
    return rule


def request_data(request: AccessRequest) -> RequestData:
    """What the requester filled in, decrypted (for the edit form and for submission checks; callers audit reads)."""
    dek = sealing.key_of(request)
    who = sealing.open_json(dek, request, "external_contact", {})
    return RequestData(
        request_type=request.request_type,
        purpose=request.purpose,
        legal_basis=request.legal_basis,
        purpose_text=sealing.open_text(dek, request, "purpose_text"),
        urgency=request.urgency,
        requester_kind=request.requester_kind,
        organisation=who.get("organisation", ""),
        contact={key: who[key] for key in ("name", "email", "phone") if key in who},
        identity_check=request.identity_check,
        instrument_reference=sealing.open_text(dek, request, "instrument_reference"),
        instrument=None,
        instrument_name="",
        cameras=list(request.cameras.select_related("area")),
        areas=list(request.areas.all()),
        window_start=request.window_start,
        window_end=request.window_end,
        guests=sealing.open_json(dek, request, "guest_scope", []),
        stay_from=request.stay_from,
        stay_until=request.stay_until,
    )


@audited(Action.REQUEST_SUBMITTED)
def submit_request(request: AccessRequest, *, acting_user: User) -> AccessRequest:
    """Send a draft for review: the policy is fixed for it, its due date set, and footage in scope preserved."""
    request = _locked(request)
    if request.requester_id != acting_user.pk:
        raise TransitionRefused(_("Only the requester can submit a request."), "not_the_requester")
    if request.status != Status.DRAFT:
        raise TransitionRefused(_("Only a draft can be submitted."), "not_a_draft")
    data = request_data(request)
    _check_scope(request.property, data, complete=True)
    rule = _apply_policy(request, data)
    version = versions.stamp(request)
    request.save()
    assert request.due_at is not None
    _audit(
        Action.REQUEST_SUBMITTED,
        request,
        acting_user,
        approvals_required=rule.approvals_required,
        due=request.due_at.isoformat(),
        version=request.version,
        digest=version.digest,
    )
    if request.request_type in FOOTAGE_TYPES:
        _preserve(request, acting_user)
    transaction.on_commit(lambda: notify.submitted(request.pk))
    return request


@audited(Action.REQUEST_WITHDRAWN)
def withdraw_request(request: AccessRequest, *, acting_user: User) -> AccessRequest:
    request = _locked(request)
    if request.requester_id != acting_user.pk:
        raise TransitionRefused(_("Only the requester can withdraw a request."), "not_the_requester")
    if request.status not in (Status.DRAFT, *OPEN_STATUSES):
        raise TransitionRefused(_("A decided request cannot be withdrawn."), "request_decided")
    request.status = Status.WITHDRAWN
    request.decided_at = timezone.now()
    request.save()
    _audit(Action.REQUEST_WITHDRAWN, request, acting_user)
    _release(request, acting_user)
    return request


@audited(Action.REQUEST_INFO_PROVIDED)
def provide_information(request: AccessRequest, text: str, *, acting_user: User) -> AccessRequest:
    """The requester answers a reviewer's question. The content does not change here (changes go through
    update_draft, a new version), so the approvals given so far keep counting."""
    request = _locked(request)
    if request.requester_id != acting_user.pk:
        raise TransitionRefused(_("Only the requester can answer."), "not_the_requester")
    if request.status != Status.NEEDS_INFO:
        raise TransitionRefused(_("No information was asked for."), "no_question_open")
    if not text.strip():
        raise RequestError("text", _("Write the information asked for."))
    data = request_data(request)
    _check_scope(request.property, data, complete=True)
    _note(request, acting_user, Decision.NEEDS_INFO, ["requester"], text, "text")
    request.status = Status.SUBMITTED
    request.save()
    _audit(Action.REQUEST_INFO_PROVIDED, request, acting_user, version=request.version)
    transaction.on_commit(lambda: notify.submitted(request.pk))
    return request


# --- the reviewer's actions ---------------------------------------------------------------------------------------


def _note(request: AccessRequest, user: User, decision: str, roles: list[str], text: str, field_name: str) -> Approval:
    """Record one person's decision, question or answer on a request, its text sealed under the request's key."""
    approval = Approval(id=uuid.uuid4(), request=request, approver=user, decision=decision, approver_roles=roles)
    approval.reason = sealing.seal(sealing.key_of(request), approval, "reason", check_text(field_name, text))
    approval.save(force_insert=True)
    return approval


def _check_reviewer(request: AccessRequest, user: User) -> list[str]:
    """The reviewer's approver roles at the property; TransitionRefused for the requester or a user without one."""
    if user.pk == request.requester_id:
        raise TransitionRefused(_("You filed this request: someone else must review it."), "own_request")
    roles = sorted(set(user.roles_at(request.property)) & set(request.approver_roles or policy.REVIEWERS))
    if not roles:
        raise TransitionRefused(
            _("Your roles here do not include one that may decide this request."), "role_not_named"
        )
    return roles


def _check_independent(request: AccessRequest, user: User, roles: list[str]) -> None:
    """Invariant 5 on accounts: nobody decides a request filed by an account they created or gave a role to, and an
    account or role younger than the cooling-off period decides nothing (custody.accounts.separation)."""
    conflict = decision_conflict(user, request.requester, request.property, roles=roles)
    if conflict:
        raise TransitionRefused(DECISION_CONFLICT_MESSAGES.get(conflict, DECISION_CONFLICT_FALLBACK), conflict)


def _check_waiting(request: AccessRequest, message: Any) -> None:
    if request.status not in (Status.SUBMITTED, Status.IN_REVIEW):
        closed = request.status in GRANTED_STATUSES or request.status in CLOSED_STATUSES
        raise TransitionRefused(message, "request_closed" if closed else "not_waiting_for_review")


@audited(Action.REQUEST_REVIEW_STARTED)
def start_review(request: AccessRequest, *, acting_user: User) -> AccessRequest:
    request = _locked(request)
    _check_reviewer(request, acting_user)
    if request.status != Status.SUBMITTED:
        closed = request.status in GRANTED_STATUSES or request.status in CLOSED_STATUSES
        raise TransitionRefused(
            _("Only a submitted request can be taken into review."),
            "request_closed" if closed else "not_waiting_for_review",
        )
    request.status = Status.IN_REVIEW
    request.save()
    _audit(Action.REQUEST_REVIEW_STARTED, request, acting_user)
    return request


@audited(Action.REQUEST_INFO_REQUESTED)
def ask_for_information(request: AccessRequest, question: str, *, acting_user: User) -> AccessRequest:
    request = _locked(request)
    roles = _check_reviewer(request, acting_user)
    _check_waiting(request, _("This request is not waiting for a review."))
    if not question.strip():
        raise RequestError("reason", _("Say what information is needed."))
    approval = _note(request, acting_user, Decision.NEEDS_INFO, roles, question, "reason")
    request.status = Status.NEEDS_INFO
    request.save()
    _audit(Action.REQUEST_INFO_REQUESTED, request, acting_user, approval=str(approval.pk))
    transaction.on_commit(lambda: notify.needs_information(request.pk))
    return request


@audited(Action.REQUEST_DENIED)
def deny_request(request: AccessRequest, reason: str, *, acting_user: User) -> AccessRequest:
    request = _locked(request)
    roles = _check_reviewer(request, acting_user)
    _check_waiting(request, _("This request is not waiting for a decision."))
    _check_independent(request, acting_user, roles)
    if not reason.strip():
        raise RequestError("reason", _("A denial needs a reason."))
    approval = _note(request, acting_user, Decision.DENY, roles, reason, "reason")
    request.status = Status.DENIED
    request.decided_at = timezone.now()
    request.save()
    _audit(Action.REQUEST_DENIED, request, acting_user, approval=str(approval.pk), roles=roles)
    _release(request, acting_user)
    transaction.on_commit(lambda: notify.decided(request.pk))
    return request


APPROVING = [Decision.APPROVE, Decision.NARROW]


@audited(Action.REQUEST_APPROVAL_GIVEN)
def approve_request(
    request: AccessRequest, *, acting_user: User, reason: str = "", narrowing: Narrowing | None = None
) -> AccessRequest:
    """One approval of the request's current version; when the policy's number of different approvers of that
    version is reached, the decision and its grant. Approvals of an earlier version do not count.

    A narrowing must lie inside the request's scope; the grant gets the intersection of every approver's scope.
    """
    request = _locked(request)
    roles = _check_reviewer(request, acting_user)
    _check_waiting(request, _("This request is not waiting for a decision."))
    _check_independent(request, acting_user, roles)
    if request.instrument_required and not request.instrument_sha256:
        raise TransitionRefused(_("The legal instrument this request needs is missing."), "instrument_missing")
    # The digest of the content as it is now, not as stored: a row changed behind the workflow's back is a version
    # no earlier approval saw.
    version = versions.of(request)
    mine = request.approvals.filter(approver=acting_user, decision__in=APPROVING, request_digest=version.digest)
    if mine.exists():
        raise TransitionRefused(
            _("You have already approved this request; another person must give the next approval."),
            "already_approved",
        )
    if narrowing is not None:
        _check_narrowing(request, narrowing)
    approval = Approval(
        id=uuid.uuid4(),
        request=request,
        approver=acting_user,
        decision=Decision.NARROW if narrowing and narrowing.as_json() else Decision.APPROVE,
        approver_roles=roles,
        narrowed=narrowing.as_json() if narrowing else {},
        request_digest=version.digest,
        request_version=request.version,
    )
    approval.reason = sealing.seal(sealing.key_of(request), approval, "reason", check_text("reason", reason))
    try:
        with transaction.atomic():
            approval.save(force_insert=True)
    except IntegrityError:
        raise TransitionRefused(_("You have already approved this request."), "already_approved") from None
    approvals = list(request.approvals.filter(decision__in=APPROVING, request_digest=version.digest))
    counted = {"version": request.version, "digest": version.digest, "approval": str(approval.pk), "roles": roles}
    if len({a.approver_id for a in approvals}) < request.approvals_required:
        request.status = Status.IN_REVIEW
        request.save()
        _audit(
            Action.REQUEST_APPROVAL_GIVEN,
            request,
            acting_user,
            **counted,
            approvals=len(approvals),
            required=request.approvals_required,
        )
        return request
    narrowed = any(a.decision == Decision.NARROW for a in approvals)
    request.status = Status.PARTLY_APPROVED if narrowed else Status.APPROVED
    request.decided_at = timezone.now()
    request.save()
    _audit(
        Action.REQUEST_PARTLY_APPROVED if narrowed else Action.REQUEST_APPROVED,
        request,
        acting_user,
        **counted,
        approvers=[str(a.approver_id) for a in approvals],
    )
    # Footage preserved at submission stays held while the grant runs; it is released when the request closes.
    _create_grant(request, approvals, acting_user, version)
    transaction.on_commit(lambda: notify.decided(request.pk))
    return request


def _check_narrowing(request: AccessRequest, narrowing: Narrowing) -> None:
    """A narrowing keeps part of what the request asks for and adds nothing; NarrowingRefused (audited) otherwise."""
    if narrowing.cameras is not None:
        allowed = set(_scope_camera_ids(request))
        if not narrowing.cameras or not set(narrowing.cameras) <= allowed:
            raise NarrowingRefused(
                "cameras", _("A narrower scope keeps some of the requested cameras and adds none.")
            )
    if narrowing.window_start or narrowing.window_end:
        if not (request.window_start and request.window_end):
            raise NarrowingRefused("window_start", _("This request has no footage window to narrow."))
        start = narrowing.window_start or request.window_start
        end = narrowing.window_end or request.window_end
        if start < request.window_start or end > request.window_end or end <= start:
            raise NarrowingRefused("window_start", _("A narrower window lies inside the requested one."))
    if narrowing.guest_items is not None:
        count = len(sealing.open_json(sealing.key_of(request), request, "guest_scope", []))
        if not narrowing.guest_items or not set(narrowing.guest_items) <= set(range(count)):
            raise NarrowingRefused("guests", _("A narrower scope keeps some of the named guests and adds none."))
    if narrowing.stay_from or narrowing.stay_until:
        if not (request.stay_from and request.stay_until):
            raise NarrowingRefused("stay_from", _("This request has no stay window to narrow."))
        first = narrowing.stay_from or request.stay_from
        last = narrowing.stay_until or request.stay_until
        if first < request.stay_from or last > request.stay_until or last < first:
            raise NarrowingRefused("stay_from", _("A narrower stay window lies inside the requested one."))
    if narrowing.grant_days is not None and not 1 <= narrowing.grant_days <= 30:
        raise NarrowingRefused("grant_days", _("A grant runs for 1 to 30 days."), "narrowing_invalid")
    if narrowing.view_quota is not None and narrowing.view_quota < 1:
        raise NarrowingRefused("view_quota", _("Allow at least one use."), "narrowing_invalid")


def _scope_camera_ids(request: AccessRequest) -> list[int]:
    """The cameras a footage request reaches: those named and every camera in the areas named."""
    ids = set(request.cameras.values_list("pk", flat=True))
    ids |= set(Camera.objects.filter(area__in=request.areas.all()).values_list("pk", flat=True))
    return sorted(ids)


def _create_grant(
    request: AccessRequest, approvals: list[Approval], acting_user: User, version: versions.Version
) -> Grant:
    """The grant of exactly what the approvals of the current version allow (the intersection of their scopes).
    A guest lookup's grant gets the request's stay window as a stay window's does: only stays in it are shown."""
    if any(a.request_digest != version.digest for a in approvals):  # fail closed: one version, or no grant
        raise TransitionRefused(_("The approvals are of different versions of the request."), "version_mismatch")
    narrowings = [Narrowing.from_json(a.narrowed) for a in approvals]
    if request.grant_days is not None:  # the terms fixed when this version was submitted
        days, quota = request.grant_days, request.view_quota
    else:  # a request submitted before terms were fixed on it
        rule = policy.requirement_for(request)
        days, quota = rule.grant_days, rule.view_quota
    cameras = set(_scope_camera_ids(request))
    window_start, window_end = request.window_start, request.window_end
    count = len(sealing.open_json(sealing.key_of(request), request, "guest_scope", []))
    guest_items = set(range(count))
    stay_from, stay_until = request.stay_from, request.stay_until
    for n in narrowings:
        if n.cameras is not None:
            cameras &= set(n.cameras)
        if n.window_start and window_start:
            window_start = max(window_start, n.window_start)
        if n.window_end and window_end:
            window_end = min(window_end, n.window_end)
        if n.guest_items is not None:
            guest_items &= set(n.guest_items)
        if n.stay_from and stay_from:
            stay_from = max(stay_from, n.stay_from)
        if n.stay_until and stay_until:
            stay_until = min(stay_until, n.stay_until)
        if n.grant_days is not None:
            days = min(days, n.grant_days)
        if n.view_quota is not None:
            quota = n.view_quota if quota is None else min(quota, n.view_quota)
    if window_start and window_end and window_end <= window_start:
        raise RequestError("window_start", _("The approvers' narrower windows do not overlap."))
    if stay_from and stay_until and stay_until < stay_from:
        raise RequestError("stay_from", _("The approvers' narrower stay windows do not overlap."))
    now = timezone.now()
    grant = Grant.objects.create(
        request=request,
        property=request.property,
        holder=request.requester,
        window_start=window_start,
        window_end=window_end,
        guest_items=sorted(guest_items),
        stay_from=stay_from,
        stay_until=stay_until,
        fields=policy.FIELDS_FOR_PURPOSE.get(request.purpose, policy.NAME),
        valid_from=now,
        valid_until=now + dt.timedelta(days=days),
        view_quota=quota,
    )
    grant.cameras.set(sorted(cameras) if request.request_type in FOOTAGE_TYPES else [])
    gate.record(
        Action.GRANT_CREATED,
        actor=acting_user,
        prop=request.property,
        obj=grant,
        request_ref=request.number,
        grant_ref=grant.ref,
        details={
            "cameras": sorted(Camera.objects.filter(pk__in=cameras).values_list("code", flat=True))
            if request.request_type in FOOTAGE_TYPES
            else [],
            "guest_items": sorted(guest_items),
            "stay_from": stay_from.isoformat() if stay_from else None,
            "stay_until": stay_until.isoformat() if stay_until else None,
            "valid_until": grant.valid_until.isoformat(),
            "view_quota": quota,
            "version": request.version,
            "digest": version.digest,
        },
    )
    return grant


@audited(Action.REQUEST_FULFILLED)
def fulfil_request(request: AccessRequest, *, acting_user: User) -> AccessRequest:
    """The holder says the request is done: its grants end now."""
    request = _locked(request)
    if acting_user.pk != request.requester_id:
        raise TransitionRefused(_("Only the requester can mark the request fulfilled."), "not_the_requester")
    if request.status not in GRANTED_STATUSES:
        raise TransitionRefused(_("Only an approved request can be marked fulfilled."), "not_approved")
    now = timezone.now()
    request.status = Status.FULFILLED
    request.save()
    Grant.objects.filter(request=request, revoked_at__isnull=True, valid_until__gt=now).update(valid_until=now)
    _audit(Action.REQUEST_FULFILLED, request, acting_user)
    _release(request, acting_user)
    return request


@audited(Action.GRANT_REVOKED)
def revoke_grant(grant: Grant, reason: str, *, acting_user: User) -> Grant:
    """Effective at the grant's next use: every use locks and re-reads the grant."""
    grant = Grant.objects.select_for_update().select_related("request", "property").get(pk=grant.pk)
    if not set(acting_user.roles_at(grant.property)) & set(policy.REVIEWERS):
        raise TransitionRefused(_("Your roles here do not include one that may revoke a grant."), "role_not_named")
    if grant.revoked_at is not None:
        raise TransitionRefused(_("This grant is already revoked."), "already_revoked")
    if not reason.strip():
        raise RequestError("reason", _("Say why the grant is revoked."))
    grant.revoked_at = timezone.now()
    grant.revoked_by = acting_user
    reason = check_text("reason", reason)
    grant.revoke_reason = sealing.seal(sealing.key_of(grant.request), grant, "revoke_reason", reason)
    grant.save()
    gate.record(
        Action.GRANT_REVOKED,
        actor=acting_user,
        prop=grant.property,
        obj=grant,
        request_ref=grant.request.number,
        grant_ref=grant.ref,
    )
    return grant


# --- break-glass --------------------------------------------------------------------------------------------------


@transaction.atomic
def open_break_glass(
    prop: Property,
    *,
    acting_user: User,
    cameras: Sequence[Camera],
    window_start: dt.datetime,
    window_end: dt.datetime,
    emergency: str,
    reason: str,
) -> Grant:
    """A security manager's time-boxed emergency grant without prior approval: footage only, alerted to the privacy
    officer at once, and queued for a mandatory review after the fact."""
    if not reason.strip():
        raise RequestError("reason", _("An emergency grant needs a reason."))
    data = RequestData(
        request_type=RequestType.FOOTAGE_VIEW,
        purpose=Purpose.SECURITY_INCIDENT,
        legal_basis=LegalBasis.VITAL_INTERESTS,
        purpose_text=reason,
        urgency=Urgency.EMERGENCY,
        cameras=cameras,
        window_start=window_start,
        window_end=window_end,
    )
    _check_scope(prop, data, complete=True)
    request = create_request(prop, data, acting_user=acting_user)
    now = timezone.now()
    request.status = Status.APPROVED
    request.submitted_at = request.decided_at = now
    request.due_at = now
    request.save()
    grant = Grant.objects.create(
        request=request,
        property=prop,
        holder=acting_user,
        window_start=window_start,
        window_end=window_end,
        valid_from=now,
        valid_until=now + dt.timedelta(hours=BREAK_GLASS_HOURS),
        break_glass=True,
    )
    grant.cameras.set(cameras)
    gate.record(
        Action.BREAK_GLASS_OPENED,
        actor=acting_user,
        prop=prop,
        obj=grant,
        request_ref=request.number,
        grant_ref=grant.ref,
        details={
            "emergency": emergency,
            "cameras": sorted(c.code for c in cameras),
            "window_start": window_start.isoformat(),
            "window_end": window_end.isoformat(),
            "valid_until": grant.valid_until.isoformat(),
        },
    )
    _preserve(request, acting_user)
    alert = Alert.objects.create(property=prop, kind=AlertKind.BREAK_GLASS, request=request, grant=grant)
    gate.record(
        Action.ALERT_RAISED, actor=None, prop=prop, obj=alert, grant_ref=grant.ref, details={"kind": alert.kind}
    )
    transaction.on_commit(lambda: notify.break_glass(grant.pk))
    return grant


@audited(Action.BREAK_GLASS_REVIEWED)
def review_break_glass(grant: Grant, *, acting_user: User, outcome: str, notes: str) -> BreakGlassReview:
    grant = Grant.objects.select_for_update().select_related("request", "property").get(pk=grant.pk)
    if not grant.break_glass:
        raise TransitionRefused(_("Only emergency grants are reviewed after the fact."), "not_an_emergency_grant")
    if grant.holder_id == acting_user.pk:
        raise TransitionRefused(_("You opened this emergency grant: someone else must review it."), "own_grant")
    if "privacy_officer" not in acting_user.roles_at(grant.property):
        raise TransitionRefused(_("Emergency grants are reviewed by the privacy officer."), "role_not_named")
    if BreakGlassReview.objects.filter(grant=grant).exists():
        raise TransitionRefused(_("This emergency grant has been reviewed."), "already_reviewed")
    if outcome not in ReviewOutcome.values:
        raise RequestError("outcome", _("Choose an outcome."))
    if outcome == ReviewOutcome.NOT_JUSTIFIED and not notes.strip():
        raise RequestError("notes", _("Say why the emergency grant was not justified."))
    review = BreakGlassReview(grant=grant, reviewer=acting_user, outcome=outcome)
    review.save()
    review.notes = sealing.seal(sealing.key_of(grant.request), review, "notes", check_text("notes", notes))
    review.save(update_fields=["notes"])
    Alert.objects.filter(grant=grant, acknowledged_at__isnull=True).update(
        acknowledged_at=timezone.now(), acknowledged_by=acting_user
    )
    gate.record(
        Action.BREAK_GLASS_REVIEWED,
        actor=acting_user,
        prop=grant.property,
        obj=grant,
        request_ref=grant.request.number,
        grant_ref=grant.ref,
        details={"outcome": outcome},
    )
    return review


# --- footage preservation -----------------------------------------------------------------------------------------


def _preserve(request: AccessRequest, actor: User | None) -> None:
    cameras = _scope_camera_ids(request)
    if not cameras or not (request.window_start and request.window_end):
        return
    # The lock retention takes before it re-reads the holds of a camera and deletes its files (see
    # custody.retention.retention): the preservation is in force before any file of its window is deleted.
    list(Camera.objects.select_for_update().filter(pk__in=cameras).order_by("pk"))
    hold = Preservation.objects.create(
        request=request, property=request.property, window_start=request.window_start, window_end=request.window_end
    )
    hold.cameras.set(cameras)
    _audit(
        Action.FOOTAGE_PRESERVED,
        request,
        actor,
        preservation=hold.pk,
        cameras=sorted(Camera.objects.filter(pk__in=cameras).values_list("code", flat=True)),
    )


def _release(request: AccessRequest, actor: User | None) -> None:
    holds = list(Preservation.objects.filter(request=request, released_at__isnull=True))
    if not holds:
        return
    Preservation.objects.filter(pk__in=[h.pk for h in holds]).update(released_at=timezone.now())
    _audit(Action.FOOTAGE_PRESERVATION_RELEASED, request, actor, preservations=[h.pk for h in holds])


# --- the periodic job ---------------------------------------------------------------------------------------------


def close_expired(now: dt.datetime | None = None) -> int:
    """Grants past their end are closed; an approved request whose grants have all ended becomes fulfilled (it was
    used) or expired (never used); its footage preservation is released. Returns the number of requests closed."""
    now = now or timezone.now()
    closed = 0
    for grant_id in Grant.objects.filter(expired_at__isnull=True, valid_until__lte=now).values_list("pk", flat=True):
        with transaction.atomic():
            grant = Grant.objects.select_for_update().select_related("request", "property").get(pk=grant_id)
            if grant.expired_at is not None:
                continue
            grant.expired_at = now
            grant.save(update_fields=["expired_at"])
            gate.record(
                Action.GRANT_EXPIRED,
                actor=None,
                prop=grant.property,
                obj=grant,
                request_ref=grant.request.number,
                grant_ref=grant.ref,
                details={"uses": grant.views_used},
            )
            request = _locked(grant.request)
            if request.status in GRANTED_STATUSES and not request.grants.filter(expired_at__isnull=True).exists():
                used = request.grants.filter(views_used__gt=0).exists()
                request.status = Status.FULFILLED if used else Status.EXPIRED
                request.save()
                _audit(Action.REQUEST_FULFILLED if used else Action.REQUEST_EXPIRED, request, None)
                _release(request, None)
                closed += 1
    return closed
