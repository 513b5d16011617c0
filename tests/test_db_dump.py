"""DESIGN invariant 2: a copy of the database - the SQLite file, or a pg_dump of PostgreSQL - holds no name, ID number,
phone, e-mail, note or booking reference of a guest, in any common encoding.

Canary values are stored through the vault (and read, updated and registered, so every table that could catch a copy
has had its chance), committed, and the raw bytes of the database are searched for each canary: as given, upper and
lower case, as normalized for the blind index, in UTF-8, UTF-16-LE/BE, JSON escapes, base64 (at all three byte
alignments) and hex. A control value stored in a plaintext column is found by the same search, and so are the
canary guest's ciphertexts, so a search that looks at the wrong file, or at none, cannot pass.
"""

from __future__ import annotations

import base64
import datetime as dt
import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest
from django.db import connection

from custody.accounts.roles import Role
from custody.crypto.blind_index import normalize
from custody.guests import vault
from custody.guests.models import Guest
from custody.properties.models import Jurisdiction, Property
from tests.authorities import readback
from tests.conftest import make_hotel, make_user

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("fresh_keys")]

PURPOSE = "test.canary"
CONTROL = "Plaintext Control Hotel Vqzjx"
CANARY_GUEST = {
    "surname": "Zyxwvutsrqp",
    "second_surname": "Qwertzuiopü",
    "given_names": "Canarysson Ölafur",
    "address": "Rúa do Canario 77, Ourense Zqxv",
    "phone": "+44 7700 931 842",
    "email": "zyxwvutsrqp.canary@example.test",
    "preferences": "Canary preference: feather-free pillows Qvxk",
    "special_needs": "Canary needs: braille menu Qzxw",
    "notes": "Canary note: travels with a pet iguana called Qwxyzzy",
}
CANARY_CHINESE = {
    "surname": "上官龘",
    "given_names": "靐齉爩",
    "address": "龘靐路九十九号",
    "phone": "+86 139 8765 4321",
}
CANARY_DOCUMENT = {"doc_type": "passport", "number": "ZQ-7731594-X", "support_number": "CAN998877QX"}
CANARY_BOOKING = "BKZQX-918273-CAN"
CANARY_REQUESTS = "Canary request: champagne on arrival Qzvx"


def canaries() -> list[str]:
    values = [
        *CANARY_GUEST.values(),
        *CANARY_CHINESE.values(),
        *CANARY_DOCUMENT.values(),
        CANARY_BOOKING,
        CANARY_REQUESTS,
    ]
    values.remove("passport")  # a document type is a code, not a canary
    values += [
        "Zyxwvutsrqp Canarysson Ölafur",
        "上官龘靐齉爩",
        normalize("name", vault.name_text(CANARY_GUEST["surname"], CANARY_GUEST["given_names"])),
        normalize("name", vault.name_text(CANARY_CHINESE["surname"], CANARY_CHINESE["given_names"])),
        normalize("id_number", CANARY_DOCUMENT["number"]),
        normalize("phone", CANARY_GUEST["phone"]),
        normalize("phone", CANARY_CHINESE["phone"]),
        normalize("booking_reference", CANARY_BOOKING),
    ]
    return sorted(set(values))


