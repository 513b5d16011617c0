"""The read gate (DESIGN invariant 1): the only place that creates the authority a read of personal data needs.

Every reader of personal data - the guest vault's ``read_*`` functions, a request's guest scope
(``sealing.open_guest_scope``), the playback clip builder and the export job - takes a ``ReadAuthority`` and checks
it with this module's ``require`` or ``require_footage``: that it came from here, is still live, is for the record's
property, covers the record (the guests, stays, request, camera and window it is bound to) and the fields asked for.
A forged, stale or mismatched authority fails closed: ``ReadRefused`` (nothing is returned) after a committed
``denied`` audit entry naming the reason code.

An authority comes from exactly one of:

* **a grant in use** - ``for_grant(grant, ...)`` inside ``grants.using_grant`` (which opens the use here with
  ``grant_use`` once the use is counted and audited, and closes it, with every authority made from it, when the
  block ends). It records the grant, its holder, property, kind, the fields the request's purpose needs and, for
  guest lookups, the guests and stays found. Footage outside a use: ``for_playback`` (the signed session that
  counted the use) and ``for_export`` (the queued export that counted it), each re-checking the grant.
* **a standing purpose** - ``standing(actor, prop, code, stays=...)``: the actor must hold one of the purpose's
  roles at the property now, and each stay must be one the purpose covers (today's, in-house, arriving today).
  ``for_request(request, actor=...)``: the requester or a reviewer of one request reads its guest scope.
* **a system job** - ``system(prop, code)``: only from the modules its row names, and never while a web request is
  being handled (no Django request handler on the call stack): demo seeding, tests reading back what they wrote.

``PURPOSES`` below is the one table of standing and system purposes: which roles hold each, which records and fields
each may see. docs/gate.md is generated from it (``purposes_markdown``; a test keeps the two equal).

Unforgeable in practice: ``ReadAuthority(...)`` refuses to be built without this module's private capability; the
readers also accept only authorities this module minted (a registry of the objects made here with a fingerprint of
their fields), so a copy, a ``dataclasses.replace`` or a field changed with ``object.__setattr__`` is refused too.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import re
import sys
import threading
import time
import uuid
import weakref
import zoneinfo
from collections.abc import Collection, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import InitVar, dataclass, field
from typing import TYPE_CHECKING, Any

from django.core.exceptions import PermissionDenied
from django.db import connection
from django.utils import timezone

from custody.accounts.roles import Role
from custody.audit import gate
from custody.audit.events import Action, Outcome
from custody.guests.models import Guest, IdentityDocument, Stay, StayStatus
from custody.requests.rules import REVIEWERS

if TYPE_CHECKING:
    from custody.accounts.models import User
    from custody.evidence.models import Export
    from custody.footage.models import Camera
    from custody.properties.models import Property
    from custody.requests.models import AccessRequest, Grant

_MINT = object()  # the module-private capability: only code in this module passes it to ReadAuthority
LIFETIME = 10 * 60.0  # seconds an authority stays usable (one page, stream request or clip; not a stash)
_CODE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.:/+=-]{0,63}$")
# Callers that never run inside a web request; a frame of these modules on the stack means one is being handled.
_REQUEST_HANDLERS = ("django.core.handlers.",)

NAME = ("surname", "second_surname", "given_names")
CONTACT = ("phone", "email", "address", "preferences", "special_needs")


class ReadRefused(PermissionDenied):
    """The gate refused: ``code`` says why (also in the committed ``denied`` audit entry). Nothing was read."""

    def __init__(self, code: str, denied: dict[str, Any] | None = None) -> None:
        super().__init__(code)
        self.code = code
        self.denied = denied or {}

    def record_again(self) -> None:
        """Write the denied entry again: for a caller whose transaction rolled back the first one."""
        if self.denied:
            gate.record_denied(**self.denied)


# --- the table of standing and system purposes ------------------------------------------------------------------

# Which records a purpose reaches (the stays passed to ``standing`` must all be of this kind).
RECORDS = {
    "today": "today's arrivals (booked to arrive today) and in-house stays",
    "in_house": "in-house stays",
    "arriving_today": "stays booked to arrive today",
    "request": "the one request",
    "none": "no record",
    "property": "any record of the property",
}


@dataclass(frozen=True)
class Purpose:
    """One row of the table: who holds the purpose, which records and fields it reaches."""

    code: str
    summary: str
    roles: frozenset[str]
    records: str
    guest_fields: tuple[str, ...] = ()
    document_fields: tuple[str, ...] = ()
    stay_fields: tuple[str, ...] = ()
    registrations: bool = False
    request_fields: tuple[str, ...] = ()
    needs_reason: bool = False
    system_callers: tuple[str, ...] = ()  # system purposes: the modules (prefixes) that may create one

    @property
    def is_system(self) -> bool:
        return bool(self.system_callers)


DESK_ROLES = frozenset({Role.FRONT_DESK, Role.PROPERTY_MANAGER})  # the "guests.front_desk" permission's roles
_ALL_GUEST = tuple(Guest.ENCRYPTED_FIELDS)
_ALL_DOCUMENT = tuple(IdentityDocument.ENCRYPTED_FIELDS)
_ALL_STAY = tuple(Stay.ENCRYPTED_FIELDS)

PURPOSES: dict[str, Purpose] = {
    row.code: row
    for row in (
        Purpose(
            "front_desk.today", "Today's lists: arrivals, in-house guests and departures (name, room, dates).",
            DESK_ROLES, "today", guest_fields=NAME,
        ),
        Purpose(
            "front_desk.lookup", "Desk lookup by exact booking reference: the names of the stays it finds.",
            DESK_ROLES, "today", guest_fields=NAME,
        ),
        Purpose(
            "front_desk.arrival", "Check-in of a booked arrival: the booked name (the rest comes from the document).",
            DESK_ROLES, "arriving_today", guest_fields=NAME,
        ),
        Purpose(
            "front_desk.stay", "In-house stay detail: name, preferences, needs, requests; ID numbers shown masked.",
            DESK_ROLES, "in_house", guest_fields=(*NAME, "preferences", "special_needs"),
            document_fields=("doc_type", "number"), stay_fields=("special_requests",),
        ),
        Purpose(
            "front_desk.unmask", "An in-house guest's ID numbers in full, once, with a reason code.",
            DESK_ROLES, "in_house", document_fields=("doc_type", "number"), needs_reason=True,
        ),
        Purpose(
            "front_desk.edit", "Editing an in-house guest's contact details, preferences, needs and requests.",
            DESK_ROLES, "in_house", guest_fields=CONTACT, stay_fields=("special_requests",),
        ),
        Purpose(
            "import.commit", "PMS import: writes guests and stays through the vault; reads and shows none.",
            frozenset({Role.PROPERTY_MANAGER, Role.IT_ADMIN}), "none",
        ),
        Purpose(
            "request.read", "A request's named guests, for its requester and the reviewers at its property.",
            frozenset(REVIEWERS), "request",
            request_fields=("guest_scope",),
        ),
        Purpose(
            "system.demo_seed", "Demo seeding (the seed-demo command): names and booking references of the demo "
            "stays it wrote, to file the demo requests.",
            frozenset(), "property", guest_fields=NAME, stay_fields=("booking_reference",),
            system_callers=("custody.core.demo",),
        ),
        Purpose(
            "system.benchmark", "The guest-registry benchmark run as a script by an operator (benchmarks/): reads "
            "back the synthetic guests it wrote.",
            frozenset(), "property", guest_fields=_ALL_GUEST, document_fields=_ALL_DOCUMENT, stay_fields=_ALL_STAY,
            system_callers=("benchmarks.", "__main__"),
        ),
        Purpose(
            "system.test_readback", "The test suite reading back what a test wrote (modules under tests/ only).",
            frozenset(), "property", guest_fields=_ALL_GUEST, document_fields=_ALL_DOCUMENT, stay_fields=_ALL_STAY,
            registrations=True, request_fields=("guest_scope",), system_callers=("tests.",),
        ),
    )
}  # fmt: skip
SYSTEM_DEMO = "system.demo_seed"
SYSTEM_TEST_READBACK = "system.test_readback"
SYSTEM_BENCHMARK = "system.benchmark"
REQUEST_READ = "request.read"


def purposes_markdown() -> str:
    """The table as Markdown (docs/gate.md holds exactly this between its markers)."""
    lines = [
        "| Purpose | Who | Records | Guest fields | Identity document fields | Stay fields | Other |",
        "|---|---|---|---|---|---|---|",
    ]
    for row in PURPOSES.values():
        who = ", ".join(sorted(row.roles)) or "system: " + ", ".join(f"`{c}*`" for c in row.system_callers)
        if row.records == "request":
            who += ", the requester"
        other = []
        if row.registrations:
            other.append("registrations")
        if row.request_fields:
            other.append("request " + ", ".join(row.request_fields))
        if row.needs_reason:
            other.append("needs a reason code")
        cells = [
            f"`{row.code}`: {row.summary}",
            who,
            RECORDS[row.records],
            ", ".join(row.guest_fields) or "-",
            ", ".join(row.document_fields) or "-",
            ", ".join(row.stay_fields) or "-",
            "; ".join(other) or "-",
        ]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


# --- the authority ----------------------------------------------------------------------------------------------


@dataclass(frozen=True, eq=False)
class ReadAuthority:
    """What one read may reach. Built only by this module (see the module docstring); checked by every reader."""

    source: str  # "grant", "standing" or "system"
    purpose: str  # the audit entry's purpose code
    actor: User | None
    prop: Property
    guest_fields: frozenset[str] = frozenset()
    document_fields: frozenset[str] = frozenset()
    stay_fields: frozenset[str] = frozenset()
    registrations: bool = False
    request_fields: frozenset[str] = frozenset()
    # Record binding: None reaches any record of the property (system only); a set reaches exactly those.
    guest_ids: frozenset[uuid.UUID] | None = frozenset()
    stay_ids: frozenset[uuid.UUID] | None = frozenset()
    request_ids: frozenset[uuid.UUID] | None = frozenset()
    grant_ref: str = ""
    request_ref: str = ""
    kind: str = ""  # the grant use's kind
    camera_ids: frozenset[int] = frozenset()
    window_start: dt.datetime | None = None
    window_end: dt.datetime | None = None
    reason: str = ""
    expires: float = 0.0  # time.monotonic() after which it is refused (grant authorities end with their use)
    capability: InitVar[object] = None

    def __post_init__(self, capability: object) -> None:
        if capability is not _MINT:
            raise _refuse(None, None, "", "forged")


_MINTED: weakref.WeakKeyDictionary[ReadAuthority, tuple[Any, ...]] = weakref.WeakKeyDictionary()
_ENDED: weakref.WeakSet[ReadAuthority] = weakref.WeakSet()  # grant authorities whose use has ended
_LOCK = threading.Lock()


def _fingerprint(authority: ReadAuthority) -> tuple[Any, ...]:
    values = []
    for item in dataclasses.fields(authority):
        value = getattr(authority, item.name)
        if item.name in ("actor", "prop"):
            value = (type(value).__name__, getattr(value, "pk", None))
        values.append(value)
    return tuple(values)


def _mint(**values: Any) -> ReadAuthority:
    values.setdefault("expires", time.monotonic() + LIFETIME)
    authority = ReadAuthority(**values, capability=_MINT)
    with _LOCK:
        _MINTED[authority] = _fingerprint(authority)
    return authority


def _genuine_code(authority: Any) -> str:
    if not isinstance(authority, ReadAuthority):
        return "forged"
    with _LOCK:
        fingerprint = _MINTED.get(authority)
        ended = authority in _ENDED
    if ended:
        return "use_ended"
    if fingerprint is None or fingerprint != _fingerprint(authority):
        return "forged"
    if time.monotonic() > authority.expires:
        return "expired"
    return ""


def is_genuine(authority: Any) -> bool:
    """Whether this object is an authority the gate made, unchanged and still live (no audit entry)."""
    return not _genuine_code(authority)


def _fields_code(
    authority: ReadAuthority,
    guest: Iterable[str],
    document: Iterable[str],
    stay: Iterable[str],
    registration: bool,
    request: Iterable[str],
) -> str:
    if not set(guest) <= authority.guest_fields:
        return "field_not_covered"
    if not set(document) <= authority.document_fields:
        return "field_not_covered"
    if not set(stay) <= authority.stay_fields:
        return "field_not_covered"
    if registration and not authority.registrations:
        return "field_not_covered"
    if not set(request) <= authority.request_fields:
        return "field_not_covered"
    return ""


def _records_code(
    authority: ReadAuthority, guests: Iterable[uuid.UUID], stays: Iterable[uuid.UUID], requests: Iterable[uuid.UUID]
) -> str:
    pairs = ((guests, authority.guest_ids), (stays, authority.stay_ids), (requests, authority.request_ids))
    for wanted, covered in pairs:
        if covered is not None and not set(wanted) <= covered:
            return "record_not_covered"
    return ""


def _deny(authority: Any, action: Action, code: str, *, property_id: int, obj_type: str, obj_id: Any) -> None:
    from custody.properties.models import Property

    genuine = code != "forged"
    prop = authority.prop if genuine else Property.objects.filter(pk=property_id).first()
    denied: dict[str, Any] = {
        "action": action,
        "actor": authority.actor if genuine else None,
        "prop": prop,
        "object_type": obj_type,
        "object_id": str(obj_id),
        "purpose": authority.purpose if genuine else "",
        "grant_ref": authority.grant_ref if genuine else "",
        "details": {"reason": code},
    }
    gate.record_denied(**denied)
    raise ReadRefused(code, denied)


def _refuse(actor: User | None, prop: Property | None, purpose: str, code: str, **details: Any) -> ReadRefused:
    """A constructor refused: committed ``authority.refused`` entry, then the exception to raise."""
    denied: dict[str, Any] = {
        "action": Action.AUTHORITY_REFUSED,
        "actor": actor,
        "prop": prop,
        "object_type": "authority",
        "purpose": purpose if _CODE.match(purpose or "") else "",
        "details": {"reason": code, **details},
    }
    gate.record_denied(**denied)
    return ReadRefused(code, denied)


# --- what a reader checks: module functions, so an object that merely looks like an authority checks nothing -------


def require(
    authority: ReadAuthority,
    action: Action,
    *,
    property_id: int,
    obj_type: str,
    obj_id: Any,
    guest_ids: Iterable[uuid.UUID] = (),
    stay_ids: Iterable[uuid.UUID] = (),
    request_ids: Iterable[uuid.UUID] = (),
    guest_fields: Iterable[str] = (),
    document_fields: Iterable[str] = (),
    stay_fields: Iterable[str] = (),
    registration: bool = False,
    request_fields: Iterable[str] = (),
) -> dict[str, Any]:
    """Check that ``authority`` may read these records' fields at this property; returns the columns of the
    reader's allowed audit entry (actor, property, purpose, grant, request). Refused: a committed denied entry
    (``action``, reason code) and ReadRefused."""
    code = _genuine_code(authority)
    if not code and authority.prop.pk != property_id:
        code = "wrong_property"
    if not code:
        code = _fields_code(authority, guest_fields, document_fields, stay_fields, registration, request_fields)
    if not code:
        code = _records_code(authority, guest_ids, stay_ids, request_ids)
    if code:
        _deny(authority, action, code, property_id=property_id, obj_type=obj_type, obj_id=obj_id)
    return _columns(authority)


def require_footage(
    authority: ReadAuthority,
    action: Action,
    *,
    property_id: int,
    camera: Camera,
    start: dt.datetime,
    end: dt.datetime,
    grant_ref: str | None = None,
) -> dict[str, Any]:
    """Footage of ``camera`` from ``start`` to ``end`` (under the grant ``grant_ref`` when given): only on a grant
    authority whose use covers them. Returns the audit columns, as ``require``."""
    code = _genuine_code(authority)
    if not code and authority.prop.pk != property_id:
        code = "wrong_property"
    if not code and (authority.source != "grant" or not authority.kind.startswith("footage")):
        code = "not_footage_authority"
    if not code and grant_ref is not None and grant_ref != authority.grant_ref:
        code = "grant_not_covered"
    if not code and camera.pk not in authority.camera_ids:
        code = "camera_not_covered"
    window = (authority.window_start, authority.window_end)
    if not code and (window[0] is None or window[1] is None or not window[0] <= start < end <= window[1]):
        code = "window_not_covered"
    if code:
        _deny(authority, action, code, property_id=property_id, obj_type="footage.camera", obj_id=camera.pk)
    return _columns(authority)


def _columns(authority: ReadAuthority) -> dict[str, Any]:
    return {
        "actor": authority.actor,
        "prop": authority.prop,
        "purpose": authority.purpose,
        "grant_ref": authority.grant_ref,
        "request_ref": authority.request_ref,
    }


# --- standing purposes -------------------------------------------------------------------------------------------


def property_today(prop: Property) -> dt.date:
    return timezone.now().astimezone(zoneinfo.ZoneInfo(prop.timezone)).date()


def _holds(actor: User | None, prop: Property, roles: Collection[str]) -> bool:
    if actor is None or not getattr(actor, "is_authenticated", False) or not actor.is_active:
        return False
    return bool(actor.roles_at(prop) & set(roles))


def standing(actor: User, prop: Property, code: str, *, stays: Sequence[Stay] = (), reason: str = "") -> ReadAuthority:
    """The authority of a standing purpose (a row of ``PURPOSES``) for these stays of the property: the actor must
    hold one of its roles there now and every stay must be one the purpose reaches (checked on the stored rows).
    Covers the stays and their primary guests; ReadRefused (after an ``authority.refused`` entry) otherwise."""
    row = PURPOSES.get(code)
    if row is None or row.is_system or row.records in ("request", "property"):
        raise _refuse(actor, prop, code, "unknown_purpose")
    if not _holds(actor, prop, row.roles):
        raise _refuse(actor, prop, code, "role_not_held")
    if row.needs_reason and not (isinstance(reason, str) and _CODE.match(reason)):
        raise _refuse(actor, prop, code, "reason_required")
    wanted = {stay.pk for stay in stays}
    stored = list(Stay.objects.filter(pk__in=wanted).values("pk", "property_id", "status", "check_in_planned",
                                                              "primary_guest_id"))  # fmt: skip
    today = property_today(prop)

    def reaches(values: Any) -> bool:
        if values["property_id"] != prop.pk:
            return False
        in_house = values["status"] == StayStatus.IN_HOUSE
        arriving = values["status"] == StayStatus.BOOKED and values["check_in_planned"] == today
        return {"today": in_house or arriving, "in_house": in_house, "arriving_today": arriving}.get(row.records, False)

    if len(stored) != len(wanted) or not all(reaches(values) for values in stored):
        raise _refuse(actor, prop, code, "record_not_covered", stays=sorted(str(pk) for pk in wanted))
    return _mint(
        source="standing",
        purpose=code,
        actor=actor,
        prop=prop,
        guest_fields=frozenset(row.guest_fields),
        document_fields=frozenset(row.document_fields),
        stay_fields=frozenset(row.stay_fields),
        registrations=row.registrations,
        guest_ids=frozenset(values["primary_guest_id"] for values in stored),
        stay_ids=frozenset(wanted),
        request_ids=frozenset(),
        reason=reason,
    )


def for_request(request: AccessRequest, *, actor: User) -> ReadAuthority:
    """Reading one request's guest scope: its requester, or a reviewer (a ``request.read`` role) at its property."""
    row = PURPOSES[REQUEST_READ]
    prop = request.property
    if actor is None or not getattr(actor, "is_authenticated", False) or not actor.is_active:
        raise _refuse(None, prop, REQUEST_READ, "not_signed_in")
    if request.requester_id != actor.pk and not _holds(actor, prop, row.roles):
        raise _refuse(actor, prop, REQUEST_READ, "not_entitled", request=str(request.pk))
    return _mint(
        source="standing",
        purpose=REQUEST_READ,
        actor=actor,
        prop=prop,
        request_fields=frozenset(row.request_fields),
        request_ids=frozenset({request.pk}),
        request_ref=request.number,
    )


