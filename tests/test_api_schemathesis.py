"""Schemathesis against /api/v1/: for every operation in the OpenAPI document, generated requests (valid and
invalid) never get a 5xx, and every answer matches the documented status codes, content type and response schema.

The schema is loaded from the app itself (WSGI, no server). Calls carry a valid token of a user who both files and
reviews requests, so they get past authentication into validation and the domain. A second pass points the path
parameters at real objects (the caller's draft, someone else's submitted request, the caller's grant) so the
operations' success and conflict answers are exercised too. Bounded (20 fuzzed examples per operation, plus the
coverage phase's boundary values in the first pass) and derandomized: about half a minute, on SQLite and PostgreSQL
alike, inside pytest-django's test transaction.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
import schemathesis
from django.core.signals import request_finished, request_started
from django.core.wsgi import get_wsgi_application
from django.db import close_old_connections
from django.utils import timezone
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from custody.accounts.roles import Role
from custody.api import tokens
from custody.api.api import api as ninja_api
from custody.api.models import Scope
from custody.requests import actions
from custody.requests.actions import RequestData
from custody.requests.models import AccessRequest, Grant
from tests.conftest import Hotel, make_user

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("fresh_keys")]

schema = schemathesis.openapi.from_wsgi("/api/v1/openapi.json", get_wsgi_application())
# The second pass (real objects) fuzzes only: the coverage phase's boundary values are the same as in the first.
on_real_objects = schemathesis.openapi.from_wsgi("/api/v1/openapi.json", get_wsgi_application()).include(
    path_regex=r"\{"
)
on_real_objects.config.phases.coverage.enabled = False

CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance]
BOUNDED = settings(
    max_examples=20,
    derandomize=True,
    deadline=None,
    database=None,
    suppress_health_check=[
        HealthCheck.too_slow,
        HealthCheck.function_scoped_fixture,
        HealthCheck.filter_too_much,
        HealthCheck.data_too_large,
    ],
)


@dataclass
class Caller:
    headers: dict[str, str]
    own_draft: AccessRequest
    others_submitted: AccessRequest
    grant: Grant


@pytest.fixture(autouse=True)
def keep_the_test_transaction() -> Iterator[None]:
    """The WSGI handler closes a database connection that is not in autocommit mode when a request starts and ends;
    that would end the test's transaction. Django's own test client disconnects the same receiver for its requests."""
    for signal in (request_started, request_finished):
        signal.disconnect(close_old_connections)
    yield
    for signal in (request_started, request_finished):
        signal.connect(close_old_connections)


@pytest.fixture
def caller(hotel: Hotel, settings: Any) -> Caller:
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    user = make_user("api-both", hotel.prop, Role.SECURITY_MANAGER, Role.PRIVACY_OFFICER)
    officer = make_user("api-officer", hotel.prop, Role.SECURITY_OFFICER)
    secret = tokens.create_token(hotel.prop, user, name="schemathesis", scopes=Scope.values, days=1, acting_user=None)[
        1
    ]
    start = timezone.now().replace(microsecond=0) - dt.timedelta(hours=3)
    footage = RequestData(
        request_type="footage_view",
        purpose="security_incident",
        legal_basis="legitimate_interests",
        cameras=[hotel.camera],
        window_start=start,
        window_end=start + dt.timedelta(minutes=30),
    )
    own_draft = actions.create_request(hotel.prop, footage, acting_user=user)
    others = actions.submit_request(
        actions.create_request(hotel.prop, footage, acting_user=officer), acting_user=officer
    )
    lookup = RequestData(request_type="guest_lookup", purpose="service_dispute", legal_basis="contract",
                         guests=[{"kind": "name", "surname": "Ruiz", "given_names": "Ana",
                                  "second_kind": "booking_reference", "second_value": "BK-1"}],
                         stay_from=start.date() - dt.timedelta(days=30), stay_until=start.date())  # fmt: skip
    mine = actions.submit_request(actions.create_request(hotel.prop, lookup, acting_user=user), acting_user=user)
    checker = make_user("api-gm", hotel.prop, Role.PROPERTY_MANAGER)
    actions.approve_request(mine, acting_user=checker)
    return Caller({"Authorization": f"Bearer {secret}"}, own_draft, others, Grant.objects.get(request=mine))


def real_ids(case: Any, caller: Caller) -> dict[str, Any]:
    """Path parameters naming real objects: the caller's own draft for the requester's steps, someone else's
    submitted request for the reviewer's steps and reads, the caller's grant."""
    path = case.operation.path
    own_steps = ("/submit", "/withdraw", "/answer", "/fulfil")
    request = caller.own_draft if path.endswith(own_steps) or case.method == "PATCH" else caller.others_submitted
    chosen = {"request_id": str(request.pk), "grant_id": str(caller.grant.pk)}
    return {name: chosen.get(name, value) for name, value in (case.path_parameters or {}).items()}


@schema.parametrize()
@BOUNDED
def test_no_server_error_and_answers_match_the_schema(case: Any, caller: Caller) -> None:
    case.call_and_validate(headers=caller.headers, checks=CHECKS)


@on_real_objects.parametrize()
@BOUNDED
def test_no_server_error_on_real_objects(case: Any, caller: Caller) -> None:
    case.path_parameters = real_ids(case, caller)
    case.call_and_validate(headers=caller.headers, checks=CHECKS)


def test_every_operation_is_exercised() -> None:
    documented = ninja_api.get_openapi_schema(path_prefix="/api/v1")["paths"]
    expected = {f"{method.upper()} {path}" for path, methods in documented.items() for method in methods}
    assert {result.ok().label for result in schema.get_all_operations()} == expected
    assert {result.ok().label for result in on_real_objects.get_all_operations()} == {
        label for label in expected if "{" in label
    }
