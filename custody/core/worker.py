"""Background worker: runs django-tasks jobs from the database and enqueues periodic jobs.

`custody worker` runs this in the foreground; `custody serve` runs it in a thread beside the web server.
Any number of workers on any number of hosts may share one database: jobs are claimed with row locks
by django-tasks-db, and each periodic slot is claimed through a unique row in ScheduledRun.

Audit tree heads are signed by the scheduler itself, not queued: each pass signs one when the first entry no
head covers is SIGN_AFTER old, so a long export in the job loop cannot hold a head back past TREE_HEAD_DELAY.
Two workers that look at once sign one head between them (signing takes the audit sequence lock, and the
second finds nothing new).
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta

from django.db import IntegrityError, close_old_connections, transaction
from django.utils import timezone
from django.utils.crypto import get_random_string
from django_tasks_db.management.commands.db_worker import Worker

from custody.audit import log as audit_log
from custody.audit import tasks as audit_tasks
from custody.core import tasks
from custody.core.models import ScheduledRun, WorkerHeartbeat
from custody.evidence import tasks as evidence_tasks
from custody.footage import playback as footage_playback
from custody.footage import watch as footage_watch
from custody.guests import imports
from custody.requests import tasks as request_tasks
from custody.retention import tasks as retention_tasks

logger = logging.getLogger("custody.worker")
# Seconds between scheduler passes. SIGN_AFTER plus this stays under TREE_HEAD_DELAY (a test checks).
SCHEDULER_PASS_SECONDS = 30.0


@dataclass(frozen=True)
class PeriodicJob:
    name: str
    every: timedelta
    enqueue: Callable[[], object]


PERIODIC_JOBS: list[PeriodicJob] = [
    PeriodicJob("audit.verify", timedelta(hours=1), audit_tasks.verify_audit_log.enqueue),
    PeriodicJob("core.clear_expired_sessions", timedelta(hours=1), tasks.clear_expired_sessions.enqueue),
    PeriodicJob("core.prune_worker_heartbeats", timedelta(days=1), tasks.prune_worker_heartbeats.enqueue),
    PeriodicJob("guests.purge_expired_imports", timedelta(hours=1), imports.purge_expired_imports.enqueue),
    PeriodicJob("requests.close_expired", timedelta(minutes=15), request_tasks.close_expired_requests.enqueue),
    PeriodicJob("footage.scan_watched_folders", timedelta(minutes=1), footage_watch.scan_watched_folders.enqueue),
    PeriodicJob("evidence.resume_stale_exports", timedelta(minutes=1), evidence_tasks.resume_stale_exports.enqueue),
    PeriodicJob("footage.purge_playback_cache", timedelta(minutes=10), footage_playback.purge_playback_cache.enqueue),
    PeriodicJob("retention.run_footage", timedelta(days=1), retention_tasks.run_retention.enqueue),
]


def sign_audit_tree_head() -> None:
    """Sign a tree head if the first entry that none covers is SIGN_AFTER old (two indexed lookups if not)."""
    head = audit_log.sign_pending_tree_head(older_than=audit_log.SIGN_AFTER)
    if head is not None:
        logger.info("signed audit tree head at size %s", head.tree_size)


def enqueue_due_jobs(jobs: list[PeriodicJob] | None = None) -> list[str]:
    """Enqueue every job whose current slot nobody has claimed yet; return the names enqueued."""
    now = int(timezone.now().timestamp())
    enqueued: list[str] = []
    for job in PERIODIC_JOBS if jobs is None else jobs:
        seconds = int(job.every.total_seconds())
        slot = now - now % seconds
        try:
            with transaction.atomic():
                run = ScheduledRun.objects.create(job=job.name, slot=slot)
                result = job.enqueue()
                run.task_result_id = str(getattr(result, "id", ""))
                run.save(update_fields=["task_result_id"])
        except IntegrityError:
            continue  # another worker claimed this slot
        enqueued.append(job.name)
    return enqueued


class CustodyWorker:
    def __init__(self, *, interval: float = 1.0, in_process: bool = False, worker_id: str | None = None) -> None:
        self.worker_id = worker_id or get_random_string(32)
        self.in_process = in_process
        self.interval = interval
        self.stop_event = threading.Event()
        self.job_worker = Worker(
            queue_names=["*"],
            interval=interval,
            batch=False,
            backend_name="default",
            startup_delay=not in_process,
            max_tasks=None,
            worker_id=self.worker_id,
            excluded_queue_names=[],
        )

    def beat(self) -> None:
        now = timezone.now()
        WorkerHeartbeat.objects.update_or_create(
            worker_id=self.worker_id,
            defaults={
                "hostname": socket.gethostname()[:255],
                "pid": os.getpid(),
                "in_process": self.in_process,
                "last_seen": now,
            },
            create_defaults={
                "hostname": socket.gethostname()[:255],
                "pid": os.getpid(),
                "in_process": self.in_process,
                "started_at": now,
                "last_seen": now,
            },
        )

    def scheduler_loop(self, beat_every: float = SCHEDULER_PASS_SECONDS) -> None:
        while not self.stop_event.is_set():
            self.scheduler_pass()
            self.stop_event.wait(beat_every)

    def scheduler_pass(self) -> None:
        # Each step on its own: a log that cannot be signed (it fails closed when entries are missing) must not
        # stop the hourly verification that shows the auditors why.
        for step in (self.beat, sign_audit_tree_head, self.enqueue_periodic_jobs):
            try:
                close_old_connections()
                step()
            except Exception:
                logger.exception("scheduler step %s failed; trying again next pass", step.__name__)
            finally:
                close_old_connections()

    def enqueue_periodic_jobs(self) -> None:
        for name in enqueue_due_jobs():
            logger.info("enqueued periodic job %s", name)

    def start_in_threads(self) -> list[threading.Thread]:
        threads = [
            threading.Thread(target=self.scheduler_loop, name="custody-scheduler", daemon=True),
            threading.Thread(target=self._run_jobs, name="custody-worker", daemon=True),
        ]
        for thread in threads:
            thread.start()
        return threads

    def _run_jobs(self) -> None:
        while not self.stop_event.is_set():
            try:
                self.job_worker.run()
            except Exception:
                logger.exception("job loop failed; restarting in 5 s")
                close_old_connections()
                time.sleep(5)

    def stop(self) -> None:
        self.stop_event.set()
        self.job_worker.running = False