# --- system jobs -------------------------------------------------------------------------------------------------


def _in_a_request(frame: Any) -> bool:
    while frame is not None:
        if str(frame.f_globals.get("__name__", "")).startswith(_REQUEST_HANDLERS):
            return True
        frame = frame.f_back
    return False


def system(prop: Property, code: str) -> ReadAuthority:
    """A system job's authority over the whole property (``system.*`` rows): only from the modules the row names,
    and never while a web request is being handled. For tests: ``system(prop, SYSTEM_TEST_READBACK)``."""
    row = PURPOSES.get(code)
    caller = sys._getframe(1)
    module = str(caller.f_globals.get("__name__", ""))
    if row is None or not row.is_system:
        raise _refuse(None, prop, code, "unknown_purpose")
    if not module.startswith(row.system_callers):
        raise _refuse(None, prop, code, "not_a_system_caller")
    if _in_a_request(caller):
        raise _refuse(None, prop, code, "inside_a_request")
    return _mint(
        source="system",
        purpose=code,
        actor=None,
        prop=prop,
        guest_fields=frozenset(row.guest_fields),
        document_fields=frozenset(row.document_fields),
        stay_fields=frozenset(row.stay_fields),
        registrations=row.registrations,
        request_fields=frozenset(row.request_fields),
        guest_ids=None,
        stay_ids=None,
        request_ids=None,
    )


