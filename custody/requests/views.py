"""Access request pages: the application form, "my requests", the reviewers' queue, the request with its timeline,
and every step a requester or reviewer takes on it.

Views validate and render; custody.requests.actions changes state (one audited action each) and
custody.requests.reading decrypts (audited). A refusal from an action is shown, never a 500: a RequestError on the
field it names (400), a TransitionRefused (wrong state, four eyes) as a message on the request page (409).
Grants, break-glass and the approval policy are in grant_views and policy_views.
"""

from __future__ import annotations

import uuid
import zoneinfo
from collections.abc import Callable
from functools import wraps
from typing import Any

from django import forms
from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.core.paginator import Paginator
from django.db import transaction
from django.db.models import F
from django.http import HttpResponse
from django.http.response import HttpResponseBase
from django.shortcuts import redirect, render
from django.utils import timezone
from django.utils.translation import gettext as _
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_http_methods, require_POST, require_safe

from custody.access import AuthedRequest, property_view
from custody.audit import gate
from custody.audit.events import Action
from custody.properties.models import Property
from custody.requests import actions, errors, policy, printouts, reading
from custody.requests.actions import RequestError, TransitionRefused, guest_label
from custody.requests.forms import (
    ALL,
    FIELD_LABELS,
    OPEN,
    REQUEST_FIELD_ALIASES,
    AnswerForm,
    NarrowingForm,
    QueueFilterForm,
    ReasonForm,
    RequestForm,
    initial_from,
    put_error,
)
from custody.requests.models import (
    GRANTED_STATUSES,
    OPEN_STATUSES,
    AccessRequest,
    Status,
)

FILE = "requests.file"
REVIEW = "requests.review"
PAGE_SIZE = 50
DUE_SOON_HOURS = 24


def requests_view(*permissions: str) -> Callable[[Callable[..., HttpResponseBase]], Callable[..., HttpResponseBase]]:
    """A page under /p/<code>/requests/: signed in, the property resolved, one of ``permissions`` held there
    (else 403, audited), and run in the property's time zone (forms read and pages show its wall-clock time)."""

    def decorator(view: Callable[..., HttpResponseBase]) -> Callable[..., HttpResponseBase]:
        @property_view(None)
        @wraps(view)
        def wrapper(request: AuthedRequest, prop: Property, *args: Any, **kwargs: Any) -> HttpResponseBase:
            if permissions and not any(request.user.has_perm(p, prop) for p in permissions):
                gate.record_denied(
                    Action.ACCESS_DENIED, actor=request.user, prop=prop, details={"permissions": list(permissions)}
                )
                raise PermissionDenied
            with timezone.override(zoneinfo.ZoneInfo(prop.timezone)):
                return view(request, prop, *args, **kwargs)

        return wrapper

    return decorator


def _audit_list(request: AuthedRequest, prop: Property, name: str, count: int, **details: Any) -> None:
    gate.record(
        Action.REQUEST_LIST_VIEWED,
        actor=request.user,
        prop=prop,
        object_type="property",
        object_id=prop.pk,
        details={"list": name, "count": count, **details},
    )


def sla(access: AccessRequest, now: Any = None) -> str:
    """The colour of an open request's due date: overdue, due within a day, or in time ("" once decided)."""
    if access.status not in OPEN_STATUSES or access.due_at is None:
        return ""
    now = now or timezone.now()
    if access.due_at < now:
        return "overdue"
    if (access.due_at - now).total_seconds() <= DUE_SOON_HOURS * 3600:
        return "soon"
    return "in-time"


# --- lists --------------------------------------------------------------------------------------------------------


