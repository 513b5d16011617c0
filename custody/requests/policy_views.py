"""The approval policy page: the effective rule per request type and area sensitivity (reviewers read it), and the
privacy officer's form to change one rule or give it back to the defaults (custody.requests.policy_rules)."""

from __future__ import annotations

from django.contrib import messages
from django.http import Http404, HttpResponse
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_http_methods, require_safe

from custody.access import AuthedRequest
from custody.properties.models import Property
from custody.requests import policy_rules
from custody.requests.forms import PolicyRuleForm, policy_initial
from custody.requests.models import ApprovalPolicy
from custody.requests.views import REVIEW, _tabs, requests_view


@require_safe
@never_cache
@requests_view(REVIEW)
def policy(request: AuthedRequest, prop: Property) -> HttpResponse:
    rows = policy_rules.effective_rules(prop)
    context = {
        "rows": rows,
        "can_edit": request.user.has_perm(policy_rules.EDIT_PERMISSION, prop),
        **_tabs(request, prop, "policy"),
    }
    return render(request, "requests/policy.html", context)


@require_http_methods(["GET", "POST"])
@never_cache
@requests_view(policy_rules.EDIT_PERMISSION)
def policy_edit(request: AuthedRequest, prop: Property, request_type: str, sensitivity: str) -> HttpResponse:
    if (request_type, sensitivity) not in policy_rules.rule_keys():
        raise Http404("No such rule.")
    current = policy_rules.effective(prop, request_type, sensitivity)
    has_row = ApprovalPolicy.objects.filter(
        property=prop, request_type=request_type, area_sensitivity=sensitivity
    ).exists()
    if request.method == "POST" and "reset" in request.POST:
        policy_rules.reset_policy_rule(prop, request_type, sensitivity, acting_user=request.user)
        messages.success(request, _("The rule was removed; the defaults apply."))
        return redirect("requests:policy", code=prop.code)
    form = PolicyRuleForm(
        request.POST if request.method == "POST" else None,
        initial=policy_initial(current.rule),
        request_type=request_type,
        sensitivity=sensitivity,
    )
    if request.method == "POST" and form.is_valid():
        policy_rules.save_policy_rule(prop, request_type, sensitivity, form.cleaned_data, acting_user=request.user)
        messages.success(request, _("Approval rule saved. Requests submitted from now on follow it."))
        return redirect("requests:policy", code=prop.code)
    context = {"form": form, "current": current, "has_row": has_row, **_tabs(request, prop, "policy")}
    return render(request, "requests/policy_edit.html", context, status=400 if form.errors else 200)
