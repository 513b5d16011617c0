"""Demo guests and stays: deterministic synthetic data written through the vault, idempotent, findable by name."""

from __future__ import annotations

import datetime as dt
import re
import unicodedata
from io import StringIO
from typing import Any

import pytest
from django.core.management import CommandError, call_command

from custody.audit.models import AuditEntry
from custody.core.demo import PROPERTY_CODE
from custody.core.demo_guests import HISTORY_DAYS, seed_demo_guests
from custody.guests import vault
from custody.guests.desk import property_today
from custody.guests.models import Guest, IdentityDocument, Registration, Stay, StayStatus
from custody.properties.models import Property, Room, RoomType
from tests.authorities import readback
from tests.conftest import Hotel

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("fresh_keys")]

PURPOSE = "demo.check"
NAME_FIELDS = ["surname", "second_surname", "given_names", "nationality", "email", "phone"]
HAN = re.compile(r"[\u4e00-\u9fff]")


@pytest.fixture
def seeded(hotel: Hotel) -> Property:
    for n in range(1, 11):
        Room.objects.create(property=hotel.prop, floor=hotel.floor, number=f"2{n:02d}", room_type=RoomType.DOUBLE)
    assert seed_demo_guests(hotel.prop, guests=30, stays=60) == (30, 60)
    return hotel.prop


def read_all(prop: Property) -> dict[Any, dict[str, str]]:
    return {
        guest.pk: vault.read_guest(guest, NAME_FIELDS, authority=readback(prop))
        for guest in Guest.objects.filter(property=prop)
    }


def is_accented_latin(text: str) -> bool:
    return any(not c.isascii() and "LATIN" in unicodedata.name(c, "") for c in text)


def test_counts_and_idempotency(seeded: Property) -> None:
    assert Guest.objects.filter(property=seeded).count() == 30
    assert Stay.objects.filter(property=seeded).count() == 60
    assert IdentityDocument.objects.filter(guest__property=seeded).count() == 30  # one document each
    audit_entries = AuditEntry.objects.count()
    assert seed_demo_guests(seeded, guests=30, stays=60) == (30, 60)
    assert seed_demo_guests(seeded, guests=500, stays=900) == (30, 60)  # a property with guests is left alone
    assert Guest.objects.filter(property=seeded).count() == 30
    assert Stay.objects.filter(property=seeded).count() == 60
    assert AuditEntry.objects.count() == audit_entries


def test_same_seed_same_people(seeded: Property, other_hotel: Hotel) -> None:
    seed_demo_guests(other_hotel.prop, guests=30, stays=60)
    first = sorted((g["surname"], g["given_names"]) for g in read_all(seeded).values())
    second = sorted((g["surname"], g["given_names"]) for g in read_all(other_hotel.prop).values())
    assert first == second


def test_chinese_and_accented_latin_names_and_nationalities(seeded: Property) -> None:
    guests = list(read_all(seeded).values())
    chinese = [g for g in guests if HAN.search(g["surname"] + g["given_names"])]
    latin = [g for g in guests if is_accented_latin(g["surname"] + g["second_surname"] + g["given_names"])]
    assert chinese and latin
    assert all(g["nationality"] == "CN" for g in chinese)
    assert len({g["nationality"] for g in guests}) >= 4
    assert all(g["email"].endswith(("@example.com", "@example.cn")) for g in guests)
    assert all(g["phone"].startswith("+") for g in guests)
    assert any(g["second_surname"] for g in guests if g["nationality"] == "ES") or not any(
        g["nationality"] == "ES" for g in guests
    )


def test_stays_within_18_months_with_consistent_statuses(seeded: Property) -> None:
    today = property_today(seeded)
    stays = list(Stay.objects.filter(property=seeded))
    for stay in stays:
        nights = (stay.check_out_planned - stay.check_in_planned).days
        assert 1 <= nights <= 7
        assert stay.check_in_planned >= today - dt.timedelta(days=HISTORY_DAYS)
        assert stay.room is not None or stay.status == StayStatus.CANCELLED
        if stay.status == StayStatus.CHECKED_OUT:
            assert stay.check_out_planned < today
            assert stay.checked_in_at is not None and stay.checked_out_at is not None
            assert stay.checked_in_at <= stay.checked_out_at
        elif stay.status == StayStatus.IN_HOUSE:
            assert stay.check_in_planned <= today <= stay.check_out_planned
            assert stay.checked_in_at is not None and stay.checked_out_at is None
        elif stay.status == StayStatus.BOOKED:
            assert stay.check_in_planned in (today, today + dt.timedelta(days=1))
            assert stay.checked_in_at is None
        else:
            assert stay.check_out_planned < today and stay.checked_in_at is None
    in_house = [s for s in stays if s.status == StayStatus.IN_HOUSE]
    assert 1 <= len(in_house) <= 10
    assert len({s.room_id for s in in_house}) == len(in_house)  # no two in-house stays share a room
    assert any(s.status == StayStatus.BOOKED and s.check_in_planned == today for s in stays)
    assert any(s.status == StayStatus.CHECKED_OUT for s in stays)
    assert any(s.stay_guests.exists() for s in stays)  # some stays with a companion
    assert len({s.channel for s in stays}) >= 3


def test_every_checked_in_guest_is_registered(seeded: Property) -> None:
    for stay in Stay.objects.filter(property=seeded):
        registered = set(Registration.objects.filter(stay=stay).values_list("guest_id", flat=True))
        if stay.status in (StayStatus.IN_HOUSE, StayStatus.CHECKED_OUT):
            assert registered == set(stay.guest_ids())
        else:
            assert not registered
    registration = Registration.objects.filter(stay__property=seeded).first()
    assert registration is not None
    payload = vault.read_registration(registration, authority=readback(seeded))
    assert payload["document"]["number"] and payload["stay_fields"]["room"]


def test_every_guest_is_findable_by_name_and_document(seeded: Property) -> None:
    for pk, fields in read_all(seeded).items():
        found = vault.find_guests(seeded, "name", f"{fields['surname']} {fields['given_names']}")
        assert pk in {g.pk for g in found}
        guest = Guest.objects.get(pk=pk)
        [document] = vault.read_identity_documents(guest, ["number"], authority=readback(seeded))
        assert pk in {g.pk for g in vault.find_guests(seeded, "id_number", document["number"])}


def test_command_seeds_guests_or_not(db: None, settings: Any, tmp_path: Any, media_root: Any, fresh_keys: Any) -> None:
    settings.CUSTODY_HOME = tmp_path
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    out = StringIO()
    call_command("seed_demo", "--quiet-logins", "--no-guests", "--no-footage", stdout=out)
    prop = Property.objects.get(code=PROPERTY_CODE)
    assert not Guest.objects.filter(property=prop).exists()
    assert "Demo guests" not in out.getvalue()
    with pytest.raises(CommandError):
        call_command("seed_demo", "--quiet-logins", "--guests", "0", "--stays", "5", stdout=StringIO())
    out = StringIO()
    call_command("seed_demo", "--quiet-logins", "--no-footage", "--guests", "12", "--stays", "20", stdout=out)
    assert "Demo guests: 12 guests, 20 stays." in out.getvalue()
    out = StringIO()
    call_command("seed_demo", "--quiet-logins", "--no-footage", "--guests", "40", "--stays", "80", stdout=out)
    assert "Demo guests: 12 guests, 20 stays." in out.getvalue()  # idempotent