@require_safe
@never_cache
@requests_view(FILE)
def mine(request: AuthedRequest, prop: Property) -> HttpResponse:
    """The user's own requests, newest first: number, type, status, due date, urgency (no personal data)."""
    rows = AccessRequest.objects.filter(property=prop, requester=request.user).order_by("-created_at")
    page = Paginator(rows, PAGE_SIZE).get_page(request.GET.get("page"))
    with transaction.atomic():
        _audit_list(request, prop, "mine", len(page.object_list), page=page.number)
        items = [(access, sla(access)) for access in page.object_list]
    return render(request, "requests/mine.html", {"page": page, "items": items, **_tabs(request, prop, "mine")})


@require_safe
@never_cache
@requests_view(REVIEW)
def queue(request: AuthedRequest, prop: Property) -> HttpResponse:
    """The property's requests waiting for review, the most urgent due date first, with filters."""
    form = QueueFilterForm(request.GET or None)
    status, request_type = OPEN, ""
    if form.is_valid():
        status = form.cleaned_data["status"] or OPEN
        request_type = form.cleaned_data["request_type"] or ""
    rows = AccessRequest.objects.filter(property=prop).select_related("requester")
    if status == OPEN:
        rows = rows.filter(status__in=OPEN_STATUSES)
    elif status != ALL:
        rows = rows.filter(status=status)
    if request_type:
        rows = rows.filter(request_type=request_type)
    rows = rows.order_by(F("due_at").asc(nulls_last=True), "created_at")
    page = Paginator(rows, PAGE_SIZE).get_page(request.GET.get("page"))
    now = timezone.now()
    with transaction.atomic():
        _audit_list(request, prop, "queue", len(page.object_list), status=status, type=request_type or "any")
        items = [(access, sla(access, now)) for access in page.object_list]
    query = request.GET.copy()
    query.pop("page", None)
    context = {"form": form, "page": page, "items": items, "query": query.urlencode(), **_tabs(request, prop, "queue")}
    template = "requests/_queue_table.html" if request.htmx else "requests/queue.html"  # type: ignore[attr-defined]
    return render(request, template, context, status=400 if form.errors else 200)


def _tabs(request: AuthedRequest, prop: Property, active: str) -> dict[str, Any]:
    """The request pages' own navigation, by what the user may do here."""
    user = request.user
    tabs = [("mine", "requests:mine", _("My requests"), user.has_perm(FILE, prop))]
    tabs.append(("new", "requests:new", _("New request"), user.has_perm(FILE, prop)))
    tabs.append(("queue", "requests:queue", _("Review queue"), user.has_perm(REVIEW, prop)))
    tabs.append(("grants", "requests:grants", _("Grants"), user.has_perm(FILE, prop) or user.has_perm(REVIEW, prop)))
    tabs.append(
        ("break_glass", "requests:break_glass", _("Emergency access"), user.has_perm("requests.break_glass", prop))
    )
    tabs.append(
        (
            "reviews",
            "requests:break_glass_reviews",
            _("Emergency reviews"),
            user.has_perm("requests.review_break_glass", prop),
        )
    )
    tabs.append(("policy", "requests:policy", _("Approval policy"), user.has_perm(REVIEW, prop)))
    return {"tabs": [(key, name, label) for key, name, label, allowed in tabs if allowed], "active_tab": active}


# --- the application form -----------------------------------------------------------------------------------------


def _save(
    request: AuthedRequest, prop: Property, form: RequestForm, access: AccessRequest | None
) -> AccessRequest | None:
    """Create or update the draft and, when asked, submit it: all or nothing. None (errors on the form) if refused."""
    submit = "submit" in request.POST
    try:
        with errors.keeping_refusals():
            if access is None:
                access = actions.create_request(prop, form.to_data(), acting_user=request.user)
            else:
                access = actions.update_draft(access, form.to_data(), acting_user=request.user)
            if submit and access.status == Status.DRAFT:
                access = actions.submit_request(access, acting_user=request.user)
    except RequestError as exc:
        put_error(form, exc, REQUEST_FIELD_ALIASES)
        return None
    if access.status == Status.SUBMITTED and access.version > 1 and not submit:
        messages.success(
            request,
            _("Request %(number)s changed: version %(version)s is back with the reviewers, and earlier approvals "
              "no longer count.") % {"number": access.number, "version": access.version},
        )  # fmt: skip
    elif access.status == Status.SUBMITTED:
        messages.success(request, _("Request %(number)s submitted for review.") % {"number": access.number})
    else:
        messages.success(request, _("Request %(number)s saved.") % {"number": access.number})
    return access


