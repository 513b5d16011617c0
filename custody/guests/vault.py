"""The guest vault: the one place that encrypts and decrypts guest data (DESIGN invariants 1, 2 and 6).

Writes - ``create_guest``, ``update_guest``, ``add_identity_document``, ``update_identity_document``,
``create_stay``, ``update_stay``, ``register``, ``erase_guest`` - validate their input (``GuestDataError`` names the
field), encrypt every personal field, keep the blind indexes in step and write one audit entry through
``custody.audit.gate.record``, all in one transaction: if the entry cannot be written, nothing is.

Reads - ``read_guest``, ``read_guests`` (a list: one entry naming every guest), ``read_identity_documents``,
``read_stay``, ``read_registration`` - decrypt only the fields asked for, and only on an ``authority`` that the read
gate (``custody.authority``) made from a grant in use, a standing role purpose or a system job. Each checks first
that the authority is genuine and live, is for the record's property, covers the record (the guests and stays it is
bound to) and every field asked for; otherwise ``ReadRefused`` after a committed denied entry naming the reason code,
and nothing is decrypted. An allowed read writes one entry naming the fields and ids (never values), with the
authority's actor, purpose and grant, in the same transaction as the decryption, and returns nothing when that entry
cannot be written (fail closed: ``AuditWriteError`` propagates).

Keys and AAD
    Each guest has a 32-byte data key, stored only wrapped by the key-encryption key (owner ``guests.guest:<uuid>``).
    Under it: the guest's fields, their identity documents and their registrations. A stay's booking reference and
    special requests are encrypted under its *primary guest's* key: they describe the person who booked, so erasing
    that guest shreds them too (and the primary guest of a stay cannot be changed). Every value is bound to
    (database table, database column, primary key of its row).

Blind indexes (``custody.crypto.blind_index``; 32-bit truncation, why: see that module)
    ``name``: ``name_text(surname, given_names)`` - surname, one space, given names; NFKC, and the spaces between
    two CJK characters removed, so "王 小明" and "王小明" meet. The second surname is not part of it: a search by
    first surname and given names finds "García López, Ana" as "García Ana". ``id_number``: every identity document's
    number. ``phone``, ``email``: the guest's. ``booking_reference``: the stay's, pointing at the stay and its primary
    guest. A lookup fetches the rows of one property whose index matches and keeps only those whose decrypted value is
    ``equivalent`` to the one searched for, so a collision never returns the wrong person.

Lookups (``find_guests``, ``find_stays``, ``find_named_guests``) answer "is this person here?", exactly what
invariant 6 forbids outside the hotel's lawful process. They return rows, never decrypted values, and write no audit
entry of their own: callers must be inside ``gate.guard`` (or write their own entry) with a purpose that allows the
lookup - the front desk on a booking reference, a PMS import matching its own rows, or a granted request
(``find_named_guests``: a name and a second identifier within the grant's stay window). The front desk's exact
lookup by booking reference (``custody.guests.desk``) is the one URL that reaches ``find_stays``.
"""

from __future__ import annotations

import datetime as dt
import functools
import json
import re
import unicodedata
import uuid
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from django.db import connection, transaction
from django.db.models import Model, Q
from django.utils import timezone

from custody import authority as read_gate
from custody.accounts.models import User
from custody.audit import gate
from custody.audit.events import Action
from custody.authority import ReadAuthority
from custody.crypto.blind_index import blind_index, equivalent, normalize
from custody.crypto.fields import (
    DecryptionFailed,
    decrypt_field,
    encrypt_field,
    new_data_key,
    unwrap_data_key,
    wrap_data_key,
)
from custody.guests.cleaning import (
    STAY_PLAIN_FIELDS,
    GuestDataError,
    check_stay_order,
    clean_fields,
    clean_stay_plain,
)
from custody.guests.models import (
    BlindIndex,
    Channel,
    Guest,
    IdentityDocument,
    IndexKind,
    Registration,
    Stay,
    StayGuest,
    StayStatus,
)
from custody.properties.models import Property, Room

REGISTRATION_FORMAT = "custody-registration/1"
ROOM_OCCUPIED = "is occupied by another in-house stay."
# What a legal check-in record holds of the guest (preferences, notes and the like are not part of it).
REGISTERED_GUEST_FIELDS = (
    "surname", "second_surname", "given_names", "sex", "date_of_birth", "nationality", "address", "phone", "email",
)  # fmt: skip

