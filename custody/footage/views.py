"""Camera registry, the camera point map, watched folders, direct upload and the quarantine list.

None of these pages shows a frame of footage: camera metadata and segment statistics are not personal data. Playback
is behind a grant (custody.footage.playback*). Every change is one audited action: camera.saved, watch.saved,
footage.uploaded (with counts only).
"""

from __future__ import annotations

import math
import re
import zoneinfo
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta
from functools import wraps
from typing import Any

from django.contrib import messages
from django.core.paginator import Paginator
from django.db import transaction
from django.db.models import Count, Max, Min, Q, Sum
from django.http import FileResponse, Http404, HttpResponse
from django.http.response import HttpResponseBase
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _
from django.views.decorators.http import require_http_methods, require_safe

from custody.access import AuthedRequest, get_floor_for_user, property_view
from custody.audit import gate
from custody.audit.events import Action
from custody.footage import uploads
from custody.footage.forms import CameraForm, UploadForm, WatchedFolderForm
from custody.footage.models import Camera, QuarantinedFile, QuarantineReason, Segment, WatchedFolder
from custody.properties.models import Floor, Property

VIEW = "footage.view_cameras"
MANAGE = "footage.manage_cameras"
INGEST = "footage.manage_ingest"
GAP_DAYS = 7
MAX_GAP_DAYS = 90
QUARANTINE_PAGE = 100
DEFAULT_PLAN = (1000.0, 700.0)  # the drawing area of a floor without a plan (or one whose size cannot be read)


def footage_view(permission: str) -> Callable[[Callable[..., HttpResponseBase]], Callable[..., HttpResponseBase]]:
    """A page under /p/<code>/footage/: signed in, the permission held at the property (else 403), shown in the
    property's time zone."""

    def decorator(view: Callable[..., HttpResponseBase]) -> Callable[..., HttpResponseBase]:
        @property_view(permission)
        @wraps(view)
        def wrapper(request: AuthedRequest, prop: Property, *args: Any, **kwargs: Any) -> HttpResponseBase:
            with timezone.override(zoneinfo.ZoneInfo(prop.timezone)):
                return view(request, prop, *args, **kwargs)

        return wrapper

    return decorator


def get_camera_for_user(prop: Property, pk: int) -> Camera:
    """A camera of this property; another property's camera is a 404, so its existence never leaks."""
    return get_object_or_404(Camera.objects.select_related("area__floor"), pk=pk, property=prop)


def live_segments() -> Any:
    """Segments whose file still exists: destroyed ones keep their row (and hash) but count for nothing here."""
    return Segment.objects.filter(destroyed_at__isnull=True)


def _tabs(request: AuthedRequest, prop: Property, active: str) -> dict[str, Any]:
    tabs = [("cameras", "footage:camera_list", _("Cameras"), VIEW), ("map", "footage:map", _("Camera map"), VIEW)]
    tabs += [
        ("watch", "footage:watch_list", _("Watched folders"), INGEST),
        ("upload", "footage:upload", _("Upload"), INGEST),
        ("quarantine", "footage:quarantine", _("Quarantine"), INGEST),
    ]
    shown = [(key, name, label) for key, name, label, perm in tabs if request.user.has_perm(perm, prop)]
    return {"tabs": shown, "active_tab": active}


# --- actions (one audited change each) ------------------------------------------------------------------------------


def do_save_camera(form: CameraForm, *, acting_user: Any) -> Camera:
    """Save the camera and record which fields changed (names only: never the values)."""
    created = form.instance.pk is None
    with transaction.atomic():
        camera: Camera = form.save()
        gate.record(
            Action.CAMERA_SAVED,
            actor=acting_user,
            prop=camera.property,
            obj=camera,
            details={"camera": camera.code, "created": created, "fields": sorted(form.changed_data)},
        )
    return camera


def do_save_watched_folder(form: WatchedFolderForm, *, acting_user: Any) -> WatchedFolder:
    created = form.instance.pk is None
    with transaction.atomic():
        folder: WatchedFolder = form.save(commit=False)
        if created:
            folder.created_by = acting_user
        folder.save()
        gate.record(
            Action.FOOTAGE_WATCH_SAVED,
            actor=acting_user,
            prop=folder.property,
            obj=folder,
            details={
                "folder": folder.pk,
                "created": created,
                "enabled": folder.enabled,
                "layout": folder.layout,
                "fields": sorted(form.changed_data),
            },
        )
    return folder


# --- the camera point map --------------------------------------------------------------------------------------------


