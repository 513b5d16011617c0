"""`custody import stays FILE.csv --property CODE [--map HEADER=FIELD ...] [--dry-run] [--user NAME]`."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from custody.accounts.models import User
from custody.guests import importer, imports
from custody.guests.import_fields import FIELDS
from custody.guests.importer import ImportFileError
from custody.guests.imports import ImportRefused
from custody.guests.models import ImportStatus, StayImport
from custody.properties.models import Property

logger = logging.getLogger("custody.guests.imports")

ROW_ERRORS_EXIT = 1
FILE_ERROR_EXIT = 2


class Command(BaseCommand):
    help = (
        "Import stays and their guests from a PMS export (CSV, UTF-8 or GB18030, with a header row). Every row is "
        "checked first (the file only: the dry run does not look at the stays already held); with any error nothing "
        "is written (exit 1). A file that cannot be read or lacks required columns exits 2. On commit, rows whose "
        "booking reference is already a stay of the property are left as they are, so importing the same file "
        "twice adds nothing; the output does not say which rows those were. Fields: "
        + ", ".join(f.name for f in FIELDS)
        + " (see docs/import.md)."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        sub = parser.add_subparsers(dest="subcommand", required=True, metavar="{stays}")
        stays = sub.add_parser("stays", help="import stays from a PMS export (CSV)")
        stays.add_argument("file", help="the CSV file")
        stays.add_argument("--property", required=True, help="code of the property the stays belong to")
        stays.add_argument(
            "--map",
            action="append",
            default=[],
            metavar="HEADER=FIELD",
            help="map the column named HEADER to FIELD (FIELD '-' leaves the column out); repeat for more columns",
        )
        stays.add_argument("--dry-run", action="store_true", help="check every row and report; write nothing")
        stays.add_argument("--user", help="user name recorded as the actor in the audit log (default: the system)")

    def handle(self, *args: Any, subcommand: str, **options: Any) -> None:
        prop = Property.objects.filter(code=options["property"]).first()
        if prop is None:
            raise CommandError(f"no property with code {options['property']!r}.", returncode=FILE_ERROR_EXIT)
        user = self._user(options["user"], prop)
        overrides = self._overrides(options["map"])
        path = Path(options["file"])
        try:
            data = path.read_bytes()
        except OSError as exc:
            raise CommandError(f"cannot read {path}: {exc.strerror or exc}.", returncode=FILE_ERROR_EXIT) from None
        try:
            stay_import = imports.do_upload(prop, data, acting_user=user)
        except ImportFileError as exc:
            raise CommandError(f"{path}: {exc.message}", returncode=FILE_ERROR_EXIT) from None
        try:
            parsed = imports.read_upload(stay_import)
            mapping = importer.override_mapping(parsed.headers, stay_import.mapping, overrides)
            result = imports.do_check(stay_import, mapping, acting_user=user, parsed=parsed)
        except ImportFileError as exc:
            imports.do_refuse(stay_import, exc.code, acting_user=user)
            raise CommandError(f"{path}: {exc.message}", returncode=FILE_ERROR_EXIT) from None
        for error in result.errors:
            self.stdout.write(error.line())
        self.stdout.write(
            f"{result.total} rows: {len(result.valid)} to import, {result.duplicates} repeated, "
            f"{result.error_rows} with errors."
        )
        if result.errors:
            imports.do_refuse(stay_import, "row_errors", acting_user=user)
            raise CommandError(
                f"{result.error_rows} rows have errors; nothing was written.", returncode=ROW_ERRORS_EXIT
            )
        if options["dry_run"]:
            imports.do_discard(stay_import, acting_user=user, reason="dry_run")
            self.stdout.write("dry run: nothing was written.")
            return
        self._commit(stay_import, user)

    def _commit(self, stay_import: StayImport, user: User | None) -> None:
        shown = {"percent": -1}

        def progress(done: int, total: int) -> None:
            percent = 100 * done // total if total else 100
            if percent != shown["percent"] or done == total:
                shown["percent"] = percent
                self.stderr.write(f"imported {done}/{total} rows ({percent}%)")

        try:
            imports.do_start_commit(stay_import, acting_user=user, enqueue=False)
            done = imports.run_commit(stay_import.pk, progress=progress)
        except ImportRefused as exc:
            raise CommandError(exc.message, returncode=ROW_ERRORS_EXIT) from None
        except Exception as exc:
            logger.exception("import %s failed", stay_import.pk)
            raise CommandError(
                f"the import failed on an internal error ({type(exc).__name__}); nothing was written.",
                returncode=ROW_ERRORS_EXIT,
            ) from None
        if done.status != ImportStatus.COMMITTED:
            for error in imports.stored_errors(done):
                self.stdout.write(error.line())
            raise CommandError(f"the import failed ({done.failure}); nothing was written.", returncode=ROW_ERRORS_EXIT)
        self.stdout.write(
            f"imported: {done.rows_done} rows (each a new stay or one already held, left as it was), "
            f"{done.duplicate_count} repeated rows (import {done.pk})."
        )

    def _user(self, username: str | None, prop: Property) -> User | None:
        if not username:
            return None
        user = User.objects.filter(username=username, is_active=True).first()
        if user is None:
            raise CommandError(f"no active user named {username!r}.", returncode=FILE_ERROR_EXIT)
        if not user.has_perm("guests.import", prop):
            raise CommandError(
                f"{username} may not import stays at {prop.code} (property manager or IT admin only).",
                returncode=FILE_ERROR_EXIT,
            )
        return user

    @staticmethod
    def _overrides(pairs: list[str]) -> dict[str, str]:
        overrides = {}
        for pair in pairs:
            header, sep, field = pair.partition("=")
            if not sep or not header.strip():
                raise CommandError(f"--map {pair!r}: write HEADER=FIELD.", returncode=FILE_ERROR_EXIT)
            overrides[header.strip()] = field.strip()
        return overrides