# Han ideographs and the other scripts written without spaces between a family and a given name.
_CJK = (
    "\u2e80-\u2fdf\u3005\u3007\u3021-\u3029\u3038-\u303b\u3040-\u30ff\u3100-\u312f\u3400-\u4dbf"
    "\u4e00-\u9fff\uac00-\ud7af\uf900-\ufaff\U00020000-\U0003134f"
)
_SPACE_BETWEEN_CJK = re.compile(rf"(?<=[{_CJK}])\s+(?=[{_CJK}])")

Actor = User | None  # None: a system job (import, retention), named as such in the audit log


class GuestErased(DecryptionFailed):
    """The guest was erased: their data key is destroyed and nothing encrypted under it can be read again."""


# --- writes -------------------------------------------------------------------------------------------------------


@transaction.atomic
def create_guest(prop: Property, fields: Mapping[str, Any], *, acting_user: Actor) -> Guest:
    """Create a guest with a fresh data key. ``fields`` maps Guest.ENCRYPTED_FIELDS names to values; surname required.

    Values are stored exactly as given (accents, CJK characters, spacing). ``date_of_birth`` takes a date or
    YYYY-MM-DD text, ``consents`` a dict (stored as canonical JSON text), ``sex`` one of Sex; absent fields are empty.
    """
    values = clean_fields(Guest.ENCRYPTED_FIELDS, fields)
    values = {**dict.fromkeys(Guest.ENCRYPTED_FIELDS, ""), "consents": "{}", **values}
    _require_name(values)
    guest = Guest(id=uuid.uuid4(), property=prop)
    dek = new_data_key()
    guest.wrapped_key, guest.kek_version = wrap_data_key(dek, owner=guest.key_owner)
    for name, text in values.items():
        setattr(guest, name, _seal(dek, guest, name, text))
    guest.save(force_insert=True)
    _index_guest(guest, values, IndexKind.NAME, IndexKind.PHONE, IndexKind.EMAIL)
    gate.record(
        Action.GUEST_CREATED,
        actor=acting_user,
        prop=prop,
        obj=guest,
        details={"fields": sorted(name for name in fields if fields[name] not in (None, ""))},
    )
    return guest


@transaction.atomic
def update_guest(guest: Guest, changes: Mapping[str, Any], *, acting_user: Actor) -> Guest:
    """Re-encrypt the changed fields (fresh nonces) and their indexes; returns the guest as stored now."""
    values = clean_fields(Guest.ENCRYPTED_FIELDS, changes)
    guest = _locked_guest(guest)
    dek = _data_key(guest)
    kinds = [kind for kind, sources in _GUEST_INDEX_SOURCES.items() if sources & values.keys()]
    indexed = dict(values)
    if IndexKind.NAME in kinds:
        indexed = {name: _open(dek, guest, name) for name in ("surname", "given_names")} | values
        _require_name(indexed)
    for name, text in values.items():
        setattr(guest, name, _seal(dek, guest, name, text))
    guest.save(update_fields=[*values, "updated_at"])
    _index_guest(guest, indexed, *kinds)
    gate.record(
        Action.GUEST_UPDATED, actor=acting_user, prop=guest.property, obj=guest, details={"fields": sorted(changes)}
    )
    return guest


@transaction.atomic
def add_identity_document(guest: Guest, fields: Mapping[str, Any], *, acting_user: Actor) -> IdentityDocument:
    """Add an identity document (doc_type and number required) under the guest's data key and index its number."""
    values = clean_fields(IdentityDocument.ENCRYPTED_FIELDS, fields)
    values = {**dict.fromkeys(IdentityDocument.ENCRYPTED_FIELDS, ""), **values}
    for required in ("doc_type", "number"):
        if not values[required].strip():
            raise GuestDataError(required, "is required.")
    guest = _locked_guest(guest)
    dek = _data_key(guest)
    document = IdentityDocument(id=uuid.uuid4(), guest=guest)
    for name, text in values.items():
        setattr(document, name, _seal(dek, document, name, text))
    document.save(force_insert=True)
    _index_documents(guest, dek)
    gate.record(
        Action.GUEST_DOCUMENT_ADDED,
        actor=acting_user,
        prop=guest.property,
        obj=document,
        details={"guest": str(guest.pk), "fields": sorted(n for n in fields if fields[n] not in (None, ""))},
    )
    return document


