"""Camera registry pages and the camera point map: good and bad input, audit entries, markers per floor."""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest
from django.core.files.base import ContentFile
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from custody.accounts.roles import Role
from custody.audit.events import Action
from custody.audit.models import AuditEntry
from custody.footage.models import Camera, Segment
from custody.footage.views import plan_size, wedge_path
from custody.properties.models import Area, AreaClass, AreaKind, Floor
from tests.conftest import PLAN_SVG, Hotel, make_hotel, make_png
from tests.test_browser import page  # noqa: F401  (fixture)

# ruff: noqa: F811  (the browser test takes the `page` fixture imported above)
pytestmark = pytest.mark.django_db


@pytest.fixture
def manager(client_for_role: Callable[[str], Client]) -> Client:
    return client_for_role(Role.PROPERTY_MANAGER)


def camera_data(hotel: Hotel, **changes: Any) -> dict[str, Any]:
    data = {
        "code": "CAM-7",
        "name": "Front door",
        "area": hotel.lobby.pk,
        "status": "active",
        "position_x": "0.25",
        "position_y": "0.5",
        "direction": "90",
        "field_of_view": "70",
        "source": "rtsp://nvr.local/7",
        "retention_days": "14",
        "privacy_masks": "[[[0, 0], [0.3, 0], [0.3, 0.2]]]",
    }
    data.update(changes)
    return data


def new_url(hotel: Hotel) -> str:
    return reverse("footage:camera_new", kwargs={"code": hotel.prop.code})


def field_errors(response: Any, name: str) -> list[str]:
    return [str(e) for e in response.context["form"].errors.get(name, [])]


def test_manager_creates_a_camera_and_the_change_is_audited(hotel: Hotel, manager: Client) -> None:
    response = manager.post(new_url(hotel), camera_data(hotel))

    camera = Camera.objects.get(property=hotel.prop, code="CAM-7")
    assert response.status_code == 302
    assert response["Location"] == reverse("footage:camera_detail", kwargs={"code": "seaside", "pk": camera.pk})
    assert (camera.position_x, camera.position_y, camera.direction, camera.field_of_view) == (0.25, 0.5, 90, 70)
    assert camera.retention_days == 14
    assert camera.privacy_masks == [[[0, 0], [0.3, 0], [0.3, 0.2]]]
    entry = AuditEntry.objects.filter(action=Action.CAMERA_SAVED).get()
    assert entry.object_id == str(camera.pk) and entry.property_id == hotel.prop.pk
    assert entry.details["created"] is True and entry.details["camera"] == "CAM-7"
    assert "privacy_masks" in entry.details["fields"] and "name" in entry.details["fields"]
    assert "Front door" not in str(entry.details)  # field names, never their values

    detail = manager.get(response["Location"])
    assert b"Front door" in detail.content and b"rtsp://nvr.local/7" in detail.content


def test_editing_records_only_the_changed_field_names(hotel: Hotel, manager: Client) -> None:
    url = reverse("footage:camera_edit", kwargs={"code": "seaside", "pk": hotel.camera.pk})
    data = camera_data(hotel, code="CAM-1", name="Lobby camera", position_x="", position_y="", direction="")
    data.update(field_of_view="90", source="", retention_days="30", privacy_masks="[]")
    assert manager.post(url, data).status_code == 302
    assert AuditEntry.objects.filter(action=Action.CAMERA_SAVED).get().details["fields"] == []

    assert manager.post(url, {**data, "name": "Lobby east", "retention_days": "60"}).status_code == 302
    hotel.camera.refresh_from_db()
    assert (hotel.camera.name, hotel.camera.retention_days) == ("Lobby east", 60)
    last = AuditEntry.objects.filter(action=Action.CAMERA_SAVED).order_by("-seq").first()
    assert last is not None and last.details == {
        "camera": "CAM-1",
        "created": False,
        "fields": ["name", "retention_days"],
    }


