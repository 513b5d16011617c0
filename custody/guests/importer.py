"""Reading a PMS stay export (CSV): decoding, column mapping, a full check of every row, and the vault writes.

One row is one stay and its primary guest (with their identity document when the file has one). The life cycle of an
import - the upload kept encrypted, the dry run, the background commit with progress, the audit entries - is in
``custody.guests.imports``; this module only reads, checks and writes, and never echoes a cell's value: errors name
the row, our field and a reason.

* Encoding: UTF-8 (with or without a byte order mark) or GB18030. UTF-8 is tried strictly first, then GB18030; a
  GB18030 reading that looks like Latin-1/Windows-1252 text read wrongly (private-use characters, or most two-byte
  characters ending in an ASCII letter) is refused rather than guessed. NUL bytes (binary files, UTF-16 without a
  byte order mark) and UTF-16/32 are refused.
* Delimiter: comma, semicolon or tab, whichever the header row holds most of.
* Columns: the header row's names are matched to our fields (``FIELDS``: English and Chinese aliases, compared
  without case, spaces or punctuation); the user may override the mapping per column.
* Rows: numbered as in the file with the header as row 1 (a quoted cell spanning lines still counts as one row).
  Blank rows are skipped. Every cell that is stored is checked: length (the vault's limits), control characters,
  formats, dates, rooms of this property, known statuses and channels, and spreadsheet formulas (a cell starting
  with =, +, -, @, tab or CR that is not a plain number or phone number is refused, never silently changed).
* The check (the dry run) reads the file and the property's rooms, nothing else: no row's outcome depends on the
  guests and stays Custody holds, so a dry run cannot tell an uploader which booking references exist (DESIGN
  invariant 6). What does depend on them is settled only at commit time (``rows_already_held``, ``occupied_rooms``):
  a row whose booking reference is already a stay of the property is left as it is, and an in-house row for a room
  where a stay is in house is refused whether or not its reference exists, so neither tells which do.
* Booking references: the key of idempotency; one repeated in the file with the same cells is counted once, with
  other cells it is an error.
* Names and free text are stored exactly as in the file (accents, Chinese characters, spacing).
"""

from __future__ import annotations

import codecs
import csv
import dataclasses
import datetime as dt
import io
import re
import unicodedata
import zoneinfo
from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.utils import timezone
from django.utils.functional import Promise
from django.utils.translation import gettext_lazy as _

from custody.accounts.models import User
from custody.crypto.blind_index import blind_index, normalize
from custody.guests import vault
from custody.guests.cleaning import _LIMITS as VAULT_LIMITS
from custody.guests.cleaning import GuestDataError, clean_fields
from custody.guests.import_fields import (
    ALIASES,
    CHOICE_KEYS,
    CHOICES,
    DEFAULTS,
    FIELD_BY_NAME,
    FIELDS,
    REQUIRED_FIELDS,
    ImportField,
    key,
)
from custody.guests.models import (
    BlindIndex,
    Guest,
    IdentityDocument,
    IndexKind,
    Stay,
    StayStatus,
)
from custody.properties.models import Property, Room

MAX_ROWS = 100_000
MAX_STORED_ERRORS = 5_000
DELIMITERS = {",": "comma", ";": "semicolon", "\t": "tab"}
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
REGISTERED_STATUSES = (StayStatus.IN_HOUSE, StayStatus.CHECKED_OUT)
_PLAIN_NUMBER = re.compile(r"[+-]?\d+(?:[.,]\d+)*")
_PHONE = re.compile(r"\+\d[\d ()./-]*")
_MULTILINE = frozenset({"address", "preferences", "special_needs", "notes", "special_requests"})
_TIME = r"(?:[ T](?P<hour>\d{1,2}):(?P<minute>\d{2})(?::(?P<second>\d{2}))?)?"
_DATES = [
    re.compile(rf"(?P<year>\d{{4}})-(?P<month>\d{{1,2}})-(?P<day>\d{{1,2}}){_TIME}"),
    re.compile(rf"(?P<year>\d{{4}})/(?P<month>\d{{1,2}})/(?P<day>\d{{1,2}}){_TIME}"),
    re.compile(rf"(?P<year>\d{{4}})\.(?P<month>\d{{1,2}})\.(?P<day>\d{{1,2}}){_TIME}"),
    re.compile(rf"(?P<day>\d{{1,2}})\.(?P<month>\d{{1,2}})\.(?P<year>\d{{4}}){_TIME}"),
    re.compile(rf"(?P<year>\d{{4}})年(?P<month>\d{{1,2}})月(?P<day>\d{{1,2}})日{_TIME}"),
]


