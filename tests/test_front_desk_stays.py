"""The front desk's work on a stay: checking in a booked arrival, one in-house stay per room, editing an in-house
guest's contact details and preferences, and check-out."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from django.db import IntegrityError, transaction
from django.test import Client

from custody.audit.events import Action
from custody.audit.models import AuditEntry
from custody.guests import desk, vault
from custody.guests.models import Guest, IdentityDocument, Registration, Stay, StayStatus
from custody.properties.models import Room, RoomType
from tests.authorities import readback
from tests.conftest import Hotel
from tests.test_front_desk import check_in_data, counts, make_stay, url

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("fresh_keys")]


@pytest.fixture(autouse=True)
def fast_hashing(settings: Any) -> None:
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture
def desk_client(client_for_role: Any) -> Client:
    from custody.accounts.roles import Role

    return client_for_role(Role.FRONT_DESK)


@pytest.fixture
def room_b(hotel: Hotel) -> Room:
    return Room.objects.create(property=hotel.prop, floor=hotel.floor, number="202", room_type=RoomType.DOUBLE)


def booked(hotel: Hotel, *, room: Room | None = None, check_in: dt.date | None = None) -> Stay:
    """A booking as a PMS leaves it: a name, a phone number, a reference, no document, no registration."""
    today = desk.property_today(hotel.prop)
    guest = vault.create_guest(
        hotel.prop, {"surname": "Núñez", "given_names": "Inés", "phone": "+34 600 111 222"}, acting_user=None
    )
    check_in = check_in or today
    return vault.create_stay(
        hotel.prop,
        primary_guest=guest,
        room=room,
        check_in_planned=check_in,
        check_out_planned=check_in + dt.timedelta(days=3),
        booking_reference="PMS-5521",
        acting_user=None,
    )


def arrival_data(hotel: Hotel, room: Room, **changes: Any) -> dict[str, Any]:
    data = check_in_data(
        hotel,
        surname="Núñez",
        second_surname="Ibáñez",
        given_names="Inés",
        sex="F",
        nationality="ESP",
        phone="",
        email="",
        address="",
        number="PAB123456",
        issuing_country="ESP",
        room=room.pk,
        special_requests="",
    )
    del data["booking_reference"]
    data.update(changes)
    return data


def read(guest: Guest, *names: str) -> dict[str, str]:
    return vault.read_guest(guest, list(names), authority=readback(guest.property))


# --- checking in a booked arrival --------------------------------------------------------------------------------


def test_arrivals_link_to_their_check_in(hotel: Hotel, desk_client: Client) -> None:
    stay = booked(hotel)
    html = desk_client.get(url("desk:today", hotel)).content.decode()
    assert url("desk:arrive", hotel, stay_id=stay.pk) in html
    assert "to check in" in html


def test_arrival_form_shows_the_booked_name_only(hotel: Hotel, room_b: Room, desk_client: Client) -> None:
    stay = booked(hotel, room=room_b)
    before = AuditEntry.objects.count()

    response = desk_client.get(url("desk:arrive", hotel, stay_id=stay.pk))

    assert response.status_code == 200
    form = response.context["form"]
    assert form["surname"].value() == "Núñez" and form["given_names"].value() == "Inés"
    assert form["room"].value() == room_b.pk
    assert "booking_reference" not in form.fields
    html = response.content.decode()
    assert "600 111 222" not in html and "PMS-5521" not in html  # not needed to check the guest in: not shown
    reads = AuditEntry.objects.filter(seq__gt=before, action=Action.GUEST_RECORD_READ)
    assert [(e.purpose, e.details["fields"]) for e in reads] == [
        ("front_desk.arrival", ["given_names", "second_surname", "surname"])
    ]


def test_arrival_check_in_completes_the_booking_and_registers(hotel: Hotel, room_b: Room, desk_client: Client) -> None:
    stay = booked(hotel)
    assert counts() == (1, 0, 1, 0)

    response = desk_client.post(url("desk:arrive", hotel, stay_id=stay.pk), arrival_data(hotel, room_b))

    assert response.status_code == 302
    assert response["Location"] == url("desk:stay", hotel, stay_id=stay.pk)
    assert counts() == (1, 1, 1, 1)  # the booking's guest completed, not a second guest
    stay.refresh_from_db()
    assert stay.status == StayStatus.IN_HOUSE and stay.room == room_b and stay.checked_in_at is not None
    fields = read(stay.primary_guest, "surname", "second_surname", "sex", "nationality", "phone")
    # The phone left blank keeps the booking's; the rest comes from the document shown.
    assert fields == {
        "surname": "Núñez",
        "second_surname": "Ibáñez",
        "sex": "F",
        "nationality": "ESP",
        "phone": "+34 600 111 222",
    }
    payload = vault.read_registration(Registration.objects.get(), authority=readback(hotel.prop))
    assert payload["document"]["number"] == "PAB123456"
    assert payload["stay_fields"]["booking_reference"] == "PMS-5521"
    assert payload["stay_fields"]["room"] == "202"
    assert payload["guest_fields"]["date_of_birth"] == "1990-01-31"
    assert vault.find_guests(hotel.prop, "id_number", "PAB 123456") == [stay.primary_guest]
    actions = list(AuditEntry.objects.filter(object_id__in=[str(stay.pk), str(stay.primary_guest_id)]))
    assert {e.action for e in actions} >= {Action.GUEST_UPDATED, Action.STAY_UPDATED}


def test_arrival_of_another_day_or_status_is_404(hotel: Hotel, other_hotel: Hotel, desk_client: Client) -> None:
    today = desk.property_today(hotel.prop)
    tomorrow = booked(hotel, check_in=today + dt.timedelta(days=1))
    in_house = make_stay(hotel, "Here")
    elsewhere = make_stay(other_hotel, "Elsewhere", status=StayStatus.BOOKED)
    for stay in (tomorrow, in_house, elsewhere):
        assert desk_client.get(url("desk:arrive", hotel, stay_id=stay.pk)).status_code == 404
        assert desk_client.post(url("desk:arrive", hotel, stay_id=stay.pk), {}).status_code == 404


def test_arrival_with_bad_input_changes_nothing(hotel: Hotel, room_b: Room, desk_client: Client) -> None:
    stay = booked(hotel)
    entries = AuditEntry.objects.count()
    # The guest and document would be written before the vault refuses the stay's special requests.
    data = arrival_data(hotel, room_b, special_requests="bell\x07")

    response = desk_client.post(url("desk:arrive", hotel, stay_id=stay.pk), data)

    assert response.status_code == 400
    assert response.context["form"].errors["special_requests"]
    assert counts() == (1, 0, 1, 0)
    stay.refresh_from_db()
    assert stay.status == StayStatus.BOOKED and stay.room is None
    assert read(stay.primary_guest, "nationality") == {"nationality": ""}
    assert not AuditEntry.objects.filter(seq__gt=entries, action=Action.GUEST_UPDATED).exists()


# --- one in-house stay per room ----------------------------------------------------------------------------------


def test_walk_in_into_an_occupied_room_is_refused_on_the_room_field(hotel: Hotel, desk_client: Client) -> None:
    make_stay(hotel, "Already")  # in house in hotel.room
    before = counts()
    form_html = desk_client.get(url("desk:check_in", hotel)).content.decode()
    assert f"{hotel.room.number} (occupied)" in form_html

    response = desk_client.post(url("desk:check_in", hotel), check_in_data(hotel))

    assert response.status_code == 400
    assert response.context["form"].errors["room"] == ["This room already has a guest in house."]
    assert counts() == before


def test_arrival_into_an_occupied_room_is_refused(hotel: Hotel, desk_client: Client) -> None:
    make_stay(hotel, "Already")
    stay = booked(hotel)
    response = desk_client.post(url("desk:arrive", hotel, stay_id=stay.pk), arrival_data(hotel, hotel.room))
    assert response.status_code == 400
    assert response.context["form"].errors["room"] == ["This room already has a guest in house."]
    stay.refresh_from_db()
    assert stay.status == StayStatus.BOOKED and IdentityDocument.objects.filter(guest=stay.primary_guest).count() == 0


def test_vault_refuses_a_second_in_house_stay_in_a_room(hotel: Hotel, room_b: Room) -> None:
    first = make_stay(hotel, "First")
    second = make_stay(hotel, "Second", room=room_b)
    with pytest.raises(vault.GuestDataError) as refused:
        vault.update_stay(second, {"room": hotel.room}, acting_user=None)
    assert refused.value.field == "room"
    # Booked and checked-out stays may share a room with a guest in house.
    make_stay(hotel, "Later", status=StayStatus.BOOKED, check_in=desk.property_today(hotel.prop))
    assert Stay.objects.filter(room=hotel.room).count() == 2
    desk.do_check_out(first, acting_user=None)  # type: ignore[arg-type]
    vault.update_stay(second, {"room": hotel.room}, acting_user=None)  # free again


def test_database_refuses_a_second_in_house_stay_in_a_room(hotel: Hotel, room_b: Room) -> None:
    """The constraint behind the vault's check: a write that skips the vault is refused too."""
    make_stay(hotel, "First")
    second = make_stay(hotel, "Second", room=room_b)
    with pytest.raises(IntegrityError), transaction.atomic():
        Stay.objects.filter(pk=second.pk).update(room=hotel.room)


