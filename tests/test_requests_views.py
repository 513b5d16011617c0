"""The access-request pages (custody.requests.views, grant_views, policy_views): the application form and its bad
input, the lists, the request page with its timeline, every decision through the test client, grants and their
use, break-glass, the approval policy and the printable PDFs."""

from __future__ import annotations

import datetime as dt
import os
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from django.test import Client
from django.urls import reverse
from django.utils import timezone, translation
from django_otp.plugins.otp_totp.models import TOTPDevice

from custody.accounts.models import User
from custody.accounts.roles import TWO_FACTOR_ROLES, Role
from custody.audit.events import Action, Outcome
from custody.audit.models import AuditEntry
from custody.footage.models import Camera
from custody.guests import vault
from custody.guests.models import StayStatus
from custody.properties.models import Area, AreaClass, AreaKind
from custody.requests import actions
from custody.requests.actions import RequestData
from custody.requests.models import (
    AccessRequest,
    ApprovalPolicy,
    BreakGlassReview,
    Grant,
    Purpose,
    RequestType,
    Status,
)
from tests.conftest import Hotel, make_png, make_user, signed_in_client

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("fresh_keys")]

PDF = b"%PDF-1.4\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n"
OUTPUT = (
    Path(os.environ.get("CUSTODY_TEST_OUTPUT", Path(__file__).resolve().parent.parent / "test-output")) / "requests"
)


@pytest.fixture(autouse=True)
def fast_hashing(settings: Any) -> None:
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture(autouse=True)
def _back_to_english() -> Iterator[None]:
    """LocaleMiddleware leaves the last request's language active in the thread; later tests expect English."""
    yield
    translation.deactivate()


class People:
    def __init__(self, hotel: Hotel) -> None:
        def user(name: str, role: str) -> User:
            return make_user(name, hotel.prop, role, totp_device=role in TWO_FACTOR_ROLES)

        self.desk = user("desk", Role.FRONT_DESK)
        self.officer = user("officer", Role.SECURITY_OFFICER)
        self.secman = user("secman", Role.SECURITY_MANAGER)
        self.dpo = user("dpo", Role.PRIVACY_OFFICER)
        self.gm = user("gm", Role.PROPERTY_MANAGER)
        self.it = user("it", Role.IT_ADMIN)
        self.auditor = user("auditor", Role.AUDITOR)


@pytest.fixture
def people(hotel: Hotel) -> People:
    return People(hotel)


def client_for(user: User) -> Client:
    """A signed-in client; the same person may sign in twice in one TOTP step (replay guard reset)."""
    TOTPDevice.objects.filter(user=user).update(last_t=-1)
    return signed_in_client(user)


def url(name: str, hotel: Hotel, **kwargs: Any) -> str:
    return reverse(f"requests:{name}", kwargs={"code": hotel.prop.code, **kwargs})


def local(moment: dt.datetime, hotel: Hotel) -> str:
    """A datetime-local value in the property's time zone."""
    import zoneinfo

    return moment.astimezone(zoneinfo.ZoneInfo(hotel.prop.timezone)).strftime("%Y-%m-%dT%H:%M")


def window(minutes: int = 30, ago: int = 180) -> tuple[dt.datetime, dt.datetime]:
    start = timezone.now().replace(second=0, microsecond=0) - dt.timedelta(minutes=ago)
    return start, start + dt.timedelta(minutes=minutes)


def footage_form(hotel: Hotel, **changes: Any) -> dict[str, Any]:
    start, end = window()
    data: dict[str, Any] = {
        "request_type": RequestType.FOOTAGE_VIEW,
        "purpose": Purpose.SECURITY_INCIDENT,
        "purpose_text": "Wallet reported stolen at the bar",
        "legal_basis": "legitimate_interests",
        "urgency": "normal",
        "requester_kind": "staff",
        "cameras": [hotel.camera.pk],
        "window_start": local(start, hotel),
        "window_end": local(end, hotel),
        "guest_rows": "5",
    }
    data.update(changes)
    return {k: v for k, v in data.items() if v is not None}


def guest_form(**changes: Any) -> dict[str, Any]:
    data: dict[str, Any] = {
        "request_type": RequestType.GUEST_LOOKUP,
        "purpose": Purpose.SECURITY_INCIDENT,
        "purpose_text": "Guest reported a stolen wallet; the suspect booked under this name",
        "legal_basis": "legitimate_interests",
        "urgency": "urgent",
        "requester_kind": "staff",
        "guest_rows": "5",
        "guest_0_surname": "Núñez",
        "guest_0_given_names": "Inés",
        "guest_0_second_kind": "date_of_birth",
        "guest_0_second_value": "1980-02-03",
        "guest_1_surname": "Other",
        "guest_1_given_names": "Guest",
        "guest_1_second_kind": "booking_reference",
        "guest_1_second_value": "BK-2",
        "stay_from": (timezone.now().date() - dt.timedelta(days=60)).isoformat(),
        "stay_until": timezone.now().date().isoformat(),
    }
    data.update(changes)
    return {k: v for k, v in data.items() if v is not None}


def guest(surname: str, given_names: str, second_kind: str, value: str) -> dict[str, str]:
    return {"kind": "name", "surname": surname, "given_names": given_names, "second_kind": second_kind,
            "second_value": value}  # fmt: skip


def last_days(days: int = 60) -> dict[str, dt.date]:
    """The stay window of a guest lookup: the last ``days`` days."""
    today = timezone.now().date()
    return {"stay_from": today - dt.timedelta(days=days), "stay_until": today}


def footage_request(hotel: Hotel, user: User, *, submit: bool = True, **changes: Any) -> AccessRequest:
    start, end = window()
    data = RequestData(
        request_type=RequestType.FOOTAGE_VIEW,
        purpose=Purpose.SECURITY_INCIDENT,
        legal_basis="legitimate_interests",
        purpose_text="Wallet reported stolen at the bar",
        cameras=[hotel.camera],
        window_start=start,
        window_end=end,
    )
    for name, value in changes.items():
        setattr(data, name, value)
    access = actions.create_request(hotel.prop, data, acting_user=user)
    return actions.submit_request(access, acting_user=user) if submit else access


