"""Footage exports: a package that verifies, manifest fields, grant windows, resume after a killed worker,
disk full, watermark and privacy masks."""

from __future__ import annotations

import datetime as dt
import errno
import hashlib
import io
import json
import zipfile
from pathlib import Path
from typing import Any

import av
import pytest
from django.core.management import call_command
from django.db import transaction
from django.utils import timezone
from django_tasks_db.models import DBTaskResult

from custody.audit import keys
from custody.audit.events import Action, Outcome
from custody.audit.models import AuditEntry, TreeHead
from custody.evidence import exporting, package, tasks
from custody.evidence.models import Export, ExportClip, ExportStatus
from custody.evidence.verify import verify_package
from custody.footage.models import Segment
from custody.lib.canonical_json import canonical_json
from custody.requests import grants
from custody.requests.models import Alert, AlertKind, Grant
from tests.conftest import Hotel
from tests.test_evidence_fixtures import Footage, export_of, make_footage
from tests.test_footage_ingest import T0


@pytest.fixture
def home(settings: Any, tmp_path: Path) -> Path:
    """Packages, work files and the signing key live in a fresh CUSTODY_HOME."""
    folder = tmp_path / "home"
    folder.mkdir(mode=0o700)
    settings.CUSTODY_HOME = folder
    settings.CUSTODY_AUDIT_KEY_FILE = None
    keys._load.cache_clear()
    return folder


@pytest.fixture
def footage(hotel: Hotel, tmp_path: Path, home: Path) -> Footage:
    return make_footage(hotel, tmp_path)


def run(export: Export) -> Export:
    return exporting.run_export(export.pk)


def members(export: Export) -> dict[str, bytes]:
    with zipfile.ZipFile(package.package_path(export)) as archive:
        return {name: archive.read(name) for name in archive.namelist()}


def frames_of(data: bytes) -> list[Any]:
    with av.open(io.BytesIO(data)) as container:
        return [frame.to_image() for frame in container.decode(video=0)]


@pytest.mark.django_db
def test_export_makes_a_package_that_verifies(footage: Footage) -> None:
    export = run(export_of(footage))

    assert export.status == ExportStatus.DONE, export.error_code
    assert export.progress == 100
    assert export.attempts == 1
    path = package.package_path(export)
    assert path.name == f"{footage.grant.request.number}-{export.pk}.zip"
    data = path.read_bytes()
    assert export.package_size == len(data)
    assert export.package_sha256 == hashlib.sha256(data).hexdigest()
    result = verify_package(path, public_key_pem=keys.public_key_pem().encode())
    assert result.ok, result.problems
    assert result.files_checked == 5  # two clips, the report, the README, the public key
    assert sorted(members(export)) == sorted(
        ["manifest.json", "manifest.sig", "clips/CAM-1.mp4", "clips/LOBBY-2.mp4", "chain-of-custody.pdf",
         "README.txt", "public-key.pem"]
    )  # fmt: skip
    # Nothing left behind: no work folder, no .part.
    assert not package.work_dir(export).exists()
    assert not list(package.packages_dir().glob("*.part*"))
    entry = AuditEntry.objects.get(action=Action.EXPORT_COMPLETED)
    assert entry.details["package_sha256"] == export.package_sha256
    assert entry.request_ref == footage.grant.request.number


