"""The structural read gate (issue 12, item 1; DESIGN invariant 1): personal data is read only on an authority that
custody.authority made - from a grant in use, a standing role purpose checked against the user's roles at the
property, or a system job away from any web request. A forged, stale or mismatched authority reads nothing and
leaves a denied audit entry naming the reason."""

from __future__ import annotations

import copy
import dataclasses
import datetime as dt
import re
import types
from pathlib import Path
from typing import Any

import pytest
import rules
from django.utils import timezone

from custody import authority
from custody.accounts.models import User
from custody.accounts.roles import Role
from custody.audit.events import Action, Outcome
from custody.audit.models import AuditEntry
from custody.authority import ReadAuthority, ReadRefused
from custody.footage import playback
from custody.guests import desk, vault
from custody.guests.models import Guest, Stay, StayStatus
from custody.properties.models import Room, RoomType
from custody.requests import actions, grants, sealing
from custody.requests.actions import RequestData
from custody.requests.models import Grant, Purpose, RequestType
from tests.authorities import readback
from tests.conftest import Hotel, make_user
from tests.scopes import named

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("fresh_keys")]

DOCS = Path(__file__).resolve().parent.parent / "docs" / "gate.md"


@pytest.fixture
def clerk(hotel: Hotel) -> User:
    return make_user("clerk", hotel.prop, Role.FRONT_DESK)


def in_house(hotel: Hotel, surname: str, room: Room) -> Stay:
    guest = vault.create_guest(
        hotel.prop, {"surname": surname, "given_names": "Ana", "phone": "+34 600 000 000"}, acting_user=None
    )
    vault.add_identity_document(guest, {"doc_type": "passport", "number": f"PX{surname.upper()}99"}, acting_user=None)
    today = desk.property_today(hotel.prop)
    return vault.create_stay(
        hotel.prop,
        primary_guest=guest,
        room=room,
        check_in_planned=today,
        check_out_planned=today + dt.timedelta(days=2),
        status=StayStatus.IN_HOUSE,
        booking_reference=f"BK-{surname}",
        acting_user=None,
    )


@pytest.fixture
def stays(hotel: Hotel) -> tuple[Stay, Stay]:
    second = Room.objects.create(property=hotel.prop, floor=hotel.floor, number="102", room_type=RoomType.SINGLE)
    return in_house(hotel, "Alpha", hotel.room), in_house(hotel, "Bravo", second)


def denials(action: Action) -> list[str]:
    entries = AuditEntry.objects.filter(action=action, outcome=Outcome.DENIED).order_by("seq")
    return [e.details["reason"] for e in entries]


def reads() -> int:
    return AuditEntry.objects.filter(
        action__in=[Action.GUEST_RECORD_READ, Action.GUEST_DOCUMENT_READ, Action.STAY_RECORD_READ],
        outcome=Outcome.ALLOWED,
    ).count()


# --- standing purposes ----------------------------------------------------------------------------------------------


def test_a_standing_purpose_reads_its_records_and_fields_only(
    hotel: Hotel, clerk: User, stays: tuple[Stay, Stay]
) -> None:
    alpha, bravo = stays
    granted = authority.standing(clerk, hotel.prop, desk.PURPOSE_STAY, stays=[alpha])
    assert vault.read_guest(alpha.primary_guest, ["surname"], authority=granted) == {"surname": "Alpha"}
    [entry] = AuditEntry.objects.filter(action=Action.GUEST_RECORD_READ, outcome=Outcome.ALLOWED)
    assert (entry.actor_id, entry.purpose) == (clerk.pk, "front_desk.stay")
    assert entry.object_id == str(alpha.primary_guest_id)

    # Another in-house guest than the one the authority was made for: refused, logged, nothing returned.
    with pytest.raises(ReadRefused) as refused:
        vault.read_guest(bravo.primary_guest, ["surname"], authority=granted)
    assert refused.value.code == "record_not_covered"
    # A field the purpose does not show (the phone is not on the stay page), and a whole stay field set.
    with pytest.raises(ReadRefused) as refused:
        vault.read_guest(alpha.primary_guest, ["surname", "phone"], authority=granted)
    assert refused.value.code == "field_not_covered"
    with pytest.raises(ReadRefused):
        vault.read_stay(alpha, ["booking_reference"], authority=granted)
    with pytest.raises(ReadRefused):
        vault.read_registration(alpha.registrations.first() or _registration(alpha), authority=granted)
    assert denials(Action.GUEST_RECORD_READ) == ["record_not_covered", "field_not_covered"]
    assert denials(Action.STAY_RECORD_READ) == ["field_not_covered"]
    assert denials(Action.REGISTRATION_READ) == ["field_not_covered"]
    assert reads() == 1
    denied = AuditEntry.objects.filter(outcome=Outcome.DENIED, action=Action.GUEST_RECORD_READ).first()
    assert denied is not None and (denied.actor_id, denied.purpose) == (clerk.pk, "front_desk.stay")


