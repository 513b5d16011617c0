"""The gate: the one module through which reads of personal data and state changes pass.

    with gate.guard(request, "accounts.manage_staff", prop, Action.STAFF_LIST_VIEWED, object_type="property",
                    object_id=prop.pk):
        ...read or change, in the same transaction as the audit entry...

`guard` checks the permission at the property. Refused: a `denied` entry is committed on its own and
PermissionDenied is raised. Allowed: a transaction opens, the `allowed` entry is written in it, and the block
runs inside it, so the read or change and its entry commit together. If the entry cannot be written,
AuditWriteError is raised and nothing is returned (fail closed).

`record(...)` writes an entry inside the caller's transaction, for actions that already checked access.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from django.core.exceptions import PermissionDenied
from django.db import DatabaseError, transaction

from custody.audit.events import Action, Outcome
from custody.audit.log import AuditWriteError, NotAnId, append
from custody.audit.models import AuditEntry


def actor_role(user: Any, prop: Any) -> str:
    if user is None or prop is None or not getattr(user, "is_authenticated", False):
        return ""
    return "+".join(sorted(user.roles_at(prop)))


def record(
    action: Action, *, actor: Any, prop: Any = None, obj: Any = None, object_type: str = "", object_id: Any = "",
    outcome: Outcome = Outcome.ALLOWED, purpose: str = "", request_ref: str = "", grant_ref: str = "",
    details: dict[str, Any] | None = None,
) -> AuditEntry:
    """Write one audit entry in the current transaction; AuditWriteError if that is impossible."""
    if obj is not None:
        object_type = object_type or obj._meta.label_lower
        object_id = object_id or obj.pk
    actor_id = actor.pk if actor is not None and getattr(actor, "is_authenticated", False) else None
    try:
        return append(
            action, actor_id=actor_id, actor_role=actor_role(actor, prop), property_id=prop.pk if prop else None,
            object_type=object_type, object_id=str(object_id or ""), outcome=outcome, purpose=purpose,
            request_ref=request_ref, grant_ref=grant_ref, details=details,
        )
    except (DatabaseError, NotAnId, ValueError) as exc:
        raise AuditWriteError(f"audit entry for {action} could not be written: {exc}") from exc


def record_denied(action: Action | str, *, actor: Any, prop: Any = None, **fields: Any) -> None:
    """Commit a `denied` entry even though the caller is about to fail."""
    with transaction.atomic():
        record(Action(action), actor=actor, prop=prop, outcome=Outcome.DENIED, **fields)


@contextmanager
def guard(
    user: Any, permission: str, prop: Any, action: Action, *, obj: Any = None, object_type: str = "",
    object_id: Any = "", purpose: str = "", details: dict[str, Any] | None = None,
) -> Iterator[AuditEntry]:
    if not user.has_perm(permission, prop):
        record_denied(action, actor=user, prop=prop, obj=obj, object_type=object_type, object_id=object_id,
                      purpose=purpose, details={**(details or {}), "permission": permission})
        raise PermissionDenied
    with transaction.atomic():
        yield record(action, actor=user, prop=prop, obj=obj, object_type=object_type, object_id=object_id,
                     purpose=purpose, details=details)