@transaction.atomic
def update_identity_document(
    document: IdentityDocument, changes: Mapping[str, Any], *, acting_user: Actor
) -> IdentityDocument:
    values = clean_fields(IdentityDocument.ENCRYPTED_FIELDS, changes)
    for required in ("doc_type", "number"):
        if required in values and not values[required].strip():
            raise GuestDataError(required, "is required.")
    guest = _locked_guest(document.guest)
    dek = _data_key(guest)
    document = IdentityDocument.objects.get(pk=document.pk)
    for name, text in values.items():
        setattr(document, name, _seal(dek, document, name, text))
    document.save(update_fields=list(values))
    if "number" in values:
        _index_documents(guest, dek)
    gate.record(
        Action.GUEST_DOCUMENT_UPDATED,
        actor=acting_user,
        prop=guest.property,
        obj=document,
        details={"guest": str(guest.pk), "fields": sorted(changes)},
    )
    return document


@transaction.atomic
def create_stay(
    prop: Property,
    *,
    primary_guest: Guest,
    check_in_planned: dt.date,
    check_out_planned: dt.date,
    companions: Sequence[Guest] = (),
    room: Room | None = None,
    booking_reference: str = "",
    status: str = StayStatus.BOOKED,
    channel: str = Channel.DIRECT,
    special_requests: str = "",
    acting_user: Actor,
) -> Stay:
    """Create a stay; the booking reference and special requests are encrypted under the primary guest's key."""
    encrypted = clean_fields(
        Stay.ENCRYPTED_FIELDS, {"booking_reference": booking_reference, "special_requests": special_requests}
    )
    plain = clean_stay_plain(
        prop,
        {
            "room": room,
            "check_in_planned": check_in_planned,
            "check_out_planned": check_out_planned,
            "status": status,
            "channel": channel,
        },
    )
    primary_guest = _locked_guest(primary_guest)
    fresh = Guest.objects.in_bulk([g.pk for g in companions])
    companions = [fresh[g.pk] for g in companions]
    _check_guests_of(prop, [primary_guest, *companions])
    if len({g.pk for g in [primary_guest, *companions]}) != 1 + len(companions):
        raise GuestDataError("companions", "lists a guest twice, or the primary guest.")
    stay = Stay(id=uuid.uuid4(), property=prop, primary_guest=primary_guest, **plain)
    dek = _data_key(primary_guest)
    for name, text in encrypted.items():
        setattr(stay, name, _seal(dek, stay, name, text))
    check_stay_order(stay)
    _check_room_free(stay)
    stay.save(force_insert=True)
    StayGuest.objects.bulk_create(StayGuest(stay=stay, guest=guest) for guest in companions)
    _index_stay(stay, encrypted["booking_reference"])
    gate.record(
        Action.STAY_CREATED,
        actor=acting_user,
        prop=prop,
        obj=stay,
        details={
            "primary_guest": str(primary_guest.pk),
            "companions": [str(g.pk) for g in companions],
            "room": room.pk if room else None,
        },
    )
    return stay


@transaction.atomic
def update_stay(stay: Stay, changes: Mapping[str, Any], *, acting_user: Actor) -> Stay:
    """Change a stay: its plain fields, its encrypted ones, or its companions (``companions``: the full new list)."""
    unknown = set(changes) - STAY_PLAIN_FIELDS - set(Stay.ENCRYPTED_FIELDS) - {"companions"}
    if unknown:
        raise GuestDataError(sorted(unknown)[0], "is not a field of a stay.")
    stay = Stay.objects.select_for_update(of=("self",)).select_related("property").get(pk=stay.pk)
    prop = stay.property
    plain = clean_stay_plain(prop, {k: v for k, v in changes.items() if k in STAY_PLAIN_FIELDS})
    encrypted = clean_fields(Stay.ENCRYPTED_FIELDS, {k: v for k, v in changes.items() if k in Stay.ENCRYPTED_FIELDS})
    for name, value in plain.items():
        setattr(stay, name, value)
    if encrypted:
        dek = _data_key(_locked_guest(stay.primary_guest))
        for name, text in encrypted.items():
            setattr(stay, name, _seal(dek, stay, name, text))
    check_stay_order(stay)
    _check_room_free(stay)
    stay.save(update_fields=[*plain, *encrypted, "updated_at"])
    if "booking_reference" in encrypted:
        _index_stay(stay, encrypted["booking_reference"])
    if "companions" in changes:
        given = list(changes["companions"])
        fresh = Guest.objects.in_bulk([g.pk for g in given])
        companions = [fresh[g.pk] for g in given]
        _check_guests_of(prop, companions)
        ids = [g.pk for g in companions]
        if stay.primary_guest_id in ids or len(set(ids)) != len(ids):
            raise GuestDataError("companions", "lists a guest twice, or the primary guest.")
        StayGuest.objects.filter(stay=stay).exclude(guest_id__in=ids).delete()
        present = set(StayGuest.objects.filter(stay=stay).values_list("guest_id", flat=True))
        StayGuest.objects.bulk_create(StayGuest(stay=stay, guest=g) for g in companions if g.pk not in present)
    gate.record(Action.STAY_UPDATED, actor=acting_user, prop=prop, obj=stay, details={"fields": sorted(changes)})
    return stay


