"""The front desk's standing role purpose (DESIGN invariants 1 and 6): the minimum, every read audited.

* Today's lists: arrivals, in-house guests and departures, with name, room and dates only; one audited list read.
* Check-in: guest, identity document, stay (in house from now) and registration, in one transaction; or the
  check-in of a stay booked for today (``do_arrival``): the booking's guest completed from the document shown.
* A room holds one in-house stay at a time (the vault refuses a second, naming the room field).
* In-house guests: contact details and preferences edited (``update_contact``), check-out (``do_check_out``).
* In-house stay detail: name, room, dates, masked ID number, special needs; the full number only through
  ``unmask_document`` with a reason code.
* Exact lookup by booking reference, for this property's in-house and arriving-today stays only; audited whether
  or not it finds anything (with a keyed fingerprint of what was searched), limited per user and per property, and
  a stay the desk may not see answers like a reference that does not exist, in content and in time. There is no
  other search.

Every decryption goes through ``custody.guests.vault``; this module decides what the front desk may see.
"""

from __future__ import annotations

import datetime as dt
import threading
import uuid
import zoneinfo
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.db import connection, transaction
from django.db.models import Q
from django.http import Http404
from django.utils import timezone

from custody import authority
from custody.accounts.models import User
from custody.audit import gate
from custody.audit.events import Action
from custody.core import ratelimit
from custody.crypto.blind_index import search_fingerprint
from custody.crypto.fields import decrypt_field, encrypt_field, new_data_key, unwrap_data_key, wrap_data_key
from custody.guests import vault
from custody.guests.models import Channel, DocumentType, Guest, IndexKind, Stay, StayStatus
from custody.properties.models import Property

NAME_FIELDS = ("surname", "second_surname", "given_names")
GUEST_FIELDS = (
    "surname", "second_surname", "given_names", "sex", "date_of_birth", "nationality", "address", "phone", "email",
)  # fmt: skip
DOCUMENT_FIELDS = ("doc_type", "number", "issuing_country", "expiry_date")
VISIBLE_DIGITS = 3

PURPOSE_TODAY = "front_desk.today"
PURPOSE_STAY = "front_desk.stay"
PURPOSE_UNMASK = "front_desk.unmask"
PURPOSE_LOOKUP = "front_desk.lookup"
PURPOSE_ARRIVAL = "front_desk.arrival"
PURPOSE_EDIT = "front_desk.edit"

# What the desk may change for a guest in house, and the stay's own free text.
CONTACT_FIELDS = ("phone", "email", "address", "preferences", "special_needs")
# Guest fields an arrival may leave blank to keep what the booking holds.
KEEP_IF_BLANK = ("second_surname", "address", "phone", "email")


@dataclass(frozen=True)
class DeskRow:
    """One line of a front-desk list: who, which room, which dates. Nothing more."""

    stay: Stay
    name: str

    @property
    def room(self) -> str:
        return self.stay.room.number if self.stay.room else ""


def property_today(prop: Property) -> dt.date:
    """Today's date where the property is."""
    return timezone.now().astimezone(zoneinfo.ZoneInfo(prop.timezone)).date()


def display_name(fields: Mapping[str, str]) -> str:
    surnames = " ".join(part for part in (fields.get("surname", ""), fields.get("second_surname", "")) if part)
    given = fields.get("given_names", "")
    return f"{surnames}, {given}" if given else surnames


def mask(number: str) -> str:
    """All but the last few characters hidden; a short number is hidden entirely."""
    if len(number) <= VISIBLE_DIGITS + 1:
        return "•" * len(number)
    return "•" * (len(number) - VISIBLE_DIGITS) + number[-VISIBLE_DIGITS:]


def _rows(stays: Iterable[Stay], names: Mapping[uuid.UUID, Mapping[str, str]]) -> list[DeskRow]:
    return [DeskRow(s, display_name(names[s.primary_guest_id])) for s in stays if s.primary_guest_id in names]


def _named(stays: list[Stay], *, actor: User, prop: Property, purpose: str) -> dict[uuid.UUID, dict[str, str]]:
    guests = list({stay.primary_guest_id: stay.primary_guest for stay in stays}.values())
    if not guests:
        return {}
    return vault.read_guests(guests, NAME_FIELDS, authority=authority.standing(actor, prop, purpose, stays=stays))


