"""Access requests, approvals and grants: the status machine, four eyes, policy, grants and their refusals,
break-glass, footage preservation (DESIGN invariants 1, 5 and 6)."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from django.core import mail
from django.utils import timezone

from custody.accounts.models import User
from custody.accounts.roles import Role
from custody.audit.events import Action, Outcome
from custody.audit.models import AuditEntry
from custody.footage.models import Camera
from custody.guests import vault
from custody.guests.models import StayStatus
from custody.properties.models import Area, AreaClass, AreaKind
from custody.requests import actions, grants, policy
from custody.requests.actions import Narrowing, RequestData, RequestError, TransitionRefused
from custody.requests.models import (
    AccessRequest,
    ApprovalPolicy,
    AreaSensitivity,
    Grant,
    Preservation,
    Purpose,
    RequesterKind,
    RequestType,
    Status,
)
from tests.conftest import Hotel, make_user

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("fresh_keys")]

PDF = b"%PDF-1.4\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n"


@pytest.fixture(autouse=True)
def fast_hashing(settings: Any) -> None:
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


class People:
    def __init__(self, hotel: Hotel) -> None:
        self.officer = make_user("officer", hotel.prop, Role.SECURITY_OFFICER)
        self.officer.email = "officer@example.com"
        self.officer.save()
        self.manager = make_user("secman", hotel.prop, Role.SECURITY_MANAGER)
        self.manager.email = "secman@example.com"
        self.manager.save()
        self.dpo = make_user("dpo", hotel.prop, Role.PRIVACY_OFFICER)
        self.dpo.email = "dpo@example.com"
        self.dpo.save()
        self.gm = make_user("gm", hotel.prop, Role.PROPERTY_MANAGER)
        self.desk = make_user("desk", hotel.prop, Role.FRONT_DESK)


@pytest.fixture
def people(hotel: Hotel) -> People:
    return People(hotel)


def window(minutes: int = 30, ago: int = 120) -> tuple[dt.datetime, dt.datetime]:
    start = timezone.now().replace(microsecond=0) - dt.timedelta(minutes=ago)
    return start, start + dt.timedelta(minutes=minutes)


def footage_data(hotel: Hotel, **changes: Any) -> RequestData:
    start, end = window()
    data = RequestData(
        request_type=RequestType.FOOTAGE_VIEW,
        purpose=Purpose.SECURITY_INCIDENT,
        legal_basis="legitimate_interests",
        purpose_text="Wallet reported stolen in the lobby",
        cameras=[hotel.camera],
        window_start=start,
        window_end=end,
    )
    for name, value in changes.items():
        setattr(data, name, value)
    return data


def guest(
    surname: str, given_names: str = "", second_kind: str = "date_of_birth", value: str = "1980-02-03"
) -> dict[str, str]:
    """A guest of a request's scope, in the stored shape: a name and a second identifier."""
    return {"kind": "name", "surname": surname, "given_names": given_names, "second_kind": second_kind,
            "second_value": value}  # fmt: skip


def lookup_changes(*guests: dict[str, str]) -> dict[str, Any]:
    """footage_data changes that make it a guest lookup of ``guests`` in the last 60 days' stays."""
    today = timezone.now().date()
    return {"request_type": RequestType.GUEST_LOOKUP, "cameras": [], "window_start": None, "window_end": None,
            "guests": list(guests), "stay_from": today - dt.timedelta(days=60), "stay_until": today}  # fmt: skip


def submitted(hotel: Hotel, user: User, **changes: Any) -> AccessRequest:
    request = actions.create_request(hotel.prop, footage_data(hotel, **changes), acting_user=user)
    return actions.submit_request(request, acting_user=user)


def actions_of(request: AccessRequest) -> list[str]:
    return list(AuditEntry.objects.filter(request_ref=request.number).order_by("seq").values_list("action", flat=True))


# --- the status machine -------------------------------------------------------------------------------------------


