"""Sign-in, second factor, password and the user's own account page."""

from __future__ import annotations

import base64

import segno
from django.contrib import messages
from django.contrib.auth import logout, update_session_auth_hash
from django.contrib.auth.decorators import login_required
from django.contrib.auth.forms import AuthenticationForm, PasswordChangeForm
from django.contrib.auth.views import LoginView
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.translation import gettext as _
from django.views.decorators.http import require_http_methods, require_POST
from django_otp import login as otp_login
from django_otp import match_token
from django_otp.plugins.otp_static.models import StaticToken
from django_otp.plugins.otp_totp.models import TOTPDevice

from custody.access import AuthedRequest, properties_for_user
from custody.accounts import actions, invitations
from custody.accounts.forms import AcceptInvitationForm, LoginForm, SetupTokenForm, TokenForm
from custody.accounts.middleware import is_verified
from custody.accounts.models import User
from custody.accounts.roles import Role
from custody.audit.events import Action, Outcome
from custody.audit.gate import record


class CustodyLoginView(LoginView):
    template_name = "accounts/login.html"
    authentication_form = LoginForm
    redirect_authenticated_user = True

    def form_valid(self, form: AuthenticationForm) -> HttpResponse:
        response = super().form_valid(form)
        record(Action.AUTH_LOGIN, actor=form.get_user())
        return response

    def form_invalid(self, form: AuthenticationForm) -> HttpResponse:
        # A refused sign-in is bad input like any other form error: 400, not 200.
        response = super().form_invalid(form)
        response.status_code = 400
        # The entry names the account by id when it exists; a typed user name is never written down.
        tried = User.objects.filter(username=str(form.data.get("username", ""))[:150]).first()
        record(Action.AUTH_LOGIN_FAILED, actor=None, obj=tried, outcome=Outcome.DENIED)
        return response


login_view = CustodyLoginView.as_view()


@require_POST
def logout_view(request: HttpRequest) -> HttpResponse:
    if request.user.is_authenticated:
        record(Action.AUTH_LOGOUT, actor=request.user)
    logout(request)
    messages.info(request, _("You have signed out."))
    return redirect("accounts:login")


def _next_url(request: HttpRequest, default: str = "/") -> str:
    target = request.POST.get("next") or request.GET.get("next") or default
    if url_has_allowed_host_and_scheme(target, allowed_hosts={request.get_host()}, require_https=request.is_secure()):
        return target
    return default


@require_http_methods(["GET", "POST"])
@login_required
def verify(request: AuthedRequest) -> HttpResponse:
    if is_verified(request.user):
        return redirect(_next_url(request))
    form = TokenForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        device = match_token(request.user, form.cleaned_data["token"])
        if device is not None:
            otp_login(request, device)
            method = "recovery_code" if device.persistent_id.startswith("otp_static") else "totp"
            record(Action.AUTH_TWO_FACTOR_VERIFIED, actor=request.user, details={"method": method})
            if method == "recovery_code":
                left = StaticToken.objects.filter(device__user=request.user).count()
                messages.warning(request, _("You used a recovery code; %(left)d remain.") % {"left": left})
            return redirect(_next_url(request))
        record(Action.AUTH_TWO_FACTOR_FAILED, actor=request.user, outcome=Outcome.DENIED)
        form.add_error("token", _("That code is not valid. Check your device's clock and try again."))
    return render(
        request, "accounts/verify.html", {"form": form, "next": _next_url(request)}, status=400 if form.errors else 200
    )


def _qr_data_uri(text: str) -> str:
    svg = segno.make(text, error="m").svg_inline(scale=5, dark="#0f172a", light="#ffffff")
    return "data:image/svg+xml;base64," + base64.b64encode(svg.encode("utf-8")).decode("ascii")


@require_http_methods(["GET", "POST"])
@login_required
def setup_two_factor(request: AuthedRequest) -> HttpResponse:
    user = request.user
    if TOTPDevice.objects.filter(user=user, confirmed=True).exists() and not is_verified(user):
        return redirect("accounts:verify")
    device = TOTPDevice.objects.filter(user=user, confirmed=False, name="pending").first()
    if device is None:
        device = TOTPDevice.objects.create(user=user, name="pending", confirmed=False)
    form = SetupTokenForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        if device.verify_token(form.cleaned_data["token"]):
            codes = actions.do_confirm_totp(device)
            device.name = "authenticator"
            device.save(update_fields=["name"])
            otp_login(request, device)
            return render(request, "accounts/recovery_codes.html", {"codes": codes, "fresh": True})
        form.add_error("token", _("That code does not match. Scan the code again and enter the current digits."))
    secret = base64.b32encode(device.bin_key).decode("ascii")
    context = {
        "form": form,
        "qr": _qr_data_uri(device.config_url),
        "secret": " ".join(secret[i : i + 4] for i in range(0, len(secret), 4)),
        "required": user.requires_two_factor,
    }
    return render(request, "accounts/setup_two_factor.html", context, status=400 if form.errors else 200)


@require_http_methods(["GET", "POST"])
@login_required
def recovery_codes(request: AuthedRequest) -> HttpResponse:
    if not TOTPDevice.objects.filter(user=request.user, confirmed=True).exists():
        return redirect("accounts:setup_two_factor")
    if request.method == "POST":
        codes = actions.do_issue_recovery_codes(request.user)
        return render(request, "accounts/recovery_codes.html", {"codes": codes, "fresh": True})
    left = StaticToken.objects.filter(device__user=request.user).count()
    return render(request, "accounts/recovery_codes.html", {"left": left, "fresh": False})


@require_http_methods(["GET", "POST"])
@login_required
def password_change(request: AuthedRequest) -> HttpResponse:
    form = PasswordChangeForm(request.user, request.POST or None)
    if request.method == "POST" and form.is_valid():
        actions.do_change_password(request.user, form.cleaned_data["new_password1"])
        update_session_auth_hash(request, request.user)
        messages.success(request, _("Your password has been changed."))
        return redirect("accounts:profile")
    forced = request.user.must_change_password
    return render(
        request, "accounts/password_change.html", {"form": form, "forced": forced}, status=400 if form.errors else 200
    )


@require_http_methods(["GET"])
@login_required
def profile(request: AuthedRequest) -> HttpResponse:
    user = request.user
    memberships = [(prop, [Role(r).label for r in sorted(user.roles_at(prop))]) for prop in properties_for_user(user)]
    context = {
        "memberships": memberships,
        "has_totp": TOTPDevice.objects.filter(user=user, confirmed=True).exists(),
        "recovery_left": StaticToken.objects.filter(device__user=user).count(),
        "required": user.requires_two_factor,
    }
    return render(request, "accounts/profile.html", context)


@require_http_methods(["GET", "POST"])
def accept_invitation(request: HttpRequest, token: str) -> HttpResponse:
    """The invited person chooses their own password; the link then stops working. Open to anyone with the link."""
    try:
        invitation = invitations.find(token)
        form = AcceptInvitationForm(invitation.user, request.POST or None)
        if request.method == "POST" and form.is_valid():
            invitations.accept(token, form.cleaned_data["new_password1"])
            messages.success(request, _("Your password is set. Sign in with it now."))
            return redirect("accounts:login")
    except invitations.InvitationRefused as refused:
        # An unknown link is a 404; one that existed but can no longer be used is gone (410).
        status = 404 if refused.code == "unknown" else 410
        return render(request, "accounts/invitation_invalid.html", {"code": refused.code}, status=status)
    context = {"form": form, "person": invitation.user}
    return render(request, "accounts/accept_invitation.html", context, status=400 if form.errors else 200)
