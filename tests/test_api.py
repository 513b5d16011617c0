"""/api/v1/: scoped bearer tokens, the request flow over HTTP, bad input, audit entries, and every endpoint for
every role (the API's own permission matrix, with a check that no operation is left out of it)."""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import io
import json
import typing
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest
from django.core.management import CommandError, call_command
from django.test import Client
from django.utils import timezone

from custody.accounts.models import RoleAssignment, User
from custody.accounts.roles import TWO_FACTOR_ROLES, Role
from custody.api import schemas, tokens
from custody.api.api import api as ninja_api
from custody.api.models import ApiToken, Scope
from custody.audit.events import Action, Outcome
from custody.audit.models import AuditEntry
from custody.guests import vault
from custody.guests.models import StayStatus
from custody.requests import actions, guest_scope, policy
from custody.requests.actions import RequestData
from custody.requests.models import (
    AccessRequest,
    Decision,
    Grant,
    IdentityCheck,
    LegalBasis,
    Purpose,
    RequesterKind,
    RequestType,
    Status,
    Urgency,
)
from tests.conftest import OUTSIDER, Hotel, make_user, signed_in_client
from tests.test_permissions import assert_no_personal_data, past_guest_no_one_may_see, resolver_url_names

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("fresh_keys")]

PDF = b"%PDF-1.4\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n"
ALL_SCOPES = list(Scope.values)
FILER_SCOPES = [Scope.REQUESTS_READ, Scope.REQUESTS_WRITE, Scope.GRANTS_USE]
REVIEWER_SCOPES = [Scope.REQUESTS_READ, Scope.REQUESTS_REVIEW]


@pytest.fixture(autouse=True)
def fast_hashing(settings: Any) -> None:
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


class Api:
    """A client that speaks JSON to /api/v1/ with a bearer token."""

    def __init__(self, secret: str | None, client: Client | None = None) -> None:
        self.client = client or Client()
        self.headers = {"Authorization": f"Bearer {secret}"} if secret else {}

    def get(self, path: str, **params: Any) -> Any:
        return self.client.get(f"/api/v1{path}", params, headers=self.headers)

    def send(self, method: str, path: str, body: Any = None, *, raw: str | bytes | None = None) -> Any:
        data = raw if raw is not None else ("" if body is None else json.dumps(body))
        call = getattr(self.client, method)
        return call(f"/api/v1{path}", data, content_type="application/json", headers=self.headers)

    def post(self, path: str, body: Any = None, **kwargs: Any) -> Any:
        return self.send("post", path, body, **kwargs)

    def patch(self, path: str, body: Any = None, **kwargs: Any) -> Any:
        return self.send("patch", path, body, **kwargs)


def token_for(user: User, hotel: Hotel, *scopes: str, days: int = 30) -> str:
    return tokens.create_token(hotel.prop, user, name="test", scopes=scopes, days=days, acting_user=None)[1]


def api_for(user: User, hotel: Hotel, *scopes: str) -> Api:
    return Api(token_for(user, hotel, *scopes))


def fields_of(response: Any) -> list[str]:
    return [item["field"] for item in response.json()["detail"]]


def window(minutes: int = 30) -> tuple[str, str]:
    start = timezone.now().replace(microsecond=0) - dt.timedelta(hours=3)
    return start.isoformat(), (start + dt.timedelta(minutes=minutes)).isoformat()


def guest_in(surname: str, given_names: str, second_kind: str, value: str) -> dict[str, str]:
    return {"kind": "name", "surname": surname, "given_names": given_names, "second_kind": second_kind,
            "second_value": value}  # fmt: skip


def last_days(days: int = 30) -> dict[str, str]:
    today = timezone.now().date()
    return {"stay_from": str(today - dt.timedelta(days=days)), "stay_until": str(today)}


def footage_body(**changes: Any) -> dict[str, Any]:
    start, end = window()
    body = {
        "request_type": "footage_view",
        "purpose": "security_incident",
        "legal_basis": "legitimate_interests",
        "purpose_text": "Wallet reported stolen in the lobby",
        "cameras": ["CAM-1"],
        "window_start": start,
        "window_end": end,
    }
    return {**body, **changes}


class People:
    def __init__(self, hotel: Hotel) -> None:
        self.officer = make_user("officer", hotel.prop, Role.SECURITY_OFFICER)
        self.secman = make_user("secman", hotel.prop, Role.SECURITY_MANAGER)
        self.dpo = make_user("dpo", hotel.prop, Role.PRIVACY_OFFICER)
        self.gm = make_user("gm", hotel.prop, Role.PROPERTY_MANAGER)
        self.desk = make_user("desk", hotel.prop, Role.FRONT_DESK)
        self.it = make_user("it", hotel.prop, Role.IT_ADMIN)


@pytest.fixture
def people(hotel: Hotel) -> People:
    return People(hotel)


def entries(action: str, **filters: Any) -> list[AuditEntry]:
    return list(AuditEntry.objects.filter(action=action, **filters).order_by("seq"))


# --- tokens -------------------------------------------------------------------------------------------------------