def test_request_walks_from_draft_to_fulfilled_with_every_step_audited(hotel: Hotel, people: People) -> None:
    draft = actions.create_request(hotel.prop, footage_data(hotel), acting_user=people.officer)
    assert draft.status == Status.DRAFT and draft.number == f"R-{timezone.now().year}-00001"
    request = actions.submit_request(draft, acting_user=people.officer)
    assert request.status == Status.SUBMITTED and request.due_at is not None
    assert request.approvals_required == 1
    request = actions.start_review(request, acting_user=people.manager)
    assert request.status == Status.IN_REVIEW
    request = actions.ask_for_information(request, "Which table?", acting_user=people.manager)
    assert request.status == Status.NEEDS_INFO
    request = actions.provide_information(request, "Table 4, by the window", acting_user=people.officer)
    assert request.status == Status.SUBMITTED
    request = actions.approve_request(request, acting_user=people.manager, reason="Reasonable")
    assert request.status == Status.APPROVED
    grant = Grant.objects.get(request=request)
    assert grant.holder == people.officer and list(grant.cameras.all()) == [hotel.camera]
    assert grant.valid_until - grant.valid_from == dt.timedelta(days=7)
    request = actions.fulfil_request(request, acting_user=people.officer)
    assert request.status == Status.FULFILLED
    assert actions_of(request) == [
        Action.REQUEST_CREATED,
        Action.REQUEST_SUBMITTED,
        Action.FOOTAGE_PRESERVED,
        Action.REQUEST_REVIEW_STARTED,
        Action.REQUEST_INFO_REQUESTED,
        Action.REQUEST_INFO_PROVIDED,
        Action.REQUEST_APPROVED,
        Action.GRANT_CREATED,
        Action.REQUEST_FULFILLED,
        Action.FOOTAGE_PRESERVATION_RELEASED,
    ]
    # Entries hold ids and codes, never the purpose text or any free text.
    assert "Wallet" not in str(list(AuditEntry.objects.values_list("details", flat=True)))


def test_numbers_are_sequential_per_property_and_year(hotel: Hotel, other_hotel: Hotel, people: People) -> None:
    year = timezone.now().year
    first = actions.create_request(hotel.prop, footage_data(hotel), acting_user=people.officer)
    second = actions.create_request(hotel.prop, footage_data(hotel), acting_user=people.officer)
    elsewhere_user = make_user("far", other_hotel.prop, Role.SECURITY_OFFICER)
    elsewhere = actions.create_request(other_hotel.prop, footage_data(other_hotel), acting_user=elsewhere_user)
    assert [first.number, second.number, elsewhere.number] == [f"R-{year}-00001", f"R-{year}-00002", f"R-{year}-00001"]


@pytest.mark.parametrize(
    ("do", "from_status"),
    [
        (lambda r, p: actions.submit_request(r, acting_user=p.officer), Status.SUBMITTED),
        (lambda r, p: actions.provide_information(r, "x", acting_user=p.officer), Status.SUBMITTED),
        (lambda r, p: actions.fulfil_request(r, acting_user=p.officer), Status.SUBMITTED),
        (lambda r, p: actions.approve_request(r, acting_user=p.manager), Status.DENIED),
        (lambda r, p: actions.deny_request(r, "no", acting_user=p.manager), Status.APPROVED),
        (lambda r, p: actions.withdraw_request(r, acting_user=p.officer), Status.APPROVED),
        (lambda r, p: actions.start_review(r, acting_user=p.manager), Status.IN_REVIEW),
    ],
)
def test_transitions_out_of_the_wrong_state_are_refused(
    hotel: Hotel, people: People, do: Any, from_status: str
) -> None:
    request = submitted(hotel, people.officer)
    AccessRequest.objects.filter(pk=request.pk).update(status=from_status)
    request.refresh_from_db()
    before = AuditEntry.objects.count()
    with pytest.raises(TransitionRefused) as refused:
        do(request, people)
    request.refresh_from_db()
    assert request.status == from_status
    # Nothing changed, and the refusal is on record: one denied entry with its reason code.
    assert AuditEntry.objects.count() == before + 1
    entry = AuditEntry.objects.order_by("-seq").first()
    assert entry is not None and entry.outcome == Outcome.DENIED and entry.request_ref == request.number
    assert entry.details["reason"] == refused.value.code != "refused"


def test_withdraw_releases_the_preserved_footage(hotel: Hotel, people: People) -> None:
    request = submitted(hotel, people.officer)
    hold = Preservation.objects.get(request=request)
    assert hold.released_at is None and list(hold.cameras.all()) == [hotel.camera]
    assert (hold.window_start, hold.window_end) == (request.window_start, request.window_end)
    actions.withdraw_request(request, acting_user=people.officer)
    hold.refresh_from_db()
    assert hold.released_at is not None
    with pytest.raises(TransitionRefused):
        actions.withdraw_request(request, acting_user=people.officer)


