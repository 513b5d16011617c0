"""Sign-in: lockout, second factor, sessions, temporary passwords, invitations, sign-out, hashing, headers."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import Any

import axes.utils
import pytest
from axes.models import AccessAttempt
from django.conf import settings
from django.contrib.sessions.models import Session
from django.test import Client
from django.utils import timezone
from django_otp.oath import totp
from django_otp.plugins.otp_static.models import StaticToken
from django_otp.plugins.otp_totp.models import TOTPDevice

from custody.accounts import proposals
from custody.accounts.actions import RECOVERY_CODE_COUNT, do_issue_recovery_codes
from custody.accounts.models import User
from custody.accounts.roles import TWO_FACTOR_ROLES, Role
from custody.audit.events import Action
from custody.audit.models import AuditEntry
from custody.properties.models import Floor
from tests.conftest import PASSWORD, Hotel, current_code, fresh_totp_code, make_user, signed_in_client

LOGIN_URL = "/accounts/login/"
VERIFY_URL = "/accounts/two-factor/"
SETUP_URL = "/accounts/two-factor/setup/"
PASSWORD_URL = "/accounts/password/"


def login(client: Client, username: str, password: str = PASSWORD, **extra: Any) -> Any:
    return client.post(LOGIN_URL, {"username": username, "password": password}, **extra)


def is_signed_in(client: Client) -> bool:
    return bool(client.session.get("_auth_user_id"))


def wrong_code(valid: set[str]) -> str:
    """A six-digit code that is not valid in any step the server accepts."""
    return next(c for c in (f"{n:06d}" for n in range(1_000_000)) if c not in valid)


def codes_around_now(bin_key: bytes) -> set[str]:
    return {f"{totp(bin_key, drift=d):06d}" for d in (-1, 0, 1)}


# --- Lockout (django-axes) -------------------------------------------------------------------------------


def test_lockout_settings_match_the_policy() -> None:
    assert settings.AXES_FAILURE_LIMIT == 5
    # A user name is locked only at the address that guessed it; an address alone only at its own, higher limit.
    assert settings.AXES_LOCKOUT_PARAMETERS == [["username", "ip_address"]]
    assert settings.AXES_HANDLER == "custody.accounts.lockout.PairAndAddressHandler"
    assert settings.CUSTODY_LOGIN_ADDRESS_FAILURE_LIMIT == 50
    assert settings.AXES_HTTP_RESPONSE_CODE == 429
    assert timedelta(minutes=15) == settings.AXES_COOLOFF_TIME


def fail_until_locked(client: Client, username: str, **extra: Any) -> None:
    for attempt in range(1, settings.AXES_FAILURE_LIMIT):
        response = login(client, username, "wrong password", **extra)
        assert response.status_code == 400, f"attempt {attempt}"
        assert b"do not match" in response.content
    response = login(client, username, "wrong password", **extra)
    assert response.status_code == 429
    assert b"Account locked" in response.content
    assert "accounts/locked_out.html" in [t.name for t in response.templates]


def test_fifth_failure_locks_and_the_right_password_is_then_refused(hotel: Hotel) -> None:
    make_user("clerk", hotel.prop, Role.FRONT_DESK)
    client = Client()
    fail_until_locked(client, "clerk")
    response = login(client, "clerk")
    assert response.status_code == 429
    assert not is_signed_in(client)
    assert client.get(f"/p/{hotel.prop.code}/").status_code == 302


def test_nobody_elsewhere_can_lock_out_a_named_reviewer(hotel: Hotel) -> None:
    """Guessing a reviewer's name from one address locks that name at that address only: they still sign in."""
    make_user("reviewer", hotel.prop, Role.PRIVACY_OFFICER)
    fail_until_locked(Client(), "reviewer", REMOTE_ADDR="10.0.0.1")
    assert login(Client(), "reviewer", REMOTE_ADDR="10.0.0.1").status_code == 429
    client = Client()
    assert login(client, "reviewer", REMOTE_ADDR="10.0.0.2").status_code == 302
    assert is_signed_in(client)
    entry = AuditEntry.objects.filter(action=Action.AUTH_LOCKED_OUT).first()
    assert entry is not None and entry.details == {"scope": "user_and_address"}


