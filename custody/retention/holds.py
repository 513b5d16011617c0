"""Legal holds (evidence lock): set, release and read the sealed reason. One audited action each.

A hold keeps every segment of its cameras that overlaps its window from destruction (custody.retention.retention),
also when the disk fills, until it is released. Its reason and release reason are free text that may name people:
they are sealed under the hold's own data key (``LegalHold.wrapped_key``, owner ``retention.legalhold:<uuid>``),
each bound to (table, column, primary key), so the database holds only ciphertext. Audit entries name the hold, the
camera codes and the case reference (a short code, checked here), never the reason.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from django.db import transaction
from django.db.models import Q, Sum
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from custody.audit import gate
from custody.audit.events import Action
from custody.crypto.fields import new_data_key, unwrap_data_key, wrap_data_key
from custody.footage.models import Camera, Segment
from custody.properties.models import Property
from custody.requests import sealing
from custody.requests.models import AccessRequest
from custody.retention.models import LegalHold

CASE_REFERENCE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9./_-]{0,63}$")
REASON_LIMIT = 4000


class HoldError(ValueError):
    """Input that cannot be accepted; ``field`` names the form field (or "" for the hold as a whole)."""

    def __init__(self, field: str, message: Any) -> None:
        super().__init__(f"{field}: {message}" if field else str(message))
        self.field = field
        self.message = message


# --- sealing: the hold's own data key; fields sealed and opened as a request's are (custody.requests.sealing) ------


def _key_of(hold: LegalHold) -> bytes:
    return unwrap_data_key(hold.wrapped_key, owner=hold.key_owner, kek_version=hold.kek_version)


# --- checks --------------------------------------------------------------------------------------------------


def clean_case_reference(value: str) -> str:
    value = (value or "").strip()
    if not value:
        raise HoldError("case_reference", _("Enter the case, claim or order number."))
    if not CASE_REFERENCE.match(value):
        raise HoldError(
            "case_reference",
            _("Use up to 64 letters, digits and - / . _ (a case or order number, never a name)."),
        )
    return value


def clean_reason(field: str, value: str) -> str:
    value = (value or "").strip()
    if not value:
        raise HoldError(field, _("Give the reason."))
    if len(value) > REASON_LIMIT:
        raise HoldError(field, _("Keep the reason under %(n)s characters.") % {"n": REASON_LIMIT})
    return value


def _cameras_of(prop: Property, cameras: Iterable[Camera | int]) -> list[Camera]:
    ids = {c.pk if isinstance(c, Camera) else int(c) for c in cameras}
    if not ids:
        raise HoldError("cameras", _("Choose at least one camera."))
    # The camera rows are locked (in pk order, so two callers never deadlock) until the transaction ends: the
    # retention job takes the same lock before it re-reads the holds and deletes a camera's files.
    found = list(Camera.objects.select_for_update().filter(property=prop, pk__in=ids).order_by("pk"))
    if len(found) != len(ids):
        raise HoldError("cameras", _("A chosen camera is not a camera of this property."))
    return sorted(found, key=lambda camera: camera.code)


# --- actions -------------------------------------------------------------------------------------------------


@transaction.atomic
def set_hold(
    prop: Property,
    *,
    cameras: Iterable[Camera | int],
    start: datetime,
    end: datetime,
    case_reference: str,
    reason: str,
    request: AccessRequest | None = None,
    acting_user: Any,
) -> LegalHold:
    """Lock the footage of ``cameras`` in [start, end) against destruction until the hold is released."""
    chosen = _cameras_of(prop, cameras)
    if start is None:
        raise HoldError("window_start", _("Enter when the held footage starts."))
    if end is None:
        raise HoldError("window_end", _("Enter when the held footage ends."))
    if end <= start:
        raise HoldError("window_end", _("The end must be after the start."))
    reference = clean_case_reference(case_reference)
    text = clean_reason("reason", reason)
    if request is not None and request.property_id != prop.pk:
        raise HoldError("request", _("That request belongs to another property."))
    hold = LegalHold(
        property=prop,
        window_start=start,
        window_end=end,
        case_reference=reference,
        request=request,
        set_by=acting_user,
    )
    dek = new_data_key()
    hold.wrapped_key, hold.kek_version = wrap_data_key(dek, owner=hold.key_owner)
    hold.reason = sealing.seal(dek, hold, "reason", text)
    hold.save(force_insert=True)
    hold.cameras.set(chosen)
    gate.record(
        Action.LEGAL_HOLD_SET,
        actor=acting_user,
        prop=prop,
        obj=hold,
        request_ref=request.number if request is not None else "",
        details={
            "hold": str(hold.pk),
            "cameras": [c.code for c in chosen],
            "case_reference": reference,
            "start": _iso(start),
            "end": _iso(end),
        },
    )
    return hold


@transaction.atomic
def release_hold(hold: LegalHold, *, reason: str, acting_user: Any) -> LegalHold:
    """End a hold: its footage falls back under the cameras' retention (the next run may destroy it)."""
    text = clean_reason("reason", reason)
    locked = LegalHold.objects.select_for_update().get(pk=hold.pk)
    if locked.released_at is not None:
        raise HoldError("", _("This hold was already released."))
    locked.released_at = timezone.now()
    locked.released_by = acting_user
    locked.release_reason = sealing.seal(_key_of(locked), locked, "release_reason", text)
    locked.save(update_fields=["released_at", "released_by", "release_reason"])
    gate.record(
        Action.LEGAL_HOLD_RELEASED,
        actor=acting_user,
        prop=locked.property,
        obj=locked,
        details={"hold": str(locked.pk), "case_reference": locked.case_reference},
    )
    return locked


@dataclass(frozen=True)
class HoldReasons:
    reason: str
    release_reason: str


@transaction.atomic
def read_reasons(hold: LegalHold, *, acting_user: Any) -> HoldReasons:
    """Open a hold's sealed reasons, with the audit entry in the same transaction (callers check the role)."""
    gate.record(
        Action.LEGAL_HOLD_VIEWED,
        actor=acting_user,
        prop=hold.property,
        obj=hold,
        details={"hold": str(hold.pk), "case_reference": hold.case_reference},
    )
    dek = _key_of(hold)
    return HoldReasons(sealing.open_text(dek, hold, "reason"), sealing.open_text(dek, hold, "release_reason"))


# --- queries -------------------------------------------------------------------------------------------------


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass(frozen=True)
class Coverage:
    segments: int
    bytes: int
    live_segments: int
    live_bytes: int


def coverage(hold: LegalHold) -> Coverage:
    """The segments a hold covers: every segment of its cameras overlapping its window (and those still on disk)."""
    rows = Segment.objects.filter(camera__in=hold.cameras.all(), start__lt=hold.window_end, end__gt=hold.window_start)
    live = rows.filter(destroyed_at__isnull=True)
    return Coverage(
        segments=rows.count(),
        bytes=rows.aggregate(total=Sum("size"))["total"] or 0,
        live_segments=live.count(),
        live_bytes=live.aggregate(total=Sum("size"))["total"] or 0,
    )


def active_holds(prop: Property | None = None) -> Any:
    rows = LegalHold.objects.filter(released_at__isnull=True).select_related("property", "set_by")
    return rows.filter(property=prop) if prop is not None else rows


def overlaps(start: datetime, end: datetime) -> Q:
    """Segments overlapping [start, end)."""
    return Q(start__lt=end, end__gt=start)