def audit_actions(access: AccessRequest) -> list[str]:
    return list(
        AuditEntry.objects.filter(request_ref=access.number, property=access.property)
        .order_by("seq")
        .values_list("action", flat=True)
    )


def text(response: Any) -> str:
    """The page's visible text, tags stripped and whitespace folded."""
    html = response.content.decode()
    html = re.sub(r"<(script|style)\b.*?</\1>", " ", html, flags=re.S)
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", html))


# --- who may open which page --------------------------------------------------------------------------------------

PAGES = ["mine", "new", "queue", "grants", "policy", "break_glass", "break_glass_reviews"]
ALLOWED = {
    "mine": {"desk", "officer", "secman", "dpo", "gm"},
    "new": {"desk", "officer", "secman", "dpo", "gm"},
    "queue": {"secman", "dpo", "gm"},
    "grants": {"desk", "officer", "secman", "dpo", "gm"},
    "policy": {"secman", "dpo", "gm"},
    "break_glass": {"secman"},
    "break_glass_reviews": {"dpo"},
}


@pytest.mark.parametrize("page", PAGES)
def test_each_page_opens_for_its_roles_and_is_refused_to_the_others(hotel: Hotel, people: People, page: str) -> None:
    for who in ("desk", "officer", "secman", "dpo", "gm", "it", "auditor"):
        response = client_for(getattr(people, who)).get(url(page, hotel))
        expected = 200 if who in ALLOWED[page] else 403
        assert response.status_code == expected, (page, who, response.status_code)
        if expected == 200:
            assert response["Cache-Control"].startswith("max-age=0") or "no-store" in response["Cache-Control"]


# --- the application form -----------------------------------------------------------------------------------------


def test_form_shows_cameras_grouped_by_area_guest_rows_and_the_time_zone(hotel: Hotel, people: People) -> None:
    bar = Area.objects.create(
        property=hotel.prop, floor=hotel.floor, name="Bar", kind=AreaKind.BAR, area_class=AreaClass.PUBLIC
    )
    Camera(property=hotel.prop, area=bar, code="CAM-BAR", name="Bar counter").save()
    response = client_for(people.officer).get(url("new", hotel))
    html = response.content.decode()
    assert response.status_code == 200
    assert "Bar · Public" in html and "Lobby · Public" in html and "CAM-BAR Bar counter" in html
    assert html.count('name="guest_4_surname"') == 1 and 'name="guest_5_surname"' not in html
    assert 'type="datetime-local"' in html and "Europe/Madrid" in html
    assert "Toilets" not in html  # a private area holds no camera: it is not offered


def test_saving_a_draft_then_submitting_it(hotel: Hotel, people: People) -> None:
    client = client_for(people.officer)
    response = client.post(url("new", hotel), footage_form(hotel, save="1"))
    access = AccessRequest.objects.get()
    assert response.status_code == 302 and response["Location"] == url("detail", hotel, pk=access.pk)
    assert access.status == Status.DRAFT and list(access.cameras.all()) == [hotel.camera]
    # The window was read as Madrid wall-clock time.
    start, _end = window()
    assert access.window_start == start
    response = client.post(url("submit", hotel, pk=access.pk))
    assert response.status_code == 302
    access.refresh_from_db()
    assert access.status == Status.SUBMITTED and access.due_at is not None
    assert audit_actions(access)[:3] == [Action.REQUEST_CREATED, Action.REQUEST_SUBMITTED, Action.FOOTAGE_PRESERVED]


def test_a_draft_may_lack_its_scope_but_submitting_names_the_missing_field(hotel: Hotel, people: People) -> None:
    client = client_for(people.officer)
    client.post(url("new", hotel), footage_form(hotel, cameras=None, window_start=None, window_end=None, save="1"))
    access = AccessRequest.objects.get()
    assert access.status == Status.DRAFT
    response = client.post(url("submit", hotel, pk=access.pk))
    assert response.status_code == 400
    assert "cameras" in response.context["form"].errors
    assert "Name at least one camera or area." in text(response)
    access.refresh_from_db()
    assert access.status == Status.DRAFT


def test_editing_a_draft_keeps_the_instrument_and_changes_the_rest(hotel: Hotel, people: People) -> None:
    from django.core.files.uploadedfile import SimpleUploadedFile

    client = client_for(people.officer)
    upload = SimpleUploadedFile("order.pdf", PDF, content_type="application/pdf")
    client.post(
        url("new", hotel), {**footage_form(hotel, instrument_reference="CASE-7", save="1"), "instrument": upload}
    )
    access = AccessRequest.objects.get()
    response = client.get(url("edit", hotel, pk=access.pk))
    assert response.status_code == 200 and "CASE-7" in response.content.decode()
    assert "A copy is on file" in text(response)
    response = client.post(url("edit", hotel, pk=access.pk), footage_form(hotel, purpose_text="Changed", save="1"))
    assert response.status_code == 302
    access.refresh_from_db()
    assert actions.request_data(access).purpose_text == "Changed" and access.instrument_sha256
    # Only the requester edits; a reviewer gets a 403, another filer does not even see it.
    assert client_for(people.dpo).get(url("edit", hotel, pk=access.pk)).status_code == 403
    assert client_for(people.desk).get(url("edit", hotel, pk=access.pk)).status_code == 404


