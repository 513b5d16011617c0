"""Export pages under /p/<code>/evidence/: the list, a new export from a grant, an export's page with its progress
(polled by htmx), retry, download links, and the download itself.

An export is seen by its creator and by the property's reviewers (security manager, privacy officer, property
manager); anyone else gets a 404, so its existence does not leak. IT admins and auditors get a 403 on every page:
they never see footage nor packages. Creating an export is a use of the grant (custody.evidence.exporting), so only
the grant's holder can, and a refusal is logged. A package is footage: creating a download link, downloading and
retrying are for the export's creator while the grant is usable (not revoked, not expired); reviewers see an export's
metadata and hashes only. Every refusal is logged and answered 403 with the reason.
"""

from __future__ import annotations

import uuid
import zoneinfo
from collections.abc import Callable
from functools import wraps
from typing import Any

from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.core.paginator import Paginator
from django.http import FileResponse, Http404, HttpResponse
from django.http.response import HttpResponseBase
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET, require_http_methods, require_POST, require_safe
from django_htmx.http import HttpResponseClientRefresh

from custody.access import AuthedRequest, property_view
from custody.accounts.models import User
from custody.audit import gate
from custody.audit.events import Action
from custody.evidence import exporting, links
from custody.evidence.forms import ExportForm
from custody.evidence.models import DownloadLink, Export, ExportStatus
from custody.properties.models import Property
from custody.requests import grants
from custody.requests.models import Grant

VIEW = "evidence.view_exports"
REVIEW = "evidence.review_exports"
PAGE_SIZE = 50

REFUSALS = {
    "no_such_grant": gettext_lazy("There is no such grant at this property."),
    "not_the_holder": gettext_lazy("This grant was given to someone else; only its holder can export under it."),
    "revoked": gettext_lazy("This grant has been revoked."),
    "expired": gettext_lazy("This grant is no longer valid."),
    "quota_used": gettext_lazy(
        "This grant has no uses left: each export counts as one use, however many cameras it holds."
    ),
    "wrong_kind": gettext_lazy("This grant does not allow exports; it was given for viewing only."),
    "camera_out_of_scope": gettext_lazy("A camera outside the grant was chosen."),
    "window_out_of_scope": gettext_lazy("The window reaches outside the grant's window."),
}
ERRORS = {
    "disk_full": gettext_lazy("The disk filled up. Nothing was kept; free some space and retry."),
    "no_footage": gettext_lazy("A camera has no recording in the window."),
    "no_frames": gettext_lazy("A camera has no keyframe in the window, so nothing could be cut."),
    "source_missing": gettext_lazy("A recording file is missing from the disk."),
    "source_changed": gettext_lazy("A recording file no longer matches its hash from ingest; it was not used."),
    "source_unreadable": gettext_lazy("A recording file could not be read."),
    "grant_revoked": gettext_lazy("The grant was revoked before the export finished."),
    "grant_expired": gettext_lazy("The grant expired before the export finished."),
    "clip_changed": gettext_lazy(
        "A cut clip changed on the disk before it was packaged; nothing was kept. Retry the export."
    ),
    "io_error": gettext_lazy("A file could not be written."),
}
STEPS = {
    "queued": gettext_lazy("Waiting for a background worker"),
    "resuming": gettext_lazy("Waiting for a background worker to resume it"),
    "starting": gettext_lazy("Starting"),
    "cutting": gettext_lazy("Cutting the clips (stream copy)"),
    "masking": gettext_lazy("Blacking out privacy masks"),
    "watermarking": gettext_lazy("Burning in the watermark"),
    "report": gettext_lazy("Writing the chain-of-custody report"),
    "packaging": gettext_lazy("Signing and packaging"),
    "done": gettext_lazy("Done"),
    "failed": gettext_lazy("Failed"),
}
# Why someone may not have an export's package (a link, a download) nor retry it (exporting.grant_refusal).
PACKAGE_REFUSALS = {
    "not_the_creator": gettext_lazy(
        "Only the person who made this export can download its package or retry it; reviewers see its details only."
    ),
    "grant_not_the_holder": gettext_lazy(
        "You no longer hold this export's grant, so its package is not available to you."
    ),
    "grant_revoked": gettext_lazy(
        "This export's grant was revoked: its package can no longer be downloaded and the export cannot be retried."
    ),
    "grant_expired": gettext_lazy(
        "This export's grant has expired: its package can no longer be downloaded and the export cannot be retried."
    ),
    "grant_wrong_kind": gettext_lazy("This export's grant does not allow exports."),
}
LINK_REFUSALS = {
    **PACKAGE_REFUSALS,
    "used": gettext_lazy("This link has already been used. Each link downloads once; create a new one."),
    "expired": gettext_lazy("This link has expired; create a new one."),
    "not_ready": gettext_lazy("This package is not available."),
    "missing_file": gettext_lazy("The package file is missing from the server; ask the IT admin to restore it."),
}


