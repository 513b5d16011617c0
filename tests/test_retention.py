"""Footage retention: only expired, unheld segments are destroyed; held footage never is, also when the disk fills."""

from __future__ import annotations

import hashlib
import io
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.utils import timezone

from custody.audit.events import Action
from custody.audit.models import AuditEntry
from custody.footage.models import Camera, Segment
from custody.requests.models import AccessRequest, Alert, AlertKind, Preservation
from custody.retention import holds
from custody.retention import retention as job
from custody.retention.models import DestructionKind, DestructionRecord
from tests.conftest import Hotel, make_user

NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


def add_segment(camera: Camera, root: Path, start: datetime, seconds: int = 10, *, write: bool = True) -> Segment:
    """A segment row with a small file behind it (retention never reads the video, only deletes the file)."""
    path = root / camera.code / start.strftime("%Y-%m-%d/%H%M%S.mp4")
    body = f"{camera.code} {start.isoformat()}".encode() * 20
    if write:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(body)
    return Segment.objects.create(
        camera=camera, start=start, end=start + timedelta(seconds=seconds), duration=seconds, path=str(path),
        size=len(body), mtime_ns=0, codec="h264", width=320, height=240, sha256=hashlib.sha256(body).hexdigest(),
    )  # fmt: skip


def bare_request(hotel: Hotel, user: Any) -> AccessRequest:
    """A footage request row, enough for a Preservation to point at (the request flow is tested elsewhere)."""
    return AccessRequest.objects.create(
        property=hotel.prop,
        number="R-TEST-1",
        requester=user,
        request_type="footage_view",
        purpose="incident",
        legal_basis="legitimate_interest",
        wrapped_key=b"",
        kek_version=1,
    )


def days_ago(days: float, plus_seconds: int = 0) -> datetime:
    return NOW - timedelta(days=days) + timedelta(seconds=plus_seconds)


@pytest.fixture
def manager(hotel: Hotel) -> Any:
    return make_user("pm", hotel.prop, "property_manager")


@pytest.fixture
def footage(hotel: Hotel, tmp_path: Path) -> dict[str, Any]:
    """CAM-1 keeps 30 days: three old segments (40 days), one fresh (1 day). CAM-2 keeps 7 days: two at 10 days."""
    cam1 = hotel.camera
    cam2 = Camera(property=hotel.prop, area=hotel.lobby, code="CAM-2", name="Entrance", retention_days=7)
    cam2.save()
    root = tmp_path / "nvr"
    old1 = [add_segment(cam1, root, days_ago(40, 10 * i)) for i in range(3)]
    fresh = add_segment(cam1, root, days_ago(1))
    old2 = [add_segment(cam2, root, days_ago(10, 10 * i)) for i in range(2)]
    return {"cam1": cam1, "cam2": cam2, "old1": old1, "fresh": fresh, "old2": old2, "root": root}


def live(segment: Segment) -> bool:
    segment.refresh_from_db()
    return segment.destroyed_at is None and Path(segment.path).exists()


def destroyed(segment: Segment) -> bool:
    segment.refresh_from_db()
    return segment.destroyed_at is not None and not Path(segment.path).exists()


def digest_of(segments: list[Segment]) -> str:
    return hashlib.sha256("\n".join(sorted(s.sha256 for s in segments)).encode()).hexdigest()


def actions(action: Action) -> list[AuditEntry]:
    return list(AuditEntry.objects.filter(action=action).order_by("seq"))


@pytest.mark.django_db
def test_only_expired_segments_are_destroyed_with_a_record(hotel: Hotel, footage: dict[str, Any]) -> None:
    report = job.run_footage_retention(hotel.prop, now=NOW)

    gone = footage["old1"] + footage["old2"]
    assert all(destroyed(s) for s in gone)
    assert live(footage["fresh"])
    assert report.destroyed == 5 and report.held == 0 and report.failed == 0

    record = DestructionRecord.objects.get()
    assert record.kind == DestructionKind.FOOTAGE_RETENTION
    assert record.segments_destroyed == 5
    assert record.bytes_destroyed == sum(s.size for s in gone)
    assert record.segments_held == 0 and record.segments_failed == 0
    assert record.finished_at is not None
    assert record.hashes_digest == digest_of(gone)
    assert set(record.segments.values_list("pk", flat=True)) == {s.pk for s in gone}
    by_code = {c["code"]: c for c in record.details["cameras"]}
    assert by_code["CAM-1"]["destroyed"] == 3 and by_code["CAM-1"]["retention_days"] == 30
    assert by_code["CAM-1"]["cutoff"] == "2026-01-30T12:00:00Z"
    assert by_code["CAM-2"]["destroyed"] == 2 and by_code["CAM-2"]["cutoff"] == "2026-02-22T12:00:00Z"

    run = actions(Action.RETENTION_RUN)
    assert len(run) == 1 and run[0].details["destroyed"] == 5 and run[0].details["records"] == [str(record.pk)]
    per_camera = {e.details["camera"]: e.details for e in actions(Action.FOOTAGE_DESTROYED)}
    assert per_camera["CAM-1"]["destroyed"] == 3 and per_camera["CAM-2"]["destroyed"] == 2
    assert per_camera["CAM-1"]["record"] == str(record.pk)


