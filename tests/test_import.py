"""PMS stay import: encodings, delimiters, mapping, the per-row dry run, all-or-nothing commit, idempotency, progress,
the command line, the upload pages, and the uploaded file never kept in plaintext (DESIGN: Bad input, invariant 2)."""

from __future__ import annotations

import codecs
import csv
import datetime as dt
import io
import json
import os
import subprocess
import sys
import unicodedata
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any
from unittest import mock

import pytest
from django.contrib.sessions.models import Session
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.management import CommandError, call_command
from django.db import connection
from django.test import Client
from django.urls import reverse
from django.utils import timezone
from django_tasks_db.models import DBTaskResult

from custody.accounts.models import User
from custody.accounts.roles import Role
from custody.audit.events import Action
from custody.audit.models import AuditEntry
from custody.guests import importer, imports, vault
from custody.guests.cleaning import GuestDataError
from custody.guests.importer import ImportFileError
from custody.guests.models import (
    BlindIndex,
    Guest,
    IdentityDocument,
    ImportStatus,
    Registration,
    Stay,
    StayImport,
    StayStatus,
)
from custody.properties.models import Room, RoomType
from tests.authorities import readback
from tests.conftest import Hotel, make_user, signed_in_client

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("fresh_keys")]

HEADER = [
    "Surname", "Second surname", "Given names", "Sex", "Date of birth", "Nationality", "Document type",
    "Document number", "Room", "Check-in date", "Check-out date", "Booking reference", "Status", "Channel", "E-mail",
    "Phone", "Special requests",
]  # fmt: skip
CANARY = "Quetzalcoatlovna"  # a name that appears nowhere but in the files these tests upload


def row(**cells: str) -> list[str]:
    base = {
        "Surname": "Núñez", "Second surname": "", "Given names": "Zoë", "Sex": "F", "Date of birth": "1985-03-04",
        "Nationality": "ES", "Document type": "passport", "Document number": "PA1234567", "Room": "",
        "Check-in date": "2026-01-10", "Check-out date": "2026-01-12", "Booking reference": "BK-1", "Status": "booked",
        "Channel": "ota", "E-mail": "", "Phone": "", "Special requests": "",
    }  # fmt: skip
    unknown = set(cells) - set(base)
    assert not unknown, unknown
    return [cells.get(name, base[name]) for name in HEADER]


def csv_text(rows: Sequence[Sequence[str]], header: Sequence[str] = HEADER, delimiter: str = ",") -> str:
    out = io.StringIO()
    writer = csv.writer(out, delimiter=delimiter, lineterminator="\r\n")
    writer.writerow(header)
    writer.writerows(rows)
    return out.getvalue()


def csv_bytes(rows: Sequence[Sequence[str]], **kwargs: Any) -> bytes:
    return csv_text(rows, **kwargs).encode("utf-8")


# Happy-path rows: accented Latin and Chinese names, a decomposed "ë" (kept decomposed), every status that registers.
GOOD_ROWS = [
    row(Surname="Núñez", **{"Second surname": "García", "Given names": "Zoë", "Booking reference": "BK-1"}),
    row(
        Surname="Müller",
        **{
            "Given names": "Jürgen",
            "Sex": "male",
            "Nationality": "DE",
            "Document number": "C01X00T47",
            "Room": "101",
            "Check-in date": "2026-01-10 15:30",
            "Check-out date": "2026-01-12 11:00",
            "Booking reference": "BK-2",
            "Status": "checked out",
            "Channel": "direct",
            "E-mail": "jm@example.com",
            "Phone": "+49 30 1234 5678",
        },
    ),
    row(
        Surname="王",
        **{
            "Given names": "小明",
            "Sex": "男",
            "Nationality": "CN",
            "Document type": "身份证",
            "Document number": "370202199005061234",
            "Room": "101",
            "Booking reference": "BK-3",
            "Status": "在住",
            "Check-in date": "2026/01/11",
            "Check-out date": "2026年1月14日",
            "Special requests": "需要发票",
        },
    ),
    row(
        Surname="Zoe\u0308",
        **{"Given names": "Anaïs", "Booking reference": "bk-4", "Document type": "", "Document number": ""},
    ),
]


def counts() -> dict[str, int]:
    return {
        "guests": Guest.objects.count(),
        "documents": IdentityDocument.objects.count(),
        "stays": Stay.objects.count(),
        "registrations": Registration.objects.count(),
        "blind_indexes": BlindIndex.objects.count(),
        "guest_created_entries": AuditEntry.objects.filter(action=Action.GUEST_CREATED).count(),
    }


def upload_and_check(hotel: Hotel, data: bytes, user: User | None = None) -> tuple[StayImport, importer.CheckResult]:
    stay_import = imports.do_upload(hotel.prop, data, acting_user=user)
    result = imports.do_check(stay_import, stay_import.mapping, acting_user=user)
    return stay_import, result


def commit(stay_import: StayImport, user: User | None = None) -> StayImport:
    imports.do_start_commit(stay_import, acting_user=user, enqueue=False)
    return imports.run_commit(stay_import.pk)


def import_file(hotel: Hotel, data: bytes, user: User | None = None) -> StayImport:
    stay_import, result = upload_and_check(hotel, data, user)
    assert not result.errors, [e.line() for e in result.errors]
    return commit(stay_import, user)


def names_of(hotel: Hotel, reference: str) -> dict[str, str]:
    (stay,) = vault.find_stays(hotel.prop, reference)
    return vault.read_guest(
        stay.primary_guest,
        ["surname", "second_surname", "given_names", "email", "phone"],
        authority=readback(hotel.prop),
    )


def lines(result: importer.CheckResult) -> list[str]:
    return [error.line() for error in result.errors]


@pytest.fixture
def second_room(hotel: Hotel) -> Room:
    return Room.objects.create(property=hotel.prop, floor=hotel.floor, number="102", room_type=RoomType.SINGLE)


# --- happy paths ----------------------------------------------------------------------------------------------------


