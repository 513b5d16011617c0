"""Creating, finding and revoking API tokens: one audited action each (STYLE rule 2).

The secret is ``cust_`` followed by 32 random bytes, URL-safe base64. Only its SHA-256 is stored, so a copy of
the database holds nothing that authenticates. Audit entries name the token, its user and its scope codes; never
the secret or the token's free-text name; a refused token that matches none is named by a keyed fingerprint.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import secrets
from collections.abc import Iterable

from django.db import transaction
from django.utils import timezone
from django.utils.crypto import salted_hmac

from custody.accounts.models import User
from custody.api.models import ApiToken, Scope
from custody.audit import gate
from custody.audit.events import Action
from custody.properties.models import Property

SECRET_PREFIX = "cust_"  # noqa: S105  # a marker, not a secret
MAX_DAYS = 90
# What the user's roles must allow at the property for a token to carry each scope (custody.requests.rules).
SCOPE_PERMISSIONS: dict[str, str] = {
    Scope.REQUESTS_READ: "requests.file",
    Scope.REQUESTS_WRITE: "requests.file",
    Scope.REQUESTS_REVIEW: "requests.review",
    Scope.GRANTS_USE: "requests.file",
}


class TokenError(ValueError):
    """A token cannot be created or revoked as asked; ``field`` names the option at fault."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field
        self.message = message


def hash_secret(secret: str) -> str:
    return hashlib.sha256(secret.encode("utf-8", "surrogatepass")).hexdigest()


def refused_fingerprint(secret: str) -> str:
    """What the audit entry of a refused unknown token records: a short keyed hash (HMAC-SHA256 under the Django
    secret key, 64 bits), enough to see the same wrong token again, useless to recover or replay it."""
    return salted_hmac("custody.api.refused-token", secret, algorithm="sha256").hexdigest()[:16]


def find_token(secret: str) -> ApiToken | None:
    """The token whose secret this is (usable or not), or None."""
    if not secret.startswith(SECRET_PREFIX) or len(secret) > 200:
        return None
    return ApiToken.objects.select_related("user", "property").filter(token_hash=hash_secret(secret)).first()


@transaction.atomic
def create_token(
    prop: Property, user: User, *, name: str, scopes: Iterable[str], days: int, acting_user: User | None
) -> tuple[ApiToken, str]:
    """A new token and its secret (the only time the secret exists outside the caller's hands)."""
    name = name.strip()
    if not name or len(name) > 100 or any(ord(c) < 32 for c in name):
        raise TokenError("name", "give the token a name of 1 to 100 printable characters")
    wanted = sorted(set(scopes))
    if not wanted:
        raise TokenError("scope", f"name at least one scope: {', '.join(Scope.values)}")
    unknown = [s for s in wanted if s not in Scope.values]
    if unknown:
        raise TokenError("scope", f"unknown scope {unknown[0]!r}; scopes are {', '.join(Scope.values)}")
    if not 1 <= days <= MAX_DAYS:
        raise TokenError("days", f"a token is valid for 1 to {MAX_DAYS} days")
    if not user.is_active:
        raise TokenError("user", f"{user.get_username()} is disabled")
    for scope in wanted:
        if not user.has_perm(SCOPE_PERMISSIONS[scope], prop):
            raise TokenError(
                "scope",
                f"{user.get_username()}'s roles at {prop.code} do not allow {scope} (a token never has "
                "more rights than its user)",
            )
    secret = SECRET_PREFIX + secrets.token_urlsafe(32)
    now = timezone.now()
    token = ApiToken.objects.create(
        property=prop,
        user=user,
        name=name,
        scopes=wanted,
        token_hash=hash_secret(secret),
        hint=secret[: len(SECRET_PREFIX) + 4],
        created_at=now,
        expires_at=now + dt.timedelta(days=days),
    )
    gate.record(
        Action.API_TOKEN_CREATED,
        actor=acting_user,
        prop=prop,
        obj=token,
        details={"token": token.pk, "user": user.pk, "scopes": wanted, "expires_at": token.expires_at.isoformat()},
    )
    return token, secret


@transaction.atomic
def revoke_token(token: ApiToken, *, acting_user: User | None) -> ApiToken:
    """Effective at once: every call re-reads the token."""
    token = ApiToken.objects.select_for_update().select_related("property").get(pk=token.pk)
    if token.revoked_at is not None:
        raise TokenError("token", f"token {token.pk} is already revoked")
    token.revoked_at = timezone.now()
    token.save(update_fields=["revoked_at"])
    gate.record(
        Action.API_TOKEN_REVOKED,
        actor=acting_user,
        prop=token.property,
        obj=token,
        details={"token": token.pk, "user": token.user_id, "scopes": sorted(token.scopes)},
    )
    return token