def test_token_is_shown_once_and_stored_only_as_its_hash(hotel: Hotel, people: People) -> None:
    out = io.StringIO()
    call_command(
        "api_token", "create", "--user", "officer", "--property", "seaside", "--scope", "requests:read",
        "--scope", "requests:write", "--days", "14", "--name", "Incident tool", stdout=out,
    )  # fmt: skip
    secret = out.getvalue().strip().splitlines()[-1]
    assert secret.startswith("cust_") and len(secret) >= 45
    token = ApiToken.objects.get()
    assert token.token_hash == hashlib.sha256(secret.encode()).hexdigest()
    assert token.scopes == ["requests:read", "requests:write"] and token.user == people.officer
    assert token.expires_at - token.created_at == dt.timedelta(days=14)
    stored = json.dumps(list(ApiToken.objects.values()), default=str)
    assert secret not in stored and secret[10:] not in stored
    listing = io.StringIO()
    call_command("api_token", "list", stdout=listing)
    assert "Incident tool" in listing.getvalue() and secret[8:] not in listing.getvalue()
    created = entries(Action.API_TOKEN_CREATED)
    assert len(created) == 1 and created[0].object_id == str(token.pk)
    assert created[0].details["scopes"] == ["requests:read", "requests:write"]
    assert created[0].details["user"] == people.officer.pk
    assert "Incident" not in json.dumps(created[0].details) and secret not in json.dumps(created[0].details)
    assert Api(secret).get("/requests").status_code == 200


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--scope", "requests:read", "--days", "0"], "1 to 90 days"),
        (["--scope", "requests:read", "--days", "91"], "1 to 90 days"),
        (["--scope", "requests:review"], "do not allow requests:review"),
        (["--scope", "requests:read", "--property", "nowhere"], "no such property"),
    ],
)
def test_token_creation_refuses_what_the_user_could_not_do(
    hotel: Hotel, people: People, args: list[str], message: str
) -> None:
    base = ["api_token", "create", "--user", "officer", "--property", "seaside"]
    with pytest.raises(CommandError, match=message):
        call_command(*base, *args, stdout=io.StringIO())
    assert not ApiToken.objects.exists()
    with pytest.raises(CommandError, match="do not allow"):
        call_command("api_token", "create", "--user", "it", "--property", "seaside", "--scope", "requests:read")


def test_no_bad_expired_or_revoked_token_is_401(hotel: Hotel, people: People) -> None:
    secret = token_for(people.officer, hotel, Scope.REQUESTS_READ)
    token = ApiToken.objects.get()
    for headers in ({}, {"Authorization": "Basic b2ZmaWNlcjpwdw=="}, {"Authorization": f"Bearer {secret}x"}):
        response = Client().get("/api/v1/requests", headers=headers)
        assert response.status_code == 401, headers
        assert response.json()["code"] == "unauthorized" and fields_of(response) == ["Authorization"]
        assert response["WWW-Authenticate"].startswith("Bearer")
    assert Api(secret).get("/requests").status_code == 200
    past = timezone.now() - dt.timedelta(days=40)
    ApiToken.objects.filter(pk=token.pk).update(created_at=past, expires_at=past + dt.timedelta(days=30))
    response = Api(secret).get("/requests")
    assert response.status_code == 401 and "expired" in response.json()["detail"][0]["message"]
    ApiToken.objects.filter(pk=token.pk).update(expires_at=timezone.now() + dt.timedelta(days=1))
    assert Api(secret).get("/requests").status_code == 200
    call_command("api_token", "revoke", str(token.pk), stdout=io.StringIO())
    response = Api(secret).get("/requests")
    assert response.status_code == 401 and "revoked" in response.json()["detail"][0]["message"]
    revoked = entries(Action.API_TOKEN_REVOKED)
    assert len(revoked) == 1 and revoked[0].details == {"token": token.pk, "user": people.officer.pk,
                                                        "scopes": ["requests:read"]}  # fmt: skip
    with pytest.raises(CommandError, match="already revoked"):
        call_command("api_token", "revoke", str(token.pk))


def test_a_disabled_users_token_stops_working(hotel: Hotel, people: People) -> None:
    client = api_for(people.officer, hotel, Scope.REQUESTS_READ)
    assert client.get("/requests").status_code == 200
    User.objects.filter(pk=people.officer.pk).update(is_active=False)
    assert client.get("/requests").status_code == 401


def test_last_use_is_recorded(hotel: Hotel, people: People) -> None:
    client = api_for(people.officer, hotel, Scope.REQUESTS_READ)
    assert ApiToken.objects.get().last_used_at is None
    client.get("/requests")
    assert ApiToken.objects.get().last_used_at is not None


def test_a_scope_the_token_lacks_is_403_and_logged(hotel: Hotel, people: People) -> None:
    reader = api_for(people.officer, hotel, Scope.REQUESTS_READ)
    response = reader.post("/requests", footage_body())
    assert response.status_code == 403 and response.json()["code"] == "missing_scope"
    assert "requests:write" in response.json()["detail"][0]["message"]
    assert not AccessRequest.objects.exists()
    denied = entries(Action.ACCESS_DENIED, outcome=Outcome.DENIED)
    assert denied[-1].actor == people.officer and denied[-1].details["reason"] == "missing_scope"
    assert denied[-1].details["api_token"] == ApiToken.objects.get().pk


def test_a_token_never_outlives_its_users_roles(hotel: Hotel, people: People) -> None:
    client = api_for(people.gm, hotel, *ALL_SCOPES)
    assert client.get("/requests", queue="true").status_code == 200
    RoleAssignment.objects.filter(user=people.gm).delete()
    response = client.get("/requests", queue="true")
    assert response.status_code == 403 and response.json()["code"] == "role_not_allowed"
    assert client.get("/requests").status_code == 403


