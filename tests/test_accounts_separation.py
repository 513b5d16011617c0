"""decision_conflict: nobody decides a request filed by an account they created or empowered, nor too soon."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from django.utils import timezone

from custody.accounts import actions, proposals
from custody.accounts.models import RoleAssignment, RoleProposal, User
from custody.accounts.roles import Role
from custody.accounts.separation import decision_conflict
from tests.conftest import Hotel, backdate, make_user

SM, PO, PM, IT, FD, SO = (
    Role.SECURITY_MANAGER,
    Role.PRIVACY_OFFICER,
    Role.PROPERTY_MANAGER,
    Role.IT_ADMIN,
    Role.FRONT_DESK,
    Role.SECURITY_OFFICER,
)


def test_independent_established_reviewer_may_decide(hotel: Hotel) -> None:
    approver = make_user("approver", hotel.prop, PO)
    requester = make_user("requester", hotel.prop, SO)
    assert decision_conflict(approver, requester, hotel.prop) == ""
    assert decision_conflict(approver, requester, hotel.prop, roles=[PO]) == ""


def test_creator_of_the_requesters_account_may_not_decide(hotel: Hotel) -> None:
    """The issue's case: a property manager makes a front-desk account, files with it and approves with their own."""
    manager = make_user("manager", hotel.prop, PM)
    made = actions.do_create_staff(
        hotel.prop, acting_user=manager, username="puppet", display_name="Puppet", email="", roles=[FD]
    )
    puppet = backdate(made.user)  # even long after, the creator stays conflicted
    assert puppet.created_by_id == manager.pk
    assert decision_conflict(manager, puppet, hotel.prop) == "created_requester"
    # Someone else may decide it.
    assert decision_conflict(make_user("other", hotel.prop, PO), puppet, hotel.prop) == ""


def test_whoever_gave_the_requester_a_role_may_not_decide(hotel: Hotel) -> None:
    manager = make_user("manager", hotel.prop, PM)
    clerk = make_user("clerk", hotel.prop)
    actions.do_update_staff(hotel.prop, clerk, acting_user=manager, display_name="Clerk", email="", roles=[SO])
    backdate(clerk)
    assert RoleAssignment.objects.get(user=clerk, role=SO).granted_by_id == manager.pk
    assert decision_conflict(manager, clerk, hotel.prop) == "empowered_requester"


def test_proposer_and_confirmer_of_a_requesters_role_may_not_decide(hotel: Hotel) -> None:
    proposer = make_user("proposer", hotel.prop, PM)
    confirmer = make_user("confirmer", hotel.prop, PO)
    bystander = make_user("bystander", hotel.prop, SM)
    subject = make_user("subject", hotel.prop, FD)
    actions.do_update_staff(hotel.prop, subject, acting_user=proposer, display_name="S", email="", roles=[FD, SM])
    proposal = RoleProposal.objects.get(user=subject, role=SM, status="pending")
    proposals.confirm_proposal(proposal, acting_user=confirmer)
    backdate(subject)
    assert decision_conflict(proposer, subject, hotel.prop) == "empowered_requester"
    assert decision_conflict(confirmer, subject, hotel.prop) == "empowered_requester"
    assert decision_conflict(bystander, subject, hotel.prop) == ""


def test_a_role_given_at_another_property_does_not_conflict_here(hotel: Hotel, other_hotel: Hotel) -> None:
    elsewhere = make_user("elsewhere", other_hotel.prop, PM)
    make_user("approver", hotel.prop, PO)
    requester = make_user("requester", hotel.prop, SO)
    RoleAssignment.objects.create(user=requester, property=other_hotel.prop, role=FD, granted_by=elsewhere)
    RoleAssignment.objects.create(user=elsewhere, property=hotel.prop, role=PO)
    backdate(elsewhere)
    assert decision_conflict(elsewhere, requester, hotel.prop) == ""
    assert decision_conflict(elsewhere, requester, other_hotel.prop) == "empowered_requester"


