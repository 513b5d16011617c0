"""Pages of retention: legal holds, destruction records (with "run retention now") and the backup register.

Views validate and render; custody.retention.holds and custody.retention.backups change state (one audited action
each). A hold's sealed reason is opened only for the roles that set or release holds, through holds.read_reasons
(audited). Auditors see a hold's case reference, scope and who/when, never its reason.
"""

from __future__ import annotations

import uuid
import zoneinfo
from collections.abc import Callable
from functools import wraps
from typing import Any

from django.contrib import messages
from django.core.paginator import Paginator
from django.db.models import Count, Q
from django.http import HttpResponse
from django.http.response import HttpResponseBase
from django.shortcuts import get_object_or_404, redirect, render
from django.utils import timezone
from django.utils.translation import gettext as _
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_http_methods, require_POST, require_safe
from django_tasks_db.models import DBTaskResult

from custody.access import AuthedRequest, property_view
from custody.audit import gate
from custody.audit.events import Action
from custody.footage.models import Segment
from custody.properties.models import Property
from custody.retention import backups, holds
from custody.retention.forms import BackupFilterForm, BackupForm, HoldForm, ReleaseForm
from custody.retention.holds import HoldError
from custody.retention.models import BackupRecord, DestructionRecord, LegalHold
from custody.retention.tasks import run_retention

SET, RELEASE, VIEW_HOLDS = "retention.set_hold", "retention.release_hold", "retention.view_holds"
VIEW_DESTRUCTION, RUN_NOW = "retention.view_destruction", "retention.run_now"
RECORD_BACKUP, VIEW_BACKUPS = "retention.record_backup", "retention.view_backups"
PAGE_SIZE = 50
SEGMENT_PAGE_SIZE = 100

View = Callable[..., HttpResponseBase]


def retention_view(permission: str) -> Callable[[View], View]:
    """A page under /p/<code>/retention/: signed in, the permission held at the property (else 403, audited), run
    in the property's time zone (forms read and pages show its wall-clock time)."""

    def decorator(view: View) -> View:
        @property_view(permission)
        @wraps(view)
        def wrapper(request: AuthedRequest, prop: Property, *args: Any, **kwargs: Any) -> HttpResponseBase:
            with timezone.override(zoneinfo.ZoneInfo(prop.timezone)):
                return view(request, prop, *args, **kwargs)

        return wrapper

    return decorator


def _tabs(request: AuthedRequest, prop: Property, active: str) -> dict[str, Any]:
    user = request.user
    tabs = [
        (key, name, label)
        for key, permission, name, label in [
            ("holds", VIEW_HOLDS, "retention:holds", _("Legal holds")),
            ("records", VIEW_DESTRUCTION, "retention:records", _("Destruction records")),
            ("backups", VIEW_BACKUPS, "retention:backups", _("Backup register")),
        ]
        if user.has_perm(permission, prop)
    ]
    return {"tabs": tabs, "active_tab": active}


def _get_hold(prop: Property, pk: uuid.UUID) -> LegalHold:
    return get_object_or_404(LegalHold.objects.select_related("set_by", "released_by", "request"), pk=pk, property=prop)


# --- legal holds ---------------------------------------------------------------------------------------------------


@require_safe
@never_cache
@retention_view(VIEW_HOLDS)
def hold_list(request: AuthedRequest, prop: Property) -> HttpResponse:
    """Active holds first, then released ones: case reference, cameras, window, who set and released them."""
    rows = LegalHold.objects.filter(property=prop).select_related("set_by", "released_by").prefetch_related("cameras")
    active = list(rows.filter(released_at__isnull=True).order_by("-set_at"))
    released = Paginator(rows.filter(released_at__isnull=False).order_by("-released_at"), PAGE_SIZE)
    page = released.get_page(request.GET.get("page"))
    context = {
        "active": active, "page": page, "may_set": request.user.has_perm(SET, prop), **_tabs(request, prop, "holds"),
    }  # fmt: skip
    return render(request, "retention/holds.html", context)


@require_http_methods(["GET", "POST"])
@never_cache
@retention_view(SET)
def hold_new(request: AuthedRequest, prop: Property) -> HttpResponse:
    form = HoldForm(request.POST if request.method == "POST" else None, prop=prop)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            hold = holds.set_hold(
                prop, cameras=data["cameras"], start=data["window_start"], end=data["window_end"],
                case_reference=data["case_reference"], reason=data["reason"], acting_user=request.user,
            )  # fmt: skip
        except HoldError as exc:
            form.add_error(exc.field if exc.field in form.fields else None, exc.message)
        else:
            messages.success(request, _("Legal hold %(ref)s set.") % {"ref": hold.case_reference})
            return redirect("retention:hold", code=prop.code, pk=hold.pk)
    context = {"form": form, **_tabs(request, prop, "holds")}
    return render(request, "retention/hold_form.html", context, status=400 if form.errors else 200)