def test_another_propertys_request_is_404(hotel: Hotel, other_hotel: Hotel, people: People) -> None:
    far = make_user("far", other_hotel.prop, Role.SECURITY_OFFICER)
    elsewhere = actions.create_request(
        other_hotel.prop,
        RequestData(request_type="footage_view", purpose="security_incident", legal_basis="legitimate_interests"),
        acting_user=far,
    )
    both = make_user("both", hotel.prop, Role.PRIVACY_OFFICER)
    RoleAssignment.objects.create(user=both, property=other_hotel.prop, role=Role.PRIVACY_OFFICER)
    client = api_for(both, hotel, *ALL_SCOPES)  # a reviewer at both hotels, but the token is for this one
    for response in (
        client.get(f"/requests/{elsewhere.pk}"),
        client.post(f"/requests/{elsewhere.pk}/deny", {"reason": "No"}),
        client.patch(f"/requests/{elsewhere.pk}", {"purpose_text": "x"}),
    ):
        assert response.status_code == 404 and response.json()["code"] == "not_found"
    elsewhere.refresh_from_db()
    assert elsewhere.status == Status.DRAFT
    assert client.get("/requests", queue="true").json()["count"] == 0


def test_session_cookies_do_not_authenticate_and_bearer_calls_need_no_csrf_token(hotel: Hotel, people: People) -> None:
    browser = signed_in_client(people.officer)
    assert browser.get("/api/v1/requests").status_code == 401
    strict = Client(enforce_csrf_checks=True)
    client = Api(token_for(people.officer, hotel, *FILER_SCOPES), client=strict)
    assert client.post("/requests", footage_body()).status_code == 201


# --- the flow -----------------------------------------------------------------------------------------------------


def test_officer_files_manager_approves_and_the_grant_shows_exactly_the_approved_guest(
    hotel: Hotel, people: People
) -> None:
    found = vault.create_guest(
        hotel.prop, {"surname": "Núñez", "given_names": "Inés", "phone": "+34 600 1", "email": "ines@example.es",
                     "date_of_birth": "1980-02-03"}, acting_user=None,
    )  # fmt: skip
    vault.create_stay(hotel.prop, primary_guest=found, check_in_planned=timezone.now().date() - dt.timedelta(days=3),
                      check_out_planned=timezone.now().date() - dt.timedelta(days=1), status=StayStatus.CHECKED_OUT,
                      booking_reference="BK-7", acting_user=None)  # fmt: skip
    other = vault.create_guest(hotel.prop, {"surname": "Other", "given_names": "Guest"}, acting_user=None)
    officer = api_for(people.officer, hotel, *FILER_SCOPES)
    manager = api_for(people.gm, hotel, *REVIEWER_SCOPES)

    created = officer.post(
        "/requests",
        {
            "request_type": "guest_lookup",
            "purpose": "security_incident",
            "legal_basis": "legitimate_interests",
            "purpose_text": "Guest threatened staff in the bar",
            "guests": [
                guest_in("NUNEZ", "ines", "date_of_birth", "1980-02-03"),
                guest_in("Other", "Guest", "booking_reference", "BK-8"),
            ],
            **last_days(),
        },
    )
    assert created.status_code == 201, created.content
    request_id = created.json()["id"]
    assert created.json()["status"] == "draft" and "purpose_text" not in created.json()
    submitted = officer.post(f"/requests/{request_id}/submit")
    assert submitted.status_code == 200 and submitted.json()["status"] == "submitted"
    assert [r["id"] for r in manager.get("/requests", queue="true").json()["items"]] == [request_id]

    detail = manager.get(f"/requests/{request_id}")
    assert detail.status_code == 200
    assert [g["surname"] for g in detail.json()["guests"]] == ["NUNEZ", "Other"]
    assert detail.json()["purpose_text"] == "Guest threatened staff in the bar"
    approved = manager.post(f"/requests/{request_id}/approve", {"reason": "Proportionate",
                                                                "narrowing": {"guest_items": [0]}})  # fmt: skip
    assert approved.status_code == 200, approved.content
    assert approved.json()["status"] == "partly_approved"

    grants_list = officer.get("/grants").json()
    assert len(grants_list) == 1 and grants_list[0]["guest_items"] == [0] and grants_list[0]["active"]
    grant_id = grants_list[0]["id"]
    lookup = officer.get(f"/grants/{grant_id}/guest-lookup")
    assert lookup.status_code == 200, lookup.content
    results = lookup.json()["results"]
    assert [(r["index"], len(r["guests"])) for r in results] == [(0, 1)]
    guest = results[0]["guests"][0]
    assert guest["id"] == str(found.pk) and str(other.pk) not in lookup.content.decode()
    assert guest["fields"]["surname"] == "Núñez" and guest["fields"]["phone"] == "+34 600 1"
    assert set(guest["fields"]) <= set(policy.FIELDS_FOR_PURPOSE[Purpose.SECURITY_INCIDENT])
    assert "date_of_birth" not in guest["fields"] and "email" not in guest["fields"]
    assert [s["check_out"] for s in guest["stays"]] == [str(timezone.now().date() - dt.timedelta(days=1))]
    assert manager.get(f"/grants/{grant_id}/guest-lookup").status_code == 403  # not the manager's grant

    # The audit log has every step, each with its actor, and the granted read under the grant's id.
    number = created.json()["number"]
    steps = [e.action for e in AuditEntry.objects.filter(request_ref=number).order_by("seq")]
    assert steps[:2] == [Action.REQUEST_CREATED, Action.REQUEST_SUBMITTED]
    assert {Action.REQUEST_VIEWED, Action.REQUEST_PARTLY_APPROVED, Action.GRANT_CREATED, Action.GRANT_USED} <= set(
        steps
    )
    assert AuditEntry.objects.get(action=Action.REQUEST_PARTLY_APPROVED, request_ref=number).actor == people.gm
    reads = AuditEntry.objects.filter(action=Action.GUEST_RECORD_READ, grant_ref=grant_id)
    assert [e.object_id for e in reads] == [str(found.pk)] and reads[0].actor == people.officer

    # Revocation is effective on the next use; the refusal is logged.
    revoked = manager.post(f"/grants/{grant_id}/revoke", {"reason": "Case closed"})
    assert revoked.status_code == 200 and revoked.json()["revoked_at"] and not revoked.json()["active"]
    refused = officer.get(f"/grants/{grant_id}/guest-lookup")
    assert refused.status_code == 403 and refused.json()["code"] == "revoked"
    assert "Núñez" not in refused.content.decode()
    denied = AuditEntry.objects.filter(action=Action.GRANT_USED, outcome=Outcome.DENIED, grant_ref=grant_id)
    assert [e.details["reason"] for e in denied] == ["revoked"]