@transaction.atomic
def register(stay: Stay, guest: Guest, *, acting_user: Actor, document: IdentityDocument | None = None) -> Registration:
    """Write the legal check-in record of one guest of a stay: a snapshot, as of now, encrypted under their key.

    The payload (``custody-registration/1``) holds the guest's registered fields, the identity document shown (or
    null), and the stay as it stands: room number, planned dates, actual check-in and the booking reference.
    """
    guest = _locked_guest(guest)
    stay = Stay.objects.select_related("property", "room", "primary_guest").get(pk=stay.pk)
    if guest.pk not in stay.guest_ids():
        raise GuestDataError("guest", "is not a guest of this stay.")
    if document is not None and document.guest_id != guest.pk:
        raise GuestDataError("document", "belongs to another guest.")
    dek = _data_key(guest)
    registration = Registration(id=uuid.uuid4(), stay=stay, guest=guest, registered_by=acting_user)
    document_fields = None
    if document is not None:
        document = IdentityDocument.objects.get(pk=document.pk)
        document_fields = {name: _open(dek, document, name) for name in IdentityDocument.ENCRYPTED_FIELDS}
    payload = {
        "format": REGISTRATION_FORMAT,
        "registered_at": registration.created_at.isoformat(),
        "property": stay.property.code,
        "stay": str(stay.pk),
        "guest": str(guest.pk),
        "role": "primary" if guest.pk == stay.primary_guest_id else "companion",
        "guest_fields": {name: _open(dek, guest, name) for name in REGISTERED_GUEST_FIELDS},
        "document": document_fields,
        "stay_fields": {
            "room": stay.room.number if stay.room else "",
            "check_in_planned": stay.check_in_planned.isoformat(),
            "check_out_planned": stay.check_out_planned.isoformat(),
            "checked_in_at": stay.checked_in_at.isoformat() if stay.checked_in_at else "",
            # Under the primary guest's key; gone with that guest if they were erased.
            "booking_reference": (
                "" if stay.primary_guest.is_erased else _open(_data_key(stay.primary_guest), stay, "booking_reference")
            ),
            "guests": len(stay.guest_ids()),
        },
    }
    text = json.dumps(payload, ensure_ascii=False, sort_keys=True, separators=(",", ":"))
    registration.payload = _seal(dek, registration, "payload", text)
    registration.save()
    gate.record(
        Action.REGISTRATION_CREATED,
        actor=acting_user,
        prop=stay.property,
        obj=registration,
        details={
            "stay": str(stay.pk),
            "guest": str(guest.pk),
            "document": str(document.pk) if document else None,
        },
    )
    return registration


@transaction.atomic
def erase_guest(guest: Guest, *, acting_user: Actor) -> Guest:
    """Crypto-shred a guest: destroy the wrapped data key and delete the guest's blind indexes.

    Afterwards every field, document and registration of the guest - and the booking reference and special requests
    of the stays they booked - fail to decrypt with ``GuestErased``, and lookups no longer find them. Rows stay in
    place (stays and registrations keep their dates for statistics and retention). Copies of the wrapped key can
    outlive this: old row versions (PostgreSQL keeps them until VACUUM; on SQLite ``secure_delete`` zeroes freed
    bytes) and backups taken before. Each opens only with the key-encryption key version it was wrapped under, so
    retiring that version after a rotation shreds those copies too. Erasing an erased guest changes nothing and
    writes no second entry.
    """
    guest = _locked_guest(guest)
    if guest.is_erased:
        return guest
    with secure_delete():
        removed, _ = BlindIndex.objects.filter(guest=guest).delete()
        guest.wrapped_key, guest.kek_version, guest.erased_at = None, None, timezone.now()
        guest.save(update_fields=["wrapped_key", "kek_version", "erased_at", "updated_at"])
    gate.record(
        Action.GUEST_ERASED, actor=acting_user, prop=guest.property, obj=guest, details={"blind_indexes": removed}
    )
    return guest


