"""Key rotation: move every guest's wrapped data key to the current key-encryption key (KEK) version.

``custody keys rotate`` adds a KEK version (``custody.crypto.keys.add_version``) and enqueues ``rewrap_data_keys``;
``custody keys rotate --wait`` and ``custody keys rewrap --wait`` run ``rewrap_all`` in the foreground instead.

Rotation re-wraps data keys, it does not re-encrypt fields. Every personal field is encrypted under its guest's own
data key, and the data key does not change: only its wrapping (``Guest.wrapped_key`` + ``Guest.kek_version``) is
replaced by one under the new KEK. Field ciphertexts, documents, stays and registrations are never touched, so the
job costs one small AES-GCM operation per guest however much data each guest has.

Old data stays readable throughout: each row records the KEK version its data key is wrapped under, and the ring
keeps every version, so a guest not reached yet opens with the old KEK and one already moved with the new one.

The work is done in batches of ``BATCH_SIZE`` guests, one transaction each, rows locked with
``select_for_update(skip_locked=True)`` where the database supports it (PostgreSQL; SQLite has one writer anyway).
A batch picks only non-erased guests whose ``kek_version`` is not the current one, and each row is written back
only if its ``kek_version`` is still the one read (a conditional UPDATE), so the job is resumable: after a killed
worker, running it again continues where it stopped, and running it when everything is current does nothing.
Erased guests have no data key and are never touched. A data key that does not unwrap (its KEK version missing from
the ring, or tampering) is counted as failed and left as it is; it does not stop the job.

One audit entry (``keys.kek.rotated``) is written at the end of a run with counts only.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass

from django.db import connection, transaction
from django_tasks import task

from custody.audit import gate
from custody.audit.events import Action
from custody.crypto import keys
from custody.crypto.fields import DecryptionFailed, rewrap_data_key
from custody.guests.models import Guest

BATCH_SIZE = 500


@dataclass(frozen=True)
class BatchResult:
    rewrapped: int
    failed: int
    last_pk: uuid.UUID | None  # the highest primary key looked at; None when the batch found nothing to do

    @property
    def done(self) -> bool:
        return self.last_pk is None


@dataclass(frozen=True)
class RewrapSummary:
    version: int
    rewrapped: int
    failed: int
    remaining: int

    def as_details(self) -> dict[str, int | str]:
        return {
            "version": self.version, "phase": "rewrapped", "rewrapped": self.rewrapped, "failed": self.failed,
            "remaining": self.remaining,
        }  # fmt: skip


def pending() -> int:
    """How many non-erased guests have a data key that is not under the current KEK version."""
    return Guest.objects.not_erased().exclude(kek_version=keys.current_version()).count()


def rewrap_batch(*, after: uuid.UUID | None = None, size: int = BATCH_SIZE) -> BatchResult:
    """Re-wrap up to ``size`` data keys not under the current KEK version (primary keys above ``after``), in one
    transaction. Call it again with ``after=result.last_pk`` for the next batch, until ``result.done``."""
    current = keys.current_version()
    with transaction.atomic():
        rows = Guest.objects.not_erased().exclude(kek_version=current).order_by("pk")
        if after is not None:
            rows = rows.filter(pk__gt=after)
        if connection.features.has_select_for_update_skip_locked:
            rows = rows.select_for_update(skip_locked=True)
        batch = list(rows.only("id", "wrapped_key", "kek_version")[:size])
        rewrapped = failed = 0
        for guest in batch:
            assert guest.wrapped_key is not None and guest.kek_version is not None  # not_erased()
            try:
                wrapped, version = rewrap_data_key(
                    guest.wrapped_key, owner=guest.key_owner, kek_version=guest.kek_version
                )
            except DecryptionFailed:
                failed += 1
                continue
            still = Guest.objects.filter(pk=guest.pk, kek_version=guest.kek_version, erased_at__isnull=True)
            rewrapped += still.update(wrapped_key=wrapped, kek_version=version)
    return BatchResult(rewrapped=rewrapped, failed=failed, last_pk=batch[-1].pk if batch else None)


def rewrap_all(*, size: int = BATCH_SIZE, progress: Callable[[int, int], object] | None = None) -> RewrapSummary:
    """Re-wrap every data key not under the current KEK version, batch by batch; audit the counts at the end.

    ``progress(done, total)`` is called before the first batch and after each one.
    """
    total = pending()
    rewrapped = failed = 0
    after: uuid.UUID | None = None
    if progress is not None:
        progress(0, total)
    while True:
        result = rewrap_batch(after=after, size=size)
        if result.done:
            break
        rewrapped += result.rewrapped
        failed += result.failed
        after = result.last_pk
        if progress is not None:
            done = rewrapped + failed
            progress(done, max(total, done))
    summary = RewrapSummary(version=keys.current_version(), rewrapped=rewrapped, failed=failed, remaining=pending())
    with transaction.atomic():
        gate.record(
            Action.KEYS_KEK_ROTATED,
            actor=None,
            object_type="crypto.kek",
            object_id=summary.version,
            details=summary.as_details(),
        )
    return summary


@task()
def rewrap_data_keys() -> dict[str, int | str]:
    """The background job enqueued by ``custody keys rotate`` (run by ``custody worker`` / ``custody serve``)."""
    return rewrap_all().as_details()