def plan_size(floor: Floor) -> tuple[float, float]:
    """Width and height of the floor plan in its own units (a PNG's pixels, an SVG's viewBox)."""
    if not floor.plan:
        return DEFAULT_PLAN
    try:
        with floor.plan.open("rb") as handle:
            head = handle.read(65536)
    except OSError:
        return DEFAULT_PLAN
    if head.startswith(b"\x89PNG\r\n\x1a\n") and len(head) >= 24:
        png_width, png_height = int.from_bytes(head[16:20], "big"), int.from_bytes(head[20:24], "big")
        return (float(png_width), float(png_height)) if png_width and png_height else DEFAULT_PLAN
    root = re.search(rb"<svg\b[^>]*>", head)
    if root is None:
        return DEFAULT_PLAN
    view_box = re.search(rb'viewBox\s*=\s*["\']([^"\']+)["\']', root.group(0))
    if view_box:
        numbers = re.split(rb"[\s,]+", view_box.group(1).strip())
        try:
            width, height = float(numbers[2]), float(numbers[3])
        except (IndexError, ValueError):
            return DEFAULT_PLAN
        return (width, height) if width > 0 and height > 0 else DEFAULT_PLAN
    width_attr = re.search(rb'\bwidth\s*=\s*["\']([\d.]+)(?:px)?["\']', root.group(0))
    height_attr = re.search(rb'\bheight\s*=\s*["\']([\d.]+)(?:px)?["\']', root.group(0))
    if width_attr and height_attr:
        try:
            width, height = float(width_attr.group(1)), float(height_attr.group(1))
        except ValueError:
            return DEFAULT_PLAN
        return (width, height) if width > 0 and height > 0 else DEFAULT_PLAN
    return DEFAULT_PLAN


def _num(value: float) -> str:
    return f"{value:.2f}".rstrip("0").rstrip(".")


def wedge_path(cx: float, cy: float, radius: float, direction: int, fov: int) -> str:
    """SVG path of the camera's view: 0 degrees is up the plan, 90 right; a 360 degree camera is a full circle."""
    if fov >= 360:
        return (
            f"M {_num(cx - radius)} {_num(cy)} a {_num(radius)} {_num(radius)} 0 1 0 {_num(2 * radius)} 0 "
            f"a {_num(radius)} {_num(radius)} 0 1 0 {_num(-2 * radius)} 0 Z"
        )

    def point(angle: float) -> str:
        rad = math.radians(angle)
        return f"{_num(cx + radius * math.sin(rad))} {_num(cy - radius * math.cos(rad))}"

    large = 1 if fov > 180 else 0
    return (
        f"M {_num(cx)} {_num(cy)} L {point(direction - fov / 2)} "
        f"A {_num(radius)} {_num(radius)} 0 {large} 1 {point(direction + fov / 2)} Z"
    )


@dataclass
class Marker:
    camera: Camera
    x: str
    y: str
    label_y: str
    wedge: str


@dataclass
class Plan:
    floor: Floor | None
    url: str
    width: str
    height: str
    marker_radius: str
    font_size: str
    stroke: str
    wedge_radius: str
    markers: list[Marker] = field(default_factory=list)


def build_plan(prop: Property, floor: Floor | None, cameras: list[Camera]) -> Plan:
    width, height = plan_size(floor) if floor else DEFAULT_PLAN
    scale = max(width, height)
    radius, wedge_radius = scale * 0.012, scale * 0.08
    url = (
        reverse("footage:floor_plan", kwargs={"code": prop.code, "floor_pk": floor.pk}) if floor and floor.plan else ""
    )
    plan = Plan(
        floor=floor,
        url=url,
        width=_num(width),
        height=_num(height),
        marker_radius=_num(radius),
        font_size=_num(scale * 0.02),
        stroke=_num(scale * 0.0025),
        wedge_radius=_num(wedge_radius),
    )
    for camera in cameras:
        if camera.position_x is None or camera.position_y is None:
            continue
        cx, cy = camera.position_x * width, camera.position_y * height
        wedge = ""
        if camera.direction is not None:
            wedge = wedge_path(cx, cy, wedge_radius, camera.direction, camera.field_of_view)
        # The code sits below the dot, or above it near the bottom edge so it stays on the plan.
        label_y = cy + radius * 3.2 if cy + radius * 4 < height else cy - radius * 2
        plan.markers.append(Marker(camera, _num(cx), _num(cy), _num(label_y), wedge))
    return plan


# --- cameras ---------------------------------------------------------------------------------------------------------


