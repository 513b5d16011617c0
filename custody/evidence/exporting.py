"""Footage exports: queued under a grant, cut by a background job, packaged, signed; resumable and idempotent.

    create_export -> queued -(worker: run_export)-> running -> done
                                                     |  '---> failed -(retry_export)-> queued
                                                     '-(worker killed: heartbeat stale)-> resume_stale_exports -> queued

``create_export`` uses the grant once for all its cameras (custody.requests.grants.use_grant, kind
"footage_export": each camera and the window must lie inside the grant, one second outside is refused) and records
``export.queued`` in the same transaction; refusals are checked before that transaction too, so their denied
entries stay committed.

``run_export`` is the job's body. It claims a queued export (one worker at a time: a conditional UPDATE), takes the
read gate's authority over the export's footage (``custody.authority.for_export``: the queued entry proves the grant
use, the grant must still allow the creator these cameras and this window; each clip is checked against it), then for
each clip not completed yet stream-copies the window from the live segments (custody.footage.remux: the clip starts
at the first keyframe at or after the requested start, so requested and actual bounds both go in the manifest) into
the export's work folder, re-encodes it where the camera has privacy masks or a watermark was asked for, and records
the clip's actual bounds, size, SHA-256 and source hashes with ``completed_at``. A worker killed mid-way leaves the
export running with a heartbeat that stops moving; ``resume_stale_exports`` queues it again and the next run skips
the completed clips. Then the manifest, its signature, the chain-of-custody report and the README are made and the
zip is written under a temporary name, fsynced and renamed (custody.evidence.package); only then is the export
marked done, with the package's size and hashes, in one transaction with ``export.completed``.

Any failure marks the export failed with a code (``disk_full`` when the disk filled), removes its work files and any
half-written zip, raises an EXPORT_FAILED alert and records ``export.failed``; there is never a half package.
"""

from __future__ import annotations

import errno
import logging
import time
import uuid
from collections.abc import Sequence
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from django.db import transaction
from django.db.models import F
from django.utils import timezone

from custody import authority
from custody.accounts.models import User
from custody.audit import gate
from custody.audit import log as audit_log
from custody.audit.events import Action
from custody.authority import ReadAuthority
from custody.evidence import package, watermark
from custody.evidence.models import Export, ExportClip, ExportStatus
from custody.footage.models import Camera
from custody.requests import grants
from custody.requests.models import Alert, AlertKind, Grant

logger = logging.getLogger("custody.evidence")

KIND = "footage_export"
STALE_AFTER = timedelta(minutes=2)
HEARTBEAT_EVERY = 5.0  # seconds between heartbeat writes while a clip is cut
CUT_SHARE = 85  # percent of the progress bar the clips take; packaging takes the rest


class ExportRefused(Exception):
    """The export cannot be created or changed; ``code`` says why."""

    def __init__(self, code: str) -> None:
        super().__init__(code)
        self.code = code


class ExportFailure(Exception):
    """The job cannot finish; ``code`` is stored on the export."""

    def __init__(self, code: str, camera: str = "") -> None:
        super().__init__(code)
        self.code = code
        self.camera = camera


class TakenOver(ExportFailure):
    """This worker's claim is gone (its heartbeat went stale and another worker claimed the export): stop at once,
    write nothing more, and leave the files of the newer attempt alone."""

    def __init__(self) -> None:
        super().__init__("taken_over")


def grant_refusal(export: Export, user: User) -> str:
    """Why ``user`` may not have this export's package (create a link, download, retry), or "" when they may: only
    its creator, still holding a usable grant of the export kind. Codes: not_the_creator, grant_not_the_holder,
    grant_revoked, grant_expired, grant_wrong_kind. No side effects."""
    if export.created_by_id != user.pk:
        return "not_the_creator"
    grant = Grant.objects.select_related("request").get(pk=export.grant_id)
    code = grants.refusal_code(grant, actor=user, kind=KIND, scope=False, quota=False)
    return f"grant_{code}"[:32] if code else ""


def _remux() -> Any:
    from custody.footage import remux  # the stream-copy core (custody.footage.remux)

    return remux


