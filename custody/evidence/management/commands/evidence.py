"""``custody evidence verify PACKAGE.zip [--public-key FILE]``: check an evidence package offline."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from custody.evidence.verify import verify_package


class Command(BaseCommand):
    help = "Evidence packages. verify: check a package's manifest, signature and files offline (exit 0 = intact)."
    requires_system_checks: list[str] = []
    requires_migrations_checks = False

    def add_arguments(self, parser: CommandParser) -> None:
        actions = parser.add_subparsers(dest="action", required=True, metavar="ACTION")
        verify = actions.add_parser(
            "verify",
            help="Check a package: canonical manifest, Ed25519 signature, every file's size and SHA-256, no extras.",
        )
        verify.add_argument("package", metavar="PACKAGE.zip", help="The evidence package to check.")
        verify.add_argument(
            "--public-key",
            metavar="FILE",
            help="The hotel's published public key (PEM). Without it the key inside the manifest is used, which "
            "proves the package is intact but not who signed it.",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        package = Path(options["package"])
        if not package.is_file():
            raise CommandError(f"{package}: no such file")
        key_pem = None
        if options.get("public_key"):
            key_file = Path(options["public_key"])
            try:
                key_pem = key_file.read_bytes()
            except OSError as exc:
                raise CommandError(f"--public-key {key_file}: {exc.strerror or exc}") from exc
        result = verify_package(package, public_key_pem=key_pem)
        if not result.ok:
            for problem in result.problems:
                self.stderr.write(f"FAILED: {problem}")
            raise CommandError(f"{package.name}: {len(result.problems)} problem(s); the package is not intact")
        self.stdout.write(result.summary())
        if key_pem is None:
            self.stdout.write("Note: checked with the key inside the package; pass --public-key to check who signed.")
