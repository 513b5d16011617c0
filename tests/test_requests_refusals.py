"""Every refused workflow step is on record (issue 12, item 5): self-approval, a second approval by the same person,
a role the policy does not name, a narrowing outside the request, changing an approved request, deciding a closed
request. Each answers 4xx as before, changes nothing, and leaves a denied audit entry with its reason code - on the
request pages and through the API alike, and also when the refused step's transaction is rolled back."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest
from django.test import Client

from custody.accounts.models import User
from custody.api.models import Scope
from custody.audit.events import Action, Outcome
from custody.audit.models import AuditEntry
from custody.footage.models import Camera
from custody.requests import actions
from custody.requests.errors import NarrowingRefused, Refusal, TransitionRefused, keeping_refusals
from custody.requests.models import AccessRequest, Approval, Grant
from tests.conftest import Hotel, make_hotel
from tests.test_api import api_for
from tests.test_requests_core import footage_data, guest, lookup_changes
from tests.test_requests_versions import People, corridor_camera, filed
from tests.test_requests_views import client_for, local, url

pytestmark = [pytest.mark.usefixtures("fresh_keys")]

REVIEW = (Scope.REQUESTS_READ, Scope.REQUESTS_REVIEW)
WRITE = (Scope.REQUESTS_READ, Scope.REQUESTS_WRITE)


@pytest.fixture(autouse=True)
def fast_hashing(settings: Any) -> None:
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture
def people(hotel: Hotel) -> People:
    return People(hotel)


def denied(request: AccessRequest) -> list[tuple[str, str, int | None]]:
    """(action, reason code, actor id) of the request's denied entries, oldest first."""
    rows = AuditEntry.objects.filter(request_ref=request.number, outcome=Outcome.DENIED).order_by("seq")
    return [(e.action, e.details.get("reason", ""), e.actor_id) for e in rows]


def state(request: AccessRequest) -> tuple[str, int, int]:
    request.refresh_from_db()
    return request.status, request.approvals.count(), Grant.objects.filter(request=request).count()


@dataclass
class Case:
    """A request in the state where ``who`` is refused a step, and the step on the page and through the API."""

    arrange: Callable[[Hotel, People], AccessRequest]
    who: str
    web: Callable[[Client, Hotel, AccessRequest], Any]
    api: Callable[[Hotel, People, AccessRequest], Any]
    step: Action
    reason: str
    status: int


def _post(name: str, data: dict[str, Any] | None = None) -> Callable[[Client, Hotel, AccessRequest], Any]:
    return lambda client, hotel, request: client.post(url(name, hotel, pk=request.pk), data or {})


def _api(who: str, step: str, body: Any = None, scopes: tuple[str, ...] = REVIEW) -> Callable[..., Any]:
    return lambda hotel, people, request: api_for(getattr(people, who), hotel, *scopes).post(
        f"/requests/{request.pk}/{step}", body
    )


def _footage(hotel: Hotel, people: People) -> AccessRequest:
    return filed(hotel, people.officer, footage_data(hotel))


def _own(hotel: Hotel, people: People) -> AccessRequest:
    return filed(hotel, people.secman, footage_data(hotel))


def _half_approved(hotel: Hotel, people: People) -> AccessRequest:
    request = filed(hotel, people.officer, footage_data(hotel, cameras=[corridor_camera(hotel)]))
    return actions.approve_request(request, acting_user=people.secman)


def _lookup(hotel: Hotel, people: People) -> AccessRequest:
    data = footage_data(hotel, **lookup_changes(guest("Canaryname", "Ana", "booking_reference", "BK-1")))
    return filed(hotel, people.desk, data)


def _approved(hotel: Hotel, people: People) -> AccessRequest:
    return actions.approve_request(_footage(hotel, people), acting_user=people.secman)


def _denied_request(hotel: Hotel, people: People) -> AccessRequest:
    return actions.deny_request(_footage(hotel, people), "Not proportionate", acting_user=people.secman)


def _too_early(request: AccessRequest) -> dt.datetime:
    assert request.window_start is not None
    return request.window_start - dt.timedelta(minutes=30)


def _narrow_web(client: Client, hotel: Hotel, request: AccessRequest) -> Any:
    assert request.window_end is not None
    data = {"narrow": "1", "narrow-window_start": local(_too_early(request), hotel),
            "narrow-window_end": local(request.window_end, hotel), "narrow-cameras": [hotel.camera.pk]}  # fmt: skip
    return client.post(url("approve", hotel, pk=request.pk), data)


def _narrow_api(hotel: Hotel, people: People, request: AccessRequest) -> Any:
    body = {"narrowing": {"window_start": _too_early(request).isoformat()}}
    return api_for(people.secman, hotel, *REVIEW).post(f"/requests/{request.pk}/approve", body)


def _with_second_camera(hotel: Hotel, people: People) -> AccessRequest:
    Camera(property=hotel.prop, area=hotel.lobby, code="CAM-2", name="Bar").save()
    return _footage(hotel, people)  # asks for CAM-1 only


def _narrow_camera_web(client: Client, hotel: Hotel, request: AccessRequest) -> Any:
    other = Camera.objects.get(code="CAM-2")
    return client.post(url("approve", hotel, pk=request.pk), {"narrow": "1", "narrow-cameras": [other.pk]})


def _narrow_camera_api(hotel: Hotel, people: People, request: AccessRequest) -> Any:
    body = {"narrowing": {"cameras": ["CAM-2"]}}
    return api_for(people.secman, hotel, *REVIEW).post(f"/requests/{request.pk}/approve", body)


def _edit_web(client: Client, hotel: Hotel, request: AccessRequest) -> Any:
    return client.post(url("edit", hotel, pk=request.pk), {"purpose_text": "Changed after approval", "save": "1"})


