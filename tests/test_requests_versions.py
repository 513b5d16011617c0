"""A request cannot change under its reviewers (issue 12, item 2; DESIGN invariant 5).

An approval is given to one version of the request, named by a keyed digest of its content; a change of content after
submission is a new version that goes back to "submitted" with the policy applied again, and only approvals of the
current version make a grant. Answering a question without changing the content keeps the approvals.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from typing import Any

import pytest
from django.utils import timezone

from custody.accounts.models import User
from custody.accounts.roles import TWO_FACTOR_ROLES, Role
from custody.audit.events import Action
from custody.audit.models import AuditEntry
from custody.footage.models import Camera
from custody.lib.canonical_json import canonical_json
from custody.properties.models import Area, AreaClass, AreaKind
from custody.requests import actions, sealing, versions
from custody.requests.actions import RequestData, RequestError
from custody.requests.models import (
    AccessRequest,
    ApprovalPolicy,
    AreaSensitivity,
    Grant,
    Purpose,
    RequestType,
    Status,
)
from tests.conftest import Hotel, make_user
from tests.test_requests_core import PDF, footage_data, guest, lookup_changes
from tests.test_requests_views import client_for, local, text, url

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("fresh_keys")]


@pytest.fixture(autouse=True)
def fast_hashing(settings: Any) -> None:
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


class People:
    def __init__(self, hotel: Hotel) -> None:
        def user(name: str, role: str) -> User:
            return make_user(name, hotel.prop, role, totp_device=role in TWO_FACTOR_ROLES)

        self.desk = user("desk", Role.FRONT_DESK)
        self.officer = user("officer", Role.SECURITY_OFFICER)
        self.secman = user("secman", Role.SECURITY_MANAGER)
        self.dpo = user("dpo", Role.PRIVACY_OFFICER)
        self.dpo2 = user("dpo2", Role.PRIVACY_OFFICER)
        self.gm = user("gm", Role.PROPERTY_MANAGER)


@pytest.fixture
def people(hotel: Hotel) -> People:
    return People(hotel)


def corridor_camera(hotel: Hotel) -> Camera:
    """A camera next to guest rooms: its footage needs two approvers."""
    corridor = Area.objects.create(
        property=hotel.prop, floor=hotel.floor, name="Corridor 1", kind=AreaKind.CORRIDOR, area_class=AreaClass.PUBLIC
    )
    camera = Camera(property=hotel.prop, area=corridor, code="CAM-C1", name="Corridor")
    camera.save()
    return camera


def filed(hotel: Hotel, user: User, data: RequestData) -> AccessRequest:
    return actions.submit_request(actions.create_request(hotel.prop, data, acting_user=user), acting_user=user)


def last_update(request: AccessRequest) -> dict[str, Any]:
    entry = AuditEntry.objects.filter(action=Action.REQUEST_UPDATED, request_ref=request.number).order_by("-seq")[0]
    return dict(entry.details)


def stay_window(first: dt.date, last: dt.date) -> RequestData:
    return RequestData(
        request_type=RequestType.STAY_WINDOW,
        purpose=Purpose.LAW_ENFORCEMENT,
        legal_basis="legal_obligation",
        purpose_text="Theft reported in room 101",
        instrument=PDF,
        instrument_name="order.pdf",
        instrument_reference="ORD-1",
        stay_from=first,
        stay_until=last,
    )


# --- the abuse paths of the issue -----------------------------------------------------------------------------------


def test_a_widened_window_voids_the_first_of_two_approvals(hotel: Hotel, people: People) -> None:
    """One night, one approval of two, then 91 days: the first approval no longer counts; two new ones are needed."""
    night = timezone.now().date() - dt.timedelta(days=10)
    request = filed(hotel, people.gm, stay_window(night, night))
    assert (request.approvals_required, request.version) == (2, 1)
    request = actions.approve_request(request, acting_user=people.dpo)
    assert request.status == Status.IN_REVIEW
    first = request.approvals.get(approver=people.dpo)
    assert first.request_digest == request.content_digest and first.request_version == 1
    request = actions.ask_for_information(request, "Which night exactly?", acting_user=people.dpo2)

    data = actions.request_data(request)
    data.stay_from, data.stay_until = night - dt.timedelta(days=90), night
    request = actions.update_draft(request, data, acting_user=people.gm)

    assert (request.status, request.version, request.approvals_required) == (Status.SUBMITTED, 2, 2)
    assert request.content_digest != first.request_digest
    update = last_update(request)
    assert update["changed"] == ["stay_from"] and update["approvals_voided"] == 1 and update["version"] == 2
    request = actions.approve_request(request, acting_user=people.dpo2)
    assert request.status == Status.IN_REVIEW and not Grant.objects.exists()  # one approval of version 2, not two
    given = AuditEntry.objects.filter(action=Action.REQUEST_APPROVAL_GIVEN, request_ref=request.number)
    assert [(e.details["version"], e.details["approvals"]) for e in given.order_by("seq")] == [(1, 1), (2, 1)]
    # The first approver may approve the new version: that is a second person for version 2.
    request = actions.approve_request(request, acting_user=people.dpo)
    assert request.status == Status.APPROVED
    grant = Grant.objects.get(request=request)
    assert (grant.stay_from, grant.stay_until) == (night - dt.timedelta(days=90), night)
    decided = AuditEntry.objects.get(action=Action.REQUEST_APPROVED, request_ref=request.number)
    assert sorted(decided.details["approvers"]) == sorted([str(people.dpo.pk), str(people.dpo2.pk)])
    assert decided.details["digest"] == request.content_digest


def test_a_lookup_turned_into_a_stay_window_gets_the_stay_window_policy(hotel: Hotel, people: People) -> None:
    today = timezone.now().date()
    data = footage_data(hotel, **lookup_changes(guest("Ruiz", "Ana", "booking_reference", "BK-1")))
    request = filed(hotel, people.desk, data)
    assert (request.approvals_required, request.instrument_required) == (1, False)
    request = actions.ask_for_information(request, "Which stay?", acting_user=people.dpo)

    data = actions.request_data(request)
    data.request_type = RequestType.STAY_WINDOW
    data.stay_from, data.stay_until = today - dt.timedelta(days=91), today
    with pytest.raises(RequestError) as refused:  # the stay-window policy asks for the legal instrument
        actions.update_draft(request, data, acting_user=people.desk)
    assert refused.value.field == "instrument"
    request.refresh_from_db()
    assert (request.request_type, request.status, request.version) == (RequestType.GUEST_LOOKUP, Status.NEEDS_INFO, 1)

    data.instrument, data.instrument_name, data.instrument_reference = PDF, "order.pdf", "ORD-7"
    request = actions.update_draft(request, data, acting_user=people.desk)
    assert (request.status, request.version) == (Status.SUBMITTED, 2)
    assert (request.approvals_required, request.instrument_required) == (2, True)
    assert {"request_type", "stay_from", "instrument", "instrument_reference"} <= set(last_update(request)["changed"])
    request = actions.approve_request(request, acting_user=people.dpo)
    assert request.status == Status.IN_REVIEW and not Grant.objects.exists()


def test_a_purpose_changed_to_law_enforcement_needs_the_instrument(hotel: Hotel, people: People) -> None:
    request = filed(hotel, people.officer, footage_data(hotel))
    assert not request.instrument_required and request.approvals_required == 1
    request = actions.ask_for_information(request, "Who asks?", acting_user=people.secman)
    data = actions.request_data(request)
    data.purpose, data.legal_basis = Purpose.LAW_ENFORCEMENT, "legal_obligation"
    with pytest.raises(RequestError) as refused:
        actions.update_draft(request, data, acting_user=people.officer)
    assert refused.value.field == "instrument"
    data.instrument, data.instrument_name, data.instrument_reference = PDF, "order.pdf", "ORD-9"
    request = actions.update_draft(request, data, acting_user=people.officer)
    assert request.status == Status.SUBMITTED and request.instrument_required
    changed = last_update(request)["changed"]
    assert {"purpose", "legal_basis", "fields", "instrument", "instrument_reference"} <= set(changed)


def test_a_change_of_cameras_applies_the_policy_again(hotel: Hotel, people: People) -> None:
    camera = corridor_camera(hotel)
    request = filed(hotel, people.officer, footage_data(hotel))
    assert request.approvals_required == 1
    request = actions.ask_for_information(request, "Which camera?", acting_user=people.secman)
    data = actions.request_data(request)
    data.cameras = [camera]
    request = actions.update_draft(request, data, acting_user=people.officer)
    assert (request.status, request.approvals_required, last_update(request)["changed"]) == (
        Status.SUBMITTED, 2, ["cameras"],
    )  # fmt: skip
    request = actions.approve_request(request, acting_user=people.secman)
    assert request.status == Status.IN_REVIEW and not Grant.objects.exists()


# --- what does not make a new version -------------------------------------------------------------------------------


def test_answering_without_changing_the_content_keeps_the_approvals(hotel: Hotel, people: People) -> None:
    request = filed(hotel, people.officer, footage_data(hotel, cameras=[corridor_camera(hotel)]))
    request = actions.approve_request(request, acting_user=people.secman)
    request = actions.ask_for_information(request, "Which table?", acting_user=people.dpo)
    # A policy row written meanwhile does not move the goalposts of an unchanged request.
    ApprovalPolicy.objects.create(
        property=hotel.prop,
        request_type=RequestType.FOOTAGE_VIEW,
        area_sensitivity=AreaSensitivity.ANY,
        approvals_required=3,
        approver_roles=[Role.PRIVACY_OFFICER],
    )
    data = actions.request_data(request)
    data.urgency = "urgent"  # not content: it moves the due date, not what anyone may see
    request = actions.update_draft(request, data, acting_user=people.officer)
    assert (request.status, request.version, request.approvals_required) == (Status.NEEDS_INFO, 1, 2)
    assert last_update(request)["changed"] == []
    request = actions.provide_information(request, "Table 4, by the window", acting_user=people.officer)
    assert request.status == Status.SUBMITTED
    request = actions.approve_request(request, acting_user=people.dpo)
    assert request.status == Status.APPROVED and Grant.objects.filter(request=request).count() == 1


def test_a_row_changed_behind_the_workflow_is_a_version_no_approval_saw(hotel: Hotel, people: People) -> None:
    request = filed(hotel, people.officer, footage_data(hotel, cameras=[corridor_camera(hotel)]))
    request = actions.approve_request(request, acting_user=people.secman)
    assert request.window_start is not None
    AccessRequest.objects.filter(pk=request.pk).update(window_start=request.window_start - dt.timedelta(minutes=60))
    request = actions.approve_request(request, acting_user=people.dpo)
    assert request.status == Status.IN_REVIEW and not Grant.objects.exists()


# --- the digest -------------------------------------------------------------------------------------------------------


def test_the_digest_is_keyed_and_nothing_stored_names_the_guest(hotel: Hotel, people: People) -> None:
    data = footage_data(hotel, **lookup_changes(guest("Canaryname", "Zoë", "date_of_birth", "1971-07-07")))
    request = filed(hotel, people.desk, data)
    content = versions.content(request, sealing.key_of(request))
    assert content["guests"][0]["surname"] == "Canaryname"  # what is digested is the plaintext ...
    assert request.content_digest != hashlib.sha256(canonical_json(content)).hexdigest()  # ... under a key
    assert versions.of(request).digest == request.content_digest  # stable
    assert set(request.field_digests) == set(versions.CONTENT_FIELDS) | set(versions.TERM_FIELDS)
    request = actions.approve_request(request, acting_user=people.dpo)
    stored = json.dumps(
        [list(AccessRequest.objects.filter(pk=request.pk).values("content_digest", "field_digests")),
         list(request.approvals.values("request_digest")),
         list(AuditEntry.objects.values_list("details", flat=True))],
        default=str,
    )  # fmt: skip
    for canary in ("Canaryname", "Zoë", "1971-07-07"):
        assert canary not in stored


# --- the pages and the API ------------------------------------------------------------------------------------------


def test_the_request_page_shows_each_version_what_changed_and_void_approvals(hotel: Hotel, people: People) -> None:
    start = timezone.now().replace(second=0, microsecond=0) - dt.timedelta(hours=2)  # as the form shows it
    data = footage_data(hotel, cameras=[corridor_camera(hotel)], window_start=start,
                        window_end=start + dt.timedelta(minutes=30))  # fmt: skip
    request = filed(hotel, people.officer, data)
    actions.approve_request(request, acting_user=people.secman)
    actions.ask_for_information(request, "Shorter, please", acting_user=people.dpo)
    officer = client_for(people.officer)
    assert request.window_start is not None and request.window_end is not None
    form = officer.get(url("edit", hotel, pk=request.pk)).context["form"]
    posted = {name: value for name, value in form.initial.items() if value not in (None, "", [])}
    posted |= {
        "window_start": local(request.window_start, hotel),
        "window_end": local(request.window_end - dt.timedelta(minutes=10), hotel),
        "guest_rows": "5",
        "save": "1",
    }
    response = officer.post(url("edit", hotel, pk=request.pk), posted)
    assert response.status_code == 302, text(response)[:3000]
    request.refresh_from_db()
    assert (request.status, request.version) == (Status.SUBMITTED, 2)

    page = text(client_for(people.dpo).get(url("detail", hotel, pk=request.pk)))
    assert "version 2 Changed: Footage until Allowed" in page
    assert "Void: given to an earlier version" in page
    assert "0 given to this version" in page
    assert "Wallet" in page  # the reviewer sees the request itself; the timeline names fields, never values
    timeline = page.split("Timeline", 1)[1]
    assert local(request.window_end, hotel)[11:] not in timeline


def test_an_api_patch_after_submission_makes_a_new_version(hotel: Hotel, people: People) -> None:
    from custody.api.models import Scope
    from tests.test_api import api_for

    request = filed(hotel, people.officer, footage_data(hotel, cameras=[corridor_camera(hotel)]))
    actions.approve_request(request, acting_user=people.secman)
    actions.ask_for_information(request, "Which camera?", acting_user=people.dpo)
    officer = api_for(people.officer, hotel, Scope.REQUESTS_READ, Scope.REQUESTS_WRITE)
    response = officer.patch(f"/requests/{request.pk}", {"cameras": ["CAM-1"]})
    assert response.status_code == 200, response.content
    assert response.json()["status"] == "submitted" and response.json()["approvals_required"] == 1
    request.refresh_from_db()
    assert request.version == 2
    assert response.json()["cameras"] == ["CAM-1"]
    # The secman's approval of version 1 does not count; a new one decides version 2 alone (one approver now).
    decided = api_for(people.secman, hotel, Scope.REQUESTS_READ, Scope.REQUESTS_REVIEW).post(
        f"/requests/{request.pk}/approve"
    )
    assert decided.status_code == 200 and decided.json()["status"] == "approved"
    assert list(Grant.objects.get(request=request).cameras.all()) == [hotel.camera]
