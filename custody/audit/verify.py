"""Recompute the whole audit log and check it against every signed tree head.

Finds rows that were edited (leaf no longer matches), deleted or inserted (sequence gap or shift), reordered
or rewritten together with their stored hashes (root no longer matches a signed head), truncated (a head
covers more entries than exist, or the log ends before the number the sequence row has handed out), and tree
heads that were forged, re-signed with another key, or that go backwards. The report names the first problem found.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from json.encoder import encode_basestring as _q  # the C encoder; keeps non-ASCII as is
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from django.db import connection

from custody.audit import keys
from custody.audit.models import AuditEntry, AuditSequence, TreeHead
from custody.lib.canonical_json import canonical_json, canonical_json_fast
from custody.lib.merkle import CompactRange, leaf_hash


@dataclass
class VerifyReport:
    entries: int = 0
    tree_heads: int = 0
    root_hash: str = ""
    problems: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems


@dataclass(frozen=True)
class Head:
    tree_size: int
    root_hash: str
    timestamp: str
    signature: str
    key_id: str
    label: str

    def document(self) -> dict[str, Any]:
        return {"tree_size": self.tree_size, "root_hash": self.root_hash, "timestamp": self.timestamp}


def head_from_json(data: dict[str, Any], label: str) -> Head:
    try:
        return Head(int(data["tree_size"]), str(data["root_hash"]), str(data["timestamp"]), str(data["signature"]),
                    str(data.get("key_id", "")), label)
    except (KeyError, TypeError, ValueError) as exc:
        raise ValueError(f"{label} is not a tree head: missing or bad field {exc}") from None


def stored_heads() -> list[Head]:
    return [Head(h.tree_size, h.root_hash, h.timestamp, h.signature, h.key_id, f"tree head #{h.pk}")
            for h in TreeHead.objects.order_by("id")]


def stored_rows(chunk: int = 20000) -> Iterator[tuple[Any, ...]]:
    """Rows as (seq, at as published text, actor, role, property, action, object type, object id, request,
    grant, purpose, outcome, client ip, details, stored leaf hash), read with a plain cursor and the time
    formatted by the database: the ORM's per-row conversions would cost more than all the hashing."""
    if connection.vendor == "postgresql":
        at = "to_char(at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.US\"Z\"')"
        ip = "host(client_ip)"
    else:  # SQLite keeps naive UTC text, without the fraction when it is zero
        at = "replace(CASE WHEN instr(at, '.') THEN at ELSE at || '.000000' END, ' ', 'T') || 'Z'"
        ip = "client_ip"
    columns = ", ".join(("seq", at, "actor_id", "actor_role", "property_id", "action", "object_type", "object_id",
                         "request_ref", "grant_ref", "purpose", "outcome", ip, "details", "leaf_hash"))
    canonical_details: dict[str, Any] = {}
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT {columns} FROM {AuditEntry._meta.db_table} ORDER BY seq")  # noqa: S608 - fixed names
        while batch := cursor.fetchmany(chunk):
            for row in batch:
                details = row[13]
                if isinstance(details, str):
                    # Many entries share details; decode each distinct stored text once.
                    decoded = canonical_details.get(details)
                    if decoded is None:
                        decoded = canonical_details[details] = json.loads(details)
                        if len(canonical_details) > 100_000:
                            canonical_details.clear()
                    details = decoded
                yield (*row[:13], details, row[14])


def leaf_bytes(seq: int, at: str, actor: int | None, role: str, prop: int | None, action: str, otype: str,
               oid: str, req: str, grant: str, purpose: str, outcome: str, ip: str | None, details: Any) -> bytes:
    """The canonical JSON of an entry, built from a fixed template (keys in RFC 8785 order).

    Equal to canonical_json(entry_document(...)) for every row append() can write; tests check this.
    """
    # %-formatting: the fastest way to build a string in CPython, and verify does this a million times.
    return (
        '{"action":%s,"actor":%s,"actor_role":%s,"at":%s,"client_ip":%s,"details":%s,"grant":%s,"object_id":%s,'
        '"object_type":%s,"outcome":%s,"property":%s,"purpose":%s,"request":%s,"seq":%d}'
        % (_q(action), "null" if actor is None else int(actor), _q(role), _q(at), "null" if ip is None else _q(ip),
           "{}" if details == {} else canonical_json_fast(details).decode("utf-8"), _q(grant), _q(oid), _q(otype),
           _q(outcome), "null" if prop is None else int(prop), _q(purpose), _q(req), seq)
    ).encode("utf-8")