@require_safe
@never_cache
@retention_view(VIEW_HOLDS)
def hold_detail(request: AuthedRequest, prop: Property, pk: uuid.UUID) -> HttpResponse:
    """The hold's scope, cameras, window and the segments it covers. The roles that set or release holds also see
    the reason (that read is audited); auditors never do."""
    hold = _get_hold(prop, pk)
    may_read = request.user.has_perm(SET, prop) or request.user.has_perm(RELEASE, prop)
    reasons = holds.read_reasons(hold, acting_user=request.user) if may_read else None
    context = {
        "hold": hold, "cameras": list(hold.cameras.order_by("code")), "coverage": holds.coverage(hold),
        "reasons": reasons, "may_release": hold.is_active and request.user.has_perm(RELEASE, prop),
        **_tabs(request, prop, "holds"),
    }  # fmt: skip
    return render(request, "retention/hold_detail.html", context)


@require_http_methods(["GET", "POST"])
@never_cache
@retention_view(RELEASE)
def hold_release(request: AuthedRequest, prop: Property, pk: uuid.UUID) -> HttpResponse:
    hold = _get_hold(prop, pk)
    if not hold.is_active:
        messages.error(request, _("This hold was already released."))
        return redirect("retention:hold", code=prop.code, pk=hold.pk)
    form = ReleaseForm(request.POST if request.method == "POST" else None)
    if request.method == "POST" and form.is_valid():
        try:
            holds.release_hold(hold, reason=form.cleaned_data["reason"], acting_user=request.user)
        except HoldError as exc:
            form.add_error("reason" if exc.field == "reason" else None, exc.message)
        else:
            messages.success(request, _("Legal hold %(ref)s released.") % {"ref": hold.case_reference})
            return redirect("retention:hold", code=prop.code, pk=hold.pk)
    context = {"form": form, "hold": hold, **_tabs(request, prop, "holds")}
    return render(request, "retention/hold_release.html", context, status=400 if form.errors else 200)


# --- destruction records ------------------------------------------------------------------------------------------


def _last_job(prop: Property) -> DBTaskResult | None:
    return (
        DBTaskResult.objects.filter(task_path=run_retention.module_path, args_kwargs__kwargs__property_code=prop.code)
        .order_by("-enqueued_at")
        .first()
    )


def _job_state(job: DBTaskResult | None) -> str:
    if job is None:
        return ""
    states = {
        "READY": _("waiting for the worker"),
        "RUNNING": _("running"),
        "FAILED": _("failed (see the worker's log)"),
        "SUCCESSFUL": _("finished"),
    }
    return str(states.get(job.status, job.status))


@require_safe
@never_cache
@retention_view(VIEW_DESTRUCTION)
def record_list(request: AuthedRequest, prop: Property) -> HttpResponse:
    page = Paginator(
        DestructionRecord.objects.filter(property=prop).select_related("run_by").order_by("-started_at"), PAGE_SIZE
    ).get_page(request.GET.get("page"))
    may_run = request.user.has_perm(RUN_NOW, prop)
    job = _last_job(prop) if may_run else None
    context = {
        "page": page, "may_run": may_run, "job": job, "job_state": _job_state(job),
        **_tabs(request, prop, "records"),
    }  # fmt: skip
    return render(request, "retention/records.html", context)


@require_safe
@never_cache
@retention_view(VIEW_DESTRUCTION)
def record_detail(request: AuthedRequest, prop: Property, pk: uuid.UUID) -> HttpResponse:
    """A record's counts per camera and the destroyed segments (camera, window, size, SHA-256), paginated."""
    record = get_object_or_404(DestructionRecord.objects.select_related("run_by"), pk=pk, property=prop)
    segments = (
        Segment.objects.filter(destruction=record).select_related("camera").order_by("camera__code", "start")
        .only("camera__code", "start", "end", "size", "sha256", "destroyed_at")
    )  # fmt: skip
    page = Paginator(segments, SEGMENT_PAGE_SIZE).get_page(request.GET.get("page"))
    context = {"record": record, "cameras": record.details.get("cameras", []), "page": page,
               **_tabs(request, prop, "records")}  # fmt: skip
    return render(request, "retention/record_detail.html", context)


