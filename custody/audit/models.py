"""The audit log: append-only rows, each a leaf of an RFC 6962 Merkle tree; signed tree heads over it.

UPDATE and DELETE on both tables are refused by database triggers (migration 0002). Foreign keys never
cascade: a user, property or object that the log mentions cannot be deleted from under it.
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _

from custody.audit.events import Action, Outcome
from custody.lib.canonical_json import canonical_json
from custody.lib.merkle import leaf_hash


class AuditEntry(models.Model):
    seq = models.BigIntegerField(_("sequence"), unique=True)
    at = models.DateTimeField(_("time (UTC)"), db_index=True)
    actor = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, related_name="+")
    actor_role = models.CharField(_("actor role"), max_length=200, blank=True)
    property = models.ForeignKey("properties.Property", on_delete=models.PROTECT, null=True, related_name="+")
    action = models.CharField(_("action"), max_length=64, choices=Action.choices, db_index=True)
    object_type = models.CharField(_("object type"), max_length=64, blank=True)
    object_id = models.CharField(_("object id"), max_length=64, blank=True, db_index=True)
    request_ref = models.CharField(_("request"), max_length=64, blank=True, db_index=True)
    grant_ref = models.CharField(_("grant"), max_length=64, blank=True)
    purpose = models.CharField(_("purpose"), max_length=64, blank=True)
    outcome = models.CharField(_("outcome"), max_length=8, choices=Outcome.choices)
    client_ip = models.GenericIPAddressField(_("client IP"), null=True, blank=True)
    details = models.JSONField(_("details"), default=dict)
    leaf_hash = models.CharField(max_length=64)

    class Meta:
        verbose_name = _("audit entry")
        verbose_name_plural = _("audit entries")
        ordering = ["seq"]
        constraints = [models.CheckConstraint(condition=models.Q(seq__gte=1), name="audit_seq_positive")]

    def __str__(self) -> str:
        return f"#{self.seq} {self.action}"

    def document(self) -> dict[str, Any]:
        """The entry as published: the exact object whose canonical JSON is the Merkle leaf."""
        return entry_document(
            seq=self.seq, at=self.at, actor=self.actor_id, actor_role=self.actor_role, property=self.property_id,
            action=self.action, object_type=self.object_type, object_id=self.object_id, request=self.request_ref,
            grant=self.grant_ref, purpose=self.purpose, outcome=self.outcome, client_ip=self.client_ip,
            details=self.details,
        )

    def computed_leaf_hash(self) -> str:
        return leaf_hash(canonical_json(self.document())).hex()


def entry_document(
    *, seq: int, at: Any, actor: int | None, actor_role: str, property: int | None, action: str, object_type: str,
    object_id: str, request: str, grant: str, purpose: str, outcome: str, client_ip: str | None, details: Any,
) -> dict[str, Any]:
    return {
        "seq": seq, "at": at.strftime("%Y-%m-%dT%H:%M:%S.%fZ"), "actor": actor, "actor_role": actor_role,
        "property": property, "action": action, "object_type": object_type, "object_id": object_id,
        "request": request, "grant": grant, "purpose": purpose, "outcome": outcome, "client_ip": client_ip,
        "details": details,
    }


class TreeHead(models.Model):
    """A signed statement: 'the log held tree_size entries with this root at this time'."""

    tree_size = models.BigIntegerField()
    root_hash = models.CharField(max_length=64)
    timestamp = models.CharField(max_length=32, help_text="RFC 3339 UTC, exactly as signed")
    signature = models.CharField(max_length=100, help_text="Ed25519 over the canonical JSON, base64")
    key_id = models.CharField(max_length=32)
    frontier = models.JSONField(default=list, help_text="compact range of the tree at this size (hex), for appends")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["id"]
        constraints = [models.CheckConstraint(condition=models.Q(tree_size__gte=0), name="tree_head_size_positive")]
        # The latest head is looked up on every worker pass (up to a few thousand heads a day): keep that O(log n).
        indexes = [models.Index(fields=["tree_size", "id"], name="audit_treehead_latest")]

    def __str__(self) -> str:
        return f"tree head {self.tree_size} {self.root_hash[:12]}"

    def document(self) -> dict[str, Any]:
        return {"tree_size": self.tree_size, "root_hash": self.root_hash, "timestamp": self.timestamp}

    def published(self) -> dict[str, Any]:
        return {**self.document(), "signature": self.signature, "key_id": self.key_id}


class AuditVerification(models.Model):
    """Result of one full verification run, shown as the banner of the audit viewer."""

    run_at = models.DateTimeField(auto_now_add=True)
    ok = models.BooleanField()
    entries = models.BigIntegerField(default=0)
    tree_heads = models.IntegerField(default=0)
    problem = models.TextField(blank=True)

    class Meta:
        ordering = ["-run_at"]

    def __str__(self) -> str:
        return f"verification {self.run_at:%Y-%m-%d %H:%M} {'ok' if self.ok else 'FAILED'}"


class AuditSequence(models.Model):
    """One row holding the last sequence number handed out.

    `UPDATE ... SET last = last + 1 RETURNING last` locks the row until the transaction ends, so appends from
    any number of processes are serialised in commit order, and a rolled-back append gives its number back:
    sequence numbers stay gap-free and unique. Signing a tree head takes the same lock.
    """

    last = models.BigIntegerField(default=0)

    def __str__(self) -> str:
        return f"audit sequence at {self.last}"
