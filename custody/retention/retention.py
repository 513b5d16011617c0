"""Footage retention: destroy segments past their camera's retention, unless held; destroy early when storage fills.

For each camera, a live segment (``destroyed_at`` null) whose END is before ``now - camera.retention_days`` is
destroyed unless it is held. Held means it overlaps, on that camera, the window of

* an active legal hold (``LegalHold.released_at`` null), or
* an active preservation of a footage request (``custody.requests.models.Preservation.released_at`` null).

Destroying a segment deletes its file (a file already gone counts as destroyed, "missing", not as an error) and
marks the row: ``destroyed_at`` and ``destruction`` (the row stays, with its SHA-256, as the record of what existed).
Work is done in batches of ``BATCH_SIZE``; before each batch the holds are read again, so a hold set while the job
runs is honoured from the next batch on. A file that cannot be deleted (permissions, I/O) is counted as failed, its
row stays live and the next run tries again.

Each property whose run destroyed, kept (held) or failed anything gets one ``DestructionRecord`` per kind:
counts, per-camera details (code, retention_days, cutoff, counts) and ``hashes_digest``:

    hashes_digest = SHA-256( "\\n".join(sorted(s.sha256 for s in record.segments)) )   (hex, UTF-8, no final newline)

so an auditor can recompute it from the record's list of destroyed segments.

Resumable: a run killed mid-way leaves its record unfinished (``finished_at`` null); the next run of that property
and kind continues into the same record, skips rows already marked destroyed, and counts a file deleted before the
row was marked as destroyed-missing. Rerunning when nothing is due destroys nothing.

Disk pressure: after the normal pass, the free space of each footage location (the property's watched folders and
the folders its newest segments are in) is checked with ``free_space_check``. Below
``settings.CUSTODY_FOOTAGE_MIN_FREE_PERCENT`` the OLDEST unheld live segments on that file system are destroyed
(record kind DISK_PRESSURE) until the free space is above the threshold again, and a DISK_LOW alert is raised. Held
footage is never destroyed, also then: when only held footage is left, the alert is raised and the run stops.

Evidence packages (custody.evidence, files under CUSTODY_HOME/packages) are not segments and are never touched; a
segment path that points into the packages folder is refused (counted as failed).
"""

from __future__ import annotations

import fcntl
import hashlib
import os
import shutil
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from django.conf import settings
from django.db import transaction
from django.db.models import Count, F, Q, Sum
from django.utils import timezone

from custody.audit import gate
from custody.audit.events import Action
from custody.footage.models import Camera, Segment, WatchedFolder
from custody.properties.models import Property
from custody.requests.models import Alert, AlertKind, Preservation
from custody.retention.models import DestructionKind, DestructionRecord, LegalHold

BATCH_SIZE = 200
Progress = Callable[[str], None]


# --- report --------------------------------------------------------------------------------------------------


@dataclass
class CameraCounts:
    code: str
    retention_days: int
    cutoff: str  # ISO 8601 UTC; segments ending before it are due
    due: int = 0  # dry run: how many would be destroyed
    due_bytes: int = 0
    destroyed: int = 0  # includes `missing`
    missing: int = 0  # destroyed, but the file was already gone
    bytes: int = 0
    held: int = 0
    failed: int = 0

    def as_details(self) -> dict[str, Any]:
        return {
            "code": self.code, "retention_days": self.retention_days, "cutoff": self.cutoff,
            "destroyed": self.destroyed, "missing": self.missing, "bytes": self.bytes, "held": self.held,
            "failed": self.failed,
        }  # fmt: skip


@dataclass
class PropertyRun:
    code: str
    kind: str
    cameras: dict[str, CameraCounts] = field(default_factory=dict)
    record_id: str = ""

    @property
    def destroyed(self) -> int:
        return sum(c.destroyed for c in self.cameras.values())

    @property
    def bytes(self) -> int:
        return sum(c.bytes for c in self.cameras.values())

    @property
    def held(self) -> int:
        return sum(c.held for c in self.cameras.values())

    @property
    def failed(self) -> int:
        return sum(c.failed for c in self.cameras.values())

    @property
    def due(self) -> int:
        return sum(c.due for c in self.cameras.values())


@dataclass
class DiskCheck:
    code: str
    location: str
    free_percent: float
    threshold: float
    after_percent: float
    only_held_left: bool = False
    alert_id: int | None = None