def todays_lists(prop: Property, *, actor: User) -> dict[str, list[DeskRow]]:
    """Arrivals (booked for today), in-house guests and today's departures, read with one audit entry."""
    today = property_today(prop)
    stays = list(
        Stay.objects.filter(property=prop)
        .filter(Q(status=StayStatus.BOOKED, check_in_planned=today) | Q(status=StayStatus.IN_HOUSE))
        .select_related("room", "primary_guest")
        .order_by("check_in_planned", "room__number", "id")
    )
    names = _named(stays, actor=actor, prop=prop, purpose=PURPOSE_TODAY)
    in_house = [s for s in stays if s.status == StayStatus.IN_HOUSE]
    return {
        "arrivals": _rows((s for s in stays if s.status == StayStatus.BOOKED), names),
        "in_house": _rows(in_house, names),
        "departures": _rows((s for s in in_house if s.check_out_planned <= today), names),
    }


@transaction.atomic
def do_check_in(prop: Property, data: Mapping[str, Any], *, acting_user: User) -> Stay:
    """Create the guest, their identity document, an in-house stay from now and its registration; all or nothing.

    ``data`` is a CheckInForm's cleaned data. A GuestDataError from the vault names the form field it is about.
    """
    guest = vault.create_guest(prop, {name: data[name] for name in GUEST_FIELDS}, acting_user=acting_user)
    document = vault.add_identity_document(
        guest, {name: data[name] for name in DOCUMENT_FIELDS}, acting_user=acting_user
    )
    stay = vault.create_stay(
        prop,
        primary_guest=guest,
        room=data["room"],
        check_in_planned=property_today(prop),
        check_out_planned=data["check_out_planned"],
        booking_reference=data["booking_reference"],
        special_requests=data["special_requests"],
        status=StayStatus.IN_HOUSE,
        channel=Channel.DIRECT if data["booking_reference"].strip() else Channel.WALK_IN,
        acting_user=acting_user,
    )
    stay = vault.update_stay(stay, {"checked_in_at": timezone.now()}, acting_user=acting_user)
    vault.register(stay, guest, document=document, acting_user=acting_user)
    return stay


def get_in_house_stay_for_user(prop: Property, stay_id: uuid.UUID) -> Stay:
    """An in-house stay of this property; anything else (another property's, checked out, booked) is a 404."""
    stay = (
        Stay.objects.filter(pk=stay_id, property=prop, status=StayStatus.IN_HOUSE)
        .select_related("room", "primary_guest")
        .first()
    )
    if stay is None or stay.primary_guest.is_erased:
        raise Http404("No such in-house stay.")
    return stay


def stay_detail(stay: Stay, *, actor: User, prop: Property) -> dict[str, Any]:
    """What the desk serving an in-house guest sees: name, room, dates, masked ID numbers, preferences, special
    needs and requests."""
    guest: Guest = stay.primary_guest
    fields = vault.read_guest(
        guest,
        [*NAME_FIELDS, "preferences", "special_needs"],
        authority=authority.standing(actor, prop, PURPOSE_STAY, stays=[stay]),
    )
    requests = vault.read_stay(
        stay, ["special_requests"], authority=authority.standing(actor, prop, PURPOSE_STAY, stays=[stay])
    )
    documents = vault.read_identity_documents(
        guest, ["doc_type", "number"], authority=authority.standing(actor, prop, PURPOSE_STAY, stays=[stay])
    )
    return {
        "name": display_name(fields),
        "preferences": fields["preferences"],
        "special_needs": fields["special_needs"],
        "special_requests": requests["special_requests"],
        "documents": [
            {"id": d["id"], "doc_type": document_type_label(d["doc_type"]), "number": mask(d["number"])}
            for d in documents
        ],
    }


def document_type_label(code: str) -> str:
    """The translated name of a document type; a code this version does not know is shown as stored."""
    try:
        return str(DocumentType(code).label)
    except ValueError:
        return code


def unmask_document(stay: Stay, *, actor: User, prop: Property, reason: str) -> list[dict[str, str]]:
    """The guest's identity document numbers in full, once; the audit entry keeps the reason code."""
    documents = vault.read_identity_documents(
        stay.primary_guest,
        ["doc_type", "number"],
        authority=authority.standing(actor, prop, PURPOSE_UNMASK, stays=[stay], reason=reason),
    )
    return [{**d, "doc_type": document_type_label(d["doc_type"])} for d in documents]


class LookupLimited(Exception):
    """Too many lookups: by this user, or at this property, within the window; try again in ``retry_after`` s."""

    def __init__(self, retry_after: int) -> None:
        super().__init__(f"lookup limit reached; retry after {retry_after} s")
        self.retry_after = retry_after


