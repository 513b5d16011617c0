"""Reviewer and IT admin roles take two people: one proposes, a different reviewer at the property confirms."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from django.db import IntegrityError, transaction
from django.test import Client
from django.utils import timezone

from custody.accounts import proposals
from custody.accounts.models import ProposalStatus, RoleAssignment, RoleProposal, User
from custody.accounts.roles import Role
from custody.accounts.separation import decision_conflict
from custody.audit.events import Action, Outcome
from custody.audit.models import AuditEntry
from tests.conftest import Hotel, make_user, signed_in_client

SM, PO, PM, IT, FD, SO = (
    Role.SECURITY_MANAGER,
    Role.PRIVACY_OFFICER,
    Role.PROPERTY_MANAGER,
    Role.IT_ADMIN,
    Role.FRONT_DESK,
    Role.SECURITY_OFFICER,
)


def roles_of(user: User, hotel: Hotel) -> set[str]:
    return set(RoleAssignment.objects.filter(user=user, property=hotel.prop).values_list("role", flat=True))


def denied(action: str) -> list[dict[str, Any]]:
    return [e.details for e in AuditEntry.objects.filter(action=action, outcome=Outcome.DENIED)]


def reviewer(username: str, hotel: Hotel, *roles: str) -> tuple[User, Client]:
    user = make_user(username, hotel.prop, *roles, totp_device=True)
    return user, signed_in_client(user)


def propose(hotel: Hotel, client: Client, person: User, *roles: str) -> Any:
    data = {"display_name": person.display_name, "email": "", "roles": [*sorted(roles_of(person, hotel)), *roles]}
    return client.post(f"/p/{hotel.prop.code}/staff/{person.pk}/", data, follow=True)


def decide(hotel: Hotel, client: Client, proposal: RoleProposal, decision: str) -> Any:
    return client.post(f"/p/{hotel.prop.code}/staff/proposals/{proposal.pk}/", {"decision": decision})


@pytest.fixture
def pending(hotel: Hotel, client_for_role: Callable[[str], Client]) -> tuple[RoleProposal, Client]:
    """The property manager (u-property_manager) proposed the front-desk clerk as security manager."""
    clerk = make_user("clerk", hotel.prop, FD)
    manager = client_for_role(PM)
    response = propose(hotel, manager, clerk, SM)
    assert "Awaiting confirmation by another reviewer: Security manager." in response.content.decode()
    return RoleProposal.objects.get(user=clerk, role=SM), manager


def test_proposing_a_reviewer_role_gives_nothing_yet(hotel: Hotel, pending: tuple[RoleProposal, Client]) -> None:
    proposal, _manager = pending
    assert proposal.status == ProposalStatus.PENDING
    assert proposal.proposed_by == User.objects.get(username=f"u-{PM}")
    assert roles_of(proposal.user, hotel) == {FD}
    assert not proposal.user.has_role_at(hotel.prop, SM)
    entry = AuditEntry.objects.get(action=Action.ROLE_PROPOSED)
    assert entry.details == {"user": proposal.user_id, "role": SM}
    assert entry.actor_id == proposal.proposed_by_id


def test_proposer_cannot_confirm_their_own_proposal(hotel: Hotel, pending: tuple[RoleProposal, Client]) -> None:
    proposal, manager = pending
    response = decide(hotel, manager, proposal, "confirm")
    assert response.status_code == 403
    assert "another reviewer must confirm" in response.content.decode()
    assert roles_of(proposal.user, hotel) == {FD}
    assert RoleProposal.objects.get(pk=proposal.pk).status == ProposalStatus.PENDING
    assert denied(Action.ROLE_CONFIRMED) == [{"user": proposal.user_id, "role": SM, "reason": "proposer"}]


def test_subject_cannot_confirm_their_own_role(hotel: Hotel, client_for_role: Callable[[str], Client]) -> None:
    officer, officer_client = reviewer("officer", hotel, PO)
    propose(hotel, client_for_role(IT), officer, PM)
    proposal = RoleProposal.objects.get(user=officer, role=PM)
    response = decide(hotel, officer_client, proposal, "confirm")
    assert response.status_code == 403
    assert roles_of(officer, hotel) == {PO}
    assert denied(Action.ROLE_CONFIRMED) == [{"user": officer.pk, "role": PM, "reason": "subject"}]
    # Rejecting it is deciding it too.
    assert decide(hotel, officer_client, proposal, "reject").status_code == 403
    assert denied(Action.ROLE_REJECTED) == [{"user": officer.pk, "role": PM, "reason": "subject"}]


def test_a_non_reviewer_cannot_confirm(
    hotel: Hotel, pending: tuple[RoleProposal, Client], client_for_role: Callable[[str], Client]
) -> None:
    proposal, _manager = pending
    response = decide(hotel, client_for_role(IT), proposal, "confirm")
    assert response.status_code == 403
    assert roles_of(proposal.user, hotel) == {FD}
    assert denied(Action.ROLE_CONFIRMED) == [{"user": proposal.user_id, "role": SM, "reason": "not_reviewer"}]
    # Front desk cannot even see the proposals.
    assert decide(hotel, client_for_role(FD), proposal, "confirm").status_code == 403
    assert roles_of(proposal.user, hotel) == {FD}


def test_another_reviewer_confirms_and_the_role_records_both_people(
    hotel: Hotel, pending: tuple[RoleProposal, Client]
) -> None:
    proposal, _manager = pending
    officer, officer_client = reviewer("officer", hotel, PO)
    page = officer_client.get(f"/p/{hotel.prop.code}/staff/proposals/")
    assert page.status_code == 200
    assert [row["can_decide"] for row in page.context["rows"]] == [True]
    before = timezone.now()
    response = decide(hotel, officer_client, proposal, "confirm")
    assert response.status_code == 302
    assert response["Location"] == f"/p/{hotel.prop.code}/staff/proposals/"
    assignment = RoleAssignment.objects.get(user=proposal.user, property=hotel.prop, role=SM)
    assert (assignment.granted_by_id, assignment.confirmed_by_id, assignment.proposal_id) == (
        proposal.proposed_by_id,
        officer.pk,
        proposal.pk,
    )
    assert assignment.granted_at >= before  # the role's age counts from its confirmation
    proposal.refresh_from_db()
    assert (proposal.status, proposal.decided_by_id) == (ProposalStatus.CONFIRMED, officer.pk)
    entry = AuditEntry.objects.get(action=Action.ROLE_CONFIRMED, outcome=Outcome.ALLOWED)
    assert entry.actor_id == officer.pk
    assert entry.details["proposed_by"] == proposal.proposed_by_id
    # Confirming again changes nothing and is refused as already decided.
    again = decide(hotel, officer_client, proposal, "confirm")
    assert again.status_code == 409
    assert denied(Action.ROLE_CONFIRMED) == [{"user": proposal.user_id, "role": SM, "reason": "not_pending"}]
    assert RoleAssignment.objects.filter(user=proposal.user, role=SM).count() == 1


def test_rejected_and_withdrawn_proposals_give_nothing(
    hotel: Hotel, pending: tuple[RoleProposal, Client], client_for_role: Callable[[str], Client]
) -> None:
    proposal, manager = pending
    officer, officer_client = reviewer("officer", hotel, PO)
    # Only the proposer withdraws.
    assert decide(hotel, officer_client, proposal, "withdraw").status_code == 403
    assert denied(Action.ROLE_WITHDRAWN) == [{"user": proposal.user_id, "role": SM, "reason": "not_proposer"}]
    assert decide(hotel, officer_client, proposal, "reject").status_code == 302
    proposal.refresh_from_db()
    assert (proposal.status, proposal.decided_by_id) == (ProposalStatus.REJECTED, officer.pk)
    assert decide(hotel, officer_client, proposal, "confirm").status_code == 409
    assert roles_of(proposal.user, hotel) == {FD}

    propose(hotel, manager, proposal.user, IT)
    second = RoleProposal.objects.get(user=proposal.user, role=IT)
    assert decide(hotel, manager, second, "withdraw").status_code == 302
    second.refresh_from_db()
    assert second.status == ProposalStatus.WITHDRAWN
    assert decide(hotel, officer_client, second, "confirm").status_code == 409
    assert roles_of(proposal.user, hotel) == {FD}
    assert AuditEntry.objects.filter(action=Action.ROLE_REJECTED, outcome=Outcome.ALLOWED).count() == 1
    assert AuditEntry.objects.filter(action=Action.ROLE_WITHDRAWN, outcome=Outcome.ALLOWED).count() == 1


def test_the_database_refuses_a_confirmation_by_the_proposer_or_the_subject(hotel: Hotel) -> None:
    manager = make_user("manager", hotel.prop, PM)
    clerk = make_user("clerk", hotel.prop, FD)
    for decider in (manager, clerk):
        with pytest.raises(IntegrityError), transaction.atomic():
            RoleProposal.objects.create(
                user=clerk, property=hotel.prop, role=SM, proposed_by=manager, status="confirmed", decided_by=decider
            )
    with pytest.raises(IntegrityError), transaction.atomic():
        RoleProposal.objects.create(user=clerk, property=hotel.prop, role=FD, proposed_by=manager)  # one-step role


def test_one_step_roles_are_still_given_at_once(hotel: Hotel, manager_client: Client) -> None:
    clerk = make_user("clerk", hotel.prop, FD)
    propose(hotel, manager_client, clerk, SO, Role.AUDITOR)
    assert roles_of(clerk, hotel) == {FD, SO, Role.AUDITOR}
    assert not RoleProposal.objects.exists()
    manager = User.objects.get(username=f"u-{PM}")
    assert set(
        RoleAssignment.objects.filter(user=clerk, role__in=[SO, Role.AUDITOR]).values_list("granted_by", flat=True)
    ) == {manager.pk}


def test_proposing_twice_files_one_proposal(hotel: Hotel, pending: tuple[RoleProposal, Client]) -> None:
    proposal, manager = pending
    propose(hotel, manager, proposal.user, SM)
    assert RoleProposal.objects.filter(user=proposal.user, role=SM).count() == 1


def test_a_bad_decision_names_the_field(hotel: Hotel, pending: tuple[RoleProposal, Client]) -> None:
    proposal, _manager = pending
    _officer, officer_client = reviewer("officer", hotel, PO)
    response = decide(hotel, officer_client, proposal, "approve")
    assert response.status_code == 400
    assert b"decision" in response.content
    assert roles_of(proposal.user, hotel) == {FD}


def test_an_account_proposed_for_a_reviewer_role_only_is_listed_and_reachable(
    hotel: Hotel, manager_client: Client
) -> None:
    data = {"username": "newpo", "display_name": "New Officer", "email": "", "roles": [PO]}
    response = manager_client.post(f"/p/{hotel.prop.code}/staff/new/", data)
    assert response.status_code == 200
    newpo = User.objects.get(username="newpo")
    assert roles_of(newpo, hotel) == set()
    listing = manager_client.get(f"/p/{hotel.prop.code}/staff/")
    row = next(r for r in listing.context["rows"] if r["user"].pk == newpo.pk)
    assert (row["roles"], row["pending"], row["invited"]) == ([], ["Privacy officer"], True)
    assert manager_client.get(f"/p/{hotel.prop.code}/staff/{newpo.pk}/").status_code == 200


def test_one_it_admin_alone_cannot_make_an_approver(hotel: Hotel, client_for_role: Callable[[str], Client]) -> None:
    """The issue's case: an IT admin made a front-desk and a privacy-officer account and used both."""
    admin = client_for_role(IT)
    links = {}
    for username, role in (("filer", FD), ("approver", PO)):
        data = {"username": username, "display_name": username.title(), "email": "", "roles": [role]}
        links[username] = admin.post(f"/p/{hotel.prop.code}/staff/new/", data).context["link"]
    filer, approver = User.objects.get(username="filer"), User.objects.get(username="approver")
    assert roles_of(approver, hotel) == set()  # privacy officer only proposed
    proposal = RoleProposal.objects.get(user=approver, role=PO)
    # The admin cannot confirm their own proposal (nor hold a reviewer role) ...
    assert decide(hotel, admin, proposal, "confirm").status_code == 403
    # ... nor can the new account, even if the admin used its invitation link to sign in as it.
    chosen = "the admin typed this phrase 4"
    path = links["approver"].removeprefix("http://testserver")
    assert Client().post(path, {"new_password1": chosen, "new_password2": chosen}).status_code == 302
    with pytest.raises(proposals.RoleRefused) as refused:
        proposals.confirm_proposal(proposal, acting_user=approver)
    assert refused.value.code == "subject"
    assert roles_of(approver, hotel) == set()
    assert [d["reason"] for d in denied(Action.ROLE_CONFIRMED)] == ["proposer", "subject"]
    # Once a real reviewer confirms, the new privacy officer still cannot decide anything for 72 hours, and never
    # for the accounts the admin created.
    officer, _client = reviewer("officer", hotel, PO)
    proposals.confirm_proposal(proposal, acting_user=officer)
    assert decision_conflict(approver, filer, hotel.prop) == "cooling_off"
    admin_user = User.objects.get(username=f"u-{IT}")
    assert decision_conflict(officer, filer, hotel.prop) == ""
    assert filer.created_by_id == approver.created_by_id == admin_user.pk