def test_one_guessing_colleague_does_not_lock_out_everyone_behind_the_same_address(hotel: Hotel) -> None:
    make_user("clerk", hotel.prop, Role.FRONT_DESK)
    client = Client()
    for n in range(settings.AXES_FAILURE_LIMIT):
        assert login(client, f"guess-{n}", "wrong password", REMOTE_ADDR="10.0.0.9").status_code == 400
    fail_until_locked(Client(), "typo", REMOTE_ADDR="10.0.0.9")
    colleague = Client()
    assert login(colleague, "clerk", REMOTE_ADDR="10.0.0.9").status_code == 302
    assert is_signed_in(colleague)


def test_an_address_guessing_across_many_names_is_locked_at_its_own_limit(hotel: Hotel, settings: Any) -> None:
    settings.CUSTODY_LOGIN_ADDRESS_FAILURE_LIMIT = 12
    make_user("clerk", hotel.prop, Role.FRONT_DESK)
    client = Client()
    # Twelve names, one failure each: no name reaches five, but the address reaches twelve.
    for n in range(11):
        assert login(client, f"guess-{n}", "wrong password", REMOTE_ADDR="10.0.0.9").status_code == 400
    assert login(client, "guess-11", "wrong password", REMOTE_ADDR="10.0.0.9").status_code == 429
    blocked = Client()
    assert login(blocked, "clerk", REMOTE_ADDR="10.0.0.9").status_code == 429
    assert not is_signed_in(blocked)
    elsewhere = Client()
    assert login(elsewhere, "clerk", REMOTE_ADDR="10.0.0.10").status_code == 302
    scopes = [e.details["scope"] for e in AuditEntry.objects.filter(action=Action.AUTH_LOCKED_OUT).order_by("seq")]
    assert scopes and set(scopes) == {"address"}


def test_four_failures_do_not_lock_and_success_resets_the_count(hotel: Hotel) -> None:
    make_user("clerk", hotel.prop, Role.FRONT_DESK)
    client = Client()
    for _ in range(settings.AXES_FAILURE_LIMIT - 1):
        assert login(client, "clerk", "wrong password").status_code == 400
    assert login(client, "clerk").status_code == 302
    assert not AccessAttempt.objects.filter(username="clerk").exists()


def test_lock_expires_after_the_cool_off_time(hotel: Hotel) -> None:
    make_user("clerk", hotel.prop, Role.FRONT_DESK)
    fail_until_locked(Client(), "clerk")
    # Almost the whole cool-off has passed: still locked.
    AccessAttempt.objects.update(attempt_time=timezone.now() - settings.AXES_COOLOFF_TIME + timedelta(minutes=1))
    assert login(Client(), "clerk").status_code == 429
    # The cool-off has passed (that refused attempt counted too, so move every attempt back).
    AccessAttempt.objects.update(attempt_time=timezone.now() - settings.AXES_COOLOFF_TIME - timedelta(minutes=1))
    client = Client()
    assert login(client, "clerk").status_code == 302
    assert is_signed_in(client)


def test_admin_reset_unlocks(hotel: Hotel) -> None:
    make_user("clerk", hotel.prop, Role.FRONT_DESK)
    fail_until_locked(Client(), "clerk")
    axes.utils.reset(username="clerk")
    axes.utils.reset(ip="127.0.0.1")
    client = Client()
    assert login(client, "clerk").status_code == 302
    assert client.get(f"/p/{hotel.prop.code}/").status_code == 200


# --- Two-factor enforcement ---------------------------------------------------------------------------------


@pytest.mark.parametrize("role", sorted(TWO_FACTOR_ROLES))
def test_two_factor_role_without_device_is_held_at_setup(hotel: Hotel, role: str) -> None:
    make_user("boss", hotel.prop, role)
    client = Client()
    assert login(client, "boss").status_code == 302
    code = hotel.prop.code
    for path in ["/", f"/p/{code}/", f"/p/{code}/floors/", f"/p/{code}/staff/", "/accounts/me/", PASSWORD_URL]:
        response = client.get(path)
        assert response.status_code == 302, path
        assert response["Location"].startswith(SETUP_URL), path
    # A POST elsewhere is not carried out either.
    response = client.post(f"/p/{code}/floors/new/", {"level": 7, "name": "Sneaky"})
    assert response.status_code == 302
    assert response["Location"] == SETUP_URL
    assert not Floor.objects.filter(name="Sneaky").exists()
    assert client.get(SETUP_URL).status_code == 200


