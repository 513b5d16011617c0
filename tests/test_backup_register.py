"""The backup register: recording copies (good and bad input), marking them destroyed, the CSV export."""

from __future__ import annotations

import csv
import datetime as dt
import io
from collections.abc import Callable
from typing import Any

import pytest
from django.test import Client

from custody.accounts.roles import Role
from custody.audit.events import Action
from custody.audit.models import AuditEntry
from custody.footage.models import Camera
from custody.retention.backups import duration_text, safe_cell
from custody.retention.models import BackupContent, BackupMedium, BackupRecord
from tests.conftest import Hotel, make_user

URL = "/p/seaside/retention/backups/"
HEADER = [
    "Date", "Content", "Description", "Cameras", "Footage from", "Footage until", "Duration (h:mm:ss)", "Medium",
    "Location", "SHA-256", "Made by (username)", "Recorded at", "Kept until", "Destroyed on",
]  # fmt: skip


@pytest.fixture(autouse=True)
def _fast_hashing(settings: Any) -> None:
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture
def maker(hotel: Hotel) -> Any:
    return make_user("officer-li", hotel.prop, Role.SECURITY_OFFICER)


@pytest.fixture
def it_client(client_for_role: Callable[[str], Client]) -> Client:
    return client_for_role(Role.IT_ADMIN)


def good(hotel: Hotel, maker: Any, **changes: Any) -> dict[str, Any]:
    data = {
        "made_on": "2026-01-12", "content": BackupContent.FOOTAGE, "description": "大堂摄像头 1月10日 录像",
        "cameras": [hotel.camera.pk], "window_start": "2026-01-10T10:00", "window_end": "2026-01-10T11:30:15",
        "keep_until": "2026-07-12", "medium": BackupMedium.USB, "location": "Security office safe",
        "sha256": "AB" * 32, "made_by": maker.pk,
    }  # fmt: skip
    data.update(changes)
    return {k: v for k, v in data.items() if v is not None}


@pytest.mark.django_db
def test_recording_a_copy(hotel: Hotel, maker: Any, it_client: Client) -> None:
    response = it_client.post(URL + "new/", good(hotel, maker))
    assert response.status_code == 302 and response["Location"] == URL
    entry = BackupRecord.objects.get()
    assert entry.property == hotel.prop and entry.made_by == maker
    assert entry.sha256 == "ab" * 32  # normalised to lower case
    assert list(entry.cameras.all()) == [hotel.camera]
    assert entry.duration_seconds == 5415  # 1:30:15, entered in Madrid time
    assert entry.window_start == dt.datetime(2026, 1, 10, 9, 0, tzinfo=dt.UTC)
    audit = AuditEntry.objects.filter(action=Action.BACKUP_RECORDED).get()
    assert audit.details["cameras"] == ["CAM-1"] and audit.details["backup"] == entry.pk
    page = it_client.get(URL).content.decode()
    assert "大堂摄像头" in page and "officer-li" in page


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"made_on": "12/01/2026"}, "made_on"),
        ({"made_on": None}, "made_on"),
        ({"content": "everything"}, "content"),
        ({"description": ""}, "description"),
        ({"medium": "floppy"}, "medium"),
        ({"location": ""}, "location"),
        ({"sha256": "xyz"}, "sha256"),
        ({"sha256": "a" * 63}, "sha256"),
        ({"made_by": 999999}, "made_by"),
        ({"window_end": "2026-01-10T09:00"}, "window_end"),
        ({"window_end": None}, "window_end"),
        ({"keep_until": "2025-12-31"}, "keep_until"),
        ({"cameras": []}, "cameras"),
        ({"export": "00000000-0000-0000-0000-000000000000"}, "export"),
    ],
)
@pytest.mark.django_db
def test_bad_input_names_the_field(
    hotel: Hotel, maker: Any, it_client: Client, changes: dict[str, Any], field: str
) -> None:
    data = good(hotel, maker)
    for key, value in changes.items():
        if value is None:
            data.pop(key, None)
        else:
            data[key] = value
    response = it_client.post(URL + "new/", data)
    assert response.status_code == 400
    assert field in response.context["form"].errors, response.context["form"].errors
    assert not BackupRecord.objects.exists()
    assert not AuditEntry.objects.filter(action=Action.BACKUP_RECORDED).exists()


@pytest.mark.django_db
def test_made_by_and_cameras_must_be_of_this_property(
    hotel: Hotel, other_hotel: Hotel, maker: Any, it_client: Client
) -> None:
    stranger = make_user("stranger", other_hotel.prop, Role.SECURITY_OFFICER)
    response = it_client.post(URL + "new/", good(hotel, maker, made_by=stranger.pk, cameras=[other_hotel.camera.pk]))
    assert response.status_code == 400
    assert {"made_by", "cameras"} <= set(response.context["form"].errors)
    assert not BackupRecord.objects.exists()