def _form_page(request: AuthedRequest, form: RequestForm, access: AccessRequest | None, **extra: Any) -> HttpResponse:
    context = {"form": form, "access": access, **extra, **_tabs(request, request.current_property, "new")}
    return render(request, "requests/form.html", context, status=400 if form.errors else 200)


@require_http_methods(["GET", "POST"])
@never_cache
@requests_view(FILE)
def new(request: AuthedRequest, prop: Property) -> HttpResponse:
    posted = request.method == "POST"
    form = RequestForm(request.POST if posted else None, request.FILES if posted else None, prop=prop)
    if posted and form.is_valid():
        access = _save(request, prop, form, None)
        if access is not None:
            return redirect("requests:detail", code=prop.code, pk=access.pk)
    return _form_page(request, form, None)


@require_http_methods(["GET", "POST"])
@never_cache
@requests_view(FILE)
def edit(request: AuthedRequest, prop: Property, pk: uuid.UUID) -> HttpResponse:
    """The requester changes a draft (or a request a reviewer asked about) and may submit it."""
    access = reading.get_request_for_user(prop, request.user, pk)
    if access.requester_id != request.user.pk:
        gate.record_denied(
            Action.ACCESS_DENIED,
            actor=request.user,
            prop=prop,
            obj=access,
            request_ref=access.number,
            details={"reason": "not_the_requester"},
        )
        raise PermissionDenied
    if access.status not in (Status.DRAFT, Status.NEEDS_INFO):
        refusal = TransitionRefused(
            _("Only a draft, or a request that needs information, can be changed."), "not_editable"
        )
        errors.refuse(refusal, Action.REQUEST_UPDATED, access, request.user)
        if request.method == "POST":
            return detail_page(request, access, status=409, refusal=str(refusal.message))
        messages.error(request, str(refusal.message))
        return redirect("requests:detail", code=prop.code, pk=access.pk)
    if request.method == "POST":
        form = RequestForm(request.POST, request.FILES, prop=prop)
        if form.is_valid() and _save(request, prop, form, access) is not None:
            return redirect("requests:detail", code=prop.code, pk=access.pk)
    else:
        initial, rows = initial_from(reading.open_for_edit(access, actor=request.user))
        form = RequestForm(initial=initial, prop=prop, guest_rows=rows)
    return _form_page(request, form, access)


# --- the request --------------------------------------------------------------------------------------------------


def _decision_roles(request: AuthedRequest, access: AccessRequest) -> tuple[bool, str]:
    """Whether the user may decide this request now, and if not (though a reviewer), why."""
    user, prop = request.user, access.property
    if not reading.is_reviewer(user, prop) or access.status not in (Status.SUBMITTED, Status.IN_REVIEW):
        return False, ""
    if access.requester_id == user.pk:
        return False, _("You filed this request: someone else must review it.")
    if not set(user.roles_at(prop)) & set(access.approver_roles or policy.REVIEWERS):
        return False, _("Your roles here do not include one that may decide this request.")
    mine = access.approvals.filter(approver=user, decision__in=actions.APPROVING)
    if mine.filter(request_digest=access.content_digest).exists():
        return False, _("You have approved this version of the request; another person must give the next approval.")
    return True, ""


