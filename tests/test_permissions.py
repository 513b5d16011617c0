"""Every URL for every role: the house rule's permission matrix.

Rows are URL names (every name the resolver knows; a new URL without a row fails
`test_every_url_is_in_the_matrix`), columns are who asks: nobody signed in, each of the seven roles at
the hotel, and an outsider who holds every role but only at another hotel. Objects of a property the user
has no role at are a 404 so their existence never leaks; a missing role is a 403.
"""

from __future__ import annotations

import datetime as dt
import importlib
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from django.core.files.base import ContentFile
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import transaction
from django.test import Client
from django.urls import URLPattern, URLResolver, get_resolver, reverse
from django.utils import timezone
from django_otp.plugins.otp_static.models import StaticDevice
from django_otp.plugins.otp_totp.models import TOTPDevice
from django_tasks_db.models import DBTaskResult

from custody.accounts import invitations, proposals
from custody.accounts.actions import do_issue_recovery_codes
from custody.accounts.models import Invitation, RoleAssignment, RoleProposal, User
from custody.accounts.roles import TWO_FACTOR_ROLES, Role
from custody.audit.models import AuditEntry
from custody.guests import desk, imports, vault
from custody.guests.models import Stay, StayImport, StayStatus
from custody.properties.models import Area, AreaClass, AreaKind, Floor, Property, Room, RoomType
from custody.requests import actions as request_actions
from custody.requests.models import AccessRequest, ApprovalPolicy, BreakGlassReview, Grant
from tests.conftest import OUTSIDER, PLAN_SVG, Hotel, make_user, signed_in_client

ANON = "anonymous"
FD, SO, SM, PO, PM, IT, AU = (
    Role.FRONT_DESK.value,
    Role.SECURITY_OFFICER.value,
    Role.SECURITY_MANAGER.value,
    Role.PRIVACY_OFFICER.value,
    Role.PROPERTY_MANAGER.value,
    Role.IT_ADMIN.value,
    Role.AUDITOR.value,
)
ROLES = [r.value for r in Role]
WHO = [ANON, *ROLES, OUTSIDER]
WITH_TOTP = {*TWO_FACTOR_ROLES, OUTSIDER}  # these sign in with a second factor
ADMINS = {PM, IT}
AUDIT_READERS = {AU, PO, PM}
DESK = {FD, PM}
ClientFor = Callable[[str], Client]


@pytest.fixture(autouse=True)
def fast_hashing(settings: Any) -> None:
    # Hundreds of sign-ins: argon2 (checked in test_auth) would make this file slow without testing more.
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@dataclass(frozen=True)
class Redirect:
    """A 302 whose Location starts with `to`."""

    to: str


LOGIN = Redirect("/accounts/login/?next=")


@dataclass
class World:
    hotel: Hotel
    other: Hotel
    spare_floor: Floor  # has a plan, holds nothing: may be deleted
    spare_area: Area  # holds no camera: may be deleted
    spare_room: Room
    target: User  # a front-desk member of staff with an authenticator and recovery codes
    other_target: User  # staff of the other hotel only
    stay: Stay  # an in-house stay at the hotel (guest data under the generated keys)
    arrival: Stay | None = None  # a stay booked to arrive today, no room yet
    # Access requests, made when a row first asks for them (see access_request): by state, plus "grant" and "glass".
    requests: dict[str, Any] = field(default_factory=dict)


@pytest.fixture
def world(hotel: Hotel, other_hotel: Hotel, media_root: Any) -> World:
    spare_floor = Floor.objects.create(property=hotel.prop, level=5, name="Fifth")
    spare_floor.plan.save("plan.svg", ContentFile(PLAN_SVG), save=False)
    spare_floor.plan_content_type = "image/svg+xml"
    spare_floor.save()
    other_hotel.floor.plan.save("plan.svg", ContentFile(PLAN_SVG), save=False)
    other_hotel.floor.plan_content_type = "image/svg+xml"
    other_hotel.floor.save()
    spare_area = Area.objects.create(
        property=hotel.prop, floor=hotel.floor, name="Store", kind=AreaKind.STORAGE, area_class=AreaClass.STAFF_ONLY
    )
    spare_room = Room.objects.create(property=hotel.prop, floor=hotel.floor, number="102", room_type=RoomType.SINGLE)
    target = make_user("target", hotel.prop, FD, totp_device=True)
    do_issue_recovery_codes(target)
    other_target = make_user("other-target", other_hotel.prop, FD)
    world = World(hotel, other_hotel, spare_floor, spare_area, spare_room, target, other_target, in_house_stay(hotel))
    world.arrival = booked_arrival(hotel)
    past_guest_no_one_may_see(hotel)
    return world


# A guest who stayed last month: no standing purpose covers them and no request or grant of any world names them,
# so no page, for any role, may show any of these values (issue 12: a fresh, ungranted account sees no guest field).
CANARY = {
    "surname": "Quenbyrr",
    "given_names": "Olwethu",
    "phone": "+34 699 417 205",
    "email": "quenbyrr@canary.example",
    "nationality": "NZ",
}
CANARY_DOCUMENT = "QX7714259"
CANARY_BOOKING = "QNB-CANARY-88"
CANARY_VALUES = [CANARY["surname"], CANARY["given_names"], CANARY["phone"], CANARY["email"], CANARY_DOCUMENT,
                 CANARY_BOOKING]  # fmt: skip