def test_only_the_requester_withdraws_submits_or_answers(hotel: Hotel, people: People) -> None:
    draft = actions.create_request(hotel.prop, footage_data(hotel), acting_user=people.officer)
    with pytest.raises(TransitionRefused):
        actions.submit_request(draft, acting_user=people.manager)
    request = actions.submit_request(draft, acting_user=people.officer)
    with pytest.raises(TransitionRefused):
        actions.withdraw_request(request, acting_user=people.manager)


# --- four eyes ----------------------------------------------------------------------------------------------------


def test_self_approval_is_refused(hotel: Hotel, people: People) -> None:
    request = submitted(hotel, people.manager)  # a security manager files: another reviewer must decide
    for act in (
        lambda: actions.approve_request(request, acting_user=people.manager),
        lambda: actions.deny_request(request, "mine", acting_user=people.manager),
        lambda: actions.start_review(request, acting_user=people.manager),
    ):
        with pytest.raises(TransitionRefused, match="someone else"):
            act()
    request.refresh_from_db()
    assert request.status == Status.SUBMITTED and not Grant.objects.exists()
    actions.approve_request(request, acting_user=people.dpo)
    request.refresh_from_db()
    assert request.status == Status.APPROVED


def test_two_approvers_are_two_different_people(hotel: Hotel, people: People) -> None:
    corridor = Area.objects.create(
        property=hotel.prop, floor=hotel.floor, name="Corridor 1", kind=AreaKind.CORRIDOR, area_class=AreaClass.PUBLIC
    )
    camera = Camera.objects.create(property=hotel.prop, area=corridor, code="CAM-C1", name="Corridor camera")
    request = submitted(hotel, people.officer, cameras=[camera])
    assert request.approvals_required == 2  # next to guest rooms

    request = actions.approve_request(request, acting_user=people.manager)
    assert request.status == Status.IN_REVIEW and not Grant.objects.exists()
    with pytest.raises(TransitionRefused, match="already approved"):
        actions.approve_request(request, acting_user=people.manager)
    assert not Grant.objects.exists()
    request = actions.approve_request(request, acting_user=people.dpo)
    assert request.status == Status.APPROVED
    assert Grant.objects.filter(request=request).count() == 1
    entry = AuditEntry.objects.get(action=Action.REQUEST_APPROVED, request_ref=request.number)
    assert sorted(entry.details["approvers"]) == sorted([str(people.manager.pk), str(people.dpo.pk)])


def test_a_role_the_policy_does_not_name_cannot_decide(hotel: Hotel, people: People) -> None:
    request = actions.create_request(
        hotel.prop,
        footage_data(hotel, **lookup_changes(guest("Ruiz", "Ana", "booking_reference", "BK-1"))),
        acting_user=people.officer,
    )
    request = actions.submit_request(request, acting_user=people.officer)
    assert request.approver_roles == [Role.PRIVACY_OFFICER, Role.PROPERTY_MANAGER]
    with pytest.raises(TransitionRefused, match="roles"):
        actions.approve_request(request, acting_user=people.manager)  # security manager: footage only
    with pytest.raises(TransitionRefused, match="roles"):
        actions.approve_request(request, acting_user=people.desk)


def test_stay_window_always_needs_two_and_an_instrument(hotel: Hotel, people: People) -> None:
    ApprovalPolicy.objects.create(
        property=hotel.prop,
        request_type=RequestType.STAY_WINDOW,
        approvals_required=1,
        approver_roles=[Role.PRIVACY_OFFICER],
    )
    today = timezone.now().date()
    data = footage_data(
        hotel,
        request_type=RequestType.STAY_WINDOW,
        purpose=Purpose.LAW_ENFORCEMENT,
        legal_basis="legal_obligation",
        cameras=[],
        window_start=None,
        window_end=None,
        stay_from=today - dt.timedelta(days=10),
        stay_until=today - dt.timedelta(days=8),
        requester_kind=RequesterKind.AUTHORITY,
        organisation="Policía Nacional",
        contact={"name": "Inspector Ruiz", "email": "ruiz@example.es"},
        identity_check="official_credential",
    )
    request = actions.create_request(hotel.prop, data, acting_user=people.dpo)
    with pytest.raises(RequestError) as missing:
        actions.submit_request(request, acting_user=people.dpo)
    assert missing.value.field == "instrument"
    data.instrument, data.instrument_name, data.instrument_reference = PDF, "orden.pdf", "DIL-2026/118"
    request = actions.update_draft(request, data, acting_user=people.dpo)
    request = actions.submit_request(request, acting_user=people.dpo)
    assert request.approvals_required == 2  # a policy row cannot lower the floor


