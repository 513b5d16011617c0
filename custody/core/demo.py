"""The demo hotel: one property, three floors with plans, areas of every class, 40 rooms, one user per role."""

from __future__ import annotations

import base64
import datetime as dt
import secrets
from dataclasses import dataclass
from pathlib import Path

from django.conf import settings
from django.core.files.base import ContentFile
from django.db import transaction
from django.utils import timezone
from django_otp.plugins.otp_totp.models import TOTPDevice

from custody.accounts.actions import do_issue_recovery_codes
from custody.accounts.models import RoleAssignment, User
from custody.accounts.roles import TWO_FACTOR_ROLES, Role
from custody.audit.log import sign_tree_head
from custody.core.demo_footage import seed_demo_footage
from custody.footage.models import Camera
from custody.properties.models import Area, AreaClass, AreaKind, Floor, Jurisdiction, Property, Room, RoomType

PROPERTY_CODE = "harbour-view"
DEMO_STAFF_TENURE = dt.timedelta(days=90)
DEMO_USERS = [
    ("frontdesk", "Li Na (front desk)", Role.FRONT_DESK),
    ("secofficer", "Marco Rossi (security officer)", Role.SECURITY_OFFICER),
    ("secmanager", "Zhang Wei (security manager)", Role.SECURITY_MANAGER),
    ("privacy", "Ana Sousa (privacy officer)", Role.PRIVACY_OFFICER),
    ("manager", "Chen Jing (property manager)", Role.PROPERTY_MANAGER),
    ("itadmin", "Lukas Weber (IT admin)", Role.IT_ADMIN),
    ("auditor", "Emma Clarke (auditor)", Role.AUDITOR),
]
# (level, name, areas as (name, kind, class or None for the kind's default))
FLOORS = [
    (
        0,
        "Ground floor",
        [
            ("Main entrance", AreaKind.ENTRANCE, AreaClass.PUBLIC),
            ("Lobby", AreaKind.LOBBY, AreaClass.PUBLIC),
            ("Harbour restaurant", AreaKind.RESTAURANT, AreaClass.PUBLIC),
            ("Front office", AreaKind.BACK_OFFICE, AreaClass.STAFF_ONLY),
            ("Kitchen", AreaKind.KITCHEN, AreaClass.STAFF_ONLY),
            ("Security control room", AreaKind.SECURITY_ROOM, AreaClass.SECURITY),
            ("Lobby toilets", AreaKind.BATHROOM, AreaClass.PRIVATE),
            ("Staff changing room", AreaKind.CHANGING_ROOM, AreaClass.PRIVATE),
        ],
    ),
    (
        1,
        "First floor",
        [
            ("Corridor 1", AreaKind.CORRIDOR, AreaClass.PUBLIC),
            ("Lift lobby 1", AreaKind.ELEVATOR_LOBBY, AreaClass.PUBLIC),
        ],
    ),
    (
        2,
        "Second floor",
        [
            ("Corridor 2", AreaKind.CORRIDOR, AreaClass.PUBLIC),
            ("Lift lobby 2", AreaKind.ELEVATOR_LOBBY, AreaClass.PUBLIC),
        ],
    ),
]
OUTDOOR_AREAS = [("Car park", AreaKind.CAR_PARK, AreaClass.PUBLIC)]
CAMERAS = [
    ("CAM-01", "Entrance doors", "Main entrance"),
    ("CAM-02", "Lobby and reception", "Lobby"),
    ("CAM-03", "Restaurant", "Harbour restaurant"),
    ("CAM-04", "Car park gate", "Car park"),
    ("CAM-05", "Corridor 1 east", "Corridor 1"),
    ("CAM-06", "Corridor 2 east", "Corridor 2"),
]
ROOM_TYPES = [
    RoomType.DOUBLE,
    RoomType.TWIN,
    RoomType.DOUBLE,
    RoomType.SINGLE,
    RoomType.FAMILY,
    RoomType.DOUBLE,
    RoomType.TWIN,
    RoomType.SUITE,
    RoomType.ACCESSIBLE,
    RoomType.DOUBLE,
]


@dataclass
class DemoLogin:
    username: str
    role: str
    password: str
    totp_secret: str | None
    recovery_codes: list[str]


def floor_plan_svg(level: int, name: str, rooms: list[str], areas: list[str]) -> bytes:
    """A simple architectural sketch: areas and rooms on both sides of a central corridor."""
    spaces = [(area, 130, "#fff7e6", "#9a6700", 11) for area in areas]
    spaces += [(number, 66, "#eef2f7", "#1e3a5f", 14) for number in rooms]
    half = (len(spaces) + 1) // 2
    rows = [spaces[:half], spaces[half:]]
    width = max(sum(w + 4 for _, w, *_ in row) for row in rows) + 36
    parts = [
        f'<rect x="0" y="0" width="{width}" height="300" fill="#ffffff"/>',
        f'<rect x="20" y="120" width="{width - 40}" height="60" fill="#f8fafc" stroke="#94a3b8"/>',
        f'<text x="{width // 2}" y="155" text-anchor="middle" font-size="13" fill="#475569">'
        f"{name} (level {level})</text>",
    ]
    for y, row in ((20, rows[0]), (190, rows[1])):
        x = 20
        for label, cell_width, fill, stroke, size in row:
            parts.append(
                f'<rect x="{x}" y="{y}" width="{cell_width}" height="90" fill="{fill}" stroke="{stroke}"/>'
                f'<text x="{x + cell_width // 2}" y="{y + 50}" text-anchor="middle" font-size="{size}">'
                f"{label}</text>"
            )
            x += cell_width + 4
    svg = (
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {width} 300" font-family="sans-serif">'
        f"{''.join(parts)}</svg>"
    )
    return svg.encode("utf-8")


