from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.utils import timezone

from custody.accounts.models import User
from custody.api import tokens
from custody.api.models import ApiToken, Scope
from custody.properties.models import Property


class Command(BaseCommand):
    help = (
        "API tokens for /api/v1/: create (the secret is printed once), list, revoke. A token acts for one user at "
        "one property, carries scopes (" + ", ".join(Scope.values) + ") and never more rights than the user's "
        "roles there. See docs/api.md."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        sub = parser.add_subparsers(dest="action", required=True)
        create = sub.add_parser("create", help="create a token and print its secret (shown only this once)")
        create.add_argument("--user", required=True, help="username of the staff member the token acts for")
        create.add_argument("--property", required=True, help="property code")
        create.add_argument(
            "--scope", action="append", required=True, choices=Scope.values, help="a scope (repeat for several)"
        )
        create.add_argument("--days", type=int, default=30, help=f"valid for 1 to {tokens.MAX_DAYS} days (default 30)")
        create.add_argument("--name", default="", help="what the token is for (default: the user and property)")
        listing = sub.add_parser("list", help="list tokens (never their secrets)")
        listing.add_argument("--property", help="only this property's tokens")
        listing.add_argument("--user", help="only this user's tokens")
        revoke = sub.add_parser("revoke", help="revoke a token at once")
        revoke.add_argument("token_id", type=int, help="the token's id (see list)")

    def handle(self, *args: Any, **options: Any) -> None:
        getattr(self, f"_{options['action']}")(options)

    def _create(self, options: dict[str, Any]) -> None:
        user = User.objects.filter(username=options["user"]).first()
        if user is None:
            raise CommandError(f"--user {options['user']!r}: no such user.")
        prop = Property.objects.filter(code=options["property"]).first()
        if prop is None:
            raise CommandError(f"--property {options['property']!r}: no such property.")
        name = options["name"] or f"{user.get_username()}@{prop.code}"
        try:
            token, secret = tokens.create_token(
                prop, user, name=name, scopes=options["scope"], days=options["days"], acting_user=None
            )
        except tokens.TokenError as exc:
            raise CommandError(f"--{exc.field}: {exc.message}") from None
        self.stdout.write(
            f"Token {token.pk} for {user.get_username()} at {prop.code}, scopes {' '.join(token.scopes)}, "
            f"expires {token.expires_at:%Y-%m-%d %H:%M} UTC."
        )
        self.stdout.write("Secret (shown only now; keep it like a password):")
        self.stdout.write(secret)

    def _list(self, options: dict[str, Any]) -> None:
        rows = ApiToken.objects.select_related("user", "property").order_by("property__code", "-created_at")
        if options["property"]:
            rows = rows.filter(property__code=options["property"])
        if options["user"]:
            rows = rows.filter(user__username=options["user"])
        now = timezone.now()
        for token in rows:
            if token.revoked_at:
                state = f"revoked {token.revoked_at:%Y-%m-%d}"
            elif token.expires_at <= now:
                state = f"expired {token.expires_at:%Y-%m-%d}"
            else:
                state = f"active until {token.expires_at:%Y-%m-%d %H:%M}"
            used = f"{token.last_used_at:%Y-%m-%d %H:%M}" if token.last_used_at else "never"
            self.stdout.write(
                f"{token.pk}\t{token.hint}…\t{token.property.code}\t{token.user.get_username()}\t"
                f"{','.join(token.scopes)}\t{state}\tlast used {used}\t{token.name}"
            )

    def _revoke(self, options: dict[str, Any]) -> None:
        token = ApiToken.objects.filter(pk=options["token_id"]).first()
        if token is None:
            raise CommandError(f"No token {options['token_id']}.")
        try:
            tokens.revoke_token(token, acting_user=None)
        except tokens.TokenError as exc:
            raise CommandError(exc.message) from None
        self.stdout.write(f"Token {token.pk} revoked.")