def test_utf8_import_keeps_accented_and_chinese_names_exactly(hotel: Hotel) -> None:
    before = counts()
    done = import_file(hotel, csv_bytes(GOOD_ROWS))
    assert done.status == ImportStatus.COMMITTED
    assert (done.created_count, done.existing_count, done.error_count) == (4, 0, 0)
    assert names_of(hotel, "BK-1") | {"email": "", "phone": ""} == {
        "surname": "Núñez", "second_surname": "García", "given_names": "Zoë", "email": "", "phone": "",
    }  # fmt: skip
    assert names_of(hotel, "BK-2") == {
        "surname": "Müller", "second_surname": "", "given_names": "Jürgen", "email": "jm@example.com",
        "phone": "+49 30 1234 5678",
    }  # fmt: skip
    assert names_of(hotel, "BK-3")["surname"] == "王" and names_of(hotel, "BK-3")["given_names"] == "小明"
    decomposed = names_of(hotel, "BK-4")["surname"]
    assert decomposed == "Zoe\u0308" and decomposed != unicodedata.normalize("NFC", decomposed)  # not normalized

    after = counts()
    assert after["guests"] - before["guests"] == 4 and after["stays"] - before["stays"] == 4
    assert after["documents"] - before["documents"] == 3  # the fourth row has no document number
    assert after["registrations"] - before["registrations"] == 2  # checked out + in house; booked stays have none

    checked_out = vault.find_stays(hotel.prop, "BK-2")[0]
    assert checked_out.status == StayStatus.CHECKED_OUT and checked_out.channel == "direct"
    assert checked_out.room == hotel.room
    local = checked_out.checked_in_at.astimezone(dt.timezone(dt.timedelta(hours=1)))  # Madrid in January
    assert (local.date(), local.hour, local.minute) == (dt.date(2026, 1, 10), 15, 30)
    in_house = vault.find_stays(hotel.prop, "BK-3")[0]
    assert (in_house.status, in_house.check_in_planned, in_house.check_out_planned) == (
        StayStatus.IN_HOUSE, dt.date(2026, 1, 11), dt.date(2026, 1, 14),
    )  # fmt: skip
    assert vault.read_stay(in_house, ["special_requests"], authority=readback(hotel.prop)) == {
        "special_requests": "需要发票"
    }
    document = vault.read_identity_documents(
        in_house.primary_guest, ["doc_type", "number"], authority=readback(hotel.prop)
    )
    assert [(d["doc_type"], d["number"]) for d in document] == [("national_id", "370202199005061234")]
    booked = vault.find_stays(hotel.prop, "BK-1")[0]
    assert booked.status == StayStatus.BOOKED and booked.channel == "ota" and booked.room is None


def test_gb18030_file_with_chinese_headers(hotel: Hotel) -> None:
    header = [
        "姓",
        "名",
        "性别",
        "国籍",
        "证件类型",
        "证件号码",
        "房号",
        "入住日期",
        "离店日期",
        "预订号",
        "状态",
        "渠道",
    ]
    rows = [
        ["欧阳", "娜娜", "女", "CN", "身份证", "110105199001011234", "101", "2026-02-01", "2026-02-03", "携程-88",
         "已离店", "官网"],
        ["陳", "大文", "男", "CN", "护照", "E12345678", "", "2026-02-05", "2026-02-06", "携程-89", "预订", "旅行社"],
        ["Núñez", "Zoë", "F", "ES", "passport", "PA7654321", "", "2026-02-05", "2026-02-06", "携程-90", "booked",
         "ota"],
    ]  # fmt: skip
    data = csv_text(rows, header=header).encode("gb18030")
    with pytest.raises(UnicodeDecodeError):
        data.decode("utf-8")  # really not UTF-8
    done = import_file(hotel, data)
    assert done.encoding == "gb18030" and done.created_count == 3
    assert names_of(hotel, "携程-88")["surname"] == "欧阳" and names_of(hotel, "携程-88")["given_names"] == "娜娜"
    assert names_of(hotel, "携程-89")["surname"] == "陳"  # a traditional character, outside GB2312
    assert names_of(hotel, "携程-90")["given_names"] == "Zoë"  # Latin accents in GB18030 (four-byte sequences)
    assert vault.find_stays(hotel.prop, "携程-89")[0].channel == "travel_agent"


@pytest.mark.parametrize(
    ("encoding", "delimiter", "expected"),
    [
        ("utf-8-sig", ",", "utf-8-sig"),
        ("utf-8", ";", "utf-8"),
        ("utf-8", "\t", "utf-8"),
        ("utf-8-sig", ";", "utf-8-sig"),
    ],
    ids=["bom-comma", "semicolon", "tab", "bom-semicolon"],
)
def test_byte_order_mark_and_delimiters(hotel: Hotel, encoding: str, delimiter: str, expected: str) -> None:
    data = csv_text(GOOD_ROWS[:2], delimiter=delimiter).encode(encoding)
    assert data.startswith(codecs.BOM_UTF8) == (encoding == "utf-8-sig")
    stay_import, result = upload_and_check(hotel, data)
    assert stay_import.encoding == expected
    assert stay_import.delimiter == importer.DELIMITERS[delimiter]
    assert importer.default_mapping(importer.read_file(data).headers)[0] == "surname"  # the BOM is not in the header
    assert not result.errors and len(result.valid) == 2
    assert commit(stay_import).created_count == 2
    assert names_of(hotel, "BK-1")["surname"] == "Núñez"


def test_default_mapping_reads_english_and_chinese_headers() -> None:
    headers = [
        "Last Name",
        "FIRST_NAME",
        "姓",
        "名",
        "证件号码",
        "房号",
        "入住日期",
        "离店日期",
        "Booking Ref.",
        "Notes?",
        "x",
    ]
    assert importer.default_mapping(headers) == [
        "surname",
        "given_names",
        "",
        "",
        "doc_number",
        "room",
        "check_in",
        "check_out",
        "booking_reference",
        "notes",
        "",
    ]  # fmt: skip  (a field already taken by an earlier column is left out; unknown headers are left out)


def test_accepted_date_formats(hotel: Hotel) -> None:
    rows = [
        row(**{"Booking reference": "D1", "Check-in date": "2026/03/01", "Check-out date": "02.03.2026"}),
        row(**{"Booking reference": "D2", "Check-in date": "2026年3月1日", "Check-out date": "2026-3-2"}),
        row(**{"Booking reference": "D3", "Check-in date": "03/01/2026", "Check-out date": "2026-03-02"}),
        row(**{"Booking reference": "D4", "Date of birth": "1990-01-01 10:00"}),
        row(**{"Booking reference": "D5", "Check-in date": "2026-02-30"}),
        row(**{"Booking reference": "D6", "Date of birth": (timezone.localdate() + dt.timedelta(days=3)).isoformat()}),
    ]
    _, result = upload_and_check(hotel, csv_bytes(rows))
    assert lines(result) == [
        "row 4, check_in: is not a date (write YYYY-MM-DD).",
        "row 5, date_of_birth: must be a date without a time.",
        "row 6, check_in: is not a date (write YYYY-MM-DD).",
        "row 7, date_of_birth: is in the future.",
    ]
    assert [(s.check_in, s.check_out) for s in result.valid] == [(dt.date(2026, 3, 1), dt.date(2026, 3, 2))] * 2


