"""A PMS import is no existence oracle (DESIGN invariant 6; issue 12, item 4).

The dry run checks the file only: its report, its page and its audit entry are the same whether the file's booking
references are stays the property already holds or not. The commit leaves rows already held as they are and says
so of no row: the uploader sees rows imported, never created versus already present; and an in-house row for an
occupied room is refused whether or not its reference is the occupant's.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable
from typing import Any

import pytest
from django.test import Client
from django.urls import reverse

from custody.accounts.roles import Role
from custody.audit.events import Action
from custody.audit.models import AuditEntry
from custody.guests import imports, vault
from custody.guests.models import ImportStatus, Stay, StayImport, StayStatus
from custody.properties.models import Room, RoomType
from tests.conftest import Hotel
from tests.test_import import commit, csv_bytes, import_file, row, upload, upload_and_check

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("fresh_keys")]

VARYING = re.compile(
    rb'name="csrfmiddlewaretoken" value="[^"]+"|/imports/[0-9a-f-]{36}/|Uploaded [0-9: -]+ by|sha256|'
    rb"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}"
)
NEW = "NEWX-1"  # as long as HELD-1: the files differ in nothing but which reference is held


def report(stay_import: StayImport) -> dict[str, Any]:
    """Everything a dry run keeps and shows about the rows."""
    stay_import.refresh_from_db()
    fields = ("status", "total_rows", "rows_to_write", "existing_count", "duplicate_count", "error_count", "errors")
    return {name: getattr(stay_import, name) for name in fields}


def page_of(client: Client, hotel: Hotel, stay_import: StayImport) -> bytes:
    url = reverse("imports:detail", kwargs={"code": hotel.prop.code, "import_id": stay_import.pk})
    response = client.get(url)
    assert response.status_code == 200
    return VARYING.sub(b"", response.content)


@pytest.fixture
def held(hotel: Hotel) -> None:
    """What the property already holds: a past stay booked as HELD-1 (hidden from the desk too)."""
    import_file(hotel, csv_bytes([row(**{"Booking reference": "HELD-1", "Status": "checked_out"})]))


@pytest.fixture
def second_room(hotel: Hotel) -> Room:
    return Room.objects.create(property=hotel.prop, floor=hotel.floor, number="102", room_type=RoomType.SINGLE)


def test_a_dry_run_of_a_held_reference_reads_like_one_of_a_new_reference(
    hotel: Hotel, held: None, client_for_role: Callable[[str], Client]
) -> None:
    client = client_for_role(Role.IT_ADMIN)
    for reference in ("HELD-1", NEW):
        assert upload(client, hotel, csv_bytes([row(**{"Booking reference": reference})])).status_code == 302
    held_import, new_import = StayImport.objects.filter(status=ImportStatus.UPLOADED).order_by("created_at")
    for stay_import in (held_import, new_import):
        mapping = {f"column_{i}": name for i, name in enumerate(stay_import.mapping)}
        url = reverse("imports:check", kwargs={"code": hotel.prop.code, "import_id": stay_import.pk})
        assert client.post(url, mapping).status_code == 302

    assert report(held_import) == report(new_import)
    assert report(held_import)["rows_to_write"] == 1 and report(held_import)["existing_count"] == 0
    assert page_of(client, hotel, held_import) == page_of(client, hotel, new_import)
    assert b"Already present" not in page_of(client, hotel, held_import)
    checked = AuditEntry.objects.filter(action=Action.IMPORT_CHECKED).order_by("seq")
    assert [entry.details for entry in checked][-2] == [entry.details for entry in checked][-1]
    assert {entry.purpose for entry in checked} == {""}


def test_a_dry_run_does_not_say_a_room_is_occupied(hotel: Hotel, second_room: Room) -> None:
    import_file(hotel, csv_bytes([row(**{"Booking reference": "OCC", "Room": "102", "Status": "in_house"})]))
    _, result = upload_and_check(
        hotel, csv_bytes([row(**{"Booking reference": NEW, "Room": "102", "Status": "in_house"})])
    )
    assert result.errors == [] and len(result.valid) == 1


def test_a_commit_does_not_tell_the_uploader_which_rows_were_held(
    hotel: Hotel, held: None, client_for_role: Callable[[str], Client]
) -> None:
    client = client_for_role(Role.PROPERTY_MANAGER)
    pages = []
    for reference in ("HELD-1", NEW):
        stay_import, _ = upload_and_check(hotel, csv_bytes([row(**{"Booking reference": reference})]))
        done = commit(stay_import)
        assert done.status == ImportStatus.COMMITTED and done.rows_done == 1
        pages.append(page_of(client, hotel, done))
    assert pages[0] == pages[1]
    assert b"Rows imported" in pages[0] and b"Already present" not in pages[0] and b"Stays created" not in pages[0]
    index = client.get(reverse("imports:index", kwargs={"code": hotel.prop.code})).content
    assert b"Already present" not in index and b">Created<" not in index
    assert len(vault.find_stays(hotel.prop, "HELD-1")) == 1  # held: left as it was, not created twice
    assert len(vault.find_stays(hotel.prop, NEW)) == 1


@pytest.mark.parametrize("reference", ["OCC", "SOMEONE-ELSE"])
def test_an_in_house_row_for_an_occupied_room_is_refused_whether_or_not_its_reference_is_held(
    hotel: Hotel, second_room: Room, reference: str
) -> None:
    import_file(hotel, csv_bytes([row(**{"Booking reference": "OCC", "Room": "102", "Status": "in_house"})]))
    stays_before = Stay.objects.count()
    stay_import, result = upload_and_check(
        hotel,
        csv_bytes(
            [
                row(**{"Booking reference": "LATER-1", "Check-in date": "2026-02-01", "Check-out date": "2026-02-03"}),
                row(**{"Booking reference": reference, "Room": "102", "Status": "in_house"}),
            ]
        ),
    )
    assert not result.errors

    done = commit(stay_import)

    assert done.status == ImportStatus.FAILED and done.failure == "row_errors"
    assert [error.line() for error in imports.stored_errors(done)] == [
        "row 3, room: is the room of a stay in house in Custody: only rooms that are free in Custody can take an "
        "in-house stay from a file (guests checked in already need no import)."
    ]
    assert Stay.objects.count() == stays_before  # nothing written, not even the good row
    (occupant,) = vault.find_stays(hotel.prop, "OCC")
    assert occupant.status == StayStatus.IN_HOUSE and occupant.check_out_planned == dt.date(2026, 1, 12)
