"""Using a grant: the only way to guest records outside the front desk's standing purpose, and to footage.

``use_grant`` locks the grant row, re-reads it (so a revocation is effective on the very next use) and checks, in
order: the property, the holder, revocation, validity, the use quota and the scope (camera, window, guest item,
stay window). A refusal commits a ``denied`` audit entry naming the grant and the reason code, then raises
``GrantRefused``. An allowed use counts against the quota and writes ``grant.used`` in the caller's transaction; the
reads it permits are audited again by the vault with the grant's id.

What a grant of each request type may be used for is one complete table (``USES_BY_REQUEST_TYPE``); a type without
a row allows nothing.

Reads under a grant take the read gate's authority (``custody.authority.for_grant``), which ``using_grant`` makes
possible for the grant object it yields until its block ends. Granted guest lookups name each guest by name plus a
second identifier (``SCOPE_ITEM_KEYS``); they return only guests matching both, only their stays that overlap the
grant's stay window (no window: nothing), and only the fields the request's purpose needs
(``policy.FIELDS_FOR_PURPOSE``).
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from django.db import transaction
from django.utils import timezone

from custody import authority
from custody.accounts.models import User
from custody.audit import gate
from custody.audit.events import Action, Outcome
from custody.footage.models import Camera
from custody.guests import vault
from custody.guests.models import Guest, Stay, StayStatus
from custody.properties.models import Property
from custody.requests import sealing
from custody.requests.models import AccessRequest, Grant, RequestType

PURPOSE = "grant"

# What a grant of each request type may be used for. Complete: a test checks every RequestType has its row, and
# ``refusal_code`` refuses a type without one (fail closed).
USES_BY_REQUEST_TYPE: dict[str, frozenset[str]] = {
    RequestType.FOOTAGE_VIEW: frozenset({"footage_view"}),
    RequestType.FOOTAGE_EXPORT: frozenset({"footage_view", "footage_export"}),
    RequestType.GUEST_LOOKUP: frozenset({"guest_lookup"}),
    RequestType.STAY_WINDOW: frozenset({"stay_window"}),
    RequestType.SUBJECT_ACCESS: frozenset({"guest_lookup"}),
    RequestType.ERASURE: frozenset({"guest_lookup"}),
    RequestType.RECTIFICATION: frozenset({"guest_lookup"}),
}

# The one shape of a guest item of a request's scope (dates ISO YYYY-MM-DD); any other finds nothing.
SCOPE_ITEM_KEYS = frozenset({"kind", "surname", "given_names", "second_kind", "second_value"})


class GrantRefused(Exception):
    """The grant does not allow this use; ``code`` says why (also in the audit entry, whose fields are ``denied``)."""

    def __init__(self, code: str, denied: dict[str, Any] | None = None) -> None:
        super().__init__(code)
        self.code = code
        self.denied = denied or {}


def _refuse(grant: Grant | None, prop: Property, actor: User, code: str, details: dict[str, Any]) -> GrantRefused:
    denied = {
        "object_type": "requests.grant",
        "object_id": str(grant.pk) if grant else "",
        "grant_ref": str(grant.pk) if grant else "",
        "request_ref": grant.request.number if grant else "",
        "details": {"reason": code, **details},
    }
    gate.record_denied(Action.GRANT_USED, actor=actor, prop=prop, **denied)
    return GrantRefused(code, denied)


@contextmanager
def using_grant(
    grant_id: uuid.UUID | str,
    *,
    actor: User,
    prop: Property,
    kind: str,
    cameras: Sequence[Camera] = (),
    start: dt.datetime | None = None,
    end: dt.datetime | None = None,
) -> Iterator[Grant]:
    """One use of a grant around the caller's writes, in one transaction:

        with grants.using_grant(grant.pk, actor=user, prop=prop, kind="footage_view", cameras=[camera], ...) as used:
            ...  # what the use does, audited in the same transaction

    Checked first without a lock (``check_use``: a refusal's denied entry is committed at once), then counted under
    the lock (``use_grant``). A refusal under the lock (the grant was revoked or its last use taken in between) rolls
    the transaction back with its denied entry; that entry is written again after the rollback, so none is lost."""
    check_use(grant_id, actor=actor, prop=prop, kind=kind, cameras=cameras, start=start, end=end)
    try:
        with transaction.atomic():
            grant = use_grant(grant_id, actor=actor, prop=prop, kind=kind, cameras=cameras, start=start, end=end)
            with authority.grant_use(grant, actor=actor, kind=kind, cameras=cameras, start=start, end=end):
                yield grant
    except GrantRefused as exc:
        if exc.denied:
            gate.record_denied(Action.GRANT_USED, actor=actor, prop=prop, **exc.denied)
        raise
    except authority.ReadRefused as exc:
        exc.record_again()  # the first one was rolled back with the use
        raise


def use_grant(
    grant_id: uuid.UUID | str,
    *,
    actor: User,
    prop: Property,
    kind: str,
    camera: Camera | None = None,
    cameras: Sequence[Camera] = (),
    start: dt.datetime | None = None,
    end: dt.datetime | None = None,
    guest_item: int | None = None,
) -> Grant:
    """Check and count one use of a grant inside the caller's transaction; GrantRefused (after a committed denied
    entry) when it does not allow it. ``kind``: "footage_view", "footage_export", "guest_lookup", "stay_window".
    Footage uses name the camera, or several ``cameras`` used at once (one export of several cameras is one use)."""
    all_cameras = [camera] if camera is not None else list(cameras)
    details = _use_details(kind, all_cameras, start, end, guest_item)
    grant = (
        Grant.objects.select_for_update(of=("self",)).select_related("request", "property").filter(pk=grant_id).first()
    )
    if grant is None or grant.property_id != prop.pk:
        raise _refuse(None, prop, actor, "no_such_grant", details)
    code = refusal_code(grant, actor=actor, kind=kind, cameras=all_cameras, start=start, end=end, guest_item=guest_item)
    if code:
        raise _refuse(grant, prop, actor, code, details)
    Grant.objects.filter(pk=grant.pk).update(views_used=grant.views_used + 1)
    grant.views_used += 1
    gate.record(
        Action.GRANT_USED,
        actor=actor,
        prop=prop,
        obj=grant,
        request_ref=grant.request.number,
        grant_ref=grant.ref,
        purpose=f"{PURPOSE}.{kind}",
        details={**details, "uses": grant.views_used},
    )
    return grant


def check_use(
    grant_id: uuid.UUID | str,
    *,
    actor: User,
    prop: Property,
    kind: str,
    cameras: Sequence[Camera] = (),
    start: dt.datetime | None = None,
    end: dt.datetime | None = None,
) -> Grant:
    """The same checks as ``use_grant``, counting nothing and locking nothing: call it BEFORE the caller's
    transaction opens, so that a refusal's denied entry is committed (one written inside a transaction that then
    rolls back would be lost). ``use_grant`` checks again under the lock. For footage kinds without ``cameras``
    (a page listing what the grant allows) the camera and window are not checked."""
    details = _use_details(kind, list(cameras), start, end, None)
    grant = Grant.objects.select_related("request", "property").filter(pk=grant_id).first()
    if grant is None or grant.property_id != prop.pk:
        raise _refuse(None, prop, actor, "no_such_grant", details)
    code = refusal_code(
        grant, actor=actor, kind=kind, cameras=list(cameras), start=start, end=end, guest_item=None, scope=bool(cameras)
    )
    if code:
        raise _refuse(grant, prop, actor, code, details)
    return grant


def _use_details(
    kind: str, cameras: list[Camera], start: dt.datetime | None, end: dt.datetime | None, guest_item: int | None
) -> dict[str, Any]:
    details: dict[str, Any] = {"kind": kind}
    if len(cameras) == 1:
        details["camera"] = cameras[0].code
    elif cameras:
        details["cameras"] = [c.code for c in cameras]
    if start is not None and end is not None:
        details |= {"start": start.isoformat(), "end": end.isoformat()}
    if guest_item is not None:
        details["guest_item"] = guest_item
    return details


def refusal_code(
    grant: Grant,
    *,
    actor: User,
    kind: str,
    cameras: Sequence[Camera] = (),
    start: dt.datetime | None = None,
    end: dt.datetime | None = None,
    guest_item: int | None = None,
    scope: bool = True,
    quota: bool = True,
) -> str:
    """Why the grant does not allow this use (a reason code), or "" when it does. ``scope=False`` skips the camera and
    window checks; ``quota=False`` skips the use quota (a playback session already counted its use)."""
    now = timezone.now()
    if grant.holder_id != actor.pk:
        return "not_the_holder"
    if grant.revoked_at is not None:
        return "revoked"
    if now < grant.valid_from or now >= grant.valid_until or grant.expired_at is not None:
        return "expired"
    if quota and grant.view_quota is not None and grant.views_used >= grant.view_quota:
        return "quota_used"
    allowed_kinds = USES_BY_REQUEST_TYPE.get(grant.request.request_type)
    if allowed_kinds is None:
        return "unknown_request_type"
    if kind not in allowed_kinds:
        return "wrong_kind"
    if kind.startswith("footage") and scope:
        granted = set(grant.cameras.values_list("pk", flat=True))
        if not cameras or any(camera.pk not in granted for camera in cameras):
            return "camera_out_of_scope"
        if start is None or end is None or grant.window_start is None or grant.window_end is None:
            return "window_out_of_scope"
        if start < grant.window_start or end > grant.window_end or end <= start:
            return "window_out_of_scope"
    if kind == "guest_lookup" and guest_item is not None and guest_item not in grant.guest_items:
        return "guest_out_of_scope"
    return ""


# --- granted guest lookups ----------------------------------------------------------------------------------------


@dataclass
class GuestResult:
    """One identifier of the grant's scope and what it found: the fields the purpose allows, per guest."""

    index: int
    kind: str
    guests: list[dict[str, Any]] = field(default_factory=list)