# --- contact details and preferences of an in-house guest --------------------------------------------------------


def test_edit_contact_writes_only_what_changed(hotel: Hotel, desk_client: Client) -> None:
    stay = make_stay(hotel, "Edited")
    edit = url("desk:edit", hotel, stay_id=stay.pk)
    form = desk_client.get(edit).context["form"]
    assert form["phone"].value() == "+34 600 000 111" and form["special_needs"].value() == "Step-free access"
    data = {name: form[name].value() or "" for name in form.fields}
    data.update(email="ana@example.com", preferences="高楼层，安静的房间", special_requests="Late check-out")
    before = AuditEntry.objects.count()

    response = desk_client.post(edit, data)

    assert response.status_code == 302 and response["Location"] == url("desk:stay", hotel, stay_id=stay.pk)
    updated = AuditEntry.objects.filter(seq__gt=before, action=Action.GUEST_UPDATED).get()
    assert updated.details == {"fields": ["email", "preferences"]}
    assert AuditEntry.objects.filter(seq__gt=before, action=Action.STAY_UPDATED).get().details == {
        "fields": ["special_requests"]
    }
    assert read(stay.primary_guest, "email", "preferences", "phone") == {
        "email": "ana@example.com",
        "preferences": "高楼层，安静的房间",
        "phone": "+34 600 000 111",
    }
    assert vault.find_guests(hotel.prop, "email", "ANA@example.com") == [stay.primary_guest]
    html = desk_client.get(response["Location"]).content.decode()
    assert "高楼层，安静的房间" in html and "Late check-out" in html


