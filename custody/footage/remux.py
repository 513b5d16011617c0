"""Stream-copy remux of a camera's segments into one MP4 covering a window (no decoding, no re-encoding).

Used by in-grant playback (fragmented MP4, streamed while it is written) and by evidence exports.

Rules, in order of importance:

* **Never a frame outside [start, end).** The clip starts at the first keyframe whose presentation time is at or
  after ``start`` (stream copy cannot start between keyframes) and stops at the first packet, in decode order, whose
  display interval ``[pts, pts + duration)`` does not end at or before ``end``. Stopping in decode order means the
  clip is always decodable (every kept frame's references are kept) at the cost of, at most, the last few B-frames
  before ``end``. The actual bounds (``RemuxResult.actual_start``/``actual_end``) are recorded so an export can show
  the requested and the keyframe-aligned bounds.
* **Real time.** A packet's wall-clock time is ``segment.start + (pts - stream.start_time) * time_base``. Output
  timestamps are that time minus ``actual_start``, so a recording gap stays a gap: the timestamps jump across it
  (players hold the last frame). Where two segments overlap slightly (file-name times are rounded), the later segment
  is shifted just enough to keep decode timestamps strictly increasing.
* **Originals are never trusted blindly (invariant 4).** Each source is read once into memory and hashed as it is
  read (a background thread reads and hashes the next file while the current one is remuxed); the demuxer works on
  exactly the bytes that were hashed. A hash that differs from ``Segment.sha256`` raises
  ``RemuxError("source_changed")``.
  Sources above ``MAX_IN_MEMORY`` bytes are hashed by a separate sequential read and demuxed from disk; their size
  and modification time are compared before and after as well.
* **Hash while writing.** ``out`` is wrapped; the SHA-256 of the bytes written is computed as they are written. A
  fragmented MP4 (``fragmented=True``: ``frag_keyframe+empty_moov+delay_moov+default_base_moof``) is written strictly
  sequentially, so that is one pass. A plain MP4 needs the muxer to patch the media box size near the head at the
  very end; in that case the written bytes are hashed again from ``out`` (which must then be readable) — prefer
  ``fragmented=True`` where the hash of a large file matters.

``OSError`` from ``out`` (disk full) propagates unchanged; other failures are ``RemuxError`` with a ``code``.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import queue
import threading
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from fractions import Fraction
from pathlib import Path
from typing import Any, BinaryIO

import av
import av.error

from custody.footage.models import Camera, Segment

MAX_IN_MEMORY = 256 * 1024 * 1024
READ_CHUNK = 4 * 1024 * 1024
OUT_BUFFER = 1024 * 1024
# delay_moov: the (empty) moov is written with the first fragment, so it carries the edit list that puts the first
# frame at time 0 despite B-frame decode delay (without it, fragmented output starts at +2 frames).
FRAGMENTED_FLAGS = "frag_keyframe+empty_moov+delay_moov+default_base_moof"


class RemuxError(Exception):
    """A clip could not be made. ``code``: no_frames (nothing in the window), no_segments, source_missing,
    source_changed, source_unreadable, bad_window, output_unhashable."""

    def __init__(self, code: str, detail: str = "") -> None:
        super().__init__(f"{code}: {detail}" if detail else code)
        self.code = code
        self.detail = detail


@dataclass
class RemuxResult:
    actual_start: datetime
    actual_end: datetime
    source_sha256s: list[str]
    bytes_written: int
    sha256: str
    segments_used: list[int] = field(default_factory=list)  # pks of the segments that contributed frames


def live_segments(camera: Camera, start: datetime, end: datetime) -> list[Segment]:
    """The camera's segments that still exist and overlap [start, end), ordered by start."""
    return list(
        Segment.objects.filter(camera=camera, destroyed_at__isnull=True, start__lt=end, end__gt=start).order_by("start")
    )


# --- hashing output ------------------------------------------------------------------------------------------------


