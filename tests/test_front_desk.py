"""The front desk's standing role purpose: today's lists, check-in, in-house detail with audited unmask, and the
exact booking-reference lookup (DESIGN invariants 1, 2 and 6)."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable
from typing import Any

import pytest
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from custody.accounts.roles import Role
from custody.audit.events import Action, Outcome
from custody.audit.models import AuditEntry
from custody.crypto.blind_index import search_fingerprint
from custody.guests import desk, vault
from custody.guests.models import Guest, IdentityDocument, Registration, Stay, StayStatus
from custody.properties.models import Room, RoomType
from tests.authorities import readback
from tests.conftest import Hotel

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("fresh_keys")]

ClientFor = Callable[[str], Client]


@pytest.fixture(autouse=True)
def fast_hashing(settings: Any) -> None:
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


def make_stay(
    hotel: Hotel,
    surname: str,
    *,
    status: str = StayStatus.IN_HOUSE,
    check_in: dt.date | None = None,
    check_out: dt.date | None = None,
    reference: str = "",
    number: str = "X1234567Q",
    room: Room | None = None,
) -> Stay:
    today = desk.property_today(hotel.prop)
    guest = vault.create_guest(
        hotel.prop,
        {"surname": surname, "given_names": "Ana", "phone": "+34 600 000 111", "special_needs": "Step-free access"},
        acting_user=None,
    )
    vault.add_identity_document(guest, {"doc_type": "passport", "number": number}, acting_user=None)
    check_in = check_in or today
    stay = vault.create_stay(
        hotel.prop,
        primary_guest=guest,
        room=room or hotel.room,
        check_in_planned=check_in,
        check_out_planned=check_out or check_in + dt.timedelta(days=2),
        booking_reference=reference,
        status=status,
        acting_user=None,
    )
    if status in (StayStatus.IN_HOUSE, StayStatus.CHECKED_OUT):
        changes: dict[str, Any] = {"checked_in_at": timezone.now() - dt.timedelta(days=1)}
        if status == StayStatus.CHECKED_OUT:
            changes["checked_out_at"] = timezone.now()
        stay = vault.update_stay(stay, changes, acting_user=None)
    return stay


def url(name: str, hotel: Hotel, **kwargs: Any) -> str:
    return reverse(name, kwargs={"code": hotel.prop.code, **kwargs})


def counts() -> tuple[int, int, int, int]:
    return (Guest.objects.count(), IdentityDocument.objects.count(), Stay.objects.count(), Registration.objects.count())


def audit_text() -> str:
    """Everything the audit log holds, as one string, to search for plaintext."""
    rows = AuditEntry.objects.values("object_type", "object_id", "purpose", "details", "request_ref", "grant_ref")
    return json.dumps(list(rows), ensure_ascii=False)


@pytest.fixture
def desk_client(client_for_role: ClientFor) -> Client:
    return client_for_role(Role.FRONT_DESK)


# --- today's lists ------------------------------------------------------------------------------------------------


def test_today_lists_arrivals_in_house_and_departures(hotel: Hotel, other_hotel: Hotel, desk_client: Client) -> None:
    today = desk.property_today(hotel.prop)
    room_b = Room.objects.create(property=hotel.prop, floor=hotel.floor, number="202", room_type=RoomType.SINGLE)
    arriving = make_stay(hotel, "Arriving", status=StayStatus.BOOKED, room=room_b)
    staying = make_stay(hotel, "Staying", check_in=today - dt.timedelta(days=1), check_out=today + dt.timedelta(3))
    room_c = Room.objects.create(property=hotel.prop, floor=hotel.floor, number="203", room_type=RoomType.SINGLE)
    leaving = make_stay(hotel, "Leaving", check_in=today - dt.timedelta(days=2), check_out=today, room=room_c)
    make_stay(hotel, "Tomorrow", status=StayStatus.BOOKED, check_in=today + dt.timedelta(days=1))
    make_stay(hotel, "Gone", status=StayStatus.CHECKED_OUT, check_in=today - dt.timedelta(days=3), check_out=today)
    make_stay(other_hotel, "Elsewhere")
    before = AuditEntry.objects.count()

    response = desk_client.get(url("desk:today", hotel))

    assert response.status_code == 200
    sections = {key: [row.stay.pk for row in response.context[key]] for key in ("arrivals", "in_house", "departures")}
    assert sections == {
        "arrivals": [arriving.pk],
        "in_house": sorted([staying.pk, leaving.pk], key=lambda pk: pk != leaving.pk),
        "departures": [leaving.pk],
    }
    html = response.content.decode()
    assert "Arriving, Ana" in html and "Staying, Ana" in html and "202" in html
    for hidden in ("Tomorrow", "Gone", "Elsewhere", "X1234567Q", "600 000 111", "Step-free"):
        assert hidden not in html
    assert response["Cache-Control"].count("no-store") == 1
    # One list read names every guest shown; nothing else was decrypted.
    reads = list(AuditEntry.objects.filter(seq__gt=before).exclude(action=Action.AUTH_LOGIN))
    assert [(e.action, e.purpose) for e in reads] == [(Action.GUEST_LIST_READ, "front_desk.today")]
    shown = {str(s.primary_guest_id) for s in (arriving, staying, leaving)}
    assert set(reads[0].details["guests"]) == shown
    assert reads[0].details["fields"] == ["given_names", "second_surname", "surname"]


def test_empty_day(hotel: Hotel, desk_client: Client) -> None:
    response = desk_client.get(url("desk:today", hotel))
    assert response.status_code == 200
    html = response.content.decode()
    assert "No arrivals today." in html and "No guests in house." in html and "No departures today." in html


# --- check-in -----------------------------------------------------------------------------------------------------


def check_in_data(hotel: Hotel, **changes: Any) -> dict[str, Any]:
    today = desk.property_today(hotel.prop)
    data = {
        "surname": "Zhāng",
        "second_surname": "",
        "given_names": "小明",
        "sex": "M",
        "date_of_birth": "1990-01-31",
        "nationality": "CHN",
        "address": "北京市朝阳区建国路 88 号",
        "phone": "+86 138 0013 8000",
        "email": "xm@example.cn",
        "doc_type": "passport",
        "number": "E12345678",
        "issuing_country": "CHN",
        "expiry_date": (today + dt.timedelta(days=400)).isoformat(),
        "room": hotel.room.pk,
        "check_out_planned": (today + dt.timedelta(days=2)).isoformat(),
        "booking_reference": "BK-7781",
        "special_requests": "Extra pillow",
    }
    data.update(changes)
    return data


def test_check_in_creates_guest_document_stay_and_registration(hotel: Hotel, desk_client: Client) -> None:
    response = desk_client.post(url("desk:check_in", hotel), check_in_data(hotel))

    assert response.status_code == 302
    stay = Stay.objects.get()
    assert response["Location"] == url("desk:stay", hotel, stay_id=stay.pk)
    assert counts() == (1, 1, 1, 1)
    assert stay.status == StayStatus.IN_HOUSE and stay.checked_in_at is not None and stay.room == hotel.room
    assert stay.check_in_planned == desk.property_today(hotel.prop)
    guest = stay.primary_guest
    fields = vault.read_guest(guest, ["surname", "given_names", "phone"], authority=readback(hotel.prop))
    assert fields == {"surname": "Zhāng", "given_names": "小明", "phone": "+86 138 0013 8000"}
    registration = Registration.objects.get()
    payload = vault.read_registration(registration, authority=readback(hotel.prop))
    assert payload["document"]["number"] == "E12345678"
    assert payload["stay_fields"]["booking_reference"] == "BK-7781"
    assert vault.find_stays(hotel.prop, "bk 7781") == [stay]
    # The detail page it lands on shows the masked number only.
    html = desk_client.get(response["Location"]).content.decode()
    assert "Zhāng, 小明" in html and "••••••678" in html and "E12345678" not in html


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"surname": ""}, "surname"),
        ({"email": "not an address"}, "email"),
        ({"date_of_birth": "1990-02-30"}, "date_of_birth"),
        ({"room": "999999"}, "room"),
        ({"check_out_planned": "2000-01-01"}, "check_out_planned"),
        ({"expiry_date": "2001-01-01"}, "expiry_date"),
        # Accepted by the form, refused by the vault: the GuestDataError lands on the field it names.
        ({"phone": "---"}, "phone"),
        ({"number": "--//--"}, "number"),
        ({"surname": "Bad\x07name"}, "surname"),
        # Refused only when the stay is created, after the guest and document were written: all rolled back.
        ({"booking_reference": "-- --"}, "booking_reference"),
    ],
)
def test_check_in_bad_input_is_400_on_the_field_and_saves_nothing(
    hotel: Hotel, desk_client: Client, changes: dict[str, Any], field: str
) -> None:
    audit_before = AuditEntry.objects.count()
    response = desk_client.post(url("desk:check_in", hotel), check_in_data(hotel, **changes))

    assert response.status_code == 400
    form = response.context["form"]
    assert list(form.errors) == [field]
    assert 'class="field has-error"' in response.content.decode()
    assert counts() == (0, 0, 0, 0)
    assert not AuditEntry.objects.filter(seq__gt=audit_before, action__startswith="guest.").exists()


def test_check_in_refuses_another_propertys_room(hotel: Hotel, other_hotel: Hotel, desk_client: Client) -> None:
    response = desk_client.post(url("desk:check_in", hotel), check_in_data(hotel, room=other_hotel.room.pk))
    assert response.status_code == 400
    assert "room" in response.context["form"].errors
    assert counts() == (0, 0, 0, 0)


# --- in-house detail and unmask -----------------------------------------------------------------------------------


def test_stay_detail_masks_the_id_number(hotel: Hotel, desk_client: Client) -> None:
    stay = make_stay(hotel, "Masked", number="Y7654321K")
    response = desk_client.get(url("desk:stay", hotel, stay_id=stay.pk))
    assert response.status_code == 200
    html = response.content.decode()
    assert "Masked, Ana" in html and "101" in html and "Step-free access" in html
    assert "••••••21K" in html and "Y7654321K" not in html and "600 000 111" not in html
    entry = AuditEntry.objects.filter(action=Action.GUEST_DOCUMENT_READ).get()
    assert entry.purpose == "front_desk.stay" and "reason" not in entry.details


def test_unmask_with_a_reason_shows_the_number_once_and_audits_the_reason(hotel: Hotel, desk_client: Client) -> None:
    stay = make_stay(hotel, "Masked", number="Y7654321K")
    response = desk_client.post(url("desk:unmask", hotel, stay_id=stay.pk), {"reason": "identity_check"})

    assert response.status_code == 200
    assert response.content.decode().count("Y7654321K") == 1
    entry = AuditEntry.objects.get(purpose="front_desk.unmask")
    assert entry.action == Action.GUEST_DOCUMENT_READ and entry.outcome == Outcome.ALLOWED
    assert entry.details["reason"] == "identity_check" and entry.details["fields"] == ["doc_type", "number"]
    assert entry.details["guest"] == str(stay.primary_guest_id)
    assert "Y7654321K" not in audit_text() and "Masked" not in audit_text()
    # Shown once: the next page view is masked again.
    assert "Y7654321K" not in desk_client.get(url("desk:stay", hotel, stay_id=stay.pk)).content.decode()


@pytest.mark.parametrize("data", [{}, {"reason": ""}, {"reason": "just curious"}])
def test_unmask_without_a_valid_reason_is_400(hotel: Hotel, desk_client: Client, data: dict[str, str]) -> None:
    stay = make_stay(hotel, "Masked", number="Y7654321K")
    response = desk_client.post(url("desk:unmask", hotel, stay_id=stay.pk), data)
    assert response.status_code == 400
    assert list(response.context["unmask_form"].errors) == ["reason"]
    assert "Y7654321K" not in response.content.decode()
    assert not AuditEntry.objects.filter(purpose="front_desk.unmask").exists()


def test_another_propertys_stay_is_404(hotel: Hotel, other_hotel: Hotel, desk_client: Client) -> None:
    foreign = make_stay(other_hotel, "Foreign")
    assert desk_client.get(url("desk:stay", hotel, stay_id=foreign.pk)).status_code == 404
    response = desk_client.post(url("desk:unmask", hotel, stay_id=foreign.pk), {"reason": "other"})
    assert response.status_code == 404
    assert not AuditEntry.objects.filter(action__in=[Action.GUEST_RECORD_READ, Action.GUEST_DOCUMENT_READ]).exists()


@pytest.mark.parametrize("status", [StayStatus.CHECKED_OUT, StayStatus.BOOKED, StayStatus.CANCELLED])
def test_stay_not_in_house_is_404(hotel: Hotel, desk_client: Client, status: str) -> None:
    today = desk.property_today(hotel.prop)
    stay = make_stay(hotel, "Past", status=status, check_in=today - dt.timedelta(days=3), check_out=today)
    assert desk_client.get(url("desk:stay", hotel, stay_id=stay.pk)).status_code == 404
    assert desk_client.post(url("desk:unmask", hotel, stay_id=stay.pk), {"reason": "other"}).status_code == 404
    assert not AuditEntry.objects.filter(action=Action.GUEST_DOCUMENT_READ).exists()


# --- lookup by booking reference ----------------------------------------------------------------------------------

NEUTRAL = "No in-house or arriving stay matches this booking reference."


def lookup(client: Client, hotel: Hotel, reference: str) -> Any:
    return client.post(url("desk:lookup", hotel), {"reference": reference})


def test_lookup_finds_an_in_house_stay_by_exact_reference(hotel: Hotel, desk_client: Client) -> None:
    stay = make_stay(hotel, "Booked", reference="BK-2024-0042", number="Q5550001Z")
    response = lookup(desk_client, hotel, "bk 2024 0042")  # case and separators do not matter

    assert response.status_code == 200
    html = response.content.decode()
    assert "Booked, Ana" in html and url("desk:stay", hotel, stay_id=stay.pk) in html and NEUTRAL not in html
    assert "Q5550001Z" not in html
    entry = AuditEntry.objects.get(action=Action.STAY_LOOKUP)
    assert entry.purpose == "front_desk.lookup" and entry.details == {
        "kind": "booking_reference",
        "searched": search_fingerprint("booking_reference", "BK-2024-0042"),
        "stays": [str(stay.pk)],
    }
    text = audit_text()
    for plaintext in ("BK-2024-0042", "BK20240042", "bk 2024 0042", "2024", "Booked"):
        assert plaintext not in text


def test_lookup_shows_an_arrival_of_today(hotel: Hotel, desk_client: Client) -> None:
    make_stay(hotel, "Arriving", status=StayStatus.BOOKED, reference="ARR-1")
    assert "Arriving, Ana" in lookup(desk_client, hotel, "ARR-1").content.decode()


@pytest.mark.parametrize("case", ["no_match", "prefix", "checked_out", "tomorrow", "other_property"])
def test_lookup_without_a_shown_stay_is_neutral_and_audited(
    hotel: Hotel, other_hotel: Hotel, desk_client: Client, case: str
) -> None:
    today = desk.property_today(hotel.prop)
    make_stay(hotel, "Present", reference="HERE-1")
    make_stay(hotel, "Past", status=StayStatus.CHECKED_OUT, reference="PAST-1", check_in=today - dt.timedelta(5))
    make_stay(hotel, "Later", status=StayStatus.BOOKED, reference="LATER-1", check_in=today + dt.timedelta(days=1))
    make_stay(other_hotel, "Foreign", reference="THERE-1")
    reference = {
        "no_match": "NOPE-9",
        "prefix": "HERE",
        "checked_out": "PAST-1",
        "tomorrow": "LATER-1",
        "other_property": "THERE-1",
    }[case]

    response = lookup(desk_client, hotel, reference)

    assert response.status_code == 200
    html = response.content.decode()
    assert NEUTRAL in html
    for name in ("Present", "Past", "Later", "Foreign"):
        assert name not in html
    entry = AuditEntry.objects.get(action=Action.STAY_LOOKUP)
    searched = search_fingerprint("booking_reference", reference)
    assert entry.details == {"kind": "booking_reference", "searched": searched, "stays": []}
    assert entry.purpose == "front_desk.lookup"
    assert not AuditEntry.objects.filter(action=Action.GUEST_LIST_READ).exists()
    assert reference not in audit_text()


@pytest.mark.parametrize("reference", ["", "   ", "-/.", "X" * 65])
def test_lookup_of_no_reference_is_a_400_naming_the_field_and_reads_nothing(
    hotel: Hotel, desk_client: Client, reference: str
) -> None:
    make_stay(hotel, "Present", reference="HERE-1")
    response = lookup(desk_client, hotel, reference)
    assert response.status_code == 400
    html = response.content.decode()
    assert 'class="field has-error"' in html and 'name="reference"' in html and NEUTRAL not in html
    assert not AuditEntry.objects.filter(action__in=[Action.STAY_LOOKUP, Action.GUEST_LIST_READ]).exists()


def test_lookup_page_never_reads_a_reference_from_the_url(hotel: Hotel, desk_client: Client) -> None:
    make_stay(hotel, "Present", reference="HERE-1")
    response = desk_client.get(url("desk:lookup", hotel), {"reference": "HERE-1"})
    html = response.content.decode()
    assert response.status_code == 200 and NEUTRAL not in html and "Present" not in html
    assert 'value="HERE-1"' not in html  # the form does not take it up either
    assert '<form method="post"' in html and "csrfmiddlewaretoken" in html
    assert not AuditEntry.objects.filter(action__in=[Action.STAY_LOOKUP, Action.GUEST_LIST_READ]).exists()


# --- roles --------------------------------------------------------------------------------------------------------


def test_property_manager_uses_the_desk(hotel: Hotel, client_for_role: ClientFor) -> None:
    stay = make_stay(hotel, "Managed")
    client = client_for_role(Role.PROPERTY_MANAGER)
    assert client.get(url("desk:today", hotel)).status_code == 200
    assert client.get(url("desk:stay", hotel, stay_id=stay.pk)).status_code == 200
    home = client.get(url("core:home", hotel)).content.decode()
    assert f'href="{url("desk:today", hotel)}"' in home


@pytest.mark.parametrize("role", [Role.SECURITY_OFFICER, Role.AUDITOR, Role.IT_ADMIN, Role.PRIVACY_OFFICER])
def test_other_roles_are_refused_and_read_nothing(hotel: Hotel, client_for_role: ClientFor, role: str) -> None:
    stay = make_stay(hotel, "Private", reference="SECRET-1")
    client = client_for_role(role)
    assert client.get(url("desk:today", hotel)).status_code == 403
    assert client.get(url("desk:check_in", hotel)).status_code == 403
    assert client.post(url("desk:check_in", hotel), check_in_data(hotel)).status_code == 403
    assert client.post(url("desk:lookup", hotel), {"reference": "SECRET-1"}).status_code == 403
    assert client.get(url("desk:stay", hotel, stay_id=stay.pk)).status_code == 403
    assert client.post(url("desk:unmask", hotel, stay_id=stay.pk), {"reason": "other"}).status_code == 403
    assert counts() == (1, 1, 1, 0)
    read_actions = [Action.GUEST_LIST_READ, Action.STAY_LOOKUP, Action.GUEST_DOCUMENT_READ, Action.GUEST_RECORD_READ]
    assert not AuditEntry.objects.filter(action__in=read_actions).exists()
    assert AuditEntry.objects.filter(action=Action.ACCESS_DENIED, outcome=Outcome.DENIED).count() == 6
    home = client.get(url("core:home", hotel)).content.decode()
    assert url("desk:today", hotel) not in home


def test_mask() -> None:
    assert desk.mask("E12345678") == "••••••678"
    assert desk.mask("1234") == "••••"
    assert desk.mask("") == ""