def test_a_refused_granted_lookup_is_logged_as_denied(hotel: Hotel, people: People) -> None:
    request = actions.create_request(
        hotel.prop,
        RequestData(request_type="guest_lookup", purpose="security_incident", legal_basis="legitimate_interests",
                    guests=[guest_in("Ruiz", "Ana", "booking_reference", "BK-1")],
                    stay_from=timezone.now().date() - dt.timedelta(days=30), stay_until=timezone.now().date()),
        acting_user=people.officer,
    )  # fmt: skip
    actions.approve_request(actions.submit_request(request, acting_user=people.officer), acting_user=people.dpo)
    grant = Grant.objects.get(request=request)
    actions.revoke_grant(grant, "Case closed", acting_user=people.dpo)
    response = api_for(people.officer, hotel, *FILER_SCOPES).get(f"/grants/{grant.pk}/guest-lookup")
    assert response.status_code == 403 and response.json()["code"] == "revoked"
    denied = AuditEntry.objects.filter(action=Action.GRANT_USED, outcome=Outcome.DENIED, grant_ref=str(grant.pk))
    assert [e.details["reason"] for e in denied] == ["revoked"]


def test_footage_request_walks_through_questions_to_fulfilment(hotel: Hotel, people: People) -> None:
    officer = api_for(people.officer, hotel, *FILER_SCOPES)
    manager = api_for(people.secman, hotel, *REVIEWER_SCOPES)
    request_id = officer.post("/requests", footage_body()).json()["id"]
    changed = officer.patch(f"/requests/{request_id}", {"urgency": "urgent", "purpose_text": "Wallet and phone"})
    assert changed.status_code == 200 and changed.json()["urgency"] == "urgent"
    assert changed.json()["cameras"] == ["CAM-1"]  # fields not sent are kept
    assert officer.post(f"/requests/{request_id}/submit").status_code == 200
    assert officer.patch(f"/requests/{request_id}", {"urgency": "normal"}).status_code == 409
    assert manager.post(f"/requests/{request_id}/review").json()["status"] == "in_review"
    asked = manager.post(f"/requests/{request_id}/ask", {"question": "Which table?"})
    assert asked.status_code == 200 and asked.json()["status"] == "needs_info"
    answered = officer.post(f"/requests/{request_id}/answer", {"text": "Table 4"})
    assert answered.status_code == 200 and answered.json()["status"] == "submitted"
    start, _end = window()
    narrower = {"window_start": start, "window_end": (dt.datetime.fromisoformat(start) + dt.timedelta(minutes=10))
                .isoformat(), "grant_days": 2}  # fmt: skip
    approved = manager.post(f"/requests/{request_id}/approve", {"narrowing": narrower})
    assert approved.status_code == 200 and approved.json()["status"] == "partly_approved"
    grant = Grant.objects.get(request_id=request_id)
    assert grant.valid_until - grant.valid_from == dt.timedelta(days=2)
    assert grant.window_end - grant.window_start == dt.timedelta(minutes=10)
    detail = officer.get(f"/requests/{request_id}").json()
    assert [a["decision"] for a in detail["approvals"]] == [Decision.NEEDS_INFO, Decision.NEEDS_INFO, Decision.NARROW]
    assert [a["reason"] for a in detail["approvals"][:2]] == ["Which table?", "Table 4"]
    assert detail["grants"][0]["id"] == str(grant.pk)
    assert officer.get(f"/grants/{grant.pk}/stay-window").json()["code"] == "wrong_kind"
    fulfilled = officer.post(f"/requests/{request_id}/fulfil")
    assert fulfilled.status_code == 200 and fulfilled.json()["status"] == "fulfilled"
    assert officer.post(f"/requests/{request_id}/withdraw").status_code == 409