def _registration(stay: Stay) -> Any:
    return vault.register(stay, stay.primary_guest, acting_user=None)


def test_a_standing_purpose_needs_the_role_at_the_property_and_records_it_covers(
    hotel: Hotel, other_hotel: Hotel, clerk: User, stays: tuple[Stay, Stay]
) -> None:
    alpha, _ = stays
    officer = make_user("officer", hotel.prop, Role.SECURITY_OFFICER)
    elsewhere = make_user("elsewhere", other_hotel.prop, Role.FRONT_DESK)
    attempts = [
        (officer, desk.PURPOSE_TODAY, "", "role_not_held"),
        (elsewhere, desk.PURPOSE_TODAY, "", "role_not_held"),
        (clerk, "front_desk.everything", "", "unknown_purpose"),
        (clerk, authority.SYSTEM_TEST_READBACK, "", "unknown_purpose"),
        (clerk, desk.PURPOSE_ARRIVAL, "", "record_not_covered"),  # in house, not arriving
        (clerk, desk.PURPOSE_UNMASK, "", "reason_required"),
        (clerk, desk.PURPOSE_UNMASK, "because I want to", "reason_required"),  # a code, never free text
    ]
    for actor, code, reason, refusal in attempts:
        with pytest.raises(ReadRefused) as refused:
            authority.standing(actor, hotel.prop, code, stays=[alpha], reason=reason)
        assert refused.value.code == refusal, code
    # A stay that has left is no longer the desk's to read.
    vault.update_stay(alpha, {"status": StayStatus.CHECKED_OUT, "checked_out_at": timezone.now()}, acting_user=None)
    with pytest.raises(ReadRefused) as refused:
        authority.standing(clerk, hotel.prop, desk.PURPOSE_STAY, stays=[alpha])
    assert refused.value.code == "record_not_covered"
    assert denials(Action.AUTHORITY_REFUSED) == [refusal for *_, refusal in attempts] + ["record_not_covered"]
    assert reads() == 0


def test_unmask_keeps_its_reason_in_the_audit_entry(hotel: Hotel, clerk: User, stays: tuple[Stay, Stay]) -> None:
    alpha, _ = stays
    shown = desk.unmask_document(alpha, actor=clerk, prop=hotel.prop, reason="verify_identity")
    assert [d["number"] for d in shown] == ["PXALPHA99"]
    [entry] = AuditEntry.objects.filter(action=Action.GUEST_DOCUMENT_READ, outcome=Outcome.ALLOWED)
    assert (entry.purpose, entry.details["reason"]) == ("front_desk.unmask", "verify_identity")


# --- forgery --------------------------------------------------------------------------------------------------------


