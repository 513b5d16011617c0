"""Grants and emergency access: the grants page, one grant and its use (the granted guest lookup or stay-window
query, showing only the purpose's fields), revocation, the security manager's break-glass form and the privacy
officer's after-the-fact review queue.

Every use goes through custody.requests.grants, which checks the grant, counts the use and writes the audit
entries; a refusal (revoked, expired, quota used, not the holder) was committed there as a denied entry and is
shown here as a message with a 403.
"""

from __future__ import annotations

import uuid
from typing import Any

from django import forms
from django.contrib import messages
from django.core.paginator import Paginator
from django.db import transaction
from django.http import Http404, HttpResponse
from django.shortcuts import redirect, render
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_http_methods, require_POST, require_safe

from custody.access import AuthedRequest
from custody.audit.events import Action
from custody.audit.models import AuditEntry
from custody.guests.models import DocumentType, Sex
from custody.properties.models import Property
from custody.requests import actions, grants, policy, reading
from custody.requests.actions import RequestError, TransitionRefused
from custody.requests.forms import (
    EMERGENCY_KINDS,
    GUEST_KIND_LABELS,
    BreakGlassForm,
    BreakGlassReviewForm,
    ReasonForm,
    put_error,
)
from custody.requests.models import GUEST_TYPES, Grant, RequestType
from custody.requests.reading import grant_state
from custody.requests.views import FILE, PAGE_SIZE, REVIEW, _audit_list, _tabs, requests_view

BREAK_GLASS = "requests.break_glass"
REVIEW_BREAK_GLASS = "requests.review_break_glass"

GUEST_FIELD_LABELS = {
    "surname": gettext_lazy("Surname"),
    "second_surname": gettext_lazy("Second surname"),
    "given_names": gettext_lazy("Given names"),
    "sex": gettext_lazy("Sex"),
    "date_of_birth": gettext_lazy("Date of birth"),
    "nationality": gettext_lazy("Nationality"),
    "address": gettext_lazy("Address"),
    "phone": gettext_lazy("Phone"),
    "email": gettext_lazy("E-mail"),
    "preferences": gettext_lazy("Preferences"),
    "special_needs": gettext_lazy("Special needs"),
    "consents": gettext_lazy("Consents"),
    "notes": gettext_lazy("Notes"),
    "doc_type": gettext_lazy("Document type"),
    "number": gettext_lazy("Document number"),
    "issuing_country": gettext_lazy("Issuing country"),
    "issue_date": gettext_lazy("Document issue date"),
    "expiry_date": gettext_lazy("Document expiry date"),
}
REFUSALS = {
    "no_such_grant": gettext_lazy("There is no such grant at this property."),
    "not_the_holder": gettext_lazy("This grant was given to someone else; only its holder can use it."),
    "revoked": gettext_lazy("This grant has been revoked."),
    "expired": gettext_lazy("This grant is no longer valid."),
    "quota_used": gettext_lazy("Every use this grant allowed has been used."),
    "wrong_kind": gettext_lazy("This grant does not allow this kind of use."),
}


def _readable(name: str, value: str) -> str:
    """Codes stored in guest fields, in words."""
    if name == "sex" and value in Sex.values:
        return str(Sex(value).label)
    if name == "doc_type" and value in DocumentType.values:
        return str(DocumentType(value).label)
    return value


def _labelled(names: list[str], values: dict[str, Any]) -> list[tuple[str, str]]:
    return [(str(GUEST_FIELD_LABELS.get(n, n)), _readable(n, str(values.get(n, "")))) for n in names if n in values]


def _guest_view(grant: Grant, guest: dict[str, Any]) -> dict[str, Any]:
    """One guest a granted lookup found: the purpose's fields, documents and stays, labelled for the page."""
    document_fields = policy.DOCUMENT_FIELDS_FOR_PURPOSE.get(grant.request.purpose, [])
    return {
        "fields": _labelled(grant.fields, guest["fields"]),
        "documents": [_labelled(document_fields, document) for document in guest.get("documents", [])],
        "stays": guest["stays"],
    }


# --- the grants page ----------------------------------------------------------------------------------------------


@require_safe
@never_cache
@requests_view(FILE, REVIEW)
def grant_list(request: AuthedRequest, prop: Property) -> HttpResponse:
    """The user's grants, and for reviewers every grant of the property; validity, uses, state, revocation."""
    now = timezone.now()
    mine = list(
        Grant.objects.filter(property=prop, holder=request.user).select_related("request").order_by("-created_at")[:200]
    )
    is_reviewer = reading.is_reviewer(request.user, prop)
    page = None
    if is_reviewer:
        everything = Grant.objects.filter(property=prop).select_related("request", "holder").order_by("-created_at")
        page = Paginator(everything, PAGE_SIZE).get_page(request.GET.get("page"))
    with transaction.atomic():
        _audit_list(request, prop, "grants", len(mine) + (len(page.object_list) if page else 0))
    context = {
        "mine": [(g, grant_state(g, now)) for g in mine],
        "page": page,
        "everyone": [(g, grant_state(g, now)) for g in page.object_list] if page else [],
        "is_reviewer": is_reviewer,
        "revoke_form": ReasonForm(prefix="revoke", label=_("Reason for revoking")),
        **_tabs(request, prop, "grants"),
    }
    return render(request, "requests/grants.html", context)


