from __future__ import annotations

import os
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.urls import reverse

from custody.accounts import actions, invitations
from custody.accounts.forms import StaffCreateForm
from custody.accounts.models import RoleProposal, User
from custody.accounts.roles import TWO_FACTOR_ROLES, TWO_STEP_ROLES, Role
from custody.properties.models import Property


class Command(BaseCommand):
    help = (
        "Create a staff user with one or more roles at a property, or add roles to an existing user. "
        "A new user gets an invitation link (printed once) with which they set their own password. "
        "Security manager, privacy officer, property manager and IT admin are given in two steps: the command "
        "files a proposal that another reviewer at the property confirms on the Role proposals page; only while "
        "the property has no active reviewer yet (its first accounts) does it give them at once. "
        "Roles: " + ", ".join(Role.values)
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("username")
        parser.add_argument(
            "--role", action="append", required=True, choices=Role.values, help="role to grant (repeat for several)"
        )
        parser.add_argument("--property", help="property code (may be left out when there is only one)")
        parser.add_argument("--display-name", default="")
        parser.add_argument("--email", default="")

    def handle(self, *args: Any, **options: Any) -> None:
        if os.environ.get("CUSTODY_NEW_PASSWORD"):
            raise CommandError(
                "CUSTODY_NEW_PASSWORD is no longer read: a new user sets their own password with the invitation "
                "link this command prints. Unset it and run the command again."
            )
        prop = self._property(options["property"])
        username: str = options["username"]
        roles: list[str] = sorted(set(options["role"]))
        existing = User.objects.filter(username=username).first()
        if existing is not None:
            _given, filed = actions.do_add_roles(prop, existing, roles, acting_user=None, bootstrap=True)
            held = sorted(actions.assigned_roles(prop, existing) & set(roles))
            self.stdout.write(f"User {username} now holds {', '.join(held) or 'none of these roles'} at {prop.code}.")
            self._report_proposals(filed)
            return
        form = StaffCreateForm(
            data={
                "username": username,
                "display_name": options["display_name"] or username,
                "email": options["email"],
                "roles": roles,
            }
        )
        if not form.is_valid():
            raise CommandError(
                "; ".join(f"{field}: {' '.join(str(e) for e in errs)}" for field, errs in form.errors.items())
            )
        account = actions.do_create_staff(
            prop,
            acting_user=None,
            username=username,
            display_name=form.cleaned_data["display_name"],
            email=form.cleaned_data["email"],
            roles=roles,
            bootstrap=True,
        )
        given = ", ".join(account.assigned) or "no role yet"
        self.stdout.write(f"User {username} created with {given} at {prop.code}.")
        if set(account.assigned) & TWO_STEP_ROLES:
            self.stdout.write(
                "The property had no active reviewer, so the two-step roles were given at once (first accounts)."
            )
        self._report_proposals(account.proposals)
        self.stdout.write(
            f"Invitation link (works once, valid {invitations.invitation_hours()} hours, shown only now): give it "
            "to the user, who sets their own password with it:"
        )
        self.stdout.write(f"  {self._link(account.token)}")
        if set(roles) & TWO_FACTOR_ROLES:
            self.stdout.write(
                "This role requires two-factor sign-in: the user enrols an authenticator at first sign-in."
            )

    def _report_proposals(self, filed: list[RoleProposal]) -> None:
        if filed:
            self.stdout.write(
                f"Proposed, awaiting confirmation by a reviewer at {filed[0].property.code}: "
                + ", ".join(p.role for p in filed)
                + ". It takes effect when they confirm it on the Role proposals page."
            )

    def _link(self, token: str) -> str:
        path = reverse("accounts:accept_invitation", kwargs={"token": token})
        # The address people open this installation at (CUSTODY_PUBLIC_URL), as in every e-mailed link.
        return str(settings.CUSTODY_PUBLIC_URL).rstrip("/") + path

    def _property(self, code: str | None) -> Property:
        if code:
            prop = Property.objects.filter(code=code).first()
            if prop is None:
                raise CommandError(f"--property {code!r}: no such property.")
            return prop
        props = list(Property.objects.all()[:2])
        if len(props) != 1:
            raise CommandError("--property is required when there is not exactly one property.")
        return props[0]
