"""Happy paths of the structure and staff pages, and the command-line tools that set a hotel up."""

from __future__ import annotations

from collections.abc import Callable
from io import StringIO
from pathlib import Path
from typing import Any

import pytest
from django.core.files.base import ContentFile
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.management import CommandError, call_command
from django.test import Client
from django_otp.plugins.otp_static.models import StaticDevice, StaticToken
from django_otp.plugins.otp_totp.models import TOTPDevice

from custody.accounts import proposals
from custody.accounts.actions import do_issue_recovery_codes
from custody.accounts.models import RoleAssignment, RoleProposal, User
from custody.accounts.roles import TWO_FACTOR_ROLES, Role
from custody.audit.events import Action
from custody.audit.models import AuditEntry
from custody.core.demo import PROPERTY_CODE
from custody.footage.models import Camera
from custody.properties.models import Area, AreaClass, AreaKind, Floor, Property, Room, RoomType
from tests.conftest import PASSWORD, PLAN_SVG, Hotel, make_png, make_user, signed_in_client, stored_files


def messages_of(response: Any) -> list[str]:
    return [str(m) for m in response.context["messages"]]


def roles_of(user: User, prop: Property) -> set[str]:
    return set(RoleAssignment.objects.filter(user=user, property=prop).values_list("role", flat=True))


# --- Floors -----------------------------------------------------------------------------------------------


def test_floor_create_with_plan_and_serve_it(hotel: Hotel, manager_client: Client, media_root: Path) -> None:
    png = make_png(8, 6)
    response = manager_client.post(
        f"/p/{hotel.prop.code}/floors/new/",
        {"level": "1", "name": "First floor", "plan": SimpleUploadedFile("first.png", png)},
        follow=True,
    )
    assert response.status_code == 200
    assert "First floor saved." in messages_of(response)
    assert "First floor" in response.content.decode()
    floor = Floor.objects.get(property=hotel.prop, level=1)
    assert floor.plan_content_type == "image/png"
    assert floor.plan.name == f"floor-plans/{hotel.prop.pk}/level-1.png"

    served = manager_client.get(f"/p/{hotel.prop.code}/floors/{floor.pk}/plan/")
    assert served.status_code == 200
    assert served["Content-Type"] == "image/png"
    assert b"".join(served.streaming_content) == png
    policy = served["Content-Security-Policy"]
    assert "sandbox" in policy
    assert "default-src 'none'" in policy
    assert "script-src" not in policy
    assert served["X-Content-Type-Options"] == "nosniff"


def test_svg_plan_is_served_as_svg_in_a_sandbox(hotel: Hotel, manager_client: Client, media_root: Path) -> None:
    url = f"/p/{hotel.prop.code}/floors/{hotel.floor.pk}/"
    response = manager_client.post(
        url, {"level": "0", "name": "Ground", "plan": SimpleUploadedFile("ground.svg", PLAN_SVG)}
    )
    assert response.status_code == 302
    served = manager_client.get(f"{url}plan/")
    assert served["Content-Type"] == "image/svg+xml"
    assert b"".join(served.streaming_content) == PLAN_SVG
    assert "sandbox" in served["Content-Security-Policy"]


def test_floor_without_plan_has_no_plan_to_serve(hotel: Hotel, manager_client: Client) -> None:
    assert manager_client.get(f"/p/{hotel.prop.code}/floors/{hotel.floor.pk}/plan/").status_code == 404


def test_floor_edit_renames_and_replaces_the_plan(hotel: Hotel, manager_client: Client, media_root: Path) -> None:
    url = f"/p/{hotel.prop.code}/floors/{hotel.floor.pk}/"
    manager_client.post(url, {"level": "0", "name": "Ground", "plan": SimpleUploadedFile("a.svg", PLAN_SVG)})
    png = make_png()
    response = manager_client.post(url, {"level": "-1", "name": "Basement", "plan": SimpleUploadedFile("b.png", png)})
    assert response.status_code == 302
    floor = Floor.objects.get(pk=hotel.floor.pk)
    assert (floor.level, floor.name, floor.plan_content_type) == (-1, "Basement", "image/png")
    assert floor.plan.read() == png