BIG = b"%PDF-1.4\n" + b"0" * (10 * 1024 * 1024)


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"request_type": "telepathy"}, "request_type"),
        ({"purpose": "other", "purpose_text": ""}, "purpose_text"),
        ({"purpose_text": "bell\x07"}, "purpose_text"),
        ({"cameras": None}, "cameras"),
        ({"cameras": ["999999"]}, "cameras"),
        ({"window_start": "yesterday"}, "window_start"),
        ({"window_end": "2000-01-01T00:00"}, "window_end"),
        ({"window_start": "2000-01-01T00:00", "window_end": "2000-01-01T05:00"}, "window_end"),
        (
            {"requester_kind": "authority", "organisation": "Police", "identity_check": "official_credential"},
            "contact_name",
        ),
        (
            {"requester_kind": "authority", "contact_name": "Insp. Ruiz", "identity_check": "official_credential"},
            "organisation",
        ),
        ({"requester_kind": "guest", "contact_name": "Guest"}, "identity_check"),
        ({"contact_email": "not an address", "requester_kind": "other"}, "contact_email"),
        ({"purpose": "law_enforcement"}, "instrument"),
        ({"instrument": ("bad.exe", b"MZ\x90\x00 program")}, "instrument"),
        ({"instrument": ("empty.pdf", b"")}, "instrument"),
        ({"instrument": ("huge.pdf", BIG)}, "instrument"),
    ],
)
def test_bad_input_is_a_400_naming_the_field_and_saves_nothing(
    hotel: Hotel, people: People, changes: dict[str, Any], field: str
) -> None:
    from django.core.files.uploadedfile import SimpleUploadedFile

    data = footage_form(hotel, submit="1")
    for name, value in changes.items():
        if name == "instrument":
            data[name] = SimpleUploadedFile(value[0], value[1])
        elif value is None:
            data.pop(name, None)
        else:
            data[name] = value
    before = (AccessRequest.objects.count(), AuditEntry.objects.filter(action__startswith="request.").count())
    response = client_for(people.officer).post(url("new", hotel), data)
    assert response.status_code == 400
    assert field in response.context["form"].errors, response.context["form"].errors
    assert (AccessRequest.objects.count(), AuditEntry.objects.filter(action__startswith="request.").count()) == before


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        (
            {"guest_1_second_kind": "stay_date", "guest_1_second_value": "2001-01-01"},
            "Guest 2: the date of the stay lies outside the stay window.",
        ),
        (
            {f"guest_{n}_{part}": "" for n in (0, 1) for part in ("surname", "given_names", "second_value")},
            "Name at least one guest, with a second identifier.",
        ),
    ],
)
def test_guest_rows_refusals_land_on_the_guests(
    hotel: Hotel, people: People, changes: dict[str, str], message: str
) -> None:
    response = client_for(people.officer).post(url("new", hotel), guest_form(submit="1", **changes))
    assert response.status_code == 400
    assert "guests" in response.context["form"].errors
    assert message in text(response)
    assert not AccessRequest.objects.exists()


@pytest.mark.parametrize(
    ("changes", "field", "message"),
    [
        ({"guest_0_surname": ""}, "guest_0_surname", "A surname is required."),
        ({"guest_1_second_kind": ""}, "guest_1_second_kind", "Choose the second identifier."),
        ({"guest_1_second_value": ""}, "guest_1_second_value", "Give the second identifier."),
        ({"guest_0_second_value": "3 Feb 1980"}, "guest_0_second_value", "Guest 1: give the date as YYYY-MM-DD."),
        ({"guest_0_second_value": "2099-01-01"}, "guest_0_second_value", "the date of birth lies in the future"),
        ({"guest_0_second_kind": "email"}, "guest_0_second_kind", "Select a valid choice."),
        ({"guest_1_second_value": "x\x01"}, "guest_1_second_value", "Guest 2: contains control characters."),
    ],
)
def test_a_guest_row_without_its_second_identifier_is_refused_on_the_row(
    hotel: Hotel, people: People, changes: dict[str, str], field: str, message: str
) -> None:
    response = client_for(people.officer).post(url("new", hotel), guest_form(submit="1", **changes))
    assert response.status_code == 400 and field in response.context["form"].errors
    assert message in text(response)
    assert not AccessRequest.objects.exists()


def test_a_guest_lookup_needs_its_stay_window(hotel: Hotel, people: People) -> None:
    response = client_for(people.officer).post(url("new", hotel), guest_form(submit="1", stay_from="", stay_until=""))
    assert response.status_code == 400 and "stay_from" in response.context["form"].errors
    assert "only stays in it are shown" in text(response)
    assert not AccessRequest.objects.filter(status=Status.SUBMITTED).exists()


def test_the_form_asks_for_a_second_identifier_and_says_why(hotel: Hotel, people: People) -> None:
    page = text(client_for(people.officer).get(url("new", hotel)))
    assert "A name alone is not enough" in page and "Second identifier" in page
    for label in ("Date of birth", "ID document number", "Booking reference", "A date of the stay"):
        assert label in page, label


def test_scope_of_another_type_is_not_kept(hotel: Hotel, people: People) -> None:
    """The form shows every scope section without JavaScript; only the chosen type's scope is saved."""
    client = client_for(people.officer)
    start, end = window()
    data = guest_form(
        save="1", cameras=[hotel.camera.pk], window_start=local(start, hotel), window_end=local(end, hotel)
    )
    assert client.post(url("new", hotel), data).status_code == 302
    access = AccessRequest.objects.get()
    assert not access.cameras.exists() and access.window_start is None and access.stay_from is not None
    assert [g["surname"] for g in actions.request_data(access).guests] == ["Núñez", "Other"]
    footage = footage_form(hotel, save="1", stay_from="2026-01-01", stay_until="2026-01-02", guest_0_surname="X")
    assert client.post(url("new", hotel), footage).status_code == 302
    access = AccessRequest.objects.exclude(pk=access.pk).get()
    assert access.stay_from is None and actions.request_data(access).guests == []


# --- the full flow --------------------------------------------------------------------------------------------------


def seed_guests(hotel: Hotel) -> tuple[Any, Any]:
    today = timezone.now().date()
    found = vault.create_guest(
        hotel.prop,
        {
            "surname": "Núñez",
            "given_names": "Inés",
            "phone": "+34 600 100 200",
            "email": "ines@example.es",
            "nationality": "ESP",
            "address": "Calle Mayor 1, Madrid",
            "date_of_birth": "1980-02-03",
        },
        acting_user=None,
    )
    other = vault.create_guest(
        hotel.prop, {"surname": "Other", "given_names": "Guest", "phone": "+34 699 999 999"}, acting_user=None
    )
    for guest, reference in ((found, "BK-1"), (other, "BK-2")):
        vault.create_stay(
            hotel.prop,
            primary_guest=guest,
            room=hotel.room,
            check_in_planned=today - dt.timedelta(days=20),
            check_out_planned=today - dt.timedelta(days=18),
            status=StayStatus.CHECKED_OUT,
            booking_reference=reference,
            acting_user=None,
        )
    return found, other