def lookup_limits() -> tuple[ratelimit.Limit, ratelimit.Limit]:
    """The per-user and per-property limits of booking-reference lookups (settings, read on each use)."""
    seconds = settings.CUSTODY_DESK_LOOKUP_WINDOW_MINUTES * 60
    return (
        ratelimit.Limit("desk.lookup.user", settings.CUSTODY_DESK_LOOKUP_LIMIT_PER_USER, seconds),
        ratelimit.Limit("desk.lookup.property", settings.CUSTODY_DESK_LOOKUP_LIMIT_PER_PROPERTY, seconds),
    )


def lookup_by_booking_reference(prop: Property, reference: str, *, actor: User) -> list[DeskRow]:
    """Exact match only, this property only, in-house or arriving-today stays only; always audited.

    ``reference`` must hold a letter or digit (BookingLookupForm checks it). Limited per user and per property
    (LookupLimited after a denied entry with reason ``rate_limited``). The audit entry holds the ids of the stays
    shown (none when nothing is shown) and a keyed fingerprint of the reference searched for, never the reference.

    A stay the desk may not see (checked out, arriving another day, erased) answers exactly as a reference that
    does not exist - the same rows (none), the same audit details, and the same work: a lookup that finds no stay
    does what finding one costs (``_as_if_found``), so the time taken does not tell them apart either.
    """
    searched = search_fingerprint(IndexKind.BOOKING_REFERENCE, reference)
    details = {"kind": "booking_reference", "searched": searched}
    try:
        for limit, key in zip(lookup_limits(), (str(actor.pk), str(prop.pk)), strict=True):
            ratelimit.hit(limit, key)
    except ratelimit.RateLimited as exc:
        gate.record_denied(
            Action.STAY_LOOKUP,
            actor=actor,
            prop=prop,
            object_type="guests.stay",
            purpose=PURPOSE_LOOKUP,
            details={**details, "reason": "rate_limited", "limit": exc.limit.scope},
        )
        raise LookupLimited(exc.retry_after) from None
    today = property_today(prop)
    with transaction.atomic():
        found = vault.find_stays(prop, reference)
        if not found:
            _as_if_found(prop)
        shown = [
            stay
            for stay in found
            if stay.status == StayStatus.IN_HOUSE
            or (stay.status == StayStatus.BOOKED and stay.check_in_planned == today)
        ]
        gate.record(
            Action.STAY_LOOKUP,
            actor=actor,
            prop=prop,
            object_type="guests.stay",
            purpose=PURPOSE_LOOKUP,
            details={**details, "stays": sorted(str(stay.pk) for stay in shown)},
        )
        stays = list(Stay.objects.filter(pk__in=[s.pk for s in shown]).select_related("room", "primary_guest"))
        names = _named(stays, actor=actor, prop=prop, purpose=PURPOSE_LOOKUP)
        return _rows(stays, names)


_DECOY_OWNER = "desk.lookup.decoy"
_DECOY_WHERE = {"table": Stay._meta.db_table, "column": "booking_reference", "pk": str(uuid.UUID(int=0))}
_decoy_compilers = threading.local()


def _as_if_found(prop: Property) -> None:
    """Do the work ``vault.find_stays`` does for a stay it finds, when it found none, and throw the results away:
    fetch one stay row of the property with its guest row (ciphertext only, nothing of it is decrypted) and turn it
    into model instances, unwrap a data key and decrypt a field (a throwaway key and value of our own).

    Without it a reference that exists but is hidden would answer measurably later than one that does not exist:
    finding runs a query, builds two model instances and decrypts, which not finding skips (for no candidates the
    ORM builds the query but sends nothing). The query is compiled once per thread, because compiling is the part
    both paths already share; tests/test_front_desk_oracles.py measures that the two paths cost the same.
    """
    compiler, sql, stay_fields, guest_fields = _decoy_compiler(connection.alias)
    with connection.cursor() as cursor:
        cursor.execute(sql, [prop.pk])
        rows = cursor.fetchall()
    for row in compiler.results_iter(results=[rows]):
        Stay.from_db(connection.alias, stay_fields, row[: len(stay_fields)])
        Guest.from_db(connection.alias, guest_fields, row[len(stay_fields) :])
    dek = new_data_key()
    wrapped, version = wrap_data_key(dek, owner=_DECOY_OWNER)
    sealed = encrypt_field(dek, "DECOY-REFERENCE", **_DECOY_WHERE)
    decrypt_field(unwrap_data_key(wrapped, owner=_DECOY_OWNER, kek_version=version), sealed, **_DECOY_WHERE)