def test_floor_plan_can_be_cleared(hotel: Hotel, manager_client: Client, media_root: Path) -> None:
    url = f"/p/{hotel.prop.code}/floors/{hotel.floor.pk}/"
    manager_client.post(url, {"level": "0", "name": "Ground", "plan": SimpleUploadedFile("a.svg", PLAN_SVG)})
    response = manager_client.post(url, {"level": "0", "name": "Ground", "plan-clear": "on"})
    assert response.status_code == 302
    floor = Floor.objects.get(pk=hotel.floor.pk)
    assert not floor.plan
    assert floor.plan_content_type == ""
    assert manager_client.get(f"{url}plan/").status_code == 404


def test_floor_delete_removes_floor_and_plan(
    hotel: Hotel, manager_client: Client, media_root: Path, django_capture_on_commit_callbacks: Any
) -> None:
    floor = Floor.objects.create(property=hotel.prop, level=4, name="Fourth")
    floor.plan.save("p.svg", ContentFile(PLAN_SVG), save=True)
    assert len(stored_files(media_root)) == 1
    with django_capture_on_commit_callbacks(execute=True):
        response = manager_client.post(f"/p/{hotel.prop.code}/floors/{floor.pk}/delete/", follow=True)
    assert response.status_code == 200
    assert "Fourth deleted." in messages_of(response)
    assert not Floor.objects.filter(pk=floor.pk).exists()
    assert stored_files(media_root) == []


def test_floor_holding_rooms_is_not_deleted(hotel: Hotel, manager_client: Client) -> None:
    response = manager_client.post(f"/p/{hotel.prop.code}/floors/{hotel.floor.pk}/delete/", follow=True)
    assert response.status_code == 200
    [message] = messages_of(response)
    assert "Ground is still in use by" in message
    assert "rooms" in message and "areas" in message
    assert Floor.objects.filter(pk=hotel.floor.pk).exists()
    assert Room.objects.filter(pk=hotel.room.pk).exists()
    assert Area.objects.filter(floor=hotel.floor).count() == 2


def test_floor_list_shows_counts(hotel: Hotel, manager_client: Client) -> None:
    response = manager_client.get(f"/p/{hotel.prop.code}/floors/")
    assert response.status_code == 200
    [ground] = list(response.context["floors"])
    assert (ground.room_count, ground.area_count) == (1, 2)


# --- Areas ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kind", "expected_class"),
    [
        (AreaKind.KITCHEN, AreaClass.STAFF_ONLY),
        (AreaKind.SERVER_ROOM, AreaClass.SECURITY),
        (AreaKind.BATHROOM, AreaClass.PRIVATE),
        (AreaKind.NURSING_ROOM, AreaClass.PRIVATE),
        (AreaKind.RESTAURANT, AreaClass.PUBLIC),
    ],
)
def test_area_class_defaults_from_kind(hotel: Hotel, manager_client: Client, kind: str, expected_class: str) -> None:
    data = {"name": "New area", "floor": str(hotel.floor.pk), "kind": kind, "area_class": ""}
    response = manager_client.post(f"/p/{hotel.prop.code}/areas/new/", data)
    assert response.status_code == 302
    assert response["Location"] == f"/p/{hotel.prop.code}/areas/"
    assert Area.objects.get(property=hotel.prop, name="New area").area_class == expected_class


def test_area_explicit_class_is_kept(hotel: Hotel, manager_client: Client) -> None:
    data = {"name": "Roof", "floor": "", "kind": AreaKind.STORAGE, "area_class": AreaClass.SECURITY}
    assert manager_client.post(f"/p/{hotel.prop.code}/areas/new/", data).status_code == 302
    roof = Area.objects.get(property=hotel.prop, name="Roof")
    assert (roof.area_class, roof.floor) == (AreaClass.SECURITY, None)


