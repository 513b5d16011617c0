from __future__ import annotations

from django.db import models


class WorkerHeartbeat(models.Model):
    """One row per background worker; the IT admin's home page shows which are alive."""

    worker_id = models.CharField(max_length=64, unique=True)
    hostname = models.CharField(max_length=255)
    pid = models.PositiveIntegerField()
    in_process = models.BooleanField(default=False)
    started_at = models.DateTimeField()
    last_seen = models.DateTimeField()

    class Meta:
        ordering = ["-last_seen"]

    def __str__(self) -> str:
        return f"{self.hostname}:{self.pid}"


class ScheduledRun(models.Model):
    """Claims one time slot of a periodic job, so many workers enqueue it only once."""

    job = models.CharField(max_length=100)
    slot = models.BigIntegerField(help_text="Seconds since the epoch at the start of the slot.")
    enqueued_at = models.DateTimeField(auto_now_add=True)
    task_result_id = models.CharField(max_length=64, blank=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["job", "slot"], name="unique_job_slot")]

    def __str__(self) -> str:
        return f"{self.job}@{self.slot}"


class RateLimitWindow(models.Model):
    """The hits of one key in one fixed time window of one limit (custody.core.ratelimit).

    ``key`` is a keyed hash of what is limited (a user, a property, a client address), never the thing itself.
    """

    scope = models.CharField(max_length=64)
    key = models.CharField(max_length=64)
    window_start = models.BigIntegerField(help_text="Seconds since the epoch at the start of the window.")
    hits = models.PositiveIntegerField(default=0)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["scope", "key", "window_start"], name="unique_rate_limit_window")
        ]
        indexes = [models.Index(fields=["scope", "window_start"], name="rate_limit_window_age")]

    def __str__(self) -> str:
        return f"{self.scope}@{self.window_start}: {self.hits}"
