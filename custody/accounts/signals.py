"""Audit of sign-in lockouts, which django-axes reports only through a signal."""

from __future__ import annotations

from typing import Any

from django.conf import settings

from custody.accounts.lockout import address_failures, attempted_username
from custody.accounts.models import User
from custody.audit.events import Action, Outcome
from custody.audit.gate import record


def record_lockout(sender: Any, request: Any = None, username: str | None = None, **kwargs: Any) -> None:
    name = username or (attempted_username(request) if request is not None else "")
    account = User.objects.filter(username=name).first() if name else None
    # Which lock: the user name at this address, or the address itself (over its softer, higher limit).
    scope = "user_and_address"
    over_address_limit = (
        request is not None
        and hasattr(request, "axes_ip_address")
        and (address_failures(request) >= settings.CUSTODY_LOGIN_ADDRESS_FAILURE_LIMIT)
    )
    if over_address_limit:
        scope = "address"
    record(Action.AUTH_LOCKED_OUT, actor=None, obj=account, outcome=Outcome.DENIED, details={"scope": scope})
