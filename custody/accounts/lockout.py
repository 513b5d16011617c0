"""Sign-in lockout (django-axes): by the pair of user name and address, and more softly by address alone.

Locking a user name wherever the attempts come from lets anyone lock out a named reviewer just by typing their name
wrongly five times; locking an address after a few failures locks out everyone who works behind it (a hotel's back
office often shares one address). So failures are counted per (user name, address) pair, which locks at
CUSTODY_LOGIN_FAILURE_LIMIT (axes' AXES_FAILURE_LIMIT), and per address over all user names, which locks the address
only at the higher CUSTODY_LOGIN_ADDRESS_FAILURE_LIMIT: enough to stop one address guessing across many accounts.
Both count the failures within the lockout period (AXES_COOLOFF_TIME) and both end with it.
"""

from __future__ import annotations

from typing import Any

from axes.attempts import get_cool_off_threshold
from axes.handlers.database import AxesDatabaseHandler
from axes.helpers import get_failure_limit
from axes.models import AccessAttempt
from django.conf import settings
from django.db.models import Sum
from django.http import HttpRequest

USERNAME_LIMIT = 150  # the user model's limit; axes stores attempts in a 255-character column


def attempted_username(request: HttpRequest, credentials: dict[str, Any] | None = None) -> str:
    """The user name tried, cut to a length that can name a real account (longer ones never can)."""
    raw = (credentials or {}).get("username") or request.POST.get("username", "")
    return str(raw)[:USERNAME_LIMIT]


def address_failures(request: Any) -> int:
    """Failed sign-ins from the request's address within the lockout period, whatever user names they tried."""
    attempts = AccessAttempt.objects.filter(
        ip_address=request.axes_ip_address, attempt_time__gte=get_cool_off_threshold(request)
    )
    return int(attempts.aggregate(total=Sum("failures_since_start"))["total"] or 0)


class PairAndAddressHandler(AxesDatabaseHandler):
    """axes' database handler with AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]], plus the address limit.

    axes compares get_failures() with AXES_FAILURE_LIMIT both when it checks a lock and after each failure, so an
    address over its own limit answers at least that limit: the address is then locked for every user name.
    """

    def get_failures(self, request: HttpRequest, credentials: dict[str, Any] | None = None) -> int:
        pair = int(super().get_failures(request, credentials))
        if address_failures(request) >= settings.CUSTODY_LOGIN_ADDRESS_FAILURE_LIMIT:
            return max(pair, int(get_failure_limit(request, credentials)))
        return pair