def test_officer_files_manager_approves_and_the_grant_shows_exactly_the_approved_guest(
    hotel: Hotel, people: People
) -> None:
    seed_guests(hotel)
    officer, gm = client_for(people.officer), client_for(people.gm)
    response = officer.post(url("new", hotel), guest_form(submit="1"))
    access = AccessRequest.objects.get()
    assert response.status_code == 302 and access.status == Status.SUBMITTED

    # The manager finds it in the queue (no personal data there) and opens it.
    queue = gm.get(url("queue", hotel))
    assert access.number in text(queue) and "Núñez" not in text(queue) and "wallet" not in text(queue)
    page = gm.get(url("detail", hotel, pk=access.pk))
    assert page.status_code == 200 and "Núñez Inés" in text(page) and "stolen wallet" in text(page)
    assert gm.post(url("start_review", hotel, pk=access.pk)).status_code == 302

    # Approve only the first guest: a narrower scope.
    response = gm.post(
        url("approve", hotel, pk=access.pk),
        {"narrow": "1", "narrow-guest_items": ["0"], "narrow-reason": "Only the named suspect"},
    )
    assert response.status_code == 302, text(response)[:2000]
    access.refresh_from_db()
    assert access.status == Status.PARTLY_APPROVED
    grant = Grant.objects.get(request=access)
    assert grant.guest_items == [0] and grant.holder == people.officer

    # The officer's grants page lists it; using it shows the approved guest with the purpose's fields only.
    assert access.number in text(officer.get(url("grants", hotel)))
    grant_page = officer.get(url("grant", hotel, pk=grant.pk))
    assert grant_page.status_code == 200 and "Look up the guests" in text(grant_page)
    results = officer.post(url("use_grant", hotel, pk=grant.pk))
    shown = text(results)
    assert results.status_code == 200
    assert "Núñez" in shown and "Inés" in shown and "+34 600 100 200" in shown and "ESP" in shown
    for hidden in ("ines@example.es", "Calle Mayor", "Other", "+34 699 999 999"):
        assert hidden not in shown, hidden
    assert shown.count("1980-02-03") == 1  # the date of birth the request named, not a field of the record
    assert "BK-1" not in shown  # the stay is listed by room and dates, not by its booking reference
    assert "101" in shown
    grant.refresh_from_db()
    assert grant.views_used == 1

    # The timeline on the request page lists every step, from the audit log.
    page = officer.get(url("detail", hotel, pk=access.pk))
    timeline = text(page).split("Timeline", 1)[1]
    for label in (
        "Access request drafted",
        "Access request submitted",
        "Access request review started",
        "Access request partly approved (scope narrowed)",
        "Grant created",
        "Grant used",
        "Guest record read",
    ):
        assert label in timeline, label
    # Each page that shows the named guests opens the sealed scope through the read gate, and says so.
    assert Action.REQUEST_GUEST_SCOPE_READ in audit_actions(access)
    assert [a for a in audit_actions(access) if a != Action.REQUEST_GUEST_SCOPE_READ][:6] == [
        Action.REQUEST_CREATED,
        Action.REQUEST_SUBMITTED,
        Action.REQUEST_VIEWED,
        Action.REQUEST_REVIEW_STARTED,
        Action.REQUEST_VIEWED,
        Action.REQUEST_PARTLY_APPROVED,
    ]


def test_self_approval_through_the_page_is_refused_with_a_message(hotel: Hotel, people: People) -> None:
    access = footage_request(hotel, people.secman)
    client = client_for(people.secman)
    page = client.get(url("detail", hotel, pk=access.pk))
    assert "You filed this request: someone else must review it." in text(page)
    assert 'action="' + url("approve", hotel, pk=access.pk) not in page.content.decode()
    for name, data in (("approve", {}), ("deny", {"deny-reason": "mine"}), ("start_review", {})):
        response = client.post(url(name, hotel, pk=access.pk), data)
        assert response.status_code == 409, name
        assert "You filed this request: someone else must review it." in text(response)
    access.refresh_from_db()
    assert access.status == Status.SUBMITTED and not Grant.objects.exists()


def test_two_approvals_come_from_two_people(hotel: Hotel, people: People) -> None:
    corridor = Area.objects.create(
        property=hotel.prop, floor=hotel.floor, name="Corridor 1", kind=AreaKind.CORRIDOR, area_class=AreaClass.PUBLIC
    )
    camera = Camera(property=hotel.prop, area=corridor, code="CAM-C1", name="Corridor")
    camera.save()
    access = footage_request(hotel, people.officer, cameras=[camera])
    secman = client_for(people.secman)
    assert secman.post(url("approve", hotel, pk=access.pk)).status_code == 302
    access.refresh_from_db()
    assert access.status == Status.IN_REVIEW and not Grant.objects.exists()
    page = secman.get(url("detail", hotel, pk=access.pk))
    assert "another person must give the next approval" in text(page)
    again = secman.post(url("approve", hotel, pk=access.pk))
    assert again.status_code == 409 and "already approved" in text(again)
    assert client_for(people.dpo).post(url("approve", hotel, pk=access.pk)).status_code == 302
    access.refresh_from_db()
    assert access.status == Status.APPROVED and Grant.objects.filter(request=access).count() == 1


def test_a_reviewer_whose_role_the_policy_does_not_name_is_told_so(hotel: Hotel, people: People) -> None:
    access = actions.submit_request(
        actions.create_request(
            hotel.prop,
            RequestData(
                request_type=RequestType.GUEST_LOOKUP,
                purpose="security_incident",
                legal_basis="legitimate_interests",
                guests=[guest("Ruiz", "Ana", "booking_reference", "B")],
                **last_days(),
            ),
            acting_user=people.officer,
        ),
        acting_user=people.officer,
    )
    client = client_for(people.secman)  # security managers decide footage, not guest records
    assert "Your roles here do not include one that may decide this request." in text(
        client.get(url("detail", hotel, pk=access.pk))
    )
    response = client.post(url("approve", hotel, pk=access.pk))
    assert response.status_code == 409 and not Grant.objects.exists()


