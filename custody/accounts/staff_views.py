"""Staff accounts of one property (its property managers and IT admins), and role proposals (also its reviewers)."""

from __future__ import annotations

from collections.abc import Iterable

from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.db.models import Q, QuerySet
from django.http import HttpResponse, HttpResponseBadRequest
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_http_methods, require_POST, require_safe
from django_otp.plugins.otp_totp.models import TOTPDevice

from custody.access import AuthedRequest, property_view
from custody.accounts import actions, invitations, proposals
from custody.accounts.actions import assigned_roles
from custody.accounts.forms import StaffCreateForm, StaffEditForm
from custody.accounts.models import ProposalStatus, RoleProposal, User
from custody.accounts.proposals import pending_roles
from custody.accounts.roles import REVIEWER_ROLES, Role
from custody.audit import gate
from custody.audit.events import Action
from custody.properties.models import Property


def staff_at(prop: Property) -> QuerySet[User]:
    """People who hold a role at this property or were proposed for one there (a new account may hold none yet)."""
    return User.objects.filter(Q(role_assignments__property=prop) | Q(role_proposals__property=prop)).distinct()


def get_staff_for_user(prop: Property, pk: int) -> User:
    """A member of this property's staff; anyone else is a 404."""
    return get_object_or_404(staff_at(prop), pk=pk)


def get_proposal_for_user(prop: Property, pk: int) -> RoleProposal:
    proposals_here = RoleProposal.objects.select_related("user", "property", "proposed_by")
    return get_object_or_404(proposals_here, pk=pk, property=prop)


def role_labels(roles: Iterable[str]) -> list[str]:
    return [str(Role(r).label) for r in sorted(roles)]


def invited(person: User) -> bool:
    """The account has not set its own password yet (it was created with an invitation link)."""
    return not person.has_usable_password()


@require_safe
@property_view("accounts.manage_staff")
def staff_list(request: AuthedRequest, prop: Property) -> HttpResponse:
    with gate.guard(request.user, "accounts.manage_staff", prop, Action.STAFF_LIST_VIEWED, obj=prop):
        people = staff_at(prop).order_by("username")
        enrolled = set(TOTPDevice.objects.filter(user__in=people, confirmed=True).values_list("user_id", flat=True))
        rows = [
            {
                "user": u,
                "roles": [Role(r).label for r in sorted(assigned_roles(prop, u))],
                "pending": role_labels(pending_roles(prop, u)),
                "invited": invited(u),
                "totp": u.pk in enrolled,
                "needs_totp": u.requires_two_factor,
            }
            for u in people
        ]
        waiting = RoleProposal.objects.filter(property=prop, status=ProposalStatus.PENDING).count()
    return render(request, "accounts/staff_list.html", {"rows": rows, "waiting": waiting})


def invitation_page(request: AuthedRequest, account: User, token: str, proposed: list[RoleProposal]) -> HttpResponse:
    """The invitation link, shown this once (only its hash is stored): a 200 page, never a redirect."""
    link = request.build_absolute_uri(reverse("accounts:accept_invitation", kwargs={"token": token}))
    context = {
        "person": account,
        "link": link,
        "hours": invitations.invitation_hours(),
        "proposed": role_labels(p.role for p in proposed),
    }
    return render(request, "accounts/invitation_issued.html", context)


@require_http_methods(["GET", "POST"])
@property_view("accounts.manage_staff")
def staff_create(request: AuthedRequest, prop: Property) -> HttpResponse:
    form = StaffCreateForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        account = actions.do_create_staff(
            prop,
            acting_user=request.user,
            username=data["username"],
            display_name=data["display_name"],
            email=data["email"],
            roles=data["roles"],
        )
        messages.success(request, _("Account %(name)s created.") % {"name": account.user.username})
        return invitation_page(request, account.user, account.token, account.proposals)
    return render(
        request, "accounts/staff_form.html", {"form": form, "creating": True}, status=400 if form.errors else 200
    )