def past_guest_no_one_may_see(hotel: Hotel) -> Stay:
    guest = vault.create_guest(hotel.prop, CANARY, acting_user=None)
    vault.add_identity_document(guest, {"doc_type": "passport", "number": CANARY_DOCUMENT}, acting_user=None)
    today = desk.property_today(hotel.prop)
    return vault.create_stay(
        hotel.prop,
        primary_guest=guest,
        room=hotel.room,
        check_in_planned=today - dt.timedelta(days=30),
        check_out_planned=today - dt.timedelta(days=28),
        booking_reference=CANARY_BOOKING,
        status=StayStatus.CHECKED_OUT,
        acting_user=None,
    )


# Rows that send footage or an evidence package to the one person whose grant covers it (the matrix says who).
FOOTAGE_ROWS = frozenset({"playback:stream", "evidence:download"})


def assert_no_personal_data(response: Any, label: str) -> None:
    """No value of the canary guest, and no footage, in what the page sent (streamed bodies included)."""
    kind = response.get("Content-Type", "")
    assert not kind.startswith("video/"), f"{label}: footage sent ({kind})"
    streamed = getattr(response, "streaming", False)
    body = b"".join(response.streaming_content) if streamed else response.content
    text = body.decode("utf-8", errors="replace")
    leaked = [value for value in CANARY_VALUES if value in text or value.upper() in text]
    assert not leaked, f"{label}: shows {leaked}"


def booked_arrival(hotel: Hotel) -> Stay:
    guest = vault.create_guest(hotel.prop, {"surname": "Arriving", "given_names": "Guest"}, acting_user=None)
    today = desk.property_today(hotel.prop)
    return vault.create_stay(
        hotel.prop,
        primary_guest=guest,
        check_in_planned=today,
        check_out_planned=today + dt.timedelta(days=1),
        booking_reference="MATRIX-2",
        acting_user=None,
    )


def in_house_stay(hotel: Hotel) -> Stay:
    guest = vault.create_guest(hotel.prop, {"surname": "Matrix", "given_names": "Guest"}, acting_user=None)
    vault.add_identity_document(guest, {"doc_type": "passport", "number": "M1234567"}, acting_user=None)
    today = desk.property_today(hotel.prop)
    return vault.create_stay(
        hotel.prop,
        primary_guest=guest,
        room=hotel.room,
        check_in_planned=today,
        check_out_planned=today,
        booking_reference="MATRIX-1",
        status=StayStatus.IN_HOUSE,
        acting_user=None,
    )


@pytest.fixture
def client_as(world: World, user_for_role: Callable[[str], User], request: pytest.FixtureRequest) -> ClientFor:
    """A signed-in client (second factor passed where the user has one) for each column of the matrix."""

    def make(who: str) -> Client:
        if who == ANON:
            return Client()
        if who == OUTSIDER:
            return signed_in_client(request.getfixturevalue("outsider"))
        return signed_in_client(user_for_role(who))

    return make


Expect = int | Redirect
Kwargs = Callable[[World], dict[str, Any]]


def no_kwargs(w: World) -> dict[str, Any]:
    return {}


def prop_kwargs(w: World) -> dict[str, Any]:
    return {"code": w.hotel.prop.code}


def pk_kwargs(getter: Callable[[World], Any]) -> Kwargs:
    return lambda w: {"code": w.hotel.prop.code, "pk": getter(w).pk}


def stay_kwargs(w: World) -> dict[str, Any]:
    return {"code": w.hotel.prop.code, "stay_id": w.stay.pk}


IMPORT_CSV = b"Surname,Booking reference,Check-in date,Check-out date\r\nImported,IMP-1,2026-01-01,2026-01-02\r\n"
IMPORT_MAPPING = {
    f"column_{i}": name for i, name in enumerate(["surname", "booking_reference", "check_in", "check_out"])
}


def the_import(w: World) -> Any:
    """The hotel's stay import (uploaded for the test), or None when it has none."""
    return StayImport.objects.filter(property=w.hotel.prop).first()


def import_kwargs(checked: bool = False) -> Kwargs:
    def kwargs(w: World) -> dict[str, Any]:
        stay_import = the_import(w) or imports.do_upload(w.hotel.prop, IMPORT_CSV, acting_user=None)
        if checked:
            imports.do_check(stay_import, stay_import.mapping, acting_user=None)
        return {"code": w.hotel.prop.code, "import_id": stay_import.pk}

    return kwargs


def arrival_kwargs(w: World) -> dict[str, Any]:
    assert w.arrival is not None
    return {"code": w.hotel.prop.code, "stay_id": w.arrival.pk}


@dataclass(frozen=True)
class Post:
    """A POST with valid data, and how to tell whether it changed anything."""

    data: Callable[[World], dict[str, Any]]
    changed: Callable[[World], bool]
    expect: dict[str, Expect]


@dataclass(frozen=True)
class Row:
    kwargs: Kwargs
    get: dict[str, Expect]
    post: Post | None = field(default=None)


def everyone(status: Expect) -> dict[str, Expect]:
    return dict.fromkeys(WHO, status)


def signed_in(status: Expect | Callable[[str], Expect], anonymous: Expect = LOGIN) -> dict[str, Expect]:
    """Anonymous is sent to sign in; everyone signed in gets `status` (or status(who))."""
    table: dict[str, Expect] = {ANON: anonymous}
    for who in [*ROLES, OUTSIDER]:
        table[who] = status(who) if callable(status) else status
    return table


def at_hotel(allowed: set[str], ok: Expect = 200) -> dict[str, Expect]:
    """A page of the hotel: `allowed` roles get `ok`, other roles 403, the outsider 404, anonymous -> sign in."""
    table: dict[str, Expect] = {ANON: LOGIN, OUTSIDER: 404}
    for role in ROLES:
        table[role] = ok if role in allowed else 403
    return table


METHOD_NOT_ALLOWED = everyone(405)


