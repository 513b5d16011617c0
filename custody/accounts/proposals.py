"""Two-step roles: one person proposes, a different holder of a reviewer role at that property confirms.

The roles that decide access requests (security manager, privacy officer, property manager) and the IT admin role
are TWO_STEP_ROLES. Anyone who may manage staff at a property proposes one for someone else there; the role
assignment exists only once another person who holds a reviewer role at that property confirms it. The proposer
cannot confirm their own proposal, nor can the person proposed (the database refuses both too). A pending proposal
can be rejected (by anyone who could confirm it) or withdrawn (by its proposer). `custody createuser` proposes with
no proposer; while a property has no active reviewer at all it gives the role directly instead, since nobody could
confirm it (see the command's help).

Every step writes an audit entry; every refusal writes a denied entry whose details name the reason:

    own_roles      a proposal for oneself
    not_reviewer   the person deciding holds no reviewer role at the property
    proposer       the proposer tried to confirm (or reject) their own proposal
    subject        the person proposed tried to confirm (or reject) it
    not_proposer   someone other than the proposer tried to withdraw it
    not_pending    it was already confirmed, rejected or withdrawn
"""

from __future__ import annotations

from django.db import transaction
from django.utils import timezone

from custody.accounts.models import ProposalStatus, RoleAssignment, RoleProposal, User
from custody.accounts.roles import REVIEWER_ROLES, TWO_STEP_ROLES
from custody.audit import gate
from custody.audit.events import Action
from custody.properties.models import Property

# Refusals the person could only get round by being someone else (403); the rest are about the proposal's state.
FORBIDDEN = frozenset({"own_roles", "not_reviewer", "proposer", "subject", "not_proposer"})


class RoleRefused(Exception):
    """A proposal step was refused; ``code`` is the reason, also in the denied audit entry."""

    def __init__(self, code: str) -> None:
        super().__init__(code)
        self.code = code

    @property
    def status(self) -> int:
        return 403 if self.code in FORBIDDEN else 409


def has_active_reviewer(prop: Property) -> bool:
    """Whether anyone could confirm a proposal at the property (an enabled account holding a reviewer role)."""
    return RoleAssignment.objects.filter(property=prop, role__in=REVIEWER_ROLES, user__is_active=True).exists()


def pending_roles(prop: Property, user: User) -> set[str]:
    return set(
        RoleProposal.objects.filter(user=user, property=prop, status=ProposalStatus.PENDING).values_list(
            "role", flat=True
        )
    )


def _details(proposal: RoleProposal, **more: object) -> dict[str, object]:
    return {"user": proposal.user_id, "role": proposal.role, **more}


def file_proposal(prop: Property, user: User, role: str, *, acting_user: User | None) -> RoleProposal:
    """Inside the caller's transaction: a pending proposal (an existing pending one is returned as it is).

    The caller has checked that acting_user may manage staff at prop; acting_user None is the command line.
    """
    if role not in TWO_STEP_ROLES:
        raise ValueError(f"{role} is given in one step")
    if acting_user is not None and acting_user.pk == user.pk:
        raise RoleRefused("own_roles")
    existing = RoleProposal.objects.filter(user=user, property=prop, role=role, status=ProposalStatus.PENDING).first()
    if existing is not None:
        return existing
    proposal = RoleProposal.objects.create(user=user, property=prop, role=role, proposed_by=acting_user)
    gate.record(Action.ROLE_PROPOSED, actor=acting_user, prop=prop, obj=proposal, details=_details(proposal))
    return proposal


def _locked(proposal: RoleProposal) -> RoleProposal:
    return RoleProposal.objects.select_for_update().select_related("user", "property").get(pk=proposal.pk)


def _check_decider(proposal: RoleProposal, user: User) -> None:
    if user.pk == proposal.user_id:
        raise RoleRefused("subject")
    if proposal.proposed_by_id is not None and user.pk == proposal.proposed_by_id:
        raise RoleRefused("proposer")
    if not user.roles_at(proposal.property) & REVIEWER_ROLES:
        raise RoleRefused("not_reviewer")


def _refused(action: Action, proposal: RoleProposal, acting_user: User, refused: RoleRefused) -> RoleRefused:
    gate.record_denied(
        action,
        actor=acting_user,
        prop=proposal.property,
        obj=proposal,
        details=_details(proposal, reason=refused.code),
    )
    return refused


def confirm_proposal(proposal: RoleProposal, *, acting_user: User) -> RoleAssignment:
    """Confirm: the role assignment is created now, naming who proposed and who confirmed it."""
    try:
        with transaction.atomic():
            proposal = _locked(proposal)
            _check_decider(proposal, acting_user)
            if proposal.status != ProposalStatus.PENDING:
                raise RoleRefused("not_pending")
            now = timezone.now()
            proposal.status = ProposalStatus.CONFIRMED
            proposal.decided_by = acting_user
            proposal.decided_at = now
            proposal.save(update_fields=["status", "decided_by", "decided_at"])
            assignment, created = RoleAssignment.objects.get_or_create(
                user=proposal.user,
                property=proposal.property,
                role=proposal.role,
                defaults={"granted_by": proposal.proposed_by, "confirmed_by": acting_user, "proposal": proposal},
            )
            proposal.user.__dict__.pop("_roles_cache", None)
            gate.record(
                Action.ROLE_CONFIRMED,
                actor=acting_user,
                prop=proposal.property,
                obj=proposal,
                details=_details(proposal, proposed_by=proposal.proposed_by_id, already_held=not created),
            )
            return assignment
    except RoleRefused as refused:
        raise _refused(Action.ROLE_CONFIRMED, proposal, acting_user, refused) from None


def reject_proposal(proposal: RoleProposal, *, acting_user: User) -> RoleProposal:
    """Reject: anyone who could confirm the proposal may turn it down instead."""
    try:
        with transaction.atomic():
            proposal = _locked(proposal)
            _check_decider(proposal, acting_user)
            return _close(proposal, ProposalStatus.REJECTED, Action.ROLE_REJECTED, acting_user)
    except RoleRefused as refused:
        raise _refused(Action.ROLE_REJECTED, proposal, acting_user, refused) from None


def withdraw_proposal(proposal: RoleProposal, *, acting_user: User) -> RoleProposal:
    """Withdraw: only the proposer (a proposal from the command line can only be rejected)."""
    try:
        with transaction.atomic():
            proposal = _locked(proposal)
            if proposal.proposed_by_id is None or proposal.proposed_by_id != acting_user.pk:
                raise RoleRefused("not_proposer")
            return _close(proposal, ProposalStatus.WITHDRAWN, Action.ROLE_WITHDRAWN, acting_user)
    except RoleRefused as refused:
        raise _refused(Action.ROLE_WITHDRAWN, proposal, acting_user, refused) from None


def _close(proposal: RoleProposal, status: str, action: Action, acting_user: User) -> RoleProposal:
    if proposal.status != ProposalStatus.PENDING:
        raise RoleRefused("not_pending")
    proposal.status = status
    proposal.decided_by = acting_user
    proposal.decided_at = timezone.now()
    proposal.save(update_fields=["status", "decided_by", "decided_at"])
    gate.record(action, actor=acting_user, prop=proposal.property, obj=proposal, details=_details(proposal))
    return proposal