# --- reads --------------------------------------------------------------------------------------------------------


def read_guest(guest: Guest, fields: Iterable[str], *, authority: ReadAuthority) -> dict[str, str]:
    """Decrypt the named fields of one guest; audited (``guest.record.read``: field names and ids only)."""
    names = _field_names(Guest.ENCRYPTED_FIELDS, fields)
    columns = read_gate.require(
        authority,
        Action.GUEST_RECORD_READ, property_id=guest.property_id, obj_type="guests.guest", obj_id=guest.pk,
        guest_ids=[guest.pk], guest_fields=names,
    )  # fmt: skip
    with transaction.atomic():
        fresh = Guest.objects.get(pk=guest.pk)
        gate.record(Action.GUEST_RECORD_READ, obj=fresh, **columns, details={"guest": str(fresh.pk), "fields": names})
        dek = _data_key(fresh)
        return {name: _open(dek, fresh, name) for name in names}


def read_guests(
    guests: Sequence[Guest], fields: Iterable[str], *, authority: ReadAuthority
) -> dict[uuid.UUID, dict[str, str]]:
    """Decrypt the named fields of several guests of one property for a list; ONE audit entry lists their ids.

    Erased guests are left out of the answer (their data key is gone). Returns {guest id: {field: text}}; an empty
    list reads nothing and writes nothing.
    """
    names = _field_names(Guest.ENCRYPTED_FIELDS, fields)
    if not guests:
        return {}
    columns: dict[str, Any] = {}
    for property_id in sorted({guest.property_id for guest in guests}):  # guests of two properties: one fails
        columns = read_gate.require(
            authority,
            Action.GUEST_LIST_READ, property_id=property_id, obj_type="guests.guest", obj_id="",
            guest_ids=[guest.pk for guest in guests], guest_fields=names,
        )  # fmt: skip
    with transaction.atomic():
        # Only the key and the fields asked for: a guest row holds a dozen encrypted columns.
        wanted = ["id", "property_id", "wrapped_key", "kek_version", "erased_at", *names]
        fresh = Guest.objects.not_erased().only(*wanted).in_bulk([guest.pk for guest in guests])
        ordered = [fresh[guest.pk] for guest in guests if guest.pk in fresh]
        gate.record(
            Action.GUEST_LIST_READ,
            object_type="guests.guest",
            **columns,
            details={"guests": sorted({str(guest.pk) for guest in ordered}), "fields": names},
        )
        result = {}
        for guest in ordered:
            dek = _data_key(guest)
            result[guest.pk] = {name: _open(dek, guest, name) for name in names}
        return result


def read_identity_documents(guest: Guest, fields: Iterable[str], *, authority: ReadAuthority) -> list[dict[str, str]]:
    """Decrypt the named fields of each of the guest's identity documents (oldest first), each with its "id".

    The authority's reason code (e.g. why a masked number was shown in full) is kept in the audit entry's details.
    """
    names = _field_names(IdentityDocument.ENCRYPTED_FIELDS, fields)
    columns = read_gate.require(
        authority,
        Action.GUEST_DOCUMENT_READ, property_id=guest.property_id, obj_type="guests.guest", obj_id=guest.pk,
        guest_ids=[guest.pk], document_fields=names,
    )  # fmt: skip
    reason = authority.reason  # genuine: checked just above
    with transaction.atomic():
        fresh = Guest.objects.get(pk=guest.pk)
        documents = list(fresh.documents.order_by("created_at", "id"))
        gate.record(
            Action.GUEST_DOCUMENT_READ,
            obj=fresh,
            **columns,
            details={
                "guest": str(fresh.pk),
                "documents": [str(d.pk) for d in documents],
                "fields": names,
                **({"reason": reason} if reason else {}),
            },
        )
        dek = _data_key(fresh)
        return [{"id": str(d.pk), **{name: _open(dek, d, name) for name in names}} for d in documents]