def test_enrolment_with_a_wrong_code_is_refused(hotel: Hotel) -> None:
    user = make_user("boss", hotel.prop, Role.PROPERTY_MANAGER)
    client = Client()
    login(client, "boss")
    assert client.get(SETUP_URL).status_code == 200
    pending = TOTPDevice.objects.get(user=user, confirmed=False)
    response = client.post(SETUP_URL, {"token": wrong_code(codes_around_now(pending.bin_key))})
    assert response.status_code == 400
    assert "does not match" in str(response.context["form"].errors["token"])
    assert not TOTPDevice.objects.filter(user=user, confirmed=True).exists()
    assert not StaticToken.objects.filter(device__user=user).exists()
    assert client.get(f"/p/{hotel.prop.code}/")["Location"].startswith(SETUP_URL)


def test_enrolment_with_the_right_code_confirms_and_shows_recovery_codes(hotel: Hotel) -> None:
    user = make_user("boss", hotel.prop, Role.PROPERTY_MANAGER)
    client = Client()
    login(client, "boss")
    client.get(SETUP_URL)
    pending = TOTPDevice.objects.get(user=user, confirmed=False)
    response = client.post(SETUP_URL, {"token": f"{totp(pending.bin_key):06d}"})
    assert response.status_code == 200
    codes = response.context["codes"]
    assert len(codes) == RECOVERY_CODE_COUNT == 10
    for recovery in codes:
        assert recovery in response.content.decode()
    assert TOTPDevice.objects.filter(user=user, confirmed=True).count() == 1
    assert StaticToken.objects.filter(device__user=user).count() == 10
    # Enrolling also passed the second factor for this session.
    assert client.get(f"/p/{hotel.prop.code}/").status_code == 200


def test_user_with_device_must_enter_a_code_before_anything_else(hotel: Hotel) -> None:
    user = make_user("boss", hotel.prop, Role.PROPERTY_MANAGER, totp_device=True)
    client = Client()
    assert login(client, "boss").status_code == 302
    home = f"/p/{hotel.prop.code}/"
    response = client.get(home)
    assert response.status_code == 302
    assert response["Location"] == f"{VERIFY_URL}?next=%2Fp%2F{hotel.prop.code}%2F"
    device = TOTPDevice.objects.get(user=user)
    response = client.post(VERIFY_URL, {"token": wrong_code(codes_around_now(device.bin_key)), "next": home})
    assert response.status_code == 400
    assert "not valid" in str(response.context["form"].errors["token"])
    assert client.get(home).status_code == 302
    # django-otp throttles after a failure (1 s, doubling); let that pause pass.
    device.refresh_from_db()
    assert device.throttling_failure_count == 1
    TOTPDevice.objects.filter(pk=device.pk).update(throttling_failure_timestamp=timezone.now() - timedelta(minutes=1))
    response = client.post(VERIFY_URL, {"token": current_code(user), "next": home})
    assert response.status_code == 302
    assert response["Location"] == home
    assert client.get(home).status_code == 200


def test_verify_does_not_redirect_off_site(hotel: Hotel) -> None:
    user = make_user("boss", hotel.prop, Role.PROPERTY_MANAGER, totp_device=True)
    client = Client()
    login(client, "boss")
    response = client.post(VERIFY_URL, {"token": current_code(user), "next": "https://evil.example/"})
    assert response.status_code == 302
    assert response["Location"] == "/"


def test_recovery_code_works_once_only(hotel: Hotel) -> None:
    user = make_user("boss", hotel.prop, Role.PROPERTY_MANAGER, totp_device=True)
    recovery = do_issue_recovery_codes(user)[0]
    client = Client()
    login(client, "boss")
    response = client.post(VERIFY_URL, {"token": recovery}, follow=True)
    assert response.status_code == 200
    assert "You used a recovery code; 9 remain." in response.content.decode()
    assert StaticToken.objects.filter(device__user=user).count() == 9
    client.post("/accounts/logout/")

    again = Client()
    login(again, "boss")
    response = again.post(VERIFY_URL, {"token": recovery})
    assert response.status_code == 400
    assert again.get(f"/p/{hotel.prop.code}/").status_code == 302