def _timeline_rows(steps: list[Any]) -> list[tuple[Any, Any, list[str], str]]:
    """Each step with the version it made and the fields it changed (names, never values) and, for a refusal,
    its reason code."""
    rows = []
    for entry in steps:
        details = entry.details or {}
        changed = [str(FIELD_LABELS.get(name, name)) for name in details.get("changed") or []]
        reason = details.get("reason", "") if entry.outcome == "denied" else ""
        rows.append((entry, details.get("version"), changed, reason))
    return rows


def detail_page(
    request: AuthedRequest,
    access: AccessRequest,
    *,
    status: int = 200,
    refusal: str = "",
    bound: dict[str, forms.Form] | None = None,
) -> HttpResponse:
    """The request, decrypted for this entitled user (audited), with the actions their role and its state allow."""
    opened = reading.open_request(access, actor=request.user)
    steps, reads = reading.timeline(access)
    current = [
        v.approval
        for v in opened.approvals
        if v.approval.decision in actions.APPROVING and v.approval.request_digest == access.content_digest
    ]
    cameras = reading.scope_cameras(access) if access.is_footage else []
    may_decide, why_not = _decision_roles(request, access)
    is_requester = access.requester_id == request.user.pk
    prop = access.property
    now = timezone.now()
    grants = list(access.grants.select_related("holder").prefetch_related("cameras").order_by("created_at"))
    bound = bound or {}
    context: dict[str, Any] = {
        "access": access,
        "opened": opened,
        "guest_rows": [guest_label(item) for item in opened.guests],
        "organisation": opened.contact.get("organisation", ""),
        "current_approvals": len({a.approver_id for a in current}),
        # Approvals of an earlier version, while the request waits for a decision on the current one.
        "void": {
            v.approval.pk
            for v in opened.approvals
            if access.is_open and v.approval.decision in actions.APPROVING and v.approval not in current
        },
        "steps": _timeline_rows(steps),
        "reads": reads,
        "scope_cameras": cameras,
        "scope_areas": list(access.areas.order_by("name")),
        "grants": [(g, opened.revoke_reasons.get(g.pk, ""), reading.grant_state(g, now)) for g in grants],
        "sla": sla(access, now),
        "refusal": refusal,
        "is_requester": is_requester,
        "is_reviewer": reading.is_reviewer(request.user, prop),
        "may_decide": may_decide,
        "why_not": why_not,
        "can_edit": is_requester and access.status in (Status.DRAFT, Status.NEEDS_INFO),
        "can_submit": is_requester and access.status == Status.DRAFT,
        "can_withdraw": is_requester and access.status in (Status.DRAFT, *OPEN_STATUSES),
        "can_answer": is_requester and access.status == Status.NEEDS_INFO,
        "can_fulfil": is_requester and access.status in GRANTED_STATUSES,
        "decided": access.decided_at is not None and access.status != Status.WITHDRAWN,
        "approve_form": bound.get("approve") or ReasonForm(prefix="approve", label=_("Note (optional)")),
        "deny_form": bound.get("deny") or ReasonForm(prefix="deny", label=_("Reason for the denial")),
        "ask_form": bound.get("ask") or ReasonForm(prefix="ask", label=_("What information is needed")),
        "answer_form": bound.get("answer") or AnswerForm(),
        "revoke_form": bound.get("revoke") or ReasonForm(prefix="revoke", label=_("Reason for revoking")),
        "narrow_form": bound.get("narrow")
        or NarrowingForm(prefix="narrow", request=access, scope_cameras=cameras, guests=opened.guests),
        "narrow_open": "narrow" in bound,
        **_tabs(request, prop, ""),
    }
    return render(request, "requests/detail.html", context, status=status)


@require_safe
@never_cache
@requests_view(FILE, REVIEW)
def detail(request: AuthedRequest, prop: Property, pk: uuid.UUID) -> HttpResponse:
    return detail_page(request, reading.get_request_for_user(prop, request.user, pk))


def _done(request: AuthedRequest, access: AccessRequest, message: str) -> HttpResponse:
    messages.success(request, message)
    return redirect("requests:detail", code=access.property.code, pk=access.pk)