@pytest.mark.django_db
def test_manifest_has_every_field_design_lists(footage: Footage) -> None:
    export = run(export_of(footage))
    files = members(export)
    manifest_bytes = files["manifest.json"]
    manifest = json.loads(manifest_bytes)

    assert canonical_json(manifest) == manifest_bytes
    assert export.manifest_sha256 == hashlib.sha256(manifest_bytes).hexdigest()
    assert manifest["format"] == "custody-evidence/1"
    assert manifest["package_id"] == str(export.pk)
    assert manifest["request_id"] == str(footage.grant.request_id)
    assert manifest["request_number"] == footage.grant.request.number
    assert manifest["property"] == {"id": footage.hotel.prop.pk, "code": "seaside"}
    assert manifest["created_at"].endswith("Z")
    assert manifest["requested_window"] == {
        "start": "2026-03-01T10:00:01.000000Z",
        "end": "2026-03-01T10:00:07.000000Z",
    }
    # Clips start at the first keyframe at or after the start: the segments start (with a keyframe) every 2 s.
    assert manifest["actual_window"]["start"] == "2026-03-01T10:00:02.000000Z"
    assert manifest["actual_window"]["end"] <= "2026-03-01T10:00:07.000000Z"
    rows = {row["path"]: row for row in manifest["files"]}
    assert set(rows) == {"clips/CAM-1.mp4", "clips/LOBBY-2.mp4", "chain-of-custody.pdf", "README.txt", "public-key.pem"}
    for path, row in rows.items():
        assert row["size"] == len(files[path])
        assert row["sha256"] == hashlib.sha256(files[path]).hexdigest()
    clip = rows["clips/CAM-1.mp4"]
    camera_hashes = list(
        Segment.objects.filter(camera=footage.hotel.camera, start__gte=T0, start__lt=T0 + dt.timedelta(seconds=7))
        .order_by("start")
        .values_list("sha256", flat=True)
    )
    assert clip["camera"] == "CAM-1"
    assert set(clip["source_sha256s"]) <= set(camera_hashes) and clip["source_sha256s"]
    assert clip["redacted"] is False and clip["watermarked"] is False
    assert clip["actual_start"] == "2026-03-01T10:00:02.000000Z"
    approval = footage.grant.request.approvals.get()
    assert manifest["approvals"] == [
        {
            "approval_id": str(approval.pk),
            "approver_id": footage.approver.pk,
            "roles": ["privacy_officer"],
            "decision": "approve",
            "at": package.rfc3339(approval.created_at),
        }
    ]
    assert footage.approver.display_name not in manifest_bytes.decode()  # ids, never names
    public = keys.public_key()
    assert manifest["signer"] == {
        "algorithm": "Ed25519", "key_id": keys.key_id(public), "public_key": keys.public_key_pem(public)
    }  # fmt: skip
    head = TreeHead.objects.order_by("-tree_size").first()
    assert head is not None
    assert manifest["audit_tree_head"] == head.published()
    # The head covers the export's own queued entry: the package is tied to the log as it stood.
    queued = AuditEntry.objects.get(action=Action.EXPORT_QUEUED)
    assert manifest["audit_tree_head"]["tree_size"] >= queued.seq
    assert keys.signature_valid(public, manifest_bytes, files["manifest.sig"].decode().strip())
    assert export.signature == files["manifest.sig"].decode().strip()


@pytest.mark.django_db
def test_requested_and_actual_bounds_are_recorded_inside_the_grant(footage: Footage) -> None:
    export = run(export_of(footage, start_s=1, end_s=7))
    grant = footage.grant
    assert grant.window_start is not None and grant.window_end is not None
    for clip in ExportClip.objects.filter(export=export):
        assert clip.requested_start == T0 + dt.timedelta(seconds=1)
        assert clip.requested_end == T0 + dt.timedelta(seconds=7)
        assert clip.actual_start is not None and clip.actual_end is not None
        assert clip.requested_start <= clip.actual_start < clip.actual_end <= clip.requested_end
        assert grant.window_start <= clip.actual_start and clip.actual_end <= grant.window_end
        assert clip.completed_at is not None
    assert export.actual_start == T0 + dt.timedelta(seconds=2)


@pytest.mark.django_db
@pytest.mark.parametrize(("start_s", "end_s"), [(-1, 7), (1, 9)], ids=["starts-early", "ends-late"])
def test_one_second_outside_the_grant_is_refused_and_logged(footage: Footage, start_s: int, end_s: int) -> None:
    uses_before = Grant.objects.get(pk=footage.grant.pk).views_used
    with pytest.raises(grants.GrantRefused) as refused:
        export_of(footage, start_s=start_s, end_s=end_s)
    assert refused.value.code == "window_out_of_scope"
    assert not Export.objects.exists()
    denied = AuditEntry.objects.get(action=Action.GRANT_USED, outcome=Outcome.DENIED)
    assert denied.details["reason"] == "window_out_of_scope"
    assert denied.grant_ref == str(footage.grant.pk)
    assert Grant.objects.get(pk=footage.grant.pk).views_used == uses_before


@pytest.mark.django_db
def test_someone_else_cannot_export_under_the_grant(footage: Footage) -> None:
    with pytest.raises(grants.GrantRefused) as refused:
        exporting.create_export(
            footage.grant, cameras=footage.cameras, start=T0, end=T0 + dt.timedelta(seconds=4),
            acting_user=footage.approver,
        )  # fmt: skip
    assert refused.value.code == "not_the_holder"
    assert AuditEntry.objects.filter(action=Action.GRANT_USED, outcome=Outcome.DENIED).count() == 1
    assert not Export.objects.exists()


@pytest.mark.django_db
def test_create_export_uses_the_grant_once_and_queues_the_job(
    footage: Footage, django_capture_on_commit_callbacks: Any
) -> None:
    with django_capture_on_commit_callbacks(execute=True):
        export = export_of(footage)
    assert Grant.objects.get(pk=footage.grant.pk).views_used == 1  # one export of two cameras is one use
    used = AuditEntry.objects.get(action=Action.GRANT_USED, outcome=Outcome.ALLOWED)
    assert used.details["cameras"] == ["CAM-1", "LOBBY-2"]
    assert export.status == ExportStatus.QUEUED
    assert sorted(export.clips.values_list("path", flat=True)) == ["clips/CAM-1.mp4", "clips/LOBBY-2.mp4"]
    job = DBTaskResult.objects.get(task_path="custody.evidence.tasks.export_footage")
    assert job.args_kwargs["args"] == [str(export.pk)]
    assert Export.objects.get(pk=export.pk).task_result_id == str(job.pk)
    queued = AuditEntry.objects.get(action=Action.EXPORT_QUEUED)
    assert queued.details["cameras"] == ["CAM-1", "LOBBY-2"]