@pytest.mark.parametrize("role", sorted(set(Role.values) - TWO_FACTOR_ROLES))
def test_roles_without_two_factor_use_the_site_without_enrolling(hotel: Hotel, role: str) -> None:
    user = make_user("clerk", hotel.prop, role)
    client = Client()
    assert login(client, "clerk").status_code == 302
    assert client.get(f"/p/{hotel.prop.code}/").status_code == 200
    assert client.get("/accounts/me/").status_code == 200
    assert not TOTPDevice.objects.filter(user=user).exists()


# --- Sessions -----------------------------------------------------------------------------------------------


def test_session_idle_timeout_is_30_minutes_and_sliding() -> None:
    assert settings.SESSION_COOKIE_AGE == 30 * 60
    assert settings.SESSION_SAVE_EVERY_REQUEST is True


def test_idle_session_expires(hotel: Hotel) -> None:
    user = make_user("clerk", hotel.prop, Role.FRONT_DESK)
    client = signed_in_client(user)
    home = f"/p/{hotel.prop.code}/"
    assert client.get(home).status_code == 200
    session = Session.objects.get(session_key=client.session.session_key)
    # Every request pushes the expiry out by the full idle time.
    assert session.expire_date > timezone.now() + timedelta(minutes=29)
    Session.objects.filter(pk=session.pk).update(expire_date=timezone.now() + timedelta(minutes=1))
    assert client.get(home).status_code == 200
    assert Session.objects.get(pk=session.pk).expire_date > timezone.now() + timedelta(minutes=29)
    # Idle past the expiry: signed out.
    Session.objects.filter(pk=session.pk).update(expire_date=timezone.now() - timedelta(seconds=1))
    response = client.get(home)
    assert response.status_code == 302
    assert response["Location"].startswith("/accounts/login/?next=")


def test_expired_session_needs_the_second_factor_again(hotel: Hotel) -> None:
    user = make_user("boss", hotel.prop, Role.IT_ADMIN, totp_device=True)
    client = signed_in_client(user)
    Session.objects.filter(session_key=client.session.session_key).update(expire_date=timezone.now())
    assert client.get("/accounts/me/")["Location"].startswith("/accounts/login/")
    login(client, "boss")
    assert client.get("/accounts/me/")["Location"].startswith(VERIFY_URL)
    client.post(VERIFY_URL, {"token": fresh_totp_code(user)})
    assert client.get("/accounts/me/").status_code == 200


# --- Temporary passwords (accounts made before invitation links) and invitations -----------------------------


def test_account_with_a_temporary_password_must_change_it(hotel: Hotel) -> None:
    temporary = "a temporary pass phrase 7"
    newbie = make_user("newbie", hotel.prop, Role.FRONT_DESK)
    newbie.set_password(temporary)
    newbie.must_change_password = True
    newbie.save()

    client = Client()
    assert login(client, "newbie", temporary).status_code == 302
    home = f"/p/{hotel.prop.code}/"
    for path in [home, "/", "/accounts/me/"]:
        response = client.get(path)
        assert response.status_code == 302, path
        assert response["Location"].startswith(PASSWORD_URL), path
    # A weak new password is refused and nothing changes.
    response = client.post(
        PASSWORD_URL, {"old_password": temporary, "new_password1": "short", "new_password2": "short"}
    )
    assert response.status_code == 400
    assert "new_password2" in response.context["form"].errors
    assert User.objects.get(pk=newbie.pk).must_change_password

    chosen = "my own long pass phrase 99"
    response = client.post(PASSWORD_URL, {"old_password": temporary, "new_password1": chosen, "new_password2": chosen})
    assert response.status_code == 302
    newbie.refresh_from_db()
    assert not newbie.must_change_password
    assert newbie.check_password(chosen)
    assert client.get(home).status_code == 200  # still signed in after the change


