"""Invitation links: a new account sets its own password; whoever created the account never chooses or sees it.

The token is ``secrets.token_urlsafe(32)``; only its SHA-256 is stored, so a copy of the database cannot be turned
into a working link. The link is shown once, to whoever issued it, to hand to the person. It works once and
expires after CUSTODY_INVITATION_HOURS (default 72); issuing a new one revokes the older ones. Only an account that
has no password of its own yet can be invited, so an invitation can never take over an account in use.

Reasons a step is refused (in the denied audit entry): own_account, has_password, inactive (issuing); unknown,
used, revoked, expired, has_password, inactive (using a link).
"""

from __future__ import annotations

import hashlib
import secrets
from datetime import datetime, timedelta

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from custody.accounts.models import Invitation, User
from custody.audit import gate
from custody.audit.events import Action
from custody.properties.models import Property

# Refusals of a link that exists but can no longer be used (410); an unknown token is a 404.
GONE = frozenset({"used", "revoked", "expired", "has_password", "inactive"})


class InvitationRefused(Exception):
    def __init__(self, code: str, invitation: Invitation | None = None) -> None:
        super().__init__(code)
        self.code = code
        self.invitation = invitation


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def invitation_hours() -> int:
    return int(settings.CUSTODY_INVITATION_HOURS)


def issue(user: User, *, acting_user: User | None, prop: Property | None) -> tuple[Invitation, str]:
    """Inside the caller's transaction: a new link for `user` (older open ones revoked); returns it and the token."""
    now = timezone.now()
    Invitation.objects.filter(user=user, used_at__isnull=True, revoked_at__isnull=True).update(revoked_at=now)
    token = secrets.token_urlsafe(32)
    invitation = Invitation.objects.create(
        user=user,
        property=prop,
        token_hash=token_hash(token),
        created_by=acting_user,
        created_at=now,
        expires_at=now + timedelta(hours=invitation_hours()),
    )
    gate.record(
        Action.INVITATION_ISSUED,
        actor=acting_user,
        prop=prop,
        obj=user,
        details={"invitation": invitation.pk, "hours": invitation_hours()},
    )
    return invitation, token


def issue_invitation(user: User, *, acting_user: User, prop: Property) -> tuple[Invitation, str]:
    """A new link for an account that has not set its own password yet (InvitationRefused otherwise)."""
    code = ""
    if user.pk == acting_user.pk:
        code = "own_account"
    elif user.has_usable_password():
        code = "has_password"  # a link would let its holder take over an account that is in use
    elif not user.is_active:
        code = "inactive"
    if code:
        gate.record_denied(Action.INVITATION_ISSUED, actor=acting_user, prop=prop, obj=user, details={"reason": code})
        raise InvitationRefused(code)
    with transaction.atomic():
        return issue(user, acting_user=acting_user, prop=prop)


def _refusal(invitation: Invitation | None, now: datetime) -> str:
    if invitation is None:
        return "unknown"
    if invitation.used_at is not None:
        return "used"
    if invitation.revoked_at is not None:
        return "revoked"
    if invitation.expires_at <= now:
        return "expired"
    if invitation.user.has_usable_password():
        return "has_password"
    if not invitation.user.is_active:
        return "inactive"
    return ""


def _refuse(code: str, invitation: Invitation | None) -> InvitationRefused:
    gate.record_denied(
        Action.INVITATION_ACCEPTED,
        actor=None,
        prop=invitation.property if invitation else None,
        obj=invitation.user if invitation else None,
        details={"reason": code, **({"invitation": invitation.pk} if invitation else {})},
    )
    return InvitationRefused(code, invitation)


def find(token: str) -> Invitation:
    """The usable invitation the token opens; InvitationRefused (after a committed denied entry) otherwise."""
    invitation = (
        Invitation.objects.select_related("user", "property").filter(token_hash=token_hash(token)).first()
        if token
        else None
    )
    code = _refusal(invitation, timezone.now())
    if code:
        raise _refuse(code, invitation)
    assert invitation is not None
    return invitation


def accept(token: str, password: str) -> User:
    """Set the invited account's own password and use the link up; the caller has validated the password."""
    try:
        with transaction.atomic():
            invitation = (
                Invitation.objects.select_for_update(of=("self",))  # the property is an outer join
                .select_related("user", "property")
                .filter(token_hash=token_hash(token))
                .first()
            )
            now = timezone.now()
            code = _refusal(invitation, now)
            if code:
                raise InvitationRefused(code, invitation)
            assert invitation is not None
            user = invitation.user
            user.set_password(password)
            user.must_change_password = False
            user.save(update_fields=["password", "must_change_password"])
            invitation.used_at = now
            invitation.save(update_fields=["used_at"])
            gate.record(
                Action.INVITATION_ACCEPTED,
                actor=user,
                prop=invitation.property,
                obj=user,
                details={"invitation": invitation.pk},
            )
            return user
    except InvitationRefused as refused:
        raise _refuse(refused.code, refused.invitation) from None