def _gap_days(request: AuthedRequest) -> int:
    try:
        days = int(request.GET.get("days", GAP_DAYS))
    except ValueError:
        return GAP_DAYS
    return min(max(days, 1), MAX_GAP_DAYS)


@require_safe
@footage_view(VIEW)
def camera_list(request: AuthedRequest, prop: Property) -> HttpResponse:
    live = Q(segments__destroyed_at__isnull=True)
    cameras = list(
        prop.cameras.select_related("area__floor")
        .annotate(segment_count=Count("segments", filter=live), last_recording=Max("segments__end", filter=live))
        .order_by("code")
    )
    since = timezone.now() - timedelta(days=GAP_DAYS)
    recent = live_segments().filter(start__gte=since)
    for camera in cameras:
        camera.gap_count = len(recent.gaps(camera))  # type: ignore[attr-defined]
    context = {"cameras": cameras, "gap_days": GAP_DAYS, **_tabs(request, prop, "cameras")}
    return render(request, "footage/camera_list.html", context)


@require_safe
@footage_view(VIEW)
def camera_detail(request: AuthedRequest, prop: Property, pk: int) -> HttpResponse:
    camera = get_camera_for_user(prop, pk)
    stats = (
        live_segments()
        .filter(camera=camera)
        .aggregate(count=Count("pk"), first=Min("start"), last=Max("start"), size=Sum("size"))
    )
    days = _gap_days(request)
    since = timezone.now() - timedelta(days=days)
    gaps = live_segments().filter(start__gte=since).gaps(camera)
    quarantined = QuarantinedFile.objects.filter(property=prop, path__contains=f"/{camera.code}/").count()
    floor = camera.area.floor
    context = {
        "camera": camera,
        "stats": stats,
        "gaps": gaps,
        "gap_days": days,
        "quarantined": quarantined,
        "plan": build_plan(prop, floor, [camera]) if floor else None,
        "can_manage": request.user.has_perm(MANAGE, prop),
        "can_ingest": request.user.has_perm(INGEST, prop),
        **_tabs(request, prop, "cameras"),
    }
    return render(request, "footage/camera_detail.html", context)


def _camera_form(request: AuthedRequest, prop: Property, camera: Camera | None) -> HttpResponse:
    form = CameraForm(request.POST or None, instance=camera, prop=prop)
    if request.method == "POST" and form.is_valid():
        saved = do_save_camera(form, acting_user=request.user)
        messages.success(request, _("Camera %(code)s saved.") % {"code": saved.code})
        return redirect("footage:camera_detail", code=prop.code, pk=saved.pk)
    floors = list(prop.floors.order_by("level"))
    editing = Camera(position_x=None, position_y=None, direction=None, field_of_view=90)
    if camera is not None:
        editing = camera
    pickers = [build_plan(prop, floor, [editing]) for floor in floors]
    context = {
        "form": form,
        "camera": camera,
        "pickers": pickers,
        "current_floor": camera.area.floor_id if camera else None,
        "area_floors": " ".join(f"{area}:{floor or ''}" for area, floor in form.area_floors.items()),
        **_tabs(request, prop, "cameras"),
    }
    return render(request, "footage/camera_form.html", context, status=400 if form.errors else 200)


@require_http_methods(["GET", "POST"])
@footage_view(MANAGE)
def camera_new(request: AuthedRequest, prop: Property) -> HttpResponse:
    return _camera_form(request, prop, None)


@require_http_methods(["GET", "POST"])
@footage_view(MANAGE)
def camera_edit(request: AuthedRequest, prop: Property, pk: int) -> HttpResponse:
    return _camera_form(request, prop, get_camera_for_user(prop, pk))


def _map(request: AuthedRequest, prop: Property, floor: Floor | None) -> HttpResponse:
    floors = list(prop.floors.annotate(camera_count=Count("areas__cameras")).order_by("level"))
    if floor is None and floors:
        floor = next((f for f in floors if f.camera_count), floors[0])
    cameras = list(prop.cameras.filter(area__floor=floor).select_related("area").order_by("code")) if floor else []
    plan = build_plan(prop, floor, cameras)
    placed = {m.camera.pk for m in plan.markers}
    context = {
        "floors": floors,
        "floor": floor,
        "plan": plan,
        "cameras": cameras,
        "unplaced": [c for c in cameras if c.pk not in placed],
        "outdoor": list(prop.cameras.filter(area__floor__isnull=True).select_related("area").order_by("code")),
        "can_manage": request.user.has_perm(MANAGE, prop),
        **_tabs(request, prop, "map"),
    }
    return render(request, "footage/map.html", context)