def _decoy_compiler(alias: str) -> tuple[Any, str, list[str], list[str]]:
    """find_stays' query (a stay with its guest) for one stay of a property, compiled once per thread and alias."""
    cached: dict[str, tuple[Any, str, list[str], list[str]]] = _decoy_compilers.__dict__.setdefault("by_alias", {})
    if alias not in cached:
        query = Stay.objects.using(alias).filter(property_id=-1).select_related("primary_guest").order_by()[:1]
        compiler = query.query.get_compiler(using=alias)
        sql, params = compiler.as_sql()
        if list(params) != [-1]:
            raise RuntimeError(f"unexpected parameters in the decoy stay query: {params!r}")
        stay_fields = [field.attname for field in Stay._meta.concrete_fields]
        guest_fields = [field.attname for field in Guest._meta.concrete_fields]
        cached[alias] = (compiler, sql, stay_fields, guest_fields)
    return cached[alias]


def get_arriving_stay(prop: Property, stay_id: uuid.UUID) -> Stay:
    """A stay of this property booked to arrive today; anything else is a 404 (as for in-house stays)."""
    stay = (
        Stay.objects.filter(pk=stay_id, property=prop, status=StayStatus.BOOKED, check_in_planned=property_today(prop))
        .select_related("room", "primary_guest")
        .first()
    )
    if stay is None or stay.primary_guest.is_erased:
        raise Http404("No such arrival today.")
    return stay


def arrival_initial(stay: Stay, *, actor: User, prop: Property) -> dict[str, Any]:
    """What the arrival form starts with: the booked name, room and departure date. Nothing else is shown: the
    rest is taken from the identity document the guest hands over."""
    names = vault.read_guest(
        stay.primary_guest, NAME_FIELDS, authority=authority.standing(actor, prop, PURPOSE_ARRIVAL, stays=[stay])
    )
    return {**names, "room": stay.room, "check_out_planned": stay.check_out_planned}


@transaction.atomic
def do_arrival(stay: Stay, data: Mapping[str, Any], *, acting_user: User) -> Stay:
    """Check in a booked stay: complete its guest, add the document shown, move the stay in house, register.

    Optional contact fields left blank keep what the booking holds. All or nothing.
    """
    guest = stay.primary_guest
    changes = {name: data[name] for name in GUEST_FIELDS if not (name in KEEP_IF_BLANK and not data[name])}
    guest = vault.update_guest(guest, changes, acting_user=acting_user)
    document = vault.add_identity_document(
        guest, {name: data[name] for name in DOCUMENT_FIELDS}, acting_user=acting_user
    )
    stay_changes: dict[str, Any] = {
        "room": data["room"],
        "check_out_planned": data["check_out_planned"],
        "status": StayStatus.IN_HOUSE,
        "checked_in_at": timezone.now(),
    }
    if data.get("special_requests"):
        stay_changes["special_requests"] = data["special_requests"]
    stay = vault.update_stay(stay, stay_changes, acting_user=acting_user)
    vault.register(stay, guest, document=document, acting_user=acting_user)
    return stay


def contact_initial(stay: Stay, *, actor: User, prop: Property) -> dict[str, str]:
    """The in-house guest's contact details and preferences, read to be edited (one audited read)."""
    fields = vault.read_guest(
        stay.primary_guest, CONTACT_FIELDS, authority=authority.standing(actor, prop, PURPOSE_EDIT, stays=[stay])
    )
    requests = vault.read_stay(
        stay, ["special_requests"], authority=authority.standing(actor, prop, PURPOSE_EDIT, stays=[stay])
    )
    return {**fields, **requests}


@transaction.atomic
def update_contact(stay: Stay, data: Mapping[str, str], before: Mapping[str, str], *, acting_user: User) -> list[str]:
    """Write the fields that changed (guest contact and preferences, the stay's special requests); returns their
    names, empty when nothing changed (then nothing is written)."""
    changed = [name for name in (*CONTACT_FIELDS, "special_requests") if data[name] != before.get(name, "")]
    guest_changes = {name: data[name] for name in changed if name in CONTACT_FIELDS}
    if guest_changes:
        vault.update_guest(stay.primary_guest, guest_changes, acting_user=acting_user)
    if "special_requests" in changed:
        vault.update_stay(stay, {"special_requests": data["special_requests"]}, acting_user=acting_user)
    return changed


def do_check_out(stay: Stay, *, acting_user: User) -> Stay:
    """The guest leaves: the stay is checked out now and the room is free again."""
    return vault.update_stay(
        stay, {"status": StayStatus.CHECKED_OUT, "checked_out_at": timezone.now()}, acting_user=acting_user
    )
