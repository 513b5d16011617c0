"""/api/v1/requests: file, change, submit, review and decide access requests, the same actions as the web UI.

Every state change is one of ``custody.requests.actions`` (each writes its own audit entry); reads of a request go
through ``custody.requests.reading`` (the same entitlement and audit entry as the request page), lists write a
``request.list.viewed`` entry. Writes answer with the request's summary (codes, dates, ids): reading its text is
``GET /requests/{id}``, which is audited.
"""

from __future__ import annotations

import base64
import binascii
import uuid
from collections.abc import Callable
from typing import Any

from django.db import transaction
from django.http import HttpRequest
from django.utils.translation import gettext_lazy as _
from ninja import Query, Router, Status

from custody.accounts.models import User
from custody.api import outputs
from custody.api.auth import Caller, caller
from custody.api.errors import ERRORS_FOR_BODY, ERRORS_FOR_CREATE, ERRORS_FOR_OBJECT, ERRORS_FOR_READ, ERRORS_FOR_STEP
from custody.api.models import Scope
from custody.api.schemas import (
    AnswerIn,
    ApproveIn,
    AskIn,
    DenyIn,
    InstrumentIn,
    NarrowingIn,
    RequestDetailOut,
    RequestFilters,
    RequestIn,
    RequestOut,
    RequestPage,
    RequestPatch,
)
from custody.audit import gate
from custody.audit.events import Action
from custody.footage.models import Camera
from custody.properties.models import Area, Property
from custody.requests import actions, reading
from custody.requests.actions import Narrowing, RequestData, RequestError
from custody.requests.errors import keeping_refusals
from custody.requests.models import OPEN_STATUSES, AccessRequest

router = Router(tags=["requests"])

FILE = "requests.file"
REVIEW = "requests.review"


# --- input to the domain's terms ----------------------------------------------------------------------------------


def cameras_by_code(prop: Property, codes: list[str], field: str = "cameras") -> list[Camera]:
    found = {c.code: c for c in Camera.objects.filter(property=prop, code__in=codes).select_related("area")}
    for code in codes:
        if code not in found:
            raise RequestError(field, _("There is no camera %(code)s at this property.") % {"code": code[:32]})
    return [found[code] for code in dict.fromkeys(codes)]


def areas_by_id(prop: Property, ids: list[int]) -> list[Area]:
    found = {a.pk: a for a in Area.objects.filter(property=prop, pk__in=ids)}
    for pk in ids:
        if pk not in found:
            raise RequestError("areas", _("There is no area %(id)s at this property.") % {"id": pk})
    return [found[pk] for pk in dict.fromkeys(ids)]


def instrument_file(instrument: InstrumentIn) -> tuple[bytes, str]:
    """The decoded legal instrument and its name; RequestError unless it is base64 of a PDF, PNG or JPEG."""
    try:
        data = base64.b64decode(instrument.content_base64, validate=True)
    except (binascii.Error, ValueError):
        raise RequestError("instrument", _("The file is not valid base64.")) from None
    actions.check_instrument(data, instrument.name)
    return data, instrument.name


def request_data(prop: Property, body: RequestIn) -> RequestData:
    data = RequestData(
        request_type=body.request_type,
        purpose=body.purpose,
        legal_basis=body.legal_basis,
        purpose_text=body.purpose_text,
        urgency=body.urgency,
        requester_kind=body.requester_kind,
        organisation=body.organisation,
        contact=body.contact.model_dump() if body.contact else {},
        identity_check=body.identity_check,
        instrument_reference=body.instrument_reference,
        cameras=cameras_by_code(prop, body.cameras),
        areas=areas_by_id(prop, body.areas),
        window_start=body.window_start,
        window_end=body.window_end,
        guests=[guest.model_dump() for guest in body.guests],
        stay_from=body.stay_from,
        stay_until=body.stay_until,
    )
    if body.instrument is not None:
        data.instrument, data.instrument_name = instrument_file(body.instrument)
    return data


def apply_patch(prop: Property, data: RequestData, body: RequestPatch) -> RequestData:
    for name in body.model_fields_set:
        value = getattr(body, name)
        if name == "cameras":
            data.cameras = cameras_by_code(prop, value)
        elif name == "areas":
            data.areas = areas_by_id(prop, value)
        elif name == "contact":
            data.contact = value.model_dump() if value else {}
        elif name == "guests":
            data.guests = [guest.model_dump() for guest in value]
        elif name == "instrument":
            data.instrument, data.instrument_name = instrument_file(value)
        else:
            setattr(data, name, value)
    return data


def narrowing(access: AccessRequest, body: NarrowingIn) -> Narrowing:
    """The domain's Narrowing (camera codes as ids); whether it lies inside the request is the action's check,
    which refuses and audits a narrowing that does not."""
    cameras = None
    if body.cameras is not None:
        cameras = [c.pk for c in cameras_by_code(access.property, body.cameras)]
    return Narrowing(
        cameras=cameras,
        window_start=body.window_start,
        window_end=body.window_end,
        guest_items=body.guest_items,
        stay_from=body.stay_from,
        stay_until=body.stay_until,
        grant_days=body.grant_days,
        view_quota=body.view_quota,
    )


