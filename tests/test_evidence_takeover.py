"""Two workers on one export (a stale heartbeat re-queued it while the first was still alive), a clip changed after
it was cut, and a grant that expires while the export runs."""

from __future__ import annotations

import datetime as dt
import hashlib
from pathlib import Path
from typing import Any

import pytest
from django.utils import timezone

from custody.audit.events import Action
from custody.audit.models import AuditEntry
from custody.evidence import exporting, package
from custody.evidence.models import Export, ExportClip, ExportStatus
from custody.evidence.verify import verify_package
from tests.test_evidence_export import footage as footage
from tests.test_evidence_export import home  # noqa: F401  (fixture)
from tests.test_evidence_fixtures import Footage, export_of
from tests.test_evidence_links import end_validity


def take_over(export: Export) -> Export:
    """The first worker's heartbeat looks stale: the export is queued again and a second worker claims it."""
    Export.objects.filter(pk=export.pk).update(heartbeat_at=timezone.now() - dt.timedelta(minutes=5))
    assert exporting.resume_stale() == [str(export.pk)]
    second = exporting._claim(export.pk)
    assert second is not None
    return second


def file_sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def leftovers() -> list[Path]:
    return sorted(p for p in package.packages_dir().rglob("*") if ".part" in p.name or p.suffix == ".mp4")


@pytest.mark.django_db
def test_a_worker_taken_over_stops_and_only_the_new_one_finishes(footage: Footage) -> None:
    export = export_of(footage)
    first = exporting._claim(export.pk)
    assert first is not None and first.attempts == 1
    second = take_over(first)
    assert second.attempts == 2

    exporting._run(first)  # the slow first worker wakes up: its first heartbeat finds the claim gone
    after_first = Export.objects.get(pk=export.pk)
    assert (after_first.status, after_first.attempts, after_first.error_code) == (ExportStatus.RUNNING, 2, "")
    assert not ExportClip.objects.filter(export=export, completed_at__isnull=False).exists()
    assert not AuditEntry.objects.filter(action__in=[Action.EXPORT_FAILED, Action.EXPORT_COMPLETED]).exists()

    exporting._run(second)
    done = Export.objects.get(pk=export.pk)
    assert done.status == ExportStatus.DONE
    assert done.package_sha256 == file_sha256(package.package_path(done))
    assert verify_package(package.package_path(done)).ok
    completed = AuditEntry.objects.filter(action=Action.EXPORT_COMPLETED)
    assert [e.details["attempts"] for e in completed] == [2]
    assert leftovers() == []


@pytest.mark.django_db
def test_taken_over_while_packaging_the_first_worker_leaves_the_package_alone(
    footage: Footage, monkeypatch: pytest.MonkeyPatch
) -> None:
    export = export_of(footage)
    first = exporting._claim(export.pk)
    assert first is not None
    real_write_zip = package.write_zip
    seen: dict[str, Any] = {}

    def write_zip_then_lose_the_claim(target: Path, **kwargs: Any) -> Any:
        seen["second"] = take_over(first)  # while the first worker is writing its zip
        return real_write_zip(target, **kwargs)

    monkeypatch.setattr(package, "write_zip", write_zip_then_lose_the_claim)
    exporting._run(first)
    monkeypatch.setattr(package, "write_zip", real_write_zip)

    stalled = Export.objects.get(pk=export.pk)
    assert (stalled.status, stalled.attempts, stalled.package_sha256) == (ExportStatus.RUNNING, 2, "")
    assert not package.package_path(export).exists()  # the first worker did not put its zip in place
    assert not package.part_path(package.package_path(export), 1).exists()
    assert ExportClip.objects.filter(export=export, completed_at__isnull=False).count() == 2  # clips kept

    exporting._run(seen["second"])
    done = Export.objects.get(pk=export.pk)
    assert done.status == ExportStatus.DONE
    assert done.package_sha256 == file_sha256(package.package_path(done))
    assert verify_package(package.package_path(done)).ok
    assert AuditEntry.objects.filter(action=Action.EXPORT_COMPLETED).count() == 1
    assert not AuditEntry.objects.filter(action=Action.EXPORT_FAILED).exists()


@pytest.mark.django_db
def test_a_clip_changed_before_packaging_fails_with_its_own_code(
    footage: Footage, monkeypatch: pytest.MonkeyPatch
) -> None:
    export = export_of(footage)
    real_package = exporting._package

    def tamper_then_package(export: Export, clips: list[ExportClip], beat: Any) -> None:
        clip_file = package.work_dir(export) / "CAM-1.mp4"
        data = bytearray(clip_file.read_bytes())
        data[-1] ^= 0xFF  # same size, other bytes
        clip_file.write_bytes(bytes(data))
        real_package(export, clips, beat)

    monkeypatch.setattr(exporting, "_package", tamper_then_package)
    failed = exporting.run_export(export.pk)
    assert (failed.status, failed.error_code) == (ExportStatus.FAILED, "clip_changed")
    assert AuditEntry.objects.get(action=Action.EXPORT_FAILED).details["reason"] == "clip_changed"
    assert not package.package_path(export).exists() and leftovers() == []


@pytest.mark.django_db
def test_an_expired_grant_stops_the_export_at_the_start(footage: Footage) -> None:
    export = export_of(footage)
    end_validity(footage.grant.pk)
    failed = exporting.run_export(export.pk)
    assert (failed.status, failed.error_code) == (ExportStatus.FAILED, "grant_expired")


@pytest.mark.django_db
def test_a_grant_expiring_while_packaging_leaves_no_package(footage: Footage, monkeypatch: pytest.MonkeyPatch) -> None:
    export = export_of(footage)
    real_write_zip = package.write_zip

    def expire_then_write(target: Path, **kwargs: Any) -> Any:
        end_validity(footage.grant.pk)
        return real_write_zip(target, **kwargs)

    monkeypatch.setattr(package, "write_zip", expire_then_write)
    failed = exporting.run_export(export.pk)
    assert (failed.status, failed.error_code, failed.package_sha256) == (ExportStatus.FAILED, "grant_expired", "")
    assert not package.package_path(export).exists() and leftovers() == []
