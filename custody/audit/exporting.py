"""`custody audit export`: the log as JSON Lines that anyone can verify without Custody.

Line 1: {"type": "log", "format": "custody-audit/1", "key_id", "public_key" (PEM)}
Then one line per entry: {"type": "entry", "leaf_hash": hex, "entry": {...}} where the Merkle leaf is the
canonical JSON (RFC 8785) of "entry"; then one line per signed tree head:
{"type": "tree_head", "tree_size", "root_hash", "timestamp", "signature" (base64 Ed25519), "key_id"}.
"""

from __future__ import annotations

import json
from collections.abc import Iterator

from custody.audit import keys
from custody.audit.models import AuditEntry, TreeHead, entry_document

FORMAT = "custody-audit/1"


def export_lines(since: int = 0) -> Iterator[str]:
    public = keys.public_key()
    yield json.dumps({"type": "log", "format": FORMAT, "key_id": keys.key_id(public),
                      "public_key": keys.public_key_pem(public), "since": since}, sort_keys=True)
    fields = ("seq", "at", "actor_id", "actor_role", "property_id", "action", "object_type", "object_id",
              "request_ref", "grant_ref", "purpose", "outcome", "client_ip", "details", "leaf_hash")
    rows = AuditEntry.objects.filter(seq__gt=since).order_by("seq").values_list(*fields).iterator(chunk_size=20000)
    for seq, at, actor, role, prop, action, otype, oid, req, grant, purpose, outcome, ip, details, digest in rows:
        document = entry_document(seq=seq, at=at, actor=actor, actor_role=role, property=prop, action=action,
                                  object_type=otype, object_id=oid, request=req, grant=grant, purpose=purpose,
                                  outcome=outcome, client_ip=ip, details=details)
        yield json.dumps({"type": "entry", "leaf_hash": digest, "entry": document}, sort_keys=True,
                         ensure_ascii=False)
    for head in TreeHead.objects.order_by("id"):
        yield json.dumps({"type": "tree_head", **head.published()}, sort_keys=True)
