from __future__ import annotations

from collections.abc import Callable
from typing import Any
from urllib.parse import urlencode

from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.urls import reverse
from django_otp.plugins.otp_totp.models import TOTPDevice

# The API authenticates with bearer tokens and ignores the session, so a half-signed-in session does not apply.
OPEN_PATH_PREFIXES = ("/static/", "/i18n/", "/api/")


def is_verified(user: Any) -> bool:
    """True once the user passed a second factor in this session (django-otp sets is_verified)."""
    check = getattr(user, "is_verified", None)
    return bool(check()) if callable(check) else False


class TwoFactorRequiredMiddleware:
    """Hold a signed-in user at the two-factor and password pages until they have passed them.

    A user with a confirmed authenticator must enter a code; a user whose role requires two-factor but has
    none enrolled must enrol; a user given a temporary password must choose their own. Nothing else is
    reachable until then.
    """

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        user: Any = request.user
        if not user.is_authenticated or request.path.startswith(OPEN_PATH_PREFIXES):
            return self.get_response(request)
        allowed = {reverse("accounts:logout")}
        if not is_verified(user):
            has_device = TOTPDevice.objects.filter(user=user, confirmed=True).exists()
            if has_device:
                target = reverse("accounts:verify")
            elif user.requires_two_factor:
                target = reverse("accounts:setup_two_factor")
            else:
                target = ""
            if target:
                return self._hold(request, target, allowed)
        if user.must_change_password:
            return self._hold(
                request, reverse("accounts:password_change"), allowed | {reverse("accounts:recovery_codes")}
            )
        return self.get_response(request)

    def _hold(self, request: HttpRequest, target: str, allowed: set[str]) -> HttpResponse:
        if request.path == target or request.path in allowed:
            return self.get_response(request)
        if request.method == "GET":
            return redirect(f"{target}?{urlencode({'next': request.get_full_path()})}")
        return redirect(target)
