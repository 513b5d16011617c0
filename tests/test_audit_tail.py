"""The tail of the audit log (issue 12, item 7): entries deleted from the end are found before any new tree head,
heads follow the log within a minute (worker) or at once (a `custody` command that wrote), and every head is
anchored outside the database."""

from __future__ import annotations

import io
import json
import os
import sqlite3
import subprocess
import sys
from datetime import timedelta
from pathlib import Path
from typing import Any
from unittest import mock

import pytest
from django.core.management import call_command
from django.db import connection
from django.utils import timezone

from custody.audit import log, triggers
from custody.audit.events import Action
from custody.audit.log import AuditWriteError, append
from custody.audit.models import AuditEntry, AuditSequence, AuditVerification, TreeHead
from custody.audit.tasks import verify_audit_log
from custody.audit.verify import load_heads_file, verify_stored
from custody.core.models import ScheduledRun
from custody.core.worker import SCHEDULER_PASS_SECONDS, CustodyWorker

pytestmark = pytest.mark.django_db


def _fill(count: int) -> None:
    for index in range(count):
        append(Action.STAFF_LIST_VIEWED, actor_id=None, object_type="property", object_id=str(index))


def _raw(sql: str, params: list[object] | None = None) -> None:
    with connection.cursor() as cursor:
        cursor.execute(sql, params or [])


def _as_database_admin(sql: str, params: list[object] | None = None) -> None:
    """What someone who owns the database can do: lift the append-only triggers, change rows, put them back."""
    triggers.apply(connection, triggers.DROP)
    _raw(sql, params)
    triggers.apply(connection, triggers.CREATE)


def _verify_command() -> tuple[int, str]:
    out, err = io.StringIO(), io.StringIO()
    try:
        call_command("audit", "verify", stdout=out, stderr=err)
    except SystemExit as exit_info:
        return int(exit_info.code or 0), err.getvalue()
    return 0, out.getvalue()


@pytest.fixture
def anchor_file(settings: Any, tmp_path: Path) -> Path:
    anchor = tmp_path / "anchor.jsonl"
    settings.CUSTODY_AUDIT_ANCHOR_FILE = str(anchor)
    return anchor


# --- Deleting the newest entries ---------------------------------------------------------------------------


def test_newest_entries_deleted_after_the_last_head_are_found() -> None:
    _fill(4)
    log.sign_tree_head()  # covers 1-4; its record is 5
    _fill(4)  # 6-9: no head covers them yet
    assert _verify_command()[0] == 0
    _as_database_admin("DELETE FROM audit_auditentry WHERE seq >= 8")
    code, message = _verify_command()
    assert code == 1
    assert "AUDIT LOG VERIFICATION FAILED: entry seq 8: missing (deleted?)" in message
    assert "the newest 2 entries were deleted" in message
    # The hourly check says the same on the auditors' banner.
    assert verify_audit_log.call() is False
    assert "entry seq 8: missing" in AuditVerification.objects.get().problem


def test_deleting_from_a_log_without_any_head_is_found() -> None:
    _fill(3)
    _as_database_admin("DELETE FROM audit_auditentry WHERE seq = 3")
    report = verify_stored()
    assert report.problems == [
        "entry seq 3: missing (deleted?); the log ends at seq 2 but the sequence row has handed out 3: "
        "the newest 1 entries were deleted"
    ]


def test_entry_written_around_append_at_the_end_is_found() -> None:
    _fill(2)
    forged = AuditEntry(seq=3, at=timezone.now(), action=Action.AUTH_LOGOUT, outcome="allowed", details={})
    forged.leaf_hash = forged.computed_leaf_hash()  # consistent in itself: only the sequence row gives it away
    forged.save(force_insert=True)
    assert verify_stored().problems == [
        "entry seq 3: not handed out by the sequence row (last 2), yet the log goes on to seq 3: "
        "entries were inserted at the end"
    ]


def test_missing_sequence_row_is_reported() -> None:
    _fill(2)
    AuditSequence.objects.all().delete()  # the row is not append-only: it must be updated on every append
    problems = verify_stored().problems
    assert len(problems) == 1 and "the audit sequence row is missing" in problems[0]


def test_appends_committed_while_verifying_are_not_taken_for_tampering() -> None:
    _fill(3)
    # The sequence row is read before and after the entries; appends that commit meanwhile move it on.
    with mock.patch("custody.audit.verify.sequence_last", side_effect=[2, 5]):
        assert verify_stored().ok
    with mock.patch("custody.audit.verify.sequence_last", side_effect=[4, 5]):
        assert "entry seq 4: missing" in verify_stored().problems[0]
    with mock.patch("custody.audit.verify.sequence_last", side_effect=[1, 2]):
        assert "entries were inserted at the end" in verify_stored().problems[0]


def test_no_head_is_signed_over_a_log_missing_its_newest_entries() -> None:
    _fill(5)
    _as_database_admin("DELETE FROM audit_auditentry WHERE seq >= 4")
    with pytest.raises(AuditWriteError, match="handed out 5 numbers but the log ends at seq 3"):
        log.sign_tree_head()
    assert not TreeHead.objects.exists()


