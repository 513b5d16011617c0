"""Segment ingest: Frigate and pattern layouts, quarantine of bad files, idempotency, gaps, originals untouched."""

from __future__ import annotations

import hashlib
import io
from datetime import UTC, datetime, timedelta
from fractions import Fraction
from pathlib import Path

import av
import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from PIL import Image, ImageDraw

from custody.audit.events import Action
from custody.audit.models import AuditEntry
from custody.footage import ingest
from custody.footage.models import Camera, QuarantinedFile, QuarantineReason, Segment
from tests.conftest import Hotel

T0 = datetime(2026, 3, 1, 10, 0, 0, tzinfo=UTC)


def make_segment(
    path: Path, seconds: float = 2.0, fps: int = 10, seed: int = 0, creation_time: str | None = None
) -> None:
    """A small H.264 (or MPEG-4 where libx264 is missing) clip of moving colour, 320x240."""
    path.parent.mkdir(parents=True, exist_ok=True)
    codec = "libx264" if "libx264" in av.codecs_available else "mpeg4"
    with av.open(str(path), "w") as container:
        if creation_time:
            container.metadata["creation_time"] = creation_time
        stream = container.add_stream(codec, rate=fps)
        stream.width, stream.height, stream.pix_fmt = 320, 240, "yuv420p"
        stream.time_base = Fraction(1, fps)
        for index in range(int(seconds * fps)):
            image = Image.new("RGB", (320, 240), ((seed * 40) % 256, (index * 5) % 256, 90))
            ImageDraw.Draw(image).rectangle(((index * 8) % 300, 100, (index * 8) % 300 + 20, 120), fill="white")
            frame = av.VideoFrame.from_image(image)
            frame.pts = index
            for packet in stream.encode(frame):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)


def frigate_path(root: Path, camera: str, start: datetime) -> Path:
    return root / "recordings" / start.strftime("%Y-%m-%d/%H") / camera / start.strftime("%M.%S.mp4")


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def run_ingest(*args: str) -> tuple[str, str]:
    out, err = io.StringIO(), io.StringIO()
    call_command("ingest", *args, stdout=out, stderr=err)
    return out.getvalue(), err.getvalue()


@pytest.fixture
def second_camera(hotel: Hotel) -> Camera:
    camera = Camera(property=hotel.prop, area=hotel.lobby, code="CAM-2", name="Entrance")
    camera.save()
    return camera