def grant_page(
    request: AuthedRequest,
    grant: Grant,
    *,
    status: int = 200,
    refusal: str = "",
    revoke_form: forms.Form | None = None,
) -> HttpResponse:
    access = grant.request
    state = grant_state(grant)
    kind = access.request_type
    context = {
        "grant": grant,
        "access": access,
        "state": state,
        "cameras": list(grant.cameras.select_related("area").order_by("code")),
        "field_labels": [str(GUEST_FIELD_LABELS.get(n, n)) for n in grant.fields],
        "is_footage": access.is_footage,
        "is_guest_lookup": kind in GUEST_TYPES,
        "is_stay_window": kind == RequestType.STAY_WINDOW,
        "can_use": grant.holder_id == request.user.pk and state[0] == "active" and not access.is_footage,
        "can_play": grant.holder_id == request.user.pk and state[0] == "active" and access.is_footage,
        "can_export": grant.holder_id == request.user.pk
        and state[0] == "active"
        and kind == RequestType.FOOTAGE_EXPORT,
        "exports": list(grant.exports.order_by("-created_at")[:10]) if access.is_footage else [],
        "can_revoke": reading.is_reviewer(request.user, grant.property) and state[0] not in ("revoked", "ended"),
        "revoke_form": revoke_form or ReasonForm(prefix="revoke", label=_("Reason for revoking")),
        "refusal": refusal,
        **_tabs(request, grant.property, "grants"),
    }
    return render(request, "requests/grant.html", context, status=status)


@require_safe
@never_cache
@requests_view(FILE, REVIEW)
def grant_detail(request: AuthedRequest, prop: Property, pk: uuid.UUID) -> HttpResponse:
    return grant_page(request, reading.get_grant_for_user(prop, request.user, pk))


@require_POST
@never_cache
@requests_view(FILE, REVIEW)
def use(request: AuthedRequest, prop: Property, pk: uuid.UUID) -> HttpResponse:
    """One use of the grant: the approved guests looked up, or the stays in the approved window, with only the
    fields the purpose needs. Footage is played from its timeline page, where each playback counts as a use."""
    grant = reading.get_grant_for_user(prop, request.user, pk)
    access = grant.request
    if access.is_footage:
        return redirect("playback:timeline", code=prop.code, grant_pk=grant.pk)
    try:
        if access.request_type == RequestType.STAY_WINDOW:
            rows = grants.granted_stay_window(grant.pk, actor=request.user, prop=prop)
            results: Any = [
                (row.stay, [_labelled(grant.fields, guest) for guest in row.guests] or [[]]) for row in rows
            ]
            labels: list[tuple[str, str]] = []
        else:
            found = grants.granted_guest_lookup(grant.pk, actor=request.user, prop=prop)
            labels = reading.guest_scope_labels(access, actor=request.user, page="grant_results")
            results = [
                {
                    "number": result.index + 1,
                    "kind": GUEST_KIND_LABELS.get(result.kind, result.kind),
                    "label": labels[result.index][1] if result.index < len(labels) else "",
                    "guests": [_guest_view(grant, guest) for guest in result.guests],
                }
                for result in found
            ]
    except grants.GrantRefused as exc:
        grant.refresh_from_db()
        return grant_page(request, grant, status=403, refusal=str(REFUSALS.get(exc.code, exc.code)))
    grant.refresh_from_db()
    context = {
        "grant": grant,
        "access": access,
        "results": results,
        "field_labels": [str(GUEST_FIELD_LABELS.get(n, n)) for n in grant.fields],
        "is_stay_window": access.request_type == RequestType.STAY_WINDOW,
        **_tabs(request, prop, "grants"),
    }
    return render(request, "requests/grant_results.html", context)


@require_POST
@never_cache
@requests_view(REVIEW)
def revoke(request: AuthedRequest, prop: Property, pk: uuid.UUID) -> HttpResponse:
    grant = reading.get_grant_for_user(prop, request.user, pk)
    form = ReasonForm(request.POST, prefix="revoke", label=_("Reason for revoking"))
    if not form.is_valid():
        return grant_page(request, grant, status=400, revoke_form=form)
    try:
        actions.revoke_grant(grant, form.cleaned_data["reason"], acting_user=request.user)
    except TransitionRefused as exc:
        return grant_page(request, grant, status=409, refusal=str(exc.message))
    except RequestError as exc:
        put_error(form, exc)
        return grant_page(request, grant, status=400, revoke_form=form)
    messages.success(request, _("The grant was revoked; its next use will be refused."))
    return redirect("requests:grant", code=prop.code, pk=grant.pk)