def evidence_view(view: Callable[..., HttpResponseBase]) -> Callable[..., HttpResponseBase]:
    """Signed in, the property resolved, a role that may see exports (else 403, audited); property's time zone."""

    @property_view(VIEW)
    @wraps(view)
    def wrapper(request: AuthedRequest, prop: Property, *args: Any, **kwargs: Any) -> HttpResponseBase:
        with timezone.override(zoneinfo.ZoneInfo(prop.timezone)):
            return view(request, prop, *args, **kwargs)

    return wrapper


def _not_found(user: User, prop: Property, object_type: str, pk: Any, reason: str) -> Http404:
    gate.record_denied(
        Action.ACCESS_DENIED, actor=user, prop=prop, object_type=object_type, object_id=str(pk),
        details={"reason": reason},
    )  # fmt: skip
    return Http404("No such object.")


def is_reviewer(user: User, prop: Property) -> bool:
    return bool(user.has_perm(REVIEW, prop))


def get_export_for_user(prop: Property, user: User, pk: uuid.UUID) -> Export:
    """The export, if it is this property's and the user created it or reviews here; else 404 (audited)."""
    export = (
        Export.objects.select_related("request", "grant", "created_by", "property").filter(pk=pk, property=prop).first()
    )
    if export is None:
        raise _not_found(user, prop, "evidence.export", pk, "not_found")
    if export.created_by_id != user.pk and not is_reviewer(user, prop):
        raise _not_found(user, prop, "evidence.export", pk, "not_entitled")
    return export


# --- list ---------------------------------------------------------------------------------------------------------


@require_safe
@never_cache
@evidence_view
def export_list(request: AuthedRequest, prop: Property) -> HttpResponse:
    reviewer = is_reviewer(request.user, prop)
    exports = Export.objects.filter(property=prop).select_related("request", "created_by").order_by("-created_at")
    if not reviewer:
        exports = exports.filter(created_by=request.user)
    page = Paginator(exports, PAGE_SIZE).get_page(request.GET.get("page"))
    held = Grant.objects.filter(
        property=prop, holder=request.user, request__request_type="footage_export", revoked_at__isnull=True,
        valid_until__gt=timezone.now(),
    ).select_related("request").order_by("-created_at")  # fmt: skip
    return render(request, "evidence/list.html", {"page": page, "is_reviewer": reviewer, "grants": list(held[:20])})


# --- new export ---------------------------------------------------------------------------------------------------


def _grant_for_holder(request: AuthedRequest, prop: Property, pk: uuid.UUID) -> Grant:
    """The grant, for its holder. A reviewer who is not the holder is refused (403, logged as a refused use);
    anyone else gets a 404, as for any object that is not theirs."""
    grant = Grant.objects.select_related("request", "property", "holder").filter(pk=pk, property=prop).first()
    if grant is None:
        raise _not_found(request.user, prop, "requests.grant", pk, "not_found")
    if grant.holder_id != request.user.pk:
        if not is_reviewer(request.user, prop):
            raise _not_found(request.user, prop, "requests.grant", pk, "not_entitled")
        gate.record_denied(
            Action.GRANT_USED, actor=request.user, prop=prop, object_type="requests.grant", object_id=str(grant.pk),
            grant_ref=str(grant.pk), request_ref=grant.request.number,
            details={"reason": "not_the_holder", "kind": exporting.KIND},
        )  # fmt: skip
        raise PermissionDenied
    return grant


@require_http_methods(["GET", "HEAD", "POST"])
@never_cache
@evidence_view
def new(request: AuthedRequest, prop: Property, pk: uuid.UUID) -> HttpResponse:
    grant = _grant_for_holder(request, prop, pk)
    form = ExportForm(request.POST or None, grant=grant)
    refusal = ""
    status = 200
    if request.method == "POST":
        if form.is_valid():
            try:
                export = exporting.create_export(
                    grant,
                    cameras=list(form.cleaned_data["cameras"]),
                    start=form.cleaned_data["start"],
                    end=form.cleaned_data["end"],
                    watermark=form.cleaned_data["watermark"],
                    acting_user=request.user,
                )
            except grants.GrantRefused as exc:
                refusal = str(REFUSALS.get(exc.code, exc.code))
                status = 403
            else:
                messages.success(request, _("Export queued. This page shows its progress."))
                return redirect("evidence:detail", code=prop.code, pk=export.pk)
        else:
            status = 400
    context = {"grant": grant, "access": grant.request, "form": form, "refusal": refusal}
    return render(request, "evidence/new.html", context, status=status)


