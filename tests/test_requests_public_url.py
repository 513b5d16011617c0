"""Links in e-mails use the configured public address (CUSTODY_PUBLIC_URL), never a hard-coded host or port."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import pytest
from django.core import mail
from django.utils import timezone

from custody.accounts.roles import Role
from custody.lib import env as envparse
from custody.requests import actions
from tests.conftest import Hotel, make_user
from tests.test_requests_core import footage_data
from tests.test_settings_env import _custody


@pytest.mark.parametrize(
    ("raw", "parsed"),
    [
        (None, "http://127.0.0.1:8000"),
        ("", "http://127.0.0.1:8000"),
        ("https://custody.hotel.example", "https://custody.hotel.example"),
        ("https://custody.hotel.example/", "https://custody.hotel.example"),
        ("  http://10.0.0.5:8443  ", "http://10.0.0.5:8443"),
        ("http://[::1]:8000/", "http://[::1]:8000"),
    ],
)
def test_public_url_accepts_a_scheme_host_and_port(raw: str | None, parsed: str) -> None:
    env = {} if raw is None else {"U": raw}
    assert envparse.parse_public_url(env, "U", default="http://127.0.0.1:8000") == parsed


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ("custody.hotel.example", "must start with http:// or https://"),
        ("ftp://custody.hotel.example", "must start with http:// or https://"),
        ("javascript:alert(1)", "must start with http:// or https://"),
        ("https://", "names no valid host"),
        ("https://exa mple.org", "names no valid host"),
        ("https://custody.hotel.example/custody", "no path, query or fragment"),
        ("https://custody.hotel.example/?next=/", "no path, query or fragment"),
        ("https://custody.hotel.example/#x", "no path, query or fragment"),
        ("https://custody.hotel.example?", "no path, query or fragment"),
        ("https://admin:secret@custody.hotel.example", "user name or password"),
        ("https://custody.hotel.example:99999", "is not a URL"),
        ("https://custody.hotel.example:0", "port 0"),
    ],
)
def test_public_url_refuses_anything_else_naming_the_variable(raw: str, message: str) -> None:
    with pytest.raises(envparse.ConfigError, match=message) as refused:
        envparse.parse_public_url({"CUSTODY_PUBLIC_URL": raw}, "CUSTODY_PUBLIC_URL", default="http://x")
    assert str(refused.value).startswith("CUSTODY_PUBLIC_URL")


def test_a_bad_public_url_stops_startup(tmp_path: Path) -> None:
    result = _custody(["check"], {"CUSTODY_PUBLIC_URL": "custody.hotel.example/x"}, tmp_path)
    assert result.returncode == 2 and "CUSTODY_PUBLIC_URL=" in result.stderr and "Traceback" not in result.stderr


@pytest.mark.django_db
@pytest.mark.usefixtures("fresh_keys")
def test_request_and_break_glass_emails_link_to_the_public_url(
    hotel: Hotel, settings: Any, django_capture_on_commit_callbacks: Any
) -> None:
    settings.CUSTODY_PUBLIC_URL = "https://custody.hotel.example"
    officer = make_user("officer", hotel.prop, Role.SECURITY_OFFICER)
    manager = make_user("secman", hotel.prop, Role.SECURITY_MANAGER)
    dpo = make_user("dpo", hotel.prop, Role.PRIVACY_OFFICER)
    for user in (manager, dpo):
        user.email = f"{user.username}@example.com"
        user.save()
    start = timezone.now().replace(microsecond=0) - dt.timedelta(hours=2)
    with django_capture_on_commit_callbacks(execute=True):
        request = actions.create_request(hotel.prop, footage_data(hotel), acting_user=officer)
        actions.submit_request(request, acting_user=officer)
        grant = actions.open_break_glass(
            hotel.prop, acting_user=manager, cameras=[hotel.camera], window_start=start,
            window_end=start + dt.timedelta(minutes=20), emergency="fire", reason="Smoke on the first floor",
        )  # fmt: skip
    bodies = [m.body for m in mail.outbox]
    assert any(f"https://custody.hotel.example/p/seaside/requests/{request.pk}/" in b for b in bodies)
    assert any(f"https://custody.hotel.example/p/seaside/requests/{grant.request_id}/" in b for b in bodies)
    assert all(":8000" not in b and "127.0.0.1" not in b for b in bodies)