@dataclass
class RetentionReport:
    dry_run: bool
    runs: list[PropertyRun] = field(default_factory=list)
    disk: list[DiskCheck] = field(default_factory=list)
    busy: list[str] = field(default_factory=list)  # codes of properties another run was already working on

    @property
    def destroyed(self) -> int:
        return sum(r.destroyed for r in self.runs)

    @property
    def held(self) -> int:
        return sum(r.held for r in self.runs)

    @property
    def failed(self) -> int:
        return sum(r.failed for r in self.runs)

    @property
    def bytes(self) -> int:
        return sum(r.bytes for r in self.runs)

    @property
    def due(self) -> int:
        return sum(r.due for r in self.runs)


# --- holds ---------------------------------------------------------------------------------------------------


def held_windows(camera: Camera) -> list[tuple[datetime, datetime]]:
    """The windows in which this camera's footage is held: active legal holds and active preservations."""
    windows = list(
        LegalHold.objects.filter(cameras=camera, released_at__isnull=True).values_list("window_start", "window_end")
    )
    windows += list(
        Preservation.objects.filter(
            property_id=camera.property_id, cameras=camera, released_at__isnull=True
        ).values_list("window_start", "window_end")
    )
    return windows


def held_q(windows: list[tuple[datetime, datetime]]) -> Q:
    """Segments overlapping any of the windows (an empty Q matches nothing)."""
    query = Q(pk__in=[])
    for start, end in windows:
        query |= Q(start__lt=end, end__gt=start)
    return query


def is_held(segment: Segment, windows: list[tuple[datetime, datetime]]) -> bool:
    return any(segment.start < end and segment.end > start for start, end in windows)


def _resolved(path: str) -> str:
    try:
        return str(Path(path).resolve())
    except (OSError, RuntimeError):
        return path


def held_elsewhere(segment: Segment) -> bool:
    """Whether another live segment, of ANY property, with the same file (resolved path) or the same content
    (SHA-256) is held: then this segment's file is not deleted either (it counts as held)."""
    same = Q(path__in={segment.path, _resolved(segment.path)})
    if segment.sha256:
        same |= Q(sha256=segment.sha256)
    twins = Segment.objects.filter(same, destroyed_at__isnull=True).exclude(pk=segment.pk).select_related("camera")
    windows: dict[int, list[tuple[datetime, datetime]]] = {}
    for twin in twins:
        if twin.camera_id not in windows:
            windows[twin.camera_id] = held_windows(twin.camera)
        if is_held(twin, windows[twin.camera_id]):
            return True
    return False


# --- disk ----------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class FreeSpace:
    total: int
    free: int

    @property
    def percent(self) -> float:
        return 100.0 * self.free / self.total if self.total else 100.0


def free_space_check(path: str | Path) -> FreeSpace:
    """Total and free bytes of the file system that holds ``path`` (tests replace this function)."""
    usage = shutil.disk_usage(path)
    return FreeSpace(total=usage.total, free=usage.free)


def footage_locations(prop: Property) -> list[Path]:
    """Where the property's footage lies: its watched folders and the folders of each camera's newest live
    segment; one path per file system."""
    candidates = [Path(p) for p in WatchedFolder.objects.filter(property=prop).values_list("path", flat=True)]
    for camera in Camera.objects.filter(property=prop):
        newest = (
            Segment.objects.filter(camera=camera, destroyed_at__isnull=True).order_by("-start")
            .values_list("path", flat=True).first()
        )  # fmt: skip
        if newest:
            candidates.append(Path(newest).parent)
    seen: dict[int, Path] = {}
    for path in candidates:
        try:
            device = path.stat().st_dev
        except OSError:
            continue
        seen.setdefault(device, path)
    return list(seen.values())


def _packages_dir() -> Path:
    return (Path(settings.CUSTODY_HOME) / "packages").resolve()


def _is_protected(path: str) -> bool:
    try:
        Path(path).resolve().relative_to(_packages_dir())
    except ValueError:
        return False
    return True


# --- destruction ---------------------------------------------------------------------------------------------


def hashes_digest(hashes: list[str]) -> str:
    """SHA-256 (hex) of the sorted hex SHA-256s joined with "\\n": what DestructionRecord.hashes_digest holds."""
    return hashlib.sha256("\n".join(sorted(hashes)).encode("ascii")).hexdigest()