def test_area_edit_and_delete(hotel: Hotel, manager_client: Client) -> None:
    data = {"name": "Ladies", "floor": str(hotel.floor.pk), "kind": AreaKind.BATHROOM, "area_class": ""}
    response = manager_client.post(f"/p/{hotel.prop.code}/areas/{hotel.bathroom.pk}/", data)
    assert response.status_code == 302
    assert Area.objects.get(pk=hotel.bathroom.pk).name == "Ladies"
    response = manager_client.post(f"/p/{hotel.prop.code}/areas/{hotel.bathroom.pk}/delete/", follow=True)
    assert "Ladies deleted." in messages_of(response)
    assert not Area.objects.filter(pk=hotel.bathroom.pk).exists()


def test_area_holding_a_camera_is_not_deleted(hotel: Hotel, manager_client: Client) -> None:
    response = manager_client.post(f"/p/{hotel.prop.code}/areas/{hotel.lobby.pk}/delete/", follow=True)
    [message] = messages_of(response)
    assert "Lobby is still in use by: cameras" in message
    assert Area.objects.filter(pk=hotel.lobby.pk).exists()
    assert Camera.objects.filter(pk=hotel.camera.pk).exists()


# --- Rooms ------------------------------------------------------------------------------------------------


def test_room_create_edit_delete(hotel: Hotel, manager_client: Client) -> None:
    first = Floor.objects.create(property=hotel.prop, level=1, name="First")
    base = f"/p/{hotel.prop.code}/rooms/"
    data = {"number": "1A-01", "floor": str(first.pk), "room_type": RoomType.SUITE}
    response = manager_client.post(f"{base}new/", data, follow=True)
    assert "1A-01 saved." in messages_of(response)
    room = Room.objects.get(property=hotel.prop, number="1A-01")
    assert (room.floor, room.room_type) == (first, RoomType.SUITE)

    data = {"number": "102", "floor": str(hotel.floor.pk), "room_type": RoomType.ACCESSIBLE}
    assert manager_client.post(f"{base}{room.pk}/", data).status_code == 302
    room.refresh_from_db()
    assert (room.number, room.floor, room.room_type) == ("102", hotel.floor, RoomType.ACCESSIBLE)
    listing = manager_client.get(base)
    assert [r.number for r in listing.context["rooms"]] == ["101", "102"]

    response = manager_client.post(f"{base}{room.pk}/delete/", follow=True)
    assert "102 deleted." in messages_of(response)
    assert not Room.objects.filter(pk=room.pk).exists()


def test_same_room_number_at_two_properties(hotel: Hotel, other_hotel: Hotel, manager_client: Client) -> None:
    assert Room.objects.filter(number="101").count() == 2  # both hotels have a room 101
    data = {"number": "101", "floor": str(hotel.floor.pk), "room_type": RoomType.TWIN}
    assert manager_client.post(f"/p/{hotel.prop.code}/rooms/{hotel.room.pk}/", data).status_code == 302
    assert Room.objects.get(pk=other_hotel.room.pk).room_type == RoomType.DOUBLE


# --- Property settings ------------------------------------------------------------------------------------


def test_property_settings_saved(hotel: Hotel, client_for_role: Callable[[str], Client]) -> None:
    client = client_for_role(Role.IT_ADMIN)
    data = {"name": "Seaside Resort", "timezone": "Asia/Shanghai", "jurisdiction": "CN", "address": "1 Beach Rd"}
    response = client.post(f"/p/{hotel.prop.code}/settings/", data, follow=True)
    assert "Property settings saved." in messages_of(response)
    prop = Property.objects.get(pk=hotel.prop.pk)
    assert (prop.name, prop.timezone, prop.jurisdiction, prop.address, prop.code) == (
        "Seaside Resort",
        "Asia/Shanghai",
        "CN",
        "1 Beach Rd",
        "seaside",
    )


# --- Staff ------------------------------------------------------------------------------------------------


