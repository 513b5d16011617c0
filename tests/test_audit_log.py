"""Invariant 3: the audit log is append-only and tamper-evident; `custody audit verify` finds every change."""

from __future__ import annotations

import base64
import hashlib
import io
import json
import threading
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command
from django.db import DatabaseError, IntegrityError, connection, connections, transaction

from custody.audit import keys, log, triggers
from custody.audit.events import Action
from custody.audit.log import NotAnId, append
from custody.audit.models import AuditEntry, TreeHead
from custody.audit.verify import load_heads_file, stored_heads, stored_rows, verify
from custody.lib.canonical_json import canonical_json
from custody.lib.merkle import leaf_hash

pytestmark = pytest.mark.django_db


def _fill(count: int) -> None:
    for index in range(count):
        append(
            Action.STAFF_LIST_VIEWED, actor_id=None, object_type="property", object_id=str(index), details={"n": index}
        )


def _verify() -> list[str]:
    return verify(stored_rows(), stored_heads()).problems


def _raw(sql: str, params: list[object] | None = None) -> None:
    with connection.cursor() as cursor:
        cursor.execute(sql, params or [])


def _rehash(seq: int) -> None:
    entry = AuditEntry.objects.get(seq=seq)
    _raw("UPDATE audit_auditentry SET leaf_hash = %s WHERE seq = %s", [entry.computed_leaf_hash(), seq])


@pytest.fixture
def attacker() -> None:
    """Someone who owns the database and drops the append-only triggers (rolled back after the test)."""
    triggers.apply(connection, triggers.DROP)


def test_appends_are_numbered_and_hashed() -> None:
    _fill(5)
    entries = list(AuditEntry.objects.order_by("seq"))
    assert [e.seq for e in entries] == [1, 2, 3, 4, 5]
    for entry in entries:
        assert entry.leaf_hash == leaf_hash(canonical_json(entry.document())).hex()
    assert _verify() == []


def test_details_refuse_free_text_and_nothing_is_written() -> None:
    with pytest.raises(NotAnId):
        append(Action.STAFF_UPDATED, actor_id=None, details={"name": "Li Na"})
    with pytest.raises(NotAnId):
        append(Action.STAFF_UPDATED, actor_id=None, details={"note": "x" * 65})
    with pytest.raises(ValueError):
        append("guest.gossip", actor_id=None)
    assert AuditEntry.objects.count() == 0


@pytest.mark.parametrize(
    "sql",
    [
        "UPDATE audit_auditentry SET action = 'auth.logout'",
        "DELETE FROM audit_auditentry",
        "UPDATE audit_treehead SET tree_size = 0",
        "DELETE FROM audit_treehead",
    ],
)
def test_triggers_refuse_update_and_delete(sql: str) -> None:
    _fill(2)
    log.sign_tree_head()
    with pytest.raises((IntegrityError, DatabaseError), match="append-only"), transaction.atomic():
        _raw(sql)
    assert AuditEntry.objects.count() == 3  # two entries plus the tree-head entry
    assert TreeHead.objects.count() == 1


def test_orm_update_and_delete_are_refused_too() -> None:
    _fill(1)
    with pytest.raises((IntegrityError, DatabaseError)), transaction.atomic():
        AuditEntry.objects.update(purpose="x")
    with pytest.raises((IntegrityError, DatabaseError)), transaction.atomic():
        AuditEntry.objects.all().delete()
    assert AuditEntry.objects.get().purpose == ""


@pytest.mark.django_db(transaction=True)
def test_truncate_refused_on_postgresql() -> None:
    if connection.vendor != "postgresql":
        pytest.skip("SQLite has no TRUNCATE statement")
    _fill(1)
    with pytest.raises(DatabaseError, match="append-only"), transaction.atomic():
        _raw("TRUNCATE audit_auditentry CASCADE")
    assert AuditEntry.objects.count() == 1


def test_untouched_log_verifies_with_several_heads() -> None:
    _fill(3)
    log.sign_tree_head()
    _fill(4)
    log.sign_tree_head()
    report = verify(stored_rows(), stored_heads())
    assert report.ok, report.problems
    assert report.entries == 9 and report.tree_heads == 2


def test_edited_row_is_named(attacker: None) -> None:
    _fill(6)
    log.sign_tree_head()
    _raw("UPDATE audit_auditentry SET object_id = '999' WHERE seq = 4")
    assert _verify() == ["entry seq 4: contents do not match its leaf hash (edited)"]


def test_edit_with_recomputed_hash_breaks_the_signed_root(attacker: None) -> None:
    _fill(6)
    log.sign_tree_head()
    _raw("UPDATE audit_auditentry SET outcome = 'denied' WHERE seq = 2")
    _rehash(2)
    problems = _verify()
    assert len(problems) == 1 and "does not match the log" in problems[0] and "seq 1 and 6" in problems[0]


def test_deleted_row_is_named(attacker: None) -> None:
    _fill(6)
    _raw("DELETE FROM audit_auditentry WHERE seq = 3")
    assert _verify() == ["entry seq 3: missing (deleted?); found seq 4 next"]


