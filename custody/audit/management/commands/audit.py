from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from custody.audit import keys, log
from custody.audit.exporting import export_lines
from custody.audit.verify import load_heads_file, verify_stored


class Command(BaseCommand):
    help = "The tamper-evident audit log: verify it, export it for outside verification, show or sign tree heads."

    def add_arguments(self, parser: CommandParser) -> None:
        sub = parser.add_subparsers(dest="subcommand", required=True, metavar="{verify,export,head,sign}")
        check = sub.add_parser("verify", help="recompute every entry and check every signed tree head")
        check.add_argument("--tree-head", action="append", default=[], metavar="FILE",
                           help="a tree head (JSON) or file of them (JSON Lines) kept outside the database; "
                                "the log must still match it (repeatable)")
        check.add_argument("--public-key", metavar="FILE", help="PEM public key to check signatures with "
                           "(default: this installation's key)")
        export = sub.add_parser("export", help="write entries and tree heads as JSON Lines")
        export.add_argument("--since", type=int, default=0, metavar="SEQ", help="only entries after this seq")
        export.add_argument("--format", choices=["jsonl"], default="jsonl")
        export.add_argument("--output", "-o", metavar="FILE", help="write here instead of standard output")
        sub.add_parser("head", help="print the latest signed tree head as JSON")
        sign = sub.add_parser("sign", help="sign a tree head now (the worker signs within a minute of "
                              "any new entry, and each `custody` command that writes signs at its end)")
        sign.add_argument("--force", action="store_true", help="sign even if no entry was added since the last")

    def handle(self, *args: Any, subcommand: str, **options: Any) -> None:
        getattr(self, f"do_{subcommand}")(**options)

    def do_verify(self, *, tree_head: list[str], public_key: str | None, **_: Any) -> None:
        key = None
        if public_key:
            try:
                key = keys.load_public_key_pem(Path(public_key).read_bytes())
            except (OSError, ValueError) as exc:
                raise CommandError(f"--public-key {public_key}: {exc}") from None
        extra = []
        for name in tree_head:
            try:
                extra += load_heads_file(Path(name).read_text(encoding="utf-8"), name)
            except (OSError, ValueError) as exc:
                raise CommandError(f"--tree-head {name}: {exc}") from None
        report = verify_stored(key, extra)
        if not report.ok:
            self.stderr.write(f"AUDIT LOG VERIFICATION FAILED: {report.problems[0]}")
            sys.exit(1)
        self.stdout.write(f"OK: {report.entries} entries and {report.tree_heads} signed tree heads verified; "
                          f"root {report.root_hash}")

    def do_export(self, *, since: int, output: str | None, **_: Any) -> None:
        if since < 0:
            raise CommandError("--since must be 0 or more")
        if output:
            with Path(output).open("w", encoding="utf-8") as handle:
                count = sum(1 for line in export_lines(since) if handle.write(line + "\n"))
            self.stderr.write(f"wrote {count} lines to {output}")
        else:
            for line in export_lines(since):
                self.stdout.write(line)

    def do_head(self, **_: Any) -> None:
        head = log.latest_tree_head()
        if head is None:
            raise CommandError("no tree head has been signed yet; run `custody audit sign`")
        self.stdout.write(json.dumps(head.published(), sort_keys=True))

    def do_sign(self, *, force: bool, **_: Any) -> None:
        head = log.sign_tree_head(force=force)
        if head is None:
            self.stdout.write("nothing new since the last tree head (use --force to sign anyway)")
        else:
            self.stdout.write(json.dumps(head.published(), sort_keys=True))