# --- grants ------------------------------------------------------------------------------------------------------


@dataclass
class _Use:
    grant: weakref.ref[Grant]
    actor_id: int
    kind: str
    cameras: frozenset[int]
    start: dt.datetime | None
    end: dt.datetime | None
    minted: list[ReadAuthority] = field(default_factory=list)


_IN_USE: dict[int, _Use] = {}  # id(grant object) -> its open use


@contextmanager
def grant_use(
    grant: Grant,
    *,
    actor: User,
    kind: str,
    cameras: Sequence[Camera] = (),
    start: dt.datetime | None = None,
    end: dt.datetime | None = None,
) -> Iterator[None]:
    """Open one counted use of ``grant`` (called by ``grants.using_grant`` only, inside its transaction, after the
    use was counted): ``for_grant`` works on this grant object until the block ends, when every authority made from
    it is withdrawn. The use must be the one just recorded: an allowed ``grant.used`` entry by this actor whose use
    number is the grant's count now."""
    from custody.audit.models import AuditEntry

    recorded = AuditEntry.objects.filter(
        action=Action.GRANT_USED,
        outcome=Outcome.ALLOWED,
        grant_ref=grant.ref,
        actor_id=actor.pk,
        details__uses=grant.views_used,
    ).exists()
    if not connection.in_atomic_block or not recorded or grant.holder_id != actor.pk:
        raise _refuse(actor, grant.property, f"grant.{kind}", "use_not_counted", grant=str(grant.pk))
    use = _Use(weakref.ref(grant), actor.pk, kind, frozenset(c.pk for c in cameras), start, end)
    with _LOCK:
        _IN_USE[id(grant)] = use
    try:
        yield
    finally:
        with _LOCK:
            _IN_USE.pop(id(grant), None)
            for authority in use.minted:
                _MINTED.pop(authority, None)
                _ENDED.add(authority)