def admin_post(
    data: Callable[[World], dict[str, Any]], changed: Callable[[World], bool], allowed: set[str] = ADMINS
) -> Post:
    return Post(data, changed, at_hotel(allowed, ok=Redirect("/p/seaside/")))


def refreshed(obj: Any) -> Any:
    return type(obj).objects.filter(pk=obj.pk).first()


def floor_data(w: World) -> dict[str, Any]:
    return {"level": 5, "name": "Renamed floor"}


def area_data(w: World) -> dict[str, Any]:
    return {"name": "Renamed store", "floor": w.hotel.floor.pk, "kind": AreaKind.STORAGE, "area_class": ""}


# --- access requests: one per state, filed by "requester" (a security officer outside the columns) -------------

REQUESTERS = {FD, SO, SM, PO, PM}
REVIEWERS = {SM, PO, PM}
INSTRUMENT = b"%PDF-1.4\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n"


def _person(w: World, username: str, role: str) -> User:
    return User.objects.filter(username=username).first() or make_user(username, w.hotel.prop, role)


def access_request(w: World, state: str = "submitted") -> AccessRequest:
    """A footage request in `state` (draft, submitted, needs_info, approved), or "lookup": an approved guest lookup."""
    if state not in w.requests:
        requester, approver = _person(w, "requester", SO), _person(w, "approver", PO)
        start = timezone.now().replace(microsecond=0) - dt.timedelta(hours=3)
        data = request_actions.RequestData(
            request_type="guest_lookup" if state == "lookup" else "footage_view",
            purpose="security_incident",
            legal_basis="legitimate_interests",
            cameras=[] if state == "lookup" else [w.hotel.camera],
            window_start=None if state == "lookup" else start,
            window_end=None if state == "lookup" else start + dt.timedelta(minutes=30),
            guests=[
                {"kind": "name", "surname": "Matrix", "given_names": "Guest", "second_kind": "booking_reference",
                 "second_value": "MATRIX-1"}
            ] if state == "lookup" else [],
            stay_from=timezone.now().date() - dt.timedelta(days=30) if state == "lookup" else None,
            stay_until=timezone.now().date() if state == "lookup" else None,
            instrument=INSTRUMENT,
            instrument_name="order.pdf",
        )
        access = request_actions.create_request(w.hotel.prop, data, acting_user=requester)
        if state != "draft":
            access = request_actions.submit_request(access, acting_user=requester)
        if state == "needs_info":
            access = request_actions.ask_for_information(access, "Which table?", acting_user=approver)
        if state in ("approved", "lookup"):
            access = request_actions.approve_request(access, acting_user=approver)
        w.requests[state] = access
    return w.requests[state]


def the_grant(w: World) -> Grant:
    return Grant.objects.get(request=access_request(w, "lookup"))


def emergency_grant(w: World) -> Grant:
    if "glass" not in w.requests:
        start = timezone.now().replace(microsecond=0) - dt.timedelta(hours=1)
        w.requests["glass"] = request_actions.open_break_glass(
            w.hotel.prop,
            acting_user=_person(w, "glass", SM),
            cameras=[w.hotel.camera],
            window_start=start,
            window_end=start + dt.timedelta(minutes=20),
            emergency="fire",
            reason="Smoke in the lobby",
        )
    return w.requests["glass"]


def request_kwargs(state: str = "submitted") -> Kwargs:
    return lambda w: {"code": w.hotel.prop.code, "pk": access_request(w, state).pk}


def status_of(w: World, state: str) -> str:
    return AccessRequest.objects.get(pk=access_request(w, state).pk).status


def entitled(ok: Expect, filers: Expect = 404) -> dict[str, Expect]:
    """A request's page: reviewers get `ok`; someone else's request is a 404 to other filers (it is not theirs)
    and a 403 to roles that neither file nor review."""
    table = at_hotel(REVIEWERS, ok=ok)
    table.update({FD: filers, SO: filers})
    return table


def reviewer_post(data: Callable[[World], dict[str, Any]], changed: Callable[[World], bool], to: str) -> Post:
    return Post(data, changed, at_hotel(REVIEWERS, ok=Redirect(to)))


def requester_only_post(data: Callable[[World], dict[str, Any]] = lambda w: {}) -> Post:
    """Only the requester (no column here) may: reviewers are refused by the action (409), other filers 404."""
    return Post(data, lambda w: False, entitled(409))


NO_POST = Post(lambda w: {}, lambda w: False, METHOD_NOT_ALLOWED)
REQUESTS_PAGE = "/p/seaside/requests/"


def break_glass_data(w: World) -> dict[str, Any]:
    import zoneinfo

    zone = zoneinfo.ZoneInfo(w.hotel.prop.timezone)
    start = (timezone.now() - dt.timedelta(hours=1)).astimezone(zone)
    return {
        "emergency": "fire",
        "cameras": [w.hotel.camera.pk],
        "window_start": start.strftime("%Y-%m-%dT%H:%M"),
        "window_end": (start + dt.timedelta(minutes=15)).strftime("%Y-%m-%dT%H:%M"),
        "reason": "Smoke",
    }


POLICY_DATA = {
    "approvals_required": "1",
    "approver_roles": [SM],
    "max_window_minutes": "60",
    "grant_days": "3",
    "view_quota": "",
    "due_days": "",
}


# --- staff accounts: a role proposal, an account waiting for its invitation, an invitation link ---------------


def role_proposal(w: World) -> RoleProposal:
    """The target proposed as security manager by "proposer", a property manager outside the columns."""
    found = RoleProposal.objects.filter(user=w.target, role=SM).first()
    if found is None:
        with transaction.atomic():
            found = proposals.file_proposal(w.hotel.prop, w.target, SM, acting_user=_person(w, "proposer", PM))
    return found