def test_stay_window_grant_lists_overlapping_stays(hotel: Hotel, people: People) -> None:
    day = timezone.now().date() - dt.timedelta(days=30)
    for name, first, last in [("Before", -5, -1), ("Inside", 1, 2), ("After", 5, 7)]:
        guest = vault.create_guest(hotel.prop, {"surname": name, "given_names": "G"}, acting_user=None)
        vault.create_stay(hotel.prop, primary_guest=guest, check_in_planned=day + dt.timedelta(days=first),
                          check_out_planned=day + dt.timedelta(days=last), status=StayStatus.CHECKED_OUT,
                          acting_user=None)  # fmt: skip
    filer = api_for(people.gm, hotel, *FILER_SCOPES)
    body = {
        "request_type": "stay_window", "purpose": "law_enforcement", "legal_basis": "legal_obligation",
        "stay_from": str(day), "stay_until": str(day + dt.timedelta(days=3)), "instrument_reference": "ORD-1",
        "instrument": {"name": "order.pdf", "content_base64": base64.b64encode(PDF).decode()},
    }  # fmt: skip
    created = filer.post("/requests", body)
    assert created.status_code == 201 and created.json()["instrument"]["content_type"] == "application/pdf"
    request_id = created.json()["id"]
    assert filer.post(f"/requests/{request_id}/submit").json()["approvals_required"] == 2
    second_dpo = make_user("dpo2", hotel.prop, Role.PRIVACY_OFFICER)
    first = api_for(people.dpo, hotel, *REVIEWER_SCOPES).post(f"/requests/{request_id}/approve")
    assert first.status_code == 200 and first.json()["status"] == "in_review"
    again = api_for(people.dpo, hotel, *REVIEWER_SCOPES).post(f"/requests/{request_id}/approve")
    assert again.status_code == 409 and "another person" in again.json()["detail"][0]["message"]
    assert api_for(second_dpo, hotel, *REVIEWER_SCOPES).post(f"/requests/{request_id}/approve").status_code == 200
    grant_id = filer.get("/grants").json()[0]["id"]
    rows = filer.get(f"/grants/{grant_id}/stay-window")
    assert rows.status_code == 200, rows.content
    assert [r["guests"][0]["surname"] for r in rows.json()["rows"]] == ["Inside"]
    assert "date_of_birth" in rows.json()["rows"][0]["guests"][0]  # a law-enforcement order's fields


# --- four eyes and reasons ----------------------------------------------------------------------------------------


def test_self_approval_is_refused_with_409(hotel: Hotel, people: People) -> None:
    manager = api_for(people.secman, hotel, *ALL_SCOPES)
    request_id = manager.post("/requests", footage_body()).json()["id"]
    manager.post(f"/requests/{request_id}/submit")
    for step, body in (("approve", None), ("deny", {"reason": "mine"}), ("review", None), ("ask", {"question": "?"})):
        response = manager.post(f"/requests/{request_id}/{step}", body)
        assert response.status_code == 409, step
        assert response.json()["code"] == "conflict"
        assert "someone else" in response.json()["detail"][0]["message"]
    assert AccessRequest.objects.get(pk=request_id).status == Status.SUBMITTED
    assert not Grant.objects.exists()


def test_denial_needs_a_reason(hotel: Hotel, people: People) -> None:
    officer = api_for(people.officer, hotel, *FILER_SCOPES)
    manager = api_for(people.secman, hotel, *REVIEWER_SCOPES)
    request_id = officer.post("/requests", footage_body()).json()["id"]
    officer.post(f"/requests/{request_id}/submit")
    for body, field in ((None, "body"), ({}, "reason"), ({"reason": "   "}, "reason")):
        response = manager.post(f"/requests/{request_id}/deny", body)
        assert response.status_code == 400 and fields_of(response) == [field], body
    assert AccessRequest.objects.get(pk=request_id).status == Status.SUBMITTED
    denied = manager.post(f"/requests/{request_id}/deny", {"reason": "Not proportionate"})
    assert denied.status_code == 200 and denied.json()["status"] == "denied"
    asked = manager.post(f"/requests/{request_id}/ask", {"question": " "})
    assert asked.status_code == 409  # decided already


def test_ask_without_a_question_names_the_question(hotel: Hotel, people: People) -> None:
    officer = api_for(people.officer, hotel, *FILER_SCOPES)
    request_id = officer.post("/requests", footage_body()).json()["id"]
    officer.post(f"/requests/{request_id}/submit")
    response = api_for(people.secman, hotel, *REVIEWER_SCOPES).post(f"/requests/{request_id}/ask", {"question": ""})
    assert response.status_code == 400 and fields_of(response) == ["question"]