def for_grant(
    grant: Grant,
    *,
    actor: User,
    guest_ids: Iterable[uuid.UUID] = (),
    stay_ids: Iterable[uuid.UUID] = (),
) -> ReadAuthority:
    """The authority of the grant in use (the object ``grants.using_grant`` yielded), for its holder: the fields
    the request's purpose needs, the guests and stays the caller found within the grant's scope (for guest kinds),
    the request's guest scope (guest lookups), the cameras and window of the use (footage kinds). Usable until the
    use ends."""
    from custody.requests import policy

    with _LOCK:
        use = _IN_USE.get(id(grant))
    if use is None or use.grant() is not grant:
        raise _refuse(actor, grant.property, "grant", "grant_not_in_use", grant=str(grant.pk))
    if use.actor_id != getattr(actor, "pk", None):
        raise _refuse(actor, grant.property, f"grant.{use.kind}", "not_the_holder", grant=str(grant.pk))
    request = grant.request
    guest_kinds = use.kind in ("guest_lookup", "stay_window")
    values: dict[str, Any] = {
        "source": "grant",
        "purpose": f"grant.{use.kind}",
        "actor": actor,
        "prop": grant.property,
        "grant_ref": grant.ref,
        "request_ref": request.number,
        "kind": use.kind,
        "expires": float("inf"),  # ends with the use (withdrawn from the registry when the block ends)
    }
    if guest_kinds:
        values |= {
            "guest_fields": frozenset(grant.fields) & frozenset(Guest.ENCRYPTED_FIELDS),
            "document_fields": frozenset(policy.DOCUMENT_FIELDS_FOR_PURPOSE.get(request.purpose, ())),
            "guest_ids": frozenset(guest_ids),
            "stay_ids": frozenset(stay_ids),
        }
        if use.kind == "guest_lookup":
            values |= {"request_fields": frozenset({"guest_scope"}), "request_ids": frozenset({request.pk})}
    else:
        values |= {"camera_ids": use.cameras, "window_start": use.start, "window_end": use.end}
    authority = _mint(**values)
    with _LOCK:
        if _IN_USE.get(id(grant)) is use:
            use.minted.append(authority)
        else:  # the use ended while this was being made
            _MINTED.pop(authority, None)
            _ENDED.add(authority)
    return authority