def invitee(w: World) -> User:
    """A front-desk account that has not set its own password yet."""
    found = User.objects.filter(username="invitee").first()
    if found is None:
        found = make_user("invitee", w.hotel.prop, FD)
        found.set_unusable_password()
        found.save()
    return found


def invitation_kwargs(w: World) -> dict[str, Any]:
    if "invitation" not in w.requests:
        with transaction.atomic():
            _invitation, w.requests["invitation"] = invitations.issue(invitee(w), acting_user=None, prop=w.hotel.prop)
    return {"token": w.requests["invitation"]}


OWN_PASSWORD = {"new_password1": "an invited person's phrase 5", "new_password2": "an invited person's phrase 5"}


MATRIX: dict[str, Row] = {
    "set_language": Row(
        no_kwargs,
        METHOD_NOT_ALLOWED,
        Post(lambda w: {"language": "zh-hans", "next": "/"}, lambda w: False, everyone(Redirect("/"))),
    ),
    "core:root": Row(
        no_kwargs,
        signed_in(lambda who: Redirect("/p/hilltop/") if who == OUTSIDER else Redirect("/p/seaside/")),
        Post(lambda w: {}, lambda w: False, METHOD_NOT_ALLOWED),
    ),
    "core:switch_property": Row(
        no_kwargs,
        METHOD_NOT_ALLOWED,
        Post(
            lambda w: {"property": w.hotel.prop.code},
            lambda w: False,
            {**signed_in(Redirect("/p/seaside/")), OUTSIDER: 404},
        ),
    ),
    "core:home": Row(
        prop_kwargs,
        at_hotel(set(ROLES)),
        Post(lambda w: {}, lambda w: False, METHOD_NOT_ALLOWED),
    ),
    "accounts:login": Row(no_kwargs, {**signed_in(Redirect("/")), ANON: 200}),
    "accounts:logout": Row(
        no_kwargs,
        METHOD_NOT_ALLOWED,
        Post(lambda w: {}, lambda w: False, everyone(Redirect("/accounts/login/"))),
    ),
    # Without an authenticator the verify page shows its form; with one already passed it sends the user on.
    "accounts:verify": Row(no_kwargs, signed_in(lambda who: Redirect("/") if who in WITH_TOTP else 200)),
    "accounts:setup_two_factor": Row(no_kwargs, signed_in(200)),
    "accounts:recovery_codes": Row(
        no_kwargs,
        signed_in(lambda who: 200 if who in WITH_TOTP else Redirect("/accounts/two-factor/setup/")),
    ),
    "accounts:password_change": Row(no_kwargs, signed_in(200)),
    "accounts:profile": Row(no_kwargs, signed_in(200), Post(lambda w: {}, lambda w: False, METHOD_NOT_ALLOWED)),
    # Anyone holding the link may use it (it is the invited person's secret); it sends them to sign in.
    "accounts:accept_invitation": Row(
        invitation_kwargs,
        everyone(200),
        Post(
            lambda w: OWN_PASSWORD,
            lambda w: invitee(w).has_usable_password(),
            everyone(Redirect("/accounts/login/")),
        ),
    ),
    "properties:property_edit": Row(
        prop_kwargs,
        at_hotel(ADMINS),
        admin_post(
            lambda w: {"name": "Renamed Hotel", "timezone": "Asia/Shanghai", "jurisdiction": "CN", "address": ""},
            lambda w: Property.objects.get(pk=w.hotel.prop.pk).name == "Renamed Hotel",
        ),
    ),
    "properties:floor_list": Row(
        prop_kwargs, at_hotel(ADMINS), Post(lambda w: {}, lambda w: False, METHOD_NOT_ALLOWED)
    ),
    "properties:floor_create": Row(
        prop_kwargs,
        at_hotel(ADMINS),
        admin_post(
            lambda w: {"level": 9, "name": "Ninth"},
            lambda w: Floor.objects.filter(property=w.hotel.prop, level=9).exists(),
        ),
    ),
    "properties:floor_edit": Row(
        pk_kwargs(lambda w: w.spare_floor),
        at_hotel(ADMINS),
        admin_post(floor_data, lambda w: refreshed(w.spare_floor).name == "Renamed floor"),
    ),
    "properties:floor_delete": Row(
        pk_kwargs(lambda w: w.spare_floor),
        METHOD_NOT_ALLOWED,
        admin_post(lambda w: {}, lambda w: refreshed(w.spare_floor) is None),
    ),
    "properties:floor_plan": Row(
        pk_kwargs(lambda w: w.spare_floor),
        at_hotel(ADMINS),
        Post(lambda w: {}, lambda w: False, METHOD_NOT_ALLOWED),
    ),
    "properties:area_list": Row(prop_kwargs, at_hotel(ADMINS), Post(lambda w: {}, lambda w: False, METHOD_NOT_ALLOWED)),
    "properties:area_create": Row(
        prop_kwargs,
        at_hotel(ADMINS),
        admin_post(
            lambda w: {"name": "Gym", "floor": w.hotel.floor.pk, "kind": AreaKind.GYM, "area_class": ""},
            lambda w: Area.objects.filter(property=w.hotel.prop, name="Gym").exists(),
        ),
    ),
    "properties:area_edit": Row(
        pk_kwargs(lambda w: w.spare_area),
        at_hotel(ADMINS),
        admin_post(area_data, lambda w: refreshed(w.spare_area).name == "Renamed store"),
    ),
    "properties:area_delete": Row(
        pk_kwargs(lambda w: w.spare_area),
        METHOD_NOT_ALLOWED,
        admin_post(lambda w: {}, lambda w: refreshed(w.spare_area) is None),
    ),
    "properties:room_list": Row(prop_kwargs, at_hotel(ADMINS), Post(lambda w: {}, lambda w: False, METHOD_NOT_ALLOWED)),
    "properties:room_create": Row(
        prop_kwargs,
        at_hotel(ADMINS),
        admin_post(
            lambda w: {"number": "999", "floor": w.hotel.floor.pk, "room_type": RoomType.SUITE},
            lambda w: Room.objects.filter(property=w.hotel.prop, number="999").exists(),
        ),
    ),
    "properties:room_edit": Row(
        pk_kwargs(lambda w: w.spare_room),
        at_hotel(ADMINS),
        admin_post(
            lambda w: {"number": "102", "floor": w.hotel.floor.pk, "room_type": RoomType.SUITE},
            lambda w: refreshed(w.spare_room).room_type == RoomType.SUITE,
        ),
    ),
    "properties:room_delete": Row(
        pk_kwargs(lambda w: w.spare_room),
        METHOD_NOT_ALLOWED,
        admin_post(lambda w: {}, lambda w: refreshed(w.spare_room) is None),
    ),
    "staff:list": Row(prop_kwargs, at_hotel(ADMINS), Post(lambda w: {}, lambda w: False, METHOD_NOT_ALLOWED)),
    "staff:create": Row(
        prop_kwargs,
        at_hotel(ADMINS),
        Post(
            lambda w: {"username": "newbie", "display_name": "New Person", "email": "", "roles": [FD]},
            lambda w: User.objects.filter(username="newbie").exists(),
            at_hotel(ADMINS, ok=200),  # the page with the invitation link, shown once
        ),
    ),
    "staff:edit": Row(
        pk_kwargs(lambda w: w.target),
        at_hotel(ADMINS),
        admin_post(
            lambda w: {"display_name": "Renamed Target", "email": "", "roles": [FD]},
            lambda w: refreshed(w.target).display_name == "Renamed Target",
        ),
    ),
    "staff:reset_two_factor": Row(
        pk_kwargs(lambda w: w.target),
        METHOD_NOT_ALLOWED,
        admin_post(
            lambda w: {},
            lambda w: (
                not TOTPDevice.objects.filter(user=w.target).exists()
                and not StaticDevice.objects.filter(user=w.target).exists()
            ),
        ),
    ),
    "audit:log": Row(prop_kwargs, at_hotel(AUDIT_READERS), Post(lambda w: {}, lambda w: False, METHOD_NOT_ALLOWED)),
    "audit:export": Row(prop_kwargs, at_hotel(AUDIT_READERS)),
    "audit:entry": Row(
        lambda w: {"code": w.hotel.prop.code, "seq": AuditEntry.objects.filter(actor=w.target).first().seq},  # type: ignore[union-attr]
        at_hotel(AUDIT_READERS),
    ),
    "audit:verify": Row(
        prop_kwargs,
        METHOD_NOT_ALLOWED,
        Post(
            lambda w: {},
            lambda w: DBTaskResult.objects.filter(task_path__endswith="verify_audit_log").exists(),
            at_hotel(AUDIT_READERS, ok=Redirect("/p/seaside/audit/")),
        ),
    ),
    "desk:today": Row(prop_kwargs, at_hotel(DESK), Post(lambda w: {}, lambda w: False, METHOD_NOT_ALLOWED)),
    "desk:check_in": Row(
        prop_kwargs,
        at_hotel(DESK),
        Post(
            lambda w: {
                "surname": "Walk-in",
                "given_names": "New",
                "sex": "F",
                "date_of_birth": "1980-05-06",
                "nationality": "FRA",
                "doc_type": "passport",
                "number": "P9990001",
                "issuing_country": "FRA",
                "room": w.spare_room.pk,
                "check_out_planned": desk.property_today(w.hotel.prop).isoformat(),
            },
            lambda w: Stay.objects.filter(property=w.hotel.prop, room=w.spare_room).exists(),
            at_hotel(DESK, ok=Redirect("/p/seaside/desk/stays/")),
        ),
    ),
    "desk:lookup": Row(
        prop_kwargs,
        at_hotel(DESK),
        Post(
            lambda w: {"reference": "NO-SUCH-BOOKING"},
            lambda w: AuditEntry.objects.filter(action="stay.lookup", outcome="allowed").exists(),
            at_hotel(DESK),  # the page shows what was found (here nothing): a 200, not a redirect
        ),
    ),
    "desk:arrive": Row(
        arrival_kwargs,
        at_hotel(DESK),
        Post(
            lambda w: {
                "surname": "Arriving",
                "given_names": "Guest",
                "sex": "M",
                "date_of_birth": "1975-01-02",
                "nationality": "DEU",
                "doc_type": "passport",
                "number": "C01X00T47",
                "issuing_country": "DEU",
                "room": w.spare_room.pk,
                "check_out_planned": (desk.property_today(w.hotel.prop) + dt.timedelta(days=1)).isoformat(),
            },
            lambda w: Stay.objects.filter(status=StayStatus.IN_HOUSE, room=w.spare_room).exists(),
            at_hotel(DESK, ok=Redirect("/p/seaside/desk/stays/")),
        ),
    ),
    "desk:edit": Row(
        stay_kwargs,
        at_hotel(DESK),
        Post(
            lambda w: {"phone": "+44 20 7946 0000", "preferences": "Late check-out"},
            lambda w: AuditEntry.objects.filter(
                action="guest.updated", object_id=str(w.stay.primary_guest_id)
            ).exists(),
            at_hotel(DESK, ok=Redirect("/p/seaside/desk/stays/")),
        ),
    ),
    "desk:check_out": Row(
        stay_kwargs,
        METHOD_NOT_ALLOWED,
        Post(
            lambda w: {},
            lambda w: Stay.objects.filter(pk=w.stay.pk, status=StayStatus.CHECKED_OUT).exists(),
            at_hotel(DESK, ok=Redirect("/p/seaside/desk/")),
        ),
    ),
    "desk:stay": Row(stay_kwargs, at_hotel(DESK), Post(lambda w: {}, lambda w: False, METHOD_NOT_ALLOWED)),
    "desk:unmask": Row(
        stay_kwargs,
        METHOD_NOT_ALLOWED,
        Post(
            lambda w: {"reason": "identity_check"},
            lambda w: AuditEntry.objects.filter(purpose="front_desk.unmask", outcome="allowed").exists(),
            at_hotel(DESK),  # the page shows the full number once: a 200, not a redirect
        ),
    ),
    "staff:invite": Row(
        pk_kwargs(invitee),
        METHOD_NOT_ALLOWED,
        Post(
            lambda w: {},
            lambda w: Invitation.objects.filter(user=invitee(w)).exists(),
            at_hotel(ADMINS, ok=200),  # the page with the new link
        ),
    ),
    "staff:proposals": Row(prop_kwargs, at_hotel({SM, PO, PM, IT}), NO_POST),
    # Reviewers confirm; the IT admin sees proposals but is refused (403, audited) by the action.
    "staff:decide_proposal": Row(
        pk_kwargs(role_proposal),
        METHOD_NOT_ALLOWED,
        Post(
            lambda w: {"decision": "confirm"},
            lambda w: RoleAssignment.objects.filter(user=w.target, role=SM).exists(),
            at_hotel(REVIEWERS, ok=Redirect("/p/seaside/staff/proposals/")),
        ),
    ),
    "staff:set_active": Row(
        pk_kwargs(lambda w: w.target),
        METHOD_NOT_ALLOWED,
        admin_post(lambda w: {"active": "0"}, lambda w: not refreshed(w.target).is_active, allowed={IT}),
    ),
    "imports:index": Row(
        prop_kwargs,
        at_hotel(ADMINS),
        Post(
            lambda w: {"file": SimpleUploadedFile("export.csv", IMPORT_CSV, content_type="text/csv")},
            lambda w: the_import(w) is not None,
            at_hotel(ADMINS, ok=Redirect("/p/seaside/imports/")),
        ),
    ),
    "imports:detail": Row(import_kwargs(), at_hotel(ADMINS), Post(lambda w: {}, lambda w: False, METHOD_NOT_ALLOWED)),
    "imports:progress": Row(import_kwargs(), at_hotel(ADMINS), Post(lambda w: {}, lambda w: False, METHOD_NOT_ALLOWED)),
    "imports:check": Row(
        import_kwargs(),
        METHOD_NOT_ALLOWED,
        admin_post(lambda w: IMPORT_MAPPING, lambda w: the_import(w).status == "checked"),
    ),
    "imports:commit": Row(
        import_kwargs(checked=True),
        METHOD_NOT_ALLOWED,
        admin_post(lambda w: {}, lambda w: the_import(w).status == "running"),
    ),
    "imports:discard": Row(
        import_kwargs(),
        METHOD_NOT_ALLOWED,
        admin_post(lambda w: {}, lambda w: the_import(w).status == "discarded"),
    ),
    "requests:mine": Row(prop_kwargs, at_hotel(REQUESTERS), NO_POST),
    "requests:queue": Row(prop_kwargs, at_hotel(REVIEWERS), NO_POST),
    "requests:new": Row(
        prop_kwargs,
        at_hotel(REQUESTERS),
        Post(
            lambda w: {
                "request_type": "footage_view",
                "purpose": "security_incident",
                "legal_basis": "consent",
                "urgency": "normal",
                "requester_kind": "staff",
                "save": "1",
            },
            lambda w: AccessRequest.objects.filter(property=w.hotel.prop).exists(),
            at_hotel(REQUESTERS, ok=Redirect(REQUESTS_PAGE)),
        ),
    ),
    "requests:detail": Row(request_kwargs(), entitled(200), NO_POST),
    "requests:edit": Row(request_kwargs("draft"), entitled(403), Post(lambda w: {}, lambda w: False, entitled(403))),
    "requests:submit": Row(request_kwargs("draft"), METHOD_NOT_ALLOWED, requester_only_post()),
    "requests:withdraw": Row(request_kwargs(), METHOD_NOT_ALLOWED, requester_only_post()),
    "requests:answer": Row(
        request_kwargs("needs_info"), METHOD_NOT_ALLOWED, requester_only_post(lambda w: {"text": "4"})
    ),
    "requests:fulfil": Row(request_kwargs("approved"), METHOD_NOT_ALLOWED, requester_only_post()),
    "requests:start_review": Row(
        request_kwargs(),
        METHOD_NOT_ALLOWED,
        reviewer_post(lambda w: {}, lambda w: status_of(w, "submitted") == "in_review", REQUESTS_PAGE),
    ),
    "requests:approve": Row(
        request_kwargs(),
        METHOD_NOT_ALLOWED,
        reviewer_post(lambda w: {}, lambda w: status_of(w, "submitted") == "approved", REQUESTS_PAGE),
    ),
    "requests:deny": Row(
        request_kwargs(),
        METHOD_NOT_ALLOWED,
        reviewer_post(lambda w: {"deny-reason": "No"}, lambda w: status_of(w, "submitted") == "denied", REQUESTS_PAGE),
    ),
    "requests:ask": Row(
        request_kwargs(),
        METHOD_NOT_ALLOWED,
        reviewer_post(
            lambda w: {"ask-reason": "?"}, lambda w: status_of(w, "submitted") == "needs_info", REQUESTS_PAGE
        ),
    ),
    "requests:instrument": Row(request_kwargs(), entitled(200), NO_POST),
    "requests:form_pdf": Row(request_kwargs(), entitled(200), NO_POST),
    "requests:decision_pdf": Row(request_kwargs("approved"), entitled(200), NO_POST),
    "requests:grants": Row(prop_kwargs, at_hotel(REQUESTERS), NO_POST),
    "requests:grant": Row(pk_kwargs(the_grant), entitled(200), NO_POST),
    # Reviewers reach the grant, but only its holder may use it: refused, and the refusal audited.
    "requests:use_grant": Row(
        pk_kwargs(the_grant), METHOD_NOT_ALLOWED, Post(lambda w: {}, lambda w: False, entitled(403))
    ),
    "requests:revoke_grant": Row(
        pk_kwargs(the_grant),
        METHOD_NOT_ALLOWED,
        reviewer_post(
            lambda w: {"revoke-reason": "Done"},
            lambda w: refreshed(the_grant(w)).revoked_at is not None,
            REQUESTS_PAGE + "grants/",
        ),
    ),
    "requests:break_glass": Row(
        prop_kwargs,
        at_hotel({SM}),
        Post(
            break_glass_data,
            lambda w: Grant.objects.filter(break_glass=True, holder__username=f"u-{SM}").exists(),
            at_hotel({SM}, ok=Redirect(REQUESTS_PAGE + "grants/")),
        ),
    ),
    "requests:break_glass_reviews": Row(prop_kwargs, at_hotel({PO}), NO_POST),
    "requests:review_break_glass": Row(
        pk_kwargs(emergency_grant),
        METHOD_NOT_ALLOWED,
        Post(
            lambda w: {f"{emergency_grant(w).pk}-outcome": "justified"},
            lambda w: BreakGlassReview.objects.exists(),
            at_hotel({PO}, ok=Redirect(REQUESTS_PAGE + "emergency/reviews/")),
        ),
    ),
    "requests:policy": Row(prop_kwargs, at_hotel(REVIEWERS), NO_POST),
    "requests:policy_edit": Row(
        lambda w: {"code": w.hotel.prop.code, "request_type": "footage_view", "sensitivity": "public"},
        at_hotel({PO}),
        Post(
            lambda w: POLICY_DATA,
            lambda w: ApprovalPolicy.objects.exists(),
            at_hotel({PO}, ok=Redirect(REQUESTS_PAGE + "policy/")),
        ),
    ),
}