def seed_demo(*, footage: bool = True) -> list[DemoLogin]:
    """The hotel, its users and logins, then (unless ``footage`` is False) its cameras' demo footage, generated
    outside the transaction."""
    prop, logins = _seed_hotel()
    if footage:
        seed_demo_footage(prop)
    return logins


@transaction.atomic
def _seed_hotel() -> tuple[Property, list[DemoLogin]]:
    prop, _ = Property.objects.get_or_create(
        code=PROPERTY_CODE,
        defaults={
            "name": "Harbour View Hotel",
            "timezone": "Asia/Shanghai",
            "jurisdiction": Jurisdiction.CN,
            "address": "88 Harbour Road, Qingdao",
        },
    )
    room_number = 0
    areas_by_name: dict[str, Area] = {}
    for level, floor_name, areas in FLOORS:
        floor, _created = Floor.objects.get_or_create(property=prop, level=level, defaults={"name": floor_name})
        numbers: list[str] = []
        if level > 0:
            numbers = [f"{level}{n:02d}" for n in range(1, 21)]
            for offset, number in enumerate(numbers):
                Room.objects.get_or_create(
                    property=prop, number=number, defaults={"floor": floor, "room_type": ROOM_TYPES[offset % 10]}
                )
                room_number += 1
        for area_name, kind, area_class in areas:
            areas_by_name[area_name], _ = Area.objects.get_or_create(
                property=prop, name=area_name, defaults={"floor": floor, "kind": kind, "area_class": area_class}
            )
        if not floor.plan:
            svg = floor_plan_svg(level, floor_name, numbers, [a[0] for a in areas])
            floor.plan.save(f"level-{level}.svg", ContentFile(svg), save=False)
            floor.plan_content_type = "image/svg+xml"
            floor.save()
    for area_name, kind, area_class in OUTDOOR_AREAS:
        areas_by_name[area_name], _ = Area.objects.get_or_create(
            property=prop, name=area_name, defaults={"floor": None, "kind": kind, "area_class": area_class}
        )
    for code, name, area_name in CAMERAS:
        if not Camera.objects.filter(property=prop, code=code).exists():
            Camera(property=prop, code=code, name=name, area=areas_by_name[area_name]).save()
    logins = [_demo_user(prop, username, display, role) for username, display, role in DEMO_USERS]
    sign_tree_head()  # so the audit viewer has a signed head to prove entries against from the start
    return prop, logins


def _demo_user(prop: Property, username: str, display: str, role: Role) -> DemoLogin:
    logins = _stored_logins()
    user = User.objects.filter(username=username).first()
    if user is None or username not in logins:
        password = "demo-" + secrets.token_urlsafe(9)
        user = user or User(username=username, display_name=display, email=f"{username}@harbour-view.example")
        user.set_password(password)
        user.save()
        totp_secret = None
        codes: list[str] = []
        if role in TWO_FACTOR_ROLES:
            TOTPDevice.objects.filter(user=user).delete()
            device = TOTPDevice.objects.create(user=user, name="authenticator", confirmed=True)
            totp_secret = base64.b32encode(device.bin_key).decode("ascii")
            codes = do_issue_recovery_codes(user)
        logins[username] = DemoLogin(username, role.value, password, totp_secret, codes)
        _store_logins(logins)
    assignment, created = RoleAssignment.objects.get_or_create(user=user, property=prop, role=role)
    if created:
        # The demo staff are the hotel's established team: their accounts and roles date from before the approver
        # cooling-off period (custody.accounts.separation), so the seeded requests can be decided as in real use.
        then = timezone.now() - DEMO_STAFF_TENURE
        User.objects.filter(pk=user.pk).update(date_joined=then)
        RoleAssignment.objects.filter(pk=assignment.pk).update(granted_at=then)
    return logins[username]


def _logins_path() -> Path:
    return Path(settings.CUSTODY_HOME) / "demo-logins.txt"


def _stored_logins() -> dict[str, DemoLogin]:
    path = _logins_path()
    result: dict[str, DemoLogin] = {}
    if not path.exists():
        return result
    for line in path.read_text(encoding="utf-8").splitlines():
        if not line or line.startswith("#"):
            continue
        username, role, password, secret, codes = [*line.split("\t"), "", ""][:5]
        result[username] = DemoLogin(username, role, password, secret or None, [c for c in codes.split(",") if c])
    return result


def _store_logins(logins: dict[str, DemoLogin]) -> None:
    path = _logins_path()
    lines = ["# demo logins: user, role, password, TOTP secret, recovery codes (demo only; 0600)"]
    lines += [
        f"{d.username}\t{d.role}\t{d.password}\t{d.totp_secret or ''}\t{','.join(d.recovery_codes)}"
        for d in logins.values()
    ]
    path.touch(mode=0o600, exist_ok=True)
    path.chmod(0o600)
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