@pytest.mark.django_db
def test_the_end_decides_not_the_start(hotel: Hotel, tmp_path: Path) -> None:
    # Starts before the cutoff but ends after it: still within retention.
    straddling = add_segment(hotel.camera, tmp_path, days_ago(30, -5), seconds=10)
    job.run_footage_retention(hotel.prop, now=NOW)
    assert live(straddling)
    assert not DestructionRecord.objects.exists()


@pytest.mark.django_db
def test_rerun_adds_nothing(hotel: Hotel, footage: dict[str, Any]) -> None:
    job.run_footage_retention(hotel.prop, now=NOW)
    entries = AuditEntry.objects.filter(action=Action.FOOTAGE_DESTROYED).count()
    report = job.run_footage_retention(hotel.prop, now=NOW)
    assert report.destroyed == 0
    assert DestructionRecord.objects.count() == 1
    assert AuditEntry.objects.filter(action=Action.FOOTAGE_DESTROYED).count() == entries
    assert live(footage["fresh"])


@pytest.mark.django_db
def test_dry_run_changes_nothing(hotel: Hotel, footage: dict[str, Any]) -> None:
    before = AuditEntry.objects.count()
    report = job.run_footage_retention(hotel.prop, now=NOW, dry_run=True)
    assert report.due == 5 and report.destroyed == 0
    assert all(live(s) for s in footage["old1"] + footage["old2"])
    assert not DestructionRecord.objects.exists()
    assert AuditEntry.objects.count() == before


@pytest.mark.django_db
def test_legal_hold_keeps_footage_until_released(hotel: Hotel, footage: dict[str, Any], manager: Any) -> None:
    first = footage["old1"][0]
    hold = holds.set_hold(
        hotel.prop, cameras=[hotel.camera], start=first.start + timedelta(seconds=2),
        end=first.start + timedelta(seconds=12), case_reference="CLAIM-7/2026", reason="Slip in the lobby",
        acting_user=manager,
    )  # fmt: skip
    # The window overlaps the first two CAM-1 segments (0-10 s and 10-20 s); the third and CAM-2 are not held.
    job.run_footage_retention(hotel.prop, now=NOW)
    assert live(footage["old1"][0]) and live(footage["old1"][1])
    assert destroyed(footage["old1"][2])
    assert all(destroyed(s) for s in footage["old2"])
    record = DestructionRecord.objects.get()
    assert record.segments_held == 2 and record.segments_destroyed == 3
    by_code = {c["code"]: c for c in record.details["cameras"]}
    assert by_code["CAM-1"]["held"] == 2

    # Still held on the next day; once released, the next run destroys them.
    job.run_footage_retention(hotel.prop, now=NOW + timedelta(days=1))
    assert live(footage["old1"][0])
    holds.release_hold(hold, reason="Claim settled", acting_user=manager)
    job.run_footage_retention(hotel.prop, now=NOW + timedelta(days=2))
    assert destroyed(footage["old1"][0]) and destroyed(footage["old1"][1])


@pytest.mark.django_db
def test_a_hold_on_another_camera_does_not_keep_this_one(hotel: Hotel, footage: dict[str, Any], manager: Any) -> None:
    first = footage["old1"][0]
    holds.set_hold(
        hotel.prop, cameras=[footage["cam2"]], start=first.start, end=first.end, case_reference="X1",
        reason="other camera", acting_user=manager,
    )  # fmt: skip
    job.run_footage_retention(hotel.prop, now=NOW)
    assert destroyed(first)


@pytest.mark.django_db
def test_preservation_of_a_request_keeps_footage(hotel: Hotel, footage: dict[str, Any], manager: Any) -> None:
    access = bare_request(hotel, manager)
    preserved = Preservation.objects.create(
        request=access, property=hotel.prop, window_start=footage["old2"][0].start,
        window_end=footage["old2"][1].end,
    )  # fmt: skip
    preserved.cameras.set([footage["cam2"]])
    job.run_footage_retention(hotel.prop, now=NOW)
    assert all(live(s) for s in footage["old2"])
    assert all(destroyed(s) for s in footage["old1"])

    Preservation.objects.filter(pk=preserved.pk).update(released_at=NOW)
    job.run_footage_retention(hotel.prop, now=NOW)
    assert all(destroyed(s) for s in footage["old2"])


