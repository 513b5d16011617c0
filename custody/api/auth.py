"""Bearer-token authentication for /api/v1/, and the per-endpoint check of scope and role.

Only ``Authorization: Bearer <token>`` authenticates: a session cookie does not (the API's views are CSRF-exempt
because nothing but the bearer token is trusted). A missing, unknown, expired or revoked token, or one whose user
is disabled, is a 401. A token without the scope an endpoint needs, or whose user's roles at the token's property
no longer allow it (checked on every call with the same rules as the web UI), is a 403, logged as refused.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.http import HttpRequest
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from ninja.errors import AuthenticationError
from ninja.security import HttpBearer

from custody.accounts.models import User
from custody.api.models import ApiToken
from custody.api.tokens import find_token
from custody.audit import gate
from custody.audit.events import Action
from custody.properties.models import Property

# last_used_at is written at most this often per token, so reads do not each cost a write.
LAST_USED_RESOLUTION = dt.timedelta(minutes=1)


class InvalidToken(AuthenticationError):
    def __init__(self, message: Any) -> None:
        super().__init__(401, str(message))


class ApiForbidden(Exception):
    """A 403: the token lacks a scope or its user's roles do not allow the call."""

    def __init__(self, code: str, message: Any) -> None:
        super().__init__(code)
        self.code = code
        self.message = message


class TokenAuth(HttpBearer):
    def __call__(self, request: HttpRequest) -> ApiToken:
        header = request.headers.get("Authorization", "")
        scheme, _sep, secret = header.partition(" ")
        if not header:
            raise InvalidToken(_("Send the API token in the header: Authorization: Bearer <token>."))
        if scheme.lower() != "bearer" or not secret.strip():
            raise InvalidToken(_("The Authorization header must be: Bearer <token>."))
        return self.authenticate(request, secret.strip())

    def authenticate(self, request: HttpRequest, token: str) -> ApiToken:
        found = find_token(token)
        now = timezone.now()
        if found is None:
            raise InvalidToken(_("The API token is not valid."))
        if found.revoked_at is not None:
            raise InvalidToken(_("The API token has been revoked."))
        if now >= found.expires_at:
            raise InvalidToken(_("The API token has expired."))
        if not found.user.is_active:
            raise InvalidToken(_("The API token's user is disabled."))
        if found.last_used_at is None or now - found.last_used_at >= LAST_USED_RESOLUTION:
            ApiToken.objects.filter(pk=found.pk).update(last_used_at=now)
            found.last_used_at = now
        return found


class Caller:
    """Who is calling: the token, its user and its property (the only property the call can reach)."""

    def __init__(self, token: ApiToken) -> None:
        self.token = token
        self.user: User = token.user
        self.prop: Property = token.property

    def audit_details(self, **details: Any) -> dict[str, Any]:
        return {"api_token": self.token.pk, **details}

    def can(self, permission: str) -> bool:
        return self.user.has_perm(permission, self.prop)

    def deny(self, code: str, message: Any, **details: Any) -> ApiForbidden:
        gate.record_denied(Action.ACCESS_DENIED, actor=self.user, prop=self.prop,
                           details=self.audit_details(reason=code, **details))  # fmt: skip
        return ApiForbidden(code, message)


def caller(request: HttpRequest, scope: str | tuple[str, ...], permission: str | tuple[str, ...]) -> Caller:
    """The caller, once the token carries ``scope`` (or one of them) and its user's roles at the token's property
    allow ``permission`` (or one of them); else a 403 with a denied audit entry."""
    token: ApiToken = request.auth  # type: ignore[attr-defined]  # set by TokenAuth
    who = Caller(token)
    scopes = (scope,) if isinstance(scope, str) else scope
    permissions = (permission,) if isinstance(permission, str) else permission
    if not any(token.has_scope(s) for s in scopes):
        wanted = " or ".join(scopes)
        raise who.deny(
            "missing_scope", _("This token lacks the scope %(scope)s.") % {"scope": wanted}, scope=list(scopes)
        )
    if not any(who.can(p) for p in permissions):
        raise who.deny(
            "role_not_allowed", _("Your roles at this property do not allow this."), permission=list(permissions)
        )
    return who