# --- errors -------------------------------------------------------------------------------------------------------

FILE_ERRORS: dict[str, Promise] = {
    "empty": _("The file is empty."),
    "too_big": _("The file is larger than %(megabytes)s MB."),
    "utf16": _('The file is UTF-16 or UTF-32 text. Save it as UTF-8 ("CSV UTF-8") and upload it again.'),
    "binary": _(
        "The file contains NUL bytes: it is not a text file, or it is UTF-16 text without a byte order mark. Save it "
        'as UTF-8 ("CSV UTF-8") and upload it again.'
    ),
    "encoding": _('The file is neither UTF-8 nor GB18030 text. Save it as UTF-8 ("CSV UTF-8") and upload it again.'),
    "header": _("The header row (row 1) is not valid CSV."),
    "no_header": _("The first row names no columns: the file needs a header row."),
    "no_rows": _("The file has a header row but no rows of data."),
    "too_many_rows": _("The file has more than %(limit)s rows; split it into smaller files."),
    "missing_columns": _("Required columns are missing: %(fields)s. Map a column of the file to each of them."),
    "mapped_twice": _("Two columns are mapped to %(field)s; map one column to each field."),
    "unknown_field": _("%(field)s is not a field that can be imported."),
    "unknown_column": _("The file has no column named %(column)s."),
    "mapping_size": _("The column mapping does not match the file's columns."),
}

ROW_ERRORS: dict[str, Promise] = {
    "required": _("is required."),
    "required_with_document": _("is required when the row has an identity document."),
    "too_long": _("is longer than %(limit)s characters."),
    "control": _("contains control characters."),
    "formula": _(
        "starts with =, +, -, @, a tab or a carriage return: refused, because a spreadsheet would run it as a formula."
    ),
    "date": _("is not a date (write YYYY-MM-DD)."),
    "time_not_allowed": _("must be a date without a time."),
    "future": _("is in the future."),
    "before_check_in": _("is before the check-in."),
    "choice": _("is not one of the accepted values (%(choices)s)."),
    "unknown_room": _("is not a room number of this property."),
    "room_taken": _("is occupied by another in-house stay."),  # reports stored by earlier versions
    "room_occupied": _(
        "is the room of a stay in house in Custody: only rooms that are free in Custody can take an in-house stay "
        "from a file (guests checked in already need no import)."
    ),
    "room_twice": _("is also the room of an in-house stay on row %(row)s."),
    "email": _("is not an e-mail address."),
    "no_letters": _("has no letters or digits."),
    "duplicate": _("is also on row %(row)s, with different content."),
    "columns": _("has %(found)s columns; the header row has %(expected)s."),
    "malformed": _("is not valid CSV (a quote is not closed, or stray text follows one); rows after it were not read."),
    "invalid": _("was refused: %(message)s"),
}


class ImportFileError(Exception):
    """The file as a whole cannot be imported: unreadable, wrong encoding, missing columns, a bad mapping."""

    def __init__(self, code: str, **params: Any) -> None:
        if code not in FILE_ERRORS:
            raise ValueError(f"unknown import file error {code!r}")
        self.code = code
        self.params = params
        super().__init__(code)

    @property
    def message(self) -> str:
        text = str(FILE_ERRORS[self.code])
        return text % self.params if self.params else text

    def __str__(self) -> str:
        return self.message


