"""The life cycle of a PMS stay import: upload kept encrypted, dry run, background commit with progress, discard.

    upload -> uploaded -(mapping, dry run)-> checked -(commit)-> running -> committed
                                                 ^                   '-> failed -(commit again)-> running
    uploaded / checked / failed -(discard, or 24 hours after the upload)-> discarded

Every state change is one audited action (``import.stays.*`` entries: ids, counts and codes, never a value from the
file); the commit's own writes go through the vault, which audits each guest, document, stay and registration.

The upload
    The file holds personal data, so it never touches the disk or the database in plaintext: the view reads it into
    memory (``MemoryUploadHandler``), and it is stored as its decoded text, AES-256-GCM under a fresh data key of its
    own wrapped by the key-encryption key (``custody.crypto.fields``; AAD binds table, column and the import's id).
    Committing or discarding destroys both the blob and the wrapped key (on SQLite with ``secure_delete``), and the
    periodic ``purge_expired_imports`` job does so 24 hours after the upload for imports left unfinished.

The dry run checks the file only
    Formats, the property's rooms and the rows of the file among themselves; never the guests and stays Custody
    holds, so its report cannot tell an uploader which booking references exist (DESIGN invariant 6). What depends
    on them is settled at commit time without saying which rows it concerned: a row whose booking reference is
    already a stay of the property is left as it is and counted with the others; an in-house row for a room with a
    stay in house is refused whether or not its reference exists (``importer.occupied_rooms``). The pages show
    rows processed, never stays created or already held; the audit entry of the commit keeps both counts.

The commit
    ``do_start_commit`` marks the import running and enqueues ``commit_stay_import`` in the same transaction (the
    django-tasks database backend). The job checks every row again - the property may have changed since the dry run -
    and writes all rows in ONE transaction: any refusal rolls everything back and the import is marked failed with
    the row and field. Imports of one property are serialized (a PostgreSQL advisory lock; SQLite has one writer),
    so two runs never both create the same booking reference. ``committed`` is written in the commit's own
    transaction, so it is never shown for an import that did not commit. A worker killed mid-way leaves the import
    running with its progress no longer moving; after ``STALL_AFTER`` the page offers to run it again, and the new
    run starts from scratch (the killed transaction wrote nothing).

Progress
    The commit's transaction is open while it runs, so its progress has to travel outside it: on PostgreSQL through a
    second connection that updates ``rows_done``/``heartbeat_at`` (committed at once, seen by every web server); on
    SQLite - one host, one writer at a time - in a small file under ``$CUSTODY_HOME/imports/`` holding two counts
    and a time.

On SQLite the commit holds the database's write lock until it ends; other writes wait for it (up to the busy
timeout). Import large files outside busy hours there, or split them; PostgreSQL has no such limit.
"""

from __future__ import annotations

import hashlib
import logging
import time
import uuid
from collections.abc import Callable, Sequence
from contextlib import suppress
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from django.conf import settings
from django.db import DEFAULT_DB_ALIAS, OperationalError, connection, connections, transaction
from django.http import Http404
from django.utils import timezone
from django.utils.functional import Promise
from django.utils.translation import gettext_lazy as _
from django_tasks import task

from custody.accounts.models import User
from custody.audit import gate
from custody.audit.events import Action
from custody.crypto.fields import decrypt_field, encrypt_field, new_data_key, unwrap_data_key, wrap_data_key
from custody.guests import importer
from custody.guests.importer import CheckResult, ImportFileError, ParsedFile, RowError
from custody.guests.models import ImportStatus, StayImport
from custody.guests.vault import secure_delete
from custody.properties.models import Property

logger = logging.getLogger("custody.guests.imports")

MAX_UPLOAD_BYTES = 20 * 1024 * 1024
UPLOAD_TTL = timedelta(hours=24)
STALL_AFTER = timedelta(minutes=2)
PROGRESS_INTERVAL = 0.5  # seconds between two progress reports of a running commit
PURPOSE = "import.stays"  # the purpose of the booking-reference lookups a commit makes
_LOCK_CLASS = 0x1D0C  # first key of the PostgreSQL advisory lock that serializes one property's imports
# Where a commit may start (again) from, when the check found no errors.
_COMMITTABLE = (ImportStatus.CHECKED, ImportStatus.FAILED)


REFUSALS: dict[str, Promise] = {
    "errors": _("Rows have errors: nothing can be imported until every row is correct. Nothing was written."),
    "state": _("This import cannot do that in its current state."),
    "running": _("This import is running; wait until it ends."),
    "gone": _("The uploaded file was already destroyed; upload it again."),
    "busy": _("Another import of this property is being written; try again in a moment."),
}