# --- bad input: every case names the row and field, and writes nothing ----------------------------------------------


def test_malformed_csv_unbalanced_quote_and_wrong_column_count(hotel: Hotel) -> None:
    text = csv_text([row(**{"Booking reference": "M1"}), row(**{"Booking reference": "M2"})])
    text += "Short,Row\r\n"
    text += '"Unclosed,' + ",".join(row(**{"Booking reference": "M3"})[1:]) + "\r\n"
    text += ",".join(row(**{"Booking reference": "M4"})) + "\r\n"
    stay_import, result = upload_and_check(hotel, text.encode())
    assert lines(result) == [
        "row 4: has 2 columns; the header row has 17.",
        "row 5: is not valid CSV (a quote is not closed, or stray text follows one); rows after it were not read.",
    ]
    assert stay_import.error_count == 2
    with pytest.raises(imports.ImportRefused) as refused:
        imports.do_start_commit(stay_import, acting_user=None)
    assert refused.value.code == "errors"


@pytest.mark.parametrize(
    ("data", "code"),
    [
        (os.urandom(4096), "binary"),  # random bytes hold NULs
        (b"Surname\r\n\x80\xff\xfe\x80" * 100, "encoding"),  # no NULs, neither UTF-8 nor GB18030
        (csv_text(GOOD_ROWS).encode("utf-16-le"), "binary"),  # UTF-16 without a byte order mark
        (csv_text(GOOD_ROWS).encode("utf-16"), "utf16"),
        (csv_text([row(Surname="Müller", **{"Given names": "Zoë"})]).encode("cp1252"), "encoding"),
        ("Surname,Given names\r\nMüller,Jürgen\r\n".encode("cp1252"), "encoding"),  # decodes as GB18030, wrongly
        (b"", "empty"),
        (b"\r\n\r\n", "empty"),
        (csv_bytes([]), "no_rows"),
        (b",,,\r\n1,2,3,4\r\n", "no_header"),
        (b'"Surname,Given\r\n', "header"),
    ],
    ids=[
        "random", "high-bytes", "utf16-no-bom", "utf16-bom", "cp1252", "cp1252-gb-lookalike", "empty", "blank",
        "header-only", "no-header", "bad-header",
    ],
)  # fmt: skip
def test_unreadable_files_are_refused_whole(hotel: Hotel, data: bytes, code: str) -> None:
    before = counts()
    with pytest.raises(ImportFileError) as error:
        imports.do_upload(hotel.prop, data, acting_user=None)
    assert error.value.code == code
    assert error.value.message  # a sentence for the user
    assert counts() == before and not StayImport.objects.exists()
    entry = AuditEntry.objects.filter(action=Action.IMPORT_FAILED).latest("seq")
    assert entry.details["reason"] == code and entry.details["stage"] == "upload"


def test_duplicate_booking_references(hotel: Hotel) -> None:
    same = row(**{"Booking reference": "DUP-1"})
    rows = [
        same, row(**{"Booking reference": "X-2"}), same,  # the same row twice: imported once
        row(Surname="Other", **{"Booking reference": "dup 1"}),  # same reference once normalized, other content
    ]  # fmt: skip
    before = counts()
    stay_import, result = upload_and_check(hotel, csv_bytes(rows))
    assert lines(result) == ["row 5, booking_reference: is also on row 2, with different content."]
    assert result.duplicates == 1 and stay_import.duplicate_count == 1
    assert counts() == before

    done = import_file(hotel, csv_bytes(rows[:3]))
    assert (done.created_count, done.duplicate_count) == (2, 1)


def test_missing_required_columns_name_them(hotel: Hotel) -> None:
    header = ["Surname", "Given names", "Arrival", "Departure"]
    data = csv_bytes([["Núñez", "Zoë", "2026-01-01", "2026-01-02"]], header=header)
    stay_import = imports.do_upload(hotel.prop, data, acting_user=None)
    with pytest.raises(ImportFileError) as error:
        imports.do_check(stay_import, stay_import.mapping, acting_user=None)
    assert error.value.code == "missing_columns"
    assert "booking_reference" in error.value.message
    stay_import.refresh_from_db()
    assert stay_import.status == ImportStatus.UPLOADED  # nothing changed: the mapping can be corrected
    with pytest.raises(ImportFileError, match="surname"):
        importer.check_mapping(header, ["", "given_names", "check_in", "check_out"])
    with pytest.raises(ImportFileError, match="Two columns are mapped to check_in"):
        importer.check_mapping(header, ["surname", "booking_reference", "check_in", "check_in"])


def test_overlong_fields_give_the_limit(hotel: Hotel) -> None:
    rows = [
        row(Surname="N" * 201, **{"Booking reference": "L1"}),
        row(**{"Booking reference": "L2", "Phone": "+34 " + "6" * 70}),
        row(**{"Booking reference": "L3", "Special requests": "x" * 4001}),
        row(**{"Booking reference": "R" * 65}),
        row(Surname="N" * 200, **{"Booking reference": "L5", "Special requests": "x" * 4000}),  # at the limit: fine
    ]
    before = counts()
    _, result = upload_and_check(hotel, csv_bytes(rows))
    assert lines(result) == [
        "row 2, surname: is longer than 200 characters.",
        "row 3, phone: is longer than 64 characters.",
        "row 4, special_requests: is longer than 4000 characters.",
        "row 5, booking_reference: is longer than 64 characters.",
    ]
    assert len(result.valid) == 1 and counts() == before


