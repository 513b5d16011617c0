"""Validation of guest registry input: each bad value raises GuestDataError naming its field.

Values are turned into the exact text the vault encrypts; names and free text are kept as given (accents, CJK
characters, spacing), only checked: a length limit per field, no control characters (line breaks only in free
text), valid Unicode, and a format for codes, dates, e-mail addresses, phone and document numbers.
"""

from __future__ import annotations

import datetime as dt
import json
import unicodedata
from collections.abc import Mapping, Sequence
from typing import Any

from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.utils import timezone

from custody.crypto.blind_index import normalize
from custody.guests.models import Channel, DocumentType, Sex, Stay, StayStatus
from custody.properties.models import Property, Room

# Longest accepted value of each field, in characters.
_LIMITS = {
    "surname": 200, "second_surname": 200, "given_names": 200, "sex": 1, "date_of_birth": 10, "nationality": 64,
    "address": 500, "phone": 64, "email": 254, "preferences": 4000, "special_needs": 4000, "notes": 4000,
    "consents": 4000, "doc_type": 32, "number": 64, "issuing_country": 64, "issue_date": 10, "expiry_date": 10,
    "support_number": 64, "booking_reference": 64, "special_requests": 4000,
}  # fmt: skip
# Fields that may span lines; the others are single-line.
_MULTILINE = frozenset({"address", "preferences", "special_needs", "notes", "special_requests"})
_DATE_FIELDS = frozenset({"date_of_birth", "issue_date", "expiry_date"})
STAY_PLAIN_FIELDS = frozenset(
    {"room", "check_in_planned", "check_out_planned", "checked_in_at", "checked_out_at", "status", "channel"}
)


class GuestDataError(ValueError):
    """A value that cannot be stored; ``field`` names it for forms, importers and API errors."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field
        self.message = message


def clean_fields(allowed: Sequence[str], given: Mapping[str, Any]) -> dict[str, str]:
    """Validate values and turn them into the exact text to encrypt (names and free text are kept as given)."""
    cleaned = {}
    for name, value in given.items():
        if name not in allowed:
            raise GuestDataError(name, "is not a field that can be set here.")
        cleaned[name] = _clean_value(name, value)
    return cleaned


def _clean_value(name: str, value: Any) -> str:
    if value is None:
        return "{}" if name == "consents" else ""
    if name == "consents":
        value = _clean_consents(value)
    elif name in _DATE_FIELDS:
        value = _clean_date(name, value)
    elif not isinstance(value, str):
        raise GuestDataError(name, f"must be text, not {type(value).__name__}.")
    text: str = value
    if len(text) > _LIMITS[name]:
        raise GuestDataError(name, f"is longer than {_LIMITS[name]} characters.")
    allowed_controls = "\n\r\t" if name in _MULTILINE else ""
    if any(unicodedata.category(c) == "Cc" and c not in allowed_controls for c in text):
        raise GuestDataError(name, "contains control characters.")
    if any(0xD800 <= ord(c) <= 0xDFFF for c in text):
        raise GuestDataError(name, "is not valid Unicode text.")
    if text.strip():
        _check_format(name, text)
    return text


def _check_format(name: str, text: str) -> None:
    if name == "sex" and text not in Sex.values:
        raise GuestDataError(name, f"must be one of {', '.join(Sex.values)}.")
    if name == "doc_type" and text not in DocumentType.values:
        raise GuestDataError(name, f"must be one of {', '.join(DocumentType.values)}.")
    if name == "email":
        try:
            validate_email(text)
        except ValidationError:
            raise GuestDataError(name, "is not an e-mail address.") from None
    kind = {"phone": "phone", "number": "id_number", "booking_reference": "booking_reference"}.get(name)
    if kind is not None:
        try:
            normalize(kind, text)
        except ValueError:
            raise GuestDataError(name, "has no letters or digits to search by.") from None


def _clean_date(name: str, value: Any) -> str:
    if isinstance(value, dt.datetime):
        raise GuestDataError(name, "must be a date, not a date and time.")
    if isinstance(value, dt.date):
        value = value.isoformat()
    if not isinstance(value, str):
        raise GuestDataError(name, f"must be a date (YYYY-MM-DD), not {type(value).__name__}.")
    if not value:
        return ""
    try:
        parsed = dt.date.fromisoformat(value)
    except ValueError:
        raise GuestDataError(name, "must be a date written YYYY-MM-DD.") from None
    if parsed.isoformat() != value:
        raise GuestDataError(name, "must be a date written YYYY-MM-DD.")
    if name == "date_of_birth" and parsed > timezone.localdate():
        raise GuestDataError(name, "is in the future.")
    return value


def _clean_consents(value: Any) -> str:
    if isinstance(value, str):
        try:
            value = json.loads(value) if value.strip() else {}
        except json.JSONDecodeError:
            raise GuestDataError("consents", "is not JSON.") from None
    if not isinstance(value, dict):
        raise GuestDataError("consents", "must be an object mapping each consent to its answer.")
    try:
        return json.dumps(value, ensure_ascii=False, sort_keys=True, separators=(",", ":"))
    except (TypeError, ValueError):
        raise GuestDataError("consents", "holds values that are not JSON.") from None


def clean_stay_plain(prop: Property, given: Mapping[str, Any]) -> dict[str, Any]:
    cleaned: dict[str, Any] = {}
    for name, value in given.items():
        if name == "room":
            if value is not None and (not isinstance(value, Room) or value.property_id != prop.pk):
                raise GuestDataError(name, "is not a room of this property.")
        elif name in {"check_in_planned", "check_out_planned"}:
            if not isinstance(value, dt.date) or isinstance(value, dt.datetime):
                raise GuestDataError(name, "must be a date.")
        elif name in {"checked_in_at", "checked_out_at"}:
            if value is not None and (not isinstance(value, dt.datetime) or timezone.is_naive(value)):
                raise GuestDataError(name, "must be a date and time with a time zone.")
        elif name == "status" and value not in StayStatus.values:
            raise GuestDataError(name, f"must be one of {', '.join(StayStatus.values)}.")
        elif name == "channel" and value not in Channel.values:
            raise GuestDataError(name, f"must be one of {', '.join(Channel.values)}.")
        cleaned[name] = value
    return cleaned


def check_stay_order(stay: Stay) -> None:
    if stay.check_out_planned < stay.check_in_planned:
        raise GuestDataError("check_out_planned", "is before the planned check-in.")
    if stay.checked_in_at and stay.checked_out_at and stay.checked_out_at < stay.checked_in_at:
        raise GuestDataError("checked_out_at", "is before the check-in.")
