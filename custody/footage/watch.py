"""Watch mode: the worker indexes each enabled watched folder every `every_minutes` (see docs/footage.md).

``scan_watched_folders`` is a periodic job (custody.core.worker.PERIODIC_JOBS, every minute); it only scans the
folders that are due. Each folder is claimed with a conditional UPDATE of its last_scan_at before it is scanned, so
two workers never index the same folder at once. A scan's counts (or an error code: missing_folder, not_a_folder,
bad_pattern, bad_timezone, protected_folder, failed) are kept in last_result and shown on the watched folders page;
one folder's trouble never stops the others. protected_folder: the folder overlaps CUSTODY_HOME's data folders or
an older watched folder of another property (saved before the form refused such folders); it is not indexed.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from django.conf import settings
from django.db.models import Q
from django.utils import timezone
from django_tasks import task

from custody.footage import ingest
from custody.footage.models import IngestLayout, WatchedFolder

logger = logging.getLogger("custody.footage.watch")

ERROR_MISSING = "missing_folder"
ERROR_NOT_A_FOLDER = "not_a_folder"
ERROR_PATTERN = "bad_pattern"
ERROR_TIMEZONE = "bad_timezone"
ERROR_FAILED = "failed"
ERROR_PROTECTED = "protected_folder"

# CUSTODY_HOME's own data folders (keys, uploads, evidence packages, ...): never a watched folder, nor inside one.
HOME_DATA_FOLDERS = ("keys", "media", "packages", "cache", "footage")


def data_folders() -> list[Path]:
    home = Path(settings.CUSTODY_HOME).resolve()
    folders = [home / name for name in HOME_DATA_FOLDERS]
    media = getattr(settings, "MEDIA_ROOT", "")
    if media:
        folders.append(Path(media).resolve())
    return folders


def _within(path: Path, other: Path) -> bool:
    """path is other or lies inside it (both resolved)."""
    return path == other or other in path.parents


def home_conflict(path: Path) -> Path | None:
    """The data folder of CUSTODY_HOME that the resolved ``path`` is, lies in or contains (CUSTODY_HOME itself
    when path is it or one of its parents); None when it is clear of them. CUSTODY_HOME/nvr, say, is fine."""
    home = Path(settings.CUSTODY_HOME).resolve()
    if _within(home, path):
        return home
    for folder in data_folders():
        if _within(path, folder) or _within(folder, path):
            return folder
    return None


def overlapping_folder(path: Path, *, exclude_pk: int | None = None) -> WatchedFolder | None:
    """A watched folder of ANY property that is the same as the resolved ``path``, lies inside it or contains it:
    one file must belong to one folder only, or another property could index (and later destroy) it."""
    folders = WatchedFolder.objects.select_related("property").order_by("pk")
    if exclude_pk is not None:
        folders = folders.exclude(pk=exclude_pk)
    for folder in folders:
        other = Path(folder.path).resolve()
        if _within(path, other) or _within(other, path):
            return folder
    return None


@dataclass(frozen=True)
class ScanResult:
    folder_id: int
    path: str
    result: dict[str, Any]

    @property
    def ok(self) -> bool:
        return "error" not in self.result


def due_folders(now: datetime) -> list[WatchedFolder]:
    # A folder's own interval decides; a scan never comes sooner than a minute after the last one.
    folders = WatchedFolder.objects.filter(enabled=True).select_related("property", "camera").order_by("pk")
    due = folders.filter(Q(last_scan_at__isnull=True) | Q(last_scan_at__lte=now - timedelta(minutes=1)))
    return [f for f in due if f.last_scan_at is None or f.last_scan_at + _every(f) <= now]


def _every(folder: WatchedFolder) -> timedelta:
    return timedelta(minutes=max(1, folder.every_minutes))


def _claim(folder: WatchedFolder, now: datetime) -> bool:
    """Take the folder's slot: only the worker whose UPDATE still sees the old last_scan_at scans it."""
    claimed = WatchedFolder.objects.filter(pk=folder.pk, last_scan_at=folder.last_scan_at)
    if folder.last_scan_at is None:
        claimed = WatchedFolder.objects.filter(pk=folder.pk, last_scan_at__isnull=True)
    return claimed.update(last_scan_at=now) == 1


def _claimed_by_older(folder: WatchedFolder, path: Path) -> bool:
    """Another property watched (part of) these files first: they stay that property's footage."""
    older = WatchedFolder.objects.filter(pk__lt=folder.pk).exclude(property_id=folder.property_id)
    return any(
        _within(path, Path(p).resolve()) or _within(Path(p).resolve(), path)
        for p in older.values_list("path", flat=True)
    )


def scan_folder(folder: WatchedFolder) -> dict[str, Any]:
    """Index one folder now; the counts of the run, or {"error": code} when it could not run."""
    path = Path(folder.path)
    if not path.exists():
        return {"error": ERROR_MISSING}
    if not path.is_dir():
        return {"error": ERROR_NOT_A_FOLDER}
    path = path.resolve()
    if home_conflict(path) is not None or _claimed_by_older(folder, path):
        # Saved before the form refused such folders: never index it.
        return {"error": ERROR_PROTECTED}
    try:
        if folder.layout == IngestLayout.PATTERN:
            layout = ingest.Layout.compile(folder.pattern)
            tz = ZoneInfo(folder.timezone or "UTC")
        else:
            layout = ingest.Layout.compile(ingest.FRIGATE_PATTERN)
            tz = ZoneInfo("UTC")
    except ingest.PatternError:
        return {"error": ERROR_PATTERN}
    except (ZoneInfoNotFoundError, ValueError):
        return {"error": ERROR_TIMEZONE}
    try:
        result = ingest.ingest(
            [path],
            prop=folder.property,
            layout=layout,
            camera_code=folder.camera.code if folder.camera else None,
            tz=tz,
        )
    except Exception:  # one folder's failure is recorded and must not stop the others
        logger.exception("watched folder %s could not be indexed", folder.pk)
        return {"error": ERROR_FAILED}
    return {
        "files": result.files,
        "indexed": result.indexed,
        "skipped": result.skipped,
        "quarantined": result.quarantined,
        "changed": len(result.changed),
        "gaps": len(result.gaps),
    }


def scan_due_folders(now: datetime | None = None) -> list[ScanResult]:
    now = now or timezone.now()
    results: list[ScanResult] = []
    for folder in due_folders(now):
        if not _claim(folder, now):
            continue  # another worker is on it
        outcome = scan_folder(folder)
        WatchedFolder.objects.filter(pk=folder.pk).update(last_result=outcome)
        results.append(ScanResult(folder.pk, folder.path, outcome))
    return results


@task()
def scan_watched_folders() -> dict[str, int]:
    """The periodic job: index every watched folder that is due; counts for the task result."""
    results = scan_due_folders()
    return {
        "folders": len(results),
        "failed": sum(1 for r in results if not r.ok),
        "indexed": sum(int(r.result.get("indexed", 0)) for r in results),
        "quarantined": sum(int(r.result.get("quarantined", 0)) for r in results),
    }