@require_safe
@footage_view(VIEW)
def camera_map(request: AuthedRequest, prop: Property) -> HttpResponse:
    floor = None
    if request.GET.get("floor", "").isdigit():
        floor = get_floor_for_user(prop, int(request.GET["floor"]))
    return _map(request, prop, floor)


@require_safe
@footage_view(VIEW)
def floor_plan(request: AuthedRequest, prop: Property, floor_pk: int) -> HttpResponseBase:
    """The floor plan image for the map: properties:floor_plan is for those who manage the structure, this one for
    everyone who may see the cameras. Same headers: an SVG opened on its own runs nothing."""
    floor = get_floor_for_user(prop, floor_pk)
    if not floor.plan:
        raise Http404("This floor has no plan.")
    response = FileResponse(floor.plan.open("rb"), content_type=floor.plan_content_type or "application/octet-stream")
    response.headers["Content-Security-Policy"] = "default-src 'none'; style-src 'unsafe-inline'; sandbox"
    response.headers["Content-Disposition"] = "inline"
    response.headers["X-Content-Type-Options"] = "nosniff"
    return response


@require_safe
@footage_view(VIEW)
def camera_map_floor(request: AuthedRequest, prop: Property, floor_pk: int) -> HttpResponse:
    return _map(request, prop, get_floor_for_user(prop, floor_pk))


# --- watched folders, upload, quarantine -----------------------------------------------------------------------------


@require_safe
@footage_view(INGEST)
def watch_list(request: AuthedRequest, prop: Property) -> HttpResponse:
    folders = prop.watched_folders.select_related("camera").order_by("path")
    return render(request, "footage/watch_list.html", {"folders": folders, **_tabs(request, prop, "watch")})


def _watch_form(request: AuthedRequest, prop: Property, folder: WatchedFolder | None) -> HttpResponse:
    form = WatchedFolderForm(request.POST or None, instance=folder, prop=prop)
    if request.method == "POST" and form.is_valid():
        do_save_watched_folder(form, acting_user=request.user)
        messages.success(request, _("Watched folder saved. The worker scans it within a minute when it is due."))
        return redirect("footage:watch_list", code=prop.code)
    context = {"form": form, "folder": folder, **_tabs(request, prop, "watch")}
    return render(request, "footage/watch_form.html", context, status=400 if form.errors else 200)


@require_http_methods(["GET", "POST"])
@footage_view(INGEST)
def watch_new(request: AuthedRequest, prop: Property) -> HttpResponse:
    return _watch_form(request, prop, None)


@require_http_methods(["GET", "POST"])
@footage_view(INGEST)
def watch_edit(request: AuthedRequest, prop: Property, pk: int) -> HttpResponse:
    return _watch_form(request, prop, get_object_or_404(WatchedFolder, pk=pk, property=prop))


@require_http_methods(["GET", "POST"])
@footage_view(INGEST)
def upload(request: AuthedRequest, prop: Property) -> HttpResponse:
    form = UploadForm(request.POST or None, request.FILES or None, prop=prop)
    outcomes: list[uploads.FileOutcome] = []
    if request.method == "POST" and form.is_valid():
        outcomes = uploads.store_and_index(
            prop,
            form.cleaned_data["camera"],
            form.cleaned_data["start"],
            form.cleaned_data["videos"],
            acting_user=request.user,
        )
        form = UploadForm(prop=prop, initial={"camera": form.cleaned_data["camera"]})
    context = {
        "form": form,
        "outcomes": outcomes,
        "indexed": sum(1 for o in outcomes if o.status == uploads.Status.INDEXED),
        **_tabs(request, prop, "upload"),
    }
    return render(request, "footage/upload.html", context, status=400 if form.errors else 200)


@require_safe
@footage_view(INGEST)
def quarantine(request: AuthedRequest, prop: Property) -> HttpResponse:
    rows = QuarantinedFile.objects.filter(property=prop).order_by("-found_at", "path")
    reason = request.GET.get("reason", "")
    if reason in QuarantineReason.values:
        rows = rows.filter(reason_code=reason)
    page = Paginator(rows, QUARANTINE_PAGE).get_page(request.GET.get("page"))
    context = {
        "page": page,
        "reason": reason,
        "reasons": QuarantineReason.choices,
        "total": QuarantinedFile.objects.filter(property=prop).count(),
        **_tabs(request, prop, "quarantine"),
    }
    return render(request, "footage/quarantine.html", context)
