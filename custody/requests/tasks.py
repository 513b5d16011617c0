"""Background jobs of access requests."""

from __future__ import annotations

from django_tasks import task

from custody.requests import actions


@task()
def close_expired_requests() -> int:
    """Close grants past their end and the requests they leave with nothing to do; returns requests closed."""
    return actions.close_expired()
