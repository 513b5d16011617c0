"""State changes of staff accounts. Each is one transaction with the acting user named."""

from __future__ import annotations

from collections.abc import Iterable

from django.core.exceptions import PermissionDenied
from django.db import transaction
from django_otp.plugins.otp_static.models import StaticDevice, StaticToken
from django_otp.plugins.otp_totp.models import TOTPDevice

from custody.accounts.models import RoleAssignment, User
from custody.accounts.roles import Role
from custody.audit.events import Action
from custody.audit.gate import record
from custody.properties.models import Property

RECOVERY_CODE_COUNT = 10


@transaction.atomic
def do_create_staff(
    prop: Property,
    *,
    acting_user: User | None,
    username: str,
    display_name: str,
    email: str,
    password: str,
    roles: Iterable[str],
) -> User:
    user = User(username=username, display_name=display_name, email=email, must_change_password=True)
    user.set_password(password)
    user.save()
    _set_roles(prop, user, roles, acting_user)
    record(Action.STAFF_CREATED, actor=acting_user, prop=prop, obj=user, details={"roles": sorted(set(roles))})
    return user


@transaction.atomic
def do_update_staff(
    prop: Property, user: User, *, acting_user: User, display_name: str, email: str, roles: Iterable[str]
) -> None:
    wanted = set(roles)
    if user.pk == acting_user.pk and wanted != user.roles_at(prop):
        # Nobody changes their own roles: that would let one person raise their own privileges.
        raise PermissionDenied("You cannot change your own roles.")
    before = sorted(user.roles_at(prop))
    changed = [
        name for name, value in (("display_name", display_name), ("email", email)) if getattr(user, name) != value
    ]
    user.display_name = display_name
    user.email = email
    user.save(update_fields=["display_name", "email"])
    _set_roles(prop, user, wanted, acting_user)
    record(
        Action.STAFF_UPDATED,
        actor=acting_user,
        prop=prop,
        obj=user,
        details={"roles_before": before, "roles": sorted(wanted), "fields": changed},
    )


def _set_roles(prop: Property, user: User, roles: Iterable[str], acting_user: User | None) -> None:
    wanted = {str(Role(r)) for r in roles}
    RoleAssignment.objects.filter(user=user, property=prop).exclude(role__in=wanted).delete()
    have = set(RoleAssignment.objects.filter(user=user, property=prop).values_list("role", flat=True))
    RoleAssignment.objects.bulk_create(
        RoleAssignment(user=user, property=prop, role=r, granted_by=acting_user) for r in sorted(wanted - have)
    )
    user.__dict__.pop("_roles_cache", None)


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