class HashingWriter(io.RawIOBase):
    """Passes writes through to ``out`` and hashes them in order, both on a background thread (file writes and
    hashlib release the GIL) so the muxer does not wait for them. A write that lands before the end of what was
    already hashed (a muxer patching a header) marks the hash stale; ``finish`` then re-hashes from ``out``.
    An error of ``out`` (OSError: disk full) is raised, unchanged, by the next write, seek, flush or finish."""

    def __init__(self, out: BinaryIO) -> None:
        super().__init__()
        self._out = out
        self._seekable = _seekable(out)
        self._hash = hashlib.sha256()
        self._base = out.tell() if self._seekable else 0
        self._pos = 0  # relative to where we started
        self._hashed = 0
        self._end = 0
        self._stale = False
        self._error: BaseException | None = None
        self._queue: queue.Queue[tuple[bytes, bool] | None] = queue.Queue(maxsize=64)
        self._thread = threading.Thread(target=self._drain, name="remux-write", daemon=True)
        self._thread.start()

    def _drain(self) -> None:
        while True:
            item = self._queue.get()
            try:
                if item is None:
                    return
                if self._error is None:
                    data, hash_it = item
                    try:
                        self._out.write(data)
                        if hash_it:
                            self._hash.update(data)
                    except BaseException as exc:
                        self._error = exc
            finally:
                self._queue.task_done()

    def _raise(self) -> None:
        if self._error is not None:
            raise self._error

    def _sync(self) -> None:
        self._queue.join()
        self._raise()

    def writable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return self._seekable

    def readable(self) -> bool:
        return False

    def write(self, data: Any) -> int:
        self._raise()
        chunk = bytes(data)  # the muxer reuses its buffer
        n = len(chunk)
        hash_it = self._pos == self._hashed and not self._stale
        if hash_it:
            self._hashed += n
        else:
            self._stale = True
        self._queue.put((chunk, hash_it))
        self._pos += n
        self._end = max(self._end, self._pos)
        return n

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        if whence == io.SEEK_SET:
            target = offset
        elif whence == io.SEEK_CUR:
            target = self._pos + offset
        else:
            target = self._end + offset
        if target != self._pos:
            self._sync()
            self._out.seek(self._base + target)
        self._pos = target
        return target

    def tell(self) -> int:
        return self._pos

    def flush(self) -> None:
        self._sync()
        self._out.flush()

    def stop(self) -> None:
        """End the writing thread (after an error too); what was queued is written first."""
        if self._thread.is_alive():
            self._queue.put(None)
            self._thread.join()

    @property
    def bytes_written(self) -> int:
        return self._end

    def finish(self) -> str:
        self.flush()
        self.stop()
        if not self._stale and self._hashed == self._end:
            return self._hash.hexdigest()
        readable = getattr(self._out, "readable", None)
        if not (self._seekable and readable is not None and readable()):
            raise RemuxError("output_unhashable", "the output was patched and cannot be read back to hash it")
        self._out.seek(self._base)
        digest = hashlib.sha256()
        remaining = self._end
        while remaining > 0:
            chunk = self._out.read(min(READ_CHUNK, remaining))
            if not chunk:
                break
            digest.update(chunk)
            remaining -= len(chunk)
        self._out.seek(self._base + self._end)
        return digest.hexdigest()


def _seekable(stream: Any) -> bool:
    try:
        return bool(stream.seekable())
    except (AttributeError, OSError, ValueError):
        return False


# --- reading sources ------------------------------------------------------------------------------------------------


@dataclass
class _Source:
    segment: Segment
    data: bytes | None  # the whole file, hashed; None for a large file read from disk
    sha256: str  # of ``data``; for a large file: of a sequential read
    stat: tuple[int, int] | None = None


def _stat(path: str) -> tuple[int, int]:
    st = Path(path).stat()
    return st.st_size, st.st_mtime_ns


def _load(segment: Segment) -> _Source:
    """Read and hash one source (runs in a worker thread: file reads and hashlib release the GIL)."""
    try:
        size, mtime = _stat(segment.path)
        if size <= MAX_IN_MEMORY:
            with Path(segment.path).open("rb", buffering=0) as handle:
                data = handle.readall()
            return _Source(segment, data, hashlib.sha256(data).hexdigest())
        digest = hashlib.sha256()
        with Path(segment.path).open("rb", buffering=0) as handle:
            while chunk := handle.read(READ_CHUNK):
                digest.update(chunk)
        return _Source(segment, None, digest.hexdigest(), (size, mtime))
    except FileNotFoundError as exc:
        raise RemuxError("source_missing", f"segment {segment.pk}") from exc
    except OSError as exc:
        raise RemuxError("source_unreadable", f"segment {segment.pk}: {exc.strerror or exc}") from exc


