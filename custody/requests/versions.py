"""Request versions: an approval is given to one exact version of a request (DESIGN invariant 5).

A version is the request's content: everything that decides what a grant would disclose, to whom and why - the type,
purpose (code and words), legal basis, who asks, the legal instrument (reference and the file's SHA-256), the scope
(cameras, areas, footage window, guests and their second identifiers, stay window), the guest fields the purpose
shows, and the grant terms fixed at submission (days valid, uses allowed). Urgency is not content: it moves the due
date, not what anyone may see.

Its digest is HMAC-SHA256 over the canonical JSON (RFC 8785, ``custody.lib.canonical_json``) of that content, under a
key derived with HKDF-SHA256 from the request's own data key (``info = b"custody-request-version/1"``). The content
holds guest identifiers and the sealed text is read through ``custody.requests.sealing``: an unkeyed hash stored
beside the row would let anyone with a copy of the database confirm a guessed name and date of birth; this digest
cannot be recomputed without the key-encryption key. Each field also gets its own digest (the field name is part of
the message), so the timeline can say which fields changed between two versions without keeping the old values.
Nothing here stores or returns plaintext.
"""

from __future__ import annotations

import datetime as dt
import hmac
from dataclasses import dataclass
from hashlib import sha256
from typing import Any

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from custody.lib.canonical_json import canonical_json
from custody.requests import policy, sealing
from custody.requests.models import AccessRequest

DIGEST_INFO = b"custody-request-version/1"
# The content fields, in the order the timeline names them.
CONTENT_FIELDS = (
    "request_type",
    "purpose",
    "purpose_text",
    "legal_basis",
    "requester_kind",
    "organisation",
    "contact",
    "identity_check",
    "instrument_reference",
    "instrument",
    "cameras",
    "areas",
    "window_start",
    "window_end",
    "guests",
    "stay_from",
    "stay_until",
    "fields",
)
# Fixed from the policy when a version is submitted; part of what is approved, not something the requester types.
TERM_FIELDS = ("grant_days", "view_quota")


@dataclass(frozen=True)
class Version:
    digest: str  # of the whole version (hex)
    fields: dict[str, str]  # field name -> digest of that field alone (hex)

    def changed_since(self, earlier: dict[str, str]) -> list[str]:
        """The content fields whose digest differs from ``earlier`` (field names only, in CONTENT_FIELDS order)."""
        return [name for name in CONTENT_FIELDS if earlier.get(name) != self.fields.get(name)]


def _moment(value: dt.datetime | None) -> str | None:
    return value.astimezone(dt.UTC).isoformat() if value is not None else None


def _day(value: dt.date | None) -> str | None:
    return value.isoformat() if value is not None else None


def content(request: AccessRequest, dek: bytes) -> dict[str, Any]:
    """The version's content as canonical-JSON-ready values (sealed fields opened in memory, never stored)."""
    who = sealing.open_json(dek, request, "external_contact", {})
    purpose = request.purpose
    return {
        "request_type": request.request_type,
        "purpose": purpose,
        "purpose_text": sealing.open_text(dek, request, "purpose_text"),
        "legal_basis": request.legal_basis,
        "requester_kind": request.requester_kind,
        "organisation": who.get("organisation", ""),
        "contact": {key: who.get(key, "") for key in ("name", "email", "phone")},
        "identity_check": request.identity_check,
        "instrument_reference": sealing.open_text(dek, request, "instrument_reference"),
        "instrument": request.instrument_sha256,
        "cameras": sorted(request.cameras.values_list("pk", flat=True)),
        "areas": sorted(request.areas.values_list("pk", flat=True)),
        "window_start": _moment(request.window_start),
        "window_end": _moment(request.window_end),
        "guests": sealing.open_json(dek, request, "guest_scope", []),
        "stay_from": _day(request.stay_from),
        "stay_until": _day(request.stay_until),
        "fields": {
            "guest": list(policy.FIELDS_FOR_PURPOSE.get(purpose, policy.NAME)),
            "documents": list(policy.DOCUMENT_FIELDS_FOR_PURPOSE.get(purpose, [])),
        },
        "grant_days": request.grant_days,
        "view_quota": request.view_quota,
    }


def _key(dek: bytes) -> bytes:
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=DIGEST_INFO).derive(dek)


def _mac(key: bytes, value: Any) -> str:
    return hmac.new(key, canonical_json(value), sha256).hexdigest()


def of(request: AccessRequest) -> Version:
    """The digest of the request's content as it is in the database now (its many-to-many scope included)."""
    dek = sealing.key_of(request)
    values = content(request, dek)
    key = _key(dek)
    return Version(
        digest=_mac(key, values),
        fields={name: _mac(key, {"field": name, "value": value}) for name, value in values.items()},
    )


def stamp(request: AccessRequest) -> Version:
    """Store the current version's digests on the row (the caller saves it)."""
    version = of(request)
    request.content_digest = version.digest
    request.field_digests = version.fields
    return version