def test_staff_create_with_roles(hotel: Hotel, manager_client: Client) -> None:
    data = {
        "username": "guard",
        "display_name": "Night Guard",
        "email": "guard@example.org",
        "roles": [Role.SECURITY_OFFICER, Role.FRONT_DESK],
    }
    response = manager_client.post(f"/p/{hotel.prop.code}/staff/new/", data)
    assert response.status_code == 200  # the invitation link, shown this once
    assert "Account guard created." in messages_of(response)
    assert "/accounts/invitation/" in response.context["link"]
    guard = User.objects.get(username="guard")
    assert roles_of(guard, hotel.prop) == {Role.SECURITY_OFFICER, Role.FRONT_DESK}
    assert not guard.has_usable_password()  # set by the person through the link, never by the manager
    manager = User.objects.get(username=f"u-{Role.PROPERTY_MANAGER}")
    assert guard.created_by_id == manager.pk
    assert set(RoleAssignment.objects.filter(user=guard).values_list("granted_by", flat=True)) == {manager.pk}
    assert "Night Guard" in manager_client.get(f"/p/{hotel.prop.code}/staff/").content.decode()


def test_staff_create_with_a_reviewer_role_proposes_it(hotel: Hotel, manager_client: Client) -> None:
    data = {"username": "boss", "display_name": "Boss", "email": "", "roles": [Role.SECURITY_MANAGER, Role.AUDITOR]}
    response = manager_client.post(f"/p/{hotel.prop.code}/staff/new/", data)
    assert response.status_code == 200
    assert [str(r) for r in response.context["proposed"]] == ["Security manager"]
    boss = User.objects.get(username="boss")
    assert roles_of(boss, hotel.prop) == {Role.AUDITOR}
    assert RoleProposal.objects.filter(user=boss, role=Role.SECURITY_MANAGER, status="pending").exists()


def test_staff_edit_changes_roles(hotel: Hotel, manager_client: Client) -> None:
    person = make_user("clerk", hotel.prop, Role.FRONT_DESK)
    data = {"display_name": "Head Clerk", "email": "head@example.org", "roles": [Role.AUDITOR, Role.PRIVACY_OFFICER]}
    response = manager_client.post(f"/p/{hotel.prop.code}/staff/{person.pk}/", data, follow=True)
    assert "Account clerk updated." in messages_of(response)
    assert "Awaiting confirmation by another reviewer: Privacy officer." in messages_of(response)
    person.refresh_from_db()
    assert (person.display_name, person.email) == ("Head Clerk", "head@example.org")
    # Front desk removed and auditor given at once; privacy officer waits for a second reviewer.
    assert roles_of(person, hotel.prop) == {Role.AUDITOR}
    assert RoleProposal.objects.filter(user=person, role=Role.PRIVACY_OFFICER, status="pending").exists()


def test_staff_edit_leaves_roles_at_other_properties(hotel: Hotel, other_hotel: Hotel, manager_client: Client) -> None:
    person = make_user("clerk", hotel.prop, Role.FRONT_DESK)
    RoleAssignment.objects.create(user=person, property=other_hotel.prop, role=Role.AUDITOR)
    data = {"display_name": "Clerk", "email": "", "roles": [Role.SECURITY_OFFICER]}
    assert manager_client.post(f"/p/{hotel.prop.code}/staff/{person.pk}/", data).status_code == 302
    assert roles_of(person, hotel.prop) == {Role.SECURITY_OFFICER}
    assert roles_of(person, other_hotel.prop) == {Role.AUDITOR}


def test_user_cannot_change_own_roles(hotel: Hotel, user_for_role: Callable[[str], User]) -> None:
    me = user_for_role(Role.IT_ADMIN)
    client = signed_in_client(me)
    url = f"/p/{hotel.prop.code}/staff/{me.pk}/"
    page = client.get(url)
    assert "you cannot change your own roles" in page.content.decode()
    response = client.post(url, {"display_name": "Me", "email": "", "roles": [Role.IT_ADMIN, Role.PROPERTY_MANAGER]})
    assert response.status_code == 400
    assert "You cannot change your own roles; ask another administrator." in response.content.decode()
    assert roles_of(me, hotel.prop) == {Role.IT_ADMIN}
    assert not RoleProposal.objects.exists()
    refused = AuditEntry.objects.get(action=Action.STAFF_UPDATED, outcome="denied")
    assert (refused.actor_id, refused.details) == (me.pk, {"reason": "own_roles"})
    # Dropping one's own role is refused too; editing one's own name is fine.
    assert client.post(url, {"display_name": "Me", "email": "", "roles": []}).status_code == 400
    assert roles_of(me, hotel.prop) == {Role.IT_ADMIN}
    assert client.post(url, {"display_name": "Me", "email": "", "roles": [Role.IT_ADMIN]}).status_code == 302
    assert User.objects.get(pk=me.pk).display_name == "Me"