def test_inserted_row_is_found(attacker: None) -> None:
    _fill(5)
    log.sign_tree_head()
    # Make room at seq 3 and slip in an entry, rehashing everything: only the signed root gives it away.
    for seq in range(6, 2, -1):
        _raw("UPDATE audit_auditentry SET seq = seq + 1 WHERE seq = %s", [seq])
    append_doc = AuditEntry.objects.get(seq=4)
    _raw(
        "INSERT INTO audit_auditentry (seq, at, actor_role, action, object_type, object_id, request_ref, grant_ref,"
        " purpose, outcome, details, leaf_hash) VALUES (3, %s, '', 'auth.logout', '', '', '', '', '', 'allowed',"
        " '{}', '')",
        [connection.ops.adapt_datetimefield_value(append_doc.at)],  # as Django itself stores it
    )
    for seq in range(3, 8):
        _rehash(seq)
    problems = _verify()
    assert len(problems) == 1 and "tree head" in problems[0] and "does not match the log" in problems[0]


def test_reordered_rows_are_found(attacker: None) -> None:
    _fill(4)
    log.sign_tree_head()
    _raw("UPDATE audit_auditentry SET object_id = CASE seq WHEN 2 THEN '2' WHEN 3 THEN '1' END WHERE seq IN (2, 3)")
    _rehash(2)
    _rehash(3)
    assert "does not match the log" in _verify()[0]


def test_truncated_log_is_found(attacker: None) -> None:
    _fill(5)
    log.sign_tree_head()
    _raw("DELETE FROM audit_auditentry WHERE seq >= 4")
    problems = _verify()
    assert problems and "covers 5 entries but the log holds 3: truncated" in problems[0]


def test_forged_tree_head_is_found() -> None:
    _fill(3)
    head = log.sign_tree_head()
    assert head is not None
    forged = TreeHead(
        tree_size=3,
        root_hash="00" * 32,
        timestamp=head.timestamp,
        key_id=head.key_id,
        signature=head.signature,
        frontier=[],
    )
    forged.save()
    problems = _verify()
    assert problems and "signature is not valid" in problems[0]


def test_tree_head_going_backwards_is_found() -> None:
    _fill(3)
    first = log.sign_tree_head()
    assert first is not None
    # A validly signed head for a smaller tree, written later: the log was rolled back.
    doc = {"tree_size": 2, "root_hash": merkle_root(2), "timestamp": "2099-01-01T00:00:00.000000Z"}
    TreeHead.objects.create(
        tree_size=2,
        root_hash=doc["root_hash"],
        timestamp=doc["timestamp"],
        key_id=first.key_id,
        signature=keys.sign(canonical_json(doc)),
        frontier=[],
    )
    problems = _verify()
    assert problems and "goes backwards" in problems[0]


def merkle_root(size: int) -> str:
    from custody.lib.merkle import root_from_leaf_hashes

    hashes = [bytes.fromhex(h) for h in AuditEntry.objects.order_by("seq").values_list("leaf_hash", flat=True)]
    return root_from_leaf_hashes(hashes[:size]).hex()


def test_external_tree_head_catches_a_full_rewrite(attacker: None, tmp_path: Path) -> None:
    _fill(4)
    head = log.sign_tree_head()
    assert head is not None
    kept_outside = tmp_path / "head.json"
    kept_outside.write_text(json.dumps(head.published()))
    # The attacker holds the database and the key: rewrites entry 2, rehashes, drops and re-signs every head.
    _raw("UPDATE audit_auditentry SET object_id = 'x' WHERE seq = 2")
    _rehash(2)
    _raw("DELETE FROM audit_treehead")
    log.sign_tree_head(force=True)
    assert _verify() == []  # the database alone now looks consistent...
    outside = load_heads_file(kept_outside.read_text(), str(kept_outside))
    problems = verify(stored_rows(), stored_heads(), extra_heads=outside).problems
    assert problems and "does not match the log" in problems[0]  # ...but not against the head kept outside


def test_verify_command_exit_codes(attacker: None, tmp_path: Path) -> None:
    _fill(3)
    log.sign_tree_head()
    out = io.StringIO()
    call_command("audit", "verify", stdout=out)
    assert out.getvalue().startswith("OK: 4 entries and 1 signed tree heads verified")
    _raw("UPDATE audit_auditentry SET purpose = 'x' WHERE seq = 2")
    err = io.StringIO()
    with pytest.raises(SystemExit) as exit_info:
        call_command("audit", "verify", stderr=err)
    assert exit_info.value.code == 1
    assert "entry seq 2" in err.getvalue()