def test_a_private_area_is_refused_on_the_area_field(hotel: Hotel, manager: Client) -> None:
    form_page = manager.get(new_url(hotel))
    assert f'value="{hotel.lobby.pk}"'.encode() in form_page.content
    assert f'value="{hotel.bathroom.pk}"'.encode() not in form_page.content  # never offered

    response = manager.post(new_url(hotel), camera_data(hotel, area=hotel.bathroom.pk))

    assert response.status_code == 400
    assert any("private area" in e for e in field_errors(response, "area"))
    assert not Camera.objects.filter(code="CAM-7").exists()
    assert not AuditEntry.objects.filter(action=Action.CAMERA_SAVED).exists()


def test_another_propertys_area_is_not_a_choice(hotel: Hotel, other_hotel: Hotel, manager: Client) -> None:
    response = manager.post(new_url(hotel), camera_data(hotel, area=other_hotel.lobby.pk))
    assert response.status_code == 400 and field_errors(response, "area")
    assert not Camera.objects.filter(code="CAM-7").exists()


@pytest.mark.parametrize(
    "masks, message",
    [
        ("[[[0, 0], [2, 0], [0, 1]]]", "between 0 and 1"),
        ("[[[0, 0], [1, 0]]]", "at least three points"),
        ('{"x": 1}', "list of polygons"),
        ("[[[0, 0], [1, 0], [0,", "valid JSON"),
    ],
)
def test_bad_privacy_masks_are_refused_on_their_field(hotel: Hotel, manager: Client, masks: str, message: str) -> None:
    response = manager.post(new_url(hotel), camera_data(hotel, privacy_masks=masks))
    assert response.status_code == 400
    assert any(message in e for e in field_errors(response, "privacy_masks")), field_errors(response, "privacy_masks")
    assert not Camera.objects.filter(code="CAM-7").exists()


@pytest.mark.parametrize(
    "changes, field",
    [
        ({"position_x": "1.5"}, "position_x"),
        ({"position_y": "-0.1"}, "position_y"),
        ({"position_y": ""}, "position_y"),
        ({"direction": "360"}, "direction"),
        ({"field_of_view": "5"}, "field_of_view"),
        ({"retention_days": "0"}, "retention_days"),
        ({"code": "bad code!"}, "code"),
        ({"code": "CAM-1"}, "__all__"),  # another camera of the property has this code
    ],
)
def test_out_of_range_values_are_400_and_nothing_is_saved(
    hotel: Hotel, manager: Client, changes: dict[str, str], field: str
) -> None:
    response = manager.post(new_url(hotel), camera_data(hotel, **changes))
    assert response.status_code == 400
    assert response.context["form"].errors.get(field), response.context["form"].errors
    assert Camera.objects.filter(property=hotel.prop).count() == 1
    assert not AuditEntry.objects.filter(action=Action.CAMERA_SAVED).exists()


def test_another_propertys_camera_is_a_404(hotel: Hotel, other_hotel: Hotel, manager: Client) -> None:
    for name in ("footage:camera_detail", "footage:camera_edit"):
        assert manager.get(reverse(name, kwargs={"code": "seaside", "pk": other_hotel.camera.pk})).status_code == 404
    url = reverse("footage:camera_edit", kwargs={"code": "seaside", "pk": other_hotel.camera.pk})
    assert manager.post(url, camera_data(hotel)).status_code == 404


def add_segment(camera: Camera, start: Any, seconds: float = 10, *, destroyed: bool = False, n: int = 0) -> Segment:
    return Segment.objects.create(
        camera=camera,
        start=start,
        end=start + timedelta(seconds=seconds),
        duration=seconds,
        path=f"/nvr/{camera.code}/{n}.mp4",
        size=1000,
        mtime_ns=0,
        codec="h264",
        width=320,
        height=240,
        sha256=f"{n:064x}",
        destroyed_at=timezone.now() if destroyed else None,
    )