def resolver_url_names() -> set[str]:
    names: set[str] = set()

    def walk(patterns: list[Any], namespace: str) -> None:
        for pattern in patterns:
            if isinstance(pattern, URLResolver):
                inner = f"{namespace}{pattern.namespace}:" if pattern.namespace else namespace
                walk(pattern.url_patterns, inner)
            elif isinstance(pattern, URLPattern) and pattern.name:
                names.add(namespace + pattern.name)

    walk(get_resolver().url_patterns, "")
    return names


# /api/v1/ authenticates with bearer tokens, not sessions: its every-endpoint-for-every-role matrix, with the same
# completeness check, is in tests/test_api.py.
API_NAMESPACE = "api:"


# Areas with many URLs keep their rows in tests/test_permissions_<area>.py: each module defines MATRIX with the same
# Row type, runs its rows through run_get / run_post below, and is counted here.
AREA_MODULES = sorted(path.stem for path in Path(__file__).parent.glob("test_permissions_*.py"))


def all_rows() -> dict[str, Row]:
    rows = dict(MATRIX)
    for module_name in AREA_MODULES:
        area_rows = importlib.import_module(f"tests.{module_name}").MATRIX
        assert not rows.keys() & area_rows.keys(), f"{module_name} repeats rows"
        rows |= area_rows
    return rows