def test_formula_injection_cells_are_refused_with_row_and_field(hotel: Hotel) -> None:
    rows = [
        row(Surname="=cmd|' /C calc'!A0", **{"Booking reference": "F1"}),
        row(**{"Given names": "+1+1", "Booking reference": "F2"}),
        row(**{"Special requests": "@SUM(1)", "Booking reference": "F3"}),
        row(**{"Booking reference": "-2+3"}),
        row(**{"Nationality": "\t=1+1", "Booking reference": "F5"}),
        # What only looks like a formula start is kept: a negative number, a phone number, a lone dash.
        row(**{"Booking reference": "-2", "Phone": "+86 532 8888 0000", "Second surname": "-"}),
    ]
    before = counts()
    _, result = upload_and_check(hotel, csv_bytes(rows))
    assert [(e.row, e.field, e.code) for e in result.errors] == [
        (2, "surname", "formula"),
        (3, "given_names", "formula"),
        (4, "special_requests", "formula"),
        (5, "booking_reference", "formula"),
        (6, "nationality", "formula"),
    ]
    assert "spreadsheet would run it as a formula" in result.errors[0].reason
    assert all("cmd" not in e.line() and "SUM" not in e.line() for e in result.errors)  # the value is never echoed
    assert counts() == before
    assert [s.booking_reference for s in result.valid] == ["-2"]
    assert result.valid[0].guest["second_surname"] == "-"


def test_other_row_errors(hotel: Hotel, second_room: Room) -> None:
    occupied = import_file(hotel, csv_bytes([row(**{"Booking reference": "OCC", "Room": "102", "Status": "in_house"})]))
    assert occupied.created_count == 1
    rows = [
        row(**{"Booking reference": "E1", "Check-in date": "2026-01-12", "Check-out date": "2026-01-10"}),
        row(**{"Booking reference": "E2", "Room": "999"}),
        row(**{"Booking reference": "E3", "Status": "teleported", "Channel": "pigeon"}),
        row(**{"Booking reference": "E4", "Sex": "Q", "E-mail": "not-an-address"}),
        row(Surname="", **{"Booking reference": "E5", "Check-in date": ""}),
        row(**{"Booking reference": "E6", "Document type": ""}),
        row(**{"Booking reference": "E7", "Document number": ""}),
        row(**{"Booking reference": "E8", "Status": "in_house", "Room": "102"}),  # taken in house: not a dry-run error
        row(**{"Booking reference": "E9", "Status": "in_house", "Room": "101"}),
        row(**{"Booking reference": "E10", "Status": "in_house", "Room": "101"}),  # two in-house stays, one room
        row(**{"Booking reference": "E11", "Phone": "( )"}),
        row(Surname="Tab\x0bulated", **{"Booking reference": "E12"}),
        row(**{"Booking reference": "E13", "Check-in date": "2026-01-10 18:00", "Check-out date": "2026-01-10 09:00",
               "Status": "checked_out"}),
    ]  # fmt: skip
    _, result = upload_and_check(hotel, csv_bytes(rows))
    assert lines(result) == [
        "row 2, check_out: is before the check-in.",
        "row 3, room: is not a room number of this property.",
        "row 4, status: is not one of the accepted values (booked, in_house, checked_out, cancelled, no_show).",
        "row 4, channel: is not one of the accepted values (direct, walk_in, phone, email, website, ota, "
        "travel_agent, corporate, group, other).",
        "row 5, sex: is not one of the accepted values (F, M, X).",
        "row 5, email: is not an e-mail address.",
        "row 6, surname: is required.",
        "row 6, check_in: is required.",
        "row 7, doc_type: is required when the row has an identity document.",
        "row 8, doc_number: is required when the row has an identity document.",
        "row 11, room: is also the room of an in-house stay on row 10.",
        "row 12, phone: has no letters or digits.",
        "row 13, surname: contains control characters.",
        "row 14, check_out: is before the check-in.",
    ]
    assert result.error_rows == 11


def test_every_error_case_writes_nothing_even_with_good_rows(hotel: Hotel) -> None:
    rows = [*GOOD_ROWS, row(**{"Booking reference": "BAD", "Check-in date": "soon"})]
    before = counts()
    stay_import, result = upload_and_check(hotel, csv_bytes(rows))
    assert len(result.valid) == 4 and result.error_rows == 1
    with pytest.raises(imports.ImportRefused, match="errors"):
        imports.do_start_commit(stay_import, acting_user=None)
    assert counts() == before


# --- commit: idempotent, all or nothing ----------------------------------------------------------------------------


# Rows that can be imported again: an in-house row needs its room free in Custody, so a second import of one is
# refused (test_an_in_house_row_for_an_occupied_room_is_refused_whether_or_not_its_reference_is_held).
REIMPORTABLE = [GOOD_ROWS[0], GOOD_ROWS[1], GOOD_ROWS[3]]


def test_importing_the_same_file_twice_adds_nothing(hotel: Hotel) -> None:
    data = csv_bytes(REIMPORTABLE)
    first = import_file(hotel, data)
    after_first = counts()
    second = import_file(hotel, data)
    # The counts are kept for the audit log (and shown nowhere: see the tests below).
    assert (first.created_count, first.existing_count, first.rows_done) == (3, 0, 3)
    assert (second.created_count, second.existing_count, second.rows_done) == (0, 3, 3)
    assert counts() == after_first
    # A file with one new row and the old ones adds just that row.
    third = import_file(hotel, csv_bytes([*REIMPORTABLE, row(**{"Booking reference": "BK-5"})]))
    assert (third.created_count, third.existing_count) == (1, 3)


def test_references_of_another_property_do_not_count(hotel: Hotel, other_hotel: Hotel) -> None:
    import_file(other_hotel, csv_bytes([row(**{"Booking reference": "SHARED"})]))
    done = import_file(hotel, csv_bytes([row(**{"Booking reference": "SHARED"})]))
    assert (done.created_count, done.existing_count) == (1, 0)


class Boom(RuntimeError):
    pass


def failing_on(call: int, error: Exception) -> Callable[..., Any]:
    real = vault.create_stay
    seen = {"calls": 0}

    def create_stay(*args: Any, **kwargs: Any) -> Any:
        seen["calls"] += 1
        if seen["calls"] == call:
            raise error
        return real(*args, **kwargs)

    return create_stay


