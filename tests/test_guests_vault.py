"""The guest vault: every personal field encrypted and bound to its row, audited reads that fail closed, exact lookup
by blind index with false positives filtered, erasure by crypto-shredding, immutable registrations."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Any
from unittest import mock

import pytest
from django.db import DatabaseError, IntegrityError, connection, transaction
from django.db.models import F
from django.utils import timezone

from custody import authority
from custody.accounts.models import User
from custody.audit.events import Action, Outcome
from custody.audit.log import AuditWriteError
from custody.audit.models import AuditEntry
from custody.authority import ReadRefused
from custody.crypto.blind_index import blind_index
from custody.crypto.fields import DecryptionFailed
from custody.guests import vault
from custody.guests.models import (
    BlindIndex,
    Guest,
    IdentityDocument,
    ImmutableRecord,
    IndexKind,
    Registration,
    Stay,
    StayStatus,
)
from custody.guests.vault import GuestDataError, GuestErased
from tests.authorities import readback
from tests.conftest import Hotel

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("fresh_keys")]

MARIA: dict[str, Any] = {
    "surname": "García-Núñez",
    "second_surname": "López de la Peña",
    "given_names": "María José",
    "sex": "F",
    "date_of_birth": dt.date(1984, 2, 29),
    "nationality": "ESP",
    "address": "Calle Mayor 1, 3º B\n28013 Madrid",
    "phone": "+34 600 123 456",
    "email": "Maria.Garcia@example.es",
    "preferences": "Quiet room, high floor",
    "special_needs": "Step-free access; allergic to feathers",
    "notes": "Speaks Spanish and a little Chinese (会说一点中文) 🏨",
    "consents": {"marketing": False, "data_processing": True},
}
NANA: dict[str, Any] = {
    "surname": "欧阳",
    "given_names": "娜娜",
    "sex": "F",
    "nationality": "CHN",
    "address": "北京市朝阳区建国路 88 号",
    "phone": "138 0013 8000",
    "email": "nana@example.cn",
}
DOCUMENT = {
    "doc_type": "national_id",
    "number": "12345678-Z",
    "issuing_country": "ESP",
    "issue_date": "2019-05-06",
    "expiry_date": dt.date(2029, 5, 6),
    "support_number": "BAA000589",
}


def stored_text(fields: dict[str, Any]) -> dict[str, str]:
    """Values as read_guest returns them: dates in ISO form, consents as canonical JSON text."""
    out = {}
    for name, value in fields.items():
        if isinstance(value, dt.date):
            value = value.isoformat()
        elif isinstance(value, dict):
            value = json.dumps(value, ensure_ascii=False, sort_keys=True, separators=(",", ":"))
        out[name] = value
    return out


def plaintexts(*records: dict[str, Any]) -> list[str]:
    """The personal values of these records that a leak check looks for (skipping codes shorter than 4 characters)."""
    values = [v for record in records for v in stored_text(record).values() if isinstance(v, str) and len(v) >= 4]
    return [v for v in values if v not in {"national_id"}]


def read_all(guest: Guest, user: User, hotel: Hotel) -> dict[str, str]:
    return vault.read_guest(guest, Guest.ENCRYPTED_FIELDS, authority=readback(hotel.prop))


@pytest.fixture
def maria(hotel: Hotel, desk_clerk: User) -> Guest:
    guest = vault.create_guest(hotel.prop, MARIA, acting_user=desk_clerk)
    vault.add_identity_document(guest, DOCUMENT, acting_user=desk_clerk)
    return guest


@pytest.fixture
def nana(hotel: Hotel, desk_clerk: User) -> Guest:
    return vault.create_guest(hotel.prop, NANA, acting_user=desk_clerk)


@pytest.fixture
def stay(hotel: Hotel, desk_clerk: User, maria: Guest, nana: Guest) -> Stay:
    return vault.create_stay(
        hotel.prop,
        primary_guest=maria,
        companions=[nana],
        room=hotel.room,
        booking_reference="BK-2026-00042",
        check_in_planned=dt.date(2026, 7, 1),
        check_out_planned=dt.date(2026, 7, 4),
        channel="ota",
        special_requests="Late arrival, around 23:30; baby cot",
        acting_user=desk_clerk,
    )


# --- round trips ----------------------------------------------------------------------------------------------


def test_every_guest_field_round_trips_exactly(hotel: Hotel, desk_clerk: User, maria: Guest, nana: Guest) -> None:
    assert read_all(maria, desk_clerk, hotel) == stored_text(MARIA)
    expected_nana = {**dict.fromkeys(Guest.ENCRYPTED_FIELDS, ""), "consents": "{}", **NANA}
    assert read_all(nana, desk_clerk, hotel) == expected_nana
    # Decomposed accents (as some keyboards and PMS exports send them) are kept as they came, not normalized.
    decomposed = "Zoe\u0308 Mu\u0308ller"
    guest = vault.create_guest(hotel.prop, {"surname": decomposed, "given_names": "　全角 名"}, acting_user=desk_clerk)
    read = vault.read_guest(guest, ["surname", "given_names"], authority=readback(hotel.prop))
    assert read == {"surname": decomposed, "given_names": "　全角 名"}


def test_documents_stay_and_registration_round_trip(
    hotel: Hotel, desk_clerk: User, maria: Guest, nana: Guest, stay: Stay
) -> None:
    [document] = vault.read_identity_documents(maria, IdentityDocument.ENCRYPTED_FIELDS, authority=readback(hotel.prop))
    assert document == {"id": str(maria.documents.get().pk), **stored_text(DOCUMENT)}
    assert vault.read_stay(stay, Stay.ENCRYPTED_FIELDS, authority=readback(hotel.prop)) == {
        "booking_reference": "BK-2026-00042",
        "special_requests": "Late arrival, around 23:30; baby cot",
    }
    assert stay.guest_ids() == [maria.pk, nana.pk]

    stay = vault.update_stay(
        stay, {"status": StayStatus.IN_HOUSE, "checked_in_at": timezone.now()}, acting_user=desk_clerk
    )
    registration = vault.register(stay, maria, document=maria.documents.get(), acting_user=desk_clerk)
    companion_record = vault.register(stay, nana, acting_user=desk_clerk)
    payload = vault.read_registration(registration, authority=readback(hotel.prop))
    assert payload["format"] == "custody-registration/1"
    assert payload["guest"] == str(maria.pk) and payload["role"] == "primary"
    assert payload["guest_fields"] == {
        k: v for k, v in stored_text(MARIA).items() if k in vault.REGISTERED_GUEST_FIELDS
    }
    assert payload["document"] == stored_text(DOCUMENT)
    assert payload["stay_fields"]["room"] == "101"
    assert payload["stay_fields"]["booking_reference"] == "BK-2026-00042"
    assert payload["stay_fields"]["guests"] == 2
    other = vault.read_registration(companion_record, authority=readback(hotel.prop))
    assert other["role"] == "companion" and other["guest_fields"]["surname"] == "欧阳" and other["document"] is None

    # The snapshot keeps what was registered, whatever changes later.
    vault.update_guest(maria, {"address": "Elsewhere 2"}, acting_user=desk_clerk)
    again = vault.read_registration(registration, authority=readback(hotel.prop))
    assert again["guest_fields"]["address"] == MARIA["address"]


def test_rows_hold_no_plaintext(hotel: Hotel, maria: Guest, stay: Stay) -> None:
    secrets = [*plaintexts(MARIA, NANA, DOCUMENT), "BK-2026-00042", "Late arrival"]
    for model in (Guest, IdentityDocument, Stay, Registration, BlindIndex):
        for row in model.objects.values():
            dumped = repr(row).encode() + b"".join(bytes(v) for v in row.values() if isinstance(v, bytes | memoryview))
            for secret in secrets:
                assert secret.encode() not in dumped, (model.__name__, secret)


def test_writes_are_audited_with_ids_only(hotel: Hotel, desk_clerk: User, maria: Guest, stay: Stay) -> None:
    [created] = AuditEntry.objects.filter(action=Action.GUEST_CREATED, object_id=str(maria.pk))
    assert created.object_type == "guests.guest" and created.actor_id == desk_clerk.pk
    assert created.details == {"fields": sorted(MARIA)}
    [stay_created] = AuditEntry.objects.filter(action=Action.STAY_CREATED)
    assert stay_created.details["primary_guest"] == str(maria.pk)
    assert AuditEntry.objects.filter(action=Action.GUEST_DOCUMENT_ADDED).count() == 1


def test_invalid_input_names_the_field_and_writes_nothing(hotel: Hotel, desk_clerk: User) -> None:
    entries = AuditEntry.objects.count()
    cases = [
        ({"surname": ""}, "surname"),
        ({"surname": "  "}, "surname"),
        ({"surname": "Ok", "nickname": "x"}, "nickname"),
        ({"surname": "Ok", "date_of_birth": "29/02/1984"}, "date_of_birth"),
        ({"surname": "Ok", "date_of_birth": dt.date(2999, 1, 1)}, "date_of_birth"),
        ({"surname": "Ok", "sex": "Q"}, "sex"),
        ({"surname": "x" * 201}, "surname"),
        ({"surname": "Tab\tName"}, "surname"),
        ({"surname": "Ok", "email": "not-an-address"}, "email"),
        ({"surname": "Ok", "phone": "call me"}, "phone"),
        ({"surname": "Ok", "consents": "[1, 2]"}, "consents"),
        ({"surname": 42}, "surname"),
    ]
    for fields, field in cases:
        with pytest.raises(GuestDataError) as error:
            vault.create_guest(hotel.prop, fields, acting_user=desk_clerk)
        assert error.value.field == field, fields
    assert Guest.objects.count() == 0 and BlindIndex.objects.count() == 0 and AuditEntry.objects.count() == entries


# --- audited reads --------------------------------------------------------------------------------------------


def test_read_writes_exactly_one_entry_with_field_names_and_ids_only(
    hotel: Hotel, desk_clerk: User, maria: Guest, stay: Stay
) -> None:
    before = AuditEntry.objects.count()
    read = vault.read_guest(maria, ["given_names", "surname"], authority=readback(hotel.prop))
    assert read == {"surname": "García-Núñez", "given_names": "María José"}
    assert AuditEntry.objects.count() == before + 1
    entry = AuditEntry.objects.order_by("-seq").first()
    assert entry is not None
    assert entry.action == Action.GUEST_RECORD_READ
    assert (entry.object_type, entry.object_id) == ("guests.guest", str(maria.pk))
    assert entry.details == {"guest": str(maria.pk), "fields": ["given_names", "surname"]}
    assert (entry.purpose, entry.grant_ref, entry.actor_id, entry.property_id) == (
        authority.SYSTEM_TEST_READBACK, "", None, hotel.prop.pk,
    )  # fmt: skip

    vault.read_identity_documents(maria, ["number"], authority=readback(hotel.prop))
    vault.read_stay(stay, ["booking_reference"], authority=readback(hotel.prop))
    registration = vault.register(stay, maria, acting_user=desk_clerk)
    vault.read_registration(registration, authority=readback(hotel.prop))
    # No audit column of any entry holds a personal value, in any case.
    secrets = [*plaintexts(MARIA, NANA, DOCUMENT), "BK-2026-00042", "BK202600042", "Late arrival"]
    for row in AuditEntry.objects.values():
        text = json.dumps(row, default=str, ensure_ascii=False).casefold()
        for secret in secrets:
            assert secret.casefold() not in text, (row["action"], secret)


def test_reading_needs_an_authority_and_named_fields(hotel: Hotel, desk_clerk: User, maria: Guest) -> None:
    before = AuditEntry.objects.count()
    # A purpose-shaped string, or anything else that is not the gate's authority, reads nothing and is logged.
    for fake in ["front_desk.today", None, object()]:
        with pytest.raises(ReadRefused) as refused:
            vault.read_guest(maria, ["surname"], authority=fake)  # type: ignore[arg-type]
        assert refused.value.code == "forged"
    denied = AuditEntry.objects.filter(action=Action.GUEST_RECORD_READ, outcome=Outcome.DENIED)
    assert [e.details for e in denied] == [{"reason": "forged"}] * 3
    assert {e.object_id for e in denied} == {str(maria.pk)}
    before = AuditEntry.objects.count()
    with pytest.raises(ValueError, match="unknown field"):
        vault.read_guest(maria, ["surname", "password"], authority=readback(hotel.prop))
    with pytest.raises(ValueError, match="name the fields"):
        vault.read_guest(maria, [], authority=readback(hotel.prop))
    assert AuditEntry.objects.count() == before


def test_reading_through_another_property_is_refused(
    hotel: Hotel, other_hotel: Hotel, desk_clerk: User, maria: Guest
) -> None:
    with pytest.raises(ReadRefused) as refused:
        vault.read_guest(maria, ["surname"], authority=readback(other_hotel.prop))
    assert refused.value.code == "wrong_property"
    [entry] = AuditEntry.objects.filter(outcome=Outcome.DENIED)
    assert (entry.action, entry.property_id, entry.details) == (
        Action.GUEST_RECORD_READ, other_hotel.prop.pk, {"reason": "wrong_property"},
    )  # fmt: skip
    assert not AuditEntry.objects.filter(action=Action.GUEST_RECORD_READ, outcome=Outcome.ALLOWED).exists()


def test_read_fails_closed_when_the_audit_write_fails(hotel: Hotel, desk_clerk: User, maria: Guest, stay: Stay) -> None:
    before = AuditEntry.objects.count()
    registration = vault.register(stay, maria, acting_user=desk_clerk)
    results: list[object] = []
    with mock.patch("custody.audit.gate.append", side_effect=DatabaseError("disk full")):
        with pytest.raises(AuditWriteError):
            results.append(vault.read_guest(maria, ["surname"], authority=readback(hotel.prop)))
        with pytest.raises(AuditWriteError):
            results.append(vault.read_identity_documents(maria, ["number"], authority=readback(hotel.prop)))
        with pytest.raises(AuditWriteError):
            results.append(vault.read_stay(stay, ["booking_reference"], authority=readback(hotel.prop)))
        with pytest.raises(AuditWriteError):
            results.append(vault.read_registration(registration, authority=readback(hotel.prop)))
    assert results == []
    assert AuditEntry.objects.count() == before + 1  # only the registration's own entry


def test_writes_fail_closed_too(hotel: Hotel, desk_clerk: User, maria: Guest) -> None:
    guests, indexes, entries = Guest.objects.count(), BlindIndex.objects.count(), AuditEntry.objects.count()
    with mock.patch("custody.audit.gate.append", side_effect=DatabaseError("disk full")):
        with pytest.raises(AuditWriteError):
            vault.create_guest(hotel.prop, NANA, acting_user=desk_clerk)
        with pytest.raises(AuditWriteError):
            vault.update_guest(maria, {"surname": "Changed"}, acting_user=desk_clerk)
        with pytest.raises(AuditWriteError):
            vault.erase_guest(maria, acting_user=desk_clerk)
    assert (Guest.objects.count(), BlindIndex.objects.count(), AuditEntry.objects.count()) == (guests, indexes, entries)
    assert vault.read_guest(maria, ["surname"], authority=readback(hotel.prop)) == {"surname": "García-Núñez"}
    assert vault.find_guests(hotel.prop, "name", "García-Núñez María José") == [maria]


# --- ciphertexts are bound to their row and column ------------------------------------------------------------


def test_ciphertext_moved_to_another_column_fails(hotel: Hotel, desk_clerk: User, maria: Guest, stay: Stay) -> None:
    Guest.objects.filter(pk=maria.pk).update(given_names=F("surname"))
    with pytest.raises(DecryptionFailed, match=r"guests_guest\.given_names"):
        vault.read_guest(maria, ["given_names"], authority=readback(hotel.prop))
    Stay.objects.filter(pk=stay.pk).update(special_requests=F("booking_reference"))
    with pytest.raises(DecryptionFailed):
        vault.read_stay(stay, ["special_requests"], authority=readback(hotel.prop))


def test_ciphertext_moved_to_another_row_fails(hotel: Hotel, desk_clerk: User, maria: Guest, nana: Guest) -> None:
    # Two documents of the same guest share the data key: only the row binding can tell their numbers apart.
    second = vault.add_identity_document(maria, {"doc_type": "passport", "number": "PAA123456"}, acting_user=desk_clerk)
    first = maria.documents.exclude(pk=second.pk).get()
    IdentityDocument.objects.filter(pk=second.pk).update(number=first.number)
    with pytest.raises(DecryptionFailed, match=r"guests_identitydocument\.number"):
        vault.read_identity_documents(maria, ["number"], authority=readback(hotel.prop))
    # Another guest's field, and another guest's wrapped data key, do not open either.
    Guest.objects.filter(pk=nana.pk).update(notes=Guest.objects.get(pk=maria.pk).notes)
    with pytest.raises(DecryptionFailed):
        vault.read_guest(nana, ["notes"], authority=readback(hotel.prop))
    Guest.objects.filter(pk=nana.pk).update(wrapped_key=Guest.objects.get(pk=maria.pk).wrapped_key)
    with pytest.raises(DecryptionFailed, match="data key"):
        vault.read_guest(nana, ["surname"], authority=readback(hotel.prop))


# --- lookups by blind index -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "query",
    [
        "García-Núñez María José",
        "GARCIA-NUNEZ MARIA JOSE",
        "  garcía-núñez   maría\tjosé ",
        "ＧＡＲＣＩＡ-ＮＵＮＥＺ　ＭＡＲＩＡ　ＪＯＳＥ",  # full width, ideographic spaces
        "Garci\u0301a-Nu\u0301n\u0303ez Mari\u0301a Jose\u0301",  # decomposed accents
    ],
)
def test_find_by_name_variants(hotel: Hotel, maria: Guest, nana: Guest, query: str) -> None:
    assert vault.find_guests(hotel.prop, "name", query) == [maria]


@pytest.mark.parametrize("query", ["欧阳 娜娜", "欧阳娜娜", "欧阳　娜娜", " 欧阳  娜娜 "])
def test_find_chinese_name_with_or_without_spaces(hotel: Hotel, maria: Guest, nana: Guest, query: str) -> None:
    assert vault.find_guests(hotel.prop, "name", query) == [nana]


def test_find_by_name_is_exact(hotel: Hotel, maria: Guest, nana: Guest) -> None:
    for query in ["García-Núñez", "María José", "García-Núñez María", "欧阳", "Garcia Nunez Maria Jose", "", "  "]:
        assert vault.find_guests(hotel.prop, "name", query) == [], query


@pytest.mark.parametrize(
    ("kind", "query"),
    [
        ("id_number", "12345678Z"),
        ("id_number", "12345678-z"),
        ("id_number", "1234 5678 Z"),
        ("id_number", "12.345.678/Z"),
        ("phone", "+34 600 123 456"),
        ("phone", "0034600123456"),
        ("phone", "+34-600-123-456"),
        ("phone", "(+34) 600123456"),
        ("phone", "＋３４ ６００ １２３ ４５６"),
        ("email", "maria.garcia@example.es"),
        ("email", " MARIA.GARCIA@EXAMPLE.ES "),
        ("booking_reference", "BK-2026-00042"),
        ("booking_reference", "bk202600042"),
        ("booking_reference", "BK 2026 00042"),
    ],
)
def test_find_by_id_number_phone_email_and_booking_reference(
    hotel: Hotel, maria: Guest, stay: Stay, kind: str, query: str
) -> None:
    assert vault.find_guests(hotel.prop, kind, query) == [maria]


def test_find_stays_by_booking_reference(hotel: Hotel, stay: Stay) -> None:
    assert vault.find_stays(hotel.prop, "bk-2026-00042") == [stay]
    assert vault.find_stays(hotel.prop, "BK-2026-00043") == []


def test_find_misses(hotel: Hotel, maria: Guest, stay: Stay) -> None:
    assert vault.find_guests(hotel.prop, "id_number", "12345679Z") == []
    assert vault.find_guests(hotel.prop, "phone", "600 123 456") == []  # without the country code it is another number
    assert vault.find_guests(hotel.prop, "email", "maria.garcia@example.com") == []
    assert vault.find_guests(hotel.prop, "phone", "no digits") == []
    with pytest.raises(ValueError):
        vault.find_guests(hotel.prop, "surname", "García")


def test_index_follows_updates(hotel: Hotel, desk_clerk: User, maria: Guest) -> None:
    vault.update_guest(maria, {"surname": "Fernández", "phone": "+34 611 000 111"}, acting_user=desk_clerk)
    assert vault.find_guests(hotel.prop, "name", "García-Núñez María José") == []
    assert vault.find_guests(hotel.prop, "name", "Fernandez Maria Jose") == [maria]
    assert vault.find_guests(hotel.prop, "phone", "+34 600 123 456") == []
    assert vault.find_guests(hotel.prop, "phone", "0034611000111") == [maria]
    assert vault.find_guests(hotel.prop, "email", "maria.garcia@example.es") == [maria]  # untouched
    [document] = maria.documents.all()
    vault.update_identity_document(document, {"number": "X-9999999-Y"}, acting_user=desk_clerk)
    assert vault.find_guests(hotel.prop, "id_number", "12345678Z") == []
    assert vault.find_guests(hotel.prop, "id_number", "x9999999y") == [maria]
    assert BlindIndex.objects.filter(guest=maria).count() == 4  # name, phone, e-mail, one document number


def test_false_positives_are_filtered_after_decryption(
    hotel: Hotel, desk_clerk: User, maria: Guest, nana: Guest
) -> None:
    # A colliding index row: Nana's guest id under the digest of Maria's name.
    digest = blind_index("name", vault.name_text("García-Núñez", "María José"))
    BlindIndex.objects.create(property=hotel.prop, kind=IndexKind.NAME, digest=digest, guest=nana)
    assert vault.find_guests(hotel.prop, "name", "garcia-nunez maria jose") == [maria]


def test_every_digest_colliding_still_finds_only_the_right_guest(
    hotel: Hotel, desk_clerk: User, monkeypatch: pytest.MonkeyPatch
) -> None:
    """As if INDEX_BYTES were 0: every value of every kind gets the same index."""
    monkeypatch.setattr(vault, "blind_index", lambda kind, value: b"\x00\x00\x00\x00")
    people = [
        vault.create_guest(
            hotel.prop, {"surname": name, "given_names": "Ana", "phone": phone, "email": email}, acting_user=desk_clerk
        )
        for name, phone, email in [("Pérez", "+34 1", "a@x.es"), ("Perez", "+34 2", "b@x.es"), ("Paz", "+34 3", "")]
    ]
    for person, number in zip(people, ["A-1", "A-2", "A-3"], strict=True):
        vault.add_identity_document(person, {"doc_type": "passport", "number": number}, acting_user=desk_clerk)
    assert BlindIndex.objects.values("digest").distinct().count() == 1
    # Both spellings of Pérez are the same name once normalized; Paz is not.
    assert {g.pk for g in vault.find_guests(hotel.prop, "name", "PEREZ ANA")} == {people[0].pk, people[1].pk}
    assert vault.find_guests(hotel.prop, "name", "Paz Ana") == [people[2]]
    assert vault.find_guests(hotel.prop, "phone", "00342") == [people[1]]
    assert vault.find_guests(hotel.prop, "email", "A@X.ES") == [people[0]]
    assert vault.find_guests(hotel.prop, "id_number", "a3") == [people[2]]
    assert vault.find_guests(hotel.prop, "name", "Nobody Ana") == []


def test_another_propertys_guests_are_never_found(
    hotel: Hotel, other_hotel: Hotel, desk_clerk: User, maria: Guest, stay: Stay
) -> None:
    twin = vault.create_guest(other_hotel.prop, MARIA, acting_user=None)
    vault.add_identity_document(twin, DOCUMENT, acting_user=None)
    for kind, query in [
        ("name", "García-Núñez María José"),
        ("id_number", "12345678Z"),
        ("phone", "+34600123456"),
        ("email", "maria.garcia@example.es"),
    ]:
        assert vault.find_guests(hotel.prop, kind, query) == [maria]
        assert vault.find_guests(other_hotel.prop, kind, query) == [twin]
    assert vault.find_guests(other_hotel.prop, "booking_reference", "BK-2026-00042") == []
    # Even an index row filed under this property but pointing at the other property's guest finds nothing there.
    digest = blind_index("email", "maria.garcia@example.es")
    BlindIndex.objects.filter(guest=maria, kind="email").delete()
    BlindIndex.objects.create(property=hotel.prop, kind="email", digest=digest, guest=twin)
    assert vault.find_guests(hotel.prop, "email", "maria.garcia@example.es") == []


def test_stays_refuse_guests_and_rooms_of_another_property(
    hotel: Hotel, other_hotel: Hotel, desk_clerk: User, maria: Guest
) -> None:
    twin = vault.create_guest(other_hotel.prop, {"surname": "Twin"}, acting_user=None)
    dates = {"check_in_planned": dt.date(2026, 1, 1), "check_out_planned": dt.date(2026, 1, 2)}
    with pytest.raises(GuestDataError, match="another property"):
        vault.create_stay(hotel.prop, primary_guest=twin, acting_user=desk_clerk, **dates)
    with pytest.raises(GuestDataError, match="another property"):
        vault.create_stay(hotel.prop, primary_guest=maria, companions=[twin], acting_user=desk_clerk, **dates)
    with pytest.raises(GuestDataError, match="room"):
        vault.create_stay(hotel.prop, primary_guest=maria, room=other_hotel.room, acting_user=desk_clerk, **dates)
    with pytest.raises(GuestDataError, match="check_out_planned"):
        vault.create_stay(
            hotel.prop,
            primary_guest=maria,
            acting_user=desk_clerk,
            check_in_planned=dt.date(2026, 1, 2),
            check_out_planned=dt.date(2026, 1, 1),
        )
    assert Stay.objects.count() == 0


# --- erasure --------------------------------------------------------------------------------------------------


def test_erasure_makes_the_guest_unreadable_and_unfindable(
    hotel: Hotel, desk_clerk: User, maria: Guest, nana: Guest, stay: Stay
) -> None:
    own_record = vault.register(stay, maria, document=maria.documents.get(), acting_user=desk_clerk)
    companion_record = vault.register(stay, nana, acting_user=desk_clerk)
    stale = Guest.objects.get(pk=maria.pk)

    erased = vault.erase_guest(maria, acting_user=desk_clerk)

    assert erased.erased_at is not None and erased.wrapped_key is None and erased.kek_version is None
    row = Guest.objects.get(pk=maria.pk)
    assert row.wrapped_key is None and row.is_erased
    assert not BlindIndex.objects.filter(guest=maria).exists()
    assert not BlindIndex.objects.filter(stay=stay).exists()  # the booking reference was under her key
    reads = [
        lambda: vault.read_guest(stale, ["surname"], authority=readback(hotel.prop)),
        lambda: vault.read_identity_documents(stale, ["number"], authority=readback(hotel.prop)),
        lambda: vault.read_stay(stay, ["booking_reference"], authority=readback(hotel.prop)),
        lambda: vault.read_registration(own_record, authority=readback(hotel.prop)),
    ]
    for read in reads:
        with pytest.raises(GuestErased, match="erased"):
            read()
    assert issubclass(GuestErased, DecryptionFailed)
    for kind, query in [
        ("name", "García-Núñez María José"),
        ("id_number", "12345678Z"),
        ("phone", "+34600123456"),
        ("email", "maria.garcia@example.es"),
        ("booking_reference", "BK-2026-00042"),
    ]:
        assert vault.find_guests(hotel.prop, kind, query) == [], kind
    assert vault.find_stays(hotel.prop, "BK-2026-00042") == []
    with pytest.raises(GuestErased):
        vault.update_guest(maria, {"notes": "x"}, acting_user=desk_clerk)

    # The companion is untouched.
    assert vault.find_guests(hotel.prop, "name", "欧阳娜娜") == [nana]
    assert vault.read_registration(companion_record, authority=readback(hotel.prop))["guest"]

    [entry] = AuditEntry.objects.filter(action=Action.GUEST_ERASED)
    assert entry.object_id == str(maria.pk) and entry.details == {"blind_indexes": 5}
    vault.erase_guest(maria, acting_user=desk_clerk)
    assert AuditEntry.objects.filter(action=Action.GUEST_ERASED).count() == 1


# --- registrations are immutable ------------------------------------------------------------------------------


def test_registration_cannot_be_updated_through_the_model(desk_clerk: User, maria: Guest, stay: Stay) -> None:
    registration = vault.register(stay, maria, acting_user=desk_clerk)
    stored = bytes(Registration.objects.get(pk=registration.pk).payload)
    loaded = Registration.objects.get(pk=registration.pk)
    loaded.payload = b"\x01forged"
    with pytest.raises(ImmutableRecord):
        loaded.save()
    with pytest.raises(ImmutableRecord):
        registration.save(update_fields=["payload"])
    assert bytes(Registration.objects.get(pk=registration.pk).payload) == stored


@pytest.mark.parametrize(
    "sql",
    [
        "UPDATE guests_registration SET payload = guests_registration.payload",
        "UPDATE guests_registration SET created_at = created_at",
        "UPDATE guests_registration SET registered_by_id = NULL",
    ],
)
def test_registration_update_is_refused_by_the_database(desk_clerk: User, maria: Guest, stay: Stay, sql: str) -> None:
    registration = vault.register(stay, maria, acting_user=desk_clerk)
    with (
        pytest.raises((IntegrityError, DatabaseError), match="immutable"),
        transaction.atomic(),
        connection.cursor() as cursor,
    ):
        cursor.execute(sql)
    with pytest.raises((IntegrityError, DatabaseError), match="immutable"), transaction.atomic():
        Registration.objects.filter(pk=registration.pk).update(registered_by=None)
    assert Registration.objects.get(pk=registration.pk).registered_by_id == desk_clerk.pk


def test_registration_needs_a_guest_of_the_stay(hotel: Hotel, desk_clerk: User, maria: Guest, stay: Stay) -> None:
    stranger = vault.create_guest(hotel.prop, {"surname": "Stranger"}, acting_user=desk_clerk)
    with pytest.raises(GuestDataError, match="not a guest of this stay"):
        vault.register(stay, stranger, acting_user=desk_clerk)
    own_document = vault.add_identity_document(
        stranger, {"doc_type": "passport", "number": "P1"}, acting_user=desk_clerk
    )
    with pytest.raises(GuestDataError, match="another guest"):
        vault.register(stay, maria, document=own_document, acting_user=desk_clerk)
    assert Registration.objects.count() == 0


def test_key_files_stay_out_of_the_database(fresh_keys: Path, maria: Guest) -> None:
    """The data key is only ever stored wrapped: the key files live outside the database."""
    assert (fresh_keys / "keys" / "kek.json").is_file() and (fresh_keys / "keys" / "index.key").is_file()
    assert len(bytes(Guest.objects.get(pk=maria.pk).wrapped_key or b"")) == 61


def test_stay_updates(hotel: Hotel, desk_clerk: User, maria: Guest, nana: Guest, stay: Stay) -> None:
    third = vault.create_guest(hotel.prop, {"surname": "Third"}, acting_user=desk_clerk)
    stay = vault.update_stay(
        stay,
        {"companions": [third], "booking_reference": "BK-NEW-1", "status": StayStatus.IN_HOUSE},
        acting_user=desk_clerk,
    )
    assert stay.guest_ids() == [maria.pk, third.pk]
    assert vault.find_stays(hotel.prop, "bk-new-1") == [stay]
    assert vault.find_stays(hotel.prop, "BK-2026-00042") == []
    assert Stay.objects.get(pk=stay.pk).status == StayStatus.IN_HOUSE
    for changes, field in [
        ({"companions": [maria]}, "companions"),
        ({"status": "vanished"}, "status"),
        ({"check_out_planned": dt.date(2026, 6, 1)}, "check_out_planned"),
        ({"checked_in_at": dt.datetime(2026, 7, 1, 12, 0)}, "checked_in_at"),  # naive
        ({"primary_guest": nana}, "primary_guest"),
    ]:
        with pytest.raises(GuestDataError) as error:
            vault.update_stay(stay, changes, acting_user=desk_clerk)
        assert error.value.field == field
    assert [e.details["fields"] for e in AuditEntry.objects.filter(action=Action.STAY_UPDATED)] == [
        ["booking_reference", "companions", "status"]
    ]