class _Destroyer:
    """Destroys segments of one property for one kind, writing into one DestructionRecord (made on first need)."""

    def __init__(self, prop: Property, kind: str, run: PropertyRun, *, acting_user: Any, now: datetime) -> None:
        self.prop = prop
        self.kind = kind
        self.run = run
        self.acting_user = acting_user
        self.now = now
        self.record: DestructionRecord | None = None

    def ensure_record(self) -> DestructionRecord:
        if self.record is None:
            # An unfinished record of the same kind is a run that was killed: continue into it.
            self.record = (
                DestructionRecord.objects.filter(property=self.prop, kind=self.kind, finished_at__isnull=True)
                .order_by("started_at").first()
            )  # fmt: skip
            if self.record is None:
                self.record = DestructionRecord.objects.create(
                    property=self.prop, kind=self.kind, started_at=self.now,
                    run_by=self.acting_user if getattr(self.acting_user, "is_authenticated", False) else None,
                )  # fmt: skip
            self.run.record_id = str(self.record.pk)
        return self.record

    def destroy(self, segments: list[Segment], counts: dict[int, CameraCounts]) -> int:
        """Destroy the segments that are still unheld, camera by camera; returns how many were destroyed."""
        record = self.ensure_record()
        by_camera: dict[int, list[Segment]] = {}
        for segment in segments:
            by_camera.setdefault(segment.camera_id, []).append(segment)
        return sum(
            self._destroy_for_camera(record, camera_id, rows, counts[camera_id])
            for camera_id, rows in sorted(by_camera.items())
        )

    def _destroy_for_camera(
        self, record: DestructionRecord, camera_id: int, segments: list[Segment], camera: CameraCounts
    ) -> int:
        """In one transaction holding the camera row's lock (the lock set_hold and a request's preservation take):
        read the holds again, check each segment just before deleting its file, then mark the deleted ones."""
        done: list[Segment] = []
        failed = 0
        with transaction.atomic():
            locked = Camera.objects.select_for_update().get(pk=camera_id)
            windows = held_windows(locked)
            for segment in segments:
                if is_held(segment, windows) or held_elsewhere(segment):
                    camera.held += 1
                    continue
                if _is_protected(segment.path):
                    camera.failed += 1
                    failed += 1
                    continue
                try:
                    Path(segment.path).unlink()
                except FileNotFoundError:
                    camera.missing += 1
                except OSError:
                    camera.failed += 1
                    failed += 1
                    continue
                camera.destroyed += 1
                camera.bytes += segment.size
                done.append(segment)
            Segment.objects.filter(pk__in=[s.pk for s in done], destroyed_at__isnull=True).update(
                destroyed_at=self.now, destruction=record
            )
            DestructionRecord.objects.filter(pk=record.pk).update(
                segments_destroyed=F("segments_destroyed") + len(done),
                bytes_destroyed=F("bytes_destroyed") + sum(s.size for s in done),
                segments_failed=F("segments_failed") + failed,
            )
        return len(done)

    def finish(self) -> None:
        """Close the record: counts and per-camera details from the rows it marked (a resumed run's too),
        the digest, and one FOOTAGE_DESTROYED audit entry per camera that lost footage or failed."""
        if self.record is None:
            if not any(c.held for c in self.run.cameras.values()):
                return
            self.ensure_record()
        assert self.record is not None
        with transaction.atomic():
            record = DestructionRecord.objects.select_for_update().get(pk=self.record.pk)
            marked = {
                row["camera__code"]: row
                for row in record.segments.values("camera__code").annotate(n=Count("pk"), size=Sum("size"))
            }
            rows = []
            for code, camera in sorted(self.run.cameras.items()):
                row = camera.as_details()
                row["destroyed"] = marked.get(code, {}).get("n", 0)
                row["bytes"] = marked.get(code, {}).get("size", 0) or 0
                if any(row[key] for key in ("destroyed", "held", "failed")):
                    rows.append(row)
            record.details = {"cameras": rows}
            record.segments_destroyed = sum(r["destroyed"] for r in rows)
            record.bytes_destroyed = sum(r["bytes"] for r in rows)
            record.segments_held = sum(c.held for c in self.run.cameras.values())
            record.hashes_digest = hashes_digest(list(record.segments.values_list("sha256", flat=True)))
            record.finished_at = timezone.now()
            record.save(
                update_fields=[
                    "details",
                    "segments_destroyed",
                    "bytes_destroyed",
                    "segments_held",
                    "hashes_digest",
                    "finished_at",
                ]
            )
            for code, camera in sorted(self.run.cameras.items()):
                if camera.destroyed or camera.failed:
                    gate.record(
                        Action.FOOTAGE_DESTROYED, actor=self.acting_user, prop=self.prop, obj=record,
                        details={
                            "record": str(record.pk), "kind": self.kind, "camera": code,
                            "destroyed": camera.destroyed, "missing": camera.missing, "bytes": camera.bytes,
                            "failed": camera.failed,
                        },
                    )  # fmt: skip
        self.record = record