@require_http_methods(["GET", "POST"])
@property_view("accounts.manage_staff")
def staff_edit(request: AuthedRequest, prop: Property, pk: int) -> HttpResponse:
    person = get_staff_for_user(prop, pk)
    if request.method == "GET":
        gate.record(Action.STAFF_VIEWED, actor=request.user, prop=prop, obj=person)
    initial = {
        "display_name": person.display_name,
        "email": person.email,
        "roles": sorted(assigned_roles(prop, person)),
    }
    form = StaffEditForm(request.POST or None, initial=initial)
    if request.method == "POST" and form.is_valid():
        try:
            filed = actions.do_update_staff(
                prop,
                person,
                acting_user=request.user,
                display_name=form.cleaned_data["display_name"],
                email=form.cleaned_data["email"],
                roles=form.cleaned_data["roles"],
            )
        except PermissionDenied:
            form.add_error("roles", _("You cannot change your own roles; ask another administrator."))
        else:
            messages.success(request, _("Account %(name)s updated.") % {"name": person.username})
            if filed:
                messages.info(
                    request,
                    _("Awaiting confirmation by another reviewer: %(roles)s.")
                    % {"roles": ", ".join(role_labels(p.role for p in filed))},
                )
            return redirect("staff:list", code=prop.code)
    context = {
        "form": form,
        "person": person,
        "creating": False,
        "can_disable": request.user.has_perm("accounts.disable_staff", prop) and person.pk != request.user.pk,
        "has_totp": TOTPDevice.objects.filter(user=person, confirmed=True).exists(),
        "is_self": person.pk == request.user.pk,
        "invited": invited(person),
        "pending": RoleProposal.objects.filter(
            user=person, property=prop, status=ProposalStatus.PENDING
        ).select_related("proposed_by"),
    }
    return render(request, "accounts/staff_form.html", context, status=400 if form.errors else 200)


def refused_page(request: AuthedRequest, message: str, status: int, back: str) -> HttpResponse:
    return render(request, "accounts/refused.html", {"message": message, "back": back}, status=status)


@require_POST
@property_view("accounts.manage_staff")
def staff_invite(request: AuthedRequest, prop: Property, pk: int) -> HttpResponse:
    """A new invitation link for an account that has not set its own password yet (older links stop working)."""
    person = get_staff_for_user(prop, pk)
    try:
        _invitation, token = invitations.issue_invitation(person, acting_user=request.user, prop=prop)
    except invitations.InvitationRefused as refused:
        text = {
            "own_account": _("You cannot invite yourself."),
            "has_password": _("%(name)s has already set a password; an invitation link would replace it.")
            % {"name": person.username},
            "inactive": _("%(name)s is disabled; enable the account first.") % {"name": person.username},
        }[refused.code]
        back = reverse("staff:edit", kwargs={"code": prop.code, "pk": person.pk})
        return refused_page(request, text, 403 if refused.code == "own_account" else 409, back)
    return invitation_page(request, person, token, [])


@require_POST
@property_view("accounts.manage_staff")
def staff_reset_two_factor(request: AuthedRequest, prop: Property, pk: int) -> HttpResponse:
    person = get_staff_for_user(prop, pk)
    try:
        actions.do_reset_two_factor(person, acting_user=request.user, prop=prop)
    except PermissionDenied:
        messages.error(request, _("Ask another administrator to reset your own two-factor sign-in."))
        return redirect("staff:edit", code=prop.code, pk=person.pk)
    messages.success(
        request,
        _("Two-factor sign-in of %(name)s was reset; they enrol again at next sign-in.") % {"name": person.username},
    )
    return redirect("staff:edit", code=prop.code, pk=person.pk)