def _footage_grant(
    grant: Grant, *, actor: User, kind: str, camera_ids: frozenset[int], start: dt.datetime, end: dt.datetime
) -> ReadAuthority:
    return _mint(
        source="grant",
        purpose=f"grant.{kind}",
        actor=actor,
        prop=grant.property,
        grant_ref=grant.ref,
        request_ref=grant.request.number,
        kind=kind,
        camera_ids=camera_ids,
        window_start=start,
        window_end=end,
    )


def for_playback(token: str, *, actor: User, prop: Property) -> ReadAuthority:
    """Footage of a playback session: the signed session token (made by ``playback.start_session`` after it
    counted the grant use) names the holder, grant, camera and window; the grant must still allow them."""
    from custody.footage import playback
    from custody.footage.models import Camera
    from custody.requests import grants
    from custody.requests.models import Grant

    try:
        session = playback.read_token(token)
    except playback.PlaybackRefused as exc:
        raise _refuse(actor, prop, "grant.footage_view", exc.code) from exc
    grant = Grant.objects.select_related("request", "property").filter(pk=session.grant_id, property=prop).first()
    camera = Camera.objects.filter(pk=session.camera_id, property=prop).first()
    if session.user_id != actor.pk or session.property_id != prop.pk or grant is None or camera is None:
        raise _refuse(actor, prop, "grant.footage_view", "not_this_session")
    code = grants.refusal_code(
        grant, actor=actor, kind="footage_view", cameras=[camera], start=session.start, end=session.end, quota=False
    )
    if code:
        raise _refuse(actor, prop, "grant.footage_view", code, grant=str(grant.pk))
    return _footage_grant(
        grant, actor=actor, kind="footage_view", camera_ids=frozenset({camera.pk}), start=session.start, end=session.end
    )