def the_request(who: Caller, request_id: uuid.UUID) -> AccessRequest:
    """The request, if it is the token's property's and the user may see it (as on the web); else 404."""
    return reading.get_request_for_user(who.prop, who.user, request_id)


def summary(request_id: uuid.UUID) -> dict[str, Any]:
    request = AccessRequest.objects.select_related("property", "requester").get(pk=request_id)
    return outputs.request_summary(request)


# --- reads --------------------------------------------------------------------------------------------------------


@router.get(
    "/requests",
    response={200: RequestPage, **ERRORS_FOR_READ},
    operation_id="list_requests",
    url_name="list_requests",
    summary="Your requests, or the review queue",
)
def list_requests(request: HttpRequest, filters: Query[RequestFilters]) -> dict[str, Any]:
    """Your own requests at the token's property, newest first; with `queue=true` (scope requests:review, a
    reviewer's role) the property's open requests instead, soonest due first."""
    if filters.queue:
        who = caller(request, Scope.REQUESTS_REVIEW, REVIEW)
        rows = AccessRequest.objects.filter(property=who.prop, status__in=OPEN_STATUSES).order_by("due_at", "number")
    else:
        who = caller(request, Scope.REQUESTS_READ, FILE)
        rows = AccessRequest.objects.filter(property=who.prop, requester=who.user).order_by("-created_at", "-number")
    if filters.status:
        rows = rows.filter(status=filters.status)
    if filters.type:
        rows = rows.filter(request_type=filters.type)
    with transaction.atomic():
        count = rows.count()
        start = (filters.page - 1) * filters.page_size
        page = list(
            rows.select_related("property", "requester").prefetch_related("cameras", "areas")[
                start : start + filters.page_size
            ]
        )
        gate.record(
            Action.REQUEST_LIST_VIEWED,
            actor=who.user,
            prop=who.prop,
            obj=who.prop,
            details=who.audit_details(
                list="queue" if filters.queue else "mine",
                status=filters.status,
                type=filters.type,
                page=filters.page,
                shown=len(page),
            ),
        )
        return {
            "count": count,
            "page": filters.page,
            "page_size": filters.page_size,
            "items": [outputs.request_summary(r) for r in page],
        }


@router.get(
    "/requests/{request_id}",
    response={200: RequestDetailOut, **ERRORS_FOR_OBJECT},
    operation_id="get_request",
    url_name="get_request",
    summary="One request, in full",
)
def get_request(request: HttpRequest, request_id: uuid.UUID) -> dict[str, Any]:
    """The whole request, its text decrypted, with its approvals and grants. Seen by its requester and the
    property's reviewers; the read is in the audit log (`request.viewed`)."""
    who = caller(request, (Scope.REQUESTS_READ, Scope.REQUESTS_REVIEW), (FILE, REVIEW))
    access = the_request(who, request_id)
    opened = reading.open_request(access, actor=who.user, **who.audit_details(via="api"))
    return outputs.request_detail(access, opened)


# --- the requester's actions --------------------------------------------------------------------------------------


@router.post(
    "/requests",
    response={201: RequestOut, **ERRORS_FOR_CREATE},
    operation_id="create_request",
    url_name="create_request",
    summary="Draft a request",
)
def create_request(request: HttpRequest, payload: RequestIn) -> Status[dict[str, Any]]:
    """A new draft at the token's property, filed by the token's user. What only a complete request needs is
    checked when it is submitted."""
    who = caller(request, Scope.REQUESTS_WRITE, FILE)
    access = actions.create_request(who.prop, request_data(who.prop, payload), acting_user=who.user)
    return Status(201, summary(access.pk))


@router.patch(
    "/requests/{request_id}",
    response={200: RequestOut, **ERRORS_FOR_BODY},
    operation_id="update_request",
    url_name="update_request",
    summary="Change a draft",
)
def update_request(request: HttpRequest, request_id: uuid.UUID, payload: RequestPatch) -> dict[str, Any]:
    """Change a draft, or a request that needs information: only the fields sent change. A change of content
    after submission is a new version: the request goes back to `submitted`, the approval policy applies again to
    the new content and earlier approvals no longer count (saving it unchanged keeps them)."""
    who = caller(request, Scope.REQUESTS_WRITE, FILE)
    access = the_request(who, request_id)
    with keeping_refusals():
        data = apply_patch(who.prop, actions.request_data(access), payload)
        actions.update_draft(access, data, acting_user=who.user)
    return summary(access.pk)


def _step(
    request: HttpRequest, request_id: uuid.UUID, scope: str, permission: str, act: Callable[[AccessRequest, User], Any]
) -> dict[str, Any]:
    who = caller(request, scope, permission)
    access = the_request(who, request_id)
    act(access, who.user)
    return summary(access.pk)