@require_POST
@property_view("accounts.disable_staff")
def staff_set_active(request: AuthedRequest, prop: Property, pk: int) -> HttpResponse:
    person = get_staff_for_user(prop, pk)
    if request.POST.get("active") not in {"0", "1"}:
        return HttpResponseBadRequest(_("The field 'active' must be 0 (disable) or 1 (enable)."))
    active = request.POST["active"] == "1"
    if person.pk == request.user.pk:
        raise PermissionDenied
    try:
        actions.do_set_active(person, acting_user=request.user, active=active, prop=prop)
    except PermissionDenied:
        gate.record_denied(Action.STAFF_ENABLED if active else Action.STAFF_DISABLED, actor=request.user, prop=prop,
                           obj=person, details={"reason": "other_property"})
        messages.error(request, _("%(name)s also works at a property you do not administer; ask an IT admin "
                                  "of every property they work at.") % {"name": person.username})
        return redirect("staff:edit", code=prop.code, pk=person.pk)
    if active:
        messages.success(request, _("Account %(name)s enabled.") % {"name": person.username})
    else:
        messages.success(request, _("Account %(name)s disabled.") % {"name": person.username})
    return redirect("staff:edit", code=prop.code, pk=person.pk)


# --- Role proposals: reviewers confirm what a staff manager proposed ------------------------------------------


PROPOSAL_REFUSALS = {
    "not_reviewer": gettext_lazy(
        "Only someone holding a reviewer role here (security manager, privacy officer or property "
        "manager) can confirm or reject a role."
    ),
    "proposer": gettext_lazy("You proposed this role: another reviewer must confirm or reject it."),
    "subject": gettext_lazy("This proposal is about you: another reviewer must decide it."),
    "not_proposer": gettext_lazy("Only the person who proposed this role can withdraw it."),
    "not_pending": gettext_lazy("This proposal has already been decided."),
}


@require_safe
@property_view("accounts.view_role_proposals")
def role_proposals(request: AuthedRequest, prop: Property) -> HttpResponse:
    with gate.guard(request.user, "accounts.view_role_proposals", prop, Action.ROLE_PROPOSALS_VIEWED, obj=prop):
        listed = RoleProposal.objects.filter(property=prop).select_related("user", "proposed_by", "decided_by")
        pending = list(listed.filter(status=ProposalStatus.PENDING))
        decided = list(listed.exclude(status=ProposalStatus.PENDING)[:20])
    me = request.user
    reviewer = bool(me.roles_at(prop) & REVIEWER_ROLES)
    rows = [
        {
            "proposal": p,
            "can_decide": reviewer and me.pk not in (p.user_id, p.proposed_by_id),
            "can_withdraw": p.proposed_by_id == me.pk,
        }
        for p in pending
    ]
    return render(request, "accounts/role_proposals.html", {"rows": rows, "decided": decided})


@require_POST
@property_view("accounts.view_role_proposals")
def decide_proposal(request: AuthedRequest, prop: Property, pk: int) -> HttpResponse:
    proposal = get_proposal_for_user(prop, pk)
    decision = request.POST.get("decision", "")
    steps = {
        "confirm": proposals.confirm_proposal,
        "reject": proposals.reject_proposal,
        "withdraw": proposals.withdraw_proposal,
    }
    if decision not in steps:
        return HttpResponseBadRequest(_("The field 'decision' must be confirm, reject or withdraw."))
    try:
        steps[decision](proposal, acting_user=request.user)
    except proposals.RoleRefused as refused:
        back = reverse("staff:proposals", kwargs={"code": prop.code})
        text = str(PROPOSAL_REFUSALS.get(refused.code, gettext_lazy("This step was refused.")))
        return refused_page(request, text, refused.status, back)
    done = {
        "confirm": _("%(name)s now holds the role %(role)s."),
        "reject": _("The proposal to make %(name)s %(role)s was rejected."),
        "withdraw": _("The proposal to make %(name)s %(role)s was withdrawn."),
    }[decision]
    messages.success(request, done % {"name": proposal.user.username, "role": proposal.get_role_display()})
    return redirect("staff:proposals", code=prop.code)