@dataclass(frozen=True)
class RowError:
    """One problem of one row: its number as in the file (header = row 1), our field ("" for the whole row), a code.

    ``params`` hold numbers, field names or codes only, never the cell's value.
    """

    row: int
    field: str
    code: str
    params: Mapping[str, Any] = dataclasses.field(default_factory=dict)

    @property
    def reason(self) -> str:
        template = ROW_ERRORS.get(self.code)
        if template is None:  # a report stored by another version
            return self.code
        try:
            return str(template) % dict(self.params) if self.params else str(template)
        except (KeyError, TypeError, ValueError):
            return self.code

    @property
    def field_label(self) -> str:
        return str(FIELD_BY_NAME[self.field].label) if self.field in FIELD_BY_NAME else ""

    def line(self) -> str:
        """The error as the command line prints it: ``row 7, check_out: is before the check-in.``"""
        return f"row {self.row}, {self.field}: {self.reason}" if self.field else f"row {self.row}: {self.reason}"

    def as_json(self) -> dict[str, Any]:
        return {"row": self.row, "field": self.field, "code": self.code, "params": dict(self.params)}

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> RowError:
        return cls(int(data["row"]), str(data["field"]), str(data["code"]), dict(data.get("params") or {}))


class RowFailed(Exception):
    """A vault write refused a row during the commit (the transaction is rolled back)."""

    def __init__(self, error: RowError) -> None:
        super().__init__(error.line())
        self.error = error


# --- decoding and parsing -----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Record:
    row: int  # as in the file, the header being row 1
    cells: list[str]


@dataclass
class ParsedFile:
    encoding: str
    delimiter: str
    headers: list[str]
    records: list[Record]
    malformed: RowError | None = None  # the row where reading stopped, if it did

    @property
    def delimiter_name(self) -> str:
        return DELIMITERS[self.delimiter]


def decode(data: bytes) -> tuple[str, str]:
    """The file's text and its encoding ("utf-8", "utf-8-sig" or "gb18030"); ImportFileError otherwise."""
    if not data.strip():
        raise ImportFileError("empty")
    if data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE, codecs.BOM_UTF32_BE)):
        raise ImportFileError("utf16")
    if b"\x00" in data:
        raise ImportFileError("binary")
    if data.startswith(codecs.BOM_UTF8):
        try:
            return data[len(codecs.BOM_UTF8) :].decode("utf-8"), "utf-8-sig"
        except UnicodeDecodeError:
            raise ImportFileError("encoding") from None
    try:
        return data.decode("utf-8"), "utf-8"
    except UnicodeDecodeError:
        pass
    try:
        text = data.decode("gb18030")
    except UnicodeDecodeError:
        raise ImportFileError("encoding") from None
    if not _plausible_gb18030(data, text):
        raise ImportFileError("encoding")
    return text, "gb18030"


def _plausible_gb18030(data: bytes, text: str) -> bool:
    """Bytes of a Latin-1/Windows-1252 file often decode as GB18030 too ("ü" + "l" reads as one ideograph). Chinese
    text uses GB2312 characters (both bytes >= 0xA1) for the most part; a misread Latin file gives characters whose
    second byte is an ASCII letter, or private-use characters. Refuse rather than store garbled names."""
    if any(unicodedata.category(c) == "Co" for c in text):
        return False
    two_byte = ascii_trail = 0
    i, n = 0, len(data)
    while i < n:
        byte = data[i]
        if byte < 0x80:
            i += 1
        elif i + 1 < n and 0x30 <= data[i + 1] <= 0x39:
            i += 4  # a four-byte sequence
        else:
            two_byte += 1
            ascii_trail += i + 1 < n and 0x40 <= data[i + 1] <= 0x7E
            i += 2
    return ascii_trail * 2 <= two_byte


def sniff_delimiter(text: str) -> str:
    """Comma, semicolon or tab: whichever the header row holds most of (comma when it holds none)."""
    header = text.split("\n", 1)[0]
    counts = {d: header.count(d) for d in DELIMITERS}
    best = max(counts, key=lambda d: (counts[d], d == ","))
    return best if counts[best] else ","


def parse(text: str, encoding: str = "utf-8") -> ParsedFile:
    """Split the text into a header and records; ImportFileError when there is no usable header or no data."""
    delimiter = sniff_delimiter(text)
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter, quotechar='"', strict=True)
    try:
        headers = [cell.strip() for cell in next(reader)]
    except StopIteration:
        raise ImportFileError("empty") from None
    except csv.Error:
        raise ImportFileError("header") from None
    if not any(headers):
        raise ImportFileError("no_header")
    parsed = ParsedFile(encoding, delimiter, headers, [])
    row = 1
    while True:
        row += 1
        try:
            cells = next(reader)
        except StopIteration:
            break
        except csv.Error:
            parsed.malformed = RowError(row, "", "malformed")
            break
        if not any(cell.strip() for cell in cells):
            continue  # a blank row
        if len(parsed.records) >= MAX_ROWS:
            raise ImportFileError("too_many_rows", limit=MAX_ROWS)
        parsed.records.append(Record(row, cells))
    if not parsed.records and parsed.malformed is None:
        raise ImportFileError("no_rows")
    return parsed


