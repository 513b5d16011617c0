"""The desk's booking-reference lookup is no existence oracle (DESIGN invariant 6; issue 12, item 4).

* The reference travels in a CSRF-protected POST body only, never in a URL.
* Lookups are limited per user and per property, in the database (every server process shares the count): past
  the limit a 429 with Retry-After, nothing read, and a denied audit entry with reason ``rate_limited``.
* Every lookup's audit entry holds a keyed fingerprint of the searched reference (equal for the same guess, never the
  reference), so repeated guessing shows.
* A reference whose stay the desk may not see (checked out, arriving another day, another property's, erased)
  answers exactly like one that does not exist: same status, same bytes apart from the CSRF tokens, same audit
  details apart from the fingerprint, the same queries and decryptions, and the same time (a statistical test).
"""

from __future__ import annotations

import datetime as dt
import random
import re
import statistics
import time
from collections.abc import Callable
from typing import Any
from unittest import mock

import pytest
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext

from custody.accounts.models import User
from custody.accounts.roles import Role
from custody.audit.events import Action, Outcome
from custody.audit.models import AuditEntry
from custody.core.models import RateLimitWindow
from custody.crypto.blind_index import blind_index, search_fingerprint
from custody.guests import desk, vault
from custody.guests.models import StayStatus
from tests.conftest import Hotel, make_user
from tests.test_front_desk import NEUTRAL, audit_text, make_stay, url

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("fresh_keys")]

CSRF_TOKEN = re.compile(rb'name="csrfmiddlewaretoken" value="[^"]+"')
MISSING = "NOPE-404"


@pytest.fixture
def limits(settings: Any) -> Callable[..., None]:
    def set_limits(*, user: int = 10_000, prop: int = 10_000, minutes: int = 10) -> None:
        settings.CUSTODY_DESK_LOOKUP_LIMIT_PER_USER = user
        settings.CUSTODY_DESK_LOOKUP_LIMIT_PER_PROPERTY = prop
        settings.CUSTODY_DESK_LOOKUP_WINDOW_MINUTES = minutes

    set_limits()
    return set_limits


def desk_client_for(user: User) -> Client:
    client = Client()
    client.force_login(user)
    return client


def lookup(client: Client, hotel: Hotel, reference: str) -> Any:
    return client.post(url("desk:lookup", hotel), {"reference": reference})


def lookup_entries(**filters: Any) -> list[AuditEntry]:
    return list(AuditEntry.objects.filter(action=Action.STAY_LOOKUP, **filters).order_by("seq"))


# --- POST only, CSRF-protected ------------------------------------------------------------------------------------


def test_the_lookup_needs_the_csrf_token(hotel: Hotel, desk_clerk: User) -> None:
    make_stay(hotel, "Present", reference="HERE-1")
    client = Client(enforce_csrf_checks=True)
    client.force_login(desk_clerk)

    refused = client.post(url("desk:lookup", hotel), {"reference": "HERE-1"})
    assert refused.status_code == 403 and b"Present" not in refused.content
    assert not lookup_entries()

    page = client.get(url("desk:today", hotel))
    token = re.search(rb'name="csrfmiddlewaretoken" value="([^"]+)"', page.content)
    assert token is not None and b'<form method="post" action="/p/seaside/desk/lookup/"' in page.content
    found = client.post(url("desk:lookup", hotel), {"reference": "HERE-1", "csrfmiddlewaretoken": token[1].decode()})
    assert found.status_code == 200 and b"Present, Ana" in found.content
    assert len(lookup_entries()) == 1


# --- limits ---------------------------------------------------------------------------------------------------------


def test_lookups_past_the_users_limit_are_429_with_retry_after_and_audited(
    hotel: Hotel, desk_clerk: User, limits: Callable[..., None]
) -> None:
    limits(user=3, minutes=10)
    make_stay(hotel, "Present", reference="HERE-1")
    client = desk_client_for(desk_clerk)
    for _ in range(3):
        assert b"Present, Ana" in lookup(client, hotel, "HERE-1").content

    # Another session of the same user (another browser, another server process): the count is in the database.
    refused = lookup(desk_client_for(desk_clerk), hotel, "HERE-1")

    assert refused.status_code == 429
    assert 1 <= int(refused["Retry-After"]) <= 600
    html = refused.content.decode()
    assert "Too many lookups" in html and "Present" not in html and NEUTRAL not in html
    allowed = lookup_entries(outcome=Outcome.ALLOWED)
    (denied,) = lookup_entries(outcome=Outcome.DENIED)
    assert len(allowed) == 3 and denied.actor_id == desk_clerk.pk
    assert denied.details == {
        "kind": "booking_reference",
        "searched": search_fingerprint("booking_reference", "HERE-1"),
        "reason": "rate_limited",
        "limit": "desk.lookup.user",
    }
    assert AuditEntry.objects.filter(action=Action.GUEST_LIST_READ).count() == 3  # no name read for the refused one
    assert "HERE-1" not in audit_text()