def test_a_vault_refusal_mid_way_rolls_everything_back(hotel: Hotel) -> None:
    stay_import, _ = upload_and_check(hotel, csv_bytes(GOOD_ROWS))
    before = counts()
    entries_before = AuditEntry.objects.count()
    imports.do_start_commit(stay_import, acting_user=None, enqueue=False)
    with mock.patch.object(vault, "create_stay", failing_on(3, GuestDataError("room", "is not a room."))):
        done = imports.run_commit(stay_import.pk)
    assert done.status == ImportStatus.FAILED and done.failure == "refused"
    assert [e.line() for e in imports.stored_errors(done)] == ["row 4, room: was refused: is not a room."]
    assert counts() == before
    # Only the failure itself was audited: the entries of the first rows' guests and stays were rolled back too.
    assert AuditEntry.objects.count() == entries_before + 1
    assert AuditEntry.objects.latest("seq").action == Action.IMPORT_FAILED
    assert done.has_upload  # kept: checked again, it can be committed
    with pytest.raises(imports.ImportRefused, match="errors"):
        imports.do_start_commit(done, acting_user=None)
    imports.do_check(done, done.mapping, acting_user=None)
    again = commit(done)
    assert again.status == ImportStatus.COMMITTED and again.created_count == 4


def test_an_unexpected_error_mid_way_rolls_back_and_marks_failed(hotel: Hotel) -> None:
    stay_import, _ = upload_and_check(hotel, csv_bytes(GOOD_ROWS))
    before = counts()
    imports.do_start_commit(stay_import, acting_user=None, enqueue=False)
    with mock.patch.object(vault, "create_stay", failing_on(2, Boom("disk full"))), pytest.raises(Boom):
        imports.run_commit(stay_import.pk)
    stay_import.refresh_from_db()
    assert stay_import.status == ImportStatus.FAILED and stay_import.failure == "error"
    assert counts() == before
    assert commit(stay_import).status == ImportStatus.COMMITTED


def test_a_commit_rechecks_rows_against_the_property_as_it_is_now(hotel: Hotel, second_room: Room) -> None:
    stay_import, result = upload_and_check(hotel, csv_bytes([row(**{"Booking reference": "RC", "Room": "102"})]))
    assert not result.errors
    second_room.delete()  # the room went away after the dry run
    done = commit(stay_import)
    assert done.status == ImportStatus.FAILED and done.failure == "row_errors"
    assert [e.line() for e in imports.stored_errors(done)] == ["row 2, room: is not a room number of this property."]
    assert not Stay.objects.exists()


def test_a_killed_worker_leaves_a_running_import_that_can_run_again(hotel: Hotel) -> None:
    stay_import, _ = upload_and_check(hotel, csv_bytes(GOOD_ROWS))
    imports.do_start_commit(stay_import, acting_user=None)  # enqueued; the worker dies before it commits
    assert DBTaskResult.objects.filter(task_path="custody.guests.imports.commit_stay_import").count() == 1
    stay_import.refresh_from_db()
    assert stay_import.status == ImportStatus.RUNNING and not imports.is_stalled(stay_import)
    with pytest.raises(imports.ImportRefused) as refused:
        imports.do_start_commit(stay_import, acting_user=None)  # a live run is not started twice
    assert refused.value.code == "running"
    with pytest.raises(imports.ImportRefused):
        imports.do_discard(stay_import, acting_user=None)

    StayImport.objects.filter(pk=stay_import.pk).update(
        started_at=timezone.now() - dt.timedelta(minutes=10), heartbeat_at=timezone.now() - dt.timedelta(minutes=9)
    )
    stay_import.refresh_from_db()
    assert imports.is_stalled(stay_import)
    imports.do_start_commit(stay_import, acting_user=None)
    assert DBTaskResult.objects.filter(task_path="custody.guests.imports.commit_stay_import").count() == 2
    assert imports.commit_stay_import.call(str(stay_import.pk))["status"] == ImportStatus.COMMITTED
    # The first job, run late, finds the import committed and changes nothing.
    before = counts()
    assert imports.commit_stay_import.call(str(stay_import.pk))["status"] == ImportStatus.COMMITTED
    assert counts() == before
    assert AuditEntry.objects.filter(action=Action.IMPORT_COMMITTED).count() == 1


@pytest.mark.django_db(transaction=True)
def test_progress_is_seen_outside_the_commits_transaction(
    hotel: Hotel, monkeypatch: pytest.MonkeyPatch, settings: Any
) -> None:
    """SQLite: a file under CUSTODY_HOME; PostgreSQL: the row, through a second connection."""
    monkeypatch.setattr(imports, "PROGRESS_INTERVAL", 0.0)
    stay_import, _ = upload_and_check(hotel, csv_bytes(GOOD_ROWS))
    imports.do_start_commit(stay_import, acting_user=None, enqueue=False)
    stay_import.refresh_from_db()
    board = imports.ProgressBoard(stay_import)
    board.start(10)
    board.wrote(4)
    try:
        shown = imports.progress_of(StayImport.objects.get(pk=stay_import.pk))
        assert (shown.done, shown.total, shown.percent) == (4, 10, 40)
        assert shown.at is not None and timezone.now() - shown.at < dt.timedelta(minutes=1)
        progress_files = list((Path(settings.CUSTODY_HOME) / "imports").glob("*"))
        if connection.vendor == "sqlite":
            assert [p.name for p in progress_files] == [f"{stay_import.pk}.progress"]
            assert progress_files[0].read_text().split()[:2] == ["4", "10"]  # counts and a time, nothing else
        else:
            assert progress_files == []
    finally:
        board.remove()
    assert not list((Path(settings.CUSTODY_HOME) / "imports").glob("*"))


def test_expired_uploads_are_destroyed(hotel: Hotel) -> None:
    old, _ = upload_and_check(hotel, csv_bytes(GOOD_ROWS))
    fresh = imports.do_upload(hotel.prop, csv_bytes(GOOD_ROWS), acting_user=None)
    StayImport.objects.filter(pk=old.pk).update(created_at=timezone.now() - dt.timedelta(hours=25))
    assert imports.purge_expired_imports.call() == 1
    old.refresh_from_db()
    fresh.refresh_from_db()
    assert old.status == ImportStatus.DISCARDED and not old.has_upload and old.upload is None
    assert fresh.has_upload
    entry = AuditEntry.objects.get(action=Action.IMPORT_DISCARDED)
    assert entry.details == {"reason": "expired"} and entry.actor_id is None


# --- command line --------------------------------------------------------------------------------------------------