def read_file(data: bytes) -> ParsedFile:
    text, encoding = decode(data)
    return parse(text, encoding)


# --- mapping ------------------------------------------------------------------------------------------------------


def default_mapping(headers: Sequence[str]) -> list[str]:
    """Our field for each column, from its header name ("" when none matches, or an earlier column took it)."""
    mapping: list[str] = []
    for header in headers:
        name = ALIASES.get(key(header), "")
        mapping.append("" if name in mapping else name)
    return mapping


IGNORE = frozenset({"", "-", "ignore", "none"})


def override_mapping(headers: Sequence[str], mapping: Sequence[str], overrides: Mapping[str, str]) -> list[str]:
    """Apply ``header=field`` overrides (field "-" or "ignore" leaves the column out). A header is matched exactly,
    else as header names are compared; a field another column had is taken from that column."""
    result = list(mapping)
    for header, wanted in overrides.items():
        column = _find_column(headers, header)
        name = wanted.strip()
        if name.casefold() in IGNORE:
            result[column] = ""
            continue
        if name not in FIELD_BY_NAME:
            raise ImportFileError("unknown_field", field=name)
        result = [
            "" if (n == name and i != column and headers[i] not in overrides) else n for i, n in enumerate(result)
        ]
        result[column] = name
    return result


def _find_column(headers: Sequence[str], header: str) -> int:
    if header in headers:
        return headers.index(header)
    wanted = key(header)
    for i, name in enumerate(headers):
        if wanted and key(name) == wanted:
            return i
    raise ImportFileError("unknown_column", column=header)


def check_mapping(headers: Sequence[str], mapping: Sequence[str]) -> None:
    """A field mapped twice, an unknown field or a required field left out is a file-level error."""
    if len(mapping) != len(headers):
        raise ImportFileError("mapping_size")
    seen: set[str] = set()
    for name in mapping:
        if not name:
            continue
        if name not in FIELD_BY_NAME:
            raise ImportFileError("unknown_field", field=name)
        if name in seen:
            raise ImportFileError("mapped_twice", field=name)
        seen.add(name)
    missing = [name for name in REQUIRED_FIELDS if name not in seen]
    if missing:
        raise ImportFileError("missing_columns", fields=", ".join(missing))


# --- checking -----------------------------------------------------------------------------------------------------


@dataclass
class NewStay:
    """A checked row, ready to be written through the vault."""

    row: int
    guest: dict[str, str]
    document: dict[str, str]
    booking_reference: str
    room: Room | None
    check_in: dt.date
    check_out: dt.date
    status: str
    channel: str
    special_requests: str
    checked_in_at: dt.datetime | None = None
    checked_out_at: dt.datetime | None = None


@dataclass
class CheckResult:
    total: int  # rows of data in the file (blank rows left out)
    valid: list[NewStay]  # rows without errors, each imported once (unless its stay is already held: see commit)
    duplicates: int  # the same row again in the file: counted once
    errors: list[RowError]

    @property
    def error_rows(self) -> int:
        return len({error.row for error in self.errors})