def test_it_admin_disables_and_enables_an_account(hotel: Hotel, client_for_role: Callable[[str], Client]) -> None:
    person = make_user("clerk", hotel.prop, Role.FRONT_DESK)
    person_client = signed_in_client(person)
    admin = client_for_role(Role.IT_ADMIN)
    url = f"/p/{hotel.prop.code}/staff/{person.pk}/active/"

    response = admin.post(url, {"active": "0"}, follow=True)
    assert "Account clerk disabled." in messages_of(response)
    assert not User.objects.get(pk=person.pk).is_active
    # The open session ends and signing in again is refused.
    assert person_client.get(f"/p/{hotel.prop.code}/").status_code == 302
    assert Client().post("/accounts/login/", {"username": "clerk", "password": PASSWORD}).status_code == 400

    response = admin.post(url, {"active": "1"}, follow=True)
    assert "Account clerk enabled." in messages_of(response)
    assert User.objects.get(pk=person.pk).is_active
    assert Client().post("/accounts/login/", {"username": "clerk", "password": PASSWORD}).status_code == 302


def test_property_manager_cannot_disable(hotel: Hotel, manager_client: Client) -> None:
    person = make_user("clerk", hotel.prop, Role.FRONT_DESK)
    response = manager_client.post(f"/p/{hotel.prop.code}/staff/{person.pk}/active/", {"active": "0"})
    assert response.status_code == 403
    assert User.objects.get(pk=person.pk).is_active
    # ... and is not offered the button.
    page = manager_client.get(f"/p/{hotel.prop.code}/staff/{person.pk}/")
    assert "Disable account" not in page.content.decode()


def test_it_admin_cannot_disable_self(hotel: Hotel, user_for_role: Callable[[str], User]) -> None:
    me = user_for_role(Role.IT_ADMIN)
    client = signed_in_client(me)
    response = client.post(f"/p/{hotel.prop.code}/staff/{me.pk}/active/", {"active": "0"})
    assert response.status_code == 403
    assert User.objects.get(pk=me.pk).is_active


def test_disabled_account_keeps_its_roles_through_an_edit(
    hotel: Hotel, client_for_role: Callable[[str], Client]
) -> None:
    person = make_user("clerk", hotel.prop, Role.FRONT_DESK, Role.AUDITOR)
    admin = client_for_role(Role.IT_ADMIN)
    admin.post(f"/p/{hotel.prop.code}/staff/{person.pk}/active/", {"active": "0"})
    listing = admin.get(f"/p/{hotel.prop.code}/staff/")
    row = next(r for r in listing.context["rows"] if r["user"].pk == person.pk)
    assert sorted(str(label) for label in row["roles"]) == ["Auditor", "Front desk"]
    page = admin.get(f"/p/{hotel.prop.code}/staff/{person.pk}/")
    assert sorted(page.context["form"].initial["roles"]) == [Role.AUDITOR, Role.FRONT_DESK]
    # Saving the form as shown (say, a new e-mail address) keeps the roles for when the account is enabled again.
    data = {"display_name": "Clerk", "email": "clerk@example.org", "roles": page.context["form"].initial["roles"]}
    assert admin.post(f"/p/{hotel.prop.code}/staff/{person.pk}/", data).status_code == 302
    assert roles_of(person, hotel.prop) == {Role.FRONT_DESK, Role.AUDITOR}


def test_reset_two_factor_removes_the_devices(hotel: Hotel, manager_client: Client) -> None:
    person = make_user("boss", hotel.prop, Role.SECURITY_MANAGER, totp_device=True)
    do_issue_recovery_codes(person)
    response = manager_client.post(f"/p/{hotel.prop.code}/staff/{person.pk}/reset-two-factor/", follow=True)
    assert "Two-factor sign-in of boss was reset; they enrol again at next sign-in." in messages_of(response)
    assert not TOTPDevice.objects.filter(user=person).exists()
    assert not StaticDevice.objects.filter(user=person).exists()
    assert not StaticToken.objects.filter(device__user=person).exists()
    # At the next sign-in they are sent to enrol.
    client = Client()
    client.post("/accounts/login/", {"username": "boss", "password": PASSWORD})
    assert client.get(f"/p/{hotel.prop.code}/")["Location"].startswith("/accounts/two-factor/setup/")