def test_list_and_detail_count_live_segments_and_gaps(hotel: Hotel, manager: Client) -> None:
    t0 = (timezone.now() - timedelta(hours=2)).replace(microsecond=0)
    add_segment(hotel.camera, t0, n=1)
    add_segment(hotel.camera, t0 + timedelta(seconds=10), n=2)
    add_segment(hotel.camera, t0 + timedelta(seconds=60), n=3)  # a 40 s gap before it
    add_segment(hotel.camera, t0 + timedelta(seconds=200), destroyed=True, n=4)  # gone: counts for nothing

    listing = manager.get(reverse("footage:camera_list", kwargs={"code": "seaside"}))
    assert listing.status_code == 200
    row = re.search(rb"<tr>\s*<td><a[^>]*>CAM-1</a>.*?</tr>", listing.content, re.S)
    assert row is not None
    cells = re.findall(rb'<td class="num">(.*?)</td>', row.group(0), re.S)
    assert cells[0] == b"30"  # retention days
    assert cells[1] == b"3"  # live segments only
    assert b">1</span>" in cells[2]  # one gap

    detail = manager.get(reverse("footage:camera_detail", kwargs={"code": "seaside", "pk": hotel.camera.pk}))
    text = detail.content.decode()
    assert detail.context["stats"]["count"] == 3 and detail.context["stats"]["size"] == 3000
    assert [g.seconds for g in detail.context["gaps"]] == [40.0]
    assert "40 s" in text and "2.9 KB" in text.replace("\xa0", " ")


# --- the camera point map ----------------------------------------------------------------------------------------


@pytest.fixture
def two_floors(hotel: Hotel, media_root: Any) -> tuple[Floor, Camera, Camera]:
    hotel.floor.plan.save("plan.svg", ContentFile(PLAN_SVG), save=False)
    hotel.floor.plan_content_type = "image/svg+xml"
    hotel.floor.save()
    Camera.objects.filter(pk=hotel.camera.pk).update(position_x=0.5, position_y=0.25, direction=180)
    upstairs = Floor.objects.create(property=hotel.prop, level=1, name="First")
    corridor = Area.objects.create(
        property=hotel.prop, floor=upstairs, name="Corridor 1", kind=AreaKind.CORRIDOR, area_class=AreaClass.PUBLIC
    )
    elsewhere = Camera(
        property=hotel.prop, area=corridor, code="CAM-UP", name="Upstairs", position_x=0.1, position_y=0.1
    )
    elsewhere.save()
    unplaced = Camera(property=hotel.prop, area=hotel.lobby, code="CAM-NOPOS", name="Not placed", status="offline")
    unplaced.save()
    return upstairs, elsewhere, unplaced


def markers(content: bytes) -> list[str]:
    return re.findall(r'<a class="marker[^"]*" href="([^"]+)"', content.decode())


def test_map_shows_the_floors_cameras_as_linked_markers(
    hotel: Hotel, two_floors: tuple[Floor, Camera, Camera], client_for_role: Callable[[str], Client]
) -> None:
    upstairs, elsewhere, _unplaced = two_floors
    officer = client_for_role(Role.SECURITY_OFFICER)
    response = officer.get(reverse("footage:map", kwargs={"code": "seaside"}))
    assert response.status_code == 200
    text = response.content.decode()
    detail = reverse("footage:camera_detail", kwargs={"code": "seaside", "pk": hotel.camera.pk})
    assert markers(response.content) == [detail]  # the unplaced and the upstairs camera have no marker here
    plan_url = reverse("footage:floor_plan", kwargs={"code": "seaside", "floor_pk": hotel.floor.pk})
    assert f'<image href="{plan_url}"' in text and 'viewBox="0 0 100 50"' in text
    assert '<circle class="dot" cx="50" cy="12.5"' in text  # 0.5 of 100 wide, 0.25 of 50 high
    assert "<title>CAM-1 · Lobby camera · Lobby · Active</title>" in text
    assert 'class="wedge" d="M 50 12.5 L' in text  # looks down the plan: a coverage wedge is drawn
    unplaced_list = text.split('class="plain unplaced"')[1]
    assert "CAM-NOPOS" in unplaced_list and "CAM-UP" not in text.split("<svg")[1].split("</svg>")[0]
    assert 'class="marker cam-active"' in text
    plan = officer.get(plan_url)  # the officer may see the plan here (properties:floor_plan is for managers)
    assert plan.status_code == 200 and b"".join(plan.streaming_content) == PLAN_SVG
    assert "sandbox" in plan["Content-Security-Policy"]

    upstairs_page = officer.get(reverse("footage:map_floor", kwargs={"code": "seaside", "floor_pk": upstairs.pk}))
    assert markers(upstairs_page.content) == [
        reverse("footage:camera_detail", kwargs={"code": "seaside", "pk": elsewhere.pk})
    ]
    assert "This floor has no plan yet." in upstairs_page.content.decode()
    by_query = officer.get(reverse("footage:map", kwargs={"code": "seaside"}) + f"?floor={upstairs.pk}")
    assert markers(by_query.content) == markers(upstairs_page.content)