def test_an_authority_built_outside_the_gate_is_refused(hotel: Hotel, clerk: User, stays: tuple[Stay, Stay]) -> None:
    alpha, bravo = stays
    with pytest.raises(ReadRefused) as refused:
        ReadAuthority(  # the fields of a real one, without the gate's capability
            source="system", purpose=authority.SYSTEM_DEMO, actor=None, prop=hotel.prop,
            guest_fields=frozenset(Guest.ENCRYPTED_FIELDS), guest_ids=None,
        )  # fmt: skip
    assert refused.value.code == "forged"
    genuine = authority.standing(clerk, hotel.prop, desk.PURPOSE_TODAY, stays=[alpha])
    with pytest.raises(ReadRefused) as refused:  # a widened copy of a genuine one is built without it too
        dataclasses.replace(genuine, guest_ids=None, guest_fields=frozenset(Guest.ENCRYPTED_FIELDS))
    assert refused.value.code == "forged"
    assert denials(Action.AUTHORITY_REFUSED) == ["forged", "forged"]

    copied = copy.copy(genuine)  # copies skip __init__: the readers accept only the objects the gate made
    tampered = authority.standing(clerk, hotel.prop, desk.PURPOSE_TODAY, stays=[alpha])
    object.__setattr__(tampered, "guest_ids", frozenset({bravo.primary_guest_id}))

    class LooksLikeOne:  # duck typing reads nothing either
        prop = hotel.prop

        def __getattr__(self, name: str) -> Any:
            return getattr(genuine, name)

    for fake in (copied, tampered, LooksLikeOne(), "front_desk.today"):
        with pytest.raises(ReadRefused) as refused:
            vault.read_guests([bravo.primary_guest], ["surname", "phone"], authority=fake)  # type: ignore[arg-type]
        assert refused.value.code == "forged", fake
    assert denials(Action.GUEST_LIST_READ) == ["forged"] * 4
    assert reads() == 0 and not AuditEntry.objects.filter(action=Action.GUEST_LIST_READ, outcome="allowed").exists()
    assert authority.is_genuine(genuine) and not authority.is_genuine(copied)


def test_a_standing_authority_expires(
    hotel: Hotel, clerk: User, stays: tuple[Stay, Stay], monkeypatch: pytest.MonkeyPatch
) -> None:
    alpha, _ = stays
    monkeypatch.setattr(authority, "LIFETIME", -1.0)
    stale = authority.standing(clerk, hotel.prop, desk.PURPOSE_TODAY, stays=[alpha])
    with pytest.raises(ReadRefused) as refused:
        vault.read_guest(alpha.primary_guest, ["surname"], authority=stale)
    assert refused.value.code == "expired"
    assert denials(Action.GUEST_RECORD_READ) == ["expired"]


# --- system authority ------------------------------------------------------------------------------------------------


def _forward(*args: Any) -> Any:
    return function(*args)  # type: ignore[name-defined]  # noqa: F821  # a global of the copy _call_as makes


def _call_as(module: str, function: Any, *args: Any) -> Any:
    """Call ``function`` from a frame whose module is ``module`` (what a caller in that module would look like)."""
    call = types.FunctionType(_forward.__code__, {"__name__": module, "function": function})
    return call(*args)


def test_the_system_authority_is_only_for_its_callers_and_never_inside_a_request(hotel: Hotel) -> None:
    assert readback(hotel.prop).guest_ids is None  # tests read back through it
    with pytest.raises(ReadRefused) as refused:
        _call_as("custody.guests.views", authority.system, hotel.prop, authority.SYSTEM_TEST_READBACK)
    assert refused.value.code == "not_a_system_caller"
    with pytest.raises(ReadRefused) as refused:
        _call_as("custody.guests.views", authority.system, hotel.prop, authority.SYSTEM_DEMO)
    assert refused.value.code == "not_a_system_caller"
    # The demo module's own call, made while Django handles a request (a view reaching the demo code): refused.
    with pytest.raises(ReadRefused) as refused:
        _call_as(
            "django.core.handlers.base", _call_as, "custody.core.demo_requests", authority.system, hotel.prop,
            authority.SYSTEM_DEMO,
        )  # fmt: skip
    assert refused.value.code == "inside_a_request"
    assert _call_as("custody.core.demo_requests", authority.system, hotel.prop, authority.SYSTEM_DEMO).purpose == (
        authority.SYSTEM_DEMO
    )
    with pytest.raises(ReadRefused) as refused:
        authority.system(hotel.prop, desk.PURPOSE_TODAY)
    assert refused.value.code == "unknown_purpose"
    assert denials(Action.AUTHORITY_REFUSED) == [
        "not_a_system_caller", "not_a_system_caller", "inside_a_request", "unknown_purpose"
    ]  # fmt: skip


