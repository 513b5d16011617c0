"""Bad input to every form: a 4xx (400 for a re-rendered form), an error naming the field, nothing saved."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db.models import Model
from django.test import Client
from django.utils.html import escape
from django_otp.oath import totp
from django_otp.plugins.otp_totp.models import TOTPDevice
from hypothesis import HealthCheck, given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st

from custody.accounts.models import RoleAssignment, User
from custody.accounts.roles import Role
from custody.lib.images import ImageRejected, check_png, check_svg
from custody.properties.forms import MAX_PLAN_BYTES
from custody.properties.models import Area, AreaClass, AreaKind, Floor, Property, Room, RoomType
from tests.conftest import PASSWORD, PLAN_SVG, Hotel, make_png, make_user, signed_in_client, stored_files


def snapshot(*models: type[Model]) -> dict[str, list[tuple[Any, ...]]]:
    """Every row of the given tables, to show that a refused form wrote nothing."""
    return {m._meta.label: sorted(m.objects.values_list(), key=repr) for m in models}  # type: ignore[attr-defined]


def field_errors(response: Any) -> dict[str, list[str]]:
    form = response.context["form"]
    return {name: [str(e) for e in errors] for name, errors in form.errors.items()}


def assert_refused(response: Any, field: str, fragment: str = "") -> None:
    """A 400 re-rendering the form, with an error on `field` (containing `fragment`) shown on the page."""
    assert response.status_code == 400, response.content[:300]
    errors = field_errors(response)
    assert field in errors, errors
    message = " ".join(errors[field])
    assert fragment.lower() in message.lower(), errors
    page = response.content.decode()
    for error in errors[field]:
        assert escape(error) in page, f"error not shown on the page: {error}"


# --- Sign-in and second factor ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("data", "field", "fragment"),
    [
        ({"username": "", "password": PASSWORD}, "username", "required"),
        ({"username": "clerk", "password": ""}, "password", "required"),
        ({"username": "clerk", "password": "not the password"}, "__all__", "user name and password"),
        ({"username": "Clerk", "password": PASSWORD}, "__all__", "case-sensitive"),
        ({"username": "x" * 500, "password": PASSWORD}, "__all__", "user name and password"),
    ],
)
def test_login_bad_input(hotel: Hotel, data: dict[str, str], field: str, fragment: str) -> None:
    make_user("clerk", hotel.prop, Role.FRONT_DESK)
    client = Client()
    response = client.post("/accounts/login/", data)
    assert_refused(response, field, fragment)
    assert "_auth_user_id" not in client.session


@pytest.mark.parametrize(
    ("token", "fragment"),
    [("", "required"), ("12 34-5!", "letters and digits"), ("1" * 33, "at most 32"), ("000000x", "not valid")],
)
def test_two_factor_verify_bad_input(hotel: Hotel, token: str, fragment: str) -> None:
    make_user("boss", hotel.prop, Role.IT_ADMIN, totp_device=True)
    client = Client()
    client.post("/accounts/login/", {"username": "boss", "password": PASSWORD})
    response = client.post("/accounts/two-factor/", {"token": token})
    assert_refused(response, "token", fragment)
    assert client.get("/accounts/me/")["Location"].startswith("/accounts/two-factor/")


@pytest.mark.parametrize(
    ("token", "fragment"),
    [("", "required"), ("abcdef", "6 digits"), ("12345", "6 digits"), ("1234567", "6 digits"), ("1" * 9, "at most 8")],
)
def test_two_factor_setup_bad_input(hotel: Hotel, token: str, fragment: str) -> None:
    user = make_user("boss", hotel.prop, Role.IT_ADMIN)
    client = Client()
    client.post("/accounts/login/", {"username": "boss", "password": PASSWORD})
    response = client.post("/accounts/two-factor/setup/", {"token": token})
    assert_refused(response, "token", fragment)
    assert not TOTPDevice.objects.filter(user=user, confirmed=True).exists()


def test_two_factor_setup_with_another_devices_code_is_refused(hotel: Hotel) -> None:
    user = make_user("boss", hotel.prop, Role.IT_ADMIN)
    stranger = TOTPDevice.objects.create(user=make_user("someone"), name="x", confirmed=True)
    client = Client()
    client.post("/accounts/login/", {"username": "boss", "password": PASSWORD})
    client.get("/accounts/two-factor/setup/")
    pending = TOTPDevice.objects.get(user=user)
    own = {f"{totp(pending.bin_key, drift=d):06d}" for d in (-1, 0, 1)}
    theirs = f"{totp(stranger.bin_key):06d}"
    if theirs in own:  # one chance in a few hundred thousand
        pytest.skip("the two devices happen to show the same code")
    response = client.post("/accounts/two-factor/setup/", {"token": theirs})
    assert_refused(response, "token", "does not match")
    assert not TOTPDevice.objects.filter(user=user, confirmed=True).exists()


# --- Password change --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("data", "field", "fragment"),
    [
        ({"old_password": "wrong", "new_password1": "a fine pass phrase 1", "new_password2": "a fine pass phrase 1"},
         "old_password", "incorrect"),
        ({"old_password": PASSWORD, "new_password1": "a fine pass phrase 1", "new_password2": "a fine pass phrase 2"},
         "new_password2", "didn"),
        ({"old_password": PASSWORD, "new_password1": "short1", "new_password2": "short1"}, "new_password2", "short"),
        ({"old_password": PASSWORD, "new_password1": "password1234", "new_password2": "password1234"},
         "new_password2", "common"),
        ({"old_password": PASSWORD, "new_password1": "", "new_password2": ""}, "new_password1", "required"),
    ],
)  # fmt: skip
def test_password_change_bad_input(hotel: Hotel, data: dict[str, str], field: str, fragment: str) -> None:
    user = make_user("clerk", hotel.prop, Role.FRONT_DESK)
    client = signed_in_client(user)
    before = User.objects.get(pk=user.pk).password
    response = client.post("/accounts/password/", data)
    assert_refused(response, field, fragment)
    assert User.objects.get(pk=user.pk).password == before


# --- Staff accounts ---------------------------------------------------------------------------------------

GOOD_STAFF = {
    "username": "newbie",
    "display_name": "New Person",
    "email": "newbie@example.org",
    "roles": [Role.FRONT_DESK],
}


@pytest.mark.parametrize(
    ("changes", "field", "fragment"),
    [
        ({"username": ""}, "username", "required"),
        ({"display_name": ""}, "display_name", "required"),
        ({"roles": []}, "roles", "required"),
        ({"username": "u" * 151}, "username", "at most 150"),
        ({"display_name": "d" * 151}, "display_name", "at most 150"),
        ({"username": "new person"}, "username", "letters, digits"),
        ({"username": "u-front_desk"}, "username", "taken"),
        ({"username": "U-FRONT_DESK"}, "username", "taken"),
        ({"email": "not-an-email"}, "email", "valid email"),
        ({"roles": ["emperor"]}, "roles", "not one of the available choices"),
        ({"roles": [Role.FRONT_DESK, "root"]}, "roles", "not one of the available choices"),
    ],
)
def test_staff_create_bad_input(
    hotel: Hotel,
    user_for_role: Callable[[str], User],
    changes: dict[str, Any],
    field: str,
    fragment: str,
) -> None:
    user_for_role(Role.FRONT_DESK)  # the user name "u-front_desk" is taken
    client = signed_in_client(user_for_role(Role.PROPERTY_MANAGER))
    before = snapshot(User, RoleAssignment)
    response = client.post(f"/p/{hotel.prop.code}/staff/new/", {**GOOD_STAFF, **changes})
    assert_refused(response, field, fragment)
    assert snapshot(User, RoleAssignment) == before


@pytest.mark.parametrize(
    ("changes", "field", "fragment"),
    [
        ({"display_name": ""}, "display_name", "required"),
        ({"display_name": "d" * 151}, "display_name", "at most 150"),
        ({"email": "nope@"}, "email", "valid email"),
        ({"roles": ["superuser"]}, "roles", "not one of the available choices"),
    ],
)
def test_staff_edit_bad_input(
    hotel: Hotel, manager_client: Client, changes: dict[str, Any], field: str, fragment: str
) -> None:
    person = make_user("clerk", hotel.prop, Role.FRONT_DESK)
    before = snapshot(User, RoleAssignment)
    data = {"display_name": "Clerk", "email": "", "roles": [Role.FRONT_DESK], **changes}
    response = manager_client.post(f"/p/{hotel.prop.code}/staff/{person.pk}/", data)
    assert_refused(response, field, fragment)
    assert snapshot(User, RoleAssignment) == before


def test_staff_edit_of_own_roles_is_refused(hotel: Hotel, user_for_role: Callable[[str], User]) -> None:
    me = user_for_role(Role.PROPERTY_MANAGER)
    client = signed_in_client(me)
    before = snapshot(User, RoleAssignment)
    data = {"display_name": "Me", "email": "", "roles": [Role.PROPERTY_MANAGER, Role.IT_ADMIN]}
    response = client.post(f"/p/{hotel.prop.code}/staff/{me.pk}/", data)
    assert_refused(response, "roles", "own roles")
    assert snapshot(User, RoleAssignment) == before


@pytest.mark.parametrize("data", [{}, {"active": ""}, {"active": "yes"}, {"active": "2"}, {"active": "true"}])
def test_staff_set_active_bad_input(
    hotel: Hotel, client_for_role: Callable[[str], Client], data: dict[str, str]
) -> None:
    person = make_user("clerk", hotel.prop, Role.FRONT_DESK)
    client = client_for_role(Role.IT_ADMIN)
    response = client.post(f"/p/{hotel.prop.code}/staff/{person.pk}/active/", data)
    assert response.status_code == 400
    assert b"'active'" in response.content
    assert User.objects.get(pk=person.pk).is_active


# --- Property settings ------------------------------------------------------------------------------------

GOOD_PROPERTY = {"name": "Seaside", "timezone": "Europe/Madrid", "jurisdiction": "ES", "address": "1 Beach Road"}


@pytest.mark.parametrize(
    ("changes", "field", "fragment"),
    [
        ({"name": ""}, "name", "required"),
        ({"name": "n" * 201}, "name", "at most 200"),
        ({"timezone": "Mars/Olympus_Mons"}, "timezone", "not a known IANA time zone"),
        ({"timezone": ""}, "timezone", "required"),
        ({"timezone": "t" * 65}, "timezone", "at most 64"),
        ({"jurisdiction": "XX"}, "jurisdiction", "not one of the available choices"),
        ({"jurisdiction": ""}, "jurisdiction", "required"),
        ({"address": "a" * 301}, "address", "at most 300"),
    ],
)
def test_property_settings_bad_input(
    hotel: Hotel, manager_client: Client, changes: dict[str, str], field: str, fragment: str
) -> None:
    before = snapshot(Property)
    response = manager_client.post(f"/p/{hotel.prop.code}/settings/", {**GOOD_PROPERTY, **changes})
    assert_refused(response, field, fragment)
    assert snapshot(Property) == before


# --- Floors, areas, rooms ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("data", "field", "fragment"),
    [
        ({"level": "", "name": "First"}, "level", "required"),
        ({"level": "1", "name": ""}, "name", "required"),
        ({"level": "ground", "name": "First"}, "level", "whole number"),
        ({"level": "1.5", "name": "First"}, "level", "whole number"),
        ({"level": "301", "name": "High"}, "level", "less than or equal to 300"),
        ({"level": "-21", "name": "Deep"}, "level", "greater than or equal to -20"),
        ({"level": "99999999999999999999999", "name": "Huge"}, "level", "less than or equal to"),
        ({"level": "1", "name": "n" * 101}, "name", "at most 100"),
        ({"level": "0", "name": "Another ground"}, "__all__", "level already exists"),
    ],
)
def test_floor_create_bad_input(
    hotel: Hotel, manager_client: Client, media_root: Path, data: dict[str, str], field: str, fragment: str
) -> None:
    before = snapshot(Floor)
    response = manager_client.post(f"/p/{hotel.prop.code}/floors/new/", data)
    assert_refused(response, field, fragment)
    assert snapshot(Floor) == before


def test_floor_edit_to_a_taken_level_is_refused(hotel: Hotel, manager_client: Client) -> None:
    first = Floor.objects.create(property=hotel.prop, level=1, name="First")
    before = snapshot(Floor)
    response = manager_client.post(f"/p/{hotel.prop.code}/floors/{first.pk}/", {"level": "0", "name": "First"})
    assert_refused(response, "__all__", "level already exists")
    assert snapshot(Floor) == before


def test_same_level_at_another_property_is_fine(hotel: Hotel, other_hotel: Hotel, manager_client: Client) -> None:
    # Uniqueness is per property: the other hotel's first floor does not block ours (control for the above).
    Floor.objects.create(property=other_hotel.prop, level=1, name="First")
    response = manager_client.post(f"/p/{hotel.prop.code}/floors/new/", {"level": "1", "name": "First"})
    assert response.status_code == 302
    assert Floor.objects.filter(property=hotel.prop, level=1).exists()


@pytest.mark.parametrize(
    ("data", "field", "fragment"),
    [
        ({"name": ""}, "name", "required"),
        ({"name": "n" * 101}, "name", "at most 100"),
        ({"kind": ""}, "kind", "required"),
        ({"kind": "dungeon"}, "kind", "not one of the available choices"),
        ({"area_class": "secret"}, "area_class", "not one of the available choices"),
        ({"name": "Lobby"}, "__all__", "name already exists"),
        ({"floor": "other"}, "floor", "not one of the available choices"),
        ({"floor": "abc"}, "floor", "not one of the available choices"),
        ({"kind": AreaKind.BATHROOM, "area_class": AreaClass.PUBLIC}, "area_class", "private"),
        ({"kind": AreaKind.GUEST_ROOM, "area_class": AreaClass.SECURITY}, "area_class", "private"),
    ],
)
def test_area_create_bad_input(
    hotel: Hotel, other_hotel: Hotel, manager_client: Client, data: dict[str, str], field: str, fragment: str
) -> None:
    base = {"name": "Gym", "floor": str(hotel.floor.pk), "kind": AreaKind.GYM, "area_class": ""}
    if data.get("floor") == "other":
        data = {**data, "floor": str(other_hotel.floor.pk)}
    before = snapshot(Area)
    response = manager_client.post(f"/p/{hotel.prop.code}/areas/new/", {**base, **data})
    assert_refused(response, field, fragment)
    assert snapshot(Area) == before


@pytest.mark.parametrize(
    ("kind", "area_class"),
    [
        (AreaKind.CHANGING_ROOM, ""),
        (AreaKind.CHANGING_ROOM, AreaClass.PRIVATE),
        (AreaKind.LOBBY, AreaClass.PRIVATE),
    ],
)
def test_area_holding_a_camera_cannot_become_private(
    hotel: Hotel, manager_client: Client, kind: str, area_class: str
) -> None:
    before = snapshot(Area)
    data = {"name": "Lobby", "floor": str(hotel.floor.pk), "kind": kind, "area_class": area_class}
    response = manager_client.post(f"/p/{hotel.prop.code}/areas/{hotel.lobby.pk}/", data)
    assert_refused(response, "area_class", "camera")
    assert snapshot(Area) == before


def test_area_moved_to_another_propertys_floor_is_refused(
    hotel: Hotel, other_hotel: Hotel, manager_client: Client
) -> None:
    before = snapshot(Area)
    data = {"name": "Lobby", "floor": str(other_hotel.floor.pk), "kind": AreaKind.LOBBY, "area_class": "public"}
    response = manager_client.post(f"/p/{hotel.prop.code}/areas/{hotel.lobby.pk}/", data)
    assert_refused(response, "floor", "not one of the available choices")
    assert snapshot(Area) == before


@pytest.mark.parametrize(
    ("data", "field", "fragment"),
    [
        ({"number": ""}, "number", "required"),
        ({"number": "1 01"}, "number", "letters, digits and hyphens"),
        ({"number": "-101"}, "number", "letters, digits and hyphens"),
        ({"number": "r" * 17}, "number", "at most 16"),
        ({"number": "101"}, "__all__", "number already exists"),
        ({"floor": ""}, "floor", "required"),
        ({"floor": "other"}, "floor", "not one of the available choices"),
        ({"floor": "99999999999999999999999"}, "floor", "not one of the available choices"),
        ({"room_type": "castle"}, "room_type", "not one of the available choices"),
        ({"room_type": ""}, "room_type", "required"),
    ],
)
def test_room_create_bad_input(
    hotel: Hotel, other_hotel: Hotel, manager_client: Client, data: dict[str, str], field: str, fragment: str
) -> None:
    base = {"number": "202", "floor": str(hotel.floor.pk), "room_type": RoomType.TWIN}
    if data.get("floor") == "other":
        data = {**data, "floor": str(other_hotel.floor.pk)}
    before = snapshot(Room)
    response = manager_client.post(f"/p/{hotel.prop.code}/rooms/new/", {**base, **data})
    assert_refused(response, field, fragment)
    assert snapshot(Room) == before


def test_room_edit_to_a_taken_number_is_refused(hotel: Hotel, manager_client: Client) -> None:
    other_room = Room.objects.create(property=hotel.prop, floor=hotel.floor, number="102", room_type=RoomType.TWIN)
    before = snapshot(Room)
    data = {"number": "101", "floor": str(hotel.floor.pk), "room_type": RoomType.TWIN}
    response = manager_client.post(f"/p/{hotel.prop.code}/rooms/{other_room.pk}/", data)
    assert_refused(response, "__all__", "number already exists")
    assert snapshot(Room) == before


def test_null_character_in_a_name_is_refused(hotel: Hotel, manager_client: Client) -> None:
    before = snapshot(Floor)
    response = manager_client.post(f"/p/{hotel.prop.code}/floors/new/", {"level": "2", "name": "Se\x00cond"})
    assert_refused(response, "name", "null characters")
    assert snapshot(Floor) == before


# --- Property switch and language -------------------------------------------------------------------------


@pytest.mark.parametrize("code", ["", "no-such-hotel", "hilltop", "x" * 500])
def test_property_switch_to_a_property_not_mine(
    hotel: Hotel, other_hotel: Hotel, client_for_role: Callable[[str], Client], code: str
) -> None:
    client = client_for_role(Role.FRONT_DESK)
    client.get(f"/p/{hotel.prop.code}/")
    response = client.post("/switch-property", {"property": code})
    assert response.status_code == 404
    assert client.session["current_property"] == hotel.prop.code
    assert other_hotel.prop.name not in response.content.decode()


@pytest.mark.parametrize("language", ["", "xx", "klingon", "en-us-x-bogus", "zh-hant", "../../etc"])
def test_set_language_bogus(hotel: Hotel, client_for_role: Callable[[str], Client], language: str) -> None:
    client = client_for_role(Role.FRONT_DESK)
    response = client.post("/i18n/setlang/", {"language": language, "next": "/"})
    assert response.status_code == 400
    assert b"'language'" in response.content
    assert "django_language" not in response.cookies
    # The site still speaks English.
    assert b"Sign out" in client.get(f"/p/{hotel.prop.code}/").content


def test_set_language_known_language_is_applied(hotel: Hotel, client_for_role: Callable[[str], Client]) -> None:
    # Control for the test above: a real language code does switch.
    client = client_for_role(Role.FRONT_DESK)
    response = client.post("/i18n/setlang/", {"language": "zh-hans", "next": f"/p/{hotel.prop.code}/"})
    assert response.status_code == 302
    assert response.cookies["django_language"].value == "zh-hans"


# --- Floor plan uploads -----------------------------------------------------------------------------------


def upload(name: str, data: bytes, content_type: str = "application/octet-stream") -> SimpleUploadedFile:
    return SimpleUploadedFile(name, data, content_type=content_type)


def bad_crc_png() -> bytes:
    data = bytearray(make_png())
    data[-20] ^= 0xFF  # inside the IDAT chunk's data: its CRC no longer matches
    return bytes(data)


ACCEPTED_PLANS = [
    ("plan.png", make_png(), "image/png"),
    ("plan.svg", PLAN_SVG, "image/svg+xml"),
    ("PLAN.PNG", make_png(16, 9), "image/png"),
    (
        "gradient.svg",
        b'<svg xmlns="http://www.w3.org/2000/svg"><defs><linearGradient id="g"/></defs>'
        b'<rect fill="url(#g)" width="9" height="9"/><use href="#g"/></svg>',
        "image/svg+xml",
    ),
    (
        "utf16.svg",
        '<?xml version="1.0" encoding="UTF-16"?><svg xmlns="http://www.w3.org/2000/svg"><text>楼层</text></svg>'.encode(
            "utf-16"
        ),
        "image/svg+xml",
    ),
]


@pytest.mark.parametrize(("name", "data", "content_type"), ACCEPTED_PLANS)
def test_floor_plan_accepted(
    hotel: Hotel, manager_client: Client, media_root: Path, name: str, data: bytes, content_type: str
) -> None:
    response = manager_client.post(
        f"/p/{hotel.prop.code}/floors/new/", {"level": "3", "name": "Third", "plan": upload(name, data)}
    )
    assert response.status_code == 302
    floor = Floor.objects.get(property=hotel.prop, level=3)
    assert floor.plan_content_type == content_type
    assert [p.read_bytes() for p in stored_files(media_root)] == [data]


REFUSED_PLANS = [
    ("truncated.png", make_png()[:40], "truncated"),
    ("no-iend.png", make_png()[:-12], "truncated"),
    ("bad-crc.png", bad_crc_png(), "checksum"),
    ("text.png", b"this is not a picture, just some text\n", "not a PNG"),
    ("empty.png", b"", "submitted file is empty"),
    ("huge.png", make_png(20000, 10), "pixels"),
    ("script.svg", b'<svg xmlns="http://www.w3.org/2000/svg"><script>alert(1)</script></svg>', "<script>"),
    ("onload.svg", b'<svg xmlns="http://www.w3.org/2000/svg" onload="alert(1)"><rect/></svg>', "onload"),
    (
        "href.svg",
        b'<svg xmlns="http://www.w3.org/2000/svg" xmlns:xlink="http://www.w3.org/1999/xlink">'
        b'<image xlink:href="https://evil.example/x.png"/></svg>',
        "outside",
    ),
    (
        "href2.svg",
        b'<svg xmlns="http://www.w3.org/2000/svg"><a href="javascript:alert(1)"><rect/></a></svg>',
        "outside",
    ),
    (
        "entity.svg",
        b'<?xml version="1.0"?><!DOCTYPE svg [<!ENTITY x "boom">]><svg xmlns="http://www.w3.org/2000/svg">&x;</svg>',
        "DOCTYPE",
    ),
    (
        "foreign.svg",
        b'<svg xmlns="http://www.w3.org/2000/svg"><foreignObject><div>hi</div></foreignObject></svg>',
        "foreignobject",
    ),
    (
        "style.svg",
        b'<svg xmlns="http://www.w3.org/2000/svg"><style>@import url(https://evil.example/x.css);</style></svg>',
        "styles",
    ),
    (
        "utf16-entity.svg",
        '<?xml version="1.0" encoding="UTF-16"?><!DOCTYPE svg [<!ENTITY x "boom">]>'
        '<svg xmlns="http://www.w3.org/2000/svg"><text>&x;</text></svg>'.encode("utf-16"),
        "DOCTYPE",
    ),
    (
        "bogus-encoding.svg",
        b'<?xml version="1.0" encoding="bogus"?><svg xmlns="http://www.w3.org/2000/svg"/>',
        "well-formed",
    ),
    (
        "multibyte-encoding.svg",
        b'<?xml version="1.0" encoding="shift_jis"?><svg xmlns="http://www.w3.org/2000/svg"/>',
        "well-formed",
    ),
    (
        "quoted-url.svg",
        b'<svg xmlns="http://www.w3.org/2000/svg"><rect fill="url(\'https://evil.example/x\')"/></svg>',
        "outside resources",
    ),
    (
        "protocol-relative-url.svg",
        b'<svg xmlns="http://www.w3.org/2000/svg"><rect style="fill:url(//evil.example/x)"/></svg>',
        "outside resources",
    ),
    ("broken.svg", b'<svg xmlns="http://www.w3.org/2000/svg"><rect></svg>', "well-formed"),
    ("html.svg", b"<html><body>hi</body></html>", "not <svg>"),
    ("picture.gif", b"GIF89a\x01\x00\x01\x00\x00\x00\x00;", ".png or .svg"),
    ("plan", make_png(), ".png or .svg"),
    ("too-big.png", make_png() + b"\x00" * MAX_PLAN_BYTES, "larger than 5 MB"),
]


@pytest.mark.parametrize(("name", "data", "fragment"), REFUSED_PLANS, ids=[n for n, _, _ in REFUSED_PLANS])
def test_floor_plan_refused(
    hotel: Hotel, manager_client: Client, media_root: Path, name: str, data: bytes, fragment: str
) -> None:
    before = snapshot(Floor)
    response = manager_client.post(
        f"/p/{hotel.prop.code}/floors/new/", {"level": "3", "name": "Third", "plan": upload(name, data)}
    )
    assert_refused(response, "plan", fragment)
    assert snapshot(Floor) == before
    assert stored_files(media_root) == []


def test_floor_plan_refused_on_edit_keeps_the_old_plan(hotel: Hotel, manager_client: Client, media_root: Path) -> None:
    url = f"/p/{hotel.prop.code}/floors/{hotel.floor.pk}/"
    assert (
        manager_client.post(url, {"level": "0", "name": "Ground", "plan": upload("a.png", make_png())}).status_code
        == 302
    )
    before = snapshot(Floor)
    files_before = stored_files(media_root)
    bad = b'<svg xmlns="http://www.w3.org/2000/svg" onclick="x()"/>'
    response = manager_client.post(url, {"level": "0", "name": "Renamed", "plan": upload("b.svg", bad)})
    assert_refused(response, "plan", "onclick")
    assert snapshot(Floor) == before
    assert stored_files(media_root) == files_before


# --- The image checks themselves: any bytes give an answer or ImageRejected, never another exception ----


@hypothesis_settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.binary(max_size=2048))
def test_check_png_only_raises_image_rejected(data: bytes) -> None:
    try:
        width, height = check_png(data)
    except ImageRejected:
        return
    assert width > 0 and height > 0


@hypothesis_settings(max_examples=300, deadline=None)
@given(st.binary(max_size=200), st.integers(min_value=0, max_value=200))
def test_check_png_on_damaged_real_png(noise: bytes, cut: int) -> None:
    good = make_png()
    mutated = good[:cut] + noise + good[cut + len(noise) :]
    try:
        check_png(mutated)
    except ImageRejected:
        return


@hypothesis_settings(max_examples=400, deadline=None)
@given(st.binary(max_size=2048))
def test_check_svg_only_raises_image_rejected_on_bytes(data: bytes) -> None:
    try:
        check_svg(data)
    except ImageRejected:
        return


SVG_PIECES = st.sampled_from(
    [
        "<svg",
        "</svg>",
        ' xmlns="http://www.w3.org/2000/svg"',
        ">",
        "<",
        "/>",
        "<rect",
        ' x="1"',
        " onload=",
        ' href="#a"',
        ' href="http://x"',
        "<style>",
        "</style>",
        "url(",
        "<![CDATA[",
        "]]>",
        "<!--",
        "-->",
        "<?xml version='1.0' encoding='utf-16'?>",
        "<?xml version='1.0' encoding='bogus'?>",
        "<?xml version='1.0' encoding='shift_jis'?>",
        "<?xml version='1.0' encoding='rot13'?>",
        "<!DOCTYPE svg>",
        "<!ENTITY e 'x'>",
        "&e;",
        "<?pi x?>",
        "&amp;",
        "&#0;",
        "&#x110000;",
        "&lt;",
        "\x00",
        "\ud7ff",
        "é",
        '"',
        "'",
        "=",
    ]
)


@hypothesis_settings(max_examples=600, deadline=None)
@given(st.lists(SVG_PIECES, max_size=30), st.sampled_from(["utf-8", "utf-16", "latin-1"]))
def test_check_svg_only_raises_image_rejected_on_svg_like_text(pieces: list[str], encoding: str) -> None:
    data = "".join(pieces).encode(encoding, errors="ignore")
    try:
        check_svg(data)
    except ImageRejected:
        return


def test_check_svg_accepts_the_sample_plan() -> None:
    check_svg(PLAN_SVG)  # control: the fuzzed checks are not simply refusing everything
    assert check_png(make_png(7, 5)) == (7, 5)
