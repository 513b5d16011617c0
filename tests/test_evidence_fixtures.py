"""Shared by the evidence tests (no tests here): generated, ingested footage and a footage-export grant over it."""

from __future__ import annotations

import datetime as dt
import hashlib
import io
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from django.core.management import call_command

from custody.accounts.models import User
from custody.accounts.roles import Role
from custody.evidence import exporting, package
from custody.evidence.models import Export, ExportStatus
from custody.footage.models import Camera
from custody.requests import actions as request_actions
from custody.requests.models import Grant
from tests.conftest import Hotel, make_user
from tests.test_footage_ingest import T0, frigate_path, make_segment

SEGMENT_OFFSETS = (0, 2, 4, 6)  # four 2-second segments per camera; a keyframe at the start of each


@dataclass
class Footage:
    hotel: Hotel
    cameras: list[Camera]
    holder: User
    approver: User
    grant: Grant
    root: Path


def record(root: Path, cameras: Sequence[Camera]) -> None:
    for number, camera in enumerate(cameras):
        for offset in SEGMENT_OFFSETS:
            make_segment(frigate_path(root, camera.code, T0 + dt.timedelta(seconds=offset)), seed=number * 10 + offset)


def footage_export_grant(
    hotel: Hotel, cameras: Sequence[Camera], start: dt.datetime, end: dt.datetime, holder: User, approver: User
) -> Grant:
    data = request_actions.RequestData(
        request_type="footage_export",
        purpose="security_incident",
        legal_basis="legitimate_interests",
        cameras=list(cameras),
        window_start=start,
        window_end=end,
    )
    access = request_actions.create_request(hotel.prop, data, acting_user=holder)
    access = request_actions.submit_request(access, acting_user=holder)
    access = request_actions.approve_request(access, acting_user=approver)
    return Grant.objects.get(request=access)


def make_footage(hotel: Hotel, tmp_path: Path, *, second_camera: bool = True, masks: list | None = None) -> Footage:
    cameras = [hotel.camera]
    if second_camera:
        lobby2 = Camera(property=hotel.prop, area=hotel.lobby, code="LOBBY-2", name="Lobby door")
        lobby2.save()
        cameras.append(lobby2)
    if masks is not None:
        hotel.camera.privacy_masks = masks
        hotel.camera.save()
    root = tmp_path / "nvr"
    record(root, cameras)
    call_command("ingest", str(root), "--property", hotel.prop.code, stdout=io.StringIO())
    holder = User.objects.filter(username="holder").first() or make_user("holder", hotel.prop, Role.SECURITY_OFFICER)
    approver = User.objects.filter(username="approver").first() or make_user(
        "approver", hotel.prop, Role.PRIVACY_OFFICER
    )
    grant = footage_export_grant(hotel, cameras, T0, T0 + dt.timedelta(seconds=8), holder, approver)
    return Footage(hotel, cameras, holder, approver, grant, root)


def export_of(
    footage: Footage,
    *,
    start_s: float = 1,
    end_s: float = 7,
    watermark: bool = False,
    cameras: Sequence[Camera] | None = None,
) -> Export:
    return exporting.create_export(
        footage.grant,
        cameras=footage.cameras if cameras is None else cameras,
        start=T0 + dt.timedelta(seconds=start_s),
        end=T0 + dt.timedelta(seconds=end_s),
        watermark=watermark,
        acting_user=footage.holder,
    )


def mark_done(export: Export, content: bytes = b"PK\x05\x06" + b"\x00" * 18) -> Export:
    """An export marked done with a stand-in package file (for pages and links, not for packaging)."""
    path = package.package_path(export)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(content)
    Export.objects.filter(pk=export.pk).update(
        status=ExportStatus.DONE,
        progress=100,
        step="done",
        package_size=len(content),
        package_sha256=hashlib.sha256(content).hexdigest(),
        manifest_sha256="0" * 64,
        signature="c2lnbmF0dXJl",
        signer_key_id="0123456789abcdef",
    )
    export.refresh_from_db()
    return export


def mark_failed(export: Export, code: str = "disk_full") -> Export:
    Export.objects.filter(pk=export.pk).update(status=ExportStatus.FAILED, error_code=code, step="failed")
    export.refresh_from_db()
    return export