# --- break-glass --------------------------------------------------------------------------------------------------


@require_http_methods(["GET", "POST"])
@never_cache
@requests_view(BREAK_GLASS)
def break_glass(request: AuthedRequest, prop: Property) -> HttpResponse:
    """A security manager opens a time-boxed emergency footage grant without prior approval."""
    form = BreakGlassForm(request.POST if request.method == "POST" else None, prop=prop)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            grant = actions.open_break_glass(
                prop,
                acting_user=request.user,
                cameras=form.chosen_cameras(),
                window_start=data["window_start"],
                window_end=data["window_end"],
                emergency=data["emergency"],
                reason=data["reason"],
            )
        except RequestError as exc:
            put_error(form, exc)
        else:
            opened = _("Emergency grant opened for %(hours)s hours.") % {"hours": actions.BREAK_GLASS_HOURS}
            alerted = _("The privacy officer has been alerted and will review it.")
            messages.warning(request, f"{opened} {alerted}")
            return redirect("requests:grant", code=prop.code, pk=grant.pk)
    recent = Grant.objects.filter(property=prop, holder=request.user, break_glass=True).select_related("request")
    context = {
        "form": form,
        "hours": actions.BREAK_GLASS_HOURS,
        "recent": [(g, grant_state(g)) for g in recent.order_by("-created_at")[:20]],
        **_tabs(request, prop, "break_glass"),
    }
    return render(request, "requests/break_glass.html", context, status=400 if form.errors else 200)


def _reviews_page(
    request: AuthedRequest,
    prop: Property,
    *,
    status: int = 200,
    refusal: str = "",
    bound: dict[uuid.UUID, BreakGlassReviewForm] | None = None,
) -> HttpResponse:
    emergency_grants = Grant.objects.filter(property=prop, break_glass=True).select_related("request", "holder")
    pending = list(emergency_grants.filter(review__isnull=True).order_by("created_at"))
    reviewed = list(
        emergency_grants.filter(review__isnull=False).select_related("review__reviewer").order_by("-created_at")[:50]
    )
    refs = [str(g.pk) for g in [*pending, *reviewed]]
    kinds = dict(EMERGENCY_KINDS)
    emergency = {
        entry.grant_ref: kinds.get(entry.details.get("emergency", ""), entry.details.get("emergency", ""))
        for entry in AuditEntry.objects.filter(property=prop, action=Action.BREAK_GLASS_OPENED, grant_ref__in=refs)
    }
    bound = bound or {}
    with transaction.atomic():
        _audit_list(request, prop, "break_glass_reviews", len(pending) + len(reviewed))
    context = {
        "pending": [
            (g, emergency.get(str(g.pk), ""), bound.get(g.pk) or BreakGlassReviewForm(prefix=str(g.pk)))
            for g in pending
        ],
        "reviewed": [(g, emergency.get(str(g.pk), "")) for g in reviewed],
        "refusal": refusal,
        **_tabs(request, prop, "reviews"),
    }
    return render(request, "requests/break_glass_reviews.html", context, status=status)


@require_safe
@never_cache
@requests_view(REVIEW_BREAK_GLASS)
def break_glass_reviews(request: AuthedRequest, prop: Property) -> HttpResponse:
    """The privacy officer's queue of emergency grants waiting for their after-the-fact review."""
    return _reviews_page(request, prop)


@require_POST
@never_cache
@requests_view(REVIEW_BREAK_GLASS)
def review_break_glass(request: AuthedRequest, prop: Property, pk: uuid.UUID) -> HttpResponse:
    grant = reading.get_grant_for_user(prop, request.user, pk)
    if not grant.break_glass:
        raise Http404("Not an emergency grant.")
    form = BreakGlassReviewForm(request.POST, prefix=str(grant.pk))
    if not form.is_valid():
        return _reviews_page(request, prop, status=400, bound={grant.pk: form})
    try:
        actions.review_break_glass(
            grant, acting_user=request.user, outcome=form.cleaned_data["outcome"], notes=form.cleaned_data["notes"]
        )
    except TransitionRefused as exc:
        return _reviews_page(request, prop, status=409, refusal=str(exc.message))
    except RequestError as exc:
        put_error(form, exc)
        return _reviews_page(request, prop, status=400, bound={grant.pk: form})
    messages.success(request, _("Review of %(number)s recorded.") % {"number": grant.request.number})
    return redirect("requests:break_glass_reviews", code=prop.code)