def test_export_verifies_with_standard_tools_only(tmp_path: Path) -> None:
    """Recompute the root from an export with hashlib and json alone, and check the signature with the PEM key."""
    _fill(5)
    log.sign_tree_head()
    target = tmp_path / "audit.jsonl"
    call_command("audit", "export", "--output", str(target), stderr=io.StringIO())
    lines = [json.loads(line) for line in target.read_text().splitlines()]
    assert lines[0]["format"] == "custody-audit/1"
    entries = [line for line in lines if line["type"] == "entry"]
    heads = [line for line in lines if line["type"] == "tree_head"]

    def canonical(value: object) -> bytes:  # RFC 8785 for strings/ints/objects, as an outsider would write it
        return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()

    leaves = [hashlib.sha256(b"\x00" + canonical(e["entry"])).digest() for e in entries]
    assert [leaf.hex() for leaf in leaves] == [e["leaf_hash"] for e in entries]

    def root(nodes: list[bytes]) -> bytes:
        if len(nodes) == 1:
            return nodes[0]
        k = 1 << ((len(nodes) - 1).bit_length() - 1)
        return hashlib.sha256(b"\x01" + root(nodes[:k]) + root(nodes[k:])).digest()

    head = heads[-1]
    assert root(leaves[: head["tree_size"]]).hex() == head["root_hash"]
    public = keys.load_public_key_pem(lines[0]["public_key"].encode())
    message = canonical({k: head[k] for k in ("tree_size", "root_hash", "timestamp")})
    public.verify(base64.b64decode(head["signature"]), message)  # raises if invalid


def test_head_and_public_key_commands() -> None:
    _fill(1)
    out = io.StringIO()
    call_command("audit", "sign", stdout=out)
    printed = json.loads(out.getvalue())
    head = io.StringIO()
    call_command("audit", "head", stdout=head)
    assert json.loads(head.getvalue()) == printed
    pem = io.StringIO()
    call_command("keys", "public", stdout=pem, stderr=io.StringIO())
    public = keys.load_public_key_pem(pem.getvalue().encode())
    assert keys.key_id(public) == printed["key_id"]
    assert keys.signature_valid(
        public, canonical_json({k: printed[k] for k in ("tree_size", "root_hash", "timestamp")}), printed["signature"]
    )


@pytest.mark.django_db(transaction=True)
def test_parallel_writers_get_gap_free_unique_sequence_numbers() -> None:
    writers, per_writer = 8, 25
    errors: list[BaseException] = []
    barrier = threading.Barrier(writers)

    def write() -> None:
        try:
            barrier.wait()
            for index in range(per_writer):
                with transaction.atomic():
                    append(Action.STAFF_LIST_VIEWED, actor_id=None, details={"i": index})
        except BaseException as exc:
            errors.append(exc)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=write) for _ in range(writers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    seqs = list(AuditEntry.objects.order_by("seq").values_list("seq", flat=True))
    assert seqs == list(range(1, writers * per_writer + 1))
    assert _verify() == []


def test_fast_leaf_template_matches_the_reference_encoding() -> None:
    """verify() rebuilds leaves from a template; it must equal canonical_json(entry.document()) byte for byte."""
    from custody.audit.verify import leaf_bytes

    append(Action.STAFF_UPDATED, actor_id=None, object_type="weird", object_id='q"uo\\te\n\u0001',
           purpose="p\u00e9\u4e2d", details={"roles": ["a", "b"], "n": -3, "ok": True, "none": None, "x": {"y": []}},
           client_ip="::1")
    append(Action.STAFF_UPDATED, actor_id=None, client_ip=None, details={})
    for row in stored_rows():
        entry = AuditEntry.objects.get(seq=row[0])
        assert leaf_bytes(*row[:14]) == canonical_json(entry.document())
        assert leaf_hash(leaf_bytes(*row[:14])).hex() == row[14]


def test_verify_command_with_a_head_kept_outside(attacker: None, tmp_path: Path) -> None:
    _fill(3)
    head = log.sign_tree_head()
    assert head is not None
    kept = tmp_path / "kept.json"
    kept.write_text(json.dumps(head.published()))
    out = io.StringIO()
    call_command("audit", "verify", "--tree-head", str(kept), stdout=out)
    assert out.getvalue().startswith("OK:")
    _raw("UPDATE audit_auditentry SET purpose = 'x' WHERE seq = 1")
    _rehash(1)
    _raw("DELETE FROM audit_treehead")
    err = io.StringIO()
    with pytest.raises(SystemExit):
        call_command("audit", "verify", "--tree-head", str(kept), stderr=err)
    assert "kept.json" in err.getvalue() and "does not match the log" in err.getvalue()
    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    with pytest.raises(CommandError, match=r"bad\.json"):
        call_command("audit", "verify", "--tree-head", str(bad))


def test_signed_heads_are_anchored_to_a_file(
    settings: object, tmp_path: Path, django_capture_on_commit_callbacks: object
) -> None:
    anchor = tmp_path / "anchor.jsonl"
    settings.CUSTODY_AUDIT_ANCHOR_FILE = str(anchor)  # type: ignore[attr-defined]
    _fill(2)
    with django_capture_on_commit_callbacks(execute=True):  # type: ignore[operator]
        head = log.sign_tree_head()
    assert head is not None
    lines = [json.loads(line) for line in anchor.read_text().splitlines()]
    assert lines == [head.published()]
    assert load_heads_file(anchor.read_text(), "anchor")[0].root_hash == head.root_hash