def test_deny_needs_a_reason_and_ask_and_answer_go_round(hotel: Hotel, people: People) -> None:
    access = footage_request(hotel, people.officer)
    secman, officer = client_for(people.secman), client_for(people.officer)
    response = secman.post(url("deny", hotel, pk=access.pk), {"deny-reason": "  "})
    assert response.status_code == 400 and "reason" in response.context["deny_form"].errors
    assert "A denial needs a reason." in text(response)
    access.refresh_from_db()
    assert access.status == Status.SUBMITTED

    response = secman.post(url("ask", hotel, pk=access.pk), {"ask-reason": "Which table at the bar?"})
    assert response.status_code == 302
    access.refresh_from_db()
    assert access.status == Status.NEEDS_INFO
    page = officer.get(url("detail", hotel, pk=access.pk))
    assert "Which table at the bar?" in text(page) and "The reviewers asked for information" in text(page)
    response = officer.post(url("answer", hotel, pk=access.pk), {"text": ""})
    assert response.status_code == 400 and "text" in response.context["answer_form"].errors
    assert officer.post(url("answer", hotel, pk=access.pk), {"text": "Table 4"}).status_code == 302
    access.refresh_from_db()
    assert access.status == Status.SUBMITTED
    assert secman.post(url("deny", hotel, pk=access.pk), {"deny-reason": "Not proportionate"}).status_code == 302
    access.refresh_from_db()
    assert access.status == Status.DENIED
    page = officer.get(url("detail", hotel, pk=access.pk))
    assert "Not proportionate" in text(page) and "Table 4" in text(page)
    assert "Print the decision (PDF)" in text(page)
    steps = audit_actions(access)
    for step in (Action.REQUEST_INFO_REQUESTED, Action.REQUEST_INFO_PROVIDED, Action.REQUEST_DENIED):
        assert step in steps


def test_requester_withdraws_and_fulfils(hotel: Hotel, people: People) -> None:
    officer = client_for(people.officer)
    first = footage_request(hotel, people.officer)
    assert officer.post(url("withdraw", hotel, pk=first.pk)).status_code == 302
    first.refresh_from_db()
    assert first.status == Status.WITHDRAWN
    refused = officer.post(url("withdraw", hotel, pk=first.pk))
    assert refused.status_code == 409 and "A decided request cannot be withdrawn." in text(refused)

    second = footage_request(hotel, people.officer)
    actions.approve_request(second, acting_user=people.secman)
    assert client_for(people.secman).post(url("fulfil", hotel, pk=second.pk)).status_code == 409
    assert officer.post(url("fulfil", hotel, pk=second.pk)).status_code == 302
    second.refresh_from_db()
    assert second.status == Status.FULFILLED
    assert not Grant.objects.get(request=second).is_active()


def test_narrowing_cameras_window_days_and_quota(hotel: Hotel, people: People) -> None:
    second = Camera(property=hotel.prop, area=hotel.lobby, code="CAM-2", name="Second")
    second.save()
    access = footage_request(hotel, people.officer, cameras=[hotel.camera, second])
    assert access.window_start is not None
    start = access.window_start + dt.timedelta(minutes=10)
    data = {
        "narrow": "1",
        "narrow-cameras": [str(second.pk)],
        "narrow-window_start": local(start, hotel),
        "narrow-window_end": local(access.window_end, hotel),
        "narrow-grant_days": "2",  # type: ignore[arg-type]
        "narrow-view_quota": "3",
    }
    client = client_for(people.secman)
    bad = client.post(url("approve", hotel, pk=access.pk), {**data, "narrow-grant_days": "90"})
    assert bad.status_code == 400 and "grant_days" in bad.context["narrow_form"].errors
    wider = client.post(
        url("approve", hotel, pk=access.pk),
        {**data, "narrow-window_start": local(access.window_start - dt.timedelta(hours=1), hotel)},
    )
    assert wider.status_code == 400 and "window_start" in wider.context["narrow_form"].errors
    assert not Grant.objects.exists()
    assert client.post(url("approve", hotel, pk=access.pk), data).status_code == 302
    grant = Grant.objects.get(request=access)
    assert list(grant.cameras.all()) == [second] and grant.window_start == start
    assert grant.view_quota == 3 and grant.valid_until - grant.valid_from == dt.timedelta(days=2)
    page = client_for(people.officer).get(url("grant", hotel, pk=grant.pk))
    assert "CAM-2" in text(page) and "CAM-1" not in text(page)
    # The holder plays the footage from the grant (a view grant: no export); a reviewer sees neither button.
    assert "Play the footage" in text(page) and "Export an evidence package" not in text(page)
    play = reverse("playback:timeline", kwargs={"code": hotel.prop.code, "grant_pk": grant.pk})
    assert play in page.content.decode()
    assert play not in client.get(url("grant", hotel, pk=grant.pk)).content.decode()


# --- who sees a request ---------------------------------------------------------------------------------------------


def test_another_propertys_request_is_a_404_and_so_is_another_filers(
    hotel: Hotel, other_hotel: Hotel, people: People
) -> None:
    stranger = make_user("stranger", other_hotel.prop, Role.SECURITY_OFFICER)
    theirs = footage_request(other_hotel, stranger)
    mine = footage_request(hotel, people.officer)
    dpo = client_for(people.dpo)
    for name in ("detail", "instrument", "form_pdf", "edit"):
        assert dpo.get(url(name, hotel, pk=theirs.pk)).status_code == 404, name
    assert dpo.post(url("approve", hotel, pk=theirs.pk)).status_code == 404
    theirs.refresh_from_db()
    assert theirs.status == Status.SUBMITTED
    # A colleague who files requests but does not review them does not see someone else's.
    assert client_for(people.desk).get(url("detail", hotel, pk=mine.pk)).status_code == 404
    assert client_for(people.it).get(url("detail", hotel, pk=mine.pk)).status_code == 403
    refused = AuditEntry.objects.filter(action=Action.ACCESS_DENIED, outcome=Outcome.DENIED)
    assert refused.filter(object_id=str(theirs.pk)).exists()