def run_cli(*args: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    try:
        call_command("import", "stays", *args, stdout=out, stderr=err)
    except CommandError as exc:
        return exc.returncode, out.getvalue(), err.getvalue() + str(exc)
    return 0, out.getvalue(), err.getvalue()


@pytest.fixture
def write_file(tmp_path: Path) -> Callable[[bytes], str]:
    def write(data: bytes) -> str:
        path = tmp_path / f"export-{len(list(tmp_path.iterdir()))}.csv"
        path.write_bytes(data)
        return str(path)

    return write


def test_cli_imports_with_progress_and_is_idempotent(hotel: Hotel, write_file: Callable[[bytes], str]) -> None:
    path = write_file(csv_bytes(REIMPORTABLE))
    code, out, err = run_cli(path, "--property", hotel.prop.code)
    assert code == 0, err
    summary = (
        "3 rows: 3 to import, 0 repeated, 0 with errors.\nimported: 3 rows (each a new stay or one already held, left"
    )
    assert summary in out
    assert "imported 0/3 rows (0%)" in err and "imported 3/3 rows (100%)" in err
    before = counts()
    code, again, _ = run_cli(path, "--property", hotel.prop.code)
    assert code == 0 and counts() == before
    assert again.split("(import ")[0] == out.split("(import ")[0]  # the same words, whatever was already held
    entry = AuditEntry.objects.filter(action=Action.IMPORT_COMMITTED).latest("seq")
    assert entry.actor_id is None
    assert not StayImport.objects.filter(wrapped_key__isnull=False).exists()  # every upload destroyed


def test_cli_row_errors_exit_1_and_write_nothing(hotel: Hotel, write_file: Callable[[bytes], str]) -> None:
    rows = [*GOOD_ROWS[:2], *[row(**{"Booking reference": f"C{n}"}) for n in range(3)]]
    rows.append(row(**{"Booking reference": "C9", "Check-in date": "2026-01-12", "Check-out date": "2026-01-10"}))
    path = write_file(csv_bytes(rows))
    before = counts()
    code, out, err = run_cli(path, "--property", hotel.prop.code)
    assert code == 1
    assert "row 7, check_out: is before the check-in.\n" in out
    assert "1 rows have errors; nothing was written." in err
    assert counts() == before
    stay_import = StayImport.objects.get()
    assert stay_import.status == ImportStatus.FAILED and not stay_import.has_upload


def test_cli_internal_error_exits_1_and_writes_nothing(hotel: Hotel, write_file: Callable[[bytes], str]) -> None:
    before = counts()
    with mock.patch.object(vault, "create_stay", failing_on(2, Boom("disk full"))):
        code, _, err = run_cli(write_file(csv_bytes(GOOD_ROWS)), "--property", hotel.prop.code)
    assert code == 1 and "the import failed on an internal error (Boom); nothing was written." in err
    assert "disk full" not in err
    assert counts() == before
    assert StayImport.objects.get().status == ImportStatus.FAILED


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--map", "Booking reference=-"], "Required columns are missing: booking_reference."),
        (["--map", "Nope=surname"], "The file has no column named Nope."),
        (["--map", "Surname=shoe_size"], "shoe_size is not a field that can be imported."),
        (["--map", "Surname"], "write HEADER=FIELD"),
        (["--user", "nobody"], "no active user named 'nobody'"),
    ],
)
def test_cli_file_level_errors_exit_2(
    hotel: Hotel, write_file: Callable[[bytes], str], args: list[str], message: str
) -> None:
    before = counts()
    code, _, err = run_cli(write_file(csv_bytes(GOOD_ROWS)), "--property", hotel.prop.code, *args)
    assert code == 2 and message in err
    assert counts() == before


def test_cli_unreadable_input_exits_2(hotel: Hotel, write_file: Callable[[bytes], str], tmp_path: Path) -> None:
    assert run_cli(str(tmp_path / "missing.csv"), "--property", hotel.prop.code)[0] == 2
    code, _, err = run_cli(write_file(csv_text(GOOD_ROWS).encode("utf-16-le")), "--property", hotel.prop.code)
    assert code == 2 and "NUL bytes" in err
    assert run_cli(write_file(csv_bytes(GOOD_ROWS)), "--property", "no-such-hotel")[0] == 2
    assert counts()["stays"] == 0


def test_cli_mapping_dry_run_and_named_user(hotel: Hotel, write_file: Callable[[bytes], str], desk_clerk: User) -> None:
    header = ["Family", "Given names", "Res#", "Arrival", "Departure"]
    path = write_file(csv_bytes([["Núñez", "Zoë", "MAP-1", "2026-01-01", "2026-01-02"]], header=header))
    code, _, err = run_cli(path, "--property", hotel.prop.code)
    assert code == 2 and "surname, booking_reference" in err
    maps = ["--map", "Family=surname", "--map", "res#=booking_reference"]  # a header matched without case or "#"
    code, out, _ = run_cli(path, "--property", hotel.prop.code, *maps, "--dry-run")
    assert code == 0 and "dry run: nothing was written." in out and counts()["stays"] == 0
    assert run_cli(path, "--property", hotel.prop.code, "--user", desk_clerk.username)[0] == 2  # front desk may not
    manager = make_user("import-manager", hotel.prop, Role.PROPERTY_MANAGER)
    maps = ["--map", "Family=surname", "--map", "Res#=booking_reference"]
    code, out, err = run_cli(path, "--property", hotel.prop.code, "--user", manager.username, *maps)
    assert code == 0, err
    assert names_of(hotel, "MAP-1")["surname"] == "Núñez"
    for action in (Action.IMPORT_UPLOADED, Action.IMPORT_CHECKED, Action.IMPORT_COMMITTED, Action.GUEST_CREATED):
        assert AuditEntry.objects.filter(action=action).latest("seq").actor_id == manager.pk


def test_custody_import_is_a_command_of_the_cli(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "custody.cli", "import", "stays", "--help"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        env={**os.environ, "CUSTODY_HOME": str(tmp_path)},
    )
    assert result.returncode == 0, result.stderr
    assert "--property" in result.stdout and "--dry-run" in result.stdout and "--map" in result.stdout


# --- the upload pages ------------------------------------------------------------------------------------------------


@pytest.fixture(autouse=True)
def fast_hashing(settings: Any) -> None:
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


def url(name: str, hotel: Hotel, **kwargs: Any) -> str:
    return reverse(name, kwargs={"code": hotel.prop.code, **kwargs})


