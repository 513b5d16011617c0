"""The one place request free text, guest identifiers and legal instruments are encrypted and decrypted.

Each request has its own data key (wrapped by the key-encryption key, owner ``requests.accessrequest:<uuid>``); the
request's approvals, grants and reviews seal their text under it too. Every value is bound to (table, column, primary
key). Callers decide who may open what and write the audit entry; this module only seals and opens - except the
request's guest scope (the people it names): ``open_guest_scope`` opens it only on a read-gate authority that covers
the request (``custody.authority.for_request`` for its requester and reviewers, ``for_grant`` for a guest lookup in
use) and writes its own ``request.guest_scope.read`` entry in the same transaction.
"""

from __future__ import annotations

import base64
import json
from typing import Any

from django.db import transaction
from django.db.models import Model

from custody import authority as read_gate
from custody.audit import gate
from custody.audit.events import Action
from custody.authority import ReadAuthority
from custody.crypto.fields import decrypt_field, encrypt_field, new_data_key, unwrap_data_key, wrap_data_key
from custody.requests.models import AccessRequest


def new_key(request: AccessRequest) -> bytes:
    """Give a new request its data key (stored wrapped on the row); returns the key for sealing its fields."""
    dek = new_data_key()
    request.wrapped_key, request.kek_version = wrap_data_key(dek, owner=request.key_owner)
    return dek


def key_of(request: AccessRequest) -> bytes:
    return unwrap_data_key(request.wrapped_key, owner=request.key_owner, kek_version=request.kek_version)


def seal(dek: bytes, row: Model, column: str, text: str) -> bytes:
    return encrypt_field(dek, text, table=row._meta.db_table, column=column, pk=str(row.pk))


def open_text(dek: bytes, row: Model, column: str) -> str:
    blob = getattr(row, column)
    if blob is None or len(bytes(blob)) == 0:
        return ""
    return decrypt_field(dek, blob, table=row._meta.db_table, column=column, pk=str(row.pk))


def seal_json(dek: bytes, row: Model, column: str, value: Any) -> bytes:
    return seal(dek, row, column, json.dumps(value, ensure_ascii=False, sort_keys=True, separators=(",", ":")))


def open_json(dek: bytes, row: Model, column: str, default: Any) -> Any:
    text = open_text(dek, row, column)
    return json.loads(text) if text else default


def seal_bytes(dek: bytes, row: Model, column: str, data: bytes) -> bytes:
    return seal(dek, row, column, base64.b64encode(data).decode("ascii"))


def open_bytes(dek: bytes, row: Model, column: str) -> bytes:
    return base64.b64decode(open_text(dek, row, column))


def open_guest_scope(request: AccessRequest, *, authority: ReadAuthority) -> list[dict[str, Any]]:
    """The guest items the request names, decrypted on an authority covering this request; audited (the number of
    items, never their values). ReadRefused after a committed denied entry otherwise."""
    columns = read_gate.require(
        authority,
        Action.REQUEST_GUEST_SCOPE_READ,
        property_id=request.property_id,
        obj_type="requests.accessrequest",
        obj_id=request.pk,
        request_ids=[request.pk],
        request_fields=["guest_scope"],
    )
    with transaction.atomic():
        items = open_json(key_of(request), request, "guest_scope", [])
        items = items if isinstance(items, list) else []
        gate.record(
            Action.REQUEST_GUEST_SCOPE_READ,
            obj=request,
            **{**columns, "request_ref": request.number},
            details={"items": len(items)},
        )
    return items