def test_denial_needs_a_reason(hotel: Hotel, people: People) -> None:
    request = submitted(hotel, people.officer)
    with pytest.raises(RequestError) as refused:
        actions.deny_request(request, "   ", acting_user=people.manager)
    assert refused.value.field == "reason"
    request = actions.deny_request(request, "Not proportionate", acting_user=people.manager)
    assert request.status == Status.DENIED and not Grant.objects.exists()
    assert Preservation.objects.get(request=request).released_at is not None


# --- input --------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"purpose": Purpose.OTHER, "purpose_text": ""}, "purpose_text"),
        ({"cameras": [], "areas": []}, "cameras"),
        ({"window_start": None}, "window_start"),
        ({"window_end": timezone.now() - dt.timedelta(days=400)}, "window_end"),
        ({"window_start": timezone.now() - dt.timedelta(hours=5), "window_end": timezone.now()}, "window_end"),
        (
            {
                "window_start": timezone.now() + dt.timedelta(hours=2),
                "window_end": timezone.now() + dt.timedelta(hours=3),
            },
            "window_start",
        ),
        ({"purpose_text": "x" * 4001}, "purpose_text"),
        ({"purpose_text": "bell\x07"}, "purpose_text"),
        ({"requester_kind": RequesterKind.AUTHORITY, "contact": {}}, "contact_name"),
        (
            {"requester_kind": RequesterKind.AUTHORITY, "contact": {"name": "A"}, "identity_check": "document_seen"},
            "organisation",
        ),
        ({"instrument": b"MZ\x90\x00 not a pdf", "instrument_name": "x.exe"}, "instrument"),
        ({"instrument": b"", "instrument_name": "empty.pdf"}, "instrument"),
    ],
)
def test_bad_requests_name_the_field_and_write_nothing(
    hotel: Hotel, people: People, changes: dict[str, Any], field: str
) -> None:
    before = (AccessRequest.objects.count(), AuditEntry.objects.count())
    with pytest.raises(RequestError) as refused:
        request = actions.create_request(hotel.prop, footage_data(hotel, **changes), acting_user=people.officer)
        actions.submit_request(request, acting_user=people.officer)
    assert refused.value.field == field
    assert AccessRequest.objects.filter(status=Status.SUBMITTED).count() == 0
    if AccessRequest.objects.count() == before[0]:
        assert AuditEntry.objects.count() == before[1]


def test_cameras_of_another_property_or_private_areas_are_refused(
    hotel: Hotel, other_hotel: Hotel, people: People
) -> None:
    with pytest.raises(RequestError) as refused:
        actions.create_request(
            hotel.prop, footage_data(hotel, cameras=[other_hotel.camera]), acting_user=people.officer
        )
    assert refused.value.field == "cameras"
    with pytest.raises(RequestError) as refused:
        actions.create_request(hotel.prop, footage_data(hotel, areas=[hotel.bathroom]), acting_user=people.officer)
    assert refused.value.field == "areas"


def test_free_text_guest_identifiers_and_instrument_are_encrypted_at_rest(hotel: Hotel, people: People) -> None:
    data = footage_data(
        hotel,
        **lookup_changes(guest("Müller", "Zoë", "id_number", "X99")),
        purpose_text="Complaint by Zoë Müller",
        instrument=PDF + b"CANARY-INSTRUMENT",
        instrument_name="warrant.pdf",
        instrument_reference="CASE-CANARY-7",
        requester_kind=RequesterKind.OTHER,
        organisation="Abogados Canary-Org",
        contact={"name": "Letrada Canary-Contact"},
    )
    request = actions.create_request(hotel.prop, data, acting_user=people.officer)
    row = AccessRequest.objects.filter(pk=request.pk).values().get()
    stored = b"".join(bytes(v) if isinstance(v, bytes | memoryview) else str(v).encode() for v in row.values())
    for canary in (b"M\xc3\xbcller", "Zoë".encode(), b"X99", b"CANARY-INSTRUMENT", b"CASE-CANARY-7", b"warrant.pdf",
                   b"Canary-Org", b"Canary-Contact"):  # fmt: skip
        assert canary not in stored
    opened = actions.request_data(request)
    assert opened.guests[0] == guest("Müller", "Zoë", "id_number", "X99")
    assert (opened.organisation, opened.contact) == ("Abogados Canary-Org", {"name": "Letrada Canary-Contact"})


