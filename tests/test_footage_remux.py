"""Stream-copy remux of a window: keyframe start, nothing outside the window, real time across gaps, hashes."""

from __future__ import annotations

import errno
import hashlib
import io
import itertools
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import av
import pytest

from custody.footage import remux
from custody.footage.ingest import FRIGATE_PATTERN, Layout, ingest
from custody.footage.models import Segment
from custody.footage.remux import RemuxError, live_segments, remux_window
from tests.conftest import Hotel
from tests.test_footage_ingest import frigate_path, make_segment

T0 = datetime(2026, 3, 1, 10, 0, 0, tzinfo=UTC)
SECOND = timedelta(seconds=1)


@pytest.fixture
def recorded(hotel: Hotel, tmp_path: Path) -> list[Segment]:
    """CAM-1: 10 s segments at 0, 10, 20 s, a gap, then 50 and 60 s (fps 10, one keyframe at each file's start)."""
    root = tmp_path / "nvr"
    for n, offset in enumerate([0, 10, 20, 50, 60]):
        make_segment(frigate_path(root, "CAM-1", T0 + timedelta(seconds=offset)), seconds=10, seed=n)
    ingest([root], prop=hotel.prop, layout=Layout.compile(FRIGATE_PATTERN))
    segments = list(Segment.objects.filter(camera=hotel.camera).order_by("start"))
    assert [s.start for s in segments] == [T0 + timedelta(seconds=o) for o in [0, 10, 20, 50, 60]]
    return segments


def keyframes(segment: Segment) -> list[datetime]:
    """Wall-clock times of a source's keyframes (libx264 adds some inside a file at scene changes)."""
    with av.open(segment.path) as container:
        stream = container.streams.video[0]
        first = stream.start_time or 0
        return [
            segment.start + timedelta(seconds=float((p.pts - first) * stream.time_base))
            for p in container.demux(stream)
            if p.is_keyframe and p.pts is not None
        ]


def frame_times(data: bytes) -> list[float]:
    """Presentation times (seconds from the clip's start) of every decoded frame of an MP4."""
    with av.open(io.BytesIO(data)) as container:
        stream = container.streams.video[0]
        times = [float(frame.pts * stream.time_base) for frame in container.decode(stream)]
    return sorted(times)


def clip(segments: list[Segment], start: datetime, end: datetime, **kwargs: Any) -> tuple[remux.RemuxResult, bytes]:
    out = io.BytesIO()
    result = remux_window(segments, start, end, out, **kwargs)
    return result, out.getvalue()


def assert_inside(result: remux.RemuxResult, data: bytes, start: datetime, end: datetime) -> list[float]:
    times = frame_times(data)
    assert times, "no frame decoded"
    for t in times:
        wall = result.actual_start + timedelta(seconds=t)
        assert start <= wall < end, (wall, start, end)
    assert start <= result.actual_start < result.actual_end <= end
    assert result.sha256 == hashlib.sha256(data).hexdigest()
    assert result.bytes_written == len(data)
    return times


def test_live_segments_overlap_the_window_and_skip_destroyed(hotel: Hotel, recorded: list[Segment]) -> None:
    found = live_segments(hotel.camera, T0 + timedelta(seconds=15), T0 + timedelta(seconds=55))
    assert [s.start for s in found] == [T0 + timedelta(seconds=o) for o in [10, 20, 50]]
    Segment.objects.filter(pk=recorded[1].pk).update(destroyed_at=T0)
    found = live_segments(hotel.camera, T0 + timedelta(seconds=15), T0 + timedelta(seconds=55))
    assert [s.start for s in found] == [T0 + timedelta(seconds=o) for o in [20, 50]]
    # A segment ending exactly at the window's start does not overlap it.
    assert [s.start for s in live_segments(hotel.camera, T0 + 30 * SECOND, T0 + 51 * SECOND)] == [T0 + 50 * SECOND]


def test_whole_segments_give_a_continuous_clip_with_every_frame(recorded: list[Segment]) -> None:
    start, end = T0, T0 + 30 * SECOND
    result, data = clip(recorded[:3], start, end)
    times = assert_inside(result, data, start, end)
    assert len(times) == 300  # 3 x 10 s at 10 fps: nothing lost at the joins
    assert times[0] == 0 and times[-1] == pytest.approx(29.9)
    assert all(b - a == pytest.approx(0.1) for a, b in itertools.pairwise(times))
    assert result.actual_start == T0 and result.actual_end == end
    assert result.source_sha256s == [s.sha256 for s in recorded[:3]]
    assert result.segments_used == [s.pk for s in recorded[:3]]


def test_a_window_inside_segments_starts_at_the_next_keyframe_and_stops_before_the_end(
    recorded: list[Segment],
) -> None:
    # From just after the first file's first keyframe to 25 s: starts at the next keyframe at or after the start.
    start, end = T0 + SECOND // 10, T0 + 25 * SECOND
    first_key = min(k for s in recorded[:3] for k in keyframes(s) if k >= start)
    assert first_key > start
    result, data = clip(live_segments(recorded[0].camera, start, end), start, end)
    times = assert_inside(result, data, start, end)
    assert result.actual_start == first_key
    # Nothing at or after 25 s; decode order may cost the last B-frames, never more than a few.
    assert end - SECOND <= result.actual_end <= end
    assert times[-1] < (end - first_key).total_seconds()
    assert len(times) >= (end - first_key).total_seconds() * 10 - 10


