from __future__ import annotations

import base64
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.test.utils import override_settings
from django_otp.oath import totp

from custody.core.demo import PROPERTY_CODE, seed_demo
from custody.core.demo_guests import seed_demo_guests
from custody.core.demo_requests import seed_demo_requests
from custody.properties.models import Property


class Command(BaseCommand):
    help = (
        "Create the demo hotel (idempotent): one property, 3 floors, areas of each class, 40 rooms, 6 cameras placed "
        "on the plans with 3 minutes of generated footage each, one user per role, then synthetic demo guests and "
        "stays over the last 18 months (only while the hotel has no guests) and demo access requests. Prints the "
        "demo logins."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--quiet-logins", action="store_true", help="do not print the demo logins")
        parser.add_argument("--guests", type=int, default=2000, help="demo guests to create (default 2000)")
        parser.add_argument("--stays", type=int, default=5000, help="demo stays to create (default 5000)")
        parser.add_argument("--no-guests", action="store_true", help="create the hotel only: no guests, no stays")
        parser.add_argument(
            "--no-footage",
            action="store_true",
            help="generate no demo footage (then there is no demo footage export either)",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        if not options["no_guests"]:
            if options["guests"] < 0 or options["stays"] < 0:
                raise CommandError("--guests and --stays take a number of 0 or more.")
            if options["stays"] and not options["guests"]:
                raise CommandError("--stays needs at least one guest (--guests).")
        logins = seed_demo(footage=not options["no_footage"])
        self.stdout.write(self.style.SUCCESS("Demo hotel ready: Harbour View Hotel (harbour-view)."))
        if not options["no_guests"]:
            prop = Property.objects.get(code=PROPERTY_CODE)
            guests, stays = seed_demo_guests(prop, guests=options["guests"], stays=options["stays"])
            self.stdout.write(self.style.SUCCESS(f"Demo guests: {guests} guests, {stays} stays."))
            # The seeded requests would e-mail the demo approvers; nobody reads those mails.
            with override_settings(EMAIL_BACKEND="django.core.mail.backends.dummy.EmailBackend"):
                requests = seed_demo_requests(prop)
            self.stdout.write(self.style.SUCCESS(f"Demo access requests: {requests}."))
        if options["quiet_logins"]:
            return
        self.stdout.write("\nDemo logins (also stored in $CUSTODY_HOME/demo-logins.txt):")
        self.stdout.write(f"  {'user':<11} {'role':<17} {'password':<18} two-factor")
        for login in logins:
            if login.totp_secret:
                now_code = totp(base64.b32decode(login.totp_secret))
                second = (
                    f"TOTP secret {login.totp_secret} (code now: {now_code:06d}); "
                    f"recovery code {login.recovery_codes[0] if login.recovery_codes else '-'}"
                )
            else:
                second = "not required"
            self.stdout.write(f"  {login.username:<11} {login.role:<17} {login.password:<18} {second}")
        self.stdout.write("\nAdd the TOTP secret to any authenticator app, or use a recovery code once.")
