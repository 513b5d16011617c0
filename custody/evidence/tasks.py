"""Background jobs of exports (run by ``custody worker`` / ``custody serve``; django-tasks database backend)."""

from __future__ import annotations

from typing import Any

from django_tasks import task

from custody.evidence import exporting


@task()
def export_footage(export_id: str) -> dict[str, Any]:
    """Cut, package and sign one export (enqueued by create_export, retry_export and resume_stale_exports)."""
    export = exporting.run_export(export_id)
    return {"export": export_id, "status": export.status, "error": export.error_code, "attempts": export.attempts}


@task()
def resume_stale_exports() -> dict[str, Any]:
    """Periodic: queue again every running export whose worker stopped sending heartbeats."""
    resumed = exporting.resume_stale()
    return {"resumed": len(resumed)}