def test_reset_own_two_factor_is_refused(hotel: Hotel, user_for_role: Callable[[str], User]) -> None:
    me = user_for_role(Role.PROPERTY_MANAGER)
    client = signed_in_client(me)
    response = client.post(f"/p/{hotel.prop.code}/staff/{me.pk}/reset-two-factor/", follow=True)
    assert "Ask another administrator to reset your own two-factor sign-in." in messages_of(response)
    assert TOTPDevice.objects.filter(user=me, confirmed=True).exists()


def test_staff_list_shows_two_factor_state(hotel: Hotel, manager_client: Client) -> None:
    make_user("boss", hotel.prop, Role.SECURITY_MANAGER)
    make_user("clerk", hotel.prop, Role.FRONT_DESK)
    response = manager_client.get(f"/p/{hotel.prop.code}/staff/")
    rows = {r["user"].username: r for r in response.context["rows"]}
    assert set(rows) == {"boss", "clerk", f"u-{Role.PROPERTY_MANAGER}"}
    assert (rows["boss"]["totp"], rows["boss"]["needs_totp"]) == (False, True)
    assert (rows["clerk"]["totp"], rows["clerk"]["needs_totp"]) == (False, False)
    assert rows[f"u-{Role.PROPERTY_MANAGER}"]["totp"] is True


# --- Command-line tools -----------------------------------------------------------------------------------


def test_createproperty(db: None) -> None:
    out = StringIO()
    call_command(
        "createproperty", "--code", "harbour", "--name", "Harbour", "--timezone", "Asia/Shanghai",
        "--jurisdiction", "CN", stdout=out,
    )  # fmt: skip
    assert "Property harbour created." in out.getvalue()
    prop = Property.objects.get(code="harbour")
    assert (prop.name, prop.timezone, prop.jurisdiction) == ("Harbour", "Asia/Shanghai", "CN")


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--code", "Bad Code", "--timezone", "Asia/Shanghai"], "code"),
        (["--code", "ok", "--timezone", "Mars/Base"], "timezone"),
        (["--code", "seaside", "--timezone", "Asia/Shanghai"], "code"),
    ],
)
def test_createproperty_refuses_bad_values(hotel: Hotel, args: list[str], message: str) -> None:
    before = Property.objects.count()
    with pytest.raises(CommandError, match=message):
        call_command("createproperty", *args, "--name", "X", "--jurisdiction", "CN")
    assert Property.objects.count() == before


def test_createproperty_refuses_unknown_jurisdiction(db: None) -> None:
    with pytest.raises(CommandError, match="jurisdiction"):
        call_command("createproperty", "--code", "x", "--name", "X", "--timezone", "UTC", "--jurisdiction", "XX")
    assert not Property.objects.exists()


def invitation_path(output: str) -> str:
    line = next(line for line in output.splitlines() if "/accounts/invitation/" in line)
    return "/accounts/invitation/" + line.split("/accounts/invitation/", 1)[1].split("/", 1)[0] + "/"


