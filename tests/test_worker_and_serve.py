"""Background worker and `custody serve`: jobs run, periodic slots are claimed once, processes stop cleanly."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import time
import urllib.error
import urllib.request
from datetime import timedelta
from pathlib import Path

import pytest
from django.contrib.sessions.backends.db import SessionStore
from django.contrib.sessions.models import Session
from django.utils import timezone
from django_tasks_db.models import DBTaskResult

from custody.core import tasks
from custody.core.models import ScheduledRun
from custody.core.worker import PERIODIC_JOBS, CustodyWorker, enqueue_due_jobs

# One worker runs the module, so the seeded home below is built once (dev.py runs xdist with --dist loadgroup).
pytestmark = pytest.mark.xdist_group("serve")


@pytest.mark.django_db
def test_each_periodic_slot_is_enqueued_once() -> None:
    first = enqueue_due_jobs()
    second = enqueue_due_jobs()
    assert sorted(first) == sorted(job.name for job in PERIODIC_JOBS)
    assert second == []
    assert ScheduledRun.objects.count() == len(PERIODIC_JOBS)
    assert DBTaskResult.objects.ready().count() == len(PERIODIC_JOBS)


@pytest.mark.django_db(transaction=True)
def test_worker_runs_queued_job_and_records_heartbeat() -> None:
    expired = SessionStore()
    expired["x"] = 1
    expired.set_expiry(-60)
    expired.create()
    Session.objects.filter(session_key=expired.session_key).update(expire_date=timezone.now() - timedelta(hours=1))
    live = SessionStore()
    live.create()
    result = tasks.clear_expired_sessions.enqueue()

    worker = CustodyWorker(interval=0.1, in_process=True)
    worker.job_worker.batch = True
    worker.job_worker.run()
    worker.beat()

    row = DBTaskResult.objects.get(id=result.id)
    assert row.status == "SUCCESSFUL"
    assert row.return_value == 1
    assert not Session.objects.filter(session_key=expired.session_key).exists()
    assert Session.objects.filter(session_key=live.session_key).exists()
    from custody.core.models import WorkerHeartbeat

    assert WorkerHeartbeat.objects.filter(worker_id=worker.worker_id, in_process=True).exists()


def _env(home: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CUSTODY_") and k != "DATABASE_URL"}
    env["CUSTODY_HOME"] = str(home)
    return env


def _cli(*args: str) -> list[str]:
    return [sys.executable, "-m", "custody.cli", *args]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _wait_for(predicate: object, seconds: float) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if predicate():  # type: ignore[operator]
            return True
        time.sleep(0.2)
    return False


def _heartbeats(home: Path) -> int:
    try:
        with sqlite3.connect(home / "custody.sqlite3") as db:
            return int(db.execute("SELECT COUNT(*) FROM core_workerheartbeat").fetchone()[0])
    except sqlite3.OperationalError:
        return 0


@pytest.fixture(scope="module")
def seeded_home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Migrated once per module, with a small demo (the serve tests need users, not 2,000 guests)."""
    home = tmp_path_factory.mktemp("seeded-home")
    subprocess.run(_cli("migrate", "-v", "0"), env=_env(home), check=True, timeout=180)
    seed = _cli("seed-demo", "--quiet-logins", "--no-footage", "--guests", "20", "--stays", "40")
    subprocess.run(seed, env=_env(home), check=True, timeout=180)
    return home


@pytest.fixture
def migrated_home(seeded_home: Path, tmp_path: Path) -> Path:
    """A copy of the seeded home for this test alone: what one server or worker writes, the next test never sees."""
    home = tmp_path / "home"
    shutil.copytree(seeded_home, home)
    assert _heartbeats(home) == 0
    return home


def test_serve_answers_on_loopback_with_in_process_worker_and_stops(migrated_home: Path) -> None:
    port = _free_port()
    proc = subprocess.Popen(
        _cli("serve", "--port", str(port)),
        env=_env(migrated_home),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:

        def login_page_ok() -> bool:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/accounts/login/", timeout=2) as response:
                    return response.status == 200 and b"Custody" in response.read()
            except OSError:
                return False

        assert _wait_for(login_page_ok, 30), "the login page never answered"
        assert _wait_for(lambda: _heartbeats(migrated_home) >= 1, 30), "the in-process worker never checked in"
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/static/css/custody.css", timeout=2) as response:
            assert response.status == 200
    finally:
        proc.send_signal(signal.SIGINT)
        proc.wait(timeout=20)
    assert proc.returncode is not None


def test_worker_command_stops_on_sigterm(migrated_home: Path) -> None:
    proc = subprocess.Popen(
        _cli("worker", "--interval", "0.2"),
        env=_env(migrated_home),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        assert _wait_for(lambda: _heartbeats(migrated_home) >= 1, 30), "the worker never checked in"
    finally:
        proc.send_signal(signal.SIGTERM)
        output, _ = proc.communicate(timeout=20)
    assert proc.returncode == 0, output
    assert "Stopping" in output


def test_serve_refuses_bad_port(tmp_path: Path) -> None:
    result = subprocess.run(
        _cli("serve", "--port", "http"), env=_env(tmp_path), capture_output=True, text=True, timeout=60
    )
    assert result.returncode != 0
    assert "--port 'http' is not a number" in result.stderr


def test_serve_behind_a_trusted_proxy_believes_forwarded_https(migrated_home: Path) -> None:
    port = _free_port()
    env = {**_env(migrated_home), "CUSTODY_HTTPS": "1", "CUSTODY_BEHIND_PROXY": "1"}
    proc = subprocess.Popen(
        _cli("serve", "--port", str(port), "--no-worker", "--trusted-proxy", "127.0.0.1"),
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )

    def fetch(forwarded: bool) -> int | None:
        request = urllib.request.Request(f"http://127.0.0.1:{port}/accounts/login/")
        if forwarded:
            request.add_header("X-Forwarded-Proto", "https")
        opener = urllib.request.build_opener(NoRedirect)
        try:
            with opener.open(request, timeout=2) as response:
                return int(response.status)
        except urllib.error.HTTPError as exc:
            return exc.code
        except OSError:
            return None

    try:
        assert _wait_for(lambda: fetch(True) is not None, 30)
        assert fetch(True) == 200  # the proxy said HTTPS: no redirect loop
        assert fetch(False) == 301  # plain HTTP is still sent to HTTPS
    finally:
        proc.send_signal(signal.SIGINT)
        proc.wait(timeout=20)


class NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args: object, **kwargs: object) -> None:
        return None
