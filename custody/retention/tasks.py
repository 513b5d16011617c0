"""Background job of footage retention: daily for every property (PERIODIC_JOBS), or now for one property (the
"run retention now" button)."""

from __future__ import annotations

from typing import Any

from django_tasks import task

from custody.accounts.models import User
from custody.properties.models import Property
from custody.retention.retention import run_footage_retention


@task()
def run_retention(property_code: str = "", user_id: int | None = None) -> dict[str, Any]:
    """Run footage retention for one property (by code) or, with none given, for all; returns the counts."""
    prop = Property.objects.get(code=property_code) if property_code else None
    user = User.objects.filter(pk=user_id).first() if user_id is not None else None
    report = run_footage_retention(prop, acting_user=user)
    return {
        "destroyed": report.destroyed,
        "bytes": report.bytes,
        "held": report.held,
        "failed": report.failed,
        "records": [run.record_id for run in report.runs if run.record_id],
        "disk_low": len(report.disk),
        "busy": report.busy,  # properties skipped: another run was already working on them
    }