def read_stay(stay: Stay, fields: Iterable[str], *, authority: ReadAuthority) -> dict[str, str]:
    """Decrypt the named encrypted fields of a stay (booking_reference, special_requests); audited."""
    names = _field_names(Stay.ENCRYPTED_FIELDS, fields)
    columns = read_gate.require(
        authority,
        Action.STAY_RECORD_READ, property_id=stay.property_id, obj_type="guests.stay", obj_id=stay.pk,
        stay_ids=[stay.pk], stay_fields=names,
    )  # fmt: skip
    with transaction.atomic():
        fresh = Stay.objects.select_related("primary_guest").get(pk=stay.pk)
        gate.record(Action.STAY_RECORD_READ, obj=fresh, **columns, details={"stay": str(fresh.pk), "fields": names})
        dek = _data_key(fresh.primary_guest)
        return {name: _open(dek, fresh, name) for name in names}


def read_registration(registration: Registration, *, authority: ReadAuthority) -> dict[str, Any]:
    """The registration record as written (see ``register``); audited. The authority must cover registrations,
    and (where it is bound to records) both the registered guest and the stay."""
    stay_property = Stay.objects.filter(pk=registration.stay_id).values_list("property_id", flat=True).get()
    columns = read_gate.require(
        authority,
        Action.REGISTRATION_READ, property_id=stay_property, obj_type="guests.registration", obj_id=registration.pk,
        guest_ids=[registration.guest_id], stay_ids=[registration.stay_id], registration=True,
    )  # fmt: skip
    with transaction.atomic():
        fresh = Registration.objects.select_related("guest").get(pk=registration.pk)
        gate.record(
            Action.REGISTRATION_READ,
            obj=fresh,
            **columns,
            details={"registration": str(fresh.pk), "guest": str(fresh.guest_id), "stay": str(fresh.stay_id)},
        )
        payload: dict[str, Any] = json.loads(_open(_data_key(fresh.guest), fresh, "payload"))
        return payload


# --- lookups (callers must be inside the gate: see the module docstring) ------------------------------------------


def name_text(surname: str, given_names: str = "") -> str:
    """The text a guest's name index is computed from, and that a name search is compared with."""
    text = unicodedata.normalize("NFKC", f"{surname} {given_names}")
    return _SPACE_BETWEEN_CJK.sub("", text)


def find_guests(prop: Property, kind: str, value: str) -> list[Guest]:
    """Guests of this property (not erased) whose ``kind`` equals ``value`` once normalized; exact match only.

    ``kind`` is one of IndexKind; for ``name`` give the surname then the given names ("García Ana"); for
    ``booking_reference`` the primary guests of the matching stays are returned. A value that normalizes to nothing
    finds nobody. Another property's guests are never returned.
    """
    kind = IndexKind(kind)
    if kind == IndexKind.BOOKING_REFERENCE:
        found: dict[uuid.UUID, Guest] = {}
        for stay in find_stays(prop, value):
            found.setdefault(stay.primary_guest_id, stay.primary_guest)
        return [guest for guest in found.values() if not guest.is_erased]
    wanted = name_text(value) if kind == IndexKind.NAME else value
    # The candidate ids first (a few rows through the blind-index index), then the guests by primary key: as a
    # subquery, SQLite without statistics would scan every guest of the property instead.
    ids = list(_candidates(prop, kind, wanted).values_list("guest_id", flat=True))
    guests = Guest.objects.not_erased().filter(property=prop, pk__in=ids)
    if kind == IndexKind.ID_NUMBER:
        guests = guests.prefetch_related("documents")
    return [guest for guest in guests if _guest_matches(guest, kind, wanted)]


def find_stays(prop: Property, booking_reference: str) -> list[Stay]:
    """Stays of this property whose booking reference equals this one once normalized (separators, case ignored)."""
    ids = list(_candidates(prop, IndexKind.BOOKING_REFERENCE, booking_reference).values_list("stay_id", flat=True))
    stays = Stay.objects.filter(property=prop, pk__in=ids).select_related("primary_guest")
    found = []
    for stay in stays:
        if stay.primary_guest.is_erased:
            continue
        stored = _open(_data_key(stay.primary_guest), stay, "booking_reference")
        if stored.strip() and equivalent(IndexKind.BOOKING_REFERENCE, stored, booking_reference):
            found.append(stay)
    return found


# What a granted lookup may pair with a name (the second identifier of a request's guest item).
SECOND_KINDS = ("date_of_birth", "id_number", "booking_reference", "stay_date")
_ISO_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")


@dataclass(frozen=True)
class NamedMatch:
    """A guest found by name and second identifier, with their stays that overlap the window (oldest first)."""

    guest: Guest
    stays: list[Stay]