def test_every_url_is_in_the_matrix() -> None:
    names = {name for name in resolver_url_names() if not name.startswith(API_NAMESPACE)}
    assert "set_language" in names and "properties:floor_plan" in names  # the walk reaches nested resolvers
    rows = all_rows()
    assert names - rows.keys() == set(), "URL patterns without a row in the permission matrix"
    assert rows.keys() - names == set(), "rows for URL names that no longer exist"


def test_every_row_names_every_role() -> None:
    for name, row in all_rows().items():
        assert set(row.get) == set(WHO), name
        if row.post is not None:
            assert set(row.post.expect) == set(WHO), name


def check(response: Any, expected: Expect, label: str) -> None:
    if isinstance(expected, Redirect):
        assert response.status_code == 302, f"{label}: {response.status_code}, expected a redirect"
        assert response["Location"].startswith(expected.to), f"{label}: redirected to {response['Location']}"
    else:
        assert response.status_code == expected, f"{label}: {response.status_code}, expected {expected}"


def run_get(world: World, client_as: ClientFor, matrix: dict[str, Row], name: str, who: str) -> Any:
    row = matrix[name]
    url = reverse(name, kwargs=row.kwargs(world))
    response = client_as(who).get(url)
    check(response, row.get[who], f"GET {url} as {who}")
    if not (name in FOOTAGE_ROWS and row.get[who] == 200):
        assert_no_personal_data(response, f"GET {url} as {who}")
    return response