# --- creating -----------------------------------------------------------------------------------------------------


def create_export(
    grant: Grant,
    *,
    cameras: Sequence[Camera],
    start: datetime,
    end: datetime,
    watermark: bool = False,
    acting_user: User,
) -> Export:
    """Queue an export of ``cameras`` from ``start`` to ``end`` under ``grant`` (its holder only); GrantRefused
    (after a committed denied entry) when the grant does not allow it, ExportRefused for an empty camera list."""
    cameras = sorted({c.pk: c for c in cameras}.values(), key=lambda c: c.code)
    if not cameras:
        raise ExportRefused("no_cameras")
    prop = grant.property
    # One export is one use of the grant, however many cameras it holds.
    with grants.using_grant(
        grant.pk, actor=acting_user, prop=prop, kind=KIND, cameras=cameras, start=start, end=end
    ) as used:
        export = Export.objects.create(
            property=prop,
            request=used.request,
            grant=used,
            created_by=acting_user,
            requested_start=start,
            requested_end=end,
            watermark=watermark,
            step="queued",
        )
        export.package_name = package.package_name(export)
        export.save(update_fields=["package_name"])
        export.cameras.set(cameras)
        ExportClip.objects.bulk_create(
            ExportClip(
                export=export,
                camera=camera,
                path=f"clips/{camera.code}.mp4",
                requested_start=start,
                requested_end=end,
            )
            for camera in cameras
        )
        gate.record(
            Action.EXPORT_QUEUED,
            actor=acting_user,
            prop=prop,
            obj=export,
            request_ref=used.request.number,
            grant_ref=used.ref,
            purpose=f"grant.{KIND}",
            details={
                "cameras": [c.code for c in cameras],
                "start": start.isoformat(),
                "end": end.isoformat(),
                "watermark": watermark,
            },
        )
        _enqueue_on_commit(export)
    return export


def _enqueue_on_commit(export: Export) -> None:
    from custody.evidence.tasks import export_footage

    export_id = str(export.pk)

    def enqueue() -> None:
        result = export_footage.enqueue(export_id)
        Export.objects.filter(pk=export_id).update(task_result_id=str(getattr(result, "id", "")))

    transaction.on_commit(enqueue)


def retry_export(export: Export, *, acting_user: User) -> Export:
    """Queue a failed export again: its creator only, while the grant is still usable. A refusal raises
    ExportRefused with the grant's reason code after a committed denied entry (written before any transaction)."""
    refusal = grant_refusal(export, acting_user)
    if refusal:
        gate.record_denied(
            Action.EXPORT_RETRIED, actor=acting_user, prop=export.property, object_type="evidence.export",
            object_id=str(export.pk), request_ref=export.request.number, grant_ref=str(export.grant_id),
            details={"reason": refusal},
        )  # fmt: skip
        raise ExportRefused(refusal)
    with transaction.atomic():
        changed = Export.objects.filter(pk=export.pk, status=ExportStatus.FAILED).update(
            status=ExportStatus.QUEUED, error_code="", progress=0, step="queued", finished_at=None, heartbeat_at=None
        )
        if not changed:
            raise ExportRefused("not_failed")
        export.refresh_from_db()
        _audit(Action.EXPORT_RETRIED, export, acting_user, reason="retry", attempts=export.attempts)
        _enqueue_on_commit(export)
    return export


def resume_stale(now: datetime | None = None) -> list[str]:
    """Queue again every running export whose worker stopped sending heartbeats (killed, or the host went down)."""
    now = now or timezone.now()
    resumed = []
    stale = Export.objects.filter(status=ExportStatus.RUNNING, heartbeat_at__lt=now - STALE_AFTER)
    for export_id in stale.values_list("pk", flat=True):
        with transaction.atomic():
            changed = Export.objects.filter(
                pk=export_id, status=ExportStatus.RUNNING, heartbeat_at__lt=now - STALE_AFTER
            ).update(status=ExportStatus.QUEUED, step="resuming", heartbeat_at=None)
            if not changed:
                continue
            export = Export.objects.select_related("request", "property").get(pk=export_id)
            _audit(Action.EXPORT_RETRIED, export, None, reason="stale_worker", attempts=export.attempts)
            _enqueue_on_commit(export)
        resumed.append(str(export_id))
    return resumed