# --- bad input ----------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "field"),
    [
        ("{not json", "body"),
        ("", "body"),
        ("[]", "body"),
        ('"text"', "body"),
        (json.dumps(footage_body(purpose=5)), "purpose"),
        (json.dumps(footage_body(purpose="curiosity")), "purpose"),
        (json.dumps(footage_body(cameras="CAM-1")), "cameras"),
        (json.dumps(footage_body(colour="blue")), "colour"),
        (json.dumps(footage_body(window_start="2026-01-01T10:00:00")), "window_start"),
        (json.dumps(footage_body(window_start="yesterday")), "window_start"),
        (json.dumps(footage_body(window_start="0001-01-01T00:00:00+01:00")), "window_start"),
        (json.dumps(footage_body(stay_from="2026-02-30")), "stay_from"),
        (json.dumps(footage_body(areas=[2**40])), "areas.0"),
        (json.dumps(footage_body(purpose_text="x" * 4001)), "purpose_text"),
        (json.dumps(footage_body(purpose_text="bell\u0007")), "purpose_text"),
        (json.dumps(footage_body(guests=[{"kind": "passport", "value": "X"}])), "guests.0.kind"),
        (json.dumps(footage_body(guests=[{"kind": "booking_reference", "value": "X"}])), "guests.0.value"),
        (json.dumps(footage_body(guests=[{"kind": "name"}])), "guests.0.surname"),
        (json.dumps(footage_body(guests=[{"kind": "name", "surname": "Ruiz", "given_names": "Ana"}])),
         "guests.0.second_kind"),
        (json.dumps(footage_body(guests=[guest_in("Ruiz", "Ana", "email", "a@example.com")])), "guests.0.second_kind"),
        (json.dumps(footage_body(guests=[guest_in("Ruiz", "Ana", "id_number", "")])), "guests.0.second_value"),
        (json.dumps(footage_body(guests=[guest_in("Ruiz", "Ana", "date_of_birth", "3 May 1980")])), "guests"),
        (json.dumps(footage_body(request_type="guest_lookup", cameras=[], window_start=None, window_end=None,
                                 guests=[guest_in("Ruiz", "Ana", "id_number", "X1")])), "stay_from"),
        (json.dumps(footage_body(contact={"name": "A", "fax": "1"})), "contact.fax"),
        (json.dumps({k: v for k, v in footage_body().items() if k != "request_type"}), "request_type"),
        (
            '{"request_type": "footage_view", "purpose": "other", "legal_basis": "consent", "purpose_text": "\\ud800"}',
            "body",
        ),
        (json.dumps(footage_body(cameras=["CAM-404"])), "cameras"),
        (json.dumps(footage_body(areas=[999999])), "areas"),
        (json.dumps(footage_body(purpose="other", purpose_text="")), "purpose_text"),
        (
            json.dumps(footage_body(requester_kind="authority", contact={"name": "A"}, identity_check="document_seen")),
            "organisation",
        ),
    ],
)
def test_bad_input_is_400_naming_the_field_and_writes_nothing(
    hotel: Hotel, people: People, raw: str, field: str
) -> None:
    client = api_for(people.officer, hotel, *FILER_SCOPES)
    before = AuditEntry.objects.count()
    response = client.post("/requests", raw=raw)
    if field in ("purpose_text", "organisation", "stay_from") and response.status_code == 201:
        # Rules a draft may still break are checked at submission.
        response = client.post(f"/requests/{response.json()['id']}/submit")
    assert response.status_code == 400, response.content
    assert response.json()["code"] == "invalid"
    assert field in fields_of(response), response.json()
    assert all(item["message"] for item in response.json()["detail"])
    assert AccessRequest.objects.filter(status=Status.SUBMITTED).count() == 0
    if not AccessRequest.objects.exists():
        assert AuditEntry.objects.count() == before


def test_bad_path_and_query_parameters_name_the_parameter(hotel: Hotel, people: People) -> None:
    client = api_for(people.officer, hotel, *FILER_SCOPES)
    for response, field in [
        (client.get("/requests/not-a-uuid"), "request_id"),
        (client.get("/requests", status="lost"), "status"),
        (client.get("/requests", page="0"), "page"),
        (client.get("/requests", page_size="1000"), "page_size"),
        (client.post("/grants/123/revoke", {"reason": "x"}), "grant_id"),
    ]:
        assert response.status_code in (400, 403), response.content
        if response.status_code == 400:
            assert fields_of(response) == [field]


def test_a_narrowing_must_fit_the_request(hotel: Hotel, people: People) -> None:
    officer = api_for(people.officer, hotel, *FILER_SCOPES)
    manager = api_for(people.secman, hotel, *REVIEWER_SCOPES)
    request_id = officer.post("/requests", footage_body()).json()["id"]
    officer.post(f"/requests/{request_id}/submit")
    for narrowing, field in [
        ({"stay_from": "2026-01-01"}, "stay_from"),
        ({"cameras": ["CAM-404"]}, "cameras"),
        ({"window_start": "2020-01-01T00:00:00+00:00"}, "window_start"),
        ({"grant_days": 31}, "narrowing.grant_days"),
        ({"guest_items": [0]}, "guests"),
    ]:
        response = manager.post(f"/requests/{request_id}/approve", {"narrowing": narrowing})
        assert response.status_code == 400 and fields_of(response) == [field], (narrowing, response.json())
    assert not Grant.objects.exists()


def test_instrument_of_the_wrong_type_or_not_base64_is_400(hotel: Hotel, people: People) -> None:
    client = api_for(people.officer, hotel, *FILER_SCOPES)
    for content in ("not base64!", base64.b64encode(b"MZ\x90\x00 an exe").decode(), ""):
        body = footage_body(instrument={"name": "order.pdf", "content_base64": content})
        response = client.post("/requests", body)
        assert response.status_code == 400 and fields_of(response)[0].startswith("instrument"), response.json()
    assert not AccessRequest.objects.exists()


def test_instrument_too_large_is_refused(hotel: Hotel, people: People, settings: Any) -> None:
    client = api_for(people.officer, hotel, *FILER_SCOPES)
    big = PDF + b"0" * (actions.INSTRUMENT_MAX_BYTES)
    body = footage_body(instrument={"name": "order.pdf", "content_base64": base64.b64encode(big).decode()})
    response = client.post("/requests", body)  # over the request body limit (DATA_UPLOAD_MAX_MEMORY_SIZE)
    assert response.status_code == 413 and fields_of(response) == ["body"]
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = None
    response = client.post("/requests", body)  # the body fits; the file itself is over 10 MB
    assert response.status_code == 400 and fields_of(response) == ["instrument"]
    assert "10 MB" in response.json()["detail"][0]["message"]
    assert not AccessRequest.objects.exists()


# --- reads are audited --------------------------------------------------------------------------------------------


