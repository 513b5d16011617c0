from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandParser

from custody.audit import keys


class Command(BaseCommand):
    help = "Keys: `custody keys public` prints the audit signing public key (PEM) that verifiers need."

    def add_arguments(self, parser: CommandParser) -> None:
        sub = parser.add_subparsers(dest="subcommand", required=True, metavar="{public}")
        sub.add_parser("public", help="print the audit signing public key and its key id")

    def handle(self, *args: Any, subcommand: str, **options: Any) -> None:
        public = keys.public_key()
        self.stdout.write(keys.public_key_pem(public).rstrip())
        self.stderr.write(f"key id {keys.key_id(public)} (file {keys.key_path()})")