def test_invited_two_factor_role_sets_its_password_then_enrols(
    hotel: Hotel, client_for_role: Callable[[str], Client]
) -> None:
    admin = client_for_role(Role.IT_ADMIN)
    response = admin.post(
        f"/p/{hotel.prop.code}/staff/new/",
        {"username": "newboss", "display_name": "New Boss", "email": "", "roles": [Role.SECURITY_OFFICER]},
    )
    path = response.context["link"].removeprefix("http://testserver")
    chosen = "the new boss's own phrase 3"
    assert Client().post(path, {"new_password1": chosen, "new_password2": chosen}).status_code == 302
    # A second reviewer makes them property manager: a two-factor role.
    newboss = User.objects.get(username="newboss")
    manager = make_user("manager", hotel.prop, Role.PROPERTY_MANAGER)
    proposals.confirm_proposal(
        proposals.file_proposal(hotel.prop, newboss, Role.PROPERTY_MANAGER, acting_user=manager),
        acting_user=make_user("officer", hotel.prop, Role.PRIVACY_OFFICER),
    )
    client = Client()
    login(client, "newboss", chosen)
    assert client.get("/accounts/me/")["Location"].startswith(SETUP_URL)
    client.get(SETUP_URL)
    pending = TOTPDevice.objects.get(user__username="newboss", confirmed=False)
    assert client.post(SETUP_URL, {"token": f"{totp(pending.bin_key):06d}"}).status_code == 200
    assert client.get("/accounts/me/").status_code == 200  # no temporary password to change


# --- Sign-out, hashing, headers ---------------------------------------------------------------------------


def test_logout_only_by_post(hotel: Hotel, client_for_role: Callable[[str], Client]) -> None:
    client = client_for_role(Role.FRONT_DESK)
    assert client.get("/accounts/logout/").status_code == 405
    assert client.get("/accounts/me/").status_code == 200
    response = client.post("/accounts/logout/")
    assert response.status_code == 302
    assert response["Location"] == LOGIN_URL
    assert client.get("/accounts/me/")["Location"].startswith("/accounts/login/")


def test_passwords_are_hashed_with_argon2(hotel: Hotel, settings: Any) -> None:
    """Production hashes with Argon2id; tests.settings uses a fast hasher, so this test restores the real list."""
    import custody.settings as production

    assert production.PASSWORD_HASHERS[0] == "django.contrib.auth.hashers.Argon2PasswordHasher"
    settings.PASSWORD_HASHERS = production.PASSWORD_HASHERS
    user = make_user("clerk", hotel.prop, Role.FRONT_DESK)
    assert user.password.startswith("argon2$argon2id$")
    assert PASSWORD not in user.password
    client = signed_in_client(user)
    chosen = "another long pass phrase 5"
    client.post(PASSWORD_URL, {"old_password": PASSWORD, "new_password1": chosen, "new_password2": chosen})
    user.refresh_from_db()
    assert user.password.startswith("argon2")
    assert user.check_password(chosen)


@pytest.mark.parametrize("signed", [False, True])
def test_security_headers(hotel: Hotel, client_for_role: Callable[[str], Client], signed: bool) -> None:
    if signed:
        response = client_for_role(Role.PROPERTY_MANAGER).get(f"/p/{hotel.prop.code}/floors/")
    else:
        response = Client().get(LOGIN_URL)
    assert response.status_code == 200
    directives = {
        part.split()[0]: part.split()[1:] for part in response["Content-Security-Policy"].split(";") if part.strip()
    }
    assert directives["script-src"] == ["'self'"]
    assert "'unsafe-inline'" not in response["Content-Security-Policy"]
    assert directives["frame-ancestors"] == ["'none'"]
    assert directives["object-src"] == ["'none'"]
    assert response["X-Frame-Options"] == "DENY"
    assert response["X-Content-Type-Options"] == "nosniff"
    assert "no-store" in [d.strip() for d in response["Cache-Control"].split(",")]
    assert response["Referrer-Policy"] == "same-origin"


def test_session_and_csrf_cookies_are_http_only(hotel: Hotel) -> None:
    user = make_user("clerk", hotel.prop, Role.FRONT_DESK)
    client = Client(enforce_csrf_checks=True)
    page = client.get(LOGIN_URL)
    token = page.context["csrf_token"]
    response = client.post(LOGIN_URL, {"username": user.username, "password": PASSWORD, "csrfmiddlewaretoken": token})
    assert response.status_code == 302
    assert response.cookies[settings.SESSION_COOKIE_NAME]["httponly"]
    assert response.cookies[settings.SESSION_COOKIE_NAME]["samesite"] == "Lax"
    assert page.cookies[settings.CSRF_COOKIE_NAME]["httponly"]


def test_login_without_csrf_token_is_refused(hotel: Hotel) -> None:
    make_user("clerk", hotel.prop, Role.FRONT_DESK)
    client = Client(enforce_csrf_checks=True)
    assert login(client, "clerk").status_code == 403
    assert not is_signed_in(client)