def test_reading_a_request_is_audited_and_lists_hold_no_personal_data(hotel: Hotel, people: People) -> None:
    access = footage_request(hotel, people.officer)
    officer = client_for(people.officer)
    mine = officer.get(url("mine", hotel))
    assert access.number in text(mine) and "Wallet" not in text(mine)
    listed = AuditEntry.objects.filter(action=Action.REQUEST_LIST_VIEWED, actor=people.officer).get()
    assert listed.details["list"] == "mine" and listed.details["count"] == 1
    assert client_for(people.desk).get(url("mine", hotel)).content.decode().count(access.number) == 0
    officer.get(url("detail", hotel, pk=access.pk))
    viewed = AuditEntry.objects.filter(action=Action.REQUEST_VIEWED, request_ref=access.number)
    assert viewed.count() == 1 and viewed.get().actor == people.officer
    assert "Wallet" not in str(list(AuditEntry.objects.values_list("details", flat=True)))


def test_queue_sorts_by_due_date_colours_it_and_filters(hotel: Hotel, people: People) -> None:
    now = timezone.now()
    late = footage_request(hotel, people.officer)
    soon = footage_request(hotel, people.officer)
    later = footage_request(hotel, people.officer)
    draft = footage_request(hotel, people.officer, submit=False)
    AccessRequest.objects.filter(pk=late.pk).update(due_at=now - dt.timedelta(hours=1))
    AccessRequest.objects.filter(pk=soon.pk).update(due_at=now + dt.timedelta(hours=5))
    AccessRequest.objects.filter(pk=later.pk).update(due_at=now + dt.timedelta(days=3))
    client = client_for(people.dpo)
    html = client.get(url("queue", hotel)).content.decode()
    positions = [html.index(a.number) for a in (late, soon, later)]
    assert positions == sorted(positions) and draft.number not in html
    rows = {a.number: re.search(a.number + r".*?</tr>", html, re.S).group(0) for a in (late, soon, later)}  # type: ignore[union-attr]
    assert "sla-overdue" in rows[late.number] and "sla-soon" in rows[soon.number]
    assert "sla-in-time" in rows[later.number]
    denied = client.get(url("queue", hotel), {"status": "draft"}).content.decode()
    assert draft.number in denied and late.number not in denied
    other_type = client.get(url("queue", hotel), {"status": "all", "request_type": "guest_lookup"})
    assert late.number not in other_type.content.decode()
    bad = client.get(url("queue", hotel), {"status": "nonsense"})
    assert bad.status_code == 400 and "status" in bad.context["form"].errors  # named, and the default list below
    assert late.number in bad.content.decode()
    partial = client.get(url("queue", hotel), HTTP_HX_REQUEST="true")
    assert partial.content.decode().startswith('<div id="queue">') and late.number in partial.content.decode()
    assert AuditEntry.objects.filter(action=Action.REQUEST_LIST_VIEWED, details__list="queue").count() == 5


def test_instrument_download_is_an_audited_attachment(hotel: Hotel, people: People) -> None:
    png = make_png()
    access = footage_request(
        hotel, people.officer, instrument=png, instrument_name="Orden judicial Núñez.png", instrument_reference="DIL-7"
    )
    response = client_for(people.dpo).get(url("instrument", hotel, pk=access.pk))
    assert response.status_code == 200 and response.content == png
    assert response["Content-Type"] == "image/png"
    assert response["Content-Disposition"] == f'attachment; filename="{access.number}-instrument.png"'
    assert "no-store" in response["Cache-Control"]
    assert AuditEntry.objects.filter(action=Action.REQUEST_INSTRUMENT_READ, actor=people.dpo).count() == 1
    plain = footage_request(hotel, people.officer)
    assert client_for(people.officer).get(url("instrument", hotel, pk=plain.pk)).status_code == 404


# --- grants -------------------------------------------------------------------------------------------------------


def approved_lookup(hotel: Hotel, people: People) -> Grant:
    data = RequestData(
        request_type=RequestType.GUEST_LOOKUP,
        purpose=Purpose.SERVICE_DISPUTE,
        legal_basis="contract",
        guests=[guest("Núñez", "Inés", "booking_reference", "BK-1")],
        **last_days(),
    )
    access = actions.submit_request(
        actions.create_request(hotel.prop, data, acting_user=people.desk), acting_user=people.desk
    )
    actions.approve_request(access, acting_user=people.dpo)
    return Grant.objects.get(request=access)


def test_revoking_a_grant_needs_a_reason_and_stops_the_next_use(hotel: Hotel, people: People) -> None:
    seed_guests(hotel)
    grant = approved_lookup(hotel, people)
    dpo, desk = client_for(people.dpo), client_for(people.desk)
    all_grants = dpo.get(url("grants", hotel))
    assert grant.request.number in text(all_grants) and "All grants of this property" in text(all_grants)
    assert "All grants of this property" not in text(desk.get(url("grants", hotel)))
    response = dpo.post(url("revoke_grant", hotel, pk=grant.pk), {"revoke-reason": ""})
    assert response.status_code == 400 and "Say why the grant is revoked." in text(response)
    grant.refresh_from_db()
    assert grant.revoked_at is None
    assert desk.post(url("revoke_grant", hotel, pk=grant.pk), {"revoke-reason": "x"}).status_code == 403
    assert dpo.post(url("revoke_grant", hotel, pk=grant.pk), {"revoke-reason": "Dispute settled"}).status_code == 302
    grant.refresh_from_db()
    assert grant.revoked_at is not None
    refused = desk.post(url("use_grant", hotel, pk=grant.pk))
    assert refused.status_code == 403 and "This grant has been revoked." in text(refused)
    assert "Núñez" not in text(refused)
    again = dpo.post(url("revoke_grant", hotel, pk=grant.pk), {"revoke-reason": "twice"})
    assert again.status_code == 409 and "already revoked" in text(again)
    denied = AuditEntry.objects.filter(action=Action.GRANT_USED, outcome=Outcome.DENIED, grant_ref=str(grant.pk))
    assert [e.details["reason"] for e in denied] == ["revoked"]
    assert "Dispute settled" in text(desk.get(url("detail", hotel, pk=grant.request.pk)))