def check(
    prop: Property,
    parsed: ParsedFile,
    mapping: Sequence[str],
    *,
    progress: Callable[[int, int], object] | None = None,
) -> CheckResult:
    """Check every row (the dry run): nothing is written, and nothing of the property is read but its rooms."""
    check_mapping(parsed.headers, mapping)
    rooms = {room.number: room for room in Room.objects.filter(property=prop)}
    zone = zoneinfo.ZoneInfo(prop.timezone)
    errors: list[RowError] = []
    candidates: list[NewStay] = []
    first_row: dict[str, tuple[int, tuple[str, ...]]] = {}
    duplicates = 0
    total = len(parsed.records)
    for n, record in enumerate(parsed.records, 1):
        if progress is not None and n % 500 == 0:
            progress(n, total)
        if len(record.cells) != len(parsed.headers):
            found, expected = len(record.cells), len(parsed.headers)
            errors.append(RowError(record.row, "", "columns", {"found": found, "expected": expected}))
            continue
        values = {name: cell for name, cell in zip(mapping, record.cells, strict=True) if name}
        content = tuple(values[name] for name in mapping if name)
        new, row_errors = _check_row(record.row, values, rooms, zone)
        reference_key = _reference_key(values.get("booking_reference", ""))
        if reference_key:
            if reference_key in first_row:
                first, first_content = first_row[reference_key]
                if first_content == content:
                    duplicates += 1  # the same row again: imported once
                    continue
                row_errors = [RowError(record.row, "booking_reference", "duplicate", {"row": first}), *row_errors]
            else:
                first_row[reference_key] = (record.row, content)
        errors.extend(row_errors)
        if new is not None and not row_errors:
            candidates.append(new)
    if parsed.malformed is not None:
        errors.append(parsed.malformed)
    conflicts = _rooms_twice(candidates)
    errors.extend(conflicts)
    valid = [stay for stay in candidates if stay.row not in {e.row for e in conflicts}]
    errors.sort(key=lambda e: (e.row, _field_order(e.field)))
    if progress is not None:
        progress(total, total)
    return CheckResult(total, valid, duplicates, errors)


def _field_order(name: str) -> int:
    return next((i for i, f in enumerate(FIELDS) if f.name == name), -1)


def _reference_key(text: str) -> str:
    try:
        return normalize(IndexKind.BOOKING_REFERENCE, text.strip())
    except ValueError:
        return ""


def rows_already_held(prop: Property, stays: Sequence[NewStay]) -> set[int]:
    """Rows whose booking reference is already a stay of this property (commit time only: the commit leaves them as
    they are and says nothing about which they were). One indexed query finds the candidates; ``vault.find_stays``
    confirms each (decrypting, so a truncated-index collision is never taken for a match)."""
    digests = {stay.row: blind_index(IndexKind.BOOKING_REFERENCE, stay.booking_reference) for stay in stays}
    hits: set[bytes] = set()
    unique = sorted(set(digests.values()))
    for start in range(0, len(unique), 500):
        chunk = unique[start : start + 500]
        found = BlindIndex.objects.filter(
            property=prop, kind=IndexKind.BOOKING_REFERENCE, digest__in=chunk
        ).values_list("digest", flat=True)
        hits.update(bytes(digest) for digest in found)
    return {stay.row for stay in stays if digests[stay.row] in hits and vault.find_stays(prop, stay.booking_reference)}


def _rooms_twice(stays: Sequence[NewStay]) -> list[RowError]:
    """A room holds one in-house stay at a time: two in-house rows of the file for one room are refused."""
    first: dict[int, int] = {}
    errors = []
    for stay in _in_house(stays):
        assert stay.room is not None
        if stay.room.pk in first:
            errors.append(RowError(stay.row, "room", "room_twice", {"row": first[stay.room.pk]}))
        else:
            first[stay.room.pk] = stay.row
    return errors


def occupied_rooms(stays: Sequence[NewStay]) -> list[RowError]:
    """In-house rows for a room where a stay is in house in Custody (commit time only).

    Refused whoever is in house there, even the stay the row describes: letting the row through when its booking
    reference is the occupant's would tell the uploader which reference that is. So an in-house row imports only
    into a room that is free in Custody; a guest checked in already needs no import.
    """
    in_house = _in_house(stays)
    taken = set(
        Stay.objects.filter(room__in=[s.room for s in in_house], status=StayStatus.IN_HOUSE).values_list(
            "room_id", flat=True
        )
    )
    return [RowError(stay.row, "room", "room_occupied") for stay in in_house if stay.room and stay.room.pk in taken]


def _in_house(stays: Sequence[NewStay]) -> list[NewStay]:
    return [s for s in stays if s.status == StayStatus.IN_HOUSE and s.room is not None]


