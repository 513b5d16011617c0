"""Synthetic footage (custody.footage.synthetic) and the demo's footage: cameras on the plans, recordings in the
Frigate layout, a gap, a watched folder, and a fulfilled export whose evidence package verifies."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from io import StringIO
from pathlib import Path
from typing import Any

import av
import pytest
from django.conf import settings
from django.core.management import call_command
from PIL import Image, ImageChops, ImageStat

from custody.audit import keys
from custody.audit.events import Action
from custody.audit.models import AuditEntry
from custody.audit.verify import stored_heads, stored_rows, verify
from custody.core.demo import PROPERTY_CODE
from custody.core.demo_footage import EXPORT_CAMERA, GAP_CAMERA, nvr_root
from custody.evidence.models import Export, ExportStatus
from custody.evidence.package import package_path
from custody.evidence.verify import verify_package
from custody.footage.models import Camera, IngestLayout, Segment, WatchedFolder
from custody.footage.synthetic import draw_frame, frigate_path, write_frigate_tree, write_segment
from custody.properties.models import AreaKind
from custody.requests.models import AccessRequest, Grant, RequestType, Status

T0 = datetime(2026, 3, 14, 9, 26, 50, tzinfo=UTC)
FRIGATE_NAME = re.compile(r"^recordings/\d{4}-\d{2}-\d{2}/\d{2}/(CAM-0[1-6])/\d{2}\.\d{2}\.mp4$")


def decoded(path: Path) -> tuple[list[Image.Image], list[bool], float, str]:
    """Every frame as an image, whether each came from a keyframe, the container's duration and the codec."""
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        images, keys_seen = [], []
        for frame in container.decode(stream):
            images.append(frame.to_image())
            keys_seen.append(bool(frame.key_frame))
        return images, keys_seen, container.duration / 1_000_000, stream.codec_context.name


def difference(a: Image.Image, b: Image.Image) -> float:
    """Mean absolute difference per channel value (0..255)."""
    return sum(ImageStat.Stat(ImageChops.difference(a.convert("RGB"), b.convert("RGB"))).mean) / 3