def _candidates(camera: Camera, cutoff: datetime) -> Any:
    return Segment.objects.filter(camera=camera, destroyed_at__isnull=True, end__lt=cutoff)


def _counts_for(camera: Camera, now: datetime) -> tuple[CameraCounts, datetime]:
    cutoff = now - timedelta(days=camera.retention_days)
    return CameraCounts(camera.code, camera.retention_days, iso_utc(cutoff)), cutoff


def _retention_pass(
    prop: Property, *, now: datetime, acting_user: Any, dry_run: bool, progress: Progress | None
) -> PropertyRun:
    run = PropertyRun(prop.code, DestructionKind.FOOTAGE_RETENTION)
    destroyer = _Destroyer(prop, DestructionKind.FOOTAGE_RETENTION, run, acting_user=acting_user, now=now)
    for camera in Camera.objects.filter(property=prop).order_by("code"):
        counts, cutoff = _counts_for(camera, now)
        run.cameras[camera.code] = counts
        by_id = {camera.pk: counts}
        windows = held_windows(camera)
        counts.held = _candidates(camera, cutoff).filter(held_q(windows)).count()
        if dry_run:
            due = _candidates(camera, cutoff).exclude(held_q(windows))
            counts.due = due.count()
            counts.due_bytes = sum(due.values_list("size", flat=True))
            _say(progress, f"{prop.code} {camera.code}: {counts.due} due, {counts.held} held (dry run)")
            continue
        last_pk = 0
        while True:
            windows = held_windows(camera)  # read again: a hold set meanwhile counts from this batch on
            batch = list(
                _candidates(camera, cutoff).exclude(held_q(windows)).filter(pk__gt=last_pk).order_by("pk")
                .only("pk", "camera_id", "path", "size", "sha256", "start", "end")[:BATCH_SIZE]
            )  # fmt: skip
            if not batch:
                break
            last_pk = batch[-1].pk
            destroyer.destroy(batch, by_id)
            _say(progress, f"{prop.code} {camera.code}: {counts.destroyed} destroyed so far")
        _say(
            progress,
            f"{prop.code} {camera.code}: destroyed {counts.destroyed} ({counts.missing} already missing, "
            f"{counts.bytes} bytes), held {counts.held}, failed {counts.failed}",
        )
    if not dry_run:
        destroyer.finish()
    return run


def _disk_pass(
    prop: Property, *, now: datetime, acting_user: Any, dry_run: bool, progress: Progress | None
) -> tuple[PropertyRun | None, list[DiskCheck]]:
    threshold = float(getattr(settings, "CUSTODY_FOOTAGE_MIN_FREE_PERCENT", 5))
    checks: list[DiskCheck] = []
    run = PropertyRun(prop.code, DestructionKind.DISK_PRESSURE)
    destroyer = _Destroyer(prop, DestructionKind.DISK_PRESSURE, run, acting_user=acting_user, now=now)
    cameras = {c.pk: c for c in Camera.objects.filter(property=prop)}
    counts: dict[int, CameraCounts] = {}
    for location in footage_locations(prop):
        space = free_space_check(location)
        if space.percent >= threshold:
            continue
        check = DiskCheck(prop.code, str(location), space.percent, threshold, space.percent)
        checks.append(check)
        _say(progress, f"{prop.code}: {location} has {space.percent:.1f}% free, below {threshold:g}%")
        if dry_run:
            continue
        try:
            device = location.stat().st_dev
        except OSError:
            continue
        windows = {pk: held_windows(camera) for pk, camera in cameras.items()}
        last: tuple[datetime, int] | None = None
        while space.percent < threshold:
            rows = Segment.objects.filter(camera__property=prop, destroyed_at__isnull=True)
            for pk, camera_windows in windows.items():
                if camera_windows:
                    rows = rows.exclude(Q(camera_id=pk) & held_q(camera_windows))
            if last is not None:
                rows = rows.filter(Q(start__gt=last[0]) | Q(start=last[0], pk__gt=last[1]))
            batch = list(
                rows.order_by("start", "pk").only("pk", "camera_id", "path", "size", "sha256", "start", "end")[
                    :BATCH_SIZE
                ]
            )
            if not batch:
                check.only_held_left = True
                break
            last = (batch[-1].start, batch[-1].pk)
            here = [s for s in batch if _on_device(s.path, device)]
            for segment in here:
                if segment.camera_id not in counts:
                    camera = cameras[segment.camera_id]
                    counts[segment.camera_id] = CameraCounts(camera.code, camera.retention_days, iso_utc(now))
                    run.cameras[camera.code] = counts[segment.camera_id]
            # One segment at a time, checking the space after each, so no more is destroyed than needed.
            for segment in here:
                destroyer.destroy([segment], counts)
                space = free_space_check(location)
                if space.percent >= threshold:
                    break
            windows = {pk: held_windows(camera) for pk, camera in cameras.items()}
        check.after_percent = space.percent
        _raise_disk_alert(prop, check, acting_user=acting_user)
        _say(
            progress,
            f"{prop.code}: storage pressure: destroyed {run.destroyed}, now {space.percent:.1f}% free"
            + (" (only held footage is left)" if check.only_held_left else ""),
        )
    if dry_run or not checks:
        return None, checks
    destroyer.finish()
    return (run if destroyer.record is not None else None), checks