def test_createuser_gives_a_new_propertys_first_accounts_their_roles(hotel: Hotel) -> None:
    out = StringIO()
    call_command(
        "createuser", "chief", "--role", Role.IT_ADMIN, "--role", Role.AUDITOR, "--property", hotel.prop.code,
        "--display-name", "Chief", stdout=out,
    )  # fmt: skip
    text = out.getvalue()
    assert "User chief created with auditor, it_admin at seaside." in text
    assert "no active reviewer" in text
    assert "requires two-factor" in text
    chief = User.objects.get(username="chief")
    assert not chief.has_usable_password()
    assert chief.display_name == "Chief"
    assert chief.created_by_id is None
    assert roles_of(chief, hotel.prop) == {Role.IT_ADMIN, Role.AUDITOR}
    created = AuditEntry.objects.get(action=Action.STAFF_CREATED, object_id=str(chief.pk))
    assert created.details == {"roles": [Role.AUDITOR, Role.IT_ADMIN], "proposed": [], "bootstrap": True}
    # The printed link sets the password, once.
    path = invitation_path(text)
    chosen = "the chief's own phrase 11"
    assert Client().post(path, {"new_password1": chosen, "new_password2": chosen}).status_code == 302
    assert User.objects.get(pk=chief.pk).check_password(chosen)
    # Run again for an existing user: a one-step role is added, the password untouched.
    call_command("createuser", "chief", "--role", Role.FRONT_DESK, stdout=StringIO())
    assert roles_of(chief, hotel.prop) == {Role.IT_ADMIN, Role.AUDITOR, Role.FRONT_DESK}
    assert User.objects.get(pk=chief.pk).check_password(chosen)


def test_createuser_proposes_reviewer_roles_once_the_property_has_a_reviewer(hotel: Hotel) -> None:
    manager = make_user("manager", hotel.prop, Role.PROPERTY_MANAGER)
    out = StringIO()
    call_command("createuser", "officer", "--role", Role.PRIVACY_OFFICER, "--role", Role.FRONT_DESK, stdout=out)
    assert "User officer created with front_desk at seaside." in out.getvalue()
    assert "awaiting confirmation by a reviewer at seaside: privacy_officer" in out.getvalue()
    officer = User.objects.get(username="officer")
    assert roles_of(officer, hotel.prop) == {Role.FRONT_DESK}
    proposal = RoleProposal.objects.get(user=officer, role=Role.PRIVACY_OFFICER)
    assert proposal.proposed_by is None
    # An existing user too: the command proposes, it does not give.
    out = StringIO()
    call_command("createuser", "officer", "--role", Role.IT_ADMIN, stdout=out)
    assert "now holds none of these roles" in out.getvalue()
    assert roles_of(officer, hotel.prop) == {Role.FRONT_DESK}
    # The manager (not the proposer, not the person) confirms.
    proposals.confirm_proposal(proposal, acting_user=manager)
    assert roles_of(officer, hotel.prop) == {Role.FRONT_DESK, Role.PRIVACY_OFFICER}


def test_createuser_refuses_a_password_from_the_environment(hotel: Hotel, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CUSTODY_NEW_PASSWORD", "a temporary pass phrase 7")
    with pytest.raises(CommandError, match="CUSTODY_NEW_PASSWORD is no longer read"):
        call_command("createuser", "newbie", "--role", Role.AUDITOR, stdout=StringIO())
    assert not User.objects.filter(username="newbie").exists()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["newbie", "--role", "emperor"], "invalid choice"),
        (["newbie", "--role", "auditor", "--property", "nowhere"], "no such property"),
        (["new bie", "--role", "auditor"], "username"),
        (["newbie", "--role", "auditor", "--email", "not an address"], "email"),
    ],
)
def test_createuser_refuses_bad_values(hotel: Hotel, args: list[str], message: str) -> None:
    with pytest.raises(CommandError, match=message):
        call_command("createuser", *args, stdout=StringIO())
    assert not User.objects.filter(username__in=["newbie", "new bie"]).exists()


def test_createuser_needs_property_when_there_are_several(hotel: Hotel, other_hotel: Hotel) -> None:
    with pytest.raises(CommandError, match="--property is required"):
        call_command("createuser", "newbie", "--role", Role.AUDITOR, stdout=StringIO())


def demo_counts() -> dict[str, int]:
    prop = Property.objects.get(code=PROPERTY_CODE)
    return {
        "properties": Property.objects.count(),
        "floors": prop.floors.count(),
        "rooms": prop.rooms.count(),
        "areas": prop.areas.count(),
        "cameras": prop.cameras.count(),
        "users": User.objects.count(),
        "role_assignments": RoleAssignment.objects.count(),
        "totp_devices": TOTPDevice.objects.count(),
    }


