"""Stay import pages: upload, column mapping, dry-run report, commit with a progress bar, result, discard.

For property managers and IT admins (``guests.import``). The pages show counts, column names and the error report
(row, field, reason), never a value from the file. State changes live in custody.guests.imports.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from functools import wraps
from typing import Any

from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.http.response import HttpResponseBase
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.cache import never_cache
from django.views.decorators.csrf import csrf_exempt, csrf_protect
from django.views.decorators.http import require_http_methods, require_POST, require_safe
from django_htmx.http import HttpResponseClientRefresh

from custody.access import AuthedRequest, property_view
from custody.guests import importer, imports
from custody.guests.import_forms import MappingForm, MemoryUploadHandler, UploadForm
from custody.guests.imports import ImportRefused
from custody.guests.models import ImportStatus, StayImport
from custody.properties.models import Property

IMPORT = "guests.import"
SHOWN_ERRORS = 500
LIST_LENGTH = 30
DELIMITER_LABELS = {
    "comma": gettext_lazy("comma-separated"),
    "semicolon": gettext_lazy("semicolon-separated"),
    "tab": gettext_lazy("tab-separated"),
}


@csrf_exempt  # the CSRF check happens in _index, once the upload handler below is in place
@require_http_methods(["GET", "POST"])
def index(request: HttpRequest, code: str) -> HttpResponseBase:
    """The imports of the property and the upload form. The file is kept in memory, never in a temporary file."""
    handler = MemoryUploadHandler(request)
    request.upload_handlers = [handler]
    return _index(request, code, handler)


@never_cache
@property_view(IMPORT)
@csrf_protect
def _index(request: AuthedRequest, prop: Property, handler: MemoryUploadHandler) -> HttpResponse:
    if request.method == "POST":
        form = UploadForm(request.POST, request.FILES, too_big=handler.too_big)
        if form.is_valid():
            data = form.cleaned_data["file"].read()
            try:
                stay_import = imports.do_upload(prop, data, acting_user=request.user)
            except importer.ImportFileError as exc:
                form.add_error("file", exc.message)
            else:
                return redirect("imports:detail", code=prop.code, import_id=stay_import.pk)
    else:
        form = UploadForm()
    recent = StayImport.objects.filter(property=prop).select_related("created_by")[:LIST_LENGTH]
    context = {"form": form, "imports": recent}
    return render(request, "guests/import_index.html", context, status=400 if form.errors else 200)


def _without_session_save(view: Callable[..., HttpResponseBase]) -> Callable[..., HttpResponseBase]:
    """For the pages watched while a commit runs: they change nothing, so they do not save the session either.

    Sessions are saved on every request (sliding expiry), and on SQLite the commit holds the database's write lock
    until it ends: a poll that saved its session would wait for the whole import. A page left polling does not keep
    the session alive, either.
    """

    @wraps(view)
    def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponseBase:
        response = view(request, *args, **kwargs)
        session = getattr(request, "session", None)
        if session is not None:
            session.save = _skip_session_save
        return response

    return wrapper


def _skip_session_save(must_create: bool = False) -> None:
    return None


def _detail(
    request: AuthedRequest,
    stay_import: StayImport,
    *,
    mapping_form: MappingForm | None = None,
    refusal: str = "",
    status: int = 200,
) -> HttpResponse:
    context: dict[str, Any] = {
        "stay_import": stay_import,
        "refusal": refusal,
        "delimiter": DELIMITER_LABELS.get(stay_import.delimiter, stay_import.delimiter),
    }
    if mapping_form is None and stay_import.has_upload and stay_import.status != ImportStatus.RUNNING:
        parsed = imports.read_upload(stay_import)
        mapping_form = MappingForm(headers=parsed.headers, mapping=stay_import.mapping)
    errors = imports.stored_errors(stay_import)
    progress = imports.progress_of(stay_import)
    context.update(
        mapping_form=mapping_form,
        errors=errors[:SHOWN_ERRORS],
        more_errors=max(0, len(errors) - SHOWN_ERRORS),
        progress=progress,
        stalled=imports.is_stalled(stay_import),
        committable=(
            stay_import.status in (ImportStatus.CHECKED, ImportStatus.FAILED)
            and not stay_import.error_count
            and stay_import.has_upload
        ),
        discardable=stay_import.status in (ImportStatus.UPLOADED, ImportStatus.CHECKED, ImportStatus.FAILED),
    )
    return render(request, "guests/import_detail.html", context, status=status)


@_without_session_save
@require_safe
@never_cache
@property_view(IMPORT)
def detail(request: AuthedRequest, prop: Property, import_id: uuid.UUID) -> HttpResponse:
    return _detail(request, imports.get_import_for_user(prop, import_id))


@require_POST
@never_cache
@property_view(IMPORT)
def check(request: AuthedRequest, prop: Property, import_id: uuid.UUID) -> HttpResponse:
    """The dry run with the mapping chosen: every row is checked, nothing is imported."""
    stay_import = imports.get_import_for_user(prop, import_id)
    try:
        parsed = imports.read_upload(stay_import)
    except ImportRefused as exc:
        return _detail(request, stay_import, refusal=exc.message, status=400)
    form = MappingForm(request.POST, headers=parsed.headers, mapping=stay_import.mapping)
    if not form.is_valid():
        return _detail(request, stay_import, mapping_form=form, status=400)
    try:
        imports.do_check(stay_import, form.mapping(), acting_user=request.user, parsed=parsed)
    except ImportRefused as exc:
        return _detail(request, stay_import, refusal=exc.message, status=400)
    return redirect("imports:detail", code=prop.code, import_id=stay_import.pk)


@require_POST
@never_cache
@property_view(IMPORT)
def commit(request: AuthedRequest, prop: Property, import_id: uuid.UUID) -> HttpResponse:
    """Start the commit (or run a failed or stalled one again) in the background."""
    stay_import = imports.get_import_for_user(prop, import_id)
    try:
        imports.do_start_commit(stay_import, acting_user=request.user)
    except ImportRefused as exc:
        return _detail(request, stay_import, refusal=exc.message, status=400)
    messages.success(request, _("The import is running in the background."))
    return redirect("imports:detail", code=prop.code, import_id=stay_import.pk)


@_without_session_save
@require_safe
@never_cache
@property_view(IMPORT)
def progress(request: AuthedRequest, prop: Property, import_id: uuid.UUID) -> HttpResponse:
    """The progress bar, polled by htmx while the commit runs; once it has ended, the page reloads."""
    stay_import = imports.get_import_for_user(prop, import_id)
    if getattr(request, "htmx", False) and stay_import.status != ImportStatus.RUNNING:
        return HttpResponseClientRefresh()
    context = {
        "stay_import": stay_import,
        "progress": imports.progress_of(stay_import),
        "stalled": imports.is_stalled(stay_import),
    }
    return render(request, "guests/_import_progress.html", context)


@require_POST
@never_cache
@property_view(IMPORT)
def discard(request: AuthedRequest, prop: Property, import_id: uuid.UUID) -> HttpResponse:
    stay_import = imports.get_import_for_user(prop, import_id)
    try:
        imports.do_discard(stay_import, acting_user=request.user)
    except ImportRefused as exc:
        return _detail(request, stay_import, refusal=exc.message, status=400)
    messages.success(request, _("Import discarded; the uploaded file was destroyed."))
    return redirect("imports:index", code=prop.code)
