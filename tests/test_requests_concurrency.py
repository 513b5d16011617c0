"""Concurrent decisions on one request end in exactly one decision (50 parallel approve and deny attempts)."""

from __future__ import annotations

import threading
from typing import Any

import pytest
from django.db import connections

from custody.accounts.roles import Role
from custody.audit.events import Action, Outcome
from custody.audit.models import AuditEntry
from custody.requests import actions
from custody.requests.actions import TransitionRefused
from custody.requests.models import AccessRequest, Grant, Status
from tests.conftest import make_hotel, make_user
from tests.test_requests_core import footage_data

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("fresh_keys")]


@pytest.fixture(autouse=True)
def fast_hashing(settings: Any) -> None:
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


def test_fifty_parallel_approve_and_deny_attempts_make_one_decision() -> None:
    hotel = make_hotel()
    officer = make_user("officer", hotel.prop, Role.SECURITY_OFFICER)
    reviewers = [make_user(f"rev{n}", hotel.prop, Role.SECURITY_MANAGER) for n in range(50)]
    request = actions.create_request(hotel.prop, footage_data(hotel), acting_user=officer)
    request = actions.submit_request(request, acting_user=officer)
    assert request.approvals_required == 1
    barrier = threading.Barrier(len(reviewers))
    refused: list[int] = []
    unexpected: list[BaseException] = []

    def decide(index: int) -> None:
        user = reviewers[index]
        try:
            barrier.wait()
            if index % 2:
                actions.deny_request(AccessRequest(pk=request.pk), "No", acting_user=user)
            else:
                actions.approve_request(AccessRequest(pk=request.pk), acting_user=user)
        except TransitionRefused:
            refused.append(index)
        except BaseException as exc:
            unexpected.append(exc)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=decide, args=(n,)) for n in range(len(reviewers))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert unexpected == []
    assert len(refused) == len(reviewers) - 1
    request.refresh_from_db()
    decisions = AuditEntry.objects.filter(
        request_ref=request.number, action__in=[Action.REQUEST_APPROVED, Action.REQUEST_DENIED], outcome=Outcome.ALLOWED
    )
    assert decisions.count() == 1
    # Every refused attempt is on record, with its reason: the request was decided by then.
    refusals = AuditEntry.objects.filter(request_ref=request.number, outcome=Outcome.DENIED)
    assert sorted(refusals.values_list("actor_id", flat=True)) == sorted(reviewers[n].pk for n in refused)
    assert set(refusals.values_list("details__reason", flat=True)) == {"request_closed"}
    assert request.status == (Status.APPROVED if decisions.get().action == Action.REQUEST_APPROVED else Status.DENIED)
    assert Grant.objects.filter(request=request).count() == (1 if request.status == Status.APPROVED else 0)
    assert request.approvals.count() == 1
