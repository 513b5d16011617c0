"""Background jobs of the core app."""

from __future__ import annotations

from datetime import timedelta

from django.contrib.sessions.models import Session
from django.utils import timezone
from django_tasks import task

from custody.core.models import WorkerHeartbeat


@task()
def clear_expired_sessions() -> int:
    """Delete sessions past their expiry; returns how many went."""
    deleted, _ = Session.objects.filter(expire_date__lt=timezone.now()).delete()
    return deleted


@task()
def prune_worker_heartbeats() -> int:
    """Forget workers not seen for a week."""
    deleted, _ = WorkerHeartbeat.objects.filter(last_seen__lt=timezone.now() - timedelta(days=7)).delete()
    return deleted
