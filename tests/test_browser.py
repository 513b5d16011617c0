"""Headless Chromium (Debian's, driven by Playwright): sign in, use the site, switch to Chinese, screenshot.

Screenshots go to test-output/browser/ (or $CUSTODY_TEST_OUTPUT/browser/) for a person to look at.
"""

from __future__ import annotations

import base64
import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from django_otp.oath import totp

from custody.core.demo import seed_demo

CHROMIUM = "/usr/bin/chromium"
OUTPUT = Path(os.environ.get("CUSTODY_TEST_OUTPUT", Path(__file__).resolve().parent.parent / "test-output")) / "browser"

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def _browser_available() -> bool:
    if not Path(CHROMIUM).exists() or shutil.which("chromium") is None:
        if os.environ.get("CUSTODY_REQUIRE_BROWSER"):
            pytest.fail(f"CUSTODY_REQUIRE_BROWSER is set but {CHROMIUM} is missing (apt-get install chromium)")
        return False
    return True


@pytest.fixture
def page(live_server: Any, monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    if not _browser_available():
        pytest.skip(f"{CHROMIUM} not installed; .ci/run installs it")
    # Playwright's sync API runs an event loop in this thread; the test's own ORM calls are synchronous.
    monkeypatch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
    from playwright.sync_api import sync_playwright

    OUTPUT.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM,
            args=[
                "--no-sandbox",
                "--disable-gpu",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                "--no-first-run",
                "--disable-quic",
            ],
        )
        context = browser.new_context(viewport={"width": 1280, "height": 860}, locale="en-GB")
        page = context.new_page()
        page.set_default_timeout(15_000)
        errors: list[str] = []
        page.on("console", lambda msg: errors.append(msg.text) if msg.type == "error" else None)
        page.base_url = live_server.url  # type: ignore[attr-defined]
        page.console_errors = errors  # type: ignore[attr-defined]
        yield page
        context.close()
        browser.close()
    assert not errors, f"browser console errors (CSP violations included): {errors}"


def _sign_in(page: Any, username: str, password: str, totp_secret: str | None) -> None:
    page.goto(page.base_url + "/")
    assert "/accounts/login/" in page.url
    page.fill("#id_username", username)
    page.fill("#id_password", password)
    page.click("main button[type=submit]")
    if totp_secret:
        page.wait_for_url("**/accounts/two-factor/**")
        page.fill("#id_token", f"{totp(base64.b32decode(totp_secret)):06d}")
        page.click("main button[type=submit]")
    page.wait_for_url("**/p/harbour-view/")


def test_manager_signs_in_switches_to_chinese_and_takes_screenshots(page: Any) -> None:
    logins = {login.username: login for login in seed_demo(footage=False)}
    manager = logins["manager"]
    _sign_in(page, manager.username, manager.password, manager.totp_secret)

    assert page.locator("h1").inner_text() == "Harbour View Hotel"
    assert page.locator(".stat .num").first.inner_text() == "3"
    assert page.get_by_role("link", name="Floors", exact=True).is_visible()
    page.screenshot(path=str(OUTPUT / "home-en.png"), full_page=True)

    page.locator(".mainnav").get_by_role("link", name="Floors", exact=True).click()
    page.wait_for_url("**/floors/")
    assert page.locator("img.plan").count() == 3
    # Each floor plan image really loads (served through the permission-checked view).
    assert page.evaluate(
        "Array.from(document.images).filter(i => i.classList.contains('plan'))"
        ".every(i => i.complete && i.naturalWidth > 0)"
    )
    page.screenshot(path=str(OUTPUT / "floors-en.png"), full_page=True)

    page.select_option("#language-switch", "zh-hans")  # submits through custody.js
    page.wait_for_load_state("networkidle")
    assert page.locator("html").get_attribute("lang") == "zh-hans"
    assert page.get_by_role("link", name="楼层", exact=True).is_visible()
    page.goto(page.base_url + "/p/harbour-view/")
    body = page.locator("body").inner_text()
    assert "退出" in body and "Sign out" not in body
    page.screenshot(path=str(OUTPUT / "home-zh.png"), full_page=True)

    page.goto(page.base_url + "/p/harbour-view/staff/")
    page.screenshot(path=str(OUTPUT / "staff-zh.png"), full_page=True)


