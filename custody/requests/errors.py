"""What the request actions refuse, and how a refusal stays on record (issue 12: every refusal audited).

``RequestError`` is input that cannot be accepted; it names the field (a 400 on the form or in the API).
``Refusal`` is a workflow step refused - the wrong state, a four-eyes rule, a role the policy does not name, a
narrowing outside the request - with a reason code. Besides the 4xx its caller answers, a refusal leaves a ``denied``
audit entry of the step it attempted. That entry must outlive the rollback of the refused step: ``audited`` runs an
action in its own transaction and writes the entry after the rollback, and a caller that runs several steps in one
transaction wraps them in ``keeping_refusals``, which writes it again after its own rollback (as
``grants.using_grant`` does for a refused use of a grant).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from functools import wraps
from typing import Any, ParamSpec, TypeVar

from django.db import transaction
from django.utils.translation import gettext_lazy as _

from custody.accounts.models import User
from custody.audit import gate
from custody.audit.events import Action
from custody.requests.models import AccessRequest, Grant

TEXT_LIMIT = 4000


class RequestError(ValueError):
    """Input that cannot be accepted; ``field`` names the form field (or "" for the request as a whole)."""

    def __init__(self, field: str, message: Any) -> None:
        super().__init__(f"{field}: {message}" if field else str(message))
        self.field = field
        self.message = message


class Refusal(RequestError):
    """A workflow step refused; ``code`` says why. Besides the 4xx the caller answers, it leaves a ``denied`` audit
    entry naming the step and the code (``denied`` holds that entry's fields once ``audited`` has written it)."""

    def __init__(self, field: str, message: Any, code: str) -> None:
        super().__init__(field, message)
        self.code = code
        self.denied: dict[str, Any] | None = None


class TransitionRefused(Refusal):
    """The request is not in a state, or the actor not in a position, for this action."""

    def __init__(self, message: Any, code: str = "refused") -> None:
        super().__init__("", message, code)


class NarrowingRefused(Refusal):
    """An approver's narrower scope that reaches outside the request (or past what a grant may be)."""

    def __init__(self, field: str, message: Any, code: str = "narrowing_outside_request") -> None:
        super().__init__(field, message, code)


P = ParamSpec("P")
R = TypeVar("R")


def _denied_entry(step: Action, target: Any, actor: User, exc: Refusal) -> dict[str, Any]:
    """The fields of a refusal's denied entry: the step, its reason code (and field), the request or grant and the
    request's status as it stands after the rollback (read again: the caller's object may be a bare reference)."""
    details: dict[str, Any] = {"reason": exc.code}
    if exc.field:
        details["field"] = exc.field
    if isinstance(target, Grant):
        grant = Grant.objects.select_related("request__property").get(pk=target.pk)
        request = grant.request
        where = {"object_type": "requests.grant", "object_id": str(grant.pk), "grant_ref": grant.ref}
    else:
        request = AccessRequest.objects.select_related("property").get(pk=target.pk)
        where = {"object_type": "requests.accessrequest", "object_id": str(request.pk)}
    details["status"] = request.status
    return {"action": step, "actor": actor, "prop": request.property, "request_ref": request.number, **where,
            "details": details}  # fmt: skip


def record_refusal(exc: Refusal) -> None:
    """Write (again) the denied entry of a refusal; call it after the transaction that held the step rolled back."""
    if exc.denied is None:
        return
    fields = dict(exc.denied)
    action, actor, prop = fields.pop("action"), fields.pop("actor"), fields.pop("prop")
    gate.record_denied(action, actor=actor, prop=prop, **fields)


def refuse(exc: Refusal, step: Action, target: AccessRequest | Grant, actor: User) -> Refusal:
    """Audit a refusal decided outside an action (a view that will not even show the step); returns it to raise."""
    exc.denied = _denied_entry(step, target, actor, exc)
    record_refusal(exc)
    return exc


def audited(step: Action) -> Callable[[Callable[P, R]], Callable[P, R]]:
    """Run an action (``action(target, ..., acting_user=...)``) in its own transaction; when it refuses, the
    transaction rolls back and the denied entry of ``step`` is written after it, so the refusal stays on record.
    Inside a caller's transaction that entry belongs to the caller's: see ``keeping_refusals``."""

    def decorator(action: Callable[P, R]) -> Callable[P, R]:
        @wraps(action)
        def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
            try:
                with transaction.atomic():
                    return action(*args, **kwargs)
            except Refusal as exc:
                if exc.denied is None:
                    actor = kwargs["acting_user"]
                    assert isinstance(actor, User)
                    exc.denied = _denied_entry(step, args[0], actor, exc)
                record_refusal(exc)
                raise

        return wrapper

    return decorator


@contextmanager
def keeping_refusals() -> Iterator[None]:
    """``transaction.atomic()`` for a caller that runs several steps as one (save and submit): a refusal's denied
    entry, rolled back with the caller's transaction, is written again after it (as grants.using_grant does)."""
    try:
        with transaction.atomic():
            yield
    except Refusal as exc:
        record_refusal(exc)
        raise


def check_text(field_name: str, value: str, limit: int = TEXT_LIMIT) -> str:
    """The text, unchanged; RequestError naming the field when it is not text, too long or holds control
    characters."""
    if not isinstance(value, str):
        raise RequestError(field_name, _("must be text."))
    if len(value) > limit:
        raise RequestError(field_name, _("is longer than %(limit)s characters.") % {"limit": limit})
    if any(ord(c) < 32 and c not in "\n\r\t" for c in value):
        raise RequestError(field_name, _("contains control characters."))
    return value