def test_only_the_holder_uses_a_grant_and_the_quota_runs_out(hotel: Hotel, people: People) -> None:
    seed_guests(hotel)
    grant = approved_lookup(hotel, people)
    Grant.objects.filter(pk=grant.pk).update(view_quota=1)
    refused = client_for(people.dpo).post(url("use_grant", hotel, pk=grant.pk))
    assert refused.status_code == 403 and "only its holder can use it" in text(refused)
    desk = client_for(people.desk)
    first = desk.post(url("use_grant", hotel, pk=grant.pk))
    assert first.status_code == 200 and "Núñez" in text(first) and "ines@example.es" in text(first)
    assert "Calle Mayor 1" in text(first)  # a service dispute needs the address; no date of birth
    assert "1980-02-03" not in text(first) and "Other" not in text(first)
    second = desk.post(url("use_grant", hotel, pk=grant.pk))
    assert second.status_code == 403 and "Every use this grant allowed has been used." in text(second)
    assert client_for(people.officer).post(url("use_grant", hotel, pk=grant.pk)).status_code == 404


def test_a_stay_window_grant_shows_the_overlapping_stays_with_the_purpose_fields(hotel: Hotel, people: People) -> None:
    seed_guests(hotel)
    today = timezone.now().date()
    data = RequestData(
        request_type=RequestType.STAY_WINDOW,
        purpose=Purpose.LAW_ENFORCEMENT,
        legal_basis="legal_obligation",
        stay_from=today - dt.timedelta(days=19),
        stay_until=today - dt.timedelta(days=19),
        instrument=PDF,
        instrument_name="order.pdf",
        instrument_reference="ORD-1",
    )
    access = actions.submit_request(
        actions.create_request(hotel.prop, data, acting_user=people.gm), acting_user=people.gm
    )
    second_dpo = make_user("dpo2", hotel.prop, Role.PRIVACY_OFFICER, totp_device=True)
    actions.approve_request(access, acting_user=people.dpo)
    client_for(second_dpo).post(url("approve", hotel, pk=access.pk), {"approve-reason": "Order checked"})
    grant = Grant.objects.get(request=access)
    page = client_for(people.gm).post(url("use_grant", hotel, pk=grant.pk))
    shown = text(page)
    assert page.status_code == 200
    assert "Núñez" in shown and "Other" in shown and "1980-02-03" in shown and "Calle Mayor 1" in shown
    assert "ines@example.es" not in shown  # a law-enforcement order does not get the e-mail


def test_break_glass_opens_at_once_and_the_privacy_officer_reviews_it(hotel: Hotel, people: People) -> None:
    secman, dpo = client_for(people.secman), client_for(people.dpo)
    start, end = window(minutes=20, ago=30)
    data = {
        "emergency": "missing_person",
        "cameras": [hotel.camera.pk],
        "window_start": local(start, hotel),
        "window_end": local(end, hotel),
        "reason": "Child missing near the pool",
    }
    missing = secman.post(url("break_glass", hotel), {**data, "reason": ""})
    assert missing.status_code == 400 and "reason" in missing.context["form"].errors
    too_long = secman.post(
        url("break_glass", hotel), {**data, "window_start": local(start - dt.timedelta(hours=5), hotel)}
    )
    assert too_long.status_code == 400 and "window_end" in too_long.context["form"].errors
    assert not Grant.objects.exists()
    response = secman.post(url("break_glass", hotel), data)
    grant = Grant.objects.get()
    assert response.status_code == 302 and response["Location"] == url("grant", hotel, pk=grant.pk)
    assert grant.break_glass and grant.holder == people.secman
    follow = secman.get(response["Location"])
    assert "CAM-1" in text(follow) and "emergency" in text(follow)

    queue = dpo.get(url("break_glass_reviews", hotel))
    assert grant.request.number in text(queue) and "Missing person" in text(queue)
    bad = dpo.post(url("review_break_glass", hotel, pk=grant.pk), {f"{grant.pk}-outcome": "not_justified"})
    assert bad.status_code == 400 and "Say why the emergency grant was not justified." in text(bad)
    assert (
        secman.post(url("review_break_glass", hotel, pk=grant.pk), {f"{grant.pk}-outcome": "justified"}).status_code
        == 403
    )
    ok = dpo.post(
        url("review_break_glass", hotel, pk=grant.pk),
        {f"{grant.pk}-outcome": "justified", f"{grant.pk}-notes": "Child found"},
    )
    assert ok.status_code == 302
    assert BreakGlassReview.objects.get(grant=grant).outcome == "justified"
    after = dpo.get(url("break_glass_reviews", hotel))
    assert "No emergency grant is waiting for a review." in text(after) and "Justified" in text(after)
    again = dpo.post(url("review_break_glass", hotel, pk=grant.pk), {f"{grant.pk}-outcome": "justified"})
    assert again.status_code == 409


# --- approval policy ----------------------------------------------------------------------------------------------


