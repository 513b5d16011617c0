from __future__ import annotations

import getpass
import os
from typing import Any

from django.contrib.auth import password_validation
from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import transaction

from custody.accounts import actions
from custody.accounts.forms import StaffCreateForm
from custody.accounts.models import RoleAssignment, User
from custody.accounts.roles import TWO_FACTOR_ROLES, Role
from custody.properties.models import Property


class Command(BaseCommand):
    help = (
        "Create a staff user with one or more roles at a property, or add roles to an existing user. "
        "The password is read from CUSTODY_NEW_PASSWORD or asked for; the user must change it at first "
        "sign-in. Roles: " + ", ".join(Role.values)
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
        prop = self._property(options["property"])
        username: str = options["username"]
        roles: list[str] = sorted(set(options["role"]))
        existing = User.objects.filter(username=username).first()
        if existing is not None:
            with transaction.atomic():
                for role in roles:
                    RoleAssignment.objects.get_or_create(user=existing, property=prop, role=role)
            self.stdout.write(f"User {username} now holds {', '.join(roles)} at {prop.code}.")
            return
        password = os.environ.get("CUSTODY_NEW_PASSWORD") or self._ask_password()
        form = StaffCreateForm(
            data={
                "username": username,
                "display_name": options["display_name"] or username,
                "email": options["email"],
                "password1": password,
                "password2": password,
                "roles": roles,
            }
        )
        if not form.is_valid():
            raise CommandError(
                "; ".join(f"{field}: {' '.join(str(e) for e in errs)}" for field, errs in form.errors.items())
            )
        actions.do_create_staff(
            prop,
            acting_user=None,
            username=username,
            display_name=form.cleaned_data["display_name"],
            email=form.cleaned_data["email"],
            password=password,
            roles=roles,
        )
        self.stdout.write(f"User {username} created with {', '.join(roles)} at {prop.code}.")
        if set(roles) & TWO_FACTOR_ROLES:
            self.stdout.write(
                "This role requires two-factor sign-in: the user enrols an authenticator at first sign-in."
            )

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

    def _ask_password(self) -> str:
        first = getpass.getpass("Temporary password: ")
        if first != getpass.getpass("Again: "):
            raise CommandError("The two passwords differ.")
        try:
            password_validation.validate_password(first)
        except ValidationError as exc:
            raise CommandError(" ".join(exc.messages)) from None
        return first
