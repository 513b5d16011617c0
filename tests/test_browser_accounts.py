"""In the browser: a manager creates an account with a reviewer role, the newcomer sets a password through the
invitation link, another reviewer confirms the role; screenshots in English and Chinese."""

from __future__ import annotations

from typing import Any

import pytest

from custody.accounts.models import RoleAssignment, User
from custody.accounts.roles import Role
from custody.core.demo import PROPERTY_CODE, seed_demo
from tests.test_browser import OUTPUT, _sign_in, page  # noqa: F401  (page is a fixture)

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_reviewer_role_takes_two_people_and_the_newcomer_sets_their_password(page: Any) -> None:  # noqa: F811
    logins = {login.username: login for login in seed_demo(footage=False)}
    manager, privacy = logins["manager"], logins["privacy"]
    _sign_in(page, manager.username, manager.password, manager.totp_secret)

    page.goto(f"{page.base_url}/p/{PROPERTY_CODE}/staff/new/")
    page.fill("#id_username", "newofficer")
    page.fill("#id_display_name", "New Officer")
    page.check(f"input[name=roles][value={Role.PRIVACY_OFFICER}]")
    page.click("main button[type=submit]")
    link = page.input_value("#invitation-link")
    assert "/accounts/invitation/" in link
    page.screenshot(path=str(OUTPUT / "invitation-en.png"), full_page=True)
    page.click("form[action='/accounts/logout/'] button")

    page.goto(link)
    chosen = "the new officer's own phrase 6"
    page.fill("#id_new_password1", chosen)
    page.fill("#id_new_password2", chosen)
    page.click("main button[type=submit]")
    page.wait_for_url("**/accounts/login/")
    assert User.objects.get(username="newofficer").check_password(chosen)
    assert not RoleAssignment.objects.filter(user__username="newofficer").exists()

    _sign_in(page, privacy.username, privacy.password, privacy.totp_secret)
    page.goto(f"{page.base_url}/p/{PROPERTY_CODE}/staff/proposals/")
    assert "newofficer" in page.locator("main").inner_text()
    page.screenshot(path=str(OUTPUT / "role-proposals-en.png"), full_page=True)
    page.select_option("#language-switch", "zh-hans")
    page.wait_for_load_state("networkidle")
    assert page.locator("html").get_attribute("lang") == "zh-hans"
    page.screenshot(path=str(OUTPUT / "role-proposals-zh.png"), full_page=True)
    page.click("button[name=decision][value=confirm]")
    page.wait_for_url("**/staff/proposals/")
    assert RoleAssignment.objects.filter(user__username="newofficer", role=Role.PRIVACY_OFFICER).exists()