def find_named_guests(
    prop: Property,
    *,
    surname: str,
    given_names: str,
    second_kind: str,
    second_value: str,
    stays_from: dt.date,
    stays_until: dt.date,
) -> list[NamedMatch]:
    """Guests of this property whose name equals this one AND whose second identifier matches, each with only their
    stays (as primary guest or companion) that overlap the window (arrived on or before its last day, left on or
    after its first). A guest without such a stay is not returned: the window bounds what a lookup may reveal.

    ``second_kind``: ``date_of_birth`` (the guest's, YYYY-MM-DD), ``id_number`` (one of their identity documents),
    ``booking_reference`` (a stay of theirs in the window), ``stay_date`` (a stay of theirs covering that day,
    YYYY-MM-DD, inside the window). Anything else, an empty value or a malformed date finds nobody. Every comparison is
    exact: blind index first, then the decrypted value (as ``find_guests``).
    """
    value = second_value.strip() if isinstance(second_value, str) else ""
    if second_kind not in SECOND_KINDS or not value or stays_until < stays_from:
        return []
    day = _iso_date(value) if second_kind in ("date_of_birth", "stay_date") else None
    if second_kind in ("date_of_birth", "stay_date") and day is None:
        return []
    if second_kind == "stay_date" and day is not None and not stays_from <= day <= stays_until:
        return []
    candidates = find_guests(prop, IndexKind.NAME, name_text(surname, given_names))
    if not candidates:
        return []
    by_document: set[uuid.UUID] = set()
    by_reference: set[uuid.UUID] = set()
    if second_kind == "id_number":
        by_document = {guest.pk for guest in find_guests(prop, IndexKind.ID_NUMBER, value)}
    elif second_kind == "booking_reference":
        by_reference = {stay.pk for stay in find_stays(prop, value)}
    found = []
    for guest in candidates:
        stays = list(
            Stay.objects.filter(Q(primary_guest=guest) | Q(stay_guests__guest=guest), property=prop)
            .filter(check_in_planned__lte=stays_until, check_out_planned__gte=stays_from)
            .distinct()
            .select_related("room")
            .order_by("check_in_planned", "id")
        )
        if not stays:
            continue
        if second_kind == "date_of_birth":
            assert day is not None
            matches = _open(_data_key(guest), guest, "date_of_birth") == day.isoformat()
        elif second_kind == "id_number":
            matches = guest.pk in by_document
        elif second_kind == "booking_reference":
            matches = any(stay.pk in by_reference for stay in stays)
        else:
            matches = any(stay.check_in_planned <= day <= stay.check_out_planned for stay in stays)  # type: ignore[operator]
        if matches:
            found.append(NamedMatch(guest, stays))
    return found


def _iso_date(text: str) -> dt.date | None:
    if not _ISO_DATE.match(text):
        return None
    try:
        return dt.date.fromisoformat(text)
    except ValueError:
        return None


# --- helpers ------------------------------------------------------------------------------------------------------

_GUEST_INDEX_SOURCES = {
    IndexKind.NAME: {"surname", "given_names"},
    IndexKind.PHONE: {"phone"},
    IndexKind.EMAIL: {"email"},
}


def _seal(dek: bytes, row: Model, name: str, text: str) -> bytes:
    return encrypt_field(dek, text, **_where(row, name))


def _open(dek: bytes, row: Model, name: str) -> str:
    return decrypt_field(dek, getattr(row, name), **_where(row, name))


def _where(row: Model, name: str) -> dict[str, str]:
    table, column = _column_of(type(row), name)
    return {"table": table, "column": column, "pk": str(row.pk)}


@functools.cache
def _column_of(model: type[Model], name: str) -> tuple[str, str]:
    column = getattr(model._meta.get_field(name), "column", None)
    if not isinstance(column, str):
        raise TypeError(f"{name} is not a column of {model._meta.label}.")
    return model._meta.db_table, column


def _data_key(guest: Guest) -> bytes:
    if guest.erased_at is not None or guest.wrapped_key is None or guest.kek_version is None:
        raise GuestErased(f"guest {guest.pk} was erased: their data key is destroyed and their data cannot be read.")
    return unwrap_data_key(guest.wrapped_key, owner=guest.key_owner, kek_version=guest.kek_version)


def _locked_guest(guest: Guest) -> Guest:
    """The guest as stored now, locked until the transaction ends (PostgreSQL; SQLite has one writer anyway)."""
    return Guest.objects.select_for_update(of=("self",)).select_related("property").get(pk=guest.pk)


