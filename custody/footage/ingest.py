"""Segment ingest: index NVR recordings where they lie (never moved or changed), quarantine what cannot be read.

A run walks the given paths, matches each file against a layout (Frigate or a strftime-style pattern), reads the
file once to hash it (SHA-256, in chunks) and asks PyAV for the real duration, codec and resolution. Files already
indexed (same path, size and modification time, or the same content for the camera) are skipped, so re-running adds
nothing. See docs/footage.md.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import re
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import av
from django.db import transaction

from custody.audit import log
from custody.audit.events import Action
from custody.footage.models import Camera, QuarantinedFile, QuarantineReason, RecordingGap, Segment
from custody.properties.models import Property

FRIGATE_PATTERN = "%Y-%m-%d/%H/{camera}/%M.%S.mp4"
CHUNK = 1 << 20
# A name-derived start and the container's own creation time further apart than this are noted on the segment.
MISMATCH_SECONDS = 2.0
RETRY_REASONS = {QuarantineReason.UNKNOWN_CAMERA, QuarantineReason.NO_TIMESTAMP}
_DIRECTIVES = {
    "Y": r"(?P<Y>\d{4})",
    "m": r"(?P<m>\d{2})",
    "d": r"(?P<d>\d{2})",
    "H": r"(?P<H>\d{2})",
    "M": r"(?P<M>\d{2})",
    "S": r"(?P<S>\d{2})",
}
_MP4_BRANDS = {b"ftyp", b"moov", b"mdat", b"free", b"skip", b"wide", b"moof", b"styp", b"sidx", b"uuid", b"meta"}


class PatternError(ValueError):
    pass


@dataclass(frozen=True)
class Layout:
    """A file layout: which part of a path names the camera and which parts give the start time."""

    pattern: str
    regex: re.Pattern[str]

    @classmethod
    def compile(cls, pattern: str) -> Layout:
        parts: list[str] = []
        seen: set[str] = set()
        i = 0
        while i < len(pattern):
            char = pattern[i]
            if char == "%":
                if i + 1 >= len(pattern):
                    raise PatternError("the pattern ends with a lone '%'")
                code = pattern[i + 1]
                if code == "%":
                    parts.append("%")
                elif code in _DIRECTIVES:
                    if code in seen:
                        raise PatternError(f"%{code} appears twice in the pattern")
                    seen.add(code)
                    parts.append(_DIRECTIVES[code])
                else:
                    raise PatternError(f"%{code} is not supported; use %Y %m %d %H %M %S, %% for a literal %")
                i += 2
            elif pattern.startswith("{camera}", i):
                if "camera" in seen:
                    raise PatternError("{camera} appears twice in the pattern")
                seen.add("camera")
                parts.append(r"(?P<camera>[^/]+)")
                i += len("{camera}")
            elif char == "*":
                parts.append(r"[^/]*")
                i += 1
            else:
                parts.append(re.escape(char))
                i += 1
        missing = [f"%{c}" for c in "YmdH" if c not in seen]
        if missing:
            raise PatternError(f"the pattern needs {', '.join(missing)} to give a start time")
        return cls(pattern, re.compile(r"(?:^|/)" + "".join(parts) + r"$"))

    def match(self, path: Path, tz: ZoneInfo) -> tuple[str | None, datetime] | None:
        """The camera code (None where the pattern has no {camera}) and the UTC start, or None if no match."""
        found = self.regex.search(path.as_posix())
        if found is None:
            return None
        groups = found.groupdict()
        try:
            local = datetime(
                int(groups["Y"]),
                int(groups["m"]),
                int(groups["d"]),
                int(groups["H"]),
                int(groups.get("M") or 0),
                int(groups.get("S") or 0),
                tzinfo=tz,
            )
        except ValueError:
            return None
        return groups.get("camera"), local.astimezone(UTC)


@dataclass
class FileFacts:
    """What one read of a file tells: its hash and, for a readable video, the stream metadata."""

    size: int
    mtime_ns: int
    sha256: str = ""
    reason: QuarantineReason | None = None
    detail: str = ""
    duration: float = 0.0
    codec: str = ""
    width: int = 0
    height: int = 0
    created: datetime | None = None


def _mp4_truncation(path: Path, size: int) -> str:
    """For MP4/MOV files: a top-level box that runs past the end of the file means the file was cut short."""
    offset = 0
    with path.open("rb") as handle:
        while offset + 8 <= size:
            handle.seek(offset)
            header = handle.read(16)
            box_size = int.from_bytes(header[:4], "big")
            kind = header[4:8]
            if box_size == 1 and len(header) >= 16:
                box_size = int.from_bytes(header[8:16], "big")
            elif box_size == 0:
                return ""  # runs to the end of the file by definition
            if box_size < 8:
                return f"box {kind!r} at byte {offset} has an impossible size"
            if offset + box_size > size:
                return f"the {kind.decode('latin-1')} box needs {offset + box_size} bytes, the file has {size}"
            offset += box_size
    return "" if offset == size else f"{size - offset} stray bytes at the end"


def _size_and_mtime(path: Path) -> tuple[int, int] | None:
    try:
        stat = path.stat()
    except OSError:
        return None  # gone or unreadable since the walk: compared as changed
    return stat.st_size, stat.st_mtime_ns


def inspect_file(path: Path) -> FileFacts:
    """Hash the file in one pass and read its metadata with PyAV; any failure becomes a quarantine reason."""
    try:
        return _inspect_file(path)
    except Exception as exc:  # one odd file must not stop the run; it is quarantined instead
        return FileFacts(
            size=0, mtime_ns=0, reason=QuarantineReason.CORRUPT, detail=f"{type(exc).__name__}: {exc}"[:300]
        )


def _inspect_file(path: Path) -> FileFacts:
    try:
        stat = path.stat()
        facts = FileFacts(size=stat.st_size, mtime_ns=stat.st_mtime_ns)
        if stat.st_size == 0:
            facts.reason, facts.detail = QuarantineReason.EMPTY, "the file is empty (0 bytes)"
            return facts
        digest = hashlib.sha256()
        buffer = bytearray(CHUNK)
        view = memoryview(buffer)
        head = b""
        with path.open("rb", buffering=0) as handle:
            while count := handle.readinto(buffer):
                if not head:
                    head = bytes(view[:12])
                digest.update(view[:count])
        facts.sha256 = digest.hexdigest()
    except OSError as exc:
        facts = FileFacts(size=0, mtime_ns=0, reason=QuarantineReason.UNREADABLE)
        facts.detail = f"cannot read the file: {exc.strerror or exc}"
        return facts
    is_mp4 = head[4:8] in _MP4_BRANDS
    if is_mp4:
        problem = _mp4_truncation(path, facts.size)
        if problem:
            facts.reason, facts.detail = QuarantineReason.TRUNCATED, problem[:300]
            return facts
    try:
        with av.open(str(path), metadata_errors="ignore") as container:
            videos = container.streams.video
            if not videos:
                facts.reason, facts.detail = QuarantineReason.NOT_VIDEO, "the file has no video stream"
                return facts
            stream = videos[0]
            if container.duration is not None:
                facts.duration = container.duration / av.time_base
            elif stream.duration is not None and stream.time_base is not None:
                facts.duration = float(stream.duration * stream.time_base)
            facts.codec = stream.codec_context.name or ""
            facts.width = stream.codec_context.width or 0
            facts.height = stream.codec_context.height or 0
            created = container.metadata.get("creation_time") or stream.metadata.get("creation_time")
            if created:
                with contextlib.suppress(ValueError):  # an unparsable stamp is ignored, not fatal
                    facts.created = datetime.fromisoformat(created.replace("Z", "+00:00")).astimezone(UTC)
    except av.error.FFmpegError as exc:
        reason = QuarantineReason.CORRUPT if is_mp4 else QuarantineReason.NOT_VIDEO
        facts.reason, facts.detail = reason, f"PyAV cannot open it: {exc.strerror or exc}"[:300]
        return facts
    if facts.duration <= 0 or not facts.width or not facts.height:
        facts.reason, facts.detail = QuarantineReason.CORRUPT, "no duration or picture size in the file"
    return facts


@dataclass
class IngestResult:
    files: int = 0
    indexed: int = 0
    skipped: int = 0
    quarantined: int = 0
    changed: list[str] = field(default_factory=list)
    gaps: list[RecordingGap] = field(default_factory=list)
    quarantine: list[QuarantinedFile] = field(default_factory=list)

    @property
    def nothing_readable(self) -> bool:
        return self.indexed + self.skipped == 0


def find_files(paths: Iterable[Path]) -> list[Path]:
    """The files under ``paths``, each by its resolved absolute path (no "..", no symbolic link), so one file has
    one spelling: Segment.path and QuarantinedFile.path are unique on it, whatever path it was reached by."""
    found: list[Path] = []
    for root in paths:
        if root.is_file():
            found.append(root.resolve())
            continue
        for folder, dirs, names in os.walk(root.resolve()):
            dirs[:] = sorted(d for d in dirs if not d.startswith("."))
            found.extend((Path(folder) / name).resolve() for name in sorted(names) if not name.startswith("."))
    return list(dict.fromkeys(found))


@dataclass
class _Candidate:
    path: Path
    camera: Camera | None
    start: datetime | None
    reason: QuarantineReason | None = None
    detail: str = ""


def ingest(
    paths: list[Path],
    *,
    prop: Property,
    layout: Layout,
    camera_code: str | None = None,
    tz: ZoneInfo | None = None,
    min_gap_seconds: float = 2.0,
    jobs: int = 4,
    progress: Callable[[int, int], None] | None = None,
) -> IngestResult:
    """Index the files under paths for the property's cameras; write everything and one audit entry at the end."""
    tz = tz or ZoneInfo("UTC")
    cameras = {c.code: c for c in Camera.objects.filter(property=prop)}
    files = find_files(paths)
    result = IngestResult(files=len(files))
    known = {p: (s, m, c) for p, s, m, c in Segment.objects.values_list("path", "size", "mtime_ns", "camera_id")}
    touched: set[int] = set()
    quarantined = {q.path: q for q in QuarantinedFile.objects.all()}

    to_read: list[_Candidate] = []
    for path in files:
        key = str(path)
        if key in known:
            size, mtime_ns, camera_id = known[key]
            touched.add(camera_id)
            if (size, mtime_ns) != _size_and_mtime(path):
                result.changed.append(key)
            result.skipped += 1
            continue
        old = quarantined.get(key)
        unchanged = old is not None and (old.size, old.mtime_ns) == _size_and_mtime(path)
        if old is not None and unchanged and old.reason_code not in RETRY_REASONS:
            result.skipped += 1
            continue
        matched = layout.match(path, tz)
        if matched is None:
            to_read.append(
                _Candidate(
                    path,
                    None,
                    None,
                    QuarantineReason.NO_TIMESTAMP,
                    f"the path does not match the layout {layout.pattern}",
                )
            )
            continue
        code, start = matched
        code = camera_code or code
        camera = cameras.get(code or "")
        if camera is None:
            detail = f"no camera {code!r} at property {prop.code}" if code else "no camera given (--camera)"
            to_read.append(_Candidate(path, None, start, QuarantineReason.UNKNOWN_CAMERA, detail[:300]))
            continue
        to_read.append(_Candidate(path, camera, start))

    done = result.skipped
    if progress:
        progress(done, len(files))
    with ThreadPoolExecutor(max_workers=max(1, jobs)) as pool:
        facts_list = []
        for facts in pool.map(lambda c: inspect_file(c.path), to_read):
            facts_list.append(facts)
            done += 1
            if progress:
                progress(done, len(files))

    seen_sha = set(Segment.objects.filter(camera__property=prop).values_list("camera_id", "sha256"))
    seen_start = set(Segment.objects.filter(camera__property=prop).values_list("camera_id", "start"))
    new_segments: list[Segment] = []
    for candidate, facts in zip(to_read, facts_list, strict=True):
        reason, detail = candidate.reason or facts.reason, candidate.detail or facts.detail
        if reason is None:
            assert candidate.camera is not None and candidate.start is not None
            camera_id = candidate.camera.pk
            if (camera_id, facts.sha256) in seen_sha:
                result.skipped += 1  # the same recording under another path
                continue
            if (camera_id, candidate.start) in seen_start:
                reason = QuarantineReason.DUPLICATE_START
                detail = f"camera {candidate.camera.code} already has a segment starting {candidate.start.isoformat()}"
        if reason is not None:
            result.quarantine.append(
                QuarantinedFile(
                    property=prop,
                    path=str(candidate.path),
                    reason_code=reason,
                    reason=detail[:300],
                    size=facts.size,
                    mtime_ns=facts.mtime_ns,
                    sha256=facts.sha256,
                )
            )
            continue
        assert candidate.camera is not None and candidate.start is not None
        note = ""
        if facts.created is not None:
            off = (facts.created - candidate.start).total_seconds()
            if abs(off) > MISMATCH_SECONDS:
                note = f"container creation_time {facts.created.isoformat()} differs from the name by {off:+.1f} s"
        seen_sha.add((candidate.camera.pk, facts.sha256))
        seen_start.add((candidate.camera.pk, candidate.start))
        new_segments.append(
            Segment(
                camera=candidate.camera,
                start=candidate.start,
                end=candidate.start + timedelta(seconds=facts.duration),
                duration=facts.duration,
                path=str(candidate.path),
                size=facts.size,
                mtime_ns=facts.mtime_ns,
                codec=facts.codec,
                width=facts.width,
                height=facts.height,
                sha256=facts.sha256,
                note=note,
            )
        )

    result.indexed = len(new_segments)
    result.quarantined = len(result.quarantine)
    with transaction.atomic():
        Segment.objects.bulk_create(new_segments, batch_size=500)
        # Files indexed now, or quarantined again, replace their old quarantine record.
        replaced = [s.path for s in new_segments if s.path in quarantined]
        replaced += [q.path for q in result.quarantine if q.path in quarantined]
        for batch in range(0, len(replaced), 500):
            QuarantinedFile.objects.filter(path__in=replaced[batch : batch + 500]).delete()
        QuarantinedFile.objects.bulk_create(result.quarantine, batch_size=500)
        touched.update(c.camera.pk for c in to_read if c.camera is not None)
        for camera in Camera.objects.filter(pk__in=touched).order_by("code"):
            result.gaps.extend(Segment.objects.gaps(camera, min_gap_seconds=min_gap_seconds))
        log.append(
            Action.FOOTAGE_INGESTED,
            actor_id=None,
            property_id=prop.pk,
            object_type="property",
            object_id=str(prop.pk),
            details={
                "files": result.files,
                "indexed": result.indexed,
                "skipped": result.skipped,
                "quarantined": result.quarantined,
                "changed": len(result.changed),
                "gaps": len(result.gaps),
                "cameras": sorted(touched),
            },
        )
    return result