def _audit(action: Action, export: Export, actor: User | None, **details: Any) -> None:
    gate.record(
        action,
        actor=actor,
        prop=export.property,
        obj=export,
        request_ref=export.request.number,
        grant_ref=str(export.grant_id),
        details=details,
    )


# --- the job ------------------------------------------------------------------------------------------------------


def _mine(export_id: Any, attempt: int) -> Any:
    """The export's row while this worker's claim (its attempt number) still holds it."""
    return Export.objects.filter(pk=export_id, status=ExportStatus.RUNNING, attempts=attempt)


class _Beat:
    """Progress, step and heartbeat of a running export, written in small autocommitted UPDATEs, each only while
    this attempt still holds the export: one that changes no row means another worker took over (TakenOver)."""

    def __init__(self, export: Export) -> None:
        self.export_id = export.pk
        self.attempt = export.attempts
        self._last = 0.0

    def set(self, progress: int, step: str) -> None:
        self._last = time.monotonic()
        if not _mine(self.export_id, self.attempt).update(
            progress=max(0, min(progress, 99)), step=step, heartbeat_at=timezone.now()
        ):
            raise TakenOver

    def hold(self) -> None:
        """A heartbeat now: raises TakenOver when the claim is gone."""
        self._last = time.monotonic()
        if not _mine(self.export_id, self.attempt).update(heartbeat_at=timezone.now()):
            raise TakenOver

    def tick(self, *_: object) -> None:
        if time.monotonic() - self._last >= HEARTBEAT_EVERY:
            self.hold()


def _claim(export_id: uuid.UUID | str) -> Export | None:
    """Mark a queued export running (attempt counted); None when another run has it or there is nothing to do."""
    now = timezone.now()
    with transaction.atomic():
        claimed = Export.objects.filter(pk=export_id, status=ExportStatus.QUEUED).update(
            status=ExportStatus.RUNNING,
            attempts=F("attempts") + 1,
            started_at=now,
            heartbeat_at=now,
            step="starting",
        )
    if not claimed:
        return None
    return Export.objects.select_related("property", "request", "grant", "created_by").get(pk=export_id)


def run_export(export_id: uuid.UUID | str) -> Export:
    """Run a queued export to the end (the job's body; also called directly by tests and the demo). Returns the
    export as it stands afterwards; an export that is done, failed or being run elsewhere is returned unchanged."""
    export = _claim(export_id)
    if export is None:
        return Export.objects.get(pk=export_id)
    _run(export)
    return Export.objects.get(pk=export.pk)


