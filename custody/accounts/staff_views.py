"""Staff accounts of one property, for its property managers and IT admins."""

from __future__ import annotations

from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.http import HttpResponse, HttpResponseBadRequest
from django.shortcuts import get_object_or_404, redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_http_methods, require_POST, require_safe
from django_otp.plugins.otp_totp.models import TOTPDevice

from custody.access import AuthedRequest, property_view
from custody.accounts import actions
from custody.accounts.forms import StaffCreateForm, StaffEditForm
from custody.accounts.models import RoleAssignment, User
from custody.accounts.roles import Role
from custody.audit import gate
from custody.audit.events import Action
from custody.properties.models import Property


def get_staff_for_user(prop: Property, pk: int) -> User:
    """A user holding a role at this property; anyone else is a 404."""
    return get_object_or_404(User.objects.filter(role_assignments__property=prop).distinct(), pk=pk)


def assigned_roles(prop: Property, person: User) -> set[str]:
    """The roles held at this property, shown and edited even while the account is disabled.

    (User.roles_at is empty for a disabled account, which is right for permissions but would make an edit of
    a disabled account silently strip all its roles.)
    """
    return set(RoleAssignment.objects.filter(user=person, property=prop).values_list("role", flat=True))


@require_safe
@property_view("accounts.manage_staff")
def staff_list(request: AuthedRequest, prop: Property) -> HttpResponse:
    with gate.guard(request.user, "accounts.manage_staff", prop, Action.STAFF_LIST_VIEWED, obj=prop):
        people = User.objects.filter(role_assignments__property=prop).distinct().order_by("username")
        enrolled = set(TOTPDevice.objects.filter(user__in=people, confirmed=True).values_list("user_id", flat=True))
        rows = [
            {
                "user": u,
                "roles": [Role(r).label for r in sorted(assigned_roles(prop, u))],
                "totp": u.pk in enrolled,
                "needs_totp": u.requires_two_factor,
            }
            for u in people
        ]
    return render(request, "accounts/staff_list.html", {"rows": rows})


@require_http_methods(["GET", "POST"])
@property_view("accounts.manage_staff")
def staff_create(request: AuthedRequest, prop: Property) -> HttpResponse:
    form = StaffCreateForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        user = actions.do_create_staff(
            prop,
            acting_user=request.user,
            username=data["username"],
            display_name=data["display_name"],
            email=data["email"],
            password=data["password1"],
            roles=data["roles"],
        )
        messages.success(request, _("Account %(name)s created.") % {"name": user.username})
        return redirect("staff:list", code=prop.code)
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
            actions.do_update_staff(
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
            return redirect("staff:list", code=prop.code)
    context = {
        "form": form,
        "person": person,
        "creating": False,
        "can_disable": request.user.has_perm("accounts.disable_staff", prop) and person.pk != request.user.pk,
        "has_totp": TOTPDevice.objects.filter(user=person, confirmed=True).exists(),
        "is_self": person.pk == request.user.pk,
    }
    return render(request, "accounts/staff_form.html", context, status=400 if form.errors else 200)


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