def upload(client: Client, hotel: Hotel, data: bytes, name: str = "export.csv") -> Any:
    return client.post(url("imports:index", hotel), {"file": SimpleUploadedFile(name, data, content_type="text/csv")})


def test_upload_map_check_commit_through_the_pages(
    hotel: Hotel, client_for_role: Callable[[str], Client], media_root: Path
) -> None:
    client = client_for_role(Role.PROPERTY_MANAGER)
    page = client.get(url("imports:index", hotel))
    assert page.status_code == 200 and b"Upload and map the columns" in page.content
    header = ["Family", *HEADER[1:]]  # the surname column under a name no alias knows: to be mapped by hand
    response = upload(client, hotel, csv_bytes(GOOD_ROWS, header=header))
    assert response.status_code == 302
    stay_import = StayImport.objects.get()
    assert response["Location"] == url("imports:detail", hotel, import_id=stay_import.pk)
    page = client.get(response["Location"])
    html = page.content.decode()
    assert page.status_code == 200 and 'name="column_0"' in html and "Family" in html
    assert "Núñez" not in html  # the page shows column names, never a value

    mapping = {f"column_{i}": name for i, name in enumerate(stay_import.mapping)}
    refused = client.post(url("imports:check", hotel, import_id=stay_import.pk), mapping)
    assert refused.status_code == 400 and "Required columns are missing: Surname." in refused.content.decode()
    mapping["column_0"] = mapping["column_2"] = "given_names"
    refused = client.post(url("imports:check", hotel, import_id=stay_import.pk), mapping)
    assert refused.status_code == 400 and "Two columns are mapped to Given names" in refused.content.decode()
    mapping["column_0"] = "surname"
    response = client.post(url("imports:check", hotel, import_id=stay_import.pk), mapping)
    assert response.status_code == 302
    html = client.get(response["Location"]).content.decode()
    assert "Dry run: nothing has been written yet" in html and "Commit the import" in html
    assert Stay.objects.count() == 0

    response = client.post(url("imports:commit", hotel, import_id=stay_import.pk))
    assert response.status_code == 302
    html = client.get(response["Location"]).content.decode()
    assert 'hx-get="/p/seaside/imports/' in html and 'hx-trigger="every 1s"' in html
    assert "Waiting for a background worker" in html
    job = DBTaskResult.objects.get(task_path="custody.guests.imports.commit_stay_import")
    assert imports.commit_stay_import.call(*job.args_kwargs["args"])["rows"] == 4

    polled = client.get(url("imports:progress", hotel, import_id=stay_import.pk), HTTP_HX_REQUEST="true")
    assert polled.status_code == 200 and polled["HX-Refresh"] == "true"  # finished: the page reloads
    html = client.get(url("imports:detail", hotel, import_id=stay_import.pk)).content.decode()
    assert "Rows imported" in html and "The uploaded file was destroyed." in html
    stay_import.refresh_from_db()
    assert stay_import.status == ImportStatus.COMMITTED and not stay_import.has_upload
    assert names_of(hotel, "BK-1")["surname"] == "Núñez"
    assert list(media_root.rglob("*")) == []


def test_watching_a_running_import_does_not_write_the_session(hotel: Hotel, manager_client: Client) -> None:
    """On SQLite a commit holds the write lock: the pages polled meanwhile must not need it."""
    stay_import, _ = upload_and_check(hotel, csv_bytes(GOOD_ROWS))
    imports.do_start_commit(stay_import, acting_user=None)
    key = manager_client.session.session_key
    marker = timezone.now() + dt.timedelta(minutes=1)
    Session.objects.filter(session_key=key).update(expire_date=marker)
    for name in ("imports:progress", "imports:detail"):
        response = manager_client.get(url(name, hotel, import_id=stay_import.pk))
        assert response.status_code == 200 and b"every 1s" in response.content
    assert Session.objects.get(session_key=key).expire_date == marker  # not saved
    manager_client.get(url("imports:index", hotel))
    assert Session.objects.get(session_key=key).expire_date != marker  # other pages still slide the expiry


def test_the_dry_run_report_lists_row_field_and_reason(hotel: Hotel, manager_client: Client) -> None:
    rows = [*GOOD_ROWS, row(Surname="=HYPERLINK(1)", **{"Booking reference": "Z9"})]
    upload(manager_client, hotel, csv_bytes(rows))
    stay_import = StayImport.objects.get()
    mapping = {f"column_{i}": name for i, name in enumerate(stay_import.mapping)}
    manager_client.post(url("imports:check", hotel, import_id=stay_import.pk), mapping)
    html = manager_client.get(url("imports:detail", hotel, import_id=stay_import.pk)).content.decode()
    assert '<td class="num">6</td><td>Surname <code>surname</code></td>' in html
    assert "refused, because a spreadsheet would run it as a formula" in html and "HYPERLINK" not in html
    assert "Commit the import" not in html
    response = manager_client.post(url("imports:commit", hotel, import_id=stay_import.pk))
    assert response.status_code == 400 and "Nothing was written." in response.content.decode()
    assert Stay.objects.count() == 0

    response = manager_client.post(url("imports:discard", hotel, import_id=stay_import.pk))
    assert response.status_code == 302
    stay_import.refresh_from_db()
    assert stay_import.status == ImportStatus.DISCARDED and not stay_import.has_upload
    assert AuditEntry.objects.filter(action=Action.IMPORT_DISCARDED, details={"reason": "user"}).count() == 1


@pytest.mark.parametrize(
    ("name", "data", "message"),
    [
        ("export.xlsx", b"Surname\r\nX\r\n", "Only .csv and .txt files are accepted."),
        ("export.csv", b"", "The submitted file is empty."),
        ("export.csv", os.urandom(1000), "NUL bytes"),
        ("export.csv", b"Surname\r\n", "no rows of data"),
        ("export.csv", b"x" * (imports.MAX_UPLOAD_BYTES + 1), "larger than 20 MB"),
    ],
    ids=["suffix", "empty", "binary", "no-rows", "too-big"],
)
def test_bad_uploads_are_a_400_with_a_clear_error(
    hotel: Hotel, manager_client: Client, name: str, data: bytes, message: str
) -> None:
    response = upload(manager_client, hotel, data, name)
    assert response.status_code == 400
    assert message in response.content.decode()
    assert not StayImport.objects.exists()