def test_seed_demo_is_idempotent(db: None, settings: Any, tmp_path: Path, media_root: Path) -> None:
    settings.CUSTODY_HOME = tmp_path
    out = StringIO()
    # A small demo without footage: the structure, users and their logins are what this test checks (guests,
    # requests and footage are seeded and re-seeded by tests/test_demo_*.py).
    call_command("seed_demo", "--guests", "20", "--stays", "40", "--no-footage", stdout=out)
    assert "Demo hotel ready" in out.getvalue()
    first = demo_counts()
    assert {k: first[k] for k in ("properties", "floors", "rooms", "cameras", "users")} == {
        "properties": 1,
        "floors": 3,
        "rooms": 40,
        "cameras": 6,
        "users": 7,
    }
    passwords = dict(User.objects.values_list("username", "password"))
    call_command("seed_demo", "--quiet-logins", "--guests", "20", "--stays", "40", "--no-footage", stdout=StringIO())
    assert demo_counts() == first
    assert dict(User.objects.values_list("username", "password")) == passwords  # logins still valid
    assert len(stored_files(media_root)) == 3  # one plan per floor, not one per run

    prop = Property.objects.get(code=PROPERTY_CODE)
    for user in User.objects.all():
        [role] = roles_of(user, prop)
        has_device = TOTPDevice.objects.filter(user=user, confirmed=True).exists()
        assert has_device is (role in TWO_FACTOR_ROLES), user.username
    # Invariant 7 holds in the demo too: no camera in a private area.
    assert not Camera.objects.filter(area__area_class=AreaClass.PRIVATE).exists()


def test_demo_logins_work(db: None, settings: Any, tmp_path: Path, media_root: Path) -> None:
    settings.CUSTODY_HOME = tmp_path
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    call_command("seed_demo", "--quiet-logins", "--no-footage", "--no-guests", stdout=StringIO())
    lines = [
        line.split("\t")
        for line in (tmp_path / "demo-logins.txt").read_text().splitlines()
        if line and not line.startswith("#")
    ]
    assert len(lines) == 7
    for username, _role, password, _secret, codes in lines:
        client = Client()
        assert client.post("/accounts/login/", {"username": username, "password": password}).status_code == 302
        if codes:
            assert client.post("/accounts/two-factor/", {"token": codes.split(",")[0]}).status_code == 302
        assert client.get(f"/p/{PROPERTY_CODE}/").status_code == 200, username


def test_superusers_are_refused_by_the_database_and_grant_nothing(hotel: Hotel) -> None:
    from django.db import IntegrityError, transaction

    from custody.accounts.models import User

    with pytest.raises(IntegrityError), transaction.atomic():
        User.objects.create_superuser("root", password="x" * 20)
    assert not User.objects.filter(username="root").exists()
    someone = make_user("someone")
    someone.is_superuser = True  # in memory only: even then it grants nothing
    assert not someone.has_perm("properties.manage_structure", hotel.prop)
    assert not someone.has_perm("accounts.manage_staff", hotel.prop)


def test_it_admin_cannot_disable_someone_who_also_works_elsewhere(hotel: Hotel, other_hotel: Hotel) -> None:
    from custody.audit.events import Action
    from custody.audit.models import AuditEntry

    admin = make_user("admin", hotel.prop, Role.IT_ADMIN, totp_device=True)
    shared = make_user("shared", hotel.prop, Role.FRONT_DESK)
    RoleAssignment.objects.create(user=shared, property=other_hotel.prop, role=Role.FRONT_DESK)
    client = signed_in_client(admin)
    response = client.post(f"/p/{hotel.prop.code}/staff/{shared.pk}/active/", {"active": "0"}, follow=True)
    assert "also works at a property you do not administer" in response.content.decode()
    shared.refresh_from_db()
    assert shared.is_active
    assert AuditEntry.objects.filter(action=Action.STAFF_DISABLED, outcome="denied", object_id=str(shared.pk)).exists()
    RoleAssignment.objects.create(user=admin, property=other_hotel.prop, role=Role.IT_ADMIN)
    client.post(f"/p/{hotel.prop.code}/staff/{shared.pk}/active/", {"active": "0"})
    shared.refresh_from_db()
    assert not shared.is_active