def for_export(export: Export) -> ReadAuthority:
    """Footage of a queued export, for the worker cutting it: the export's queued entry proves the grant use was
    counted; the grant must still allow its creator this export's cameras and window."""
    from custody.audit.models import AuditEntry
    from custody.requests import grants
    from custody.requests.models import Grant

    grant = Grant.objects.select_related("request", "property").get(pk=export.grant_id)
    actor = export.created_by
    queued = AuditEntry.objects.filter(
        action=Action.EXPORT_QUEUED,
        outcome=Outcome.ALLOWED,
        object_type="evidence.export",
        object_id=str(export.pk),
        grant_ref=grant.ref,
        actor_id=actor.pk,
    ).exists()
    if not queued:
        raise _refuse(actor, grant.property, "grant.footage_export", "use_not_counted", export=str(export.pk))
    cameras = list(export.cameras.all())
    code = grants.refusal_code(
        grant,
        actor=actor,
        kind="footage_export",
        cameras=cameras,
        start=export.requested_start,
        end=export.requested_end,
        quota=False,
    )
    if code:
        raise _refuse(actor, grant.property, "grant.footage_export", code, export=str(export.pk))
    return _footage_grant(
        grant,
        actor=actor,
        kind="footage_export",
        camera_ids=frozenset(c.pk for c in cameras),
        start=export.requested_start,
        end=export.requested_end,
    )
