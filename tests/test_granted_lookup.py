"""Narrow granted lookups (issue 12, item 6): a grant returns only guests matching BOTH the name and the second
identifier, only their stays inside the grant's stay window; items of any other shape, or a grant without a window,
find nothing. And what a grant of each request type may be used for is a complete table that refuses the unknown."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest

from custody.accounts.models import User
from custody.accounts.roles import Role
from custody.audit.events import Action
from custody.audit.models import AuditEntry
from custody.guests import vault
from custody.guests.models import Guest, Stay, StayStatus
from custody.requests import actions, grants
from custody.requests.actions import RequestData
from custody.requests.models import Grant, Purpose, RequestType
from tests.conftest import Hotel, make_user
from tests.scopes import named, seal_guest_scope

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("fresh_keys")]

WINDOW = (dt.date(2026, 4, 1), dt.date(2026, 4, 30))


@pytest.fixture
def desk(hotel: Hotel) -> User:
    return make_user("desk", hotel.prop, Role.FRONT_DESK)


@pytest.fixture
def dpo(hotel: Hotel) -> User:
    return make_user("dpo", hotel.prop, Role.PRIVACY_OFFICER)


def guest(hotel: Hotel, surname: str, given: str, born: str, document: str = "") -> Guest:
    created = vault.create_guest(
        hotel.prop, {"surname": surname, "given_names": given, "date_of_birth": born}, acting_user=None
    )
    if document:
        vault.add_identity_document(created, {"doc_type": "passport", "number": document}, acting_user=None)
    return created


def stay(hotel: Hotel, primary: Guest, first: dt.date, last: dt.date, reference: str, **more: Any) -> Stay:
    return vault.create_stay(
        hotel.prop,
        primary_guest=primary,
        check_in_planned=first,
        check_out_planned=last,
        status=StayStatus.CHECKED_OUT,
        booking_reference=reference,
        acting_user=None,
        **more,
    )


def lookup_grant(
    hotel: Hotel, desk: User, dpo: User, items: list[Any], window: Any = WINDOW, *, legacy: bool = False
) -> Grant:
    """A granted guest lookup naming ``items`` over ``window``, filed and approved through the workflow.

    ``legacy``: the items are of a shape the form and API refuse today (as rows stored before this shape existed
    may be); the request is filed with valid items and the old ones are sealed in its place after approval.
    ``window=None``: a grant without a stay window (the workflow requires one now; older grants may lack it)."""
    filed = [named("Filed", "Placeholder", "date_of_birth", "1970-01-01")] * len(items) if legacy else items
    data = RequestData(
        request_type=RequestType.GUEST_LOOKUP,
        purpose=Purpose.SERVICE_DISPUTE,
        legal_basis="contract",
        purpose_text="A disputed minibar charge",
        guests=filed,
        stay_from=WINDOW[0],
        stay_until=WINDOW[1],
    )
    request = actions.submit_request(actions.create_request(hotel.prop, data, acting_user=desk), acting_user=desk)
    actions.approve_request(request, acting_user=dpo)
    if legacy:
        seal_guest_scope(request, items)
    grant = Grant.objects.get(request=request)
    if window is None:
        Grant.objects.filter(pk=grant.pk).update(stay_from=None, stay_until=None)
    elif tuple(window) != WINDOW:
        Grant.objects.filter(pk=grant.pk).update(stay_from=window[0], stay_until=window[1])
    grant.refresh_from_db()
    return grant


@pytest.fixture
def twins(hotel: Hotel) -> tuple[Guest, Guest]:
    """Two guests with the same name: Ana born 1980 (passport P-1980) and Ana born 1991 (passport P-1991), each with
    one stay inside the window and one outside it; the first also came along on a stay of someone else's."""
    older = guest(hotel, "García", "Ana", "1980-06-01", "P-1980")
    younger = guest(hotel, "Garcia", "ANA", "1991-09-09", "P-1991")
    stay(hotel, older, dt.date(2026, 4, 10), dt.date(2026, 4, 12), "OLD-IN")
    stay(hotel, older, dt.date(2026, 2, 1), dt.date(2026, 2, 3), "OLD-OUT")
    stay(hotel, younger, dt.date(2026, 4, 20), dt.date(2026, 4, 22), "YOUNG-IN")
    stay(hotel, younger, dt.date(2025, 12, 1), dt.date(2025, 12, 3), "YOUNG-OUT")
    host = guest(hotel, "Host", "Someone", "1970-01-01")
    stay(hotel, host, dt.date(2026, 4, 25), dt.date(2026, 4, 26), "HOST-IN", companions=[older])
    return older, younger


def found(results: list[grants.GuestResult]) -> list[list[tuple[str, list[str]]]]:
    """Per item: (guest id, the check-in days of their stays shown)."""
    return [[(g["id"], [s["check_in"].isoformat() for s in g["stays"]]) for g in r.guests] for r in results]