# --- policy and due dates -----------------------------------------------------------------------------------------


def test_policy_rows_override_defaults_by_type_and_sensitivity(hotel: Hotel) -> None:
    assert policy.requirement(hotel.prop, RequestType.FOOTAGE_VIEW, [hotel.lobby]).approvals_required == 1
    ApprovalPolicy.objects.create(
        property=hotel.prop,
        request_type=RequestType.FOOTAGE_VIEW,
        area_sensitivity=AreaSensitivity.PUBLIC,
        approvals_required=2,
        approver_roles=[Role.SECURITY_MANAGER, Role.PRIVACY_OFFICER],
        max_window_minutes=60,
        instrument_required=True,
    )
    rule = policy.requirement(hotel.prop, RequestType.FOOTAGE_VIEW, [hotel.lobby])
    assert (rule.approvals_required, rule.max_window_minutes, rule.instrument_required) == (2, 60, True)
    vault_room = Area.objects.create(
        property=hotel.prop, floor=hotel.floor, name="Cash", kind=AreaKind.CASH_OFFICE, area_class=AreaClass.SECURITY
    )
    assert policy.requirement(hotel.prop, RequestType.FOOTAGE_VIEW, [vault_room]).approvals_required == 1
    assert policy.requirement(hotel.prop, RequestType.GUEST_LOOKUP, [], Purpose.LAW_ENFORCEMENT).instrument_required


def test_data_subject_requests_are_due_in_a_calendar_month() -> None:
    rule = policy.DEFAULTS[RequestType.SUBJECT_ACCESS]
    jan31 = dt.datetime(2027, 1, 31, 9, 0, tzinfo=dt.UTC)
    assert policy.due_at(jan31, rule, "normal") == dt.datetime(2027, 2, 28, 9, 0, tzinfo=dt.UTC)
    dec15 = dt.datetime(2026, 12, 15, 9, 0, tzinfo=dt.UTC)
    assert policy.due_at(dec15, rule, "normal") == dt.datetime(2027, 1, 15, 9, 0, tzinfo=dt.UTC)
    footage = policy.DEFAULTS[RequestType.FOOTAGE_VIEW]
    assert policy.due_at(dec15, footage, "urgent") == dec15 + dt.timedelta(days=1)
    assert policy.due_at(dec15, footage, "emergency") == dec15 + dt.timedelta(hours=4)


# --- grants -------------------------------------------------------------------------------------------------------


def approved(hotel: Hotel, people: People, **changes: Any) -> Grant:
    request = submitted(hotel, people.officer, **changes)
    actions.approve_request(request, acting_user=people.manager)
    return Grant.objects.get(request=request)


def denied_entries(grant: Grant) -> list[str]:
    rows = AuditEntry.objects.filter(action=Action.GRANT_USED, outcome=Outcome.DENIED, grant_ref=str(grant.pk))
    return [e.details["reason"] for e in rows.order_by("seq")]