def scope_item(item: Any) -> dict[str, str] | None:
    """The guest item as ``vault.find_named_guests`` takes it, or None when it is not of the one shape
    (``SCOPE_ITEM_KEYS``, kind "name", text values, a surname, a known second kind and a value)."""
    if not isinstance(item, dict) or set(item) != SCOPE_ITEM_KEYS or item.get("kind") != "name":
        return None
    if not all(isinstance(item[key], str) for key in SCOPE_ITEM_KEYS):
        return None
    if not item["surname"].strip() or not item["second_value"].strip() or item["second_kind"] not in vault.SECOND_KINDS:
        return None
    return {key: item[key] for key in ("surname", "given_names", "second_kind", "second_value")}


def _matches(item: Any, grant: Grant, prop: Property) -> list[vault.NamedMatch]:
    wanted = scope_item(item)
    if wanted is None or grant.stay_from is None or grant.stay_until is None:
        return []  # fail closed: another shape, or no stay window to bound what is shown
    return vault.find_named_guests(prop, **wanted, stays_from=grant.stay_from, stays_until=grant.stay_until)


def _guest_rows(matches: list[vault.NamedMatch], grant: Grant, reader: authority.ReadAuthority) -> list[dict[str, Any]]:
    rows = []
    document_fields = sorted(reader.document_fields)
    for match in matches:
        guest = match.guest
        row: dict[str, Any] = {"id": str(guest.pk)}
        row["fields"] = vault.read_guest(guest, grant.fields, authority=reader)
        if document_fields:
            row["documents"] = vault.read_identity_documents(guest, document_fields, authority=reader)
        row["stays"] = [
            {
                "id": str(stay.pk),
                "room": stay.room.number if stay.room else "",
                "check_in": stay.check_in_planned,
                "check_out": stay.check_out_planned,
                "status": stay.get_status_display(),
            }
            for stay in match.stays
        ]
        rows.append(row)
    return rows


