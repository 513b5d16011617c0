"""A small rate limiter kept in the database, so that every web server process and host shares it.

    limit = Limit("desk.lookup.user", count=30, seconds=600)
    hit(limit, str(user.pk))      # counts one hit; RateLimited once the window holds more than 30
    check(limit, address)         # counts nothing; RateLimited once the window already holds 30

Fixed windows: time is cut into windows of ``seconds`` starting at multiples of ``seconds`` since the epoch, and
each (limit, key) has one row per window counting its hits (``RateLimitWindow``). A hit that takes the count past
``count`` is refused until the window ends; ``RateLimited.retry_after`` is the whole seconds until then (the
``Retry-After`` of a 429). Refused hits are counted too, so hammering does not shorten the wait. The price of fixed
windows: up to twice ``count`` can pass within ``seconds`` across a window boundary (``count`` at the end of one,
``count`` at the start of the next). That is the bound the settings document; a sliding log would be exact but
costs a row per hit.

Concurrency: the count is raised with one ``UPDATE ... SET hits = hits + 1`` (a row lock on PostgreSQL; SQLite has
one writer), the row is created when the update found none (a unique constraint settles two first hits at once),
and the count read back in the same transaction includes every hit committed before, so N processes together never
let more than ``count`` hits through a window.

Keys are stored as a keyed hash (HMAC-SHA256 under the Django secret key, truncated to 128 bits): the table holds no
user id, property code or client address, only the ability to recognise the same one again. When a key starts a
new window, the rows of earlier windows of its limit are deleted (every key's), so the table holds little more than
the keys seen in the current window.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass

from django.db import IntegrityError, transaction
from django.db.models import F
from django.utils.crypto import salted_hmac

from custody.core.models import RateLimitWindow

_KEY_SALT = "custody.core.ratelimit"


@dataclass(frozen=True)
class Limit:
    scope: str  # a stable name: the limit's counters are found by it
    count: int  # hits allowed per window
    seconds: int  # the window

    def __post_init__(self) -> None:
        if self.count < 1 or self.seconds < 1:
            raise ValueError(f"rate limit {self.scope}: count and seconds must be at least 1")


class RateLimited(Exception):
    """The limit is reached for this key until its window ends, ``retry_after`` seconds from now."""

    def __init__(self, limit: Limit, retry_after: int) -> None:
        super().__init__(f"{limit.scope}: limit of {limit.count} per {limit.seconds} s reached")
        self.limit = limit
        self.retry_after = retry_after


def hit(limit: Limit, key: str, *, now: float | None = None) -> int:
    """Count one hit of ``key``; RateLimited when the window now holds more than ``limit.count``. Returns the count.

    The hit commits with the caller's transaction (or at once outside one): call it before the work it limits.
    """
    moment = time.time() if now is None else now
    start = _window_start(limit, moment)
    hashed = _hashed(limit, key)
    with transaction.atomic():
        rows = RateLimitWindow.objects.filter(scope=limit.scope, key=hashed, window_start=start)
        if not rows.update(hits=F("hits") + 1):
            try:
                with transaction.atomic():
                    RateLimitWindow.objects.create(scope=limit.scope, key=hashed, window_start=start, hits=1)
            except IntegrityError:  # another process created it first
                rows.update(hits=F("hits") + 1)
            else:
                # The first hit of a key in a window clears the limit's earlier windows, every key's: only the
                # current window counts, and keys never seen again (addresses) do not pile up.
                RateLimitWindow.objects.filter(scope=limit.scope, window_start__lt=start).delete()
        hits: int = rows.values_list("hits", flat=True).get()
    if hits > limit.count:
        raise RateLimited(limit, _retry_after(limit, start, moment))
    return hits


def check(limit: Limit, key: str, *, now: float | None = None) -> None:
    """RateLimited when the window already holds ``limit.count`` hits of ``key`` (the next one would be refused);
    counts nothing."""
    moment = time.time() if now is None else now
    start = _window_start(limit, moment)
    hits = (
        RateLimitWindow.objects.filter(scope=limit.scope, key=_hashed(limit, key), window_start=start)
        .values_list("hits", flat=True)
        .first()
    )
    if hits is not None and hits >= limit.count:
        raise RateLimited(limit, _retry_after(limit, start, moment))


def _window_start(limit: Limit, moment: float) -> int:
    return int(moment // limit.seconds) * limit.seconds


def _retry_after(limit: Limit, start: int, moment: float) -> int:
    return max(1, math.ceil(start + limit.seconds - moment))


def _hashed(limit: Limit, key: str) -> str:
    return salted_hmac(_KEY_SALT, f"{limit.scope}\x00{key}", algorithm="sha256").hexdigest()[:32]