def test_another_propertys_floor_is_a_404_on_the_map(hotel: Hotel, manager: Client) -> None:
    other = make_hotel("elsewhere", "Elsewhere")
    assert (
        manager.get(reverse("footage:map_floor", kwargs={"code": "seaside", "floor_pk": other.floor.pk})).status_code
        == 404
    )
    assert (
        manager.get(reverse("footage:map", kwargs={"code": "seaside"}) + f"?floor={other.floor.pk}").status_code == 404
    )


def test_the_edit_form_offers_a_position_picker_on_the_areas_floor(
    hotel: Hotel, two_floors: tuple[Floor, Camera, Camera], manager: Client
) -> None:
    response = manager.get(reverse("footage:camera_edit", kwargs={"code": "seaside", "pk": hotel.camera.pk}))
    text = response.content.decode()
    assert text.count("data-pick-position") == 2  # one plan per floor; the script shows the area's
    assert (
        f'data-area-floors="{hotel.lobby.pk}:{hotel.floor.pk} ' in text or f"{hotel.lobby.pk}:{hotel.floor.pk}" in text
    )
    assert 'src="/static/js/camera_map.js"' in text and "<script>" not in text  # CSP: no inline script


def test_wedge_geometry_and_plan_sizes(hotel: Hotel, media_root: Any) -> None:
    # 90 degrees = looking right; a 90 degree view spans 45..135 degrees.
    assert wedge_path(50, 50, 10, 90, 90) == "M 50 50 L 57.07 42.93 A 10 10 0 0 1 57.07 57.07 Z"
    assert wedge_path(50, 50, 10, 0, 270).split(" 0 ")[1].startswith("1 1")  # wider than half: the large arc
    assert wedge_path(50, 50, 10, 0, 360).startswith("M 40 50 a 10 10")
    assert plan_size(hotel.floor) == (1000.0, 700.0)  # no plan
    hotel.floor.plan.save("plan.png", ContentFile(make_png(40, 30)), save=True)
    assert plan_size(hotel.floor) == (40.0, 30.0)
    hotel.floor.plan.save(
        "plan.svg", ContentFile(b'<svg xmlns="http://www.w3.org/2000/svg" width="300" height="200"/>')
    )
    assert plan_size(hotel.floor) == (300.0, 200.0)


# --- in a real browser ---------------------------------------------------------------------------------------------

GROUND_PLAN = (
    b'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 800 480">'
    b'<rect x="10" y="10" width="780" height="460" fill="#fdfdfd" stroke="#334155" stroke-width="4"/>'
    b'<rect x="10" y="10" width="330" height="250" fill="#eef4fb" stroke="#334155" stroke-width="2"/>'
    b'<rect x="340" y="10" width="450" height="120" fill="#f3f4f6" stroke="#334155" stroke-width="2"/>'
    b'<rect x="10" y="260" width="780" height="80" fill="#f8fafc" stroke="#334155" stroke-width="2"/>'
    b'<rect x="10" y="340" width="250" height="130" fill="#fef9ec" stroke="#334155" stroke-width="2"/>'
    b'<rect x="560" y="340" width="230" height="130" fill="#fdecec" stroke="#334155" stroke-width="2"/>'
    b'<g font-family="sans-serif" font-size="22" fill="#475569" text-anchor="middle">'
    b'<text x="175" y="140">Lobby</text><text x="565" y="75">Restaurant</text><text x="400" y="306">Corridor</text>'
    b'<text x="135" y="410">Car park ramp</text><text x="675" y="410">Toilets</text></g></svg>'
)