def test_a_grant_allows_exactly_its_scope(hotel: Hotel, people: People) -> None:
    grant = approved(hotel, people)
    other_camera = Camera.objects.create(property=hotel.prop, area=hotel.lobby, code="CAM-2", name="Second")
    start, end = grant.window_start, grant.window_end
    assert start is not None and end is not None
    use = grants.use_grant(
        grant.pk, actor=people.officer, prop=hotel.prop, kind="footage_view", camera=hotel.camera, start=start, end=end
    )
    assert use.views_used == 1
    second = dt.timedelta(seconds=1)
    attempts = [
        ({"camera": other_camera, "start": start, "end": end}, "camera_out_of_scope"),
        ({"camera": hotel.camera, "start": start - second, "end": end}, "window_out_of_scope"),
        ({"camera": hotel.camera, "start": start, "end": end + second}, "window_out_of_scope"),
    ]
    for kwargs, code in attempts:
        with pytest.raises(grants.GrantRefused) as refused:
            grants.use_grant(grant.pk, actor=people.officer, prop=hotel.prop, kind="footage_view", **kwargs)
        assert refused.value.code == code
    with pytest.raises(grants.GrantRefused) as refused:
        grants.use_grant(grant.pk, actor=people.officer, prop=hotel.prop, kind="footage_export", camera=hotel.camera,
                         start=start, end=end)  # fmt: skip
    assert refused.value.code == "wrong_kind"
    with pytest.raises(grants.GrantRefused) as refused:
        grants.use_grant(grant.pk, actor=people.manager, prop=hotel.prop, kind="footage_view", camera=hotel.camera,
                         start=start, end=end)  # fmt: skip
    assert refused.value.code == "not_the_holder"
    assert denied_entries(grant) == [
        "camera_out_of_scope", "window_out_of_scope", "window_out_of_scope", "wrong_kind", "not_the_holder",
    ]  # fmt: skip


def test_expired_revoked_used_up_and_other_property_grants_are_refused(
    hotel: Hotel, other_hotel: Hotel, people: People
) -> None:
    grant = approved(hotel, people)
    kwargs = {"kind": "footage_view", "camera": hotel.camera, "start": grant.window_start, "end": grant.window_end}

    def attempt(prop: Any = hotel.prop) -> str:
        with pytest.raises(grants.GrantRefused) as refused:
            grants.use_grant(grant.pk, actor=people.officer, prop=prop, **kwargs)
        return refused.value.code

    assert attempt(other_hotel.prop) == "no_such_grant"
    Grant.objects.filter(pk=grant.pk).update(views_used=20)
    assert attempt() == "quota_used"
    Grant.objects.filter(pk=grant.pk).update(views_used=0, valid_until=timezone.now() - dt.timedelta(seconds=1),
                                             valid_from=timezone.now() - dt.timedelta(days=7))  # fmt: skip
    assert attempt() == "expired"
    Grant.objects.filter(pk=grant.pk).update(valid_until=timezone.now() + dt.timedelta(days=1))
    grants.use_grant(grant.pk, actor=people.officer, prop=hotel.prop, **kwargs)  # valid again
    actions.revoke_grant(grant, "Case closed by police", acting_user=people.dpo)
    assert attempt() == "revoked"  # effective on the next use
    refusals = AuditEntry.objects.filter(action=Action.GRANT_USED, outcome=Outcome.DENIED)
    assert [e.details["reason"] for e in refusals.order_by("seq")] == [
        "no_such_grant", "quota_used", "expired", "revoked",
    ]  # fmt: skip


def test_narrowed_approval_grants_the_intersection(hotel: Hotel, people: People) -> None:
    second = Camera.objects.create(property=hotel.prop, area=hotel.lobby, code="CAM-2", name="Second")
    request = submitted(hotel, people.officer, cameras=[hotel.camera, second])
    assert request.window_start is not None and request.window_end is not None
    narrower = Narrowing(
        cameras=[second.pk],
        window_start=request.window_start + dt.timedelta(minutes=10),
        window_end=request.window_end - dt.timedelta(minutes=10),
        grant_days=2,
    )
    request = actions.approve_request(request, acting_user=people.manager, narrowing=narrower)
    assert request.status == Status.PARTLY_APPROVED
    grant = Grant.objects.get(request=request)
    assert list(grant.cameras.all()) == [second]
    assert grant.window_start == narrower.window_start and grant.window_end == narrower.window_end
    assert grant.valid_until - grant.valid_from == dt.timedelta(days=2)


def test_a_narrowing_cannot_widen(hotel: Hotel, other_hotel: Hotel, people: People) -> None:
    request = submitted(hotel, people.officer)
    assert request.window_start is not None and request.window_end is not None
    for narrowing, field in [
        (Narrowing(cameras=[other_hotel.camera.pk]), "cameras"),
        (Narrowing(window_start=request.window_start - dt.timedelta(minutes=1)), "window_start"),
        (Narrowing(grant_days=90), "grant_days"),
    ]:
        with pytest.raises(RequestError) as refused:
            actions.approve_request(request, acting_user=people.manager, narrowing=narrowing)
        assert refused.value.field == field
    assert not Grant.objects.exists()