def run_post(
    world: World, client_as: ClientFor, matrix: dict[str, Row], name: str, who: str, *, check_change: bool = True
) -> Any:
    """POST the row's data as `who`; allowed roles (a redirect into the property, or a 200 where the row expects
    one) must change the object, everyone else must change nothing."""
    post = matrix[name].post
    assert post is not None
    url = reverse(name, kwargs=matrix[name].kwargs(world))
    response = client_as(who).post(url, post.data(world))
    expected = post.expect[who]
    check(response, expected, f"POST {url} as {who}")
    assert_no_personal_data(response, f"POST {url} as {who}")
    succeeded = (isinstance(expected, Redirect) and expected.to.startswith("/p/seaside/")) or expected == 200
    if check_change:
        assert post.changed(world) is succeeded, f"POST {url} as {who}: changed={post.changed(world)}"
    return response


def post_rows(matrix: dict[str, Row]) -> list[str]:
    return sorted(name for name, row in matrix.items() if row.post is not None)


@pytest.mark.parametrize("who", WHO)
@pytest.mark.parametrize("name", sorted(MATRIX))
def test_get(world: World, client_as: ClientFor, name: str, who: str) -> None:
    run_get(world, client_as, MATRIX, name, who)


@pytest.mark.parametrize("who", WHO)
@pytest.mark.parametrize("name", post_rows(MATRIX))
def test_post(world: World, client_as: ClientFor, name: str, who: str) -> None:
    # Allowed roles change the object; everyone else changes nothing (auth and core pages change no object here).
    changes = name.startswith(("properties:", "staff:", "desk:", "imports:", "requests:"))
    run_post(world, client_as, MATRIX, name, who, check_change=changes)