def test_list_and_detail_reads_are_audited(hotel: Hotel, people: People) -> None:
    client = api_for(people.officer, hotel, *FILER_SCOPES)
    token = ApiToken.objects.get()
    request_id = client.post("/requests", footage_body()).json()["id"]
    number = AccessRequest.objects.get(pk=request_id).number
    listing = client.get("/requests", status="draft")
    assert listing.status_code == 200 and listing.json()["count"] == 1
    assert client.get("/requests", status="submitted").json()["count"] == 0
    assert client.get("/requests", type="guest_lookup").json()["count"] == 0
    lists = entries(Action.REQUEST_LIST_VIEWED)
    assert len(lists) == 3 and lists[0].actor == people.officer and lists[0].details["api_token"] == token.pk
    assert lists[0].details["list"] == "mine" and lists[0].details["shown"] == 1
    client.get(f"/requests/{request_id}")
    viewed = entries(Action.REQUEST_VIEWED)
    assert len(viewed) == 1 and viewed[0].object_id == request_id and viewed[0].request_ref == number
    assert viewed[0].object_type == "requests.accessrequest" and viewed[0].details["api_token"] == token.pk
    assert "Wallet" not in json.dumps([e.details for e in AuditEntry.objects.all()])
    client.get("/grants")
    assert entries(Action.REQUEST_LIST_VIEWED)[-1].details["list"] == "grants"


def test_list_is_paginated(hotel: Hotel, people: People) -> None:
    client = api_for(people.officer, hotel, *FILER_SCOPES)
    ids = [client.post("/requests", footage_body()).json()["id"] for _ in range(3)]
    first = client.get("/requests", page_size="2").json()
    second = client.get("/requests", page_size="2", page="2").json()
    assert first["count"] == 3 and len(first["items"]) == 2 and len(second["items"]) == 1
    assert {r["id"] for r in first["items"] + second["items"]} == set(ids)


# --- the OpenAPI document -----------------------------------------------------------------------------------------


def operations() -> list[tuple[str, str, str]]:
    """(operation id, method, path) for every operation the API serves."""
    schema = ninja_api.get_openapi_schema(path_prefix="/api/v1")
    return sorted(
        (op["operationId"], method.upper(), path)
        for path, methods in schema["paths"].items()
        for method, op in methods.items()
    )


def test_openapi_is_served_without_a_token_and_documents_every_answer() -> None:
    response = Client().get("/api/v1/openapi.json")
    assert response.status_code == 200
    schema = response.json()
    assert schema["components"]["securitySchemes"]["TokenAuth"] == {"type": "http", "scheme": "bearer"}
    for path, methods in schema["paths"].items():
        for method, op in methods.items():
            label = f"{method} {path}"
            assert op["security"] == [{"TokenAuth": []}] and op["tags"] and op["summary"], label
            answers = set(op["responses"])
            assert {"400", "401", "403", "503"} <= answers, label
            assert ("{" not in path) or "404" in answers, label
            assert method == "get" or path == "/api/v1/requests" or "409" in answers, label
            assert ("requestBody" not in op) or "413" in answers, label
    assert Client().get("/api/v1/docs").status_code == 404  # no docs page that would need a CDN
    assert Client().get("/api/v1/").status_code == 404


@pytest.mark.parametrize(
    ("literal", "choices"),
    [
        (schemas.RequestTypeCode, RequestType),
        (schemas.PurposeCode, Purpose),
        (schemas.LegalBasisCode, LegalBasis),
        (schemas.StatusCode, Status),
        (schemas.UrgencyCode, Urgency),
        (schemas.RequesterKindCode, RequesterKind),
        (schemas.IdentityCheckCode, IdentityCheck),
        (schemas.DecisionCode, Decision),
    ],
)
def test_schema_codes_are_the_models_codes(literal: Any, choices: Any) -> None:
    assert list(typing.get_args(literal)) == list(choices.values)
    assert list(typing.get_args(schemas.SecondKind)) == list(guest_scope.SECOND_KINDS)


# --- every endpoint for every role --------------------------------------------------------------------------------

ROLES = [r.value for r in Role]
WHO = [*ROLES, OUTSIDER]
FILERS = {Role.FRONT_DESK, Role.SECURITY_OFFICER, Role.SECURITY_MANAGER, Role.PRIVACY_OFFICER,
          Role.PROPERTY_MANAGER}  # fmt: skip
REVIEWERS = {Role.SECURITY_MANAGER, Role.PRIVACY_OFFICER, Role.PROPERTY_MANAGER}


@dataclass
class World:
    hotel: Hotel
    filer: User  # a security officer who filed the objects below
    draft: AccessRequest
    submitted: AccessRequest
    approved: AccessRequest
    grant: Grant


@pytest.fixture
def world(hotel: Hotel, other_hotel: Hotel) -> World:
    filer = make_user("filer", hotel.prop, Role.SECURITY_OFFICER)
    approver = make_user("approver", hotel.prop, Role.SECURITY_MANAGER)
    start, end = (dt.datetime.fromisoformat(t) for t in window())

    def new() -> AccessRequest:
        data = RequestData(request_type="footage_view", purpose="security_incident",
                           legal_basis="legitimate_interests", cameras=[hotel.camera], window_start=start,
                           window_end=end)  # fmt: skip
        return actions.create_request(hotel.prop, data, acting_user=filer)

    draft = new()
    submitted = actions.submit_request(new(), acting_user=filer)
    approved = actions.approve_request(actions.submit_request(new(), acting_user=filer), acting_user=approver)
    past_guest_no_one_may_see(hotel)  # no operation may answer with any of this guest's values
    return World(hotel, filer, draft, submitted, approved, Grant.objects.get(request=approved))