def _base64_inner(data: bytes, shift: int) -> bytes:
    """The base64 characters that depend only on `data` when it starts `shift` bytes into a longer base64 stream."""
    encoded = base64.b64encode(b"\0" * shift + data)
    start = -(-8 * shift // 6)
    end = 8 * (shift + len(data)) // 6
    return encoded[start:end]


def encodings(text: str) -> dict[str, bytes]:
    found: dict[str, bytes] = {}
    for case, variant in (("as given", text), ("upper", text.upper()), ("lower", text.lower())):
        raw = variant.encode("utf-8")
        json_escaped = json.dumps(variant)[1:-1].encode("ascii")
        found |= {
            f"{case}, UTF-8": raw,
            f"{case}, UTF-16-LE": variant.encode("utf-16-le"),
            f"{case}, UTF-16-BE": variant.encode("utf-16-be"),
            f"{case}, JSON escapes": json_escaped,
            f"{case}, JSON escapes in COPY text": json_escaped.replace(b"\\", b"\\\\"),
            f"{case}, base64": base64.b64encode(raw),
            f"{case}, hex": raw.hex().encode("ascii"),
            f"{case}, HEX": raw.hex().upper().encode("ascii"),
        }
        for shift in (0, 1, 2):
            found[f"{case}, base64 at offset {shift}"] = _base64_inner(raw, shift)
    return found


def hits(haystack: bytes, text: str) -> list[str]:
    return sorted(name for name, needle in encodings(text).items() if needle and needle in haystack)


def seed() -> Guest:
    hotel = make_hotel()
    Property.objects.create(code="control", name=CONTROL, timezone="UTC", jurisdiction=Jurisdiction.GB)
    clerk = make_user("canary-clerk", hotel.prop, Role.FRONT_DESK)
    guest = vault.create_guest(hotel.prop, {**CANARY_GUEST, "notes": "first version"}, acting_user=clerk)
    vault.update_guest(guest, {"notes": CANARY_GUEST["notes"]}, acting_user=clerk)
    chinese = vault.create_guest(hotel.prop, CANARY_CHINESE, acting_user=clerk)
    document = vault.add_identity_document(guest, CANARY_DOCUMENT, acting_user=clerk)
    stay = vault.create_stay(
        hotel.prop,
        primary_guest=guest,
        companions=[chinese],
        room=hotel.room,
        booking_reference=CANARY_BOOKING,
        check_in_planned=dt.date(2026, 3, 1),
        check_out_planned=dt.date(2026, 3, 3),
        special_requests=CANARY_REQUESTS,
        acting_user=clerk,
    )
    vault.register(stay, guest, document=document, acting_user=clerk)
    vault.register(stay, chinese, acting_user=clerk)
    # Reads and lookups leave their traces too (audit entries): they must hold ids only.
    vault.read_guest(guest, Guest.ENCRYPTED_FIELDS, authority=readback(hotel.prop))
    assert vault.find_guests(hotel.prop, "name", "Zyxwvutsrqp Canarysson Ölafur") == [guest]
    assert vault.find_guests(hotel.prop, "booking_reference", CANARY_BOOKING) == [guest]
    return guest


def sqlite_bytes(tmp_path: Path) -> bytes:
    database = Path(connection.settings_dict["NAME"])
    with connection.cursor() as cursor:
        cursor.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        busy, _, _ = cursor.fetchone()
    assert busy == 0, "another connection kept the WAL from being checkpointed"
    data = b""
    for suffix in ("", "-wal"):
        source = Path(f"{database}{suffix}")
        if source.exists():
            copy = tmp_path / f"copy{suffix}"
            shutil.copyfile(source, copy)
            data += copy.read_bytes()
    return data


def pg_dump_bytes() -> bytes:
    pg_dump = shutil.which("pg_dump")
    assert pg_dump, "pg_dump is not installed (apt-get install postgresql-client); the dump test needs it"
    config = connection.settings_dict
    command = [pg_dump, "--no-owner", "--no-privileges", "--dbname", config["NAME"]]
    for option, key in (("--host", "HOST"), ("--port", "PORT"), ("--username", "USER")):
        if config.get(key):
            command += [option, str(config[key])]
    environment = {**os.environ}
    if config.get("PASSWORD"):
        environment["PGPASSWORD"] = config["PASSWORD"]
    if config.get("OPTIONS", {}).get("sslmode"):
        environment["PGSSLMODE"] = config["OPTIONS"]["sslmode"]
    result = subprocess.run(command, capture_output=True, env=environment, timeout=300, check=False)
    assert result.returncode == 0, result.stderr.decode(errors="replace")
    return result.stdout


def database_bytes(tmp_path: Path) -> bytes:
    if connection.vendor == "sqlite":
        return sqlite_bytes(tmp_path)
    if connection.vendor == "postgresql":
        return pg_dump_bytes()
    pytest.skip(f"no database copy method for {connection.vendor}")


def test_search_finds_plaintext_and_ciphertext_where_they_are(tmp_path: Path) -> None:
    """The control: the same search finds a value stored in plaintext, and the canary guest's stored ciphertext."""
    guest = seed()
    data = database_bytes(tmp_path)
    assert "as given, UTF-8" in hits(data, CONTROL)
    ciphertext = bytes(Guest.objects.values_list("surname", flat=True).get(pk=guest.pk))
    assert ciphertext in data or ciphertext.hex().encode() in data  # raw in SQLite, hex in pg_dump's COPY text


def test_database_copy_holds_no_canary_in_any_encoding(tmp_path: Path) -> None:
    seed()
    data = database_bytes(tmp_path)
    assert len(data) > 10_000
    found = {canary: hits(data, canary) for canary in canaries()}
    assert {canary: where for canary, where in found.items() if where} == {}
    assert len(canaries()) >= 20


def test_erased_guests_data_key_is_overwritten_in_the_sqlite_file(tmp_path: Path) -> None:
    if connection.vendor != "sqlite":
        pytest.skip("SQLite only: PostgreSQL keeps old row versions until VACUUM (see vault.erase_guest)")
    with connection.cursor() as cursor:
        cursor.execute("PRAGMA secure_delete")
        default = int(cursor.fetchone()[0])
        # Debian builds SQLite with secure_delete on by default; start from off, as other builds do.
        cursor.execute("PRAGMA secure_delete = 0")
    try:
        guest = seed()
        wrapped = bytes(Guest.objects.values_list("wrapped_key", flat=True).get(pk=guest.pk) or b"")
        assert wrapped in sqlite_bytes(tmp_path)
        vault.erase_guest(guest, acting_user=None)
        assert wrapped not in sqlite_bytes(tmp_path)
    finally:
        with connection.cursor() as cursor:
            cursor.execute(f"PRAGMA secure_delete = {default}")