def test_policy_page_shows_defaults_and_the_privacy_officer_changes_a_rule(hotel: Hotel, people: People) -> None:
    secman, dpo = client_for(people.secman), client_for(people.dpo)
    page = secman.get(url("policy", hotel))
    assert page.status_code == 200 and "Only the privacy officer changes these rules." in text(page)
    edit_url = url("policy_edit", hotel, request_type="footage_view", sensitivity="public")
    assert edit_url not in page.content.decode()
    assert secman.get(edit_url).status_code == 403
    assert edit_url in dpo.get(url("policy", hotel)).content.decode()
    assert dpo.get(edit_url).status_code == 200
    good = {
        "approvals_required": "2",
        "approver_roles": ["security_manager", "privacy_officer"],
        "instrument_required": "on",
        "max_window_minutes": "60",
        "grant_days": "3",
        "view_quota": "4",
        "due_days": "",
    }
    bad = dpo.post(edit_url, {**good, "max_window_minutes": "0", "approver_roles": []})
    assert bad.status_code == 400
    assert {"max_window_minutes", "approver_roles"} <= set(bad.context["form"].errors)
    assert not ApprovalPolicy.objects.exists()
    assert dpo.post(edit_url, good).status_code == 302
    rule = ApprovalPolicy.objects.get()
    assert (rule.approvals_required, rule.max_window_minutes, rule.view_quota, rule.due_days) == (2, 60, 4, None)
    entry = AuditEntry.objects.get(action=Action.POLICY_UPDATED)
    assert entry.details["request_type"] == "footage_view" and entry.details["approvals_required"] == 2
    assert "set here" in text(dpo.get(url("policy", hotel)))
    # A submitted request follows the new rule.
    with pytest.raises(actions.RequestError):
        footage_request(hotel, people.officer)  # the instrument is now required
    access = footage_request(hotel, people.officer, instrument=PDF, instrument_name="o.pdf", instrument_reference="O-1")
    assert access.approvals_required == 2 and access.instrument_required
    # Floors: a stay-window rule cannot go below two approvers.
    floor_url = url("policy_edit", hotel, request_type="stay_window", sensitivity="any")
    refused = dpo.post(floor_url, {**good, "approvals_required": "1"})
    assert refused.status_code == 400 and "at least two approvers" in text(refused)
    assert dpo.get(url("policy_edit", hotel, request_type="stay_window", sensitivity="public")).status_code == 404
    assert dpo.post(edit_url, {"reset": "1"}).status_code == 302
    assert not ApprovalPolicy.objects.exists()
    assert AuditEntry.objects.filter(action=Action.POLICY_UPDATED).count() == 2


# --- printable PDFs and Chinese -----------------------------------------------------------------------------------


def to_chinese(client: Client) -> Client:
    assert client.post("/i18n/setlang/", {"language": "zh-hans", "next": "/"}).status_code == 302
    return client


def render_page_one(pdf: bytes, name: str) -> tuple[str, Path]:
    """The text of every page and a PNG of page 1 (test-output/requests/NAME.png, for a person to look at)."""
    pdfium = pytest.importorskip("pypdfium2")
    document = pdfium.PdfDocument(pdf)
    page = document[0]
    page_text = "\n".join(document[n].get_textpage().get_text_range() for n in range(len(document)))
    OUTPUT.mkdir(parents=True, exist_ok=True)
    path = OUTPUT / f"{name}.png"
    page.render(scale=1.4).to_pil().save(path)
    return page_text, path


def test_application_and_decision_print_in_chinese_with_chinese_names(hotel: Hotel, people: People) -> None:
    data = RequestData(
        request_type=RequestType.GUEST_LOOKUP,
        purpose=Purpose.LAW_ENFORCEMENT,
        legal_basis="legal_obligation",
        purpose_text="公安机关调查一起盗窃案，需核实嫌疑人入住记录。",
        requester_kind="authority",
        organisation="青岛市公安局市南分局",
        contact={"name": "王警官", "phone": "+86 532 0000 0000"},
        identity_check="official_credential",
        instrument=PDF,
        instrument_name="调取证据通知书.pdf",
        instrument_reference="青公（市南）调证字〔2026〕118号",
        guests=[
            guest("张", "伟", "id_number", "370202198001011234"),
            guest("李", "娜", "booking_reference", "HV-2026-0042"),
        ],
        **last_days(),
    )
    access = actions.submit_request(
        actions.create_request(hotel.prop, data, acting_user=people.officer), acting_user=people.officer
    )
    officer = to_chinese(client_for(people.officer))
    response = officer.get(url("form_pdf", hotel, pk=access.pk))
    assert response.status_code == 200 and response["Content-Type"] == "application/pdf"
    assert response["Content-Disposition"].startswith("inline;") and "no-store" in response["Cache-Control"]
    page_text, path = render_page_one(response.content, "application-zh")
    for expected in (
        "访问申请",
        access.number,
        "青岛市公安局市南分局",
        "王警官",
        "张伟",
        "HV-2026-0042",
        "姓名",
        "调证字",
    ):
        assert expected in page_text, expected
    assert path.stat().st_size > 20_000
    assert AuditEntry.objects.filter(action=Action.REQUEST_PDF_RENDERED, details__document="form").count() == 1

    assert officer.get(url("decision_pdf", hotel, pk=access.pk)).status_code == 302  # not decided yet
    actions.approve_request(
        access, acting_user=people.gm, reason="已核对调取证据通知书", narrowing=actions.Narrowing(guest_items=[0])
    )
    decision = officer.get(url("decision_pdf", hotel, pk=access.pk))
    assert decision.status_code == 200
    page_text, path = render_page_one(decision.content, "decision-zh")
    for expected in ("决定", "已核对调取证据通知书", "张伟", "Gm"):
        assert expected in page_text, expected
    assert "HV-2026-0042" not in page_text  # the narrower grant left the booking out


def test_request_pages_in_chinese(hotel: Hotel, people: People) -> None:
    access = footage_request(hotel, people.officer)
    secman = to_chinese(client_for(people.secman))
    form = text(secman.get(url("new", hotel)))
    for chinese in ("新建访问申请", "申请类型", "目的", "法律依据", "保存为草稿", "提交审核"):
        assert chinese in form, chinese
    for english in ("Save as draft", "Submit for review", "Legal basis"):
        assert english not in form, english
    page = text(secman.get(url("detail", hotel, pk=access.pk)))
    for chinese in ("时间线", "批准", "拒绝", "要求补充信息"):
        assert chinese in page, chinese
    assert "Timeline" not in page and "Approve as asked" not in page
    assert "审核队列" in text(secman.get(url("queue", hotel)))
