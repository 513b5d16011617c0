"""Separation of duties reaches the request workflow (invariant 5, issue 12 item 3): nobody decides a request filed by
an account they created or gave a role to, and an account or role younger than the cooling-off period decides
nothing. Each refusal leaves no grant, no personal data, and a denied audit entry naming its reason."""

from __future__ import annotations

import datetime as dt

import pytest
from django.utils import timezone

from custody.accounts.models import RoleAssignment, User
from custody.accounts.roles import Role
from custody.audit.events import Action, Outcome
from custody.audit.models import AuditEntry
from custody.guests import vault
from custody.guests.models import StayStatus
from custody.requests import actions
from custody.requests.actions import RequestData, TransitionRefused
from custody.requests.models import AccessRequest, Grant, LegalBasis, Purpose, RequestType, Status
from tests.conftest import Hotel, make_user, signed_in_client

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("fresh_keys")]


def lookup(hotel: Hotel, requester: User) -> AccessRequest:
    """A submitted one-approval lookup of a guest who stayed last month, filed by ``requester``."""
    today = timezone.now().date()
    guest = vault.create_guest(hotel.prop, {"surname": "Vidal", "given_names": "Ana", "phone": "+34 611 22 33",
                                            "date_of_birth": "1984-05-06"}, acting_user=None)  # fmt: skip
    vault.create_stay(hotel.prop, primary_guest=guest, check_in_planned=today - dt.timedelta(days=30),
                      check_out_planned=today - dt.timedelta(days=28), status=StayStatus.CHECKED_OUT,
                      booking_reference="BK-77", acting_user=None)  # fmt: skip
    data = RequestData(
        request_type=RequestType.GUEST_LOOKUP,
        purpose=Purpose.SERVICE_DISPUTE,
        legal_basis=LegalBasis.CONTRACT,
        purpose_text="A disputed bill",
        guests=[{"kind": "name", "surname": "Vidal", "given_names": "Ana", "second_kind": "date_of_birth",
                 "second_value": "1984-05-06"}],
        stay_from=today - dt.timedelta(days=60),
        stay_until=today,
    )
    request = actions.create_request(hotel.prop, data, acting_user=requester)
    return actions.submit_request(request, acting_user=requester)


def refused(request: AccessRequest, approver: User, reason: str) -> None:
    with pytest.raises(TransitionRefused):
        actions.approve_request(request, acting_user=approver)
    request.refresh_from_db()
    assert request.status == Status.SUBMITTED and not Grant.objects.filter(request=request).exists()
    entry = AuditEntry.objects.filter(actor_id=approver.pk, outcome=Outcome.DENIED).latest("seq")
    assert entry.action == Action.REQUEST_APPROVAL_GIVEN and entry.details["reason"] == reason
    assert "Vidal" not in str(entry.details)


def test_an_approver_who_created_the_requesters_account_cannot_decide(hotel: Hotel) -> None:
    admin_dpo = make_user("dpo", hotel.prop, Role.PRIVACY_OFFICER)
    clerk = make_user("clerk", hotel.prop, Role.FRONT_DESK)
    User.objects.filter(pk=clerk.pk).update(created_by=admin_dpo)
    request = lookup(hotel, clerk)
    refused(request, admin_dpo, "created_requester")
    with pytest.raises(TransitionRefused):
        actions.deny_request(request, "no", acting_user=admin_dpo)
    # Someone independent still can.
    other = make_user("dpo2", hotel.prop, Role.PRIVACY_OFFICER)
    assert actions.approve_request(request, acting_user=other).status == Status.APPROVED


def test_an_approver_who_gave_the_requester_a_role_cannot_decide(hotel: Hotel) -> None:
    manager = make_user("gm", hotel.prop, Role.PROPERTY_MANAGER)
    clerk = make_user("clerk", hotel.prop, Role.FRONT_DESK)
    RoleAssignment.objects.filter(user=clerk).update(granted_by=manager)
    refused(lookup(hotel, clerk), manager, "empowered_requester")


def test_a_new_reviewer_cannot_approve_until_the_cooling_off_ends(hotel: Hotel, settings: object) -> None:
    clerk = make_user("clerk", hotel.prop, Role.FRONT_DESK)
    newcomer = make_user("newdpo", hotel.prop, Role.PRIVACY_OFFICER, established=False)
    request = lookup(hotel, clerk)
    refused(request, newcomer, "cooling_off")
    # A role given yesterday to an old account is just as new.
    veteran = make_user("veteran", hotel.prop, Role.FRONT_DESK)
    RoleAssignment.objects.create(user=veteran, property=hotel.prop, role=Role.PRIVACY_OFFICER)
    refused(request, veteran, "cooling_off")


def test_the_web_approval_is_refused_with_a_4xx_and_shows_no_guest(hotel: Hotel) -> None:
    admin_dpo = make_user("dpo", hotel.prop, Role.PRIVACY_OFFICER, totp_device=True)
    clerk = make_user("clerk", hotel.prop, Role.FRONT_DESK)
    User.objects.filter(pk=clerk.pk).update(created_by=admin_dpo)
    request = lookup(hotel, clerk)
    client = signed_in_client(admin_dpo)
    response = client.post(f"/p/{hotel.prop.code}/requests/{request.pk}/approve/", {"approve-reason": "ok"})
    assert 400 <= response.status_code < 500
    assert "+34 611" not in response.content.decode()
    assert not Grant.objects.filter(request=request).exists()
    assert AuditEntry.objects.filter(actor_id=admin_dpo.pk, outcome=Outcome.DENIED,
                                     details__reason="created_requester").exists()  # fmt: skip