# --- When heads are signed -----------------------------------------------------------------------------------


def test_a_head_does_not_call_for_another_by_its_own_record() -> None:
    assert log.first_unsigned_at() is None
    _fill(2)
    first = AuditEntry.objects.get(seq=1)
    assert log.first_unsigned_at() == first.at
    head = log.sign_tree_head()
    assert head is not None and head.tree_size == 2
    assert AuditEntry.objects.get(seq=3).action == Action.AUDIT_TREE_HEAD_SIGNED
    assert log.first_unsigned_at() is None  # only the head's own record follows it
    assert log.sign_tree_head() is None
    assert log.sign_pending_tree_head() is None
    _fill(1)
    assert log.first_unsigned_at() == AuditEntry.objects.get(seq=4).at
    assert log.sign_pending_tree_head().tree_size == 4  # type: ignore[union-attr]  # its record 3 covered too


# The scheduler pass closes stale connections, as a long-running worker must: these run outside a test transaction.
@pytest.mark.django_db(transaction=True)
def test_the_worker_signs_once_the_first_uncovered_entry_is_old_enough(anchor_file: Path) -> None:
    assert log.SIGN_AFTER + timedelta(seconds=SCHEDULER_PASS_SECONDS) < log.TREE_HEAD_DELAY
    worker = CustodyWorker(in_process=True)
    _fill(3)
    worker.scheduler_pass()
    assert not TreeHead.objects.exists()  # written just now: a later pass signs
    with mock.patch("django.utils.timezone.now", return_value=timezone.now() + log.SIGN_AFTER):
        worker.scheduler_pass()
        worker.scheduler_pass()  # nothing new: no second head
    [head] = TreeHead.objects.all()
    assert head.tree_size == 3
    assert [json.loads(line) for line in anchor_file.read_text().splitlines()] == [head.published()]


@pytest.mark.django_db(transaction=True)
def test_a_log_that_cannot_be_signed_does_not_stop_the_hourly_verification() -> None:
    _fill(3)
    _as_database_admin("DELETE FROM audit_auditentry WHERE seq = 3")
    with mock.patch("django.utils.timezone.now", return_value=timezone.now() + log.SIGN_AFTER):
        CustodyWorker(in_process=True).scheduler_pass()
    assert not TreeHead.objects.exists()
    assert ScheduledRun.objects.filter(job="audit.verify").exists()


# --- Commands sign what they wrote ----------------------------------------------------------------------------


def test_a_block_that_appended_ends_under_a_signed_anchored_head(
    anchor_file: Path, django_capture_on_commit_callbacks: Any
) -> None:
    _fill(2)
    log.sign_tree_head()
    with django_capture_on_commit_callbacks(execute=True):
        with log.signed_on_exit():
            call_command("audit", "verify", stdout=io.StringIO())  # reads only: nothing to sign for it
        assert TreeHead.objects.count() == 1
        with pytest.raises(RuntimeError), log.signed_on_exit():
            _fill(3)
            raise RuntimeError("the command failed after writing")
    head = log.latest_tree_head()
    assert head is not None and head.tree_size == AuditEntry.objects.count() - 1  # all but its own record
    assert load_heads_file(anchor_file.read_text(), "anchor")[-1].root_hash == head.root_hash


def _cli(home: Path, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("CUSTODY_") and k != "DATABASE_URL"}
    return subprocess.run(
        [sys.executable, "-m", "custody.cli", *args],
        env={**clean, "CUSTODY_HOME": str(home), **env},
        capture_output=True,
        text=True,
        timeout=300,
    )


def test_a_freshly_seeded_demo_has_a_head_over_all_its_entries(tmp_path: Path) -> None:
    demo_home = tmp_path / "home"
    demo_home.mkdir()
    anchor = tmp_path / "anchor.jsonl"
    env = {"CUSTODY_AUDIT_ANCHOR_FILE": str(anchor)}
    assert _cli(demo_home, "migrate", "-v", "0", **env).returncode == 0
    seeded = _cli(demo_home, "seed-demo", "--quiet-logins", "--no-footage", "--guests", "12", "--stays", "20", **env)
    assert seeded.returncode == 0, seeded.stderr
    with sqlite3.connect(demo_home / "custody.sqlite3") as db:
        entries = db.execute("SELECT COUNT(*), MAX(seq) FROM audit_auditentry").fetchone()
        size, head_id = db.execute("SELECT tree_size, id FROM audit_treehead ORDER BY id DESC").fetchone()
        last = db.execute("SELECT action, object_id FROM audit_auditentry WHERE seq = ?", [entries[1]]).fetchone()
    assert entries[0] == entries[1] > 50
    assert size == entries[1] - 1 and last == ("audit.tree_head.signed", str(head_id))
    anchored = load_heads_file(anchor.read_text(), "anchor")
    assert anchored[-1].tree_size == size
    verified = _cli(demo_home, "audit", "verify", "--tree-head", str(anchor), **env)
    assert verified.returncode == 0 and verified.stdout.startswith(f"OK: {entries[1]} entries"), verified.stderr