def test_the_upload_needs_the_csrf_token(hotel: Hotel, user_for_role: Callable[[str], User], settings: Any) -> None:
    client = signed_in_client(user_for_role(Role.IT_ADMIN))
    client.handler.enforce_csrf_checks = True  # signed in; from now on a POST needs the token, as in a browser
    assert client.get(url("imports:index", hotel)).status_code == 200
    assert upload(client, hotel, csv_bytes(GOOD_ROWS)).status_code == 403
    assert not StayImport.objects.exists()
    token = client.cookies[settings.CSRF_COOKIE_NAME].value
    data = {"file": SimpleUploadedFile("export.csv", csv_bytes(GOOD_ROWS)), "csrfmiddlewaretoken": token}
    assert client.post(url("imports:index", hotel), data).status_code == 302
    assert StayImport.objects.count() == 1


def test_upload_page_permissions(hotel: Hotel, other_hotel: Hotel, client_for_role: Callable[[str], Client]) -> None:
    other_import = imports.do_upload(other_hotel.prop, csv_bytes(GOOD_ROWS), acting_user=None)
    for role, status in [
        (Role.FRONT_DESK, 403),
        (Role.AUDITOR, 403),
        (Role.PROPERTY_MANAGER, 200),
        (Role.IT_ADMIN, 200),
    ]:
        client = client_for_role(role)
        assert client.get(url("imports:index", hotel)).status_code == status, role
        assert upload(client, hotel, csv_bytes(GOOD_ROWS)).status_code == (302 if status == 200 else 403), role
        # Another property's import under this property's code does not exist here.
        assert client.get(url("imports:detail", hotel, import_id=other_import.pk)).status_code == (
            404 if status == 200 else 403
        )
    assert StayImport.objects.filter(property=hotel.prop).count() == 2


def test_home_page_links_the_import_for_managers_and_it_admins(
    hotel: Hotel, client_for_role: Callable[[str], Client]
) -> None:
    link = url("imports:index", hotel)
    for role, shown in [(Role.PROPERTY_MANAGER, True), (Role.IT_ADMIN, True), (Role.FRONT_DESK, False)]:
        html = client_for_role(role).get(url("core:home", hotel)).content.decode()
        assert (f'href="{link}"' in html) is shown, role


# --- nothing in plaintext, nothing personal in the audit log ---------------------------------------------------------


def all_database_values() -> Iterator[Any]:
    with connection.cursor() as cursor:
        for table in connection.introspection.table_names():
            cursor.execute(f"SELECT * FROM {connection.ops.quote_name(table)}")  # noqa: S608 - names from the schema
            for values in cursor.fetchall():
                yield from values


def encodings_of(text: str) -> list[bytes]:
    return [text.encode(e) for e in ("utf-8", "gb18030", "utf-16-le", "utf-16-be")] + [
        text.upper().encode(),
        text.lower().encode(),
    ]


def test_the_uploaded_file_is_never_stored_in_plaintext(
    hotel: Hotel, manager_client: Client, settings: Any, tmp_path: Path, media_root: Path
) -> None:
    temp_dir = tmp_path / "upload-temp"
    temp_dir.mkdir()
    settings.FILE_UPLOAD_TEMP_DIR = str(temp_dir)
    rows = [row(Surname=CANARY, **{"Given names": "王小明", "Booking reference": "CANARY-1"})]
    # Padded past FILE_UPLOAD_MAX_MEMORY_SIZE: Django's own handlers would write this one to a temporary file.
    rows += [row(**{"Booking reference": f"PAD-{n}", "Special requests": "x" * 3000}) for n in range(900)]
    data = csv_bytes(rows)
    assert len(data) > settings.FILE_UPLOAD_MAX_MEMORY_SIZE
    temporary_file = AssertionError("the upload went to a temporary file")
    with mock.patch("django.core.files.uploadhandler.TemporaryUploadedFile", side_effect=temporary_file):
        assert upload(manager_client, hotel, data).status_code == 302
    stay_import = StayImport.objects.get()
    mapping = {f"column_{i}": name for i, name in enumerate(stay_import.mapping)}
    assert manager_client.post(url("imports:check", hotel, import_id=stay_import.pk), mapping).status_code == 302

    assert list(temp_dir.iterdir()) == [] and list(media_root.rglob("*")) == []
    home = Path(settings.CUSTODY_HOME)
    for path in home.rglob("*"):
        if path.is_file():
            assert CANARY.encode() not in path.read_bytes(), path
    needles = [*encodings_of(CANARY), *encodings_of("王小明")]
    for value in all_database_values():
        blob = bytes(value) if isinstance(value, bytes | memoryview) else str(value).encode("utf-8", "replace")
        assert not any(needle in blob for needle in needles), "plaintext from the upload in the database"
    # The encrypted upload opens with its own key only.
    assert imports.read_upload(stay_import).records[0].cells[0] == CANARY


def test_audit_entries_of_an_import_hold_no_personal_values(hotel: Hotel) -> None:
    manager = make_user("auditing-manager", hotel.prop, Role.PROPERTY_MANAGER)
    rows = [row(Surname=CANARY, **{"Booking reference": "AUD-1", "E-mail": "canary@example.com"})]
    done = import_file(hotel, csv_bytes(rows), manager)
    entries = {
        action: AuditEntry.objects.get(action=action, object_id=str(done.pk))
        for action in (Action.IMPORT_UPLOADED, Action.IMPORT_CHECKED, Action.IMPORT_COMMITTED)
    }
    assert set(entries[Action.IMPORT_UPLOADED].details) == {
        "bytes", "sha256", "encoding", "delimiter", "columns", "rows"
    }  # fmt: skip
    assert entries[Action.IMPORT_CHECKED].details["valid"] == 1
    assert entries[Action.IMPORT_CHECKED].purpose == ""  # the dry run looks nothing up
    assert entries[Action.IMPORT_COMMITTED].details == {"rows": 1, "created": 1, "existing": 0, "duplicates": 0}
    assert entries[Action.IMPORT_COMMITTED].purpose == imports.PURPOSE
    assert all(entry.actor_id == manager.pk for entry in entries.values())
    text = json.dumps([e.details for e in AuditEntry.objects.all()], ensure_ascii=False)
    for needle in (CANARY, "canary@example.com", "AUD-1", "aud1", "Zoë"):
        assert needle.casefold() not in text.casefold()