def test_desk_pages_reach_no_system_authority(hotel: Hotel, clerk: User, stays: tuple[Stay, Stay]) -> None:
    """The desk pages read on the clerk's standing purposes: every allowed read names the clerk and a desk purpose."""
    from tests.conftest import signed_in_client

    client = signed_in_client(clerk)
    alpha, _ = stays
    assert client.get(f"/p/{hotel.prop.code}/desk/").status_code == 200
    assert client.get(f"/p/{hotel.prop.code}/desk/stays/{alpha.pk}/").status_code == 200
    entries = AuditEntry.objects.filter(
        action__in=[Action.GUEST_LIST_READ, Action.GUEST_RECORD_READ, Action.GUEST_DOCUMENT_READ], outcome="allowed"
    )
    assert entries.count() >= 3
    assert {(e.actor_id, e.purpose.split(".")[0]) for e in entries} == {(clerk.pk, "front_desk")}


# --- grants ----------------------------------------------------------------------------------------------------------


@pytest.fixture
def lookup(hotel: Hotel, stays: tuple[Stay, Stay]) -> tuple[Grant, User]:
    requester = make_user("requester", hotel.prop, Role.FRONT_DESK)
    dpo = make_user("dpo", hotel.prop, Role.PRIVACY_OFFICER)
    today = desk.property_today(hotel.prop)
    data = RequestData(
        request_type=RequestType.GUEST_LOOKUP, purpose=Purpose.SERVICE_DISPUTE, legal_basis="contract",
        purpose_text="A disputed charge", guests=[named("Alpha", "Ana", "booking_reference", "BK-Alpha")],
        stay_from=today - dt.timedelta(days=3), stay_until=today,
    )  # fmt: skip
    request = actions.create_request(hotel.prop, data, acting_user=requester)
    request = actions.submit_request(request, acting_user=requester)
    actions.approve_request(request, acting_user=dpo)
    return Grant.objects.get(request=request), requester


def test_a_grant_authority_exists_only_inside_its_counted_use(
    hotel: Hotel, stays: tuple[Stay, Stay], lookup: tuple[Grant, User]
) -> None:
    grant, holder = lookup
    alpha, bravo = stays
    # Outside a use (the grant merely loaded): refused.
    with pytest.raises(ReadRefused) as refused:
        authority.for_grant(Grant.objects.get(pk=grant.pk), actor=holder, guest_ids=[alpha.primary_guest_id])
    assert refused.value.code == "grant_not_in_use"
    # Opening a use by hand, without counting it through using_grant: refused.
    with pytest.raises(ReadRefused) as refused, authority.grant_use(grant, actor=holder, kind="guest_lookup"):
        pass
    assert refused.value.code == "use_not_counted"

    with grants.using_grant(grant.pk, actor=holder, prop=hotel.prop, kind="guest_lookup") as used:
        loaded = Grant.objects.get(pk=grant.pk)  # the same grant, another object: not the one in use
        with pytest.raises(ReadRefused) as refused:
            authority.for_grant(loaded, actor=holder)
        assert refused.value.code == "grant_not_in_use"
        reader = authority.for_grant(used, actor=holder, guest_ids=[alpha.primary_guest_id], stay_ids=[alpha.pk])
        assert vault.read_guest(alpha.primary_guest, ["surname"], authority=reader) == {"surname": "Alpha"}
        with pytest.raises(ReadRefused) as refused:
            vault.read_guest(bravo.primary_guest, ["surname"], authority=reader)
        assert refused.value.code == "record_not_covered"
    # The use has ended: its authority with it.
    with pytest.raises(ReadRefused) as refused:
        vault.read_guest(alpha.primary_guest, ["surname"], authority=reader)
    assert refused.value.code == "use_ended"
    # The refusal inside the use was rolled back with it, and written again after.
    assert denials(Action.GUEST_RECORD_READ) == ["record_not_covered", "use_ended"]
    assert denials(Action.AUTHORITY_REFUSED) == ["grant_not_in_use", "use_not_counted", "grant_not_in_use"]


