#!/usr/bin/env python3
"""Audit log benchmark: append rate and verify rate, each beside raw hashlib SHA-256 over the same bytes.

    .venv/bin/python benchmarks/audit_bench.py                       # SQLite in a temporary CUSTODY_HOME
    DATABASE_URL=postgresql://postgres@127.0.0.1:5432/custody_bench .venv/bin/python benchmarks/audit_bench.py

Options: --appends N (default 5000), --verify-entries N (default 1000000). The PostgreSQL database must exist
and will be migrated (use a throwaway one). Targets (DESIGN.md): append >= 2,000/s, verify >= 500,000/s.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--appends", type=int, default=5000)
    parser.add_argument("--verify-entries", type=int, default=1_000_000)
    args = parser.parse_args()

    os.environ.setdefault("CUSTODY_HOME", tempfile.mkdtemp(prefix="custody-bench-"))
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "custody.settings")
    import django

    django.setup()
    from django.core.management import call_command
    from django.db import connection, transaction

    from custody.audit import triggers
    from custody.audit.events import Action
    from custody.audit.log import append
    from custody.audit.models import AuditEntry, AuditSequence, TreeHead, entry_document
    from custody.audit.verify import leaf_bytes, stored_heads, stored_rows, verify
    from custody.lib.canonical_json import canonical_json
    from custody.lib.merkle import leaf_hash

    call_command("migrate", verbosity=0)
    triggers.apply(connection, triggers.DROP)  # the benchmark starts from an empty log
    AuditEntry.objects.all().delete()
    TreeHead.objects.all().delete()
    AuditSequence.objects.update(last=0)
    triggers.apply(connection, triggers.CREATE)
    print(f"database: {connection.vendor} ({connection.settings_dict['NAME']})")

    # 1. Appends, one transaction each, as the gate writes them.
    start = time.perf_counter()
    for index in range(args.appends):
        with transaction.atomic():
            append(Action.STAFF_LIST_VIEWED, actor_id=None, object_type="property", object_id=str(index),
                   details={"filters": ["action"], "n": index})
    append_seconds = time.perf_counter() - start
    payloads = [canonical_json(e.document()) for e in AuditEntry.objects.order_by("seq")[: args.appends]]
    start = time.perf_counter()
    for payload in payloads:
        hashlib.sha256(b"\x00" + payload).digest()
    hash_seconds = time.perf_counter() - start
    append_rate = args.appends / append_seconds
    print(f"append: {append_rate:,.0f} entries/s ({args.appends} entries, {append_seconds:.2f} s); "
          f"raw SHA-256 of the same bytes: {args.appends / hash_seconds:,.0f}/s; "
          f"ratio append/sha256 = {append_seconds / hash_seconds:,.0f}x slower; target >= 2,000/s: "
          f"{'met' if append_rate >= 2000 else 'NOT met'}")

    # 1b. The same appends, 50 to a transaction (as a bulk job writes them): Custody's own cost per entry,
    # without one disk flush per commit.
    start = time.perf_counter()
    for chunk in range(0, args.appends, 50):
        with transaction.atomic():
            for index in range(chunk, min(chunk + 50, args.appends)):
                append(Action.STAFF_LIST_VIEWED, actor_id=None, object_type="property", object_id=str(index),
                       details={"filters": ["action"], "n": index})
    batched_seconds = time.perf_counter() - start
    print(f"append, 50 per transaction: {args.appends / batched_seconds:,.0f} entries/s; "
          f"ratio to raw SHA-256 = {batched_seconds / hash_seconds:,.0f}x slower")

    # 2. Fill to the verify size with valid entries written in bulk (triggers allow INSERT).
    have = AuditEntry.objects.count()
    base = datetime.now(tz=UTC)
    batch: list[AuditEntry] = []
    fill_start = time.perf_counter()
    for seq in range(have + 1, args.verify_entries + 1):
        at = base + timedelta(microseconds=seq)
        fields = {"seq": seq, "at": at, "actor": None, "actor_role": "auditor", "property": None,
                  "action": "audit.log.viewed", "object_type": "property", "object_id": str(seq % 97),
                  "request": "", "grant": "", "purpose": "internal_audit", "outcome": "allowed",
                  "client_ip": "127.0.0.1", "details": {"filters": ["action", "actor"]}}
        digest = leaf_hash(canonical_json(entry_document(**fields))).hex()
        batch.append(AuditEntry(seq=seq, at=at, actor_role="auditor", action="audit.log.viewed",
                                object_type="property", object_id=str(seq % 97), purpose="internal_audit",
                                outcome="allowed", client_ip="127.0.0.1", details=fields["details"],
                                leaf_hash=digest))
        if len(batch) == 20000:
            AuditEntry.objects.bulk_create(batch)
            batch.clear()
    if batch:
        AuditEntry.objects.bulk_create(batch)
    AuditSequence.objects.update(last=args.verify_entries)  # the bulk insert bypassed the sequence
    print(f"filled to {args.verify_entries:,} entries in {time.perf_counter() - fill_start:.1f} s")
    from custody.audit.log import sign_tree_head

    sign_tree_head()

    # 3. Verify everything, and hash the same leaf bytes with nothing else.
    start = time.perf_counter()
    report = verify(stored_rows(), stored_heads())
    verify_seconds = time.perf_counter() - start
    assert report.ok, report.problems
    rows = list(stored_rows())
    leaves = [leaf_bytes(*row[:14]) for row in rows]
    del rows
    start = time.perf_counter()
    for leaf in leaves:
        hashlib.sha256(b"\x00" + leaf).digest()
    raw_seconds = time.perf_counter() - start
    verify_rate = report.entries / verify_seconds
    print(f"verify: {verify_rate:,.0f} entries/s ({report.entries:,} entries, {verify_seconds:.2f} s, "
          f"{report.tree_heads} tree heads); raw SHA-256 of the same leaf bytes: "
          f"{len(leaves) / raw_seconds:,.0f}/s; ratio verify/sha256 = {verify_seconds / raw_seconds:.1f}x slower; "
          f"target >= 500,000/s: {'met' if verify_rate >= 500_000 else 'NOT met'}")


if __name__ == "__main__":
    main()
