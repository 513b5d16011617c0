"""Watch mode: the worker indexes each enabled watched folder every `every_minutes` (see docs/footage.md).

``scan_watched_folders`` is a periodic job (custody.core.worker.PERIODIC_JOBS, every minute); it only scans the
folders that are due. Each folder is claimed with a conditional UPDATE of its last_scan_at before it is scanned, so
two workers never index the same folder at once. A scan's counts (or an error code: missing_folder, not_a_folder,
bad_pattern, bad_timezone, failed) are kept in last_result and shown on the watched folders page; one folder's
trouble never stops the others.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

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


def scan_folder(folder: WatchedFolder) -> dict[str, Any]:
    """Index one folder now; the counts of the run, or {"error": code} when it could not run."""
    path = Path(folder.path)
    if not path.exists():
        return {"error": ERROR_MISSING}
    if not path.is_dir():
        return {"error": ERROR_NOT_A_FOLDER}
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