def test_front_desk_sees_no_management_pages_on_a_phone(page: Any) -> None:
    logins = {login.username: login for login in seed_demo(footage=False)}
    desk = logins["frontdesk"]
    page.set_viewport_size({"width": 390, "height": 844})
    _sign_in(page, desk.username, desk.password, None)
    assert page.get_by_role("link", name="Floors", exact=True).count() == 0
    assert page.locator("h3", has_text="Rooms by type").count() == 1
    page.screenshot(path=str(OUTPUT / "home-frontdesk-phone.png"), full_page=True)
    assert page.console_errors == []
    response = page.goto(page.base_url + "/p/harbour-view/floors/")
    page.console_errors.clear()  # the 403 below is the point of this step
    assert response is not None and response.status == 403


def test_auditor_reads_the_log_and_an_inclusion_proof(page: Any) -> None:
    logins = {login.username: login for login in seed_demo(footage=False)}
    auditor = logins["auditor"]
    _sign_in(page, auditor.username, auditor.password, None)
    page.locator(".mainnav").get_by_role("link", name="Audit log", exact=True).click()
    page.wait_for_url("**/audit/")
    assert page.locator("table.table tbody tr").count() >= 5
    assert "auth.login" in page.locator("table.table").inner_text()
    page.screenshot(path=str(OUTPUT / "audit-en.png"), full_page=True)
    page.goto(page.base_url + "/p/harbour-view/audit/1/")
    assert "The proof verifies" in page.locator("body").inner_text()
    page.select_option("#language-switch", "zh-hans")
    page.wait_for_load_state("networkidle")
    assert "证明有效" in page.locator("body").inner_text()
    page.screenshot(path=str(OUTPUT / "audit-entry-zh.png"), full_page=True)


def test_front_desk_checks_a_guest_in_and_sees_only_the_minimum(page: Any) -> None:
    from datetime import timedelta

    from django.utils import timezone

    logins = {login.username: login for login in seed_demo(footage=False)}
    desk = logins["frontdesk"]
    _sign_in(page, desk.username, desk.password, None)
    page.goto(page.base_url + "/p/harbour-view/desk/check-in/")
    page.fill("#id_surname", "García López")
    page.fill("#id_given_names", "María José")
    page.select_option("#id_sex", index=1)
    page.fill("#id_date_of_birth", "1985-04-12")
    page.fill("#id_nationality", "ES")
    page.fill("#id_phone", "+34 600 123 456")
    page.select_option("#id_doc_type", "passport")
    page.fill("#id_number", "PAB123456")
    page.fill("#id_issuing_country", "ES")
    page.select_option("#id_room", label="101")
    page.fill("#id_check_out_planned", (timezone.localdate() + timedelta(days=2)).isoformat())
    page.fill("#id_booking_reference", "HV-2026-0042")
    page.locator("main button[type=submit]").click()
    page.wait_for_url("**/desk/stays/**")
    detail = page.locator("body").inner_text()
    assert "García López, María José" in detail
    assert "PAB123456" not in detail and "456" in detail  # masked: last characters only
    assert "Passport" in detail
    page.screenshot(path=str(OUTPUT / "desk-stay-en.png"), full_page=True)
    page.goto(page.base_url + "/p/harbour-view/desk/")
    body = page.locator("body").inner_text()
    assert "García López" in body and "101" in body
    assert "PAB123456" not in body and "600 123 456" not in body  # lists show names, rooms and dates only
    page.screenshot(path=str(OUTPUT / "desk-today-en.png"), full_page=True)
    page.select_option("#language-switch", "zh-hans")
    page.wait_for_load_state("networkidle")
    assert "入住" in page.locator("body").inner_text()
    page.screenshot(path=str(OUTPUT / "desk-today-zh.png"), full_page=True)
