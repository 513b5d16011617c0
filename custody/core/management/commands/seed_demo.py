from __future__ import annotations

import base64
from typing import Any

from django.core.management.base import BaseCommand, CommandParser
from django_otp.oath import totp

from custody.core.demo import seed_demo


class Command(BaseCommand):
    help = (
        "Create the demo hotel (idempotent): one property, 3 floors, areas of each class, 40 rooms, "
        "6 cameras and one user per role. Prints the demo logins."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--quiet-logins", action="store_true", help="do not print the demo logins")

    def handle(self, *args: Any, **options: Any) -> None:
        logins = seed_demo()
        self.stdout.write(self.style.SUCCESS("Demo hotel ready: Harbour View Hotel (harbour-view)."))
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
