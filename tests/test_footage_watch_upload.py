"""Watch mode (the worker indexes watched folders when due), the watched-folder form, direct upload, quarantine page."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from django.urls import reverse

from custody.accounts.roles import Role
from custody.audit.events import Action
from custody.audit.models import AuditEntry
from custody.footage import forms as footage_forms
from custody.footage.ingest import FRIGATE_PATTERN, Layout, ingest
from custody.footage.models import IngestLayout, QuarantinedFile, QuarantineReason, Segment, WatchedFolder
from custody.footage.watch import scan_due_folders, scan_watched_folders
from custody.retention import holds
from custody.retention import retention as job
from tests.conftest import Hotel, make_user, signed_in_client
from tests.test_footage_ingest import T0, frigate_path, make_segment

pytestmark = pytest.mark.django_db
NOW = datetime(2026, 3, 2, 12, 0, tzinfo=UTC)


@pytest.fixture
def it_admin(client_for_role: Callable[[str], Client]) -> Client:
    return client_for_role(Role.IT_ADMIN)


@pytest.fixture
def nvr(tmp_path: Path) -> Path:
    root = tmp_path / "frigate"
    for n, offset in enumerate([0, 2, 4]):
        make_segment(frigate_path(root, "CAM-1", T0 + timedelta(seconds=offset)), seed=n)
    frigate_path(root, "CAM-1", T0 + timedelta(minutes=1)).write_bytes(b"not a video at all")
    return root


def watch(hotel: Hotel, path: Path | str, **fields: Any) -> WatchedFolder:
    return WatchedFolder.objects.create(property=hotel.prop, path=str(path), **fields)


# --- watch mode -------------------------------------------------------------------------------------------------


def test_a_watched_frigate_tree_is_indexed_once_and_rescans_add_nothing(hotel: Hotel, nvr: Path) -> None:
    folder = watch(hotel, nvr, every_minutes=5)

    first = scan_due_folders(NOW)

    assert [(r.folder_id, r.result["indexed"], r.result["quarantined"]) for r in first] == [(folder.pk, 3, 1)]
    assert Segment.objects.filter(camera=hotel.camera).count() == 3
    folder.refresh_from_db()
    assert folder.last_scan_at == NOW
    assert folder.last_result == {"files": 4, "indexed": 3, "skipped": 0, "quarantined": 1, "changed": 0, "gaps": 0}

    assert scan_due_folders(NOW + timedelta(minutes=4)) == []  # not due yet: every 5 minutes
    second = scan_due_folders(NOW + timedelta(minutes=5))
    assert [(r.result["indexed"], r.result["skipped"]) for r in second] == [(0, 4)]
    assert Segment.objects.count() == 3
    assert QuarantinedFile.objects.filter(reason_code=QuarantineReason.NOT_VIDEO).count() == 1


def test_a_missing_folder_is_recorded_and_the_others_are_still_scanned(hotel: Hotel, nvr: Path, tmp_path: Path) -> None:
    gone = watch(hotel, tmp_path / "unplugged-disk")
    present = watch(hotel, nvr)
    disabled = watch(hotel, tmp_path, enabled=False)

    results = {r.folder_id: r.result for r in scan_due_folders(NOW)}

    assert results[gone.pk] == {"error": "missing_folder"}
    assert results[present.pk]["indexed"] == 3
    assert disabled.pk not in results
    gone.refresh_from_db()
    assert gone.last_result == {"error": "missing_folder"} and gone.last_scan_at == NOW


def test_the_periodic_task_scans_due_folders(hotel: Hotel, nvr: Path) -> None:
    watch(hotel, nvr)
    assert scan_watched_folders.call() == {"folders": 1, "failed": 0, "indexed": 3, "quarantined": 1}
    assert scan_watched_folders.call()["folders"] == 0  # scanned a moment ago


def test_a_pattern_folder_for_one_camera(hotel: Hotel, tmp_path: Path) -> None:
    root = tmp_path / "dvr"
    make_segment(root / "2026-03-01" / "110000.mp4")  # 11:00 in Madrid = 10:00 UTC
    watch(
        hotel,
        root,
        layout=IngestLayout.PATTERN,
        pattern="%Y-%m-%d/%H%M%S.mp4",
        camera=hotel.camera,
        timezone="Europe/Madrid",
    )
    assert scan_due_folders(NOW)[0].result["indexed"] == 1
    assert Segment.objects.get().start == T0


def test_watched_folder_form_validates_each_field(hotel: Hotel, it_admin: Client, nvr: Path) -> None:
    url = reverse("footage:watch_new", kwargs={"code": "seaside"})
    good = {
        "path": str(nvr),
        "layout": "frigate",
        "pattern": "",
        "camera": "",
        "timezone": "UTC",
        "enabled": "on",
        "every_minutes": "5",
    }
    bad_cases = [
        ({"path": "relative/folder"}, "path", "absolute"),
        ({"path": str(nvr / "nope")}, "path", "no folder"),
        ({"layout": "pattern", "pattern": "%Y/%q.mp4"}, "pattern", "%q is not supported"),
        ({"layout": "pattern", "pattern": "%Y%m%d.mp4"}, "pattern", "needs %H"),
        ({"layout": "pattern", "pattern": "%Y%m%d%H.mp4"}, "camera", "{camera}"),
        (
            {"layout": "pattern", "pattern": "{camera}/%Y%m%d%H.mp4", "timezone": "Mars/Olympus"},
            "timezone",
            "time zone",
        ),
        ({"pattern": "{camera}/%Y%m%d%H.mp4"}, "pattern", "Frigate"),
        ({"every_minutes": "0"}, "every_minutes", ""),
    ]
    for changes, field, message in bad_cases:
        response = it_admin.post(url, {**good, **changes})
        assert response.status_code == 400, changes
        errors = " ".join(response.context["form"].errors.get(field, []))
        assert errors and message in errors, (changes, response.context["form"].errors)
    assert not WatchedFolder.objects.exists()

    assert it_admin.post(url, good).status_code == 302
    folder = WatchedFolder.objects.get()
    assert (folder.path, folder.layout, folder.enabled) == (str(nvr), "frigate", True)
    entry = AuditEntry.objects.filter(action=Action.FOOTAGE_WATCH_SAVED).get()
    assert entry.details["folder"] == folder.pk and entry.details["created"] is True
    assert str(nvr) not in str(entry.details)

    edit = reverse("footage:watch_edit", kwargs={"code": "seaside", "pk": folder.pk})
    assert it_admin.post(edit, {**good, "enabled": ""}).status_code == 302  # disabled
    folder.refresh_from_db()
    assert folder.enabled is False
    assert it_admin.post(url, good).status_code == 400  # the same folder twice
    listing = it_admin.get(reverse("footage:watch_list", kwargs={"code": "seaside"})).content.decode()
    assert str(nvr) in listing and "disabled" in listing


# --- direct upload --------------------------------------------------------------------------------------------------


@pytest.fixture
def home(settings: Any, tmp_path: Path) -> Path:
    settings.CUSTODY_HOME = tmp_path / "home"
    return settings.CUSTODY_HOME


@pytest.fixture
def clips(tmp_path: Path) -> list[Path]:
    paths = [tmp_path / "clips" / "a-first.mp4", tmp_path / "clips" / "b-second.mp4"]
    for n, path in enumerate(paths):
        make_segment(path, seconds=2.0, seed=n)
    return paths


def upload_files(*items: tuple[str, bytes]) -> list[SimpleUploadedFile]:
    return [SimpleUploadedFile(name, data, content_type="video/mp4") for name, data in items]


def test_upload_indexes_clips_back_to_back_and_quarantines_garbage(
    hotel: Hotel, it_admin: Client, home: Path, clips: list[Path]
) -> None:
    url = reverse("footage:upload", kwargs={"code": "seaside"})
    files = upload_files(
        ("c-garbage.mp4", b"\x00\x01 definitely not a video" * 50),
        (clips[1].name, clips[1].read_bytes()),
        (clips[0].name, clips[0].read_bytes()),
    )
    response = it_admin.post(
        url, {"camera": hotel.camera.pk, "start": "2026-03-01T10:00:00", "time_zone": "utc", "videos": files}
    )

    assert response.status_code == 200
    folder = home / "footage" / "uploads" / "seaside" / "CAM-1"
    segments = list(Segment.objects.filter(camera=hotel.camera).order_by("start"))
    assert [s.start for s in segments] == [
        T0,
        T0 + timedelta(seconds=2),
    ]  # name order; the second where the first ended
    assert [Path(s.path).name for s in segments] == ["20260301T100000Z.mp4", "20260301T100002Z.mp4"]
    assert Path(segments[0].path).read_bytes() == clips[0].read_bytes()
    quarantined = QuarantinedFile.objects.get()
    assert quarantined.path == str(folder.absolute() / "20260301T100004Z.mp4")
    assert quarantined.property_id == hotel.prop.pk and quarantined.reason_code == QuarantineReason.NOT_VIDEO

    text = response.content.decode()
    assert "2 of 3 files indexed" in text
    assert "c-garbage.mp4" in text and "Quarantined: Not a video file" in text
    assert text.count("Indexed: 2.0 s") == 2
    entry = AuditEntry.objects.filter(action=Action.FOOTAGE_UPLOADED).get()
    assert entry.details == {
        "camera": "CAM-1",
        "files": 3,
        "indexed": 2,
        "quarantined": 1,
        "duplicate": 0,
        "error": 0,
        "not_stored": 0,
    }
    page = it_admin.get(reverse("footage:quarantine", kwargs={"code": "seaside"})).content.decode()
    assert "20260301T100004Z.mp4" in page and "Not a video file" in page


def test_upload_in_the_property_time_zone_and_never_overwrites(
    hotel: Hotel, it_admin: Client, home: Path, clips: list[Path]
) -> None:
    url = reverse("footage:upload", kwargs={"code": "seaside"})
    data = {"camera": hotel.camera.pk, "start": "2026-03-01T11:00:00", "time_zone": "property"}  # Madrid, UTC+1
    first = it_admin.post(url, {**data, "videos": upload_files((clips[0].name, clips[0].read_bytes()))})
    assert first.status_code == 200
    stored = home / "footage" / "uploads" / "seaside" / "CAM-1" / "20260301T100000Z.mp4"
    assert Segment.objects.get().path == str(stored.absolute())

    again = it_admin.post(url, {**data, "videos": upload_files(("other.mp4", clips[1].read_bytes()))})
    assert "already exists" in again.content.decode()
    assert stored.read_bytes() == clips[0].read_bytes()  # untouched
    assert Segment.objects.count() == 1
    assert AuditEntry.objects.filter(action=Action.FOOTAGE_UPLOADED).order_by("-seq")[0].details["error"] == 1


@pytest.mark.parametrize(
    "changes, field, message",
    [
        ({"start": "yesterday"}, "start", "valid date"),
        ({"start": "2099-01-01T00:00"}, "start", "future"),
        ({"time_zone": "mars"}, "time_zone", "valid choice"),
        ({"camera": "999999"}, "camera", "valid choice"),
        ({"videos": []}, "videos", "required"),
    ],
)
def test_upload_bad_input_is_400_on_the_field(
    hotel: Hotel, it_admin: Client, home: Path, clips: list[Path], changes: dict[str, Any], field: str, message: str
) -> None:
    data = {
        "camera": hotel.camera.pk,
        "start": "2026-03-01T10:00",
        "time_zone": "utc",
        "videos": upload_files((clips[0].name, clips[0].read_bytes())),
        **changes,
    }
    response = it_admin.post(reverse("footage:upload", kwargs={"code": "seaside"}), data)
    assert response.status_code == 400
    assert message in " ".join(response.context["form"].errors[field])
    assert not Segment.objects.exists() and not (home / "footage").exists()


def test_a_file_over_the_size_limit_is_refused_by_name(
    hotel: Hotel, it_admin: Client, home: Path, clips: list[Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(footage_forms, "MAX_UPLOAD_BYTES", 1000)
    data = {
        "camera": hotel.camera.pk,
        "start": "2026-03-01T10:00",
        "time_zone": "utc",
        "videos": upload_files(("huge.mp4", clips[0].read_bytes())),
    }
    response = it_admin.post(reverse("footage:upload", kwargs={"code": "seaside"}), data)
    assert response.status_code == 400
    assert "2 GiB" in response.content.decode() and "huge.mp4" in response.context["form"].errors["videos"][0]
    assert not (home / "footage").exists()


# --- one file, one property -----------------------------------------------------------------------------------------


def _folder_post(**changes: Any) -> dict[str, str]:
    return {
        "path": "", "layout": "frigate", "pattern": "", "camera": "", "timezone": "UTC", "enabled": "on",
        "every_minutes": "5", **changes,
    }  # fmt: skip


def test_the_folder_form_refuses_overlapping_and_custody_data_folders(
    hotel: Hotel, other_hotel: Hotel, nvr: Path, home: Path
) -> None:
    watch(hotel, nvr)  # property A watches its NVR
    inner = nvr.parent / "outer" / "inner"
    inner.mkdir(parents=True)
    watch(hotel, inner)
    b_admin = signed_in_client(make_user("smB", other_hotel.prop, Role.SECURITY_MANAGER, totp_device=True))
    url = reverse("footage:watch_new", kwargs={"code": other_hotel.prop.code})
    (nvr / "recordings").mkdir(exist_ok=True)
    for data in ("keys", "media", "packages", "cache", "footage/uploads", "nvr"):
        (home / data).mkdir(parents=True, exist_ok=True)
    refused = [
        (f"{nvr}/../{nvr.name}", "another property"),  # A's folder, spelled another way
        (str(nvr / "recordings"), "another property"),  # inside it
        (str(inner.parent), "another property"),  # containing one
        (str(home), "data folder"),
        (str(home / "keys"), "data folder"),
        (str(home / "footage" / "uploads"), "data folder"),
        (str(home / "packages"), "data folder"),
        (str(home.parent.parent), "data folder"),  # contains CUSTODY_HOME
    ]
    for path, message in refused:
        response = b_admin.post(url, _folder_post(path=path))
        assert response.status_code == 400, path
        assert message in " ".join(response.context["form"].errors["path"]), path
    assert not WatchedFolder.objects.filter(property=other_hotel.prop).exists()

    # CUSTODY_HOME/nvr (what the demo uses) is fine, and is stored resolved.
    assert b_admin.post(url, _folder_post(path=f"{home}/keys/../nvr")).status_code == 302
    assert WatchedFolder.objects.get(property=other_hotel.prop).path == str((home / "nvr").resolve())
    # The same property may not watch a folder twice under another spelling, nor one inside another.
    a_admin = signed_in_client(make_user("smA", hotel.prop, Role.SECURITY_MANAGER, totp_device=True))
    a_url = reverse("footage:watch_new", kwargs={"code": hotel.prop.code})
    response = a_admin.post(a_url, _folder_post(path=str(nvr / "recordings")))
    assert response.status_code == 400
    assert f"{nvr.resolve()}, which this property already watches" in response.context["form"].errors["path"][0]


def test_another_spelling_of_a_held_folder_indexes_nothing_and_destroys_nothing(
    hotel: Hotel, other_hotel: Hotel, nvr: Path
) -> None:
    watch(hotel, nvr)
    scan_due_folders(NOW)
    a_segments = list(Segment.objects.filter(camera=hotel.camera))
    assert len(a_segments) == 3 and all(s.path == str(Path(s.path).resolve()) for s in a_segments)
    holds.set_hold(
        hotel.prop, cameras=[hotel.camera], start=T0 - timedelta(minutes=1), end=T0 + timedelta(minutes=1),
        case_reference="CASE-1", reason="court order", acting_user=make_user("pm", hotel.prop, Role.PROPERTY_MANAGER),
    )  # fmt: skip
    # Saved directly (as before the form's checks): the files are known by their resolved path, so B gets none.
    sneaky = WatchedFolder.objects.create(property=other_hotel.prop, path=f"{nvr}/../{nvr.name}")
    result = {r.folder_id: r.result for r in scan_due_folders(NOW)}[sneaky.pk]
    assert result == {"error": "protected_folder"}
    outcome = ingest([Path(f"{nvr}/../{nvr.name}")], prop=other_hotel.prop, layout=Layout.compile(FRIGATE_PATTERN))
    assert outcome.indexed == 0
    assert not Segment.objects.filter(camera__property=other_hotel.prop).exists()

    other_hotel.camera.retention_days = 1
    other_hotel.camera.save()
    job.run_footage_retention(other_hotel.prop, now=T0 + timedelta(days=5))
    assert all(Path(s.path).exists() for s in a_segments)
