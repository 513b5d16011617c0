"""Headless Chromium walks a guest-lookup request from the front desk's application to the privacy officer's
approval (signed in with TOTP) to the granted lookup, which shows exactly the approved guest.

Screenshots go to test-output/browser/ (or $CUSTODY_TEST_OUTPUT/browser/) for a person to look at.
"""

from __future__ import annotations

import base64
import datetime as dt
from collections.abc import Iterator
from typing import Any

import pytest
from django.utils import timezone
from django_otp.oath import totp

from custody.core.demo import PROPERTY_CODE, seed_demo
from custody.guests import vault
from custody.guests.models import StayStatus
from custody.properties.models import Property, Room
from custody.requests.models import AccessRequest, Grant, Status
from tests.test_browser import CHROMIUM, OUTPUT, _browser_available

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

BASE = f"/p/{PROPERTY_CODE}"
ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
]


@pytest.fixture
def browser(live_server: Any, monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    if not _browser_available():
        pytest.skip(f"{CHROMIUM} not installed; .ci/run installs it")
    monkeypatch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
    from playwright.sync_api import sync_playwright

    OUTPUT.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        chromium.base_url = live_server.url
        chromium.console_errors = []
        yield chromium
        chromium.close()
        assert not chromium.console_errors, (
            f"browser console errors (CSP violations included): {chromium.console_errors}"
        )


def new_page(browser: Any, *, width: int = 1280, height: int = 900) -> Any:
    """A fresh browser profile (its own cookies and language), as a second person at another desk."""
    context = browser.new_context(viewport={"width": width, "height": height}, locale="en-GB")
    page = context.new_page()
    page.set_default_timeout(15_000)
    page.on("console", lambda msg: browser.console_errors.append(msg.text) if msg.type == "error" else None)
    return page


def sign_in(page: Any, base_url: str, username: str, password: str, totp_secret: str | None = None) -> None:
    page.goto(base_url + "/")
    page.fill("#id_username", username)
    page.fill("#id_password", password)
    page.click("main button[type=submit]")
    if totp_secret:
        page.wait_for_url("**/accounts/two-factor/**")
        page.fill("#id_token", f"{totp(base64.b32decode(totp_secret)):06d}")
        page.click("main button[type=submit]")
    page.wait_for_url(f"**{BASE}/")


def seed_guests() -> None:
    prop = Property.objects.get(code=PROPERTY_CODE)
    today = timezone.now().date()
    room = Room.objects.get(property=prop, number="105")
    wanted = vault.create_guest(
        prop,
        {
            "surname": "王",
            "given_names": "小明",
            "phone": "+86 138 0013 8000",
            "email": "wang@example.cn",
            "nationality": "CHN",
            "address": "山东省青岛市市南区香港中路 88 号",
        },
        acting_user=None,
    )
    other = vault.create_guest(
        prop, {"surname": "García López", "given_names": "María José", "phone": "+34 600 123 456"}, acting_user=None
    )
    for guest, reference in ((wanted, "HV-2026-0042"), (other, "HV-2026-0043")):
        vault.create_stay(
            prop,
            primary_guest=guest,
            room=room,
            check_in_planned=today - dt.timedelta(days=9),
            check_out_planned=today - dt.timedelta(days=7),
            status=StayStatus.CHECKED_OUT,
            booking_reference=reference,
            acting_user=None,
        )


def test_a_guest_lookup_from_application_to_approval_to_the_granted_lookup(browser: Any) -> None:
    logins = {login.username: login for login in seed_demo(footage=False)}
    seed_guests()
    base = browser.base_url

    # The front desk files the request.
    desk = new_page(browser)
    sign_in(desk, base, logins["frontdesk"].username, logins["frontdesk"].password)
    desk.locator(".mainnav").get_by_role("link", name="Access requests").click()
    desk.wait_for_url(f"**{BASE}/requests/")
    desk.get_by_role("link", name="New request").first.click()
    desk.wait_for_url("**/requests/new/")
    desk.select_option("#id_request_type", "guest_lookup")
    assert desk.locator(".scope-footage").is_hidden() and desk.locator(".scope-guests").is_visible()
    desk.select_option("#id_purpose", "service_dispute")
    desk.fill("#id_purpose_text", "The guest disputes a minibar charge of 12 June; we need the contact on file.")
    desk.select_option("#id_legal_basis", "contract")
    assert "A name alone is not enough" in desk.locator(".scope-guests").inner_text()
    desk.fill("#id_guest_0_surname", "王")
    desk.fill("#id_guest_0_given_names", "小明")
    desk.select_option("#id_guest_0_second_kind", "booking_reference")
    desk.fill("#id_guest_0_second_value", "HV-2026-0042")
    assert desk.locator(".scope-stays").is_visible()  # a guest lookup needs its stay window
    today = timezone.now().date()
    desk.fill("#id_stay_from", str(today - dt.timedelta(days=30)))
    desk.fill("#id_stay_until", str(today))
    desk.screenshot(path=str(OUTPUT / "requests-form-en.png"), full_page=True)
    desk.locator("button[name=submit]").click()
    desk.wait_for_url("**/requests/*-*-*-*-*/")
    assert "Request R-" in desk.locator(".messages").inner_text()
    assert desk.locator("h1 .status").inner_text() == "Submitted"
    access = AccessRequest.objects.get()
    assert access.status == Status.SUBMITTED

    # The privacy officer (second factor) finds it in the queue and approves it, in Chinese.
    privacy = logins["privacy"]
    officer = new_page(browser)
    sign_in(officer, base, privacy.username, privacy.password, privacy.totp_secret)
    officer.goto(f"{base}{BASE}/requests/queue/")
    row = officer.locator("table.requests tbody tr", has_text=access.number)
    assert row.locator(".due").count() == 1 and "sla-in-time" in (row.locator(".due").get_attribute("class") or "")
    assert "王" not in officer.locator("main").inner_text()  # the queue shows no personal data
    row.get_by_role("link", name=access.number).click()
    officer.wait_for_url(f"**/requests/{access.pk}/")
    assert "王 小明" in officer.locator("main").inner_text() or "王小明" in officer.locator("main").inner_text()
    officer.select_option("#language-switch", "zh-hans")
    officer.wait_for_load_state("networkidle")
    body = officer.locator("main").inner_text()
    assert "时间线" in body and "按申请批准" in body and "Timeline" not in body
    officer.fill("#id_approve-reason", "已核对：仅用于处理账单争议。")
    officer.screenshot(path=str(OUTPUT / "requests-review-zh.png"), full_page=True)
    officer.get_by_role("button", name="按申请批准").click()
    officer.wait_for_url(f"**/requests/{access.pk}/")
    assert officer.locator("h1 .status").inner_text() == "已批准"
    grant = Grant.objects.get(request=access)

    # Back at the desk: the grants page, then one use of the grant shows the approved guest and nothing else.
    desk.goto(f"{base}{BASE}/requests/grants/")
    desk.get_by_role("link", name=access.number).click()
    desk.wait_for_url(f"**/requests/grants/{grant.pk}/")
    desk.get_by_role("button", name="Look up the guests").click()
    desk.wait_for_load_state("networkidle")
    results = desk.locator("main").inner_text()
    assert "小明" in results and "+86 138 0013 8000" in results and "wang@example.cn" in results
    assert "García" not in results and "600 123 456" not in results
    assert "CHN" not in results  # a service dispute does not need the nationality
    assert "105" in results
    desk.screenshot(path=str(OUTPUT / "requests-results-en.png"), full_page=True)

    # The request's timeline shows every step; on a phone the page fits the width.
    desk.set_viewport_size({"width": 390, "height": 844})
    desk.goto(f"{base}{BASE}/requests/{access.pk}/")
    timeline = desk.locator("table.timeline").inner_text()
    for step in (
        "Access request drafted",
        "Access request submitted",
        "Access request approved",
        "Grant created",
        "Grant used",
        "Guest record read",
    ):
        assert step in timeline, step
    assert desk.evaluate("document.documentElement.scrollWidth <= window.innerWidth + 1")
    desk.screenshot(path=str(OUTPUT / "requests-detail-phone.png"), full_page=True)
