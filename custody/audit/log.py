"""Appending to the audit log and signing tree heads.

Appends are serialised so sequence numbers are gap-free and unique with many web and worker processes: each
takes the next number from the single AuditSequence row with UPDATE ... RETURNING, which locks that row until the
caller's transaction ends (on SQLite the whole database has one writer anyway). The entry and the change it
records become visible together or not at all, and a rolled-back append gives its number back.

Tree heads follow the log closely: the worker signs one once the first entry no head covers is SIGN_AFTER old
(its scheduler looks every 30 s, so no entry waits longer than TREE_HEAD_DELAY), and `custody` signs one at the
end of every command that appended (`signed_on_exit`). Every head is also appended to the anchor file.
"""

from __future__ import annotations

import contextvars
import json
import logging
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from django.conf import settings
from django.db import IntegrityError, connection, transaction
from django.utils import timezone

from custody.audit import keys
from custody.audit.events import Action, Outcome
from custody.audit.models import AuditEntry, AuditSequence, TreeHead, entry_document
from custody.lib.canonical_json import canonical_json
from custody.lib.merkle import CompactRange, leaf_hash

logger = logging.getLogger("custody.audit")
client_ip_var: contextvars.ContextVar[str | None] = contextvars.ContextVar("custody_client_ip", default=None)
_ID_TEXT_LIMIT = 64
# The longest an entry goes without a signed tree head covering it while a worker runs (docs/audit.md).
TREE_HEAD_DELAY = timedelta(seconds=60)
# The worker signs once the first uncovered entry is this old: with its 30 s between looks, within TREE_HEAD_DELAY,
# and heads come at most this often however busy the log and however many workers look.
SIGN_AFTER = timedelta(seconds=25)
# Entries this process appended (attempts, rolled back or not): lets `signed_on_exit` tell whether a command wrote.
_appended_here = 0


class AuditWriteError(RuntimeError):
    """The audit entry could not be written; the action it records must not happen."""


class NotAnId(ValueError):
    """Audit details hold ids, codes and counts only, never free text that could carry personal data."""


def check_details(value: Any, path: str = "details") -> None:
    if value is None or isinstance(value, bool | int):
        return
    if isinstance(value, str):
        if len(value) > _ID_TEXT_LIMIT or not value.isascii() or not all(c.isalnum() or c in "_.:-/+=" for c in value):
            raise NotAnId(f"{path} must be an id or code (letters, digits, _.:-/+=, up to 64), not free text")
        return
    if isinstance(value, list):
        for index, item in enumerate(value):
            check_details(item, f"{path}[{index}]")
        return
    if isinstance(value, dict):
        for key, item in value.items():
            if not isinstance(key, str) or not key.isascii() or not key.replace("_", "").isalnum():
                raise NotAnId(f"{path} keys must be identifiers")
            check_details(item, f"{path}.{key}")
        return
    raise NotAnId(f"{path} holds a {type(value).__name__}; use ids, codes, counts or booleans")


_NEXT_SEQ = f"UPDATE {AuditSequence._meta.db_table} SET last = last + %s WHERE id = 1 RETURNING last"  # noqa: S608


def _take_sequence(count: int = 1) -> int:
    """Reserve `count` numbers (0 only locks) and return the last one; lock held until the transaction ends."""
    with connection.cursor() as cursor:
        cursor.execute(_NEXT_SEQ, [count])
        row = cursor.fetchone()
        if row is None:
            # The row is made by a migration; a database flushed since (tests, a restore) gets it back here,
            # continuing after the last entry.
            last = AuditEntry.objects.order_by("-seq").values_list("seq", flat=True).first() or 0
            try:
                with transaction.atomic():
                    AuditSequence.objects.create(id=1, last=last)
            except IntegrityError:
                pass  # another process created it first; its row is used below
            cursor.execute(_NEXT_SEQ, [count])
            row = cursor.fetchone()
    return int(row[0])


def append(
    action: Action | str,
    *,
    actor_id: int | None,
    actor_role: str = "",
    property_id: int | None = None,
    object_type: str = "",
    object_id: str = "",
    request_ref: str = "",
    grant_ref: str = "",
    purpose: str = "",
    outcome: Outcome | str = Outcome.ALLOWED,
    client_ip: str | None = None,
    details: dict[str, Any] | None = None,
) -> AuditEntry:
    """Write one entry inside the caller's transaction (opening one if there is none)."""
    global _appended_here
    details = details or {}
    check_details(details)
    Action(action)  # refuses unknown names
    Outcome(outcome)
    _appended_here += 1
    # No savepoint: if the insert fails, the caller's whole transaction is broken and rolls back anyway.
    with transaction.atomic(savepoint=False):
        seq = _take_sequence()
        at = timezone.now()
        ip = client_ip if client_ip is not None else client_ip_var.get()
        document = entry_document(
            seq=seq,
            at=at,
            actor=actor_id,
            actor_role=actor_role,
            property=property_id,
            action=str(action),
            object_type=object_type,
            object_id=str(object_id),
            request=str(request_ref),
            grant=str(grant_ref),
            purpose=purpose,
            outcome=str(outcome),
            client_ip=ip,
            details=details,
        )
        entry = AuditEntry(
            seq=seq,
            at=at,
            actor_id=actor_id,
            actor_role=actor_role,
            property_id=property_id,
            action=str(action),
            object_type=object_type,
            object_id=str(object_id),
            request_ref=str(request_ref),
            grant_ref=str(grant_ref),
            purpose=purpose,
            outcome=str(outcome),
            client_ip=ip,
            details=details,
            leaf_hash=leaf_hash(canonical_json(document)).hex(),
        )
        entry.save(force_insert=True)
    return entry