@pytest.fixture
def frigate_tree(tmp_path: Path) -> Path:
    """CAM-1: 0, 2, 4 s then a gap, 20, 22 s. CAM-2: 0, 2, 4, 6 s with no gap. Plus four bad files."""
    root = tmp_path / "nvr"
    for n, offset in enumerate([0, 2, 4, 20, 22]):
        make_segment(frigate_path(root, "CAM-1", T0 + timedelta(seconds=offset)), seed=n)
    for n, offset in enumerate([0, 2, 4, 6]):
        make_segment(frigate_path(root, "CAM-2", T0 + timedelta(seconds=offset)), seed=10 + n)
    bad = T0 + timedelta(minutes=5)
    good = frigate_path(root, "CAM-1", T0)
    truncated = frigate_path(root, "CAM-1", bad)
    truncated.write_bytes(good.read_bytes()[: good.stat().st_size // 2])
    frigate_path(root, "CAM-1", bad + timedelta(seconds=10)).write_bytes(b"")
    frigate_path(root, "CAM-2", bad).write_text("this is not a video\n")
    unknown = frigate_path(root, "CAM-9", T0)
    make_segment(unknown, seed=99)
    return root


def all_hashes(root: Path) -> dict[Path, str]:
    return {p: sha256(p) for p in sorted(root.rglob("*")) if p.is_file()}


@pytest.mark.django_db
def test_frigate_tree_is_indexed_with_real_metadata(hotel: Hotel, second_camera: Camera, frigate_tree: Path) -> None:
    before = all_hashes(frigate_tree)
    out, err = run_ingest(str(frigate_tree), "--property", hotel.prop.code)

    assert Segment.objects.filter(camera=hotel.camera).count() == 5
    assert Segment.objects.filter(camera=second_camera).count() == 4
    for segment in Segment.objects.all():
        path = Path(segment.path)
        assert segment.sha256 == sha256(path)
        assert segment.size == path.stat().st_size
        assert abs(segment.duration - 2.0) <= 0.2
        assert (segment.width, segment.height) == (320, 240)
        assert segment.codec in {"h264", "mpeg4"}
        assert abs((segment.end - segment.start).total_seconds() - segment.duration) < 0.001
    first = Segment.objects.get(camera=hotel.camera, start=T0 + timedelta(seconds=20))
    assert first.path == str(frigate_path(frigate_tree, "CAM-1", T0 + timedelta(seconds=20)).absolute())

    reasons = {
        Path(q.path).relative_to(frigate_tree.absolute()).as_posix(): q.reason_code
        for q in QuarantinedFile.objects.all()
    }
    assert reasons == {
        "recordings/2026-03-01/10/CAM-1/05.00.mp4": QuarantineReason.TRUNCATED,
        "recordings/2026-03-01/10/CAM-1/05.10.mp4": QuarantineReason.EMPTY,
        "recordings/2026-03-01/10/CAM-2/05.00.mp4": QuarantineReason.NOT_VIDEO,
        "recordings/2026-03-01/10/CAM-9/00.00.mp4": QuarantineReason.UNKNOWN_CAMERA,
    }
    truncated = QuarantinedFile.objects.get(reason_code=QuarantineReason.TRUNCATED)
    assert truncated.sha256 == sha256(Path(truncated.path))
    assert "CAM-9" in QuarantinedFile.objects.get(reason_code=QuarantineReason.UNKNOWN_CAMERA).reason

    # Gaps exactly where they were made: CAM-1 from 6 s (end of the 4 s segment) to 20 s; none for CAM-2.
    before_gap = Segment.objects.get(camera=hotel.camera, start=T0 + timedelta(seconds=4))
    gaps = Segment.objects.gaps(hotel.camera)
    assert [(g.start, g.end) for g in gaps] == [(before_gap.end, T0 + timedelta(seconds=20))]
    assert gaps[0].seconds == pytest.approx(14.0, abs=0.2)
    assert Segment.objects.gaps(second_camera) == []
    assert "13 files: 9 indexed, 0 skipped as already known, 4 quarantined, 1 gaps found." in out
    assert "gap CAM-1 2026-03-01T10:00:06" in out
    assert "ingest: 13/13 files" in err

    entry = AuditEntry.objects.filter(action=Action.FOOTAGE_INGESTED).get()
    assert entry.property_id == hotel.prop.pk
    assert entry.details["indexed"] == 9 and entry.details["quarantined"] == 4 and entry.details["gaps"] == 1
    assert sorted(entry.details["cameras"]) == sorted([hotel.camera.pk, second_camera.pk])

    assert all_hashes(frigate_tree) == before  # originals never modified


@pytest.mark.django_db
def test_second_run_adds_nothing(hotel: Hotel, second_camera: Camera, frigate_tree: Path) -> None:
    run_ingest(str(frigate_tree))
    segments = list(Segment.objects.values_list("pk", "sha256", "ingested_at"))
    quarantined = QuarantinedFile.objects.count()

    out, _ = run_ingest(str(frigate_tree))

    assert list(Segment.objects.values_list("pk", "sha256", "ingested_at")) == segments
    # The unknown-camera file is looked at again (the camera may have been added since); the rest are skipped.
    assert QuarantinedFile.objects.count() == quarantined
    assert "0 indexed, 12 skipped as already known, 1 quarantined, 1 gaps found." in out
    assert AuditEntry.objects.filter(action=Action.FOOTAGE_INGESTED).count() == 2


@pytest.mark.django_db
def test_same_content_elsewhere_is_known(hotel: Hotel, tmp_path: Path) -> None:
    root = tmp_path / "a"
    make_segment(frigate_path(root, "CAM-1", T0))
    copy = frigate_path(tmp_path / "b", "CAM-1", T0)
    copy.parent.mkdir(parents=True)
    copy.write_bytes(frigate_path(root, "CAM-1", T0).read_bytes())
    out, _ = run_ingest(str(root), str(tmp_path / "b"))
    assert Segment.objects.count() == 1
    assert "1 indexed, 1 skipped as already known, 0 quarantined" in out


@pytest.mark.django_db
def test_a_camera_added_later_picks_up_its_quarantined_files(hotel: Hotel, tmp_path: Path) -> None:
    make_segment(frigate_path(tmp_path, "CAM-2", T0))
    with pytest.raises(CommandError) as failed:
        run_ingest(str(tmp_path))
    assert failed.value.returncode == 1
    assert QuarantinedFile.objects.get().reason_code == QuarantineReason.UNKNOWN_CAMERA
    Camera(property=hotel.prop, area=hotel.lobby, code="CAM-2", name="Entrance").save()
    out, _ = run_ingest(str(tmp_path))
    assert "1 indexed" in out
    assert not QuarantinedFile.objects.exists()


@pytest.mark.django_db
def test_custom_pattern_layout(hotel: Hotel, tmp_path: Path) -> None:
    root = tmp_path / "hik"
    for offset in [0, 2, 10]:
        start = T0 + timedelta(seconds=offset)
        make_segment(root / "CAM-1" / start.strftime("%Y%m%d") / start.strftime("%H%M%S.mp4"), seed=offset)
    (root / "CAM-1" / "notes.mp4").write_bytes(b"x")  # no time in its name
    out, _ = run_ingest(str(root), "--layout", "pattern", "--pattern", "{camera}/%Y%m%d/%H%M%S.mp4")
    starts = list(Segment.objects.order_by("start").values_list("start", flat=True))
    assert starts == [T0, T0 + timedelta(seconds=2), T0 + timedelta(seconds=10)]
    assert [g.seconds for g in Segment.objects.gaps(hotel.camera)] == pytest.approx([6.0], abs=0.2)
    assert QuarantinedFile.objects.get().reason_code == QuarantineReason.NO_TIMESTAMP
    assert "3 indexed" in out


@pytest.mark.django_db
def test_pattern_without_camera_uses_camera_option_and_time_zone(hotel: Hotel, tmp_path: Path) -> None:
    make_segment(tmp_path / "rec_2026-03-01_11-00-00.mp4")
    run_ingest(
        str(tmp_path),
        "--layout",
        "pattern",
        "--pattern",
        "rec_%Y-%m-%d_%H-%M-%S.mp4",
        "--camera",
        "CAM-1",
        "--timezone",
        "Europe/Madrid",
    )
    assert Segment.objects.get().start == T0  # 11:00 in Madrid (UTC+1 in March) is 10:00 UTC


def test_pattern_syntax_errors() -> None:
    for pattern, message in [
        ("%Y/%m/%d.mp4", "%H"),
        ("%Y%m%d%H%q.mp4", "%q"),
        ("%Y%Y%m%d%H", "twice"),
        ("{camera}/%Y%m%d%H%", "lone"),
    ]:
        with pytest.raises(ingest.PatternError, match=message):
            ingest.Layout.compile(pattern)
    layout = ingest.Layout.compile(ingest.FRIGATE_PATTERN)
    matched = layout.match(Path("/x/recordings/2026-03-01/23/front_door/59.58.mp4"), ingest.ZoneInfo("UTC"))
    assert matched == ("front_door", datetime(2026, 3, 1, 23, 59, 58, tzinfo=UTC))
    assert layout.match(Path("/x/recordings/2026-02-30/23/cam/00.00.mp4"), ingest.ZoneInfo("UTC")) is None


@pytest.mark.django_db
def test_missing_path_and_bad_options_exit_2(hotel: Hotel, tmp_path: Path) -> None:
    for args in [
        (str(tmp_path / "nope"),),
        (str(tmp_path), "--layout", "pattern"),
        (str(tmp_path), "--layout", "pattern", "--pattern", "%Y"),
        (str(tmp_path), "--layout", "pattern", "--pattern", "%Y%m%d%H.mp4"),
        (str(tmp_path), "--property", "nope"),
    ]:
        with pytest.raises(CommandError) as failed:
            run_ingest(*args)
        assert failed.value.returncode == 2, args
    assert not AuditEntry.objects.filter(action=Action.FOOTAGE_INGESTED).exists()


@pytest.mark.django_db
def test_nothing_readable_exits_1(hotel: Hotel, tmp_path: Path) -> None:
    (tmp_path / "junk.mp4").write_bytes(b"")
    with pytest.raises(CommandError) as failed:
        run_ingest(str(tmp_path))
    assert failed.value.returncode == 1
    assert AuditEntry.objects.filter(action=Action.FOOTAGE_INGESTED).get().details["quarantined"] == 1


@pytest.mark.django_db
def test_container_time_far_from_the_name_is_noted(hotel: Hotel, tmp_path: Path) -> None:
    make_segment(frigate_path(tmp_path, "CAM-1", T0), creation_time="2026-03-01T10:00:30.000000Z")
    make_segment(frigate_path(tmp_path, "CAM-1", T0 + timedelta(seconds=2)), creation_time="2026-03-01T10:00:03Z")
    run_ingest(str(tmp_path))
    far, near = Segment.objects.order_by("start")
    assert far.start == T0  # the name wins
    assert "differs from the name by +30.0 s" in far.note
    assert near.note == ""


@pytest.mark.django_db
def test_an_indexed_file_that_changed_is_reported_not_reindexed(hotel: Hotel, tmp_path: Path) -> None:
    path = frigate_path(tmp_path, "CAM-1", T0)
    make_segment(path)
    run_ingest(str(tmp_path))
    indexed = Segment.objects.get()
    with path.open("ab") as handle:
        handle.write(b"\0\0\0\x08free")
    _, err = run_ingest(str(tmp_path))
    assert f"warning: {path.absolute()} changed since it was indexed" in err
    assert Segment.objects.get().sha256 == indexed.sha256
    assert AuditEntry.objects.filter(action=Action.FOOTAGE_INGESTED).latest("seq").details["changed"] == 1
