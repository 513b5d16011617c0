from __future__ import annotations

from django_tasks import task

from custody.audit import log
from custody.audit.models import AuditVerification
from custody.audit.verify import stored_heads, stored_rows, verify


@task()
def sign_tree_head() -> int | None:
    head = log.sign_tree_head()
    return head.tree_size if head else None


@task()
def verify_audit_log() -> bool:
    report = verify(stored_rows(), stored_heads())
    AuditVerification.objects.create(ok=report.ok, entries=report.entries, tree_heads=report.tree_heads,
                                     problem=report.problems[0] if report.problems else "")
    return report.ok