def test_only_the_guest_matching_both_name_and_second_identifier_comes_back_with_stays_in_the_window(
    hotel: Hotel, desk: User, dpo: User, twins: tuple[Guest, Guest]
) -> None:
    older, younger = twins
    items = [
        named("garcia", "ana", "date_of_birth", "1980-06-01"),
        named("García", "Ana", "id_number", "p 1991"),
        named("García", "Ana", "booking_reference", "old-in"),
        named("García", "Ana", "stay_date", "2026-04-21"),
    ]
    grant = lookup_grant(hotel, desk, dpo, items)

    results = grants.granted_guest_lookup(grant.pk, actor=desk, prop=hotel.prop)

    older_stays = ["2026-04-10", "2026-04-25"]  # its own and the one it came along on; February is outside
    assert found(results) == [
        [(str(older.pk), older_stays)],
        [(str(younger.pk), ["2026-04-20"])],
        [(str(older.pk), older_stays)],
        [(str(younger.pk), ["2026-04-20"])],
    ]
    # The vault read only the guests shown; the other twin was never decrypted for the holder.
    reads = AuditEntry.objects.filter(action=Action.GUEST_RECORD_READ, grant_ref=grant.ref)
    assert sorted({e.object_id for e in reads}) == sorted({str(older.pk), str(younger.pk)})
    assert all(e.purpose == "grant.guest_lookup" and e.actor_id == desk.pk for e in reads)


def test_a_second_identifier_that_does_not_match_or_lies_outside_the_window_finds_nobody(
    hotel: Hotel, desk: User, dpo: User, twins: tuple[Guest, Guest]
) -> None:
    items = [
        named("García", "Ana", "date_of_birth", "1980-06-02"),  # a day off
        named("García", "Ana", "booking_reference", "OLD-OUT"),  # her stay, but outside the window
        named("García", "Ana", "stay_date", "2026-02-02"),  # a day she stayed, outside the window
        named("García", "Ana", "id_number", "P-0000"),
        named("García", "Beatriz", "date_of_birth", "1980-06-01"),  # the right birthday, another name
        named("Host", "Someone", "date_of_birth", "1970-01-01") | {"second_value": ""},
        named("García", "Ana", "date_of_birth", "01/06/1980"),  # not ISO
    ]
    grant = lookup_grant(hotel, desk, dpo, items, legacy=True)  # some items the form refuses

    results = grants.granted_guest_lookup(grant.pk, actor=desk, prop=hotel.prop)

    assert found(results) == [[]] * len(items)
    assert not AuditEntry.objects.filter(action=Action.GUEST_RECORD_READ, grant_ref=grant.ref).exists()


def test_items_of_the_old_or_any_other_shape_find_nothing(
    hotel: Hotel, desk: User, dpo: User, twins: tuple[Guest, Guest]
) -> None:
    items: list[Any] = [
        {"kind": "name", "surname": "García", "given_names": "Ana"},  # a name alone: every Ana García
        {"kind": "booking_reference", "value": "OLD-IN"},
        {"kind": "id_number", "value": "P-1980"},
        named("García", "Ana", "phone", "+34 600"),
        named("García", "Ana", "date_of_birth", "1980-06-01") | {"extra": "x"},
        {**named("García", "Ana", "date_of_birth", "1980-06-01"), "kind": "booking_reference"},
        "García Ana",
    ]
    grant = lookup_grant(hotel, desk, dpo, items, legacy=True)

    results = grants.granted_guest_lookup(grant.pk, actor=desk, prop=hotel.prop)

    assert found(results) == [[]] * len(items)
    assert not AuditEntry.objects.filter(action=Action.GUEST_RECORD_READ, grant_ref=grant.ref).exists()
    [summary] = AuditEntry.objects.filter(action=Action.GUEST_LIST_READ, grant_ref=grant.ref)
    assert summary.details == {"found": [0] * len(items)}


def test_a_grant_without_a_stay_window_finds_nothing(
    hotel: Hotel, desk: User, dpo: User, twins: tuple[Guest, Guest]
) -> None:
    grant = lookup_grant(hotel, desk, dpo, [named("García", "Ana", "date_of_birth", "1980-06-01")], window=None)
    assert grant.stay_from is None

    results = grants.granted_guest_lookup(grant.pk, actor=desk, prop=hotel.prop)

    assert found(results) == [[]]
    assert not AuditEntry.objects.filter(action=Action.GUEST_RECORD_READ, grant_ref=grant.ref).exists()


# --- what a grant of each request type allows ----------------------------------------------------------------------


def test_every_request_type_has_its_row_of_allowed_uses() -> None:
    assert set(grants.USES_BY_REQUEST_TYPE) == set(RequestType.values)
    assert all(grants.USES_BY_REQUEST_TYPE.values())
    kinds = {kind for uses in grants.USES_BY_REQUEST_TYPE.values() for kind in uses}
    assert kinds == {"footage_view", "footage_export", "guest_lookup", "stay_window"}


def test_a_request_type_without_a_row_allows_nothing(
    hotel: Hotel, desk: User, dpo: User, monkeypatch: pytest.MonkeyPatch
) -> None:
    grant = lookup_grant(hotel, desk, dpo, [named("García", "Ana", "date_of_birth", "1980-06-01")])
    # A request type added later and forgotten in the table: before, any such type silently allowed guest lookups.
    monkeypatch.delitem(grants.USES_BY_REQUEST_TYPE, RequestType.GUEST_LOOKUP)
    with pytest.raises(grants.GrantRefused) as refused:
        grants.granted_guest_lookup(grant.pk, actor=desk, prop=hotel.prop)
    assert refused.value.code == "unknown_request_type"
    grant.refresh_from_db()
    assert grant.views_used == 0
    denied = AuditEntry.objects.filter(action=Action.GRANT_USED, outcome="denied", grant_ref=grant.ref)
    assert [e.details["reason"] for e in denied] == ["unknown_request_type"]
    assert not AuditEntry.objects.filter(action=Action.GUEST_RECORD_READ).exclude(purpose__startswith="system").exists()
    grant.request.request_type = "guest_lookup_v2"  # not a RequestType at all (the database refuses to store one)
    assert grants.refusal_code(grant, actor=desk, kind="guest_lookup") == "unknown_request_type"