def test_the_property_limit_counts_every_users_lookups(hotel: Hotel, limits: Callable[..., None]) -> None:
    limits(user=10, prop=3)
    make_stay(hotel, "Present", reference="HERE-1")
    first = desk_client_for(make_user("desk-a", hotel.prop, Role.FRONT_DESK))
    second = desk_client_for(make_user("desk-b", hotel.prop, Role.FRONT_DESK))
    assert lookup(first, hotel, "A-1").status_code == 200
    assert lookup(first, hotel, "A-2").status_code == 200
    assert lookup(second, hotel, "B-1").status_code == 200

    refused = lookup(second, hotel, "HERE-1")

    assert refused.status_code == 429 and int(refused["Retry-After"]) >= 1 and b"Present" not in refused.content
    assert lookup_entries(outcome=Outcome.DENIED)[0].details["limit"] == "desk.lookup.property"
    # A user refused by their own limit does not use up the property's: the desk next to them can still look up.
    limits(user=1, prop=5)
    assert lookup(first, hotel, "A-3").status_code == 429  # first's own limit (now 1, with 2 used)
    assert lookup(make_client_of_a_third_clerk(hotel), hotel, "HERE-1").status_code == 200


def make_client_of_a_third_clerk(hotel: Hotel) -> Client:
    return desk_client_for(make_user("desk-c", hotel.prop, Role.FRONT_DESK))


def test_the_limit_lifts_when_the_window_ends(hotel: Hotel, desk_clerk: User, limits: Callable[..., None]) -> None:
    limits(user=1)
    make_stay(hotel, "Present", reference="HERE-1")
    client = desk_client_for(desk_clerk)
    start = 1_900_000_200.0  # a window boundary for 10-minute windows
    with mock.patch("custody.core.ratelimit.time.time", return_value=start + 5):
        assert lookup(client, hotel, "HERE-1").status_code == 200
        refused = lookup(client, hotel, "HERE-1")
    assert refused.status_code == 429 and refused["Retry-After"] == "595"
    with mock.patch("custody.core.ratelimit.time.time", return_value=start + 600):
        assert b"Present, Ana" in lookup(client, hotel, "HERE-1").content
    assert RateLimitWindow.objects.filter(window_start=int(start)).count() == 0  # the old window is gone


def test_the_limit_table_holds_no_user_or_property_id(hotel: Hotel, desk_clerk: User) -> None:
    lookup(desk_client_for(desk_clerk), hotel, "HERE-1")
    rows = list(RateLimitWindow.objects.values_list("scope", "key"))
    assert sorted(scope for scope, _ in rows) == ["desk.lookup.property", "desk.lookup.user"]
    for _, key in rows:
        assert re.fullmatch(r"[0-9a-f]{32}", key) and key not in {str(desk_clerk.pk), str(hotel.prop.pk)}


# --- what the audit log shows of a search ---------------------------------------------------------------------------


def test_the_same_guess_has_the_same_fingerprint_and_the_reference_is_never_logged(
    hotel: Hotel, desk_clerk: User
) -> None:
    client = desk_client_for(desk_clerk)
    for reference in ("bk-2024-7", "BK 2024 7", "BK20247", "BK-2024-8"):
        assert lookup(client, hotel, reference).status_code == 200
    searched = [entry.details["searched"] for entry in lookup_entries()]
    assert searched[0] == searched[1] == searched[2] != searched[3]
    assert searched[0] != blind_index("booking_reference", "BK20247").hex()  # not the stored index either
    assert all(re.fullmatch(r"[0-9a-f]{32}", value) for value in searched)
    text = audit_text()
    for plaintext in ("bk-2024-7", "BK 2024 7", "BK20247", "BK-2024-8", "2024"):
        assert plaintext not in text


# --- hidden and missing references answer alike ---------------------------------------------------------------------


def hidden_stays(hotel: Hotel, other_hotel: Hotel) -> dict[str, str]:
    """One reference per kind of stay the desk may not see, and the reference it is booked under."""
    today = desk.property_today(hotel.prop)
    make_stay(hotel, "Past", status=StayStatus.CHECKED_OUT, reference="PAST-1", check_in=today - dt.timedelta(5))
    make_stay(hotel, "Later", status=StayStatus.BOOKED, reference="LATER-1", check_in=today + dt.timedelta(days=1))
    make_stay(other_hotel, "Foreign", reference="THERE-1")
    erased = make_stay(hotel, "Erased", reference="GONE-1", room=None, status=StayStatus.BOOKED)
    vault.erase_guest(erased.primary_guest, acting_user=None)
    return {"checked_out": "PAST-1", "tomorrow": "LATER-1", "other_property": "THERE-1", "erased": "GONE-1"}


def without_csrf(content: bytes) -> bytes:
    return CSRF_TOKEN.sub(b'name="csrfmiddlewaretoken" value=""', content)