def _step(
    request: AuthedRequest,
    prop: Property,
    pk: uuid.UUID,
    act: Callable[[AccessRequest], AccessRequest],
    message: str,
    form: forms.Form | None = None,
    form_key: str = "",
) -> HttpResponse:
    """Run one action on the request; its refusal is shown on the request page (with the form that was sent)."""
    access = reading.get_request_for_user(prop, request.user, pk)
    if form is not None and not form.is_valid():
        return detail_page(request, access, status=400, bound={form_key: form})
    try:
        access = act(access)
    except TransitionRefused as exc:
        return detail_page(request, access, status=409, refusal=str(exc.message))
    except RequestError as exc:
        if form is None:
            return detail_page(request, access, status=400, refusal=str(exc))
        put_error(form, exc)
        access.refresh_from_db()
        return detail_page(request, access, status=400, bound={form_key: form})
    return _done(request, access, message)


@require_POST
@never_cache
@requests_view(FILE, REVIEW)
def submit(request: AuthedRequest, prop: Property, pk: uuid.UUID) -> HttpResponse:
    """Submit a saved draft. A scope that is not complete yet is shown on the edit form, on its field."""
    access = reading.get_request_for_user(prop, request.user, pk)
    try:
        access = actions.submit_request(access, acting_user=request.user)
    except TransitionRefused as exc:
        return detail_page(request, access, status=409, refusal=str(exc.message))
    except RequestError as exc:
        initial, rows = initial_from(reading.open_for_edit(access, actor=request.user))
        form = RequestForm(initial=initial, prop=prop, guest_rows=rows)
        form.full_clean()  # an unbound form: no errors of its own, but it carries the refusal on its field
        form.cleaned_data = {}
        put_error(form, exc, REQUEST_FIELD_ALIASES)
        return _form_page(request, form, access)
    return _done(request, access, _("Request %(number)s submitted for review.") % {"number": access.number})


@require_POST
@never_cache
@requests_view(FILE, REVIEW)
def withdraw(request: AuthedRequest, prop: Property, pk: uuid.UUID) -> HttpResponse:
    return _step(
        request,
        prop,
        pk,
        lambda a: actions.withdraw_request(a, acting_user=request.user),
        _("The request was withdrawn."),
    )


@require_POST
@never_cache
@requests_view(FILE, REVIEW)
def answer(request: AuthedRequest, prop: Property, pk: uuid.UUID) -> HttpResponse:
    form = AnswerForm(request.POST)
    return _step(
        request,
        prop,
        pk,
        lambda a: actions.provide_information(a, form.cleaned_data["text"], acting_user=request.user),
        _("Your answer was sent; the request is back with the reviewers."),
        form,
        "answer",
    )


@require_POST
@never_cache
@requests_view(FILE, REVIEW)
def fulfil(request: AuthedRequest, prop: Property, pk: uuid.UUID) -> HttpResponse:
    return _step(
        request,
        prop,
        pk,
        lambda a: actions.fulfil_request(a, acting_user=request.user),
        _("The request is marked fulfilled; its grant has ended."),
    )


@require_POST
@never_cache
@requests_view(REVIEW)
def start_review(request: AuthedRequest, prop: Property, pk: uuid.UUID) -> HttpResponse:
    return _step(
        request,
        prop,
        pk,
        lambda a: actions.start_review(a, acting_user=request.user),
        _("You are reviewing this request."),
    )