def caller_for(who: str, world: World, request: pytest.FixtureRequest) -> Api:
    """A token with every scope (made directly: the action would refuse scopes the roles do not allow), for a user
    holding one role at the hotel, or every role at the other hotel only."""
    if who == OUTSIDER:
        other: Hotel = request.getfixturevalue("other_hotel")
        user, prop = make_user(OUTSIDER, other.prop, *ROLES), other.prop
    else:
        user, prop = make_user(f"u-{who}", world.hotel.prop, who, totp_device=who in TWO_FACTOR_ROLES), world.hotel.prop
    secret = tokens.SECRET_PREFIX + f"matrix-{who}"
    ApiToken.objects.create(
        property=prop, user=user, name="matrix", scopes=ALL_SCOPES, token_hash=tokens.hash_secret(secret),
        hint=secret[:9], expires_at=timezone.now() + dt.timedelta(days=1),
    )  # fmt: skip
    return Api(secret)


Expect = Callable[[str], int]


def by_role(allowed: set[str], ok: int = 200, *, seen_by: set[str] | None = None, seen: int = 409) -> Expect:
    """``allowed`` roles get ``ok``. With ``seen_by``: a filer who is not entitled to the object gets 404, those in
    ``seen_by`` (entitled but not the requester) get ``seen``. Roles that may not file get 403; the outsider, whose
    token is for another hotel, 404 for objects (200 / 403 for lists, see rows)."""

    def expect(who: str) -> int:
        if who == OUTSIDER:
            return 404
        if who in allowed:
            return ok
        if seen_by is not None and who in FILERS:
            return seen if who in seen_by else 404
        return 403

    return expect


@dataclass
class Row:
    call: Callable[[Api, World], Any]
    expect: Expect


MATRIX: dict[str, Row] = {
    "list_requests": Row(lambda c, w: c.get("/requests"), lambda who: 200 if who in FILERS | {OUTSIDER} else 403),
    "create_request": Row(
        lambda c, w: c.post("/requests", footage_body()),
        lambda who: 201 if who in FILERS | {OUTSIDER} else 403,  # the outsider's draft is at the other hotel
    ),
    "get_request": Row(lambda c, w: c.get(f"/requests/{w.submitted.pk}"), by_role(REVIEWERS, seen_by=set())),
    "update_request": Row(
        lambda c, w: c.patch(f"/requests/{w.draft.pk}", {"urgency": "urgent"}), by_role(set(), seen_by=REVIEWERS)
    ),
    "submit_request": Row(lambda c, w: c.post(f"/requests/{w.draft.pk}/submit"), by_role(set(), seen_by=REVIEWERS)),
    "withdraw_request": Row(
        lambda c, w: c.post(f"/requests/{w.submitted.pk}/withdraw"), by_role(set(), seen_by=REVIEWERS)
    ),
    "answer_request": Row(
        lambda c, w: c.post(f"/requests/{w.submitted.pk}/answer", {"text": "x"}), by_role(set(), seen_by=REVIEWERS)
    ),
    "fulfil_request": Row(lambda c, w: c.post(f"/requests/{w.approved.pk}/fulfil"), by_role(set(), seen_by=REVIEWERS)),
    "review_request": Row(lambda c, w: c.post(f"/requests/{w.submitted.pk}/review"), by_role(REVIEWERS)),
    "approve_request": Row(lambda c, w: c.post(f"/requests/{w.submitted.pk}/approve"), by_role(REVIEWERS)),
    "deny_request": Row(lambda c, w: c.post(f"/requests/{w.submitted.pk}/deny", {"reason": "No"}), by_role(REVIEWERS)),
    "ask_about_request": Row(
        lambda c, w: c.post(f"/requests/{w.submitted.pk}/ask", {"question": "Why?"}), by_role(REVIEWERS)
    ),
    "list_grants": Row(lambda c, w: c.get("/grants"), lambda who: 200 if who in FILERS | {OUTSIDER} else 403),
    "revoke_grant": Row(lambda c, w: c.post(f"/grants/{w.grant.pk}/revoke", {"reason": "Done"}), by_role(REVIEWERS)),
    # The filer's grant: nobody else may use it (403, logged), another hotel's token does not find it (404).
    "granted_guest_lookup": Row(
        lambda c, w: c.get(f"/grants/{w.grant.pk}/guest-lookup"), by_role(set(), seen_by=FILERS, seen=403)
    ),
    "granted_stay_window": Row(
        lambda c, w: c.get(f"/grants/{w.grant.pk}/stay-window"), by_role(set(), seen_by=FILERS, seen=403)
    ),
}


def test_every_operation_and_url_is_in_the_matrix() -> None:
    assert {op for op, _method, _path in operations()} == MATRIX.keys()
    # tests/test_permissions.py leaves the api: namespace to this file; every URL name is an operation here.
    names = {name.removeprefix("api:") for name in resolver_url_names() if name.startswith("api:")}
    assert names == MATRIX.keys() | {"openapi-json", "api-root"}


@pytest.mark.parametrize("who", WHO)
@pytest.mark.parametrize("name", sorted(MATRIX))
def test_endpoint_for_role(world: World, request: pytest.FixtureRequest, name: str, who: str) -> None:
    row = MATRIX[name]
    before = AuditEntry.objects.filter(outcome=Outcome.ALLOWED).count()
    response = row.call(caller_for(who, world, request), world)
    expected = row.expect(who)
    assert response.status_code == expected, f"{name} as {who}: {response.status_code} {response.content[:300]!r}"
    assert response["Content-Type"].startswith("application/json")
    assert_no_personal_data(response, f"{name} as {who}")
    if expected >= 400:
        assert response.json()["detail"][0]["message"]
        # A refusal changes nothing: no allowed entry was written (denied entries are, for the watchers).
        assert AuditEntry.objects.filter(outcome=Outcome.ALLOWED).count() == before