# --- Another property's objects under this property's code are a 404, for GET and POST alike ------------

OTHER_OBJECTS: list[tuple[str, str, Callable[[World], Any]]] = [
    ("properties:floor_edit", "get", lambda w: w.other.floor),
    ("properties:floor_plan", "get", lambda w: w.other.floor),
    ("properties:floor_edit", "post", lambda w: w.other.floor),
    ("properties:floor_delete", "post", lambda w: w.other.floor),
    ("properties:area_edit", "get", lambda w: w.other.lobby),
    ("properties:area_edit", "post", lambda w: w.other.lobby),
    ("properties:area_delete", "post", lambda w: w.other.bathroom),
    ("properties:room_edit", "get", lambda w: w.other.room),
    ("properties:room_edit", "post", lambda w: w.other.room),
    ("properties:room_delete", "post", lambda w: w.other.room),
    ("staff:edit", "get", lambda w: w.other_target),
    ("staff:edit", "post", lambda w: w.other_target),
    ("staff:reset_two_factor", "post", lambda w: w.other_target),
    ("staff:invite", "post", lambda w: w.other_target),
    ("staff:decide_proposal", "post", lambda w: other_proposal(w)),
    ("requests:detail", "get", lambda w: other_request(w)),
    ("requests:instrument", "get", lambda w: other_request(w)),
    ("requests:approve", "post", lambda w: other_request(w)),
    ("requests:deny", "post", lambda w: other_request(w)),
]


def other_proposal(w: World) -> RoleProposal:
    """A pending proposal at the other hotel: its staff member proposed as privacy officer there."""
    with transaction.atomic():
        return proposals.file_proposal(w.other.prop, w.other_target, PO, acting_user=None)


def other_request(w: World) -> AccessRequest:
    """A submitted request of the other hotel, filed by its own staff."""
    if "other" not in w.requests:
        data = request_actions.RequestData(
            request_type="guest_lookup",
            purpose="service_dispute",
            legal_basis="contract",
            guests=[
                {"kind": "name", "surname": "Elsewhere", "given_names": "", "second_kind": "booking_reference",
                 "second_value": "ELSEWHERE-1"}
            ],
            stay_from=timezone.now().date() - dt.timedelta(days=30),
            stay_until=timezone.now().date(),
            instrument=INSTRUMENT,
            instrument_name="order.pdf",
        )
        access = request_actions.create_request(w.other.prop, data, acting_user=w.other_target)
        w.requests["other"] = request_actions.submit_request(access, acting_user=w.other_target)
    return w.requests["other"]


@pytest.mark.parametrize(("name", "method", "getter"), OTHER_OBJECTS, ids=[f"{n}-{m}" for n, m, _ in OTHER_OBJECTS])
def test_other_propertys_object_is_404_for_manager(
    world: World, client_as: ClientFor, name: str, method: str, getter: Callable[[World], Any]
) -> None:
    obj = getter(world)
    before = {f.attname: getattr(obj, f.attname) for f in obj._meta.concrete_fields}
    url = reverse(name, kwargs={"code": world.hotel.prop.code, "pk": obj.pk})
    client = client_as(PM)
    data = {"level": 0, "name": "Hijacked", "display_name": "Hijacked", "number": "101", "roles": [FD]}
    response = client.get(url) if method == "get" else client.post(url, data)
    assert response.status_code == 404
    after = type(obj).objects.get(pk=obj.pk)
    assert {f.attname: getattr(after, f.attname) for f in obj._meta.concrete_fields} == before


def test_other_propertys_staff_cannot_be_disabled_by_it_admin(world: World, client_as: ClientFor) -> None:
    url = reverse("staff:set_active", kwargs={"code": world.hotel.prop.code, "pk": world.other_target.pk})
    response = client_as(IT).post(url, {"active": "0"})
    assert response.status_code == 404
    assert User.objects.get(pk=world.other_target.pk).is_active


def test_other_propertys_floor_plan_is_not_served(world: World, client_as: ClientFor) -> None:
    url = reverse("properties:floor_plan", kwargs={"code": world.hotel.prop.code, "pk": world.other.floor.pk})
    response = client_as(IT).get(url)
    assert response.status_code == 404
    assert b"<svg" not in response.content


def test_unknown_property_code_is_404_like_a_foreign_one(world: World, client_as: ClientFor) -> None:
    client = client_as(PM)
    assert client.get("/p/no-such-hotel/").status_code == 404
    assert client.get(f"/p/{world.other.prop.code}/").status_code == 404
    assert client.get(f"/p/{world.other.prop.code}/floors/").status_code == 404