class Killed(BaseException):
    """Stands for the worker being killed: no handler of the job runs (it is not an Exception)."""


@pytest.mark.django_db
def test_a_killed_job_resumes_and_completes_without_redoing_the_finished_clip(
    footage: Footage, monkeypatch: pytest.MonkeyPatch, django_capture_on_commit_callbacks: Any
) -> None:
    export = export_of(footage)
    cut_calls: list[str] = []
    original_cut = exporting._cut

    def cut_then_die(export: Export, clip: ExportClip, beat: Any, reader: Any) -> None:
        cut_calls.append(clip.camera.code)
        if len(cut_calls) == 2:
            raise Killed
        original_cut(export, clip, beat, reader)

    monkeypatch.setattr(exporting, "_cut", cut_then_die)
    with pytest.raises(Killed):
        run(export)

    stalled = Export.objects.get(pk=export.pk)
    assert stalled.status == ExportStatus.RUNNING
    assert not stalled.package_sha256  # nothing marked done
    assert not list(package.packages_dir().glob("*.zip"))
    first = ExportClip.objects.get(export=export, camera__code="CAM-1")
    assert first.completed_at is not None
    first_hash = first.sha256

    # A fresh heartbeat is a live worker: nothing is resumed.
    assert exporting.resume_stale() == []
    Export.objects.filter(pk=export.pk).update(heartbeat_at=timezone.now() - dt.timedelta(minutes=3))
    with django_capture_on_commit_callbacks(execute=True):
        result = tasks.resume_stale_exports.call()
    assert result == {"resumed": 1}
    assert DBTaskResult.objects.filter(task_path="custody.evidence.tasks.export_footage").count() == 1
    retried = AuditEntry.objects.get(action=Action.EXPORT_RETRIED)
    assert retried.details["reason"] == "stale_worker"

    cut_calls.clear()
    finished = tasks.export_footage.call(str(export.pk))
    assert finished["status"] == ExportStatus.DONE
    assert cut_calls == ["LOBBY-2"]  # CAM-1 was not cut again
    done = Export.objects.get(pk=export.pk)
    assert done.attempts == 2
    assert ExportClip.objects.get(pk=first.pk).sha256 == first_hash
    assert verify_package(package.package_path(done)).ok
    # Running the job again changes nothing (idempotent).
    again = run(done)
    assert again.package_sha256 == done.package_sha256 and again.attempts == 2


@pytest.mark.django_db
def test_disk_full_fails_cleanly_and_retry_works(
    footage: Footage, monkeypatch: pytest.MonkeyPatch, django_capture_on_commit_callbacks: Any
) -> None:
    export = export_of(footage)
    original = package.HashingWriter.write
    written = {"bytes": 0}

    def write_until_full(self: package.HashingWriter, data: Any) -> int:
        written["bytes"] += len(memoryview(data).cast("B"))
        if written["bytes"] > 4096:
            raise OSError(errno.ENOSPC, "No space left on device")
        return original(self, data)

    monkeypatch.setattr(package.HashingWriter, "write", write_until_full)
    failed = run(export)

    assert failed.status == ExportStatus.FAILED
    assert failed.error_code == "disk_full"
    assert not failed.package_sha256
    assert list(package.packages_dir().rglob("*.zip")) == []
    assert list(package.packages_dir().rglob("*.part*")) == []
    assert not package.work_dir(export).exists()
    assert not ExportClip.objects.filter(export=export, completed_at__isnull=False).exists()
    alert = Alert.objects.get(kind=AlertKind.EXPORT_FAILED)
    assert alert.request_id == export.request_id
    assert AuditEntry.objects.get(action=Action.EXPORT_FAILED).details["reason"] == "disk_full"

    monkeypatch.setattr(package.HashingWriter, "write", original)
    with django_capture_on_commit_callbacks(execute=True):
        exporting.retry_export(failed, acting_user=footage.holder)
    assert Export.objects.get(pk=export.pk).status == ExportStatus.QUEUED
    done = run(export)
    assert done.status == ExportStatus.DONE and done.error_code == ""
    assert verify_package(package.package_path(done)).ok


