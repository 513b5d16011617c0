"""The one place request free text, guest identifiers and legal instruments are encrypted and decrypted.

Each request has its own data key (wrapped by the key-encryption key, owner ``requests.accessrequest:<uuid>``); the
request's approvals, grants and reviews seal their text under it too. Every value is bound to (table, column, primary
key). Callers decide who may open what and write the audit entry; this module only seals and opens.
"""

from __future__ import annotations

import base64
import json
from typing import Any

from django.db.models import Model

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
