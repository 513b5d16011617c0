"""Every camera registry, map, watched-folder, upload and quarantine URL for every role (GET and POST)."""

# The fixtures `world` and `client_as` come from tests.test_permissions; the tests name them as arguments.
# ruff: noqa: F811

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from django.conf import settings
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from custody.accounts.roles import Role
from custody.footage.models import Camera, Segment, WatchedFolder
from tests.test_footage_ingest import make_segment
from tests.test_permissions import (  # noqa: F401  (fixtures)
    METHOD_NOT_ALLOWED,
    WHO,
    Post,
    Redirect,
    Row,
    World,
    at_hotel,
    client_as,
    fast_hashing,
    post_rows,
    prop_kwargs,
    run_get,
    run_post,
    world,
)

SO, SM, PO, PM, IT = (
    Role.SECURITY_OFFICER.value,
    Role.SECURITY_MANAGER.value,
    Role.PRIVACY_OFFICER.value,
    Role.PROPERTY_MANAGER.value,
    Role.IT_ADMIN.value,
)
VIEWERS = {SO, SM, PO, PM, IT}  # camera metadata is not personal data
MANAGERS = {SM, PM, IT}
INGEST = {IT, SM}
NO_POST = Post(lambda w: {}, lambda w: False, METHOD_NOT_ALLOWED)


@pytest.fixture(autouse=True)
def _private_home(settings: Any, tmp_path: Path) -> None:
    settings.CUSTODY_HOME = tmp_path / "home"  # uploads land here, fresh for every test


def camera_kwargs(w: World) -> dict[str, Any]:
    return {"code": w.hotel.prop.code, "pk": w.hotel.camera.pk}


def floor_kwargs(w: World) -> dict[str, Any]:
    return {"code": w.hotel.prop.code, "floor_pk": w.spare_floor.pk}  # the floor with a plan


def nvr_folder() -> Path:
    """A recorder's folder outside Custody's own data folders (which a watched folder may not overlap)."""
    folder = (Path(settings.CUSTODY_HOME).parent / "matrix-nvr").resolve()
    folder.mkdir(exist_ok=True)
    return folder


def the_folder(w: World) -> WatchedFolder:
    if "watch" not in w.requests:
        w.requests["watch"] = WatchedFolder.objects.create(property=w.hotel.prop, path=str(nvr_folder()))
    folder: WatchedFolder = w.requests["watch"]
    return folder


def watch_kwargs(w: World) -> dict[str, Any]:
    return {"code": w.hotel.prop.code, "pk": the_folder(w).pk}


def camera_data(w: World, code: str, name: str) -> dict[str, Any]:
    return {
        "code": code,
        "name": name,
        "area": w.hotel.lobby.pk,
        "status": "active",
        "field_of_view": "90",
        "retention_days": "30",
        "privacy_masks": "[]",
    }


def folder_data(w: World) -> dict[str, Any]:
    return {
        "path": str(nvr_folder()),
        "layout": "frigate",
        "timezone": "UTC",
        "enabled": "on",
        "every_minutes": "7",
    }


def upload_data(w: World) -> dict[str, Any]:
    clip = Path(settings.CUSTODY_HOME).parent / "clip.mp4"
    if not clip.exists():
        make_segment(clip, seconds=1.0)
    video = SimpleUploadedFile("clip.mp4", clip.read_bytes(), content_type="video/mp4")
    return {"camera": w.hotel.camera.pk, "start": "2026-03-01T10:00:00", "time_zone": "utc", "videos": [video]}


def saved_to(where: str) -> Redirect:
    return Redirect(f"/p/seaside/footage/{where}")