def _check_row(
    row: int, values: Mapping[str, str], rooms: Mapping[str, Room], zone: zoneinfo.ZoneInfo
) -> tuple[NewStay | None, list[RowError]]:
    errors: list[RowError] = []
    clean: dict[str, Any] = {}
    times: dict[str, dt.time | None] = {}
    for name, raw in values.items():
        spec = FIELD_BY_NAME[name]
        try:
            if not raw.strip():
                clean[name] = None if spec.kind in {"stay_date", "room"} else ""
                continue
            if len(raw) > 1 and raw.startswith(FORMULA_STARTS) and not _harmless(raw.strip()):
                raise _Bad("formula")
            clean[name], times[name] = _clean_cell(spec, raw, rooms)
        except _Bad as bad:
            errors.append(RowError(row, name, bad.code, bad.params))
    bad_fields = {e.field for e in errors}
    for name in REQUIRED_FIELDS:
        if name not in bad_fields and not clean.get(name):
            errors.append(RowError(row, name, "required"))
    document = {f.target: clean[f.name] for f in FIELDS if f.part == "document" and clean.get(f.name)}
    if document and "doc_number" not in bad_fields:
        if not clean.get("doc_number"):
            errors.append(RowError(row, "doc_number", "required_with_document"))
        elif not clean.get("doc_type") and "doc_type" not in bad_fields:
            errors.append(RowError(row, "doc_type", "required_with_document"))
    check_in: dt.date | None = clean.get("check_in")
    check_out: dt.date | None = clean.get("check_out")
    if check_in is not None and check_out is not None and check_out < check_in:
        errors.append(RowError(row, "check_out", "before_check_in"))
    if errors or check_in is None or check_out is None:
        return None, errors
    status = clean.get("status") or DEFAULTS["status"]
    checked_in_at = checked_out_at = None
    if status in REGISTERED_STATUSES and times.get("check_in") is not None:
        checked_in_at = dt.datetime.combine(check_in, times["check_in"] or dt.time(), tzinfo=zone)
    if status == StayStatus.CHECKED_OUT and times.get("check_out") is not None:
        checked_out_at = dt.datetime.combine(check_out, times["check_out"] or dt.time(), tzinfo=zone)
        if checked_in_at is not None and checked_out_at < checked_in_at:
            return None, [RowError(row, "check_out", "before_check_in")]
    new = NewStay(
        row=row,
        guest={f.target: clean[f.name] for f in FIELDS if f.part == "guest" and f.name in clean},
        document=document,
        booking_reference=clean["booking_reference"],
        room=clean.get("room"),
        check_in=check_in,
        check_out=check_out,
        status=status,
        channel=clean.get("channel") or DEFAULTS["channel"],
        special_requests=clean.get("special_requests", ""),
        checked_in_at=checked_in_at,
        checked_out_at=checked_out_at,
    )
    return new, _vault_check(new)


class _Bad(Exception):
    def __init__(self, code: str, **params: Any) -> None:
        super().__init__(code)
        self.code = code
        self.params = params


def _harmless(text: str) -> bool:
    """A cell starting like a formula that is only a number ("-12.5") or a phone number ("+86 532 8888 0000")."""
    return bool(_PLAIN_NUMBER.fullmatch(text) or _PHONE.fullmatch(text))


def _clean_cell(spec: ImportField, raw: str, rooms: Mapping[str, Room]) -> tuple[Any, dt.time | None]:
    """The value to store for one non-empty cell (text exactly as given), and the time of day where one was given."""
    if spec.kind == "text":
        _check_text(spec, raw)
        return raw, None
    text = raw.strip()
    if spec.kind == "choice":
        code = CHOICE_KEYS[spec.name].get(key(text))
        if code is None:
            valid = [str(v) for v in dict.fromkeys(CHOICES[spec.name].values())]
            raise _Bad("choice", choices=", ".join(valid))
        return code, None
    if spec.kind in {"date", "stay_date"}:
        day, time = _parse_date(text)
        if time is not None and spec.kind == "date":
            raise _Bad("time_not_allowed")
        if spec.name == "date_of_birth" and day > timezone.localdate():  # as the vault checks it
            raise _Bad("future")
        return (day if spec.kind == "stay_date" else day.isoformat()), time
    if spec.kind == "room":
        room = rooms.get(text)
        if room is None:
            raise _Bad("unknown_room")
        return room, None
    _check_text(spec, text)
    if spec.kind == "email":
        try:
            validate_email(text)
        except ValidationError:
            raise _Bad("email") from None
    else:
        index_kind = {"phone": IndexKind.PHONE, "number": IndexKind.ID_NUMBER, "reference": IndexKind.BOOKING_REFERENCE}
        try:
            normalize(index_kind[spec.kind], text)
        except ValueError:
            raise _Bad("no_letters") from None
    return text, None