@pytest.mark.django_db
def test_missing_files_count_as_destroyed_missing(hotel: Hotel, footage: dict[str, Any]) -> None:
    gone_already = footage["old1"][0]
    Path(gone_already.path).unlink()
    report = job.run_footage_retention(hotel.prop, now=NOW)
    assert report.failed == 0 and report.destroyed == 5
    gone_already.refresh_from_db()
    assert gone_already.destroyed_at is not None
    cam1 = {c["code"]: c for c in DestructionRecord.objects.get().details["cameras"]}["CAM-1"]
    assert cam1["missing"] == 1 and cam1["destroyed"] == 3


@pytest.mark.django_db
def test_a_file_that_cannot_be_deleted_is_a_failure_and_stays_live(
    hotel: Hotel, footage: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    stuck = footage["old2"][0]
    original = Path.unlink

    def unlink(self: Path, missing_ok: bool = False) -> None:
        if str(self) == stuck.path:
            raise PermissionError("read-only")
        original(self, missing_ok)

    monkeypatch.setattr(Path, "unlink", unlink)
    report = job.run_footage_retention(hotel.prop, now=NOW)
    assert report.failed == 1 and report.destroyed == 4
    assert live(stuck)
    assert DestructionRecord.objects.get().segments_failed == 1
    monkeypatch.setattr(Path, "unlink", original)
    job.run_footage_retention(hotel.prop, now=NOW)
    assert destroyed(stuck)


@pytest.mark.django_db
def test_a_killed_run_resumes_into_its_record(
    hotel: Hotel, footage: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    # The first file is deleted, then the job dies before marking the rows (the batch's transaction never runs).
    monkeypatch.setattr(job, "BATCH_SIZE", 1)
    calls = {"n": 0}

    class Killed(Exception):
        pass

    real_destroy = job._Destroyer.destroy

    def dying_destroy(self: Any, segments: list[Segment], counts: Any) -> int:
        calls["n"] += 1
        if calls["n"] == 2:
            for segment in segments:
                Path(segment.path).unlink()
            raise Killed
        return real_destroy(self, segments, counts)

    monkeypatch.setattr(job._Destroyer, "destroy", dying_destroy)
    with pytest.raises(Killed):
        job.run_footage_retention(hotel.prop, now=NOW)
    unfinished = DestructionRecord.objects.get()
    assert unfinished.finished_at is None and unfinished.segments_destroyed == 1

    monkeypatch.setattr(job._Destroyer, "destroy", real_destroy)
    report = job.run_footage_retention(hotel.prop, now=NOW)
    record = DestructionRecord.objects.get()  # the same record, continued
    assert record.pk == unfinished.pk and record.finished_at is not None
    gone = footage["old1"] + footage["old2"]
    assert all(destroyed(s) for s in gone)
    assert record.segments_destroyed == 5 and record.hashes_digest == digest_of(gone)
    assert sum(c.missing for r in report.runs for c in r.cameras.values()) == 1


@pytest.mark.django_db
def test_evidence_packages_are_never_touched(hotel: Hotel, footage: dict[str, Any], settings: Any) -> None:
    packages = Path(settings.CUSTODY_HOME) / "packages"
    packages.mkdir(parents=True, exist_ok=True)
    package = packages / "retention-test-package.zip"
    package.write_bytes(b"PK signed package")
    try:
        # Even a segment row pointing into the packages folder is refused.
        rogue = footage["old2"][0]
        Path(rogue.path).unlink()
        Segment.objects.filter(pk=rogue.pk).update(path=str(package))
        report = job.run_footage_retention(hotel.prop, now=NOW)
        assert package.read_bytes() == b"PK signed package"
        assert report.failed == 1
    finally:
        package.unlink()


# --- disk pressure ---------------------------------------------------------------------------------------------


class FakeDisk:
    """Pretends the footage disk is full until `frees` segments have been deleted."""

    def __init__(self, root: Path, frees: int) -> None:
        self.root = root
        self.frees = frees
        self.start = self.count()

    def count(self) -> int:
        return sum(1 for p in self.root.rglob("*.mp4"))

    def __call__(self, path: Any) -> job.FreeSpace:
        freed = self.start - self.count()
        return job.FreeSpace(total=100, free=2 if freed < self.frees else 50)


@pytest.mark.django_db
def test_disk_pressure_destroys_oldest_unheld_first(
    hotel: Hotel, tmp_path: Path, manager: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    root = tmp_path / "nvr"
    recent = [add_segment(hotel.camera, root, days_ago(5 - i)) for i in range(5)]  # all within retention
    held = recent[0]
    holds.set_hold(
        hotel.prop, cameras=[hotel.camera], start=held.start, end=held.end, case_reference="LOCK-1", reason="r",
        acting_user=manager,
    )  # fmt: skip
    monkeypatch.setattr(job, "free_space_check", FakeDisk(root, frees=2))

    report = job.run_footage_retention(hotel.prop, now=NOW)

    assert live(held)  # the oldest, but held
    assert destroyed(recent[1]) and destroyed(recent[2])  # the next oldest, until the disk is fine
    assert live(recent[3]) and live(recent[4])
    record = DestructionRecord.objects.get(kind=DestructionKind.DISK_PRESSURE)
    assert record.segments_destroyed == 2 and record.hashes_digest == digest_of(recent[1:3])
    alert = Alert.objects.get(kind=AlertKind.DISK_LOW)
    assert report.disk[0].alert_id == alert.pk and not report.disk[0].only_held_left
    raised = actions(Action.ALERT_RAISED)
    assert raised and raised[-1].details["kind"] == "disk_low"


@pytest.mark.django_db
def test_disk_pressure_never_deletes_held_footage(
    hotel: Hotel, tmp_path: Path, manager: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    root = tmp_path / "nvr"
    segments = [add_segment(hotel.camera, root, days_ago(3, 10 * i)) for i in range(3)]
    old = add_segment(hotel.camera, root, days_ago(60))
    holds.set_hold(
        hotel.prop, cameras=[hotel.camera], start=segments[0].start, end=segments[1].end, case_reference="LOCK-2",
        reason="r", acting_user=manager,
    )  # fmt: skip
    access = bare_request(hotel, manager)
    preserved = Preservation.objects.create(
        request=access, property=hotel.prop, window_start=segments[2].start, window_end=segments[2].end
    )
    preserved.cameras.set([hotel.camera])
    monkeypatch.setattr(job, "free_space_check", lambda path: job.FreeSpace(total=100, free=1))  # never enough

    report = job.run_footage_retention(hotel.prop, now=NOW)

    assert destroyed(old)  # expired anyway
    assert all(live(s) for s in segments)
    assert report.disk and report.disk[0].only_held_left
    assert Alert.objects.filter(property=hotel.prop, kind=AlertKind.DISK_LOW).count() == 1
    assert actions(Action.ALERT_RAISED)[-1].details["only_held_left"] is True


# --- CLI and task ----------------------------------------------------------------------------------------------


@pytest.mark.django_db
def test_cli_run_prints_per_camera_counts(hotel: Hotel, tmp_path: Path) -> None:
    now = timezone.now()
    old = [add_segment(hotel.camera, tmp_path, now - timedelta(days=40, seconds=10 * i)) for i in range(3)]
    fresh = add_segment(hotel.camera, tmp_path, now - timedelta(days=1))
    out, err = io.StringIO(), io.StringIO()
    call_command("retention", "run", "--property", hotel.prop.code, "--dry-run", stdout=out, stderr=err)
    assert "seaside CAM-1 (keep 30 d, cutoff" in out.getvalue()
    assert "would destroy 3" in out.getvalue()
    assert all(live(s) for s in old)

    out = io.StringIO()
    call_command("retention", "run", stdout=out, stderr=err)
    assert "total: destroyed 3 segments, held 0, failed 0" in out.getvalue()
    assert "seaside CAM-1: destroyed 3" in err.getvalue()  # progress
    assert all(destroyed(s) for s in old) and live(fresh)


@pytest.mark.django_db
def test_cli_unknown_property_and_holds_listing(hotel: Hotel, manager: Any) -> None:
    with pytest.raises(CommandError, match="--property"):
        call_command("retention", "run", "--property", "nowhere")
    holds.set_hold(
        hotel.prop, cameras=[hotel.camera], start=NOW - timedelta(hours=1), end=NOW, case_reference="CASE-9",
        reason="Secret reason text", acting_user=manager,
    )  # fmt: skip
    out = io.StringIO()
    call_command("retention", "holds", stdout=out)
    assert "seaside CASE-9" in out.getvalue() and "cameras=CAM-1" in out.getvalue()
    assert "Secret reason" not in out.getvalue()
    assert "1 active legal holds" in out.getvalue()


@pytest.mark.django_db
def test_task_runs_every_property(hotel: Hotel, other_hotel: Hotel, tmp_path: Path) -> None:
    from custody.retention.tasks import run_retention

    now = timezone.now()
    here = add_segment(hotel.camera, tmp_path, now - timedelta(days=400))
    there = add_segment(other_hotel.camera, tmp_path / "other", now - timedelta(days=400))
    today = add_segment(hotel.camera, tmp_path, now - timedelta(hours=1))
    result = run_retention.call()
    assert result["destroyed"] == 2 and len(result["records"]) == 2
    assert destroyed(here) and destroyed(there) and live(today)

    again = add_segment(hotel.camera, tmp_path, now - timedelta(days=300))
    assert run_retention.call(property_code="hilltop")["destroyed"] == 0  # only the property asked for
    assert live(again)


# --- races and footage indexed twice ------------------------------------------------------------------------------


@pytest.mark.django_db
def test_a_hold_set_while_a_batch_is_being_destroyed_protects_it(
    hotel: Hotel, footage: dict[str, Any], manager: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    original = job._Destroyer.destroy
    calls: list[int] = []

    def destroy(self: Any, segments: list[Segment], counts: Any) -> int:
        if not calls:  # a manager sets a hold after the batch was read, before its files are deleted
            holds.set_hold(
                hotel.prop, cameras=[footage["cam1"]], start=days_ago(41), end=days_ago(39),
                case_reference="CASE-9", reason="police request", acting_user=manager,
            )  # fmt: skip
        calls.append(len(segments))
        return int(original(self, segments, counts))

    monkeypatch.setattr(job._Destroyer, "destroy", destroy)
    report = job.run_footage_retention(hotel.prop, now=NOW)

    assert calls[0] == 3  # the batch had been read with the three CAM-1 segments in it
    assert all(live(s) for s in footage["old1"])
    assert all(destroyed(s) for s in footage["old2"])
    assert report.held == 3 and report.destroyed == 2
    assert DestructionRecord.objects.get().segments_held == 3


@pytest.mark.django_db
def test_a_copy_held_at_another_property_is_not_destroyed(
    hotel: Hotel, other_hotel: Hotel, footage: dict[str, Any], tmp_path: Path
) -> None:
    # Property B indexed the same recordings: one by the same file under another spelling, one as a copy.
    a_first, a_second, a_third = footage["old1"]
    holds.set_hold(
        hotel.prop, cameras=[footage["cam1"]], start=days_ago(41), end=days_ago(39), case_reference="CASE-1",
        reason="court order", acting_user=make_user("pmA", hotel.prop, "property_manager"),
    )  # fmt: skip
    spelled = Path(a_first.path)
    same_file = Segment.objects.create(
        camera=other_hotel.camera, start=a_first.start, end=a_first.end, duration=10,
        path=f"{spelled.parent}/../{spelled.parent.name}/{spelled.name}", size=a_first.size, mtime_ns=0,
        codec="h264", width=320, height=240, sha256="0" * 64,
    )  # fmt: skip
    copy = tmp_path / "copy.mp4"
    copy.write_bytes(Path(a_second.path).read_bytes())
    same_bytes = Segment.objects.create(
        camera=other_hotel.camera, start=a_second.start, end=a_second.end, duration=10, path=str(copy),
        size=a_second.size, mtime_ns=0, codec="h264", width=320, height=240, sha256=a_second.sha256,
    )  # fmt: skip
    other_hotel.camera.retention_days = 1
    other_hotel.camera.save()

    report = job.run_footage_retention(other_hotel.prop, now=NOW)

    assert all(live(s) for s in (a_first, a_second, a_third))
    assert live(same_file) and live(same_bytes)  # counted as held, not destroyed
    assert report.destroyed == 0 and report.held == 2


@pytest.mark.django_db
def test_a_second_run_while_one_is_in_progress_does_nothing(hotel: Hotel, footage: dict[str, Any]) -> None:
    with job.property_lock(hotel.prop) as mine:  # the daily job is working on this property
        assert mine
        lines: list[str] = []
        report = job.run_footage_retention(hotel.prop, now=NOW, progress=lines.append)
        assert report.busy == [hotel.prop.code] and report.runs == []
        assert "another retention run is in progress" in lines[-1]
        assert all(live(s) for s in footage["old1"] + footage["old2"])
        assert not DestructionRecord.objects.exists() and not actions(Action.RETENTION_RUN)
    # Once it is done, the next run proceeds.
    assert job.run_footage_retention(hotel.prop, now=NOW).destroyed == 5
