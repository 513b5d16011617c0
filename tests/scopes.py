"""Guest-lookup scopes of the one shape ``grants.granted_guest_lookup`` reads (``grants.SCOPE_ITEM_KEYS``).

``seal_guest_scope`` stores such items on a request as the request form stores them: sealed under the request's key.
"""

from __future__ import annotations

from typing import Any

from custody.requests import sealing
from custody.requests.models import AccessRequest


def named(surname: str, given_names: str, second_kind: str, second_value: str) -> dict[str, str]:
    """One guest item: a name plus a second identifier."""
    return {
        "kind": "name",
        "surname": surname,
        "given_names": given_names,
        "second_kind": second_kind,
        "second_value": second_value,
    }


def seal_guest_scope(request: AccessRequest, items: list[dict[str, Any]]) -> None:
    request.guest_scope = sealing.seal_json(sealing.key_of(request), request, "guest_scope", items)
    request.save(update_fields=["guest_scope"])