def test_a_grant_authority_is_for_its_holder(
    hotel: Hotel, stays: tuple[Stay, Stay], lookup: tuple[Grant, User]
) -> None:
    grant, holder = lookup
    someone = make_user("someone", hotel.prop, Role.PRIVACY_OFFICER)
    with (
        grants.using_grant(grant.pk, actor=holder, prop=hotel.prop, kind="guest_lookup") as used,
        pytest.raises(ReadRefused) as refused,
    ):
        authority.for_grant(used, actor=someone)
    assert refused.value.code == "not_the_holder"


# --- a request's guest scope -----------------------------------------------------------------------------------------


def test_a_requests_guest_scope_opens_only_for_its_requester_and_reviewers(
    hotel: Hotel, clerk: User, stays: tuple[Stay, Stay], lookup: tuple[Grant, User]
) -> None:
    grant, holder = lookup
    request = grant.request
    items = sealing.open_guest_scope(request, authority=authority.for_request(request, actor=holder))
    assert items == [named("Alpha", "Ana", "booking_reference", "BK-Alpha")]
    [entry] = AuditEntry.objects.filter(action=Action.REQUEST_GUEST_SCOPE_READ)
    assert (entry.actor_id, entry.request_ref, entry.details) == (holder.pk, request.number, {"items": 1})
    assert "Alpha" not in str(entry.details)

    with pytest.raises(ReadRefused) as refused:  # another desk clerk: neither requester nor reviewer
        authority.for_request(request, actor=clerk)
    assert refused.value.code == "not_entitled"
    alpha, _ = stays
    desk_authority = authority.standing(clerk, hotel.prop, desk.PURPOSE_TODAY, stays=[alpha])
    with pytest.raises(ReadRefused) as refused:
        sealing.open_guest_scope(request, authority=desk_authority)
    assert refused.value.code == "field_not_covered"
    other = actions.create_request(
        hotel.prop,
        RequestData(request_type=RequestType.GUEST_LOOKUP, purpose=Purpose.SERVICE_DISPUTE, legal_basis="contract",
                    purpose_text="x", guests=[named("Bravo", "Ben", "date_of_birth", "1990-01-01")],
                    stay_from=desk.property_today(hotel.prop) - dt.timedelta(days=3),
                    stay_until=desk.property_today(hotel.prop)),
        acting_user=clerk,
    )  # fmt: skip
    with pytest.raises(ReadRefused) as refused:  # the requester's authority over one request opens no other
        sealing.open_guest_scope(other, authority=authority.for_request(request, actor=holder))
    assert refused.value.code == "record_not_covered"
    assert denials(Action.REQUEST_GUEST_SCOPE_READ) == ["field_not_covered", "record_not_covered"]
    assert AuditEntry.objects.filter(action=Action.REQUEST_GUEST_SCOPE_READ, outcome="allowed").count() == 1


# --- footage ---------------------------------------------------------------------------------------------------------