def test_edit_contact_with_nothing_changed_writes_nothing(hotel: Hotel, desk_client: Client) -> None:
    stay = make_stay(hotel, "Same")
    edit = url("desk:edit", hotel, stay_id=stay.pk)
    form = desk_client.get(edit).context["form"]
    before = AuditEntry.objects.count()
    response = desk_client.post(edit, {name: form[name].value() or "" for name in form.fields}, follow=True)
    assert "Nothing was changed." in response.content.decode()
    assert not AuditEntry.objects.filter(seq__gt=before, action__in=[Action.GUEST_UPDATED, Action.STAY_UPDATED])


def test_edit_contact_bad_input_is_400_and_saves_nothing(hotel: Hotel, desk_client: Client) -> None:
    stay = make_stay(hotel, "Bad")
    edit = url("desk:edit", hotel, stay_id=stay.pk)
    before = AuditEntry.objects.count()
    response = desk_client.post(edit, {"phone": "---", "email": "", "preferences": "x" * 4001})
    assert response.status_code == 400
    assert response.context["form"].errors.keys() == {"preferences"}
    response = desk_client.post(edit, {"phone": "---", "email": ""})
    assert response.status_code == 400
    assert response.context["form"].errors.keys() == {"phone"}  # refused by the vault, on its field
    assert not AuditEntry.objects.filter(seq__gt=before, action=Action.GUEST_UPDATED).exists()
    assert read(stay.primary_guest, "phone") == {"phone": "+34 600 000 111"}


def test_edit_contact_only_for_in_house_stays(hotel: Hotel, desk_client: Client) -> None:
    today = desk.property_today(hotel.prop)
    gone = make_stay(hotel, "Gone", status=StayStatus.CHECKED_OUT, check_in=today - dt.timedelta(days=3))
    arriving = booked(hotel)
    for stay in (gone, arriving):
        assert desk_client.get(url("desk:edit", hotel, stay_id=stay.pk)).status_code == 404
        assert desk_client.post(url("desk:edit", hotel, stay_id=stay.pk), {"phone": "1"}).status_code == 404


# --- check-out ---------------------------------------------------------------------------------------------------


def test_check_out_frees_the_room_and_ends_desk_access(hotel: Hotel, desk_client: Client) -> None:
    stay = make_stay(hotel, "Leaving")

    response = desk_client.post(url("desk:check_out", hotel, stay_id=stay.pk))

    assert response.status_code == 302 and response["Location"] == url("desk:today", hotel)
    stay.refresh_from_db()
    assert stay.status == StayStatus.CHECKED_OUT and stay.checked_out_at is not None
    assert AuditEntry.objects.filter(action=Action.STAY_UPDATED, object_id=str(stay.pk)).exists()
    # The desk's purpose ends with the stay: no detail page, no second check-out.
    assert desk_client.get(url("desk:stay", hotel, stay_id=stay.pk)).status_code == 404
    assert desk_client.post(url("desk:check_out", hotel, stay_id=stay.pk)).status_code == 404
    # The room takes the next guest.
    assert desk_client.post(url("desk:check_in", hotel), check_in_data(hotel)).status_code == 302
