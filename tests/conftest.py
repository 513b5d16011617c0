"""Shared fixtures: a property with structure, one user per role, an outsider at another property."""

from __future__ import annotations

import struct
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from django.test import Client
from django.utils import timezone, translation
from django_otp.oath import totp
from django_otp.plugins.otp_totp.models import TOTPDevice

from custody.accounts.models import RoleAssignment, User
from custody.accounts.roles import TWO_FACTOR_ROLES, Role
from custody.footage.models import Camera
from custody.properties.models import Area, AreaClass, AreaKind, Floor, Jurisdiction, Property, Room, RoomType

PASSWORD = "correct horse battery staple 42"


@dataclass
class Hotel:
    prop: Property
    floor: Floor
    lobby: Area
    bathroom: Area
    room: Room
    camera: Camera


def make_hotel(code: str = "seaside", name: str = "Seaside Hotel") -> Hotel:
    prop = Property.objects.create(code=code, name=name, timezone="Europe/Madrid", jurisdiction=Jurisdiction.ES)
    floor = Floor.objects.create(property=prop, level=0, name="Ground")
    lobby = Area.objects.create(
        property=prop, floor=floor, name="Lobby", kind=AreaKind.LOBBY, area_class=AreaClass.PUBLIC
    )
    bathroom = Area.objects.create(
        property=prop, floor=floor, name="Toilets", kind=AreaKind.BATHROOM, area_class=AreaClass.PRIVATE
    )
    room = Room.objects.create(property=prop, floor=floor, number="101", room_type=RoomType.DOUBLE)
    camera = Camera(property=prop, area=lobby, code="CAM-1", name="Lobby camera")
    camera.save()
    return Hotel(prop, floor, lobby, bathroom, room, camera)


@pytest.fixture
def hotel(db: None) -> Hotel:
    return make_hotel()


@pytest.fixture
def other_hotel(db: None) -> Hotel:
    return make_hotel("hilltop", "Hilltop Inn")


# Fixture users stand for staff who have worked at the hotel for a while: make_user backdates their account and the
# roles it gives by this much, past the approver cooling-off period (CUSTODY_APPROVER_COOLING_OFF_HOURS, 72 h), so
# they may decide requests (custody.accounts.separation). Tests of the cooling-off period pass established=False.
ESTABLISHED_AGO = timedelta(days=30)


def backdate(user: User, ago: timedelta = ESTABLISHED_AGO) -> User:
    """Move the account's creation and every role it holds back by `ago` (as if made that long ago)."""
    then = timezone.now() - ago
    User.objects.filter(pk=user.pk).update(date_joined=then)
    RoleAssignment.objects.filter(user=user).update(granted_at=then)
    user.date_joined = then
    return user


def make_user(
    username: str, prop: Property | None = None, *roles: str, totp_device: bool = False, established: bool = True
) -> User:
    user = User.objects.create_user(username=username, password=PASSWORD, display_name=username.title())
    for role in roles:
        assert prop is not None
        RoleAssignment.objects.create(user=user, property=prop, role=role)
    if totp_device:
        TOTPDevice.objects.create(user=user, name="authenticator", confirmed=True)
    if established:
        backdate(user)
    return user


def current_code(user: User) -> str:
    device = TOTPDevice.objects.get(user=user, confirmed=True)
    return f"{totp(device.bin_key, step=device.step, t0=device.t0, digits=device.digits):06d}"


def signed_in_client(user: User) -> Client:
    """A client that has passed sign-in, and two-factor where the user has a device."""
    client = Client()
    response = client.post("/accounts/login/", {"username": user.username, "password": PASSWORD})
    assert response.status_code == 302, response.content[:500]
    if TOTPDevice.objects.filter(user=user, confirmed=True).exists():
        response = client.post("/accounts/two-factor/", {"token": current_code(user)})
        assert response.status_code == 302, response.content[:500]
    return client


@pytest.fixture
def user_for_role(hotel: Hotel) -> Callable[[str], User]:
    """A user holding exactly one role at the hotel (with TOTP enrolled where the role requires it)."""

    def make(role: str) -> User:
        return make_user(f"u-{role}", hotel.prop, role, totp_device=role in TWO_FACTOR_ROLES)

    return make