@pytest.mark.django_db
def test_disk_full_while_cutting_a_clip(footage: Footage, monkeypatch: pytest.MonkeyPatch) -> None:
    export = export_of(footage)
    real_open = Path.open

    def full_open(self: Path, mode: str = "r", *args: Any, **kwargs: Any) -> Any:
        handle = real_open(self, mode, *args, **kwargs)
        if "w" in mode and self.suffix == ".mp4":

            class Full:
                def __getattr__(self, name: str) -> Any:
                    return getattr(handle, name)

                def write(self, data: Any) -> int:
                    raise OSError(errno.ENOSPC, "No space left on device")

                def __enter__(self) -> Any:
                    return self

                def __exit__(self, *exc: object) -> None:
                    handle.close()

            return Full()
        return handle

    monkeypatch.setattr(Path, "open", full_open)
    failed = run(export)
    assert (failed.status, failed.error_code) == (ExportStatus.FAILED, "disk_full")
    assert not package.work_dir(export).exists()


@pytest.mark.django_db
def test_retry_is_only_for_failed_exports(footage: Footage) -> None:
    export = export_of(footage)
    with pytest.raises(exporting.ExportRefused):
        exporting.retry_export(export, acting_user=footage.holder)


@pytest.mark.django_db
def test_no_footage_in_the_window_fails_with_a_code(footage: Footage) -> None:
    Segment.objects.filter(camera=footage.hotel.camera).update(destroyed_at=timezone.now())
    failed = run(export_of(footage))
    assert (failed.status, failed.error_code) == (ExportStatus.FAILED, "no_footage")
    assert AuditEntry.objects.get(action=Action.EXPORT_FAILED).details["camera"] == "CAM-1"


@pytest.mark.django_db
def test_a_revoked_grant_stops_a_queued_export(footage: Footage) -> None:
    export = export_of(footage)
    with transaction.atomic():
        Grant.objects.filter(pk=footage.grant.pk).update(revoked_at=timezone.now())
    failed = run(export)
    assert (failed.status, failed.error_code) == (ExportStatus.FAILED, "grant_revoked")


@pytest.mark.django_db
def test_watermark_export_reencodes_and_flags_the_clips(footage: Footage) -> None:
    export = run(export_of(footage, watermark=True, cameras=[footage.hotel.camera]))
    assert export.status == ExportStatus.DONE, export.error_code
    files = members(export)
    manifest = json.loads(files["manifest.json"])
    clip_row = next(r for r in manifest["files"] if r["path"] == "clips/CAM-1.mp4")
    assert clip_row["watermarked"] is True and clip_row["redacted"] is False
    assert manifest["options"] == {"watermark": True}

    plain = run(export_of(footage, cameras=[footage.hotel.camera]))
    plain_frames = frames_of(members(plain)["clips/CAM-1.mp4"])
    marked_frames = frames_of(files["clips/CAM-1.mp4"])
    assert len(marked_frames) == len(plain_frames) > 0
    # The top band (the watermark) differs from the stream copy; the middle of the picture is kept.
    top = (0, 0, 320, 10)
    assert plain_frames[0].crop(top).tobytes() != marked_frames[0].crop(top).tobytes()
    assert members(plain)["clips/CAM-1.mp4"] != files["clips/CAM-1.mp4"]
    with av.open(io.BytesIO(files["clips/CAM-1.mp4"])) as container:
        assert container.streams.video[0].codec_context.name == "h264"


@pytest.mark.django_db
def test_privacy_masks_always_reencode_and_black_out(hotel: Hotel, tmp_path: Path, home: Path) -> None:
    footage = make_footage(hotel, tmp_path, masks=[[[0, 0], [0.5, 0], [0.5, 0.5], [0, 0.5]]])
    export = run(export_of(footage))
    assert export.status == ExportStatus.DONE, export.error_code
    files = members(export)
    rows = {r["path"]: r for r in json.loads(files["manifest.json"])["files"]}
    assert rows["clips/CAM-1.mp4"]["redacted"] is True
    assert rows["clips/CAM-1.mp4"]["watermarked"] is False
    assert rows["clips/LOBBY-2.mp4"]["redacted"] is False  # no masks: stream copy
    masked = frames_of(files["clips/CAM-1.mp4"])[0]
    corner = masked.crop((10, 10, 150, 110))
    assert max(max(band) for band in corner.getextrema()) < 30  # black, give or take compression
    assert masked.crop((200, 150, 300, 230)).getextrema()[2][1] > 60  # the rest is still picture (blue 90)


@pytest.mark.django_db
def test_verify_command_on_a_real_package(footage: Footage, tmp_path: Path) -> None:
    export = run(export_of(footage))
    key_file = tmp_path / "hotel.pem"
    key_file.write_text(keys.public_key_pem())
    out = io.StringIO()
    call_command("evidence", "verify", str(package.package_path(export)), "--public-key", str(key_file), stdout=out)
    assert out.getvalue().startswith(f"OK: evidence package {export.pk}")
    assert "5 files intact" in out.getvalue()
