"""Demo footage: the six demo cameras placed on the floor plans, a few minutes of generated recordings each, and one
footage-export request carried all the way to a signed evidence package.

Everything goes through the real code paths: the recordings are written in the Frigate layout under
``CUSTODY_HOME/nvr`` and indexed by ``custody.footage.ingest`` (which hashes them and writes the audit entry); the
folder is registered as a watched folder, so the worker's watch mode indexes anything new dropped there; the request
is filed by the security officer, approved by the reviewers the policy asks for, exported with the evidence exporter
under its grant and marked fulfilled by the officer. Each step is skipped when its result already exists, so seeding
again adds nothing.

One camera (the restaurant's) has a 20-second hole in every three minutes of footage, so the gap list has
something to show.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from pathlib import Path

from django.conf import settings
from django.utils import timezone

from custody.accounts.models import User
from custody.evidence.exporting import create_export, run_export
from custody.evidence.models import Export, ExportStatus
from custody.footage import ingest
from custody.footage.models import Camera, IngestLayout, Segment, WatchedFolder
from custody.footage.synthetic import write_frigate_tree
from custody.properties.models import Property
from custody.requests import actions
from custody.requests.actions import RequestData
from custody.requests.models import AccessRequest, Grant, LegalBasis, Purpose, RequestType, Status

MINUTES = 3
SEGMENT_SECONDS = 10
GAP_CAMERA = "CAM-03"
EXPORT_CAMERA = "CAM-02"
EXPORT_SECONDS = 60
REVIEWER_ORDER = ("secmanager", "privacy", "manager")


@dataclass(frozen=True)
class Placement:
    """Where a camera sits on its floor's plan (fractions of the plan's width and height) and where it looks."""

    x: float | None
    y: float | None
    direction: int
    field_of_view: int
    retention_days: int


# Measured on the demo plans (custody.core.demo.floor_plan_svg): the ground floor is 572 x 300 with the entrance,
# lobby and restaurant as the first three rooms of the top row; the upper floors are 934 x 300 with the corridor
# running along the middle band. The car park is outdoors: no plan, so no position.
PLACEMENTS = {
    "CAM-01": Placement(0.149, 0.333, 0, 90, 30),  # inside the entrance, looking out at the doors
    "CAM-02": Placement(0.486, 0.087, 225, 90, 30),  # lobby's top-right corner, over the reception desk
    "CAM-03": Placement(0.72, 0.087, 225, 100, 30),  # restaurant's top-right corner, over the tables
    "CAM-04": Placement(None, None, 180, 70, 60),  # car park gate, outdoors
    "CAM-05": Placement(0.97, 0.5, 270, 60, 14),  # east end of the first-floor corridor, looking west
    "CAM-06": Placement(0.97, 0.5, 270, 60, 14),  # east end of the second-floor corridor, looking west
}


def nvr_root() -> Path:
    return Path(settings.CUSTODY_HOME) / "nvr"


def place_demo_cameras(prop: Property) -> int:
    """Give the demo cameras their map position, direction, source and retention; cameras already placed or
    edited (a source set) are left as they are. Returns how many were changed."""
    changed = 0
    for camera in Camera.objects.filter(property=prop, code__in=PLACEMENTS).select_related("area"):
        if camera.source or camera.position_x is not None:
            continue
        spot = PLACEMENTS[camera.code]
        camera.position_x, camera.position_y = spot.x, spot.y
        camera.direction, camera.field_of_view = spot.direction, spot.field_of_view
        camera.retention_days = spot.retention_days
        camera.source = f"Frigate NVR (demo), camera {camera.code}"
        camera.save()
        changed += 1
    return changed


def in_demo_gap(camera_code: str, start: dt.datetime) -> bool:
    """The restaurant camera misses two segments in every third minute (by the clock, so any three-minute window
    has exactly one 20-second gap, and footage written by an earlier seeding never fills it)."""
    minute = int(start.timestamp() // 60)
    return camera_code == GAP_CAMERA and minute % MINUTES == 1 and start.second in (20, 30)


def footage_window(now: dt.datetime | None = None) -> tuple[dt.datetime, dt.datetime]:
    """The demo's recording window: the last MINUTES whole minutes before now (UTC)."""
    end = (now or timezone.now()).astimezone(dt.UTC).replace(second=0, microsecond=0)
    return end - dt.timedelta(minutes=MINUTES), end