# --- one export ---------------------------------------------------------------------------------------------------


def progress_context(export: Export) -> dict[str, Any]:
    return {
        "export": export,
        "step": STEPS.get(export.step, export.step),
        "error": ERRORS.get(export.error_code, export.error_code) if export.error_code else "",
        "active": export.status in (ExportStatus.QUEUED, ExportStatus.RUNNING),
    }


def export_page(
    request: AuthedRequest,
    export: Export,
    *,
    link: str = "",
    link_expires: Any = None,
    refusal: str = "",
    status: int = 200,
) -> HttpResponse:
    user = request.user
    prop = export.property
    # The package and its retry are for the creator while the grant is usable; a reviewer sees metadata only.
    package_refusal = exporting.grant_refusal(export, user)
    context = {
        **progress_context(export),
        "access": export.request,
        "clips": list(export.clips.select_related("camera").order_by("path")),
        "links": list(DownloadLink.objects.filter(export=export).select_related("user").order_by("-created_at")[:20]),
        "can_retry": export.status == ExportStatus.FAILED and not package_refusal,
        "can_link": export.status == ExportStatus.DONE and not package_refusal,
        "package_refusal": PACKAGE_REFUSALS.get(package_refusal, package_refusal) if package_refusal else "",
        "refusal": refusal,
        "new_link": link,
        "new_link_expires": link_expires,
        "link_hours": links.link_hours(),
        "is_creator": export.created_by_id == user.pk,
        "is_reviewer": is_reviewer(user, prop),
    }
    return render(request, "evidence/detail.html", context, status=status)


@require_safe
@never_cache
@evidence_view
def detail(request: AuthedRequest, prop: Property, pk: uuid.UUID) -> HttpResponse:
    return export_page(request, get_export_for_user(prop, request.user, pk))


@require_safe
@never_cache
@evidence_view
def progress(request: AuthedRequest, prop: Property, pk: uuid.UUID) -> HttpResponse:
    """The progress bar, polled by htmx while the export is queued or running; once it has ended the page reloads."""
    export = get_export_for_user(prop, request.user, pk)
    context = progress_context(export)
    if getattr(request, "htmx", False) and not context["active"]:
        return HttpResponseClientRefresh()
    return render(request, "evidence/_progress.html", context)


@require_POST
@never_cache
@evidence_view
def retry(request: AuthedRequest, prop: Property, pk: uuid.UUID) -> HttpResponse:
    export = get_export_for_user(prop, request.user, pk)
    try:
        exporting.retry_export(export, acting_user=request.user)
    except exporting.ExportRefused as exc:
        if exc.code in PACKAGE_REFUSALS:  # not the creator, or the grant is no longer usable (denied entry written)
            return export_page(request, export, refusal=str(PACKAGE_REFUSALS[exc.code]), status=403)
        messages.error(request, _("Only a failed export can be retried."))
        return redirect("evidence:detail", code=prop.code, pk=export.pk)
    messages.success(request, _("Export queued again."))
    return redirect("evidence:detail", code=prop.code, pk=export.pk)


@require_POST
@never_cache
@evidence_view
def create_link(request: AuthedRequest, prop: Property, pk: uuid.UUID) -> HttpResponse:
    """A single-use link for the signed-in user, shown once on the page this returns (it is stored only hashed)."""
    export = get_export_for_user(prop, request.user, pk)
    try:
        link, token = links.create_link(export, acting_user=request.user)
    except links.LinkRefused as exc:
        if exc.code in PACKAGE_REFUSALS:  # not the creator, or the grant is no longer usable (denied entry written)
            return export_page(request, export, refusal=str(PACKAGE_REFUSALS[exc.code]), status=403)
        return export_page(request, export, status=400)
    url = request.build_absolute_uri(reverse("evidence:download", kwargs={"code": prop.code, "token": token}))
    return export_page(request, export, link=url, link_expires=link.expires_at)


@require_GET  # not HEAD: a HEAD request must not use up the link
@never_cache
@evidence_view
def download(request: AuthedRequest, prop: Property, token: str) -> HttpResponseBase:
    try:
        result = links.open_link(token, user=request.user, prop=prop)
    except links.LinkRefused as exc:
        if exc.code in ("unknown", "other_user"):
            raise Http404("No such link.") from None
        context = {"refusal": LINK_REFUSALS.get(exc.code, exc.code)}
        return render(request, "evidence/link_refused.html", context, status=403)
    response = FileResponse(
        result.handle, as_attachment=True, filename=result.export.package_name, content_type="application/zip"
    )
    response["X-Content-SHA256"] = result.export.package_sha256
    return response