def _check_text(spec: ImportField, text: str) -> None:
    limit = VAULT_LIMITS[spec.target]
    if len(text) > limit:
        raise _Bad("too_long", limit=limit)
    allowed = "\n\r\t" if spec.target in _MULTILINE else ""
    if any(unicodedata.category(c) == "Cc" and c not in allowed for c in text):
        raise _Bad("control")
    if any(0xD800 <= ord(c) <= 0xDFFF for c in text):
        raise _Bad("control")


def _parse_date(text: str) -> tuple[dt.date, dt.time | None]:
    for pattern in _DATES:
        match = pattern.fullmatch(text)
        if match is None:
            continue
        parts = match.groupdict()
        try:
            day = dt.date(int(parts["year"]), int(parts["month"]), int(parts["day"]))
            time = None
            if parts["hour"] is not None:
                time = dt.time(int(parts["hour"]), int(parts["minute"]), int(parts["second"] or 0))
        except ValueError:
            raise _Bad("date") from None
        return day, time
    raise _Bad("date")


_VAULT_TO_IMPORT = {f.target: f.name for f in FIELDS if f.part != "guest"} | {
    f.name: f.name for f in FIELDS if f.part == "guest"
}
_VAULT_TO_IMPORT |= {"checked_in_at": "check_in", "checked_out_at": "check_out"}


def _vault_check(new: NewStay) -> list[RowError]:
    """The vault's own validation, as a last word before anything is written (each part on its own)."""
    parts: list[tuple[Sequence[str], Mapping[str, Any]]] = [
        (Guest.ENCRYPTED_FIELDS, new.guest),
        (IdentityDocument.ENCRYPTED_FIELDS, new.document),
        (Stay.ENCRYPTED_FIELDS, {"booking_reference": new.booking_reference, "special_requests": new.special_requests}),
    ]
    for allowed, values in parts:
        try:
            clean_fields(allowed, values)
        except GuestDataError as exc:
            return [_vault_error(new.row, exc)]
    return []


def _vault_error(row: int, exc: GuestDataError) -> RowError:
    return RowError(row, _VAULT_TO_IMPORT.get(exc.field, ""), "invalid", {"message": exc.message})


# --- writing ------------------------------------------------------------------------------------------------------


def write_stays(
    prop: Property,
    stays: Iterable[NewStay],
    *,
    acting_user: User | None,
    held: Collection[int] = frozenset(),
    progress: Callable[[int], object] | None = None,
) -> int:
    """Write each checked row through the vault: guest, identity document, stay, and for guests who arrived a
    registration; rows in ``held`` (``rows_already_held``) are left out. Call it inside a transaction: a refused row
    raises RowFailed and the caller rolls everything back. ``progress`` gets the rows done so far, left out or
    written alike. Returns how many stays were created."""
    created = 0
    for done, stay in enumerate(stays, 1):
        if stay.row not in held:
            try:
                _write(prop, stay, acting_user)
            except GuestDataError as exc:
                raise RowFailed(_vault_error(stay.row, exc)) from exc
            created += 1
        if progress is not None:
            progress(done)
    return created


def _write(prop: Property, new: NewStay, acting_user: User | None) -> None:
    guest = vault.create_guest(prop, new.guest, acting_user=acting_user)
    document = None
    if new.document:
        document = vault.add_identity_document(guest, new.document, acting_user=acting_user)
    stay = vault.create_stay(
        prop,
        primary_guest=guest,
        room=new.room,
        check_in_planned=new.check_in,
        check_out_planned=new.check_out,
        booking_reference=new.booking_reference,
        status=new.status,
        channel=new.channel,
        special_requests=new.special_requests,
        acting_user=acting_user,
    )
    times = {"checked_in_at": new.checked_in_at, "checked_out_at": new.checked_out_at}
    if any(times.values()):
        stay = vault.update_stay(stay, {k: v for k, v in times.items() if v}, acting_user=acting_user)
    if new.status in REGISTERED_STATUSES:
        vault.register(stay, guest, document=document, acting_user=acting_user)
