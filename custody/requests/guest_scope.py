"""The guests a request names: each by a name AND one more identifier, so that a granted lookup finds that person
and not everyone of the same name (issue 12, item 6).

The stored shape of each item of a request's ``guest_scope`` (sealed; read by the granted lookup in
custody.requests.grants - a contract, keep it exactly):

    {"kind": "name", "surname": str, "given_names": str, "second_kind": <one of SECOND_KINDS>, "second_value": str}

with dates (a date of birth, a date of the stay) as ISO YYYY-MM-DD. Any other shape is refused on input.
"""

from __future__ import annotations

import datetime as dt
import re
from typing import Any

from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from custody.guests.vault import name_text
from custody.requests.errors import RequestError, check_text

SECOND_KINDS = ("date_of_birth", "id_number", "booking_reference", "stay_date")
SECOND_KIND_LABELS = {
    "date_of_birth": _("Date of birth"),
    "id_number": _("ID document number"),
    "booking_reference": _("Booking reference"),
    "stay_date": _("A date of the stay"),
}
DATE_KINDS = frozenset({"date_of_birth", "stay_date"})
GUEST_ITEM_KEYS = ("kind", "surname", "given_names", "second_kind", "second_value")
MAX_GUESTS = 50
ISO_DAY = re.compile(r"^[0-9]{4}-[0-9]{2}-[0-9]{2}$")


def _guest_text(n: int, value: Any, limit: int = 200) -> str:
    if not isinstance(value, str):
        raise RequestError("guests", _("Guest %(n)s: each part must be text.") % {"n": n})
    try:
        return check_text("guests", value.strip(), limit)
    except RequestError as exc:
        raise RequestError("guests", _("Guest %(n)s: %(problem)s") % {"n": n, "problem": exc.message}) from None


def check_guest_item(item: Any, n: int) -> dict[str, str]:
    """One guest of a scope in the stored shape (see SECOND_KINDS); RequestError("guests") naming the guest's number
    for any other shape: an identifier alone, a name alone, an unknown kind or key, a date that is not a day."""
    if not isinstance(item, dict) or item.get("kind") != "name" or not set(item) <= set(GUEST_ITEM_KEYS):
        raise RequestError(
            "guests",
            _("Guest %(n)s: give the guest's name and one more identifier (date of birth, ID number, booking "
              "reference or a date of the stay); nothing else is accepted.") % {"n": n},
        )  # fmt: skip
    surname = _guest_text(n, item.get("surname", ""))
    given = _guest_text(n, item.get("given_names", ""))
    second_kind = item.get("second_kind", "")
    second = _guest_text(n, item.get("second_value", ""))
    if not surname:
        raise RequestError("guests", _("Guest %(n)s: a surname is required.") % {"n": n})
    if second_kind not in SECOND_KINDS:
        raise RequestError(
            "guests", _("Guest %(n)s: choose the second identifier (date of birth, ID number, booking reference or "
                        "a date of the stay).") % {"n": n}
        )  # fmt: skip
    if not second:
        raise RequestError("guests", _("Guest %(n)s: the second identifier is empty.") % {"n": n})
    if second_kind in DATE_KINDS:
        day = _iso_day(second)
        if day is None:
            raise RequestError("guests", _("Guest %(n)s: give the date as YYYY-MM-DD.") % {"n": n})
        if second_kind == "date_of_birth" and day > timezone.now().date():
            raise RequestError("guests", _("Guest %(n)s: the date of birth lies in the future.") % {"n": n})
        second = day.isoformat()
    return {"kind": "name", "surname": surname, "given_names": given, "second_kind": second_kind,
            "second_value": second}  # fmt: skip


def _iso_day(text: str) -> dt.date | None:
    if not ISO_DAY.match(text):
        return None
    try:
        day = dt.date.fromisoformat(text)
    except ValueError:
        return None
    return day if 1900 <= day.year <= 2100 else None


def check_guest_scope(items: Any) -> list[dict[str, str]]:
    if not isinstance(items, list):
        raise RequestError("guests", _("The guests must be a list."))
    if len(items) > MAX_GUESTS:
        raise RequestError("guests", _("Name at most %(count)s guests.") % {"count": MAX_GUESTS})
    return [check_guest_item(item, index + 1) for index, item in enumerate(items)]



def guest_label(item: dict[str, str]) -> str:
    """How a guest of a scope reads (for the people entitled to see the request): the name and the second
    identifier, e.g. "Núñez Inés · Date of birth 1980-02-03"."""
    name = name_text(item.get("surname", ""), item.get("given_names", ""))
    second_kind = item.get("second_kind", "")
    if not second_kind:
        return name
    return f"{name} · {SECOND_KIND_LABELS.get(second_kind, second_kind)} {item.get('second_value', '')}"