@pytest.mark.django_db
def test_marking_a_copy_destroyed(hotel: Hotel, maker: Any, client_for_role: Callable[[str], Client]) -> None:
    manager = client_for_role(Role.SECURITY_MANAGER)
    manager.post(URL + "new/", good(hotel, maker))
    entry = BackupRecord.objects.get()
    response = manager.post(f"{URL}{entry.pk}/", good(hotel, maker, destroyed_on="2026-01-05"))
    assert response.status_code == 400 and "destroyed_on" in response.context["form"].errors
    response = manager.post(f"{URL}{entry.pk}/", good(hotel, maker, destroyed_on="2026-03-01", sha256="ab" * 32))
    assert response.status_code == 302
    entry.refresh_from_db()
    assert entry.destroyed_on == dt.date(2026, 3, 1)
    update = AuditEntry.objects.filter(action=Action.BACKUP_UPDATED).get()
    assert update.details["changed"] == ["destroyed_on"] and update.details["destroyed"] is True
    # Auditors read the register but cannot change it.
    auditor = client_for_role(Role.AUDITOR)
    assert auditor.get(URL).status_code == 200
    assert auditor.post(f"{URL}{entry.pk}/", good(hotel, maker)).status_code == 403


def read_csv(body: bytes) -> list[list[str]]:
    assert body.startswith(b"\xef\xbb\xbf")  # UTF-8 byte-order mark, so Excel reads the Chinese right
    return list(csv.reader(io.StringIO(body[3:].decode("utf-8"))))


@pytest.mark.django_db
def test_csv_export(hotel: Hotel, maker: Any, it_client: Client, client_for_role: Callable[[str], Client]) -> None:
    second = Camera(property=hotel.prop, area=hotel.lobby, code="CAM-2", name="Door")
    second.save()
    it_client.post(URL + "new/", good(hotel, maker, cameras=[hotel.camera.pk, second.pk]))
    it_client.post(
        URL + "new/",
        good(
            hotel, maker, made_on="2026-02-01", content=BackupContent.DATABASE, cameras=[], window_start="",
            window_end="", description="=HYPERLINK(\"http://evil\")", location="+1 cabinet", sha256="",
            keep_until="",
        ),
    )  # fmt: skip
    assert BackupRecord.objects.count() == 2

    response = client_for_role(Role.AUDITOR).get(URL + "register.csv")
    assert response.status_code == 200
    assert response["Content-Type"] == "text/csv; charset=utf-8"
    assert "attachment" in response["Content-Disposition"]
    rows = read_csv(response.content)
    assert rows[0] == HEADER
    database, footage = rows[1], rows[2]  # newest first
    assert footage[:10] == [
        "2026-01-12", "Footage segments", "大堂摄像头 1月10日 录像", "CAM-1 CAM-2", "2026-01-10 10:00:00",
        "2026-01-10 11:30:15", "1:30:15", "USB stick", "Security office safe", "ab" * 32,
    ]  # fmt: skip
    assert footage[10] == "officer-li" and footage[12] == "2026-07-12" and footage[13] == ""
    assert database[2] == '\'=HYPERLINK("http://evil")'  # never run as a formula
    assert database[8] == "'+1 cabinet"
    assert database[3] == "" and database[6] == ""
    exported = AuditEntry.objects.filter(action=Action.BACKUP_REGISTER_EXPORTED).get()
    assert exported.details["rows"] == 2

    filtered = read_csv(it_client.get(URL + "register.csv?content=footage").content)
    assert len(filtered) == 2 and filtered[1][1] == "Footage segments"
    by_date = read_csv(it_client.get(URL + "register.csv?made_from=2026-01-20").content)
    assert [row[0] for row in by_date[1:]] == ["2026-02-01"]
    bad = it_client.get(URL + "register.csv?made_from=2026-02-01&made_until=2026-01-01")
    assert bad.status_code == 400 and b"made_until" in bad.content


@pytest.mark.django_db
def test_list_filter(hotel: Hotel, maker: Any, it_client: Client) -> None:
    it_client.post(URL + "new/", good(hotel, maker))
    it_client.post(URL + "new/", good(hotel, maker, content=BackupContent.AUDIT_LOG, cameras=[], description="Audit"))
    page = it_client.get(URL + "?content=audit_log")
    assert page.status_code == 200 and [e.description for e in page.context["page"].object_list] == ["Audit"]
    assert it_client.get(URL + "?made_from=not-a-date").status_code == 400


@pytest.mark.django_db
def test_chinese_interface(hotel: Hotel, maker: Any, it_client: Client) -> None:
    it_client.cookies["django_language"] = "zh-hans"
    page = it_client.get(URL, HTTP_ACCEPT_LANGUAGE="zh-hans").content.decode()
    assert "备份登记" in page


def test_cells_and_durations() -> None:
    assert [safe_cell(v) for v in ["=1+1", "+1", "-1", "@SUM(A1)", "\tx", "plain", None, 5]] == [
        "'=1+1", "'+1", "'-1", "'@SUM(A1)", "'\tx", "plain", "", "5",
    ]  # fmt: skip
    assert duration_text(None) == "" and duration_text(59.6) == "0:01:00" and duration_text(90061) == "25:01:01"