MATRIX: dict[str, Row] = {
    "footage:camera_list": Row(prop_kwargs, at_hotel(VIEWERS), NO_POST),
    "footage:camera_detail": Row(camera_kwargs, at_hotel(VIEWERS), NO_POST),
    "footage:camera_new": Row(
        prop_kwargs,
        at_hotel(MANAGERS),
        Post(
            lambda w: camera_data(w, "CAM-NEW", "New camera"),
            lambda w: Camera.objects.filter(code="CAM-NEW").exists(),
            at_hotel(MANAGERS, ok=saved_to("cameras/")),
        ),
    ),
    "footage:camera_edit": Row(
        camera_kwargs,
        at_hotel(MANAGERS),
        Post(
            lambda w: camera_data(w, "CAM-1", "Renamed camera"),
            lambda w: Camera.objects.filter(pk=w.hotel.camera.pk, name="Renamed camera").exists(),
            at_hotel(MANAGERS, ok=saved_to("cameras/")),
        ),
    ),
    "footage:map": Row(prop_kwargs, at_hotel(VIEWERS), NO_POST),
    "footage:map_floor": Row(floor_kwargs, at_hotel(VIEWERS), NO_POST),
    "footage:floor_plan": Row(floor_kwargs, at_hotel(VIEWERS), NO_POST),
    "footage:watch_list": Row(prop_kwargs, at_hotel(INGEST), NO_POST),
    "footage:watch_new": Row(
        prop_kwargs,
        at_hotel(INGEST),
        Post(
            folder_data,
            lambda w: WatchedFolder.objects.filter(property=w.hotel.prop).exists(),
            at_hotel(INGEST, ok=saved_to("watch/")),
        ),
    ),
    "footage:watch_edit": Row(
        watch_kwargs,
        at_hotel(INGEST),
        Post(
            folder_data,
            lambda w: WatchedFolder.objects.filter(pk=the_folder(w).pk, every_minutes=7).exists(),
            at_hotel(INGEST, ok=saved_to("watch/")),
        ),
    ),
    "footage:upload": Row(
        prop_kwargs,
        at_hotel(INGEST),
        Post(upload_data, lambda w: Segment.objects.filter(camera=w.hotel.camera).exists(), at_hotel(INGEST)),
    ),
    "footage:quarantine": Row(prop_kwargs, at_hotel(INGEST), NO_POST),
}


@pytest.mark.parametrize("who", WHO)
@pytest.mark.parametrize("name", sorted(MATRIX))
def test_get(world: World, client_as: Any, name: str, who: str) -> None:
    run_get(world, client_as, MATRIX, name, who)


@pytest.mark.parametrize("who", WHO)
@pytest.mark.parametrize("name", post_rows(MATRIX))
def test_post(world: World, client_as: Any, name: str, who: str) -> None:
    run_post(world, client_as, MATRIX, name, who, check_change=MATRIX[name].post is not NO_POST)


OTHER_OBJECTS = [
    ("footage:camera_detail", "get", lambda w: {"pk": w.other.camera.pk}),
    ("footage:camera_edit", "get", lambda w: {"pk": w.other.camera.pk}),
    ("footage:camera_edit", "post", lambda w: {"pk": w.other.camera.pk}),
    ("footage:map_floor", "get", lambda w: {"floor_pk": w.other.floor.pk}),
    ("footage:floor_plan", "get", lambda w: {"floor_pk": w.other.floor.pk}),
    ("footage:watch_edit", "get", lambda w: {"pk": other_folder(w).pk}),
    ("footage:watch_edit", "post", lambda w: {"pk": other_folder(w).pk}),
]


def other_folder(w: World) -> WatchedFolder:
    return WatchedFolder.objects.get_or_create(property=w.other.prop, path=str(settings.MEDIA_ROOT))[0]


@pytest.mark.parametrize("name, method, other", OTHER_OBJECTS)
def test_another_propertys_object_is_a_404(world: World, client_as: Any, name: str, method: str, other: Any) -> None:
    """Under the hotel's own code, as the role that may manage it there: the other hotel's object does not exist."""
    url = reverse(name, kwargs={"code": world.hotel.prop.code, **other(world)})
    client = client_as(IT)
    data = camera_data(world, "CAM-X", "Taken over") if name == "footage:camera_edit" else folder_data(world)
    response = client.get(url) if method == "get" else client.post(url, data)
    assert response.status_code == 404
    assert not Camera.objects.filter(name="Taken over").exists()
    assert not WatchedFolder.objects.filter(every_minutes=7).exists()