@pytest.mark.parametrize("case", ["checked_out", "tomorrow", "other_property", "erased"])
def test_a_hidden_stay_answers_exactly_like_a_missing_reference(
    hotel: Hotel, other_hotel: Hotel, desk_clerk: User, case: str
) -> None:
    reference = hidden_stays(hotel, other_hotel)[case]
    client = desk_client_for(desk_clerk)

    hidden = lookup(client, hotel, reference)
    missing = lookup(client, hotel, MISSING)

    assert hidden.status_code == missing.status_code == 200
    assert without_csrf(hidden.content) == without_csrf(missing.content)
    assert NEUTRAL.encode() in hidden.content
    hidden_entry, missing_entry = lookup_entries()
    assert {**hidden_entry.details, "searched": ""} == {**missing_entry.details, "searched": ""}
    assert hidden_entry.details["stays"] == []


def test_a_hidden_stay_costs_the_same_queries_and_decryptions_as_a_missing_reference(
    hotel: Hotel, desk_clerk: User
) -> None:
    today = desk.property_today(hotel.prop)
    make_stay(hotel, "Past", status=StayStatus.CHECKED_OUT, reference="PAST-1", check_in=today - dt.timedelta(5))
    real_decrypt = AESGCM.decrypt
    work: dict[str, tuple[int, int]] = {}
    for reference in ("PAST-1", MISSING, "PAST-1", MISSING):  # the second round: caches warm on both paths
        decryptions = 0

        def counting(self: AESGCM, *args: Any) -> bytes:
            nonlocal decryptions
            decryptions += 1
            return real_decrypt(self, *args)

        with CaptureQueriesContext(connection) as queries, mock.patch.object(AESGCM, "decrypt", counting):
            assert desk.lookup_by_booking_reference(hotel.prop, reference, actor=desk_clerk) == []
        work[reference] = (len(queries), decryptions)
    assert work["PAST-1"] == work[MISSING]
    assert work[MISSING][1] >= 2  # a data key unwrapped and a field decrypted, as for a stay found


def median_gap(samples: dict[str, list[float]]) -> float:
    """The difference of the two medians, relative to the median of all samples."""
    hidden, missing = samples["hidden"], samples["missing"]
    return (statistics.median(hidden) - statistics.median(missing)) / statistics.median(hidden + missing)


def paired_gap(samples: dict[str, list[float]]) -> float:
    """The median of the round-by-round differences (each round times one of each, back to back), relative to the
    median of all samples: what the load of the moment adds to both cancels out."""
    hidden, missing = samples["hidden"], samples["missing"]
    differences = [first - second for first, second in zip(hidden, missing, strict=True)]
    return statistics.median(differences) / statistics.median(hidden + missing)


def test_a_hidden_stay_takes_as_long_as_a_missing_reference(
    hotel: Hotel, desk_clerk: User, limits: Callable[..., None]
) -> None:
    """Many lookups of each, interleaved in a shuffled order, so both meet the same load of a busy machine.

    The CPU time of the lookup (``time.thread_time``: the ORM, SQLite, the crypto and the audit write all run in
    this thread) is the measure: unlike the wall clock it does not count the time the machine ran something else,
    so a small difference in work shows while the noise of a shared 2-core machine does not. Measured on such a
    machine under load: without the decoy work a hidden stay cost 8-10% more (median of the paired differences);
    with it -1.5% to +1.3%. The wall clock is checked too, loosely: it would catch a gross difference such as one
    path waiting on something. (Through HTTP the same work is a smaller share of a request; the pages are
    byte-identical, see above, so the lookup is where a difference could come from.)
    """
    today = desk.property_today(hotel.prop)
    make_stay(hotel, "Past", status=StayStatus.CHECKED_OUT, reference="PAST-1", check_in=today - dt.timedelta(5))
    make_stay(hotel, "Present", reference="HERE-1")
    order = random.Random(12).sample
    cpu: dict[str, list[float]] = {"hidden": [], "missing": []}
    wall: dict[str, list[float]] = {"hidden": [], "missing": []}
    for round_number in range(220):
        for kind in order(["hidden", "missing"], 2):
            reference = "PAST-1" if kind == "hidden" else MISSING
            wall_start, cpu_start = time.perf_counter(), time.thread_time()
            rows = desk.lookup_by_booking_reference(hotel.prop, reference, actor=desk_clerk)
            cpu_spent, wall_spent = time.thread_time() - cpu_start, time.perf_counter() - wall_start
            assert rows == []
            if round_number >= 20:  # warm-up: first queries, caches, the decoy's compiled query
                cpu[kind].append(cpu_spent)
                wall[kind].append(wall_spent)
    assert abs(paired_gap(cpu)) < 0.04, f"a hidden stay costs {paired_gap(cpu):.1%} more CPU than a missing one"
    assert abs(median_gap(wall)) < 0.25, f"wall-clock medians differ by {median_gap(wall):.1%}"