def test_granted_guest_lookup_shows_only_the_approved_guests_and_purpose_fields(hotel: Hotel, people: People) -> None:
    today = timezone.now().date()
    found = vault.create_guest(
        hotel.prop,
        {"surname": "Núñez", "given_names": "Inés", "phone": "+34 600 1", "email": "ines@example.es",
         "date_of_birth": "1980-02-03"},
        acting_user=None,
    )  # fmt: skip
    other = vault.create_guest(hotel.prop, {"surname": "Other", "given_names": "Guest"}, acting_user=None)
    for person in (found, other):
        vault.create_stay(hotel.prop, primary_guest=person, check_in_planned=today - dt.timedelta(days=20),
                          check_out_planned=today - dt.timedelta(days=18), status=StayStatus.CHECKED_OUT,
                          booking_reference=f"BK-{person.pk}"[:20], acting_user=None)  # fmt: skip
    data = footage_data(
        hotel,
        **lookup_changes(
            guest("NUNEZ", "ines", "date_of_birth", "1980-02-03"),
            guest("Nobody", "Here", "date_of_birth", "1970-01-01"),
            guest("Other", "Guest", "stay_date", (today - dt.timedelta(days=19)).isoformat()),
        ),
        purpose=Purpose.SERVICE_DISPUTE,
        legal_basis="contract",
    )
    request = actions.submit_request(actions.create_request(hotel.prop, data, acting_user=people.desk),
                                     acting_user=people.desk)  # fmt: skip
    actions.approve_request(request, acting_user=people.dpo, narrowing=Narrowing(guest_items=[0, 1]))
    grant = Grant.objects.get(request=request)

    results = grants.granted_guest_lookup(grant.pk, actor=people.desk, prop=hotel.prop)

    assert [(r.index, len(r.guests)) for r in results] == [(0, 1), (1, 0)]  # "Other" was not approved
    row = results[0].guests[0]
    assert row["id"] == str(found.pk) and str(other.pk) not in str(results)
    assert row["fields"]["surname"] == "Núñez" and row["fields"]["phone"] == "+34 600 1"
    assert "date_of_birth" not in row["fields"]  # a service dispute does not need it
    assert [s["check_in"] for s in row["stays"]] == [today - dt.timedelta(days=20)]
    reads = AuditEntry.objects.filter(action=Action.GUEST_RECORD_READ, grant_ref=str(grant.pk))
    assert reads.count() == 1 and reads.get().object_id == str(found.pk)


def test_granted_stay_window_uses_overlap(hotel: Hotel, people: People) -> None:
    day = timezone.now().date() - dt.timedelta(days=30)

    def stay(name: str, first: int, last: int, status: str = StayStatus.CHECKED_OUT) -> None:
        guest = vault.create_guest(hotel.prop, {"surname": name, "given_names": "G"}, acting_user=None)
        vault.create_stay(hotel.prop, primary_guest=guest, check_in_planned=day + dt.timedelta(days=first),
                          check_out_planned=day + dt.timedelta(days=last), status=status, acting_user=None)  # fmt: skip

    stay("Before", -5, -1)
    stay("Overlaps start", -2, 0)
    stay("Inside", 1, 2)
    stay("Overlaps end", 3, 9)
    stay("After", 5, 7)
    stay("Cancelled", 1, 2, StayStatus.CANCELLED)
    data = footage_data(hotel, request_type=RequestType.STAY_WINDOW, purpose=Purpose.LAW_ENFORCEMENT,
                        legal_basis="legal_obligation", cameras=[], window_start=None, window_end=None,
                        stay_from=day, stay_until=day + dt.timedelta(days=3), instrument=PDF,
                        instrument_name="order.pdf", instrument_reference="ORD-1")  # fmt: skip
    request = actions.submit_request(actions.create_request(hotel.prop, data, acting_user=people.gm),
                                     acting_user=people.gm)  # fmt: skip
    second_dpo = make_user("dpo2", hotel.prop, Role.PRIVACY_OFFICER)
    actions.approve_request(request, acting_user=people.dpo)
    actions.approve_request(request, acting_user=second_dpo)
    grant = Grant.objects.get(request=request)

    rows = grants.granted_stay_window(grant.pk, actor=people.gm, prop=hotel.prop)

    assert sorted(r.guests[0]["surname"] for r in rows) == ["Inside", "Overlaps end", "Overlaps start"]
    assert "date_of_birth" in rows[0].guests[0]  # a law-enforcement order gets the legal record's fields


