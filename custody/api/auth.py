"""Bearer-token authentication for /api/v1/, and the per-endpoint check of scope and role.

Only ``Authorization: Bearer <token>`` authenticates: a session cookie does not (the API's views are CSRF-exempt
because nothing but the bearer token is trusted). A missing, unknown, expired or revoked token, or one whose user
is disabled, is a 401. A token without the scope an endpoint needs, or whose user's roles at the token's property
no longer allow it (checked on every call with the same rules as the web UI), is a 403, logged as refused.

Every 401 writes a denied ``access.denied`` audit entry with a reason code (``REFUSALS``): for a token that exists,
its id, user and property; for one that does not, a keyed fingerprint (``tokens.refused_fingerprint``), never the
token. Refusals are counted per client address (``CUSTODY_API_TOKEN_FAILURE_LIMIT`` per
``CUSTODY_API_TOKEN_FAILURE_WINDOW_MINUTES``, in the database so every server process shares the count); once an
address has used them up, every call from it is a 429 until the window ends - a valid token too, or guessing would
go on - each logged with the reason ``rate_limited``.
"""

from __future__ import annotations

import datetime as dt
from typing import Any, NoReturn

from django.conf import settings
from django.http import HttpRequest
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext
from ninja.errors import AuthenticationError, HttpError
from ninja.security import HttpBearer

from custody.accounts.models import User
from custody.api.models import ApiToken
from custody.api.tokens import find_token, refused_fingerprint
from custody.audit import gate
from custody.audit.events import Action
from custody.core import ratelimit
from custody.properties.models import Property

# last_used_at is written at most this often per token, so reads do not each cost a write.
LAST_USED_RESOLUTION = dt.timedelta(minutes=1)


# Why a call was refused before it reached an endpoint (the audit entry's reason code), and what it is told.
REFUSALS: dict[str, Any] = {
    "no_token": _("Send the API token in the header: Authorization: Bearer <token>."),
    "malformed_header": _("The Authorization header must be: Bearer <token>."),
    "unknown_token": _("The API token is not valid."),
    "revoked_token": _("The API token has been revoked."),
    "expired_token": _("The API token has expired."),
    "user_disabled": _("The API token's user is disabled."),
}


class InvalidToken(AuthenticationError):
    def __init__(self, message: Any) -> None:
        super().__init__(401, str(message))


class TooManyInvalidTokens(HttpError):
    """A 429: this client address sent too many invalid tokens; ``retry_after`` seconds until its window ends."""

    def __init__(self, retry_after: int) -> None:
        message = ngettext(
            "Too many invalid API tokens from this address. Try again in %(seconds)s second.",
            "Too many invalid API tokens from this address. Try again in %(seconds)s seconds.",
            retry_after,
        ) % {"seconds": retry_after}
        super().__init__(429, message)
        self.retry_after = retry_after


def token_failure_limit() -> ratelimit.Limit:
    return ratelimit.Limit(
        "api.token.failure.address",
        settings.CUSTODY_API_TOKEN_FAILURE_LIMIT,
        settings.CUSTODY_API_TOKEN_FAILURE_WINDOW_MINUTES * 60,
    )


class ApiForbidden(Exception):
    """A 403: the token lacks a scope or its user's roles do not allow the call."""

    def __init__(self, code: str, message: Any) -> None:
        super().__init__(code)
        self.code = code
        self.message = message


class TokenAuth(HttpBearer):
    def __call__(self, request: HttpRequest) -> ApiToken:
        address = request.META.get("REMOTE_ADDR") or "unknown"
        header = request.headers.get("Authorization", "")
        scheme, _sep, secret = header.partition(" ")
        try:
            ratelimit.check(token_failure_limit(), address)
        except ratelimit.RateLimited as exc:
            self.refuse(address, "rate_limited", secret=secret.strip(), retry_after=exc.retry_after)
        if not header:
            self.refuse(address, "no_token")
        if scheme.lower() != "bearer" or not secret.strip():
            self.refuse(address, "malformed_header")
        return self.authenticate(request, secret.strip())

    def authenticate(self, request: HttpRequest, token: str) -> ApiToken:
        address = request.META.get("REMOTE_ADDR") or "unknown"
        found = find_token(token)
        now = timezone.now()
        if found is None:
            self.refuse(address, "unknown_token", secret=token)
        elif found.revoked_at is not None:
            self.refuse(address, "revoked_token", found=found)
        elif now >= found.expires_at:
            self.refuse(address, "expired_token", found=found)
        elif not found.user.is_active:
            self.refuse(address, "user_disabled", found=found)
        if found.last_used_at is None or now - found.last_used_at >= LAST_USED_RESOLUTION:
            ApiToken.objects.filter(pk=found.pk).update(last_used_at=now)
            found.last_used_at = now
        return found

    @staticmethod
    def refuse(
        address: str, code: str, *, secret: str = "", found: ApiToken | None = None, retry_after: int | None = None
    ) -> NoReturn:
        """Log the refusal (denied entry with its reason code), count it against the address, and raise the 401
        (or the 429 when the address has no refusals left)."""
        details: dict[str, Any] = {"reason": code}
        if found is None:
            found = find_token(secret) if code == "rate_limited" and secret else None
        if found is not None:
            details["api_token"] = found.pk
        elif secret:
            details["token_fingerprint"] = refused_fingerprint(secret)
        gate.record_denied(
            Action.ACCESS_DENIED,
            actor=found.user if found is not None else None,
            prop=found.property if found is not None else None,
            object_type=ApiToken._meta.label_lower if found is not None else "",
            object_id=found.pk if found is not None else "",
            details=details,
        )
        if retry_after is not None:
            raise TooManyInvalidTokens(retry_after)
        try:
            ratelimit.hit(token_failure_limit(), address)
        except ratelimit.RateLimited as exc:  # others from this address used up the last ones meanwhile
            raise TooManyInvalidTokens(exc.retry_after) from None
        raise InvalidToken(REFUSALS[code])


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
