"""The gate: every state change and every read of personal data writes an audit entry in the same transaction;
refusals are logged; if the entry cannot be written nothing happens (fail closed). And the audit viewer."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Callable
from unittest import mock

from django.db import DatabaseError
from django.test import Client

from custody.accounts.models import User
from custody.accounts.roles import Role
from custody.audit import log
from custody.audit.events import Action, Outcome
from custody.audit.models import AuditEntry, AuditVerification
from custody.audit.tasks import verify_audit_log
from custody.core.worker import enqueue_due_jobs
from custody.properties.models import Floor
from tests.conftest import PASSWORD, Hotel, make_user, signed_in_client

ClientFor = Callable[[str], Client]


def entries(action: Action) -> list[AuditEntry]:
    return list(AuditEntry.objects.filter(action=action).order_by("seq"))


def test_wrong_role_is_refused_and_logged(hotel: Hotel, client_for_role: ClientFor) -> None:
    client = client_for_role(Role.FRONT_DESK)
    assert client.get(f"/p/{hotel.prop.code}/floors/").status_code == 403
    [denied] = entries(Action.ACCESS_DENIED)
    assert denied.outcome == Outcome.DENIED
    assert denied.actor.username == "u-front_desk"  # type: ignore[union-attr]
    assert denied.property_id == hotel.prop.pk
    assert denied.details == {"permission": "properties.manage_structure"}


def test_other_property_is_404_and_logged(hotel: Hotel, outsider: User) -> None:
    client = signed_in_client(outsider)
    assert client.get(f"/p/{hotel.prop.code}/").status_code == 404
    [denied] = entries(Action.ACCESS_DENIED)
    assert denied.property_id == hotel.prop.pk and denied.details == {"reason": "no_role"}


def test_state_change_and_its_entry_commit_together(hotel: Hotel, manager_client: Client) -> None:
    response = manager_client.post(f"/p/{hotel.prop.code}/floors/new/", {"level": 7, "name": "Seventh"})
    assert response.status_code == 302
    floor = Floor.objects.get(property=hotel.prop, level=7)
    [saved] = entries(Action.FLOOR_SAVED)
    assert (saved.object_type, saved.object_id) == ("properties.floor", str(floor.pk))
    assert saved.details == {"created": True, "fields": ["level", "name"]}
    assert saved.actor_role == Role.PROPERTY_MANAGER
    assert saved.client_ip == "127.0.0.1"


def test_fail_closed_when_the_audit_write_fails(hotel: Hotel, manager_client: Client) -> None:
    with mock.patch("custody.audit.gate.append", side_effect=DatabaseError("disk full")):
        response = manager_client.post(f"/p/{hotel.prop.code}/floors/new/", {"level": 8, "name": "Eighth"})
        assert response.status_code == 503
        assert not Floor.objects.filter(level=8).exists()
        listing = manager_client.get(f"/p/{hotel.prop.code}/staff/")
        assert listing.status_code == 503
        assert b"u-property_manager" not in listing.content  # nothing read is shown without its entry


def test_staff_reads_are_audited(hotel: Hotel, manager_client: Client) -> None:
    person = make_user("clerk", hotel.prop, Role.FRONT_DESK)
    assert manager_client.get(f"/p/{hotel.prop.code}/staff/").status_code == 200
    assert manager_client.get(f"/p/{hotel.prop.code}/staff/{person.pk}/").status_code == 200
    assert len(entries(Action.STAFF_LIST_VIEWED)) == 1
    [viewed] = entries(Action.STAFF_VIEWED)
    assert viewed.object_id == str(person.pk)


def test_sign_in_events_hold_ids_not_typed_names(hotel: Hotel) -> None:
    clerk = make_user("clerk", hotel.prop, Role.FRONT_DESK)
    client = Client()
    client.post("/accounts/login/", {"username": "clerk", "password": "wrong password 1"})
    client.post("/accounts/login/", {"username": "someone-else", "password": "wrong password 1"})
    client.post("/accounts/login/", {"username": "clerk", "password": PASSWORD})
    failed = entries(Action.AUTH_LOGIN_FAILED)
    assert [e.object_id for e in failed] == [str(clerk.pk), ""]
    assert all(e.details == {} for e in failed)
    assert not any("someone" in json.dumps(e.document(), default=str) for e in AuditEntry.objects.all())
    [login] = entries(Action.AUTH_LOGIN)
    assert login.actor_id == clerk.pk
    client.post("/accounts/logout/")
    assert len(entries(Action.AUTH_LOGOUT)) == 1


def test_two_factor_events(hotel: Hotel) -> None:
    manager = make_user("boss", hotel.prop, Role.PROPERTY_MANAGER, totp_device=True)
    client = Client()
    client.post("/accounts/login/", {"username": "boss", "password": PASSWORD})
    assert client.post("/accounts/two-factor/", {"token": "000000"}).status_code == 400
    [failed] = entries(Action.AUTH_TWO_FACTOR_FAILED)
    assert failed.actor_id == manager.pk and failed.outcome == Outcome.DENIED


def test_auditor_sees_filters_and_exports_the_log(hotel: Hotel, client_for_role: ClientFor) -> None:
    log.append(Action.STAFF_UPDATED, actor_id=None, property_id=hotel.prop.pk, object_type="x", object_id="=cmd")
    client = client_for_role(Role.AUDITOR)
    page = client.get(f"/p/{hotel.prop.code}/audit/", {"action": Action.STAFF_UPDATED})
    assert page.status_code == 200
    assert b"staff.updated" in page.content
    [viewed] = entries(Action.AUDIT_LOG_VIEWED)
    assert viewed.details == {"filters": ["action"]}
    export = client.get(f"/p/{hotel.prop.code}/audit/export.csv")
    assert export.status_code == 200
    rows = list(csv.reader(io.StringIO(b"".join(export.streaming_content).decode())))  # type: ignore[attr-defined]
    assert rows[0][:3] == ["seq", "at_utc", "actor"]
    assert [row[7] for row in rows[1:] if row[5] == "staff.updated"] == ["'=cmd"]  # no formula injection
    assert len(entries(Action.AUDIT_LOG_EXPORTED)) == 1


def test_bad_filter_is_a_400_naming_the_field(hotel: Hotel, client_for_role: ClientFor) -> None:
    client = client_for_role(Role.AUDITOR)
    response = client.get(f"/p/{hotel.prop.code}/audit/", {"date_from": "2026-05-02", "date_to": "2026-05-01"})
    assert response.status_code == 400
    assert "date_to" in response.context["form"].errors
    response = client.get(f"/p/{hotel.prop.code}/audit/", {"date_from": "yesterday"})
    assert response.status_code == 400 and "date_from" in response.context["form"].errors
    assert client.get(f"/p/{hotel.prop.code}/audit/export.csv", {"date_from": "x"}).status_code == 400


def test_entry_page_shows_a_verifying_inclusion_proof(hotel: Hotel, client_for_role: ClientFor) -> None:
    client = client_for_role(Role.PRIVACY_OFFICER)
    for index in range(5):
        log.append(Action.STAFF_UPDATED, actor_id=None, property_id=hotel.prop.pk, object_id=str(index))
    log.sign_tree_head()
    seq = AuditEntry.objects.get(object_id="3").seq
    page = client.get(f"/p/{hotel.prop.code}/audit/{seq}/")
    assert page.status_code == 200
    assert page.context["proof_ok"] is True
    assert len(page.context["proof"]) >= 2
    assert entries(Action.AUDIT_ENTRY_VIEWED)[0].object_id == str(seq)


def test_auditor_of_another_hotel_cannot_read_its_entries(hotel: Hotel, other_hotel: Hotel) -> None:
    entry = log.append(Action.STAFF_UPDATED, actor_id=None, property_id=hotel.prop.pk, object_id="7")
    other_auditor = make_user("aud2", other_hotel.prop, Role.AUDITOR)
    client = signed_in_client(other_auditor)
    assert client.get(f"/p/{other_hotel.prop.code}/audit/{entry.seq}/").status_code == 404
    page = client.get(f"/p/{other_hotel.prop.code}/audit/")
    assert entry.seq not in [row.seq for row in page.context["rows"]]


def test_verification_banner_and_periodic_jobs(hotel: Hotel, client_for_role: ClientFor) -> None:
    assert "audit.verify" in enqueue_due_jobs()  # tree heads are signed by the scheduler itself (test_audit_tail)
    log.append(Action.STAFF_UPDATED, actor_id=None, property_id=hotel.prop.pk)
    log.sign_tree_head()
    assert verify_audit_log.call() is True
    assert AuditVerification.objects.get().ok
    page = client_for_role(Role.AUDITOR).get(f"/p/{hotel.prop.code}/audit/")
    assert "verified" in page.content.decode()


def test_front_desk_cannot_open_the_audit_log(hotel: Hotel, client_for_role: ClientFor) -> None:
    response = client_for_role(Role.FRONT_DESK).get(f"/p/{hotel.prop.code}/audit/")
    assert response.status_code == 403
    [denied] = entries(Action.AUDIT_LOG_VIEWED)
    assert denied.outcome == Outcome.DENIED