def test_a_gap_keeps_real_time(recorded: list[Segment]) -> None:
    start, end = T0 + 20 * SECOND, T0 + 70 * SECOND
    result, data = clip(live_segments(recorded[0].camera, start, end), start, end)
    times = assert_inside(result, data, start, end)
    assert result.actual_start == T0 + 20 * SECOND and result.actual_end == end
    assert len(times) == 300
    # 20..30 s recorded, 30..50 s gap, 50..70 s recorded: timestamps jump by the gap.
    jumps = [(a, b) for a, b in itertools.pairwise(times) if b - a > 1]
    assert jumps == [(pytest.approx(9.9), pytest.approx(30.0))]


def test_fragmented_output_is_a_valid_mp4_written_in_one_pass(recorded: list[Segment]) -> None:
    start, end = T0, T0 + 20 * SECOND

    class NoRead(io.RawIOBase):
        """An output that can be written but never read back or seeked: proves one pass."""

        def __init__(self) -> None:
            self.chunks: list[bytes] = []

        def writable(self) -> bool:
            return True

        def write(self, data: Any) -> int:
            self.chunks.append(bytes(data))
            return len(data)

    sink = NoRead()
    progress: list[float] = []
    result = remux_window(recorded[:2], start, end, sink, fragmented=True, on_progress=progress.append)  # type: ignore[arg-type]
    data = b"".join(sink.chunks)
    assert b"moof" in data[:4096] or b"mvex" in data[:4096]
    assert len(assert_inside(result, data, start, end)) == 200
    assert progress == [0.5, 1.0]


def test_no_frame_in_the_window_is_a_clear_error(recorded: list[Segment]) -> None:
    # 32..48 s is inside the gap: no segment at all.
    start, end = T0 + 32 * SECOND, T0 + 48 * SECOND
    with pytest.raises(RemuxError) as error:
        clip(live_segments(recorded[0].camera, start, end), start, end)
    assert error.value.code == "no_frames"
    # A window between two frames: a segment, but no frame (and no keyframe) in it.
    start, end = T0 + timedelta(seconds=21.01), T0 + timedelta(seconds=21.09)
    with pytest.raises(RemuxError) as error:
        clip(live_segments(recorded[0].camera, start, end), start, end)
    assert error.value.code == "no_frames"
    with pytest.raises(RemuxError) as error:
        clip(recorded, T0 + 5 * SECOND, T0 + 5 * SECOND)
    assert error.value.code == "bad_window"


def test_a_changed_source_is_detected(recorded: list[Segment]) -> None:
    path = Path(recorded[1].path)
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0xFF  # one flipped byte in the middle of the media
    path.write_bytes(bytes(data))
    with pytest.raises(RemuxError) as error:
        clip(recorded[:3], T0, T0 + 30 * SECOND)
    assert error.value.code == "source_changed" and str(recorded[1].pk) in str(error.value)
    path.unlink()
    with pytest.raises(RemuxError) as error:
        clip(recorded[:3], T0, T0 + 30 * SECOND)
    assert error.value.code == "source_missing"


def test_large_sources_are_hashed_from_disk_too(recorded: list[Segment], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(remux, "MAX_IN_MEMORY", 1)
    result, data = clip(recorded[:2], T0, T0 + 20 * SECOND)
    assert len(assert_inside(result, data, T0, T0 + 20 * SECOND)) == 200
    path = Path(recorded[0].path)
    path.write_bytes(path.read_bytes()[:-1] + b"\x00")
    with pytest.raises(RemuxError) as error:
        clip(recorded[:2], T0, T0 + 20 * SECOND)
    assert error.value.code == "source_changed"


def test_a_full_disk_propagates_as_oserror(recorded: list[Segment]) -> None:
    class Full(io.BytesIO):
        def write(self, data: Any) -> int:
            if self.tell() + len(data) > 50_000:
                raise OSError(errno.ENOSPC, "No space left on device")
            return super().write(data)

    with pytest.raises(OSError) as error:
        remux_window(recorded[:3], T0, T0 + 30 * SECOND, Full())
    assert error.value.errno == errno.ENOSPC


def test_plain_mp4_to_a_file_hashes_the_final_bytes(recorded: list[Segment], tmp_path: Path) -> None:
    target = tmp_path / "clip.mp4"
    result = remux.write_file(recorded, T0 + 10 * SECOND, T0 + 65 * SECOND, target)
    data = target.read_bytes()
    times = assert_inside(result, data, T0 + 10 * SECOND, T0 + 65 * SECOND)
    assert result.actual_start == T0 + 10 * SECOND
    assert len(times) >= 200 + 140  # 10..30 s, then 50..~65 s
    assert result.source_sha256s == [s.sha256 for s in recorded[1:]]  # the first one ends where the window starts


def test_originals_are_untouched(recorded: list[Segment]) -> None:
    before: Callable[[], list[str]] = lambda: [hashlib.sha256(Path(s.path).read_bytes()).hexdigest() for s in recorded]  # noqa: E731
    clip(recorded, T0, T0 + 70 * SECOND, fragmented=True)
    assert before() == [s.sha256 for s in recorded]