# --- break-glass --------------------------------------------------------------------------------------------------


def test_break_glass_opens_at_once_alerts_and_queues_a_review(
    hotel: Hotel, people: People, django_capture_on_commit_callbacks: Any
) -> None:
    start, end = window()
    with django_capture_on_commit_callbacks(execute=True):
        grant = actions.open_break_glass(
            hotel.prop,
            acting_user=people.manager,
            cameras=[hotel.camera],
            window_start=start,
            window_end=end,
            emergency="missing_child",
            reason="Child missing near the pool",
        )
    assert grant.break_glass and grant.holder == people.manager
    assert grant.valid_until - grant.valid_from == dt.timedelta(hours=4)
    assert grant.request.status == Status.APPROVED
    grants.use_grant(grant.pk, actor=people.manager, prop=hotel.prop, kind="footage_view", camera=hotel.camera,
                     start=start, end=end)  # fmt: skip
    assert AuditEntry.objects.filter(action=Action.BREAK_GLASS_OPENED, grant_ref=str(grant.pk)).exists()
    assert any("dpo@example.com" in m.to for m in mail.outbox)
    assert "Child" not in "".join(m.body + m.subject for m in mail.outbox)  # no personal data by e-mail
    with pytest.raises(TransitionRefused):
        actions.review_break_glass(grant, acting_user=people.manager, outcome="justified", notes="")
    with pytest.raises(RequestError):
        actions.review_break_glass(grant, acting_user=people.dpo, outcome="not_justified", notes="")
    actions.review_break_glass(grant, acting_user=people.dpo, outcome="justified", notes="Child found")
    with pytest.raises(TransitionRefused):
        actions.review_break_glass(grant, acting_user=people.dpo, outcome="justified", notes="")


# --- expiry and e-mail --------------------------------------------------------------------------------------------


def test_unused_grant_expires_its_request_and_releases_footage(hotel: Hotel, people: People) -> None:
    grant = approved(hotel, people)
    assert actions.close_expired(timezone.now()) == 0
    assert actions.close_expired(grant.valid_until + dt.timedelta(seconds=1)) == 1
    grant.request.refresh_from_db()
    assert grant.request.status == Status.EXPIRED
    assert Preservation.objects.get(request=grant.request).released_at is not None
    assert actions.close_expired(grant.valid_until + dt.timedelta(days=1)) == 0  # idempotent


def test_approvers_and_requester_are_told_by_email_without_personal_data(
    hotel: Hotel, people: People, django_capture_on_commit_callbacks: Any
) -> None:
    with django_capture_on_commit_callbacks(execute=True):
        request = submitted(hotel, people.officer)
    to_approvers = {address for m in mail.outbox for address in m.to}
    assert {"secman@example.com", "dpo@example.com"} <= to_approvers and "officer@example.com" not in to_approvers
    mail.outbox.clear()
    with django_capture_on_commit_callbacks(execute=True):
        actions.deny_request(request, "Not proportionate", acting_user=people.manager)
    assert [m.to for m in mail.outbox] == [["officer@example.com"]]
    assert request.number in mail.outbox[0].subject
    assert "Wallet" not in mail.outbox[0].body and "proportionate" not in mail.outbox[0].body


def test_a_guest_outside_the_grant_is_refused_and_logged(hotel: Hotel, people: People) -> None:
    data = footage_data(
        hotel,
        **lookup_changes(
            guest("Ruiz", "Ana", "booking_reference", "BK-1"), guest("Gil", "Eva", "booking_reference", "BK-2")
        ),
    )
    request = actions.submit_request(
        actions.create_request(hotel.prop, data, acting_user=people.desk), acting_user=people.desk
    )
    actions.approve_request(request, acting_user=people.dpo, narrowing=Narrowing(guest_items=[1]))
    grant = Grant.objects.get(request=request)
    grants.use_grant(grant.pk, actor=people.desk, prop=hotel.prop, kind="guest_lookup", guest_item=1)
    with pytest.raises(grants.GrantRefused) as refused:
        grants.use_grant(grant.pk, actor=people.desk, prop=hotel.prop, kind="guest_lookup", guest_item=0)
    assert refused.value.code == "guest_out_of_scope"
    assert denied_entries(grant) == ["guest_out_of_scope"]