def test_a_new_account_is_cooling_off(hotel: Hotel) -> None:
    fresh = make_user("fresh", hotel.prop, PO, established=False)
    requester = make_user("requester", hotel.prop, SO)
    assert decision_conflict(fresh, requester, hotel.prop) == "cooling_off"
    # One hour before the period ends: still cooling off; once it has passed: free to decide.
    now = timezone.now()
    assert decision_conflict(fresh, requester, hotel.prop, now=now + timedelta(hours=71)) == "cooling_off"
    assert decision_conflict(fresh, requester, hotel.prop, now=now + timedelta(hours=73)) == ""


def test_a_new_reviewer_role_of_an_old_account_is_cooling_off(hotel: Hotel) -> None:
    veteran = make_user("veteran", hotel.prop, SM)
    requester = make_user("requester", hotel.prop, SO)
    RoleAssignment.objects.create(user=veteran, property=hotel.prop, role=PO)  # given just now
    # Deciding as the new role, or with every reviewer role held (the default), is refused ...
    assert decision_conflict(veteran, requester, hotel.prop, roles=[PO]) == "cooling_off"
    assert decision_conflict(veteran, requester, hotel.prop) == "cooling_off"
    # ... deciding with the old role only is not.
    assert decision_conflict(veteran, requester, hotel.prop, roles=[SM]) == ""


def test_cooling_off_period_comes_from_the_setting(hotel: Hotel, settings: Any) -> None:
    approver = make_user("approver", hotel.prop, PO, established=False)
    requester = make_user("requester", hotel.prop, SO)
    backdate(approver, timedelta(hours=30))
    assert decision_conflict(approver, requester, hotel.prop) == "cooling_off"
    settings.CUSTODY_APPROVER_COOLING_OFF_HOURS = 24
    assert decision_conflict(approver, requester, hotel.prop) == ""


def test_missing_setting_fails_closed(hotel: Hotel, settings: Any) -> None:
    approver = make_user("approver", hotel.prop, PO)
    requester = make_user("requester", hotel.prop, SO)
    del settings.CUSTODY_APPROVER_COOLING_OFF_HOURS
    with pytest.raises(AttributeError):
        decision_conflict(approver, requester, hotel.prop)


def test_no_reviewer_role_same_person_and_missing_data_fail_closed(hotel: Hotel, other_hotel: Hotel) -> None:
    approver = make_user("approver", hotel.prop, PO)
    requester = make_user("requester", hotel.prop, SO)
    desk = make_user("desk", hotel.prop, FD)
    assert decision_conflict(approver, approver, hotel.prop) == "same_person"
    assert decision_conflict(desk, requester, hotel.prop) == "no_reviewer_role"
    assert decision_conflict(approver, requester, other_hotel.prop) == "no_reviewer_role"
    assert decision_conflict(approver, requester, hotel.prop, roles=[SM]) == "no_reviewer_role"  # not held
    assert decision_conflict(approver, requester, hotel.prop, roles=[]) == "no_reviewer_role"
    User.objects.filter(pk=approver.pk).update(is_active=False)
    approver.refresh_from_db()
    assert decision_conflict(approver, requester, hotel.prop) == "no_reviewer_role"
    unsaved = User(username="ghost")
    assert decision_conflict(make_user("other", hotel.prop, PO), unsaved, hotel.prop) == "missing_data"
    gone = make_user("gone", hotel.prop, SO)
    gone_pk = gone.pk
    RoleAssignment.objects.filter(user=gone).delete()
    User.objects.filter(pk=gone_pk).delete()
    gone.pk = gone_pk
    assert decision_conflict(make_user("third", hotel.prop, PO), gone, hotel.prop) == "missing_data"


def test_a_stale_requester_instance_does_not_hide_its_creator(hotel: Hotel) -> None:
    manager = make_user("manager", hotel.prop, PM)
    requester = make_user("requester", hotel.prop, SO)
    User.objects.filter(pk=requester.pk).update(created_by=manager)
    assert requester.created_by_id is None  # the instance in hand is stale
    assert decision_conflict(manager, requester, hotel.prop) == "created_requester"