def latest_tree_head() -> TreeHead | None:
    return TreeHead.objects.order_by("-tree_size", "-id").first()


def _is_own_record(head: TreeHead, row: tuple[Any, ...] | None) -> bool:
    """Whether `row` (seq, action, object type, object id) is the entry `head` appended about its own signing.

    That entry comes right after what the head covers, and no head can cover its own record; so it alone never
    calls for another head (or every head would call for the next): the next head, signed when something else
    happens, covers it.
    """
    return row == (head.tree_size + 1, Action.AUDIT_TREE_HEAD_SIGNED, "tree_head", str(head.pk))


_ROW = ("seq", "action", "object_type", "object_id")


def _row(seq: int) -> tuple[Any, ...] | None:
    return AuditEntry.objects.filter(seq=seq).values_list(*_ROW).first()


@transaction.atomic
def sign_tree_head(*, force: bool = False) -> TreeHead | None:
    """Sign a tree head over every entry written so far; None when nothing changed and not forced.

    "Nothing changed" includes the case where the only new entry is the previous head's record of its signing.
    Refuses (AuditWriteError) when the log does not end where the sequence row says: entries were deleted from
    the end, or written around `append`. A head over such a log would make the loss look like history.
    """
    last = _take_sequence(0)  # no append may slip in while the head is computed
    previous = latest_tree_head()
    compact = CompactRange()
    start = 0
    if previous is not None:
        compact.size = previous.tree_size
        compact.nodes = [bytes.fromhex(h) for h in previous.frontier]
        start = previous.tree_size
    new_hashes = AuditEntry.objects.filter(seq__gt=start).order_by("seq").values_list("seq", "leaf_hash")
    for seq, digest in new_hashes.iterator(chunk_size=5000):
        if seq != compact.size + 1:
            raise AuditWriteError(f"audit entry {compact.size + 1} is missing; run `custody audit verify`")
        compact.append(bytes.fromhex(digest))
    if compact.size != last:
        raise AuditWriteError(
            f"the audit sequence has handed out {last} numbers but the log ends at seq {compact.size}; "
            "run `custody audit verify`"
        )
    if previous is not None and not force:
        new = compact.size - previous.tree_size
        if new == 0 or (new == 1 and _is_own_record(previous, _row(compact.size))):
            return None
    now = timezone.now()
    head = TreeHead(
        tree_size=compact.size,
        root_hash=compact.root().hex(),
        timestamp=now.strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
        key_id=keys.key_id(keys.public_key()),
        frontier=[node.hex() for node in compact.nodes],
    )
    head.signature = keys.sign(canonical_json(head.document()))
    head.save(force_insert=True)
    append(
        Action.AUDIT_TREE_HEAD_SIGNED,
        actor_id=None,
        object_type="tree_head",
        object_id=str(head.pk),
        details={"tree_size": head.tree_size},
    )
    transaction.on_commit(lambda: anchor(head))
    return head


def first_unsigned_at() -> datetime | None:
    """When the first entry that no signed head covers was written (None: all covered). Two indexed lookups."""
    head = latest_tree_head()
    covered = head.tree_size if head is not None else 0
    following = AuditEntry.objects.filter(seq__gt=covered, seq__lte=covered + 2).order_by("seq")
    for *row, at in following.values_list(*_ROW, "at"):
        if head is None or not _is_own_record(head, tuple(row)):
            return at
    return None


def sign_pending_tree_head(*, older_than: timedelta = timedelta(0)) -> TreeHead | None:
    """Sign a tree head if an entry that none covers is at least `older_than` old; cheap when all are covered."""
    first = first_unsigned_at()
    if first is None or first > timezone.now() - older_than:
        return None
    return sign_tree_head()


@contextmanager
def signed_on_exit() -> Iterator[None]:
    """Sign a tree head when the block ends (however it ends) if it appended: a command leaves nothing unsigned.

    A failure to sign is reported, not raised: what the block did stands, and the worker signs within
    TREE_HEAD_DELAY.
    """
    before = _appended_here
    try:
        yield
    finally:
        if _appended_here != before:
            try:
                sign_pending_tree_head()
            except Exception:
                logger.exception("could not sign a tree head over the entries just written; the worker will")


def anchor(head: TreeHead) -> None:
    """Append the signed head to the file named by CUSTODY_AUDIT_ANCHOR_FILE, outside the database's reach."""
    target = getattr(settings, "CUSTODY_AUDIT_ANCHOR_FILE", None)
    if not target:
        return
    try:
        with Path(target).open("a", encoding="utf-8") as handle:
            handle.write(json.dumps(head.published(), sort_keys=True) + "\n")
    except OSError:
        logger.exception("could not anchor tree head %s to %s", head.tree_size, target)