def _prefetch(segments: Sequence[Segment], pool: ThreadPoolExecutor) -> Iterator[_Source]:
    """Sources in order, the next one read and hashed while the current one is remuxed."""
    futures: list[Future[_Source]] = []
    ahead = 2
    for segment in segments[:ahead]:
        futures.append(pool.submit(_load, segment))
    for index in range(len(segments)):
        source = futures[index].result()
        futures[index] = None  # type: ignore[call-overload]  # drop the reference: memory
        if index + ahead < len(segments):
            futures.append(pool.submit(_load, segments[index + ahead]))
        yield source


# --- the remux ------------------------------------------------------------------------------------------------------


def _micro(delta: timedelta) -> int:
    return (delta.days * 86400 + delta.seconds) * 1_000_000 + delta.microseconds


def remux_window(
    segments: Sequence[Segment],
    start: datetime,
    end: datetime,
    out: BinaryIO,
    *,
    fragmented: bool = False,
    on_progress: Callable[[float], None] | None = None,
    on_start: Callable[[datetime], None] | None = None,
) -> RemuxResult:
    """Write one MP4 of the segments' video inside [start, end) to ``out`` by stream copy; see the module doc.
    ``on_progress(fraction)`` after each segment; ``on_start(actual_start)`` once the first keyframe is found."""
    if end <= start:
        raise RemuxError("bad_window", "the end is not after the start")
    ordered = sorted((s for s in segments if s.start < end and s.end > start), key=lambda s: s.start)
    if not ordered:
        raise RemuxError("no_frames", "no recording in the window")
    writer = HashingWriter(out)
    options = {"movflags": FRAGMENTED_FLAGS} if fragmented else {}
    state = _MuxState(start=start, end=end, on_start=on_start)
    hashes: list[str] = []
    output: Any = None
    try:
        with ThreadPoolExecutor(max_workers=2, thread_name_prefix="remux-read") as pool:
            sources = _prefetch(ordered, pool)
            try:
                for number, source in enumerate(sources, start=1):
                    if source.sha256 != source.segment.sha256:
                        raise RemuxError("source_changed", f"segment {source.segment.pk}")
                    if not state.done:
                        if output is None:
                            output = av.open(writer, "w", format="mp4", options=options, buffer_size=OUT_BUFFER)
                        _copy_segment(source, output, state)
                    hashes.append(source.sha256)
                    if on_progress is not None:
                        on_progress(number / len(ordered))
                    if state.done:
                        break
            finally:
                sources.close()  # type: ignore[attr-defined]
        if state.last_end_abs is None or output is None:
            raise RemuxError("no_frames", "no keyframe and frame after it in the window")
        output.close()
        output = None
    finally:
        if output is not None:
            with contextlib.suppress(Exception):  # the original error is the one that matters
                output.close()
        writer.stop()
    assert state.first_abs is not None and state.last_end_abs is not None
    return RemuxResult(
        actual_start=state.first_abs,
        actual_end=state.last_end_abs,
        source_sha256s=hashes,
        bytes_written=writer.bytes_written,
        sha256=writer.finish(),
        segments_used=state.used,
    )


@dataclass
class _MuxState:
    start: datetime
    end: datetime
    out_stream: Any = None
    out_tb: Fraction | None = None
    first_abs: datetime | None = None  # actual start: the first keyframe's time
    last_end_abs: datetime | None = None
    last_dts: int | None = None  # in out_tb
    done: bool = False
    used: list[int] = field(default_factory=list)
    on_start: Callable[[datetime], None] | None = None


def _open_source(source: _Source) -> Any:
    try:
        if source.data is not None:
            return av.open(io.BytesIO(source.data), "r", buffer_size=1 << 20)
        return av.open(source.segment.path, "r")
    except (av.error.FFmpegError, OSError) as exc:
        raise RemuxError("source_unreadable", f"segment {source.segment.pk}") from exc