def _candidates(prop: Property, kind: str, value: str) -> Any:
    try:
        digest = blind_index(kind, value)
    except ValueError:
        return BlindIndex.objects.none()
    return BlindIndex.objects.filter(property=prop, kind=kind, digest=digest)


def _guest_matches(guest: Guest, kind: str, wanted: str) -> bool:
    dek = _data_key(guest)
    if kind == IndexKind.NAME:
        stored = [name_text(_open(dek, guest, "surname"), _open(dek, guest, "given_names"))]
    elif kind == IndexKind.ID_NUMBER:
        stored = [_open(dek, document, "number") for document in guest.documents.all()]
    else:
        stored = [_open(dek, guest, kind)]
    return any(text.strip() and _equivalent(kind, text, wanted) for text in stored)


def _equivalent(kind: str, first: str, second: str) -> bool:
    try:
        return equivalent(kind, first, second)
    except ValueError:
        return False


def _index_guest(guest: Guest, values: Mapping[str, str], *kinds: str) -> None:
    for kind in kinds:
        text = name_text(values["surname"], values["given_names"]) if kind == IndexKind.NAME else values[kind]
        _replace_indexes(guest.property_id, kind, [text], guest=guest)


def _index_documents(guest: Guest, dek: bytes) -> None:
    numbers = [_open(dek, document, "number") for document in guest.documents.all()]
    _replace_indexes(guest.property_id, IndexKind.ID_NUMBER, numbers, guest=guest)


def _index_stay(stay: Stay, booking_reference: str) -> None:
    _replace_indexes(
        stay.property_id, IndexKind.BOOKING_REFERENCE, [booking_reference], guest=stay.primary_guest, stay=stay
    )


def _replace_indexes(
    property_id: int, kind: str, texts: Iterable[str], *, guest: Guest, stay: Stay | None = None
) -> None:
    BlindIndex.objects.filter(kind=kind, guest=guest, stay=stay).delete()
    digests = {blind_index(kind, text) for text in texts if text.strip()}
    BlindIndex.objects.bulk_create(
        BlindIndex(property_id=property_id, kind=kind, digest=digest, guest=guest, stay=stay)
        for digest in sorted(digests)
    )


@contextmanager
def secure_delete() -> Iterator[None]:
    """On SQLite, overwrite freed bytes (destroyed keys, deleted indexes, discarded uploads) with zeros while the
    block runs; PostgreSQL has no such switch (VACUUM reclaims the space)."""
    if connection.vendor != "sqlite":
        yield
        return
    with connection.cursor() as cursor:
        cursor.execute("PRAGMA secure_delete")
        previous = int(cursor.fetchone()[0])
        cursor.execute("PRAGMA secure_delete = 1")
        try:
            yield
        finally:
            cursor.execute(f"PRAGMA secure_delete = {previous}")


def _field_names(allowed: Sequence[str], fields: Iterable[str]) -> list[str]:
    if isinstance(fields, str):
        raise TypeError("fields is a list of field names, not one string.")
    names = sorted(set(fields))
    unknown = [name for name in names if name not in allowed]
    if unknown:
        raise ValueError(f"unknown field {unknown[0]!r}; readable fields: {', '.join(allowed)}.")
    if not names:
        raise ValueError("name the fields to read; a read decrypts only what it needs.")
    return names


def _require_name(values: Mapping[str, str]) -> None:
    try:
        normalize(IndexKind.NAME, name_text(values["surname"], values["given_names"]))
    except ValueError:
        raise GuestDataError("surname", "is required.") from None
    if not values["surname"].strip():
        raise GuestDataError("surname", "is required.")


def _check_room_free(stay: Stay) -> None:
    """A room holds one in-house stay at a time. The room row is locked first, so two desks checking guests into
    the same room one after the other see each other (the database constraint catches anything else)."""
    if stay.status != StayStatus.IN_HOUSE or stay.room_id is None:
        return
    list(Room.objects.select_for_update().filter(pk=stay.room_id).values_list("pk", flat=True))
    if Stay.objects.filter(room_id=stay.room_id, status=StayStatus.IN_HOUSE).exclude(pk=stay.pk).exists():
        raise GuestDataError("room", ROOM_OCCUPIED)


def _check_guests_of(prop: Property, guests: Iterable[Guest]) -> None:
    for guest in guests:
        if guest.property_id != prop.pk:
            raise GuestDataError("guest", "belongs to another property.")
        if guest.is_erased:
            raise GuestDataError("guest", "was erased.")