@require_POST
@never_cache
@requests_view(REVIEW)
def approve(request: AuthedRequest, prop: Property, pk: uuid.UUID) -> HttpResponse:
    """Approve as asked, or (with narrow=1) a narrower scope, shorter validity or smaller quota."""
    if "narrow" not in request.POST:
        form: forms.Form = ReasonForm(request.POST, prefix="approve")
        return _step(
            request,
            prop,
            pk,
            lambda a: actions.approve_request(a, acting_user=request.user, reason=form.cleaned_data["reason"]),
            _("Your approval was recorded."),
            form,
            "approve",
        )
    access = reading.get_request_for_user(prop, request.user, pk)
    opened = reading.open_request(access, actor=request.user, page="narrow")
    cameras = reading.scope_cameras(access) if access.is_footage else []
    narrow = NarrowingForm(request.POST, prefix="narrow", request=access, scope_cameras=cameras, guests=opened.guests)

    def act(a: AccessRequest) -> AccessRequest:
        return actions.approve_request(
            a, acting_user=request.user, reason=narrow.cleaned_data["reason"], narrowing=narrow.to_narrowing()
        )

    return _step(request, prop, pk, act, _("Your approval of a narrower scope was recorded."), narrow, "narrow")


@require_POST
@never_cache
@requests_view(REVIEW)
def deny(request: AuthedRequest, prop: Property, pk: uuid.UUID) -> HttpResponse:
    form = ReasonForm(request.POST, prefix="deny", label=_("Reason for the denial"))
    return _step(
        request,
        prop,
        pk,
        lambda a: actions.deny_request(a, form.cleaned_data["reason"], acting_user=request.user),
        _("The request was denied."),
        form,
        "deny",
    )


@require_POST
@never_cache
@requests_view(REVIEW)
def ask(request: AuthedRequest, prop: Property, pk: uuid.UUID) -> HttpResponse:
    form = ReasonForm(request.POST, prefix="ask", label=_("What information is needed"))
    return _step(
        request,
        prop,
        pk,
        lambda a: actions.ask_for_information(a, form.cleaned_data["reason"], acting_user=request.user),
        _("Your question was sent to the requester."),
        form,
        "ask",
    )


# --- files --------------------------------------------------------------------------------------------------------


def _download(data: bytes, content_type: str, filename: str, *, inline: bool = False) -> HttpResponse:
    response = HttpResponse(data, content_type=content_type)
    response["Content-Disposition"] = f'{"inline" if inline else "attachment"}; filename="{filename}"'
    response["Cache-Control"] = "no-store"
    response["X-Content-Type-Options"] = "nosniff"
    return response


@require_safe
@never_cache
@requests_view(FILE, REVIEW)
def instrument(request: AuthedRequest, prop: Property, pk: uuid.UUID) -> HttpResponse:
    access = reading.get_request_for_user(prop, request.user, pk)
    data, content_type, filename = reading.read_instrument(access, actor=request.user)
    return _download(data, content_type, filename)


@require_safe
@never_cache
@requests_view(FILE, REVIEW)
def form_pdf(request: AuthedRequest, prop: Property, pk: uuid.UUID) -> HttpResponse:
    """The application form, printable (A4 PDF, the user's language)."""
    access = reading.get_request_for_user(prop, request.user, pk)
    opened = reading.open_request(access, actor=request.user, action=Action.REQUEST_PDF_RENDERED, document="form")
    data = printouts.application_form(access, opened, cameras=reading.scope_cameras(access))
    return _download(data, "application/pdf", f"{access.number}-application.pdf", inline=True)


@require_safe
@never_cache
@requests_view(FILE, REVIEW)
def decision_pdf(request: AuthedRequest, prop: Property, pk: uuid.UUID) -> HttpResponse:
    """The decision, printable; only once the request is decided."""
    access = reading.get_request_for_user(prop, request.user, pk)
    if access.decided_at is None or access.status == Status.WITHDRAWN:
        messages.error(request, _("This request has not been decided yet."))
        return redirect("requests:detail", code=prop.code, pk=access.pk)
    opened = reading.open_request(access, actor=request.user, action=Action.REQUEST_PDF_RENDERED, document="decision")
    data = printouts.decision(access, opened)
    return _download(data, "application/pdf", f"{access.number}-decision.pdf", inline=True)