def test_footage_is_built_only_on_a_grant_authority_covering_camera_and_window(
    hotel: Hotel, clerk: User, stays: tuple[Stay, Stay]
) -> None:
    officer = make_user("officer", hotel.prop, Role.SECURITY_OFFICER)
    manager = make_user("manager", hotel.prop, Role.SECURITY_MANAGER)
    start = timezone.now().replace(microsecond=0) - dt.timedelta(hours=2)
    end = start + dt.timedelta(minutes=30)
    data = RequestData(
        request_type=RequestType.FOOTAGE_VIEW, purpose=Purpose.SECURITY_INCIDENT, legal_basis="legitimate_interests",
        purpose_text="Wallet", cameras=[hotel.camera], window_start=start, window_end=end,
    )  # fmt: skip
    request = actions.submit_request(actions.create_request(hotel.prop, data, acting_user=officer), acting_user=officer)
    actions.approve_request(request, acting_user=manager)
    grant = Grant.objects.get(request=request)
    other_camera = type(hotel.camera).objects.create(property=hotel.prop, area=hotel.lobby, code="CAM-9", name="9")

    def session(camera_id: int, first: dt.datetime, last: dt.datetime) -> playback.Session:
        return playback.Session(officer.pk, hotel.prop.pk, str(grant.pk), camera_id, first, last, 0.0)

    alpha, _ = stays
    attempts = [
        (authority.standing(clerk, hotel.prop, desk.PURPOSE_TODAY, stays=[alpha]), session(hotel.camera.pk, start, end),
         "not_footage_authority"),
        (readback(hotel.prop), session(hotel.camera.pk, start, end), "not_footage_authority"),
    ]  # fmt: skip
    cached = set(playback.cache_dir().iterdir())
    with grants.using_grant(
        grant.pk, actor=officer, prop=hotel.prop, kind="footage_view", cameras=[hotel.camera], start=start, end=end
    ) as used:
        reader = authority.for_grant(used, actor=officer)
        attempts += [
            (reader, session(other_camera.pk, start, end), "camera_not_covered"),
            (reader, session(hotel.camera.pk, start - dt.timedelta(seconds=1), end), "window_not_covered"),
        ]
        for held, wanted, code in attempts:
            with pytest.raises(ReadRefused) as refused:
                playback.builder_for(wanted, authority=held)
            assert refused.value.code == code
    assert denials(Action.FOOTAGE_PLAYED) == [code for *_, code in attempts]
    assert set(playback.cache_dir().iterdir()) == cached  # nothing was cut


# --- the table and its docs ------------------------------------------------------------------------------------------


def test_docs_list_exactly_the_table_of_standing_purposes() -> None:
    text = DOCS.read_text(encoding="utf-8")
    match = re.search(r"<!-- purposes:begin -->\n(.*?)<!-- purposes:end -->", text, re.S)
    assert match, "docs/gate.md lost its purposes markers"
    assert match.group(1) == authority.purposes_markdown(), "regenerate: print(authority.purposes_markdown())"


def test_the_table_covers_every_desk_purpose_with_the_desk_permissions_roles(hotel: Hotel) -> None:
    holders = _roles_with(hotel)
    codes = {value for name, value in vars(desk).items() if name.startswith("PURPOSE_")}
    assert codes <= set(authority.PURPOSES)
    for code in codes:
        assert authority.PURPOSES[code].roles == holders["guests.front_desk"], code
    assert authority.PURPOSES["import.commit"].roles == holders["guests.import"]
    assert authority.PURPOSES[authority.REQUEST_READ].roles == holders["requests.review"]
    for row in authority.PURPOSES.values():
        assert row.records in authority.RECORDS
        assert row.is_system == (not row.roles), row.code
        assert set(row.guest_fields) <= set(Guest.ENCRYPTED_FIELDS)
        if row.roles & {Role.IT_ADMIN, Role.AUDITOR}:  # they read no personal data (docs/roles.md)
            assert not (row.guest_fields or row.document_fields or row.stay_fields or row.request_fields), row.code


def _roles_with(hotel: Hotel) -> dict[str, set[str]]:
    """For each permission of the table's purposes, the roles that have it at the hotel (django-rules decides)."""
    users = {role: make_user(f"probe-{role}", hotel.prop, role) for role in Role.values}
    return {
        permission: {role for role, user in users.items() if rules.has_perm(permission, user, hotel.prop)}
        for permission in ("guests.front_desk", "guests.import", "requests.review")
    }