@pytest.mark.browser
@pytest.mark.django_db(transaction=True)
def test_camera_map_in_a_browser_in_english_and_chinese(page: Any, media_root: Any) -> None:
    from custody.accounts.roles import Role as R
    from tests.conftest import PASSWORD, make_user
    from tests.test_browser import OUTPUT

    hotel = make_hotel()
    hotel.floor.plan.save("plan.svg", ContentFile(GROUND_PLAN), save=False)
    hotel.floor.plan_content_type = "image/svg+xml"
    hotel.floor.save()
    Floor.objects.create(property=hotel.prop, level=1, name="First floor")
    Camera.objects.filter(pk=hotel.camera.pk).update(position_x=0.08, position_y=0.08, direction=135, field_of_view=80)
    corridor = Area.objects.create(
        property=hotel.prop, floor=hotel.floor, name="Corridor", kind=AreaKind.CORRIDOR, area_class=AreaClass.PUBLIC
    )
    for code, name, area, x, y, direction, fov, status in [
        ("CAM-2", "Restaurant door", corridor, 0.45, 0.3, 60, 90, "active"),
        ("CAM-3", "Corridor west", corridor, 0.05, 0.62, 90, 70, "offline"),
        ("CAM-4", "Corridor east", corridor, 0.93, 0.62, 270, 70, "active"),
        ("CAM-5", "Old ramp camera", corridor, 0.3, 0.9, 0, 360, "retired"),
    ]:
        Camera(
            property=hotel.prop,
            area=area,
            code=code,
            name=name,
            position_x=x,
            position_y=y,
            direction=direction,
            field_of_view=fov,
            status=status,
        ).save()
    Camera(property=hotel.prop, area=hotel.lobby, code="CAM-6", name="Spare (not placed)").save()
    officer = make_user("officer", hotel.prop, R.SECURITY_OFFICER)

    page.goto(page.base_url + "/accounts/login/")
    page.fill("#id_username", officer.username)
    page.fill("#id_password", PASSWORD)
    page.click("main button[type=submit]")
    page.wait_for_url("**/p/seaside/**")
    page.goto(page.base_url + reverse("footage:map", kwargs={"code": "seaside"}))
    assert page.locator("svg.camera-map a.marker").count() == 5
    # The plan image really loads inside the SVG (CSP allows it; the officer may fetch it).
    assert page.evaluate(
        "new Promise(r => { const i = new Image(); i.onload = () => r(i.naturalWidth > 0); i.onerror = () => r(false);"
        " i.src = document.querySelector('svg.camera-map image').getAttribute('href'); })"
    )
    page.hover("svg.camera-map a.marker[data-camera] >> nth=1")
    assert page.locator(".camera-index li.is-hover").count() == 1
    page.keyboard.press("Tab")
    page.screenshot(path=str(OUTPUT / "camera-map-en.png"), full_page=True)
    page.select_option("#language-switch", "zh-hans")
    page.wait_for_load_state("networkidle")
    assert "摄像头分布图" in page.locator("h1").inner_text()
    page.screenshot(path=str(OUTPUT / "camera-map-zh.png"), full_page=True)
    page.set_viewport_size({"width": 390, "height": 844})
    page.screenshot(path=str(OUTPUT / "camera-map-phone.png"), full_page=True)

    page.locator("svg.camera-map a.marker >> nth=0").click()
    page.wait_for_url("**/footage/cameras/*/")
    assert "CAM-1" in page.locator("h1").inner_text()