def _edit_api(hotel: Hotel, people: People, request: AccessRequest) -> Any:
    return api_for(people.officer, hotel, *WRITE).patch(f"/requests/{request.pk}", {"purpose_text": "Changed"})


CASES = {
    "self_approval": Case(_own, "secman", _post("approve"), _api("secman", "approve"),
                          Action.REQUEST_APPROVAL_GIVEN, "own_request", 409),
    "second_approval_by_the_same_person": Case(
        _half_approved, "secman", _post("approve"), _api("secman", "approve"),
        Action.REQUEST_APPROVAL_GIVEN, "already_approved", 409,
    ),
    "role_the_policy_does_not_name": Case(_lookup, "secman", _post("approve"), _api("secman", "approve"),
                                          Action.REQUEST_APPROVAL_GIVEN, "role_not_named", 409),
    "narrowing_outside_the_request": Case(_footage, "secman", _narrow_web, _narrow_api,
                                          Action.REQUEST_APPROVAL_GIVEN, "narrowing_outside_request", 400),
    "narrowing_to_a_camera_outside_the_request": Case(
        _with_second_camera, "secman", _narrow_camera_web, _narrow_camera_api,
        Action.REQUEST_APPROVAL_GIVEN, "narrowing_outside_request", 400,
    ),
    "changing_an_approved_request": Case(_approved, "officer", _edit_web, _edit_api,
                                         Action.REQUEST_UPDATED, "not_editable", 409),
    "deciding_a_closed_request": Case(_denied_request, "dpo", _post("approve"), _api("dpo", "approve"),
                                      Action.REQUEST_APPROVAL_GIVEN, "request_closed", 409),
    "denying_a_closed_request": Case(_approved, "dpo", _post("deny", {"deny-reason": "No"}),
                                     _api("dpo", "deny", {"reason": "No"}), Action.REQUEST_DENIED, "request_closed",
                                     409),
}  # fmt: skip


@pytest.mark.django_db
@pytest.mark.parametrize("via", ["web", "api"])
@pytest.mark.parametrize("name", sorted(CASES))
def test_a_refused_step_answers_4xx_changes_nothing_and_is_audited(
    hotel: Hotel, people: People, name: str, via: str
) -> None:
    case = CASES[name]
    request = case.arrange(hotel, people)
    before, refusals = state(request), denied(request)
    actor: User = getattr(people, case.who)
    response = case.web(client_for(actor), hotel, request) if via == "web" else case.api(hotel, people, request)
    assert response.status_code == case.status, response.content[:2000]
    assert state(request) == before
    assert denied(request) == [*refusals, (case.step, case.reason, actor.pk)]
    if via == "api":
        assert "Canaryname" not in response.content.decode()  # a refusal carries no personal data


@pytest.mark.django_db
def test_the_edit_page_of_an_approved_request_is_refused_on_record(hotel: Hotel, people: People) -> None:
    request = _approved(hotel, people)
    response = client_for(people.officer).get(url("edit", hotel, pk=request.pk))
    assert response.status_code == 302
    assert denied(request) == [(Action.REQUEST_UPDATED, "not_editable", people.officer.pk)]


@pytest.mark.django_db
def test_other_refused_steps_carry_their_codes(hotel: Hotel, people: People) -> None:
    request = _approved(hotel, people)
    grant = Grant.objects.get(request=request)
    for attempt, code in [
        (lambda: actions.withdraw_request(request, acting_user=people.officer), "request_decided"),
        (lambda: actions.submit_request(request, acting_user=people.secman), "not_the_requester"),
        (lambda: actions.provide_information(request, "x", acting_user=people.officer), "no_question_open"),
        (lambda: actions.revoke_grant(grant, "Done", acting_user=people.officer), "role_not_named"),
        (lambda: actions.review_break_glass(grant, acting_user=people.dpo, outcome="justified", notes=""),
         "not_an_emergency_grant"),
    ]:  # fmt: skip
        with pytest.raises(Refusal) as refused:
            attempt()
        assert refused.value.code == code
    assert [reason for _step, reason, _actor in denied(request)] == [
        "request_decided", "not_the_requester", "no_question_open", "role_not_named", "not_an_emergency_grant",
    ]  # fmt: skip
    grant_entry = AuditEntry.objects.filter(outcome=Outcome.DENIED, action=Action.GRANT_REVOKED).get()
    assert grant_entry.grant_ref == str(grant.pk) and grant_entry.object_type == "requests.grant"


# --- the entry outlives the rollback --------------------------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_the_denied_entry_is_committed_though_the_refused_step_rolls_back() -> None:
    """No test transaction around it: what the refused step wrote is rolled back for real, its denied entry is not
    - also when the step ran inside a caller's transaction (the API's change of a request: read, patch, update)."""
    hotel = make_hotel()
    people = People(hotel)
    request = _approved(hotel, people)
    with pytest.raises(TransitionRefused):
        actions.approve_request(request, acting_user=people.secman)
    with pytest.raises(NarrowingRefused):
        actions.approve_request(
            _footage(hotel, people), acting_user=people.secman, narrowing=actions.Narrowing(grant_days=90)
        )
    assert _edit_api(hotel, people, request).status_code == 409
    with pytest.raises(TransitionRefused), keeping_refusals():
        actions.update_draft(request, actions.request_data(request), acting_user=people.officer)
    assert Approval.objects.filter(request=request).count() == 1
    reasons = list(
        AuditEntry.objects.filter(outcome=Outcome.DENIED, action__startswith="request.")
        .order_by("seq")
        .values_list("details__reason", flat=True)
    )
    assert reasons == ["request_closed", "narrowing_invalid", "not_editable", "not_editable"]