def verify(
    rows: Iterable[tuple[Any, ...]], heads: list[Head], public_key: Ed25519PublicKey | None = None,
    extra_heads: list[Head] | None = None,
) -> VerifyReport:
    key = public_key or keys.public_key()
    report = VerifyReport()
    all_heads = list(heads) + list(extra_heads or [])
    for head in all_heads:
        if not keys.signature_valid(key, canonical_json(head.document()), head.signature):
            report.problems.append(f"{head.label} (size {head.tree_size}): signature is not valid for this key")
            return report
    previous: Head | None = None
    for head in heads:
        if previous and (head.tree_size < previous.tree_size or head.timestamp < previous.timestamp):
            report.problems.append(
                f"{head.label} goes backwards: size {previous.tree_size} -> {head.tree_size}, "
                f"time {previous.timestamp} -> {head.timestamp}")
            return report
        previous = head
    checkpoints: dict[int, list[Head]] = {}
    for head in all_heads:
        checkpoints.setdefault(head.tree_size, []).append(head)
    compact = CompactRange()
    last_good = 0
    for head in checkpoints.pop(0, []):
        if head.root_hash != compact.root().hex():
            report.problems.append(f"{head.label} (size 0) has a wrong root")
            return report
    for row in rows:
        (seq, at, actor, role, prop, action, otype, oid, req, grant, purpose, outcome, ip, details, stored) = row
        expected = compact.size + 1
        if seq != expected:
            what = "missing (deleted?)" if seq > expected else "out of order"
            report.problems.append(f"entry seq {expected}: {what}; found seq {seq} next")
            return report
        digest = leaf_hash(leaf_bytes(seq, at, actor, role, prop, action, otype, oid, req, grant, purpose, outcome,
                                      ip, details))
        if digest.hex() != stored:
            report.problems.append(f"entry seq {seq}: contents do not match its leaf hash (edited)")
            return report
        compact.append(digest)
        for head in checkpoints.pop(compact.size, []):
            if compact.root().hex() != head.root_hash:
                report.problems.append(
                    f"{head.label} (size {head.tree_size}) does not match the log: an entry between seq "
                    f"{last_good + 1} and {head.tree_size} was changed, inserted or reordered after it was signed")
                return report
            last_good = head.tree_size
    report.entries = compact.size
    report.root_hash = compact.root().hex()
    report.tree_heads = len(all_heads)
    if checkpoints:
        size = min(checkpoints)
        report.problems.append(
            f"{checkpoints[size][0].label} covers {size} entries but the log holds {compact.size}: truncated")
    return report


def sequence_last() -> int | None:
    """The last sequence number handed out, as committed (None: the row is missing)."""
    return AuditSequence.objects.filter(pk=1).values_list("last", flat=True).first()


def check_log_end(report: VerifyReport, before: int | None, after: int | None) -> None:
    """Compare where the log ends with the sequence row read just before and just after reading the entries.

    An entry and its sequence number commit together, so an untouched log read between the two readings ends
    at or after `before` and at or before `after`, however many appends run meanwhile. Ending earlier means
    entries at the end were deleted, which no tree head may cover yet; ending later, that rows were written
    around `append`.
    """
    if not report.ok:
        return
    if before is None or after is None:
        if report.entries:
            report.problems.append(
                f"the audit sequence row is missing (the log holds {report.entries} entries): it was deleted, so "
                "entries at the end may have been deleted too")
        return
    if report.entries < before:
        report.problems.append(
            f"entry seq {report.entries + 1}: missing (deleted?); the log ends at seq {report.entries} but the "
            f"sequence row has handed out {before}: the newest {before - report.entries} entries were deleted")
    elif report.entries > after:
        report.problems.append(
            f"entry seq {after + 1}: not handed out by the sequence row (last {after}), yet the log goes on to seq "
            f"{report.entries}: entries were inserted at the end")


def verify_stored(public_key: Ed25519PublicKey | None = None, extra_heads: list[Head] | None = None) -> VerifyReport:
    """verify() over this database's entries and heads, and the end of the log against the sequence row."""
    before = sequence_last()
    report = verify(stored_rows(), stored_heads(), public_key, extra_heads)
    check_log_end(report, before, sequence_last())
    return report


def load_heads_file(text: str, label: str) -> list[Head]:
    """A file holding one tree head (JSON) or many (JSON Lines, as `audit export` and anchors write)."""
    text = text.strip()
    if text.startswith("{") and "\n" not in text:
        return [head_from_json(json.loads(text), label)]
    heads: list[Head] = []
    for number, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        data = json.loads(line)
        if data.get("type", "tree_head") == "tree_head" and "root_hash" in data:
            heads.append(head_from_json(data, f"{label} line {number}"))
    return heads