def banner(image: Image.Image) -> Image.Image:
    return image.crop((0, 0, image.width, image.height // 10))


def scene(image: Image.Image) -> Image.Image:
    return image.crop((0, image.height // 8, image.width, image.height))


def test_segment_decodes_with_its_frames_keyframes_and_duration(tmp_path: Path) -> None:
    path = write_segment(tmp_path / "seg.mp4", start=T0, seconds=3, fps=10, width=320, height=180, label="LOBBY-1")
    images, keyframes, duration, codec = decoded(path)
    assert codec in {"h264", "mpeg4"}
    assert len(images) == 30
    assert duration == pytest.approx(3.0, abs=0.01)
    assert [n for n, key in enumerate(keyframes) if key] == [0, 10, 20]  # a keyframe every second
    assert {image.size for image in images} == {(320, 180)}
    assert not list(tmp_path.glob(".*part"))  # written under a temporary name, then renamed


def test_frames_show_their_own_time_and_moving_shapes(tmp_path: Path) -> None:
    path = write_segment(tmp_path / "seg.mp4", start=T0, seconds=2, fps=10, width=320, height=180, label="LOBBY-1")
    images, *_ = decoded(path)

    def drawn(index: int, at: datetime, label: str = "LOBBY-1") -> Image.Image:
        return draw_frame(at=at, index=index, fps=10, width=320, height=180, label=label, seed=0)

    # The burned-in text of frame 15 is the one drawn for T0 + 1.5 s (up to compression), not that of another time
    # or another camera label: compared where the two candidates differ.
    at = T0 + timedelta(seconds=1.5)
    for other in (drawn(15, at + timedelta(seconds=1)), drawn(15, at, label="GARAGE-9")):
        box = ImageChops.difference(drawn(15, at), other).getbbox()
        assert box is not None and box[3] <= 180 // 10  # only the banner differs
        right = difference(images[15].crop(box), drawn(15, at).crop(box))
        wrong = difference(images[15].crop(box), other.crop(box))
        assert wrong > 3 * right, (right, wrong)
    # The text changes from frame to frame (tenths of a second), and the shapes move.
    assert difference(banner(images[0]), banner(images[1])) > 0.5
    assert difference(scene(images[0]), scene(images[5])) > 2


def test_write_segment_refuses_a_naive_start_or_odd_size(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        write_segment(tmp_path / "a.mp4", start=datetime(2026, 1, 1))
    with pytest.raises(ValueError, match="even width"):
        write_segment(tmp_path / "a.mp4", start=T0, width=321)
    assert not list(tmp_path.iterdir())


def test_frigate_tree_layout_gap_and_reuse(tmp_path: Path) -> None:
    root = tmp_path / "nvr"
    paths = write_frigate_tree(
        root,
        ["CAM-A", "CAM-B"],
        T0,
        minutes=0.5,
        seconds_per_segment=10,
        width=160,
        height=96,
        skip=lambda code, at: code == "CAM-B" and at == T0 + timedelta(seconds=10),
    )
    names = [p.relative_to(root).as_posix() for p in paths]
    assert names == [
        "recordings/2026-03-14/09/CAM-A/26.50.mp4",
        "recordings/2026-03-14/09/CAM-A/27.00.mp4",
        "recordings/2026-03-14/09/CAM-A/27.10.mp4",
        "recordings/2026-03-14/09/CAM-B/26.50.mp4",
        "recordings/2026-03-14/09/CAM-B/27.10.mp4",
    ]
    assert frigate_path(root, "CAM-A", T0 + timedelta(seconds=20)) == paths[2]
    assert sorted(p for p in root.rglob("*") if p.is_file()) == sorted(paths)
    images, _, duration, _ = decoded(paths[0])
    assert len(images) == 100 and duration == pytest.approx(10.0, abs=0.01)
    # Written again: the files on disk are kept as they are.
    stamps = {p: p.stat().st_mtime_ns for p in paths}
    assert write_frigate_tree(root, ["CAM-A", "CAM-B"], T0, 0.5, 10, width=160, height=96) == [
        *paths[:4],
        root / "recordings/2026-03-14/09/CAM-B/27.00.mp4",
        paths[4],
    ]
    assert all(p.stat().st_mtime_ns == stamps[p] for p in paths)


def plan_rects(svg: str) -> dict[str, tuple[float, float, float, float]]:
    """Each labelled rectangle of a demo plan, by its label: (left, top, right, bottom)."""
    found = {}
    for x, y, w, h, label in re.findall(
        r'<rect x="(\d+)" y="(\d+)" width="(\d+)" height="(\d+)"[^>]*/><text[^>]*>([^<]+)</text>', svg
    ):
        found[label] = (float(x), float(y), float(x) + float(w), float(y) + float(h))
    return found


def inside(point: tuple[float, float], rect: tuple[float, float, float, float]) -> bool:
    return rect[0] <= point[0] <= rect[2] and rect[1] <= point[1] <= rect[3]


@pytest.fixture(autouse=True)
def fast_hashing(settings: Any) -> None:
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.mark.django_db
@pytest.mark.usefixtures("fresh_keys", "media_root")
def test_demo_seeds_footage_a_gap_a_watched_folder_and_a_verified_evidence_package() -> None:
    call_command("seed_demo", "--quiet-logins", "--guests", "20", "--stays", "40", stdout=StringIO())
    root = nvr_root()
    assert root.parent == Path(settings.CUSTODY_HOME)

    # Every camera has three minutes in 10-second segments, in the Frigate layout under CUSTODY_HOME/nvr.
    cameras = {c.code: c for c in Camera.objects.filter(property__code=PROPERTY_CODE)}
    assert sorted(cameras) == [f"CAM-0{n}" for n in range(1, 7)]
    for code, camera in cameras.items():
        segments = list(Segment.objects.filter(camera=camera).order_by("start"))
        assert len(segments) == (16 if code == GAP_CAMERA else 18), code
        for segment in segments:
            name = Path(segment.path).relative_to(root.resolve()).as_posix()
            assert FRIGATE_NAME.match(name) and FRIGATE_NAME.match(name).group(1) == code  # type: ignore[union-attr]
            assert segment.duration == pytest.approx(10.0, abs=0.05) and segment.width == 640
            assert segment.start.second % 10 == 0
        assert segments[-1].end - segments[0].start == timedelta(minutes=3)
    # One 20-second gap, on the restaurant camera only.
    gaps = {code: Segment.objects.gaps(camera) for code, camera in cameras.items()}
    assert {code: len(found) for code, found in gaps.items() if found} == {GAP_CAMERA: 1}
    assert gaps[GAP_CAMERA][0].seconds == 20
    # The NVR folder is watched, so new recordings there are indexed by the worker.
    [watched] = WatchedFolder.objects.filter(property__code=PROPERTY_CODE)
    assert (Path(watched.path), watched.layout, watched.enabled) == (root.resolve(), IngestLayout.FRIGATE, True)

    # Cameras on a floor are on their plan, inside their own area (corridor cameras in the corridor band), and
    # say where they look; the car park has no plan.
    for camera in cameras.values():
        assert camera.source and camera.direction is not None
        floor = camera.area.floor
        if floor is None:
            assert camera.position_x is None
            continue
        svg = floor.plan.read().decode()
        width, height = map(float, re.search(r'viewBox="0 0 (\d+) (\d+)"', svg).groups())  # type: ignore[union-attr]
        rects = plan_rects(svg)
        point = (camera.position_x * width, camera.position_y * height)  # type: ignore[operator]
        if camera.area.kind == AreaKind.CORRIDOR:  # the band along the middle, labelled with the floor's name
            assert inside(point, rects[f"{floor.name} (level {floor.level})"]), camera.code
        else:
            assert inside(point, rects[camera.area.name]), camera.code

    # The fulfilled footage export: two steps of review where needed, one camera, about a minute, a done package
    # that verifies against this installation's signing key.
    request = AccessRequest.objects.get(property__code=PROPERTY_CODE, request_type=RequestType.FOOTAGE_EXPORT)
    assert request.status == Status.FULFILLED
    assert request.approvals.count() >= request.approvals_required
    [export] = Export.objects.filter(request=request)
    assert export.status == ExportStatus.DONE and export.created_by == request.requester
    assert [c.code for c in export.cameras.all()] == [EXPORT_CAMERA]
    assert export.requested_end - export.requested_start == timedelta(minutes=1)
    result = verify_package(package_path(export), public_key_pem=keys.public_key_pem().encode())
    assert result.ok, result.problems
    assert result.files_checked >= 3
    grant = Grant.objects.get(request=request)
    assert not grant.is_active()  # fulfilled: the grant has ended
    assert AuditEntry.objects.filter(action=Action.EXPORT_COMPLETED, object_id=str(export.pk)).exists()

    # Seeding again adds nothing: no files, segments, requests, exports or watched folders.
    files = sorted(p for p in root.rglob("*") if p.is_file())
    counts = (Segment.objects.count(), AccessRequest.objects.count(), Export.objects.count())
    call_command("seed_demo", "--quiet-logins", stdout=StringIO())
    assert sorted(p for p in root.rglob("*") if p.is_file()) == files
    assert (Segment.objects.count(), AccessRequest.objects.count(), Export.objects.count()) == counts
    assert WatchedFolder.objects.count() == 1
    assert verify(stored_rows(), stored_heads()).ok
