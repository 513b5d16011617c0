"""Audit of sign-in lockouts, which django-axes reports only through a signal."""

from __future__ import annotations

from typing import Any

from custody.accounts.lockout import attempted_username
from custody.accounts.models import User
from custody.audit.events import Action, Outcome
from custody.audit.gate import record


def record_lockout(sender: Any, request: Any = None, username: str | None = None, **kwargs: Any) -> None:
    name = username or (attempted_username(request) if request is not None else "")
    account = User.objects.filter(username=name).first() if name else None
    record(Action.AUTH_LOCKED_OUT, actor=None, obj=account, outcome=Outcome.DENIED)
