from __future__ import annotations

import signal
from types import FrameType
from typing import Any

from django.core.management.base import BaseCommand, CommandParser

from custody.core.worker import CustodyWorker


class Command(BaseCommand):
    help = (
        "Run a background worker: executes queued jobs and enqueues periodic ones. "
        "Run as many as you like, on any host sharing the database."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--interval", type=float, default=1.0, help="seconds between polls when idle")
        parser.add_argument("--worker-id", default=None, help="unique id of this worker (default: random)")

    def handle(self, *args: Any, **options: Any) -> None:
        worker = CustodyWorker(interval=options["interval"], worker_id=options["worker_id"])

        def stop(signum: int, frame: FrameType | None) -> None:
            self.stdout.write("Stopping after the current job...")
            worker.stop()

        # Handlers first: a stop request that arrives while threads start must still be graceful.
        signal.signal(signal.SIGINT, stop)
        signal.signal(signal.SIGTERM, stop)
        threads = worker.start_in_threads()
        self.stdout.write(f"Custody worker {worker.worker_id} started; Ctrl+C or SIGTERM stops it.")
        while any(t.is_alive() for t in threads):
            for thread in threads:
                thread.join(timeout=0.5)
            if worker.stop_event.is_set() and not worker.job_worker.running_task:
                break