@require_POST
@retention_view(RUN_NOW)
def run_now(request: AuthedRequest, prop: Property) -> HttpResponse:
    job = _last_job(prop)
    if job is not None and job.status in ("READY", "RUNNING"):
        messages.info(request, _("A retention run for this property is already waiting or running."))
    else:
        result = run_retention.enqueue(property_code=prop.code, user_id=request.user.pk)
        messages.success(request, _("Retention run queued (job %(id)s).") % {"id": str(result.id)[:8]})
    return redirect("retention:records", code=prop.code)


# --- backup register ----------------------------------------------------------------------------------------------


def _get_backup(prop: Property, pk: int) -> BackupRecord:
    return get_object_or_404(BackupRecord, pk=pk, property=prop)


def _backup_rows(prop: Property, form: BackupFilterForm) -> Any:
    rows = BackupRecord.objects.filter(property=prop).select_related("made_by", "export").prefetch_related("cameras")
    return form.filter(rows).order_by("-made_on", "-recorded_at")


@require_safe
@never_cache
@retention_view(VIEW_BACKUPS)
def backup_list(request: AuthedRequest, prop: Property) -> HttpResponse:
    form = BackupFilterForm(request.GET or None)
    rows = _backup_rows(prop, form)
    page = Paginator(rows, PAGE_SIZE).get_page(request.GET.get("page"))
    query = request.GET.copy()
    query.pop("page", None)
    totals = rows.aggregate(n=Count("pk"), kept=Count("pk", filter=Q(destroyed_on__isnull=True)))
    context = {
        "form": form, "page": page, "query": query.urlencode(), "totals": totals,
        "may_record": request.user.has_perm(RECORD_BACKUP, prop), **_tabs(request, prop, "backups"),
    }  # fmt: skip
    return render(request, "retention/backups.html", context, status=400 if form.errors else 200)


@require_safe
@never_cache
@retention_view(VIEW_BACKUPS)
def backup_csv(request: AuthedRequest, prop: Property) -> HttpResponse:
    form = BackupFilterForm(request.GET or None)
    if form.is_bound and not form.is_valid():
        return HttpResponse(
            "; ".join(f"{name}: {' '.join(str(e) for e in errors)}" for name, errors in form.errors.items()),
            status=400, content_type="text/plain; charset=utf-8",
        )  # fmt: skip
    rows = list(_backup_rows(prop, form))
    with gate.guard(request.user, VIEW_BACKUPS, prop, Action.BACKUP_REGISTER_EXPORTED, object_type="property",
                    object_id=prop.pk, details={"rows": len(rows)}):  # fmt: skip
        body = backups.register_csv(rows)
    response = HttpResponse(body, content_type="text/csv; charset=utf-8")
    stamp = timezone.localdate().isoformat()
    response["Content-Disposition"] = f'attachment; filename="backup-register-{prop.code}-{stamp}.csv"'
    return response


@require_http_methods(["GET", "POST"])
@never_cache
@retention_view(RECORD_BACKUP)
def backup_new(request: AuthedRequest, prop: Property) -> HttpResponse:
    form = BackupForm(request.POST if request.method == "POST" else None, prop=prop,
                      initial={"made_on": timezone.localdate(), "made_by": request.user.pk})  # fmt: skip
    if request.method == "POST" and form.is_valid():
        backups.record_backup(form, acting_user=request.user)
        messages.success(request, _("Copy recorded in the backup register."))
        return redirect("retention:backups", code=prop.code)
    context = {"form": form, "entry": None, **_tabs(request, prop, "backups")}
    return render(request, "retention/backup_form.html", context, status=400 if form.errors else 200)


@require_http_methods(["GET", "POST"])
@never_cache
@retention_view(RECORD_BACKUP)
def backup_edit(request: AuthedRequest, prop: Property, pk: int) -> HttpResponse:
    entry = _get_backup(prop, pk)
    form = BackupForm(request.POST if request.method == "POST" else None, instance=entry, prop=prop)
    if request.method == "POST" and form.is_valid():
        backups.update_backup(form, acting_user=request.user)
        messages.success(request, _("Backup record saved."))
        return redirect("retention:backups", code=prop.code)
    context = {"form": form, "entry": entry, **_tabs(request, prop, "backups")}
    return render(request, "retention/backup_form.html", context, status=400 if form.errors else 200)
