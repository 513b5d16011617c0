"""custody.core.ratelimit: fixed windows in the database, shared by every process; and its settings."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest
from django.db import connection

from custody.core import ratelimit
from custody.core.models import RateLimitWindow
from custody.core.ratelimit import Limit, RateLimited
from tests.test_settings_env import _custody

START = 1_900_000_200.0  # a multiple of 60 and of 600
LIMIT = Limit("test.scope", count=3, seconds=60)


@pytest.mark.django_db
def test_hits_past_the_count_are_refused_until_the_window_ends() -> None:
    assert [ratelimit.hit(LIMIT, "k", now=START + s) for s in (0, 10, 20)] == [1, 2, 3]
    with pytest.raises(RateLimited) as refused:
        ratelimit.hit(LIMIT, "k", now=START + 30.5)
    assert refused.value.retry_after == 30 and refused.value.limit is LIMIT  # 29.5 s left, rounded up
    with pytest.raises(RateLimited) as again:
        ratelimit.hit(LIMIT, "k", now=START + 59.9)
    assert again.value.retry_after == 1  # never 0
    assert ratelimit.hit(LIMIT, "other", now=START + 30) == 1  # keys are counted apart
    assert ratelimit.hit(Limit("test.other", 3, 60), "k", now=START + 30) == 1  # and so are limits
    assert ratelimit.hit(LIMIT, "k", now=START + 60) == 1  # a new window
    # The limit's old windows were deleted when a key began a new one.
    assert sorted(RateLimitWindow.objects.filter(scope=LIMIT.scope).values_list("window_start", "hits")) == [
        (int(START) + 60, 1)
    ]


@pytest.mark.django_db
def test_check_counts_nothing_and_refuses_once_the_count_is_reached() -> None:
    ratelimit.check(LIMIT, "k", now=START)  # nothing yet
    for second in range(3):
        ratelimit.check(LIMIT, "k", now=START + second)
        ratelimit.hit(LIMIT, "k", now=START + second)
    with pytest.raises(RateLimited) as refused:
        ratelimit.check(LIMIT, "k", now=START + 45)
    assert refused.value.retry_after == 15
    assert RateLimitWindow.objects.get().hits == 3
    ratelimit.check(LIMIT, "k", now=START + 60)


@pytest.mark.django_db
def test_keys_are_stored_as_keyed_hashes() -> None:
    ratelimit.hit(LIMIT, "203.0.113.5", now=START)
    (row,) = RateLimitWindow.objects.all()
    assert row.key != "203.0.113.5" and "203.0.113" not in row.key and len(row.key) == 32


def test_a_limit_needs_a_count_and_a_window() -> None:
    with pytest.raises(ValueError, match="at least 1"):
        Limit("test.bad", count=0, seconds=60)
    with pytest.raises(ValueError, match="at least 1"):
        Limit("test.bad", count=1, seconds=0)


@pytest.mark.django_db(transaction=True)
def test_concurrent_hits_never_let_more_than_the_count_through() -> None:
    """Threads with their own database connections stand for server processes: the count is shared and exact."""
    if connection.vendor == "sqlite" and connection.settings_dict["NAME"].startswith(("file:memorydb", ":memory:")):
        pytest.skip("an in-memory SQLite database is not shared between connections")
    limit = Limit("test.concurrent", count=10, seconds=3600)
    passed: list[int] = []
    refused: list[int] = []
    lock = threading.Lock()

    def worker() -> None:
        try:
            for _ in range(5):
                try:
                    ratelimit.hit(limit, "shared", now=START)
                except RateLimited:
                    with lock:
                        refused.append(1)
                else:
                    with lock:
                        passed.append(1)
        finally:
            connection.close()

    threads = [threading.Thread(target=worker) for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert (len(passed), len(refused)) == (10, 20)
    assert RateLimitWindow.objects.get(scope="test.concurrent").hits == 30


@pytest.mark.parametrize(
    ("variable", "value", "message"),
    [
        ("CUSTODY_DESK_LOOKUP_LIMIT_PER_USER", "0", "CUSTODY_DESK_LOOKUP_LIMIT_PER_USER=0 is out of range"),
        ("CUSTODY_DESK_LOOKUP_WINDOW_MINUTES", "ten", "CUSTODY_DESK_LOOKUP_WINDOW_MINUTES='ten' is not a whole number"),
        ("CUSTODY_API_TOKEN_FAILURE_LIMIT", "-1", "CUSTODY_API_TOKEN_FAILURE_LIMIT=-1 is out of range"),
    ],
)
def test_bad_limit_settings_stop_startup(tmp_path: Path, variable: str, value: str, message: str) -> None:
    result = _custody(["check"], {variable: value}, tmp_path)
    assert result.returncode == 2 and message in result.stderr and "Traceback" not in result.stderr