def _run(export: Export) -> None:
    """The work of one claimed attempt (``export.attempts`` is its number)."""
    beat = _Beat(export)
    try:
        _check_grant(export)
        clips = list(export.clips.select_related("camera").order_by("path"))
        for index, clip in enumerate(clips):
            if not _completed(export, clip):
                beat.set(CUT_SHARE * index // len(clips), "cutting")
                _cut(export, clip, beat, _reader(export))  # the grant checked again before every clip
        beat.set(CUT_SHARE, "packaging")
        _package(export, clips, beat)
    except TakenOver:
        logger.warning("export %s attempt %s: taken over by another worker; stopped", export.pk, export.attempts)
    except OSError as exc:
        code = "disk_full" if exc.errno == errno.ENOSPC else "io_error"
        logger.warning("export %s failed: %s", export.pk, exc)
        _fail(export, code)
    except package.ClipChanged as exc:
        logger.warning("export %s failed: clip %s changed after it was cut", export.pk, exc.path)
        _fail(export, "clip_changed")
    except ExportFailure as exc:
        _fail(export, exc.code, camera=exc.camera)
    except Exception:
        logger.exception("export %s failed", export.pk)
        _fail(export, "error")


def _check_grant(export: Export) -> None:
    """The grant must still be usable by the export's creator: not revoked, not expired (at the start of every
    attempt and again just before the package is put in place)."""
    code = grant_refusal(export, export.created_by)
    if code:
        raise ExportFailure(code)


def _reader(export: Export) -> ReadAuthority:
    """The read gate's authority over the export's footage (``authority.for_export``); ExportFailure when refused."""
    try:
        return authority.for_export(export)
    except authority.ReadRefused as exc:
        raise ExportFailure(f"gate_{exc.code}"[:32]) from exc


def _completed(export: Export, clip: ExportClip) -> bool:
    """A clip completed by an earlier run whose file is still there, as big as recorded; else it is cut again."""
    if clip.completed_at is None:
        return False
    path = _clip_file(export, clip)
    try:
        return path.stat().st_size == clip.size
    except OSError:
        return False


def _clip_file(export: Export, clip: ExportClip) -> Path:
    """A completed clip (put in place, under this name, only by the attempt holding the export)."""
    return package.work_dir(export) / f"{clip.camera.code}.mp4"


def _attempt_file(export: Export, clip: ExportClip, stage: str) -> Path:
    """A clip being made by this attempt: a worker that was taken over never writes into the newer one's files."""
    return package.work_dir(export) / f"{clip.camera.code}.{stage}-{export.attempts}.mp4"


def watermark_text(export: Export) -> tuple[str, str]:
    creator = export.created_by
    who = creator.display_name or creator.username
    return (
        f"CONFIDENTIAL · {export.request.number} · export {str(export.pk)[:8]}",
        f"{who} · {timezone.localtime(export.created_at).strftime('%Y-%m-%d %H:%M %Z')}",
    )


def _cut(export: Export, clip: ExportClip, beat: _Beat, reader: ReadAuthority) -> None:
    remux = _remux()
    camera = clip.camera
    try:
        authority.require_footage(
            reader,
            Action.EXPORT_FAILED,
            property_id=export.property_id,
            camera=camera,
            start=clip.requested_start,
            end=clip.requested_end,
            grant_ref=str(export.grant_id),
        )
    except authority.ReadRefused as exc:
        raise ExportFailure(f"gate_{exc.code}"[:32], camera=camera.code) from exc
    folder = package.work_dir(export)
    beat.hold()
    folder.mkdir(parents=True, exist_ok=True)
    made = _attempt_file(export, clip, "cut")
    masks = list(camera.privacy_masks or [])
    reencode = bool(masks) or export.watermark
    cut_to = _attempt_file(export, clip, "copy") if reencode else made
    segments = remux.live_segments(camera, clip.requested_start, clip.requested_end)
    if not segments:
        raise ExportFailure("no_footage", camera=camera.code)
    try:
        # Fragmented MP4: written strictly in order, so it is hashed in the same pass (a plain MP4's header is
        # patched at the end and would have to be read back); every player and ffmpeg reads it.
        with cut_to.open("wb") as out:
            result = remux.remux_window(
                segments, clip.requested_start, clip.requested_end, out, fragmented=True, on_progress=beat.tick
            )
            out.flush()
    except remux.RemuxError as exc:
        raise ExportFailure(str(getattr(exc, "code", "remux_failed"))[:32], camera=camera.code) from exc
    size, digest = result.bytes_written, result.sha256
    if reencode:
        beat.set(export.progress, "watermarking" if export.watermark else "masking")
        top, bottom = watermark_text(export) if export.watermark else ("", "")
        try:
            watermark.reencode(cut_to, made, masks=masks, top_text=top, bottom_text=bottom, on_frame=beat.tick)
        except watermark.ReencodeError as exc:
            raise ExportFailure(exc.code, camera=camera.code) from exc
        cut_to.unlink(missing_ok=True)
        size, digest = made.stat().st_size, _sha256_file(made)
    with transaction.atomic():
        beat.hold()  # still ours: only then is the clip put in place and recorded
        made.replace(_clip_file(export, clip))
        ExportClip.objects.filter(pk=clip.pk).update(
            actual_start=result.actual_start,
            actual_end=result.actual_end,
            size=size,
            sha256=digest,
            source_sha256s=list(result.source_sha256s),
            redacted=bool(masks),
            watermarked=export.watermark,
            completed_at=timezone.now(),
        )


def _sha256_file(path: Path) -> str:
    import hashlib

    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while chunk := handle.read(package.CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def _package(export: Export, clips: list[ExportClip], beat: _Beat) -> None:
    beat.hold()
    clips = list(export.clips.select_related("camera").order_by("path"))
    for clip in clips:
        if clip.completed_at is None or not clip.sha256:
            raise ExportFailure("clip_missing", camera=clip.camera.code)
    starts = [c.actual_start for c in clips if c.actual_start]
    ends = [c.actual_end for c in clips if c.actual_end]
    export.actual_start, export.actual_end = min(starts), max(ends)
    if not _mine(export.pk, beat.attempt).update(actual_start=export.actual_start, actual_end=export.actual_end):
        raise TakenOver

    created_at = timezone.now()
    with transaction.atomic():
        head = audit_log.sign_tree_head() or audit_log.latest_tree_head()
    key_id = package.keys.key_id(package.keys.public_key())
    beat.set(CUT_SHARE + 3, "report")
    report = package.MemberFile(package.REPORT, package.chain_of_custody_pdf(export, clips, head, created_at, key_id))
    readme = package.MemberFile(package.README, package.readme_text(export, key_id).encode("utf-8"))
    public = package.public_key_member()
    others = [report.row("report"), readme.row("readme"), public.row("public_key")]
    manifest = package.build_manifest(export, clips, others, head, created_at)
    manifest_bytes, signature = package.sign_manifest(manifest)
    beat.set(CUT_SHARE + 6, "packaging")

    def before_replace() -> None:
        # The part file is complete: put it under its final name only while the grant is usable and this attempt
        # still holds the export (a conditional heartbeat), so a worker that was taken over never replaces it.
        _check_grant(export)
        beat.hold()

    written = package.write_zip(
        package.package_path(export),
        attempt=beat.attempt,
        before_replace=before_replace,
        when=created_at,
        first=[package.MemberFile(package.MANIFEST, manifest_bytes), package.signature_member(signature)],
        clips=[(clip, _clip_file(export, clip)) for clip in clips],
        last=[report, readme, public],
        tick=beat.tick,
    )
    with transaction.atomic():
        done = _mine(export.pk, beat.attempt).update(
            status=ExportStatus.DONE,
            progress=100,
            step="done",
            finished_at=timezone.now(),
            heartbeat_at=timezone.now(),
            package_size=written.size,
            package_sha256=written.sha256,
            manifest_sha256=package.sha256_bytes(manifest_bytes),
            signature=signature,
            signer_key_id=key_id,
        )
        if not done:
            raise TakenOver
        _audit(
            Action.EXPORT_COMPLETED,
            export,
            export.created_by,
            package_sha256=written.sha256,
            manifest_sha256=package.sha256_bytes(manifest_bytes),
            files=len(manifest["files"]),
            attempts=export.attempts,
        )
    package.remove_work(export)


def _fail(export: Export, code: str, *, camera: str = "") -> None:
    """Failed, with nothing half-made left behind: work files and the partial zip go, completed clips are reset.
    Only while this attempt still holds the export: a worker that was taken over touches neither the row nor the
    files of the newer attempt."""
    with transaction.atomic():
        changed = _mine(export.pk, export.attempts).update(
            status=ExportStatus.FAILED, error_code=code[:32], step="failed", finished_at=timezone.now()
        )
        if not changed:
            return
        ExportClip.objects.filter(export=export).update(
            completed_at=None, actual_start=None, actual_end=None, size=None, sha256="", source_sha256s=[]
        )
        Alert.objects.create(
            property=export.property, kind=AlertKind.EXPORT_FAILED, request=export.request, grant=export.grant
        )
        details: dict[str, Any] = {"reason": code[:32], "attempts": export.attempts}
        if camera:
            details["camera"] = camera
        _audit(Action.EXPORT_FAILED, export, None, **details)
    try:
        package.remove_partial(export, attempt=export.attempts)
    except OSError:
        logger.exception("could not clean up export %s", export.pk)