def _renamed(field: str, to: str, act: Callable[[], Any]) -> Any:
    """Run ``act``; a RequestError naming ``field`` names ``to`` instead (the API's name for the same input)."""
    try:
        return act()
    except RequestError as exc:
        if exc.field == field and type(exc) is RequestError:
            raise RequestError(to, exc.message) from None
        raise


@router.post(
    "/requests/{request_id}/submit",
    response={200: RequestOut, **ERRORS_FOR_STEP},
    operation_id="submit_request",
    url_name="submit_request",
    summary="Submit a draft for review",
)
def submit_request(request: HttpRequest, request_id: uuid.UUID) -> dict[str, Any]:
    """The policy's approvers are fixed, the due date set and footage in scope preserved."""
    return _step(request, request_id, Scope.REQUESTS_WRITE, FILE, lambda r, u: actions.submit_request(r, acting_user=u))


@router.post(
    "/requests/{request_id}/withdraw",
    response={200: RequestOut, **ERRORS_FOR_STEP},
    operation_id="withdraw_request",
    url_name="withdraw_request",
    summary="Withdraw your request",
)
def withdraw_request(request: HttpRequest, request_id: uuid.UUID) -> dict[str, Any]:
    return _step(
        request, request_id, Scope.REQUESTS_WRITE, FILE, lambda r, u: actions.withdraw_request(r, acting_user=u)
    )


@router.post(
    "/requests/{request_id}/answer",
    response={200: RequestOut, **ERRORS_FOR_BODY},
    operation_id="answer_request",
    url_name="answer_request",
    summary="Answer a reviewer's question",
)
def answer_request(request: HttpRequest, request_id: uuid.UUID, payload: AnswerIn) -> dict[str, Any]:
    """The request goes back to the reviewers (status submitted)."""
    return _step(
        request,
        request_id,
        Scope.REQUESTS_WRITE,
        FILE,
        lambda r, u: actions.provide_information(r, payload.text, acting_user=u),
    )


@router.post(
    "/requests/{request_id}/fulfil",
    response={200: RequestOut, **ERRORS_FOR_STEP},
    operation_id="fulfil_request",
    url_name="fulfil_request",
    summary="Mark your approved request fulfilled",
)
def fulfil_request(request: HttpRequest, request_id: uuid.UUID) -> dict[str, Any]:
    """Its grants end now."""
    return _step(request, request_id, Scope.REQUESTS_WRITE, FILE, lambda r, u: actions.fulfil_request(r, acting_user=u))


# --- the reviewer's actions ---------------------------------------------------------------------------------------


@router.post(
    "/requests/{request_id}/review",
    response={200: RequestOut, **ERRORS_FOR_STEP},
    operation_id="review_request",
    url_name="review_request",
    summary="Take a submitted request into review",
)
def review_request(request: HttpRequest, request_id: uuid.UUID) -> dict[str, Any]:
    return _step(
        request, request_id, Scope.REQUESTS_REVIEW, REVIEW, lambda r, u: actions.start_review(r, acting_user=u)
    )


@router.post(
    "/requests/{request_id}/approve",
    response={200: RequestOut, **ERRORS_FOR_BODY},
    operation_id="approve_request",
    url_name="approve_request",
    summary="Approve, or approve a narrower scope",
)
def approve_request(request: HttpRequest, request_id: uuid.UUID, payload: ApproveIn | None = None) -> dict[str, Any]:
    """One approval. When the policy's number of different approvers is reached the request is approved (or
    partly approved, when someone narrowed it) and the requester's grant created with exactly the approved scope.
    You never approve your own request (409)."""
    body = payload or ApproveIn()

    def approve(access: AccessRequest, user: User) -> Any:
        narrower = narrowing(access, body.narrowing) if body.narrowing is not None else None
        return actions.approve_request(access, acting_user=user, reason=body.reason, narrowing=narrower)

    return _step(request, request_id, Scope.REQUESTS_REVIEW, REVIEW, approve)


@router.post(
    "/requests/{request_id}/deny",
    response={200: RequestOut, **ERRORS_FOR_BODY},
    operation_id="deny_request",
    url_name="deny_request",
    summary="Deny, with a reason",
)
def deny_request(request: HttpRequest, request_id: uuid.UUID, payload: DenyIn) -> dict[str, Any]:
    return _step(
        request,
        request_id,
        Scope.REQUESTS_REVIEW,
        REVIEW,
        lambda r, u: actions.deny_request(r, payload.reason, acting_user=u),
    )


@router.post(
    "/requests/{request_id}/ask",
    response={200: RequestOut, **ERRORS_FOR_BODY},
    operation_id="ask_about_request",
    url_name="ask_about_request",
    summary="Ask the requester for information",
)
def ask_about_request(request: HttpRequest, request_id: uuid.UUID, payload: AskIn) -> dict[str, Any]:
    return _step(
        request,
        request_id,
        Scope.REQUESTS_REVIEW,
        REVIEW,
        lambda r, u: _renamed(
            "reason", "question", lambda: actions.ask_for_information(r, payload.question, acting_user=u)
        ),
    )