def _on_device(path: str, device: int) -> bool:
    try:
        return Path(path).stat().st_dev == device
    except FileNotFoundError:
        return True  # already gone: marking it destroyed costs nothing and keeps the index true
    except OSError:
        return False


@transaction.atomic
def _raise_disk_alert(prop: Property, check: DiskCheck, *, acting_user: Any) -> None:
    alert = Alert.objects.create(property=prop, kind=AlertKind.DISK_LOW)
    check.alert_id = alert.pk
    gate.record(
        Action.ALERT_RAISED, actor=acting_user, prop=prop, obj=alert,
        details={
            "kind": alert.kind, "free_percent": int(check.free_percent), "after_percent": int(check.after_percent),
            "threshold": int(check.threshold), "only_held_left": check.only_held_left,
        },
    )  # fmt: skip


@contextmanager
def property_lock(prop: Property) -> Iterator[bool]:
    """One retention run per property at a time: an exclusive, non-blocking lock on
    CUSTODY_HOME/cache/retention/<property id>.lock. Yields False at once when another run (the daily job, "run
    now", the command) holds it. The operating system drops the lock when its process ends, so a killed run never
    blocks the next one, which then continues into the killed run's unfinished record."""
    folder = Path(settings.CUSTODY_HOME) / "cache" / "retention"
    folder.mkdir(parents=True, exist_ok=True, mode=0o700)
    descriptor = os.open(folder / f"{prop.pk}.lock", os.O_RDWR | os.O_CREAT, 0o600)
    try:
        try:
            fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            yield False
            return
        try:
            yield True
        finally:
            fcntl.flock(descriptor, fcntl.LOCK_UN)
    finally:
        os.close(descriptor)


def run_footage_retention(
    prop: Property | None = None,
    *,
    now: datetime | None = None,
    acting_user: Any = None,
    dry_run: bool = False,
    progress: Progress | None = None,
) -> RetentionReport:
    """Destroy expired, unheld footage of one property (or all); see the module docstring. Dry run changes nothing."""
    now = now or timezone.now()
    report = RetentionReport(dry_run=dry_run)
    properties = [prop] if prop is not None else list(Property.objects.order_by("code"))
    for each in properties:
        if dry_run:
            _run_property(each, report, now=now, acting_user=acting_user, progress=progress)
            continue
        with property_lock(each) as mine:
            if not mine:
                report.busy.append(each.code)
                _say(progress, f"{each.code}: another retention run is in progress; this one does nothing")
                continue
            _run_property(each, report, now=now, acting_user=acting_user, progress=progress)
    return report


def _run_property(
    each: Property, report: RetentionReport, *, now: datetime, acting_user: Any, progress: Progress | None
) -> None:
    dry_run = report.dry_run
    run = _retention_pass(each, now=now, acting_user=acting_user, dry_run=dry_run, progress=progress)
    report.runs.append(run)
    pressure, checks = _disk_pass(each, now=now, acting_user=acting_user, dry_run=dry_run, progress=progress)
    report.disk += checks
    if pressure is not None:
        report.runs.append(pressure)
    if dry_run:
        return
    with transaction.atomic():
        gate.record(
            Action.RETENTION_RUN, actor=acting_user, prop=each, object_type="property", object_id=each.pk,
            details={
                "records": [r.record_id for r in (run, pressure) if r is not None and r.record_id],
                "destroyed": run.destroyed + (pressure.destroyed if pressure else 0),
                "bytes": run.bytes + (pressure.bytes if pressure else 0),
                "held": run.held, "failed": run.failed + (pressure.failed if pressure else 0),
                "disk_low": bool(checks),
            },
        )  # fmt: skip


def iso_utc(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _say(progress: Progress | None, line: str) -> None:
    if progress is not None:
        progress(line)
