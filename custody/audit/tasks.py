from __future__ import annotations

from django_tasks import task

from custody.audit import log
from custody.audit.models import AuditVerification
from custody.audit.verify import verify_stored


@task()
def sign_tree_head() -> int | None:
    """Sign a tree head if an entry is uncovered. The worker's scheduler signs directly (custody.core.worker), so
    a long job cannot delay it; this job stays for runs queued before that, and for anyone who queues one."""
    head = log.sign_pending_tree_head()
    return head.tree_size if head else None


@task()
def verify_audit_log() -> bool:
    report = verify_stored()
    AuditVerification.objects.create(ok=report.ok, entries=report.entries, tree_heads=report.tree_heads,
                                     problem=report.problems[0] if report.problems else "")
    return report.ok