def seed_demo_footage(prop: Property, *, now: dt.datetime | None = None) -> int:
    """Place the cameras, generate and index their footage (only while none is indexed) and watch the NVR folder.
    Returns how many segments the property's cameras have."""
    place_demo_cameras(prop)
    root = nvr_root()
    root.mkdir(parents=True, exist_ok=True)
    WatchedFolder.objects.get_or_create(
        property=prop,
        path=str(root.resolve()),
        defaults={"layout": IngestLayout.FRIGATE, "timezone": "UTC", "every_minutes": 5},
    )
    segments = Segment.objects.filter(camera__property=prop)
    if segments.exists():
        return segments.count()
    codes = list(
        Camera.objects.filter(property=prop, code__in=PLACEMENTS).order_by("code").values_list("code", flat=True)
    )
    start, _end = footage_window(now)
    paths = write_frigate_tree(root.resolve(), codes, start, MINUTES, SEGMENT_SECONDS, skip=in_demo_gap)
    # Only this window's files: anything else in the folder is the watched folder's to index.
    ingest.ingest(paths, prop=prop, layout=ingest.Layout.compile(ingest.FRIGATE_PATTERN), jobs=2)
    return segments.count()


def recorded_window(camera: Camera) -> tuple[dt.datetime, dt.datetime] | None:
    first = Segment.objects.filter(camera=camera, destroyed_at__isnull=True).order_by("start").first()
    last = Segment.objects.filter(camera=camera, destroyed_at__isnull=True).order_by("-end").first()
    if first is None or last is None:
        return None
    return first.start, last.end


def seed_demo_footage_export(prop: Property) -> AccessRequest | None:
    """The fulfilled footage export: filed by the security officer, approved, exported as a signed evidence package
    and marked fulfilled. A footage-export request left approved by an interrupted seeding is finished; one that is
    fulfilled (or anything else) is left alone. Skipped where the demo users or footage are missing."""
    users = {u.username: u for u in User.objects.filter(role_assignments__property=prop).distinct()}
    officer = users.get("secofficer")
    camera = Camera.objects.filter(property=prop, code=EXPORT_CAMERA).first()
    existing = AccessRequest.objects.filter(property=prop, request_type=RequestType.FOOTAGE_EXPORT).first()
    if existing is not None:
        if existing.status not in (Status.APPROVED, Status.PARTLY_APPROVED) or officer is None or camera is None:
            return existing
        return _export_and_fulfil(existing, officer, camera)
    window = recorded_window(camera) if camera else None
    if officer is None or camera is None or window is None:
        return None
    data = RequestData(
        request_type=RequestType.FOOTAGE_EXPORT,
        purpose=Purpose.INSURANCE_CLAIM,
        legal_basis=LegalBasis.LEGITIMATE_INTERESTS,
        purpose_text="A guest slipped on the wet lobby floor; the insurer asks for the recording of the fall.",
        cameras=[camera],
        window_start=window[0].replace(second=0, microsecond=0),
        window_end=window[1],
    )
    request = actions.submit_request(actions.create_request(prop, data, acting_user=officer), acting_user=officer)
    for username in REVIEWER_ORDER:  # as many different reviewers as the policy asks for
        reviewer = users.get(username)
        if reviewer is None or request.status not in (Status.SUBMITTED, Status.IN_REVIEW):
            continue
        request = actions.approve_request(request, acting_user=reviewer, reason="Only the minute of the fall.")
    return _export_and_fulfil(request, officer, camera)


def _export_and_fulfil(request: AccessRequest, officer: User, camera: Camera) -> AccessRequest:
    """One minute of the camera, a minute into the granted window, exported under the grant; then fulfilled."""
    grant = Grant.objects.get(request=request)
    assert grant.window_start is not None and grant.window_end is not None
    export = Export.objects.filter(request=request, status=ExportStatus.DONE).first()
    if export is None:
        clip_start = grant.window_start + dt.timedelta(seconds=EXPORT_SECONDS)
        export = create_export(
            grant,
            cameras=[camera],
            start=clip_start,
            end=min(grant.window_end, clip_start + dt.timedelta(seconds=EXPORT_SECONDS)),
            watermark=False,
            acting_user=officer,
        )
        export = run_export(export.pk)
        if export.status != ExportStatus.DONE:
            raise RuntimeError(f"the demo export {export.pk} ended {export.status} ({export.error_code})")
    request.refresh_from_db()
    return actions.fulfil_request(request, acting_user=officer)