def granted_guest_lookup(grant_id: uuid.UUID | str, *, actor: User, prop: Property) -> list[GuestResult]:
    """Every guest item the grant covers, looked up exactly (name AND second identifier, blind index then decrypted
    comparison), each guest with only their stays in the grant's stay window; one use."""
    with using_grant(grant_id, actor=actor, prop=prop, kind="guest_lookup") as grant:
        request: AccessRequest = grant.request
        items = sealing.open_guest_scope(request, authority=authority.for_grant(grant, actor=actor))
        found = []
        for index in grant.guest_items:
            item = items[index] if isinstance(index, int) and 0 <= index < len(items) else None
            kind = str(item.get("kind", "")) if isinstance(item, dict) else ""
            found.append((index, kind, _matches(item, grant, prop)))
        reader = authority.for_grant(
            grant,
            actor=actor,
            guest_ids={m.guest.pk for _, _, matches in found for m in matches},
            stay_ids={stay.pk for _, _, matches in found for m in matches for stay in m.stays},
        )
        results = [GuestResult(index, kind, _guest_rows(matches, grant, reader)) for index, kind, matches in found]
        gate.record(
            Action.GUEST_LIST_READ,
            actor=actor,
            prop=prop,
            object_type="requests.grant",
            object_id=grant.ref,
            purpose=f"{PURPOSE}.guest_lookup",
            request_ref=request.number,
            grant_ref=grant.ref,
            outcome=Outcome.ALLOWED,
            details={"found": [len(r.guests) for r in results]},
        )
        return results


@dataclass
class WindowRow:
    stay: Stay
    guests: list[dict[str, str]]


def granted_stay_window(grant_id: uuid.UUID | str, *, actor: User, prop: Property) -> list[WindowRow]:
    """Every stay of the property that overlaps the grant's stay window (arrived on or before its last day and left
    on or after its first), with its guests' fields as the purpose allows; one use, one list read."""
    with using_grant(grant_id, actor=actor, prop=prop, kind="stay_window") as grant:
        assert grant.stay_from is not None and grant.stay_until is not None
        stays = list(
            Stay.objects.filter(
                property=prop,
                status__in=[StayStatus.IN_HOUSE, StayStatus.CHECKED_OUT],
                check_in_planned__lte=grant.stay_until,
                check_out_planned__gte=grant.stay_from,
            )
            .select_related("room", "primary_guest")
            .prefetch_related("stay_guests__guest")
            .order_by("check_in_planned", "id")
        )
        by_stay: dict[uuid.UUID, list[Guest]] = {}
        everyone: dict[uuid.UUID, Guest] = {}
        for stay in stays:
            members = [stay.primary_guest, *(sg.guest for sg in stay.stay_guests.all())]
            members = [g for g in members if not g.is_erased]
            by_stay[stay.pk] = members
            everyone.update({g.pk: g for g in members})
        reader = authority.for_grant(grant, actor=actor, guest_ids=everyone, stay_ids=by_stay)
        fields = vault.read_guests(list(everyone.values()), grant.fields, authority=reader) if everyone else {}
        return [WindowRow(stay, [fields[g.pk] for g in by_stay[stay.pk] if g.pk in fields]) for stay in stays]
