"""Invalid API bearer tokens are logged and limited per client address (issue 12, item 5).

Every 401 writes a denied audit entry with a reason code and never the token; an address that has used up its
refusals gets a 429 for every call, a valid token included, until the window ends.
"""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

import pytest
from django.test import Client
from django.utils import timezone

from custody.accounts.models import User
from custody.accounts.roles import Role
from custody.api import tokens
from custody.api.models import ApiToken, Scope
from custody.audit.events import Action, Outcome
from custody.audit.models import AuditEntry
from custody.core.models import RateLimitWindow
from tests.conftest import Hotel, make_user

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("fresh_keys")]

ADDRESS = "198.51.100.7"


@pytest.fixture
def officer(hotel: Hotel) -> User:
    return make_user("officer", hotel.prop, Role.SECURITY_OFFICER)


@pytest.fixture
def secret(hotel: Hotel, officer: User) -> str:
    _token, value = tokens.create_token(
        hotel.prop, officer, name="ci", scopes=[Scope.REQUESTS_READ], days=30, acting_user=None
    )
    return value


def call(authorization: str | None, address: str = ADDRESS) -> Any:
    headers = {"Authorization": authorization} if authorization is not None else {}
    return Client().get("/api/v1/requests", headers=headers, REMOTE_ADDR=address)


def refusals() -> list[AuditEntry]:
    return list(AuditEntry.objects.filter(action=Action.ACCESS_DENIED, outcome=Outcome.DENIED).order_by("seq"))


def all_audit_text() -> str:
    return json.dumps([(entry.details, entry.object_id) for entry in AuditEntry.objects.all()])


def test_every_refused_token_is_logged_with_its_reason_and_never_the_token(
    hotel: Hotel, officer: User, secret: str
) -> None:
    token = ApiToken.objects.get()
    wrong = secret[:-3] + "abc"
    calls = [
        (None, "no_token"),
        ("Basic b2ZmaWNlcjpwdw==", "malformed_header"),
        (f"Bearer {wrong}", "unknown_token"),
        (f"Bearer {wrong}", "unknown_token"),
        ("Bearer cust_another-guess", "unknown_token"),
    ]
    for authorization, _code in calls:
        response = call(authorization)
        assert response.status_code == 401 and response.json()["code"] == "unauthorized"
    past = timezone.now() - dt.timedelta(days=40)
    ApiToken.objects.filter(pk=token.pk).update(created_at=past, expires_at=past + dt.timedelta(days=30))
    assert call(f"Bearer {secret}").status_code == 401
    ApiToken.objects.filter(pk=token.pk).update(expires_at=timezone.now() + dt.timedelta(days=1))
    User.objects.filter(pk=officer.pk).update(is_active=False)
    assert call(f"Bearer {secret}").status_code == 401
    User.objects.filter(pk=officer.pk).update(is_active=True)
    tokens.revoke_token(token, acting_user=None)
    assert call(f"Bearer {secret}").status_code == 401

    entries = refusals()
    assert [entry.details["reason"] for entry in entries] == [
        *(code for _auth, code in calls),
        "expired_token",
        "user_disabled",
        "revoked_token",
    ]
    assert all(entry.client_ip == ADDRESS for entry in entries)
    unknown = [entry.details["token_fingerprint"] for entry in entries[2:5]]
    assert unknown[0] == unknown[1] != unknown[2]  # the same wrong token is recognisable, not readable
    for entry in entries[5:]:  # a token that exists is named by its id, with its user and property
        assert entry.details["api_token"] == token.pk and entry.actor_id == officer.pk
        assert entry.property_id == hotel.prop.pk
    text = all_audit_text()
    for leaked in (secret, wrong, secret[5:], wrong[5:], "cust_another-guess", "another-guess", "b2ZmaWNlcjpwdw"):
        assert leaked not in text


def test_an_address_past_the_limit_gets_429_even_with_a_valid_token(hotel: Hotel, secret: str, settings: Any) -> None:
    settings.CUSTODY_API_TOKEN_FAILURE_LIMIT = 3
    for guess in range(3):
        assert call(f"Bearer cust_guess-{guess}").status_code == 401

    for authorization in ("Bearer cust_guess-3", f"Bearer {secret}", None):
        refused = call(authorization)
        assert refused.status_code == 429, authorization
        body = refused.json()
        assert body["code"] == "rate_limited" and "Too many invalid API tokens" in body["detail"][0]["message"]
        assert "results" not in body

    limited = [entry for entry in refusals() if entry.details["reason"] == "rate_limited"]
    assert len(limited) == 3 and [entry.details["reason"] for entry in refusals()][:3] == ["unknown_token"] * 3
    assert limited[1].details["api_token"] == ApiToken.objects.get().pk  # the valid token's holder is named
    assert secret not in all_audit_text()
    # Another address is not held back by this one's guessing.
    assert call(f"Bearer {secret}", address="203.0.113.9").status_code == 200
    # The table of counts holds a keyed hash, not the address.
    (window,) = RateLimitWindow.objects.filter(scope="api.token.failure.address")
    assert ADDRESS not in window.key and window.hits == 3


def test_a_valid_token_does_not_use_up_the_addresss_refusals(hotel: Hotel, secret: str, settings: Any) -> None:
    settings.CUSTODY_API_TOKEN_FAILURE_LIMIT = 2
    for _ in range(5):
        assert call(f"Bearer {secret}").status_code == 200
    assert call("Bearer cust_guess").status_code == 401
    assert call(f"Bearer {secret}").status_code == 200


def test_the_429_says_when_to_retry(hotel: Hotel, settings: Any) -> None:
    settings.CUSTODY_API_TOKEN_FAILURE_LIMIT = 1
    settings.CUSTODY_API_TOKEN_FAILURE_WINDOW_MINUTES = 15
    assert call("Bearer cust_guess").status_code == 401
    refused = call("Bearer cust_guess")
    assert refused.status_code == 429 and 1 <= int(refused["Retry-After"]) <= 900
    assert refused.json()["code"] == "rate_limited" and refused.json()["detail"][0]["field"] == "Authorization"