@pytest.fixture
def client_for_role(user_for_role: Callable[[str], User]) -> Callable[[str], Client]:
    def make(role: str) -> Client:
        return signed_in_client(user_for_role(role))

    return make


@pytest.fixture
def manager_client(client_for_role: Callable[[str], Client]) -> Client:
    return client_for_role(Role.PROPERTY_MANAGER)


# --- Shared by the permission, auth, bad-input and structure tests ------------------------------------------

OUTSIDER = "outsider"


@pytest.fixture
def outsider(other_hotel: Hotel) -> User:
    """A user holding every role, but only at the other hotel."""
    return make_user(OUTSIDER, other_hotel.prop, *Role.values, totp_device=True)


@pytest.fixture
def media_root(settings: Any, tmp_path: Path) -> Path:
    """Uploaded files go to a fresh folder, so a test can tell exactly what was stored."""
    root = tmp_path / "media"
    root.mkdir()
    settings.MEDIA_ROOT = root
    return root


def stored_files(root: Path) -> list[Path]:
    return sorted(p for p in root.rglob("*") if p.is_file())


def png_chunk(kind: bytes, body: bytes) -> bytes:
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))


def make_png(width: int = 4, height: int = 3) -> bytes:
    """A complete, valid RGB PNG built without an image library."""
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    rows = b"".join(b"\x00" + b"\x80\x90\xa0" * width for _ in range(height))
    return (
        b"\x89PNG\r\n\x1a\n"
        + png_chunk(b"IHDR", header)
        + png_chunk(b"IDAT", zlib.compress(rows))
        + png_chunk(b"IEND", b"")
    )


PLAN_SVG = (
    b'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 100 50">'
    b'<rect x="1" y="1" width="98" height="48" fill="#eef2f7" stroke="#1e3a5f"/>'
    b'<text x="50" y="30" text-anchor="middle">101</text></svg>'
)


def fresh_totp_code(user: User) -> str:
    """The current code, usable even when this time step was already used (django-otp refuses replays)."""
    TOTPDevice.objects.filter(user=user, confirmed=True).update(last_t=-1)
    return current_code(user)


@pytest.fixture(autouse=True)
def _default_language_after_each_test() -> Iterator[None]:
    """A request in Chinese leaves Chinese active in the thread (LocaleMiddleware activates, nothing deactivates);
    the next test must not inherit it."""
    yield
    translation.deactivate()


@pytest.fixture(autouse=True, scope="session")
def _audit_triggers_allow_test_flush() -> Iterator[None]:
    """Transactional tests end with a flush; the append-only triggers would refuse it, so lift them for it only."""
    from django.core.management.commands import flush
    from django.db import connections

    from custody.audit import triggers

    original = flush.Command.handle

    def handle(self: flush.Command, *args: object, **options: object) -> object:
        connection = connections[str(options.get("database") or "default")]
        triggers.apply(connection, triggers.DROP)
        try:
            return original(self, *args, **options)
        finally:
            triggers.apply(connection, triggers.CREATE)

    flush.Command.handle = handle  # type: ignore[method-assign]
    yield
    flush.Command.handle = original  # type: ignore[method-assign]


# --- Guest registry ------------------------------------------------------------------------------------------


@pytest.fixture
def fresh_keys(settings: Any, tmp_path: Path) -> Iterator[Path]:
    """The key-encryption key ring and blind-index key are generated in a fresh folder for this test."""
    from custody.crypto import keys

    home = tmp_path / "key-home"
    home.mkdir(mode=0o700)
    settings.CUSTODY_HOME = home
    settings.CUSTODY_KEK_FILE = None
    settings.CUSTODY_INDEX_KEY_FILE = None
    keys.reset_key_caches()
    yield home
    keys.reset_key_caches()


@pytest.fixture
def desk_clerk(hotel: Hotel) -> User:
    """A front-desk user at the hotel: the acting user of guest registry writes and reads in tests."""
    return make_user("desk-clerk", hotel.prop, Role.FRONT_DESK)