def _copy_segment(source: _Source, output: Any, state: _MuxState) -> None:
    segment = source.segment
    container = _open_source(source)
    try:
        streams = container.streams.video
        if not streams:
            raise RemuxError("source_unreadable", f"segment {segment.pk}: no video stream")
        stream = streams[0]
        tb: Fraction = stream.time_base
        first_pts = stream.start_time if stream.start_time is not None else 0
        # Window bounds in this stream's own time base: [lo, hi) with packet pts in units of tb.
        lo = first_pts + _ceil_div(_micro(state.start - segment.start) * tb.denominator, 1_000_000 * tb.numerator)
        hi = first_pts + _floor_div(_micro(state.end - segment.start) * tb.denominator, 1_000_000 * tb.numerator)
        if state.out_stream is None:
            out_stream = output.add_stream_from_template(stream)
            out_stream.time_base = tb
            state.out_stream, state.out_tb = out_stream, tb
        out_stream = state.out_stream
        out_tb = state.out_tb
        assert out_tb is not None
        same_tb = tb == out_tb
        shift: int | None = None  # added to this segment's pts/dts (tb units) once the clip's origin is known
        bump = 0  # out_tb ticks added to keep dts increasing where files overlap
        floor = -(1 << 62)  # in the segment where the clip starts: frames shown before its keyframe are dropped
        used = False
        last_end_pts: int | None = None
        mux = output.mux
        for packet in container.demux(stream):
            pts, dts = packet.pts, packet.dts
            if pts is None or dts is None:
                continue
            if state.first_abs is None:
                if pts < lo or not packet.is_keyframe:
                    continue
                state.first_abs = segment.start + _to_timedelta(pts - first_pts, tb)
                floor = pts
                if state.on_start is not None:
                    state.on_start(state.first_abs)
            elif pts < floor:
                continue
            duration = packet.duration or 0
            if pts + duration > hi:
                state.done = True
                break
            if shift is None:
                origin = _round_div(_micro(segment.start - state.first_abs) * tb.denominator, 1_000_000 * tb.numerator)
                shift = origin - first_pts
                first_out = dts + shift if same_tb else _rescale(dts + shift, tb, out_tb)
                if state.last_dts is not None and first_out <= state.last_dts:
                    bump = state.last_dts + 1 - first_out
            if same_tb:
                out_pts, out_dts = pts + shift + bump, dts + shift + bump
            else:
                out_pts = _rescale(pts + shift, tb, out_tb) + bump
                out_dts = _rescale(dts + shift, tb, out_tb) + bump
                packet.time_base = out_tb
                packet.duration = _rescale(duration, tb, out_tb)
            if state.last_dts is not None and out_dts <= state.last_dts:
                continue  # never a non-increasing dts
            packet.pts, packet.dts = out_pts, out_dts
            state.last_dts = out_dts
            packet.stream = out_stream
            mux(packet)
            used = True
            if last_end_pts is None or pts + duration > last_end_pts:
                last_end_pts = pts + duration
        if used and last_end_pts is not None:
            state.used.append(segment.pk)
            end_abs = segment.start + _to_timedelta(last_end_pts - first_pts, tb)
            if state.last_end_abs is None or end_abs > state.last_end_abs:
                state.last_end_abs = end_abs
    except av.error.FFmpegError as exc:
        raise RemuxError("source_unreadable", f"segment {segment.pk}") from exc
    finally:
        container.close()
    if source.stat is not None:
        try:
            unchanged = _stat(segment.path) == source.stat
        except OSError:
            unchanged = False
        if not unchanged:
            raise RemuxError("source_changed", f"segment {segment.pk}")


def _to_timedelta(ticks: int, tb: Fraction) -> timedelta:
    return timedelta(microseconds=_round_div(ticks * tb.numerator * 1_000_000, tb.denominator))


def _rescale(value: int, src: Fraction, dst: Fraction) -> int:
    return _round_div(value * src.numerator * dst.denominator, src.denominator * dst.numerator)


def _round_div(a: int, b: int) -> int:
    return (2 * a + b) // (2 * b)


def _floor_div(a: int, b: int) -> int:
    return a // b


def _ceil_div(a: int, b: int) -> int:
    return -((-a) // b)


def write_file(segments: Sequence[Segment], start: datetime, end: datetime, path: Path, **kwargs: Any) -> RemuxResult:
    """remux_window into a file (created or truncated)."""
    with path.open("w+b") as handle:
        return remux_window(segments, start, end, handle, **kwargs)