class ImportRefused(Exception):
    """The import is not in a state that allows the action (``code`` names why, ``message`` says it)."""

    def __init__(self, code: str) -> None:
        super().__init__(code)
        self.code = code

    @property
    def message(self) -> str:
        return str(REFUSALS[self.code])


class _CheckFailed(Exception):
    def __init__(self, result: CheckResult) -> None:
        super().__init__("rows have errors")
        self.result = result


def get_import_for_user(prop: Property, import_id: uuid.UUID) -> StayImport:
    """An import of this property; another property's is a 404 (its existence never leaks)."""
    found = StayImport.objects.filter(pk=import_id, property=prop).select_related("created_by", "committed_by").first()
    if found is None:
        raise Http404("No such import.")
    return found


# --- upload -------------------------------------------------------------------------------------------------------


def do_upload(prop: Property, data: bytes, *, acting_user: User | None) -> StayImport:
    """Read the file, and keep it encrypted with the mapping its header names suggest. A file that cannot be read
    (encoding, no header, no rows, too big) raises ImportFileError; the refusal is audited, nothing is stored."""
    try:
        if len(data) > MAX_UPLOAD_BYTES:
            raise ImportFileError("too_big", megabytes=MAX_UPLOAD_BYTES // (1024 * 1024))
        text, encoding = importer.decode(data)
        parsed = importer.parse(text, encoding)
    except ImportFileError as exc:
        with transaction.atomic():
            gate.record(
                Action.IMPORT_FAILED,
                actor=acting_user,
                prop=prop,
                object_type=StayImport._meta.label_lower,
                details={"reason": exc.code, "stage": "upload", "bytes": len(data)},
            )
        raise
    stay_import = StayImport(
        id=uuid.uuid4(),
        property=prop,
        created_by=acting_user,
        size_bytes=len(data),
        sha256=hashlib.sha256(data).hexdigest(),
        encoding=encoding,
        delimiter=parsed.delimiter_name,
        columns=len(parsed.headers),
        total_rows=len(parsed.records),
        mapping=importer.default_mapping(parsed.headers),
    )
    dek = new_data_key()
    stay_import.wrapped_key, stay_import.kek_version = wrap_data_key(dek, owner=stay_import.key_owner)
    stay_import.upload = encrypt_field(dek, text, **_where(stay_import))
    with transaction.atomic():
        stay_import.save(force_insert=True)
        gate.record(
            Action.IMPORT_UPLOADED,
            actor=acting_user,
            prop=prop,
            obj=stay_import,
            details={
                "bytes": len(data),
                "sha256": stay_import.sha256,
                "encoding": encoding,
                "delimiter": stay_import.delimiter,
                "columns": stay_import.columns,
                "rows": stay_import.total_rows,
            },
        )
    return stay_import


def read_upload(stay_import: StayImport) -> ParsedFile:
    """The stored file, decrypted and parsed again (in memory only)."""
    if not stay_import.has_upload:
        raise ImportRefused("gone")
    assert stay_import.wrapped_key is not None and stay_import.kek_version is not None
    assert stay_import.upload is not None
    dek = unwrap_data_key(stay_import.wrapped_key, owner=stay_import.key_owner, kek_version=stay_import.kek_version)
    text = decrypt_field(dek, stay_import.upload, **_where(stay_import))
    return importer.parse(text, stay_import.encoding)


def _where(stay_import: StayImport) -> dict[str, str]:
    column = StayImport._meta.get_field("upload").column
    return {"table": StayImport._meta.db_table, "column": column, "pk": str(stay_import.pk)}


# --- dry run ------------------------------------------------------------------------------------------------------


def do_check(
    stay_import: StayImport, mapping: Sequence[str], *, acting_user: User | None, parsed: ParsedFile | None = None
) -> CheckResult:
    """The dry run: check every row with this column mapping and keep the report; nothing is imported.

    A mapping that leaves out a required field (or maps one twice) raises ImportFileError and changes nothing. The
    rows are checked outside a transaction (on SQLite a long one would hold the write lock); the report and its
    audit entry are then written together, and the result is returned only once the entry is written. ``parsed``:
    the upload, when the caller has already read it.
    """
    if stay_import.status not in (ImportStatus.UPLOADED, *_COMMITTABLE):
        raise ImportRefused("running" if stay_import.status == ImportStatus.RUNNING else "state")
    result = importer.check(stay_import.property, parsed or read_upload(stay_import), mapping)
    with transaction.atomic():
        changed = StayImport.objects.filter(
            pk=stay_import.pk, status__in=(ImportStatus.UPLOADED, *_COMMITTABLE)
        ).update(
            status=ImportStatus.CHECKED,
            mapping=list(mapping),
            total_rows=result.total,
            rows_to_write=len(result.valid),
            rows_done=0,
            created_count=0,
            existing_count=0,
            duplicate_count=result.duplicates,
            error_count=result.error_rows,
            errors=[error.as_json() for error in result.errors[: importer.MAX_STORED_ERRORS]],
            failure="",
            checked_at=timezone.now(),
        )
        if not changed:
            raise ImportRefused("state")
        gate.record(
            Action.IMPORT_CHECKED,
            actor=acting_user,
            prop=stay_import.property,
            obj=stay_import,
            details={
                "rows": result.total,
                "valid": len(result.valid),
                "duplicates": result.duplicates,
                "error_rows": result.error_rows,
                "fields": sorted(name for name in mapping if name),
            },
        )
    stay_import.refresh_from_db()
    return result


def stored_errors(stay_import: StayImport) -> list[RowError]:
    return [RowError.from_json(item) for item in stay_import.errors]


# --- commit -------------------------------------------------------------------------------------------------------


def do_start_commit(stay_import: StayImport, *, acting_user: User | None, enqueue: bool = True) -> StayImport:
    """Mark a checked import (no row errors) running and enqueue the job that commits it, in one transaction.

    Also how a failed or stalled commit is run again. ``enqueue=False`` for the command line, which runs
    ``run_commit`` itself."""
    with transaction.atomic():
        locked = StayImport.objects.select_for_update().get(pk=stay_import.pk)
        if locked.status == ImportStatus.RUNNING and not is_stalled(locked):
            raise ImportRefused("running")
        if locked.status not in (*_COMMITTABLE, ImportStatus.RUNNING):
            raise ImportRefused("state")
        if locked.error_count:
            raise ImportRefused("errors")
        if not locked.has_upload:
            raise ImportRefused("gone")
        now = timezone.now()
        StayImport.objects.filter(pk=locked.pk).update(
            status=ImportStatus.RUNNING,
            committed_by=acting_user,
            failure="",
            rows_done=0,
            started_at=None,
            heartbeat_at=now,
            finished_at=None,
        )
        if enqueue:
            commit_stay_import.enqueue(str(locked.pk))
    stay_import.refresh_from_db()
    return stay_import


def run_commit(import_id: uuid.UUID | str, *, progress: Callable[[int, int], object] | None = None) -> StayImport:
    """Check every row again and write them all in one transaction (the job's body; the CLI calls it directly).

    Returns the import as it stands afterwards: committed, failed (with the row errors), or unchanged when it was
    already committed (running it again is harmless).
    """
    stay_import = _claim(import_id)
    if stay_import.status != ImportStatus.RUNNING:
        return stay_import
    prop = stay_import.property
    board = ProgressBoard(stay_import, echo=progress)
    try:
        with transaction.atomic():
            _serialize_imports(prop)
            fresh = StayImport.objects.select_related("committed_by").get(pk=stay_import.pk)
            if fresh.status != ImportStatus.RUNNING:
                return fresh  # committed (or discarded) by another run while this one waited
            actor = fresh.committed_by
            result = importer.check(prop, read_upload(fresh), fresh.mapping, progress=board.checking)
            result.errors = sorted(
                [*result.errors, *importer.occupied_rooms(result.valid)], key=lambda error: error.row
            )
            if result.errors:
                raise _CheckFailed(result)
            held = importer.rows_already_held(prop, result.valid)
            board.start(len(result.valid))
            created = importer.write_stays(prop, result.valid, acting_user=actor, held=held, progress=board.wrote)
            board.close()
            now = timezone.now()
            with secure_delete():
                StayImport.objects.filter(pk=fresh.pk).update(
                    status=ImportStatus.COMMITTED,
                    total_rows=result.total,
                    rows_to_write=len(result.valid),
                    rows_done=len(result.valid),
                    created_count=created,
                    existing_count=len(held),
                    duplicate_count=result.duplicates,
                    error_count=0,
                    errors=[],
                    finished_at=now,
                    heartbeat_at=now,
                    **_purged_fields(now),
                )
            gate.record(
                Action.IMPORT_COMMITTED,
                actor=actor,
                prop=prop,
                obj=fresh,
                purpose=PURPOSE,
                details={
                    "rows": result.total,
                    "created": created,
                    "existing": len(held),
                    "duplicates": result.duplicates,
                },
            )
    except _CheckFailed as exc:
        _mark_failed(stay_import, "row_errors", exc.result.errors, error_rows=exc.result.error_rows)
    except importer.RowFailed as exc:
        _mark_failed(stay_import, "refused", [exc.error], error_rows=1)
    except Exception:
        with suppress(Exception):
            _mark_failed(stay_import, "error", [], error_rows=0)
        raise
    finally:
        board.remove()
    return StayImport.objects.get(pk=stay_import.pk)


def _claim(import_id: uuid.UUID | str) -> StayImport:
    """The import, its run (re)started: only an import marked running by do_start_commit is run."""
    try:
        with transaction.atomic():
            stay_import = (
                StayImport.objects.select_for_update(of=("self",))
                .select_related("property", "committed_by")
                .get(pk=import_id)
            )
            if stay_import.status != ImportStatus.RUNNING:
                return stay_import
            now = timezone.now()
            fields: dict[str, Any] = {"heartbeat_at": now}
            if stay_import.started_at is None or is_stalled(stay_import):
                fields |= {"started_at": now, "rows_done": 0}
            StayImport.objects.filter(pk=stay_import.pk).update(**fields)
    except OperationalError as exc:  # SQLite: another run holds the write lock past the busy timeout
        raise ImportRefused("busy") from exc
    stay_import.refresh_from_db()
    return stay_import


def _serialize_imports(prop: Property) -> None:
    """One property's imports are written one at a time (on SQLite the write lock already sees to it)."""
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_xact_lock(%s, %s)", [_LOCK_CLASS, prop.pk])


def _mark_failed(stay_import: StayImport, failure: str, errors: Sequence[RowError], *, error_rows: int) -> None:
    with transaction.atomic():
        changed = StayImport.objects.filter(pk=stay_import.pk, status=ImportStatus.RUNNING).update(
            status=ImportStatus.FAILED,
            failure=failure,
            error_count=error_rows,
            errors=[error.as_json() for error in errors[: importer.MAX_STORED_ERRORS]],
            rows_done=0,
            finished_at=timezone.now(),
        )
        if changed:
            gate.record(
                Action.IMPORT_FAILED,
                actor=stay_import.committed_by,
                prop=stay_import.property,
                obj=stay_import,
                details={"reason": failure, "stage": "commit", "error_rows": error_rows},
            )


@task()
def commit_stay_import(import_id: str) -> dict[str, Any]:
    """The background job enqueued by ``do_start_commit`` (run by ``custody worker`` / ``custody serve``)."""
    try:
        stay_import = run_commit(import_id)
    except ImportRefused as exc:
        return {"import": import_id, "status": exc.code}
    return {  # a task result is read by operators (who can read the audit log), never shown to the uploader
        "import": import_id,
        "status": stay_import.status,
        "rows": stay_import.rows_done,
        "error_rows": stay_import.error_count,
    }


# --- progress -----------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Progress:
    done: int
    total: int
    at: datetime | None

    @property
    def percent(self) -> int:
        return 100 * self.done // self.total if self.total else 0


class ProgressBoard:
    """Publishes a running commit's progress outside its transaction (see the module docstring)."""

    def __init__(self, stay_import: StayImport, *, echo: Callable[[int, int], object] | None = None) -> None:
        self.import_id = stay_import.pk
        self.echo = echo
        self.total = 0
        self._last = 0.0
        self._side: Any = None

    def checking(self, done: int, total: int) -> None:
        """While rows are checked again: only a sign of life."""
        self._publish(0, force=False)

    def start(self, total: int) -> None:
        self.total = total
        if self.echo is not None:
            self.echo(0, total)
        self._publish(0, force=True)

    def wrote(self, done: int) -> None:
        if self.echo is not None:
            self.echo(done, self.total)
        self._publish(done, force=done == self.total)

    def _publish(self, done: int, *, force: bool) -> None:
        now = time.monotonic()
        if not force and now - self._last < PROGRESS_INTERVAL:
            return
        self._last = now
        try:
            if connection.vendor == "sqlite":
                _write_progress_file(self.import_id, done, self.total)
            else:
                self._write_row(done)
        except Exception:  # progress is a courtesy: never let it break the import
            logger.warning("could not publish the progress of import %s", self.import_id, exc_info=True)

    def _write_row(self, done: int) -> None:
        if self._side is None:
            self._side = connections.create_connection(DEFAULT_DB_ALIAS)
        with self._side.cursor() as cursor:
            cursor.execute(
                f"UPDATE {StayImport._meta.db_table} SET rows_done = %s, rows_to_write = %s, heartbeat_at = %s "  # noqa: S608
                "WHERE id = %s AND status = %s",
                [done, self.total, timezone.now(), self.import_id, ImportStatus.RUNNING],
            )

    def close(self) -> None:
        """No more progress to publish (before the commit's last write, which locks the import's row)."""
        if self._side is not None:
            with suppress(Exception):
                self._side.close()
            self._side = None

    def remove(self) -> None:
        self.close()
        with suppress(FileNotFoundError):
            _progress_file(self.import_id).unlink()


def _progress_file(import_id: uuid.UUID) -> Path:
    return Path(settings.CUSTODY_HOME) / "imports" / f"{import_id}.progress"


def _write_progress_file(import_id: uuid.UUID, done: int, total: int) -> None:
    path = _progress_file(import_id)
    path.parent.mkdir(mode=0o700, exist_ok=True)
    temporary = path.with_suffix(".tmp")
    temporary.write_text(f"{done} {total} {time.time():.3f}\n", encoding="ascii")
    temporary.replace(path)


def progress_of(stay_import: StayImport) -> Progress:
    """Rows written so far of the rows to write, and when the last sign of progress came."""
    if stay_import.status == ImportStatus.RUNNING and connection.vendor == "sqlite":
        try:
            done, total, at = _progress_file(stay_import.pk).read_text(encoding="ascii").split()
            return Progress(int(done), int(total), datetime.fromtimestamp(float(at), tz=UTC))
        except (OSError, ValueError):
            pass
    return Progress(stay_import.rows_done, stay_import.rows_to_write, stay_import.heartbeat_at)


def is_stalled(stay_import: StayImport) -> bool:
    """A running import whose progress has not moved for STALL_AFTER: its worker died, or none is running."""
    if stay_import.status != ImportStatus.RUNNING:
        return False
    at = progress_of(stay_import).at
    return at is None or timezone.now() - at > STALL_AFTER


# --- discard and expiry -------------------------------------------------------------------------------------------


def _purged_fields(now: datetime) -> dict[str, Any]:
    return {"upload": None, "wrapped_key": None, "kek_version": None, "purged_at": now}


def do_discard(stay_import: StayImport, *, acting_user: User | None, reason: str = "user") -> StayImport:
    """Give up an import that was not committed: destroy the uploaded file (blob and key); audited with a reason
    code (``user``, ``dry_run``, ``expired``)."""
    with transaction.atomic():
        locked = StayImport.objects.select_for_update().get(pk=stay_import.pk)
        if locked.status == ImportStatus.RUNNING and not is_stalled(locked):
            raise ImportRefused("running")
        if locked.status in (ImportStatus.COMMITTED, ImportStatus.DISCARDED):
            raise ImportRefused("state")
        with secure_delete():
            StayImport.objects.filter(pk=locked.pk).update(
                status=ImportStatus.DISCARDED, **_purged_fields(timezone.now())
            )
        gate.record(
            Action.IMPORT_DISCARDED, actor=acting_user, prop=locked.property, obj=locked, details={"reason": reason}
        )
    stay_import.refresh_from_db()
    return stay_import


def do_refuse(stay_import: StayImport, code: str, *, acting_user: User | None) -> StayImport:
    """End an import the command line will not commit (file-level error or row errors): failed, file destroyed."""
    with transaction.atomic():
        locked = StayImport.objects.select_for_update().get(pk=stay_import.pk)
        if locked.status not in (ImportStatus.UPLOADED, *_COMMITTABLE):
            raise ImportRefused("state")
        now = timezone.now()
        with secure_delete():
            StayImport.objects.filter(pk=locked.pk).update(
                status=ImportStatus.FAILED, failure=code, finished_at=now, **_purged_fields(now)
            )
        gate.record(
            Action.IMPORT_FAILED,
            actor=acting_user,
            prop=stay_import.property,
            obj=stay_import,
            details={"reason": code, "stage": "check", "error_rows": stay_import.error_count},
        )
    stay_import.refresh_from_db()
    return stay_import


def purge_expired(*, now: datetime | None = None) -> int:
    """Discard every import whose upload is older than UPLOAD_TTL (a live commit is left to finish)."""
    cutoff = (now or timezone.now()) - UPLOAD_TTL
    purged = 0
    for stay_import in StayImport.objects.filter(wrapped_key__isnull=False, created_at__lt=cutoff):
        with suppress(ImportRefused):
            do_discard(stay_import, acting_user=None, reason="expired")
            purged += 1
    return purged


@task()
def purge_expired_imports() -> int:
    """Periodic job (custody.core.worker): destroy uploads left unfinished for 24 hours."""
    return purge_expired()
