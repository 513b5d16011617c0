"""State changes of staff accounts. Each is one transaction with the acting user named."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from django.core.exceptions import PermissionDenied
from django.db import transaction
from django_otp.plugins.otp_static.models import StaticDevice, StaticToken
from django_otp.plugins.otp_totp.models import TOTPDevice

from custody.accounts import invitations, proposals
from custody.accounts.models import Invitation, RoleAssignment, RoleProposal, User
from custody.accounts.roles import TWO_STEP_ROLES, Role
from custody.audit import gate
from custody.audit.events import Action
from custody.audit.gate import record
from custody.properties.models import Property

RECOVERY_CODE_COUNT = 10


def assigned_roles(prop: Property, user: User) -> set[str]:
    """The roles held at this property, also while the account is disabled (User.roles_at is empty then)."""
    return set(RoleAssignment.objects.filter(user=user, property=prop).values_list("role", flat=True))


@dataclass
class NewAccount:
    user: User
    assigned: list[str]  # roles in force now
    proposals: list[RoleProposal]  # two-step roles waiting for another reviewer
    invitation: Invitation
    token: str  # the invitation link's secret: shown once, never stored


def _split_roles(roles: Iterable[str], *, direct_two_step: bool) -> tuple[list[str], list[str]]:
    wanted = {str(Role(r)) for r in roles}
    if direct_two_step:
        return sorted(wanted), []
    return sorted(wanted - TWO_STEP_ROLES), sorted(wanted & TWO_STEP_ROLES)


def _give_roles(
    prop: Property, user: User, direct: Iterable[str], proposed: Iterable[str], acting_user: User | None
) -> list[RoleProposal]:
    held = assigned_roles(prop, user)
    RoleAssignment.objects.bulk_create(
        RoleAssignment(user=user, property=prop, role=r, granted_by=acting_user) for r in sorted(set(direct) - held)
    )
    filed = [proposals.file_proposal(prop, user, r, acting_user=acting_user) for r in sorted(set(proposed) - held)]
    user.__dict__.pop("_roles_cache", None)
    return filed


def _lock_property(prop: Property) -> None:
    # Role changes at one property happen one at a time, so "has no reviewer yet" cannot change under us.
    Property.objects.select_for_update().filter(pk=prop.pk).values_list("pk", flat=True).first()


@transaction.atomic
def do_create_staff(
    prop: Property,
    *,
    acting_user: User | None,
    username: str,
    display_name: str,
    email: str,
    roles: Iterable[str],
    bootstrap: bool = False,
) -> NewAccount:
    """A new account without a password, and the invitation link with which its owner sets one.

    One-step roles are given at once; two-step roles (TWO_STEP_ROLES) are proposed for another reviewer to confirm.
    `bootstrap` (the command line only, acting_user None): while the property has no active reviewer, nobody could
    confirm, so two-step roles are given at once too.
    """
    if bootstrap and acting_user is not None:
        raise ValueError("only the command line bootstraps a property's first reviewers")
    _lock_property(prop)
    direct_two_step = bootstrap and not proposals.has_active_reviewer(prop)
    direct, proposed = _split_roles(roles, direct_two_step=direct_two_step)
    user = User(username=username, display_name=display_name, email=email, created_by=acting_user)
    user.set_unusable_password()
    user.save()
    details: dict[str, object] = {"roles": direct, "proposed": proposed}
    if direct_two_step and set(direct) & TWO_STEP_ROLES:
        details["bootstrap"] = True
    record(Action.STAFF_CREATED, actor=acting_user, prop=prop, obj=user, details=details)
    filed = _give_roles(prop, user, direct, proposed, acting_user)
    invitation, token = invitations.issue(user, acting_user=acting_user, prop=prop)
    return NewAccount(user, direct, filed, invitation, token)


@transaction.atomic
def do_add_roles(
    prop: Property, user: User, roles: Iterable[str], *, acting_user: User | None, bootstrap: bool = False
) -> tuple[list[str], list[RoleProposal]]:
    """Add roles to an existing account (the command line): one-step roles now, two-step ones proposed (or, with
    `bootstrap` while the property has no active reviewer, given now). Returns the roles given and the proposals."""
    if bootstrap and acting_user is not None:
        raise ValueError("only the command line bootstraps a property's first reviewers")
    if acting_user is not None and acting_user.pk == user.pk:
        raise PermissionDenied("You cannot change your own roles.")
    _lock_property(prop)
    before = assigned_roles(prop, user)
    direct_two_step = bootstrap and not proposals.has_active_reviewer(prop)
    direct, proposed = _split_roles(roles, direct_two_step=direct_two_step)
    filed = _give_roles(prop, user, direct, proposed, acting_user)
    given = sorted(set(direct) - before)
    details: dict[str, object] = {
        "roles_before": sorted(before),
        "roles": sorted(assigned_roles(prop, user)),
        "proposed": [p.role for p in filed],
        "fields": [],
    }
    if direct_two_step and set(given) & TWO_STEP_ROLES:
        details["bootstrap"] = True
    record(Action.STAFF_UPDATED, actor=acting_user, prop=prop, obj=user, details=details)
    return given, filed


def do_update_staff(
    prop: Property, user: User, *, acting_user: User, display_name: str, email: str, roles: Iterable[str]
) -> list[RoleProposal]:
    """Change name, e-mail and roles. Roles removed go at once, one-step roles added come at once, two-step roles
    added are proposed (the returned proposals); a role already proposed is not proposed twice."""
    wanted = {str(Role(r)) for r in roles}
    before = assigned_roles(prop, user)
    if user.pk == acting_user.pk and wanted != before:
        # Nobody changes their own roles: that would let one person raise their own privileges.
        gate.record_denied(
            Action.STAFF_UPDATED, actor=acting_user, prop=prop, obj=user, details={"reason": "own_roles"}
        )
        raise PermissionDenied("You cannot change your own roles.")
    with transaction.atomic():
        _lock_property(prop)
        changed = [
            name for name, value in (("display_name", display_name), ("email", email)) if getattr(user, name) != value
        ]
        user.display_name = display_name
        user.email = email
        user.save(update_fields=["display_name", "email"])
        RoleAssignment.objects.filter(user=user, property=prop).exclude(role__in=wanted).delete()
        direct, proposed = _split_roles(wanted, direct_two_step=False)
        filed = _give_roles(prop, user, direct, proposed, acting_user)
        record(
            Action.STAFF_UPDATED,
            actor=acting_user,
            prop=prop,
            obj=user,
            details={
                "roles_before": sorted(before),
                "roles": sorted(assigned_roles(prop, user)),
                "proposed": [p.role for p in filed],
                "fields": changed,
            },
        )
    return filed


@transaction.atomic
def do_set_active(user: User, *, acting_user: User, active: bool, prop: Property | None = None) -> None:
    if user.pk == acting_user.pk:
        raise PermissionDenied("You cannot disable your own account.")
    # An account is one person at every property they work at: only someone who administers all of those
    # properties may switch it off or on.
    theirs = set(RoleAssignment.objects.filter(user=user).values_list("property_id", flat=True))
    mine = set(
        RoleAssignment.objects.filter(user=acting_user, role=Role.IT_ADMIN).values_list("property_id", flat=True)
    )
    if not theirs <= mine:
        raise PermissionDenied("This account also works at a property you do not administer.")
    user.is_active = active
    user.save(update_fields=["is_active"])
    record(Action.STAFF_ENABLED if active else Action.STAFF_DISABLED, actor=acting_user, prop=prop, obj=user)


@transaction.atomic
def do_reset_two_factor(user: User, *, acting_user: User, prop: Property | None = None) -> None:
    """Remove every second factor; the user enrols again at next sign-in."""
    if user.pk == acting_user.pk:
        raise PermissionDenied("Ask another administrator to reset your two-factor sign-in.")
    TOTPDevice.objects.filter(user=user).delete()
    StaticDevice.objects.filter(user=user).delete()
    record(Action.STAFF_TWO_FACTOR_RESET, actor=acting_user, prop=prop, obj=user)


@transaction.atomic
def do_confirm_totp(device: TOTPDevice) -> list[str]:
    """Confirm a freshly enrolled authenticator, drop any older one, and issue new recovery codes."""
    TOTPDevice.objects.filter(user=device.user).exclude(pk=device.pk).delete()
    device.confirmed = True
    device.save(update_fields=["confirmed"])
    record(Action.AUTH_TWO_FACTOR_ENROLLED, actor=device.user, obj=device.user)
    return do_issue_recovery_codes(device.user)


@transaction.atomic
def do_issue_recovery_codes(user: User) -> list[str]:
    StaticDevice.objects.filter(user=user).delete()
    device = StaticDevice.objects.create(user=user, name="recovery", confirmed=True)
    codes = [StaticToken.random_token() + StaticToken.random_token() for _ in range(RECOVERY_CODE_COUNT)]
    StaticToken.objects.bulk_create(StaticToken(device=device, token=code) for code in codes)
    record(Action.AUTH_RECOVERY_CODES_ISSUED, actor=user, obj=user, details={"count": len(codes)})
    return codes


@transaction.atomic
def do_change_password(user: User, password: str) -> None:
    user.set_password(password)
    user.must_change_password = False
    user.save(update_fields=["password", "must_change_password"])
    record(Action.AUTH_PASSWORD_CHANGED, actor=user, obj=user)
