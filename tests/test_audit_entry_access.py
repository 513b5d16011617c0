"""An audit entry page answers alike for an entry of this property, of another property, and one that does not
exist, unless the asker may read it (issue 12, item 8): the status never says which numbers are whose."""

from __future__ import annotations

import re

import pytest
from django.test import Client

from custody.accounts.roles import TWO_FACTOR_ROLES, Role
from custody.audit import log
from custody.audit.events import Action, Outcome
from custody.audit.models import AuditEntry
from tests.conftest import OUTSIDER, Hotel, make_user, signed_in_client

READERS = {Role.AUDITOR.value, Role.PRIVACY_OFFICER.value, Role.PROPERTY_MANAGER.value}


@pytest.mark.parametrize("role", [*Role.values, OUTSIDER])
def test_entry_pages_do_not_tell_whose_an_entry_is(role: str, hotel: Hotel, other_hotel: Hotel) -> None:
    here = log.append(Action.STAFF_UPDATED, actor_id=None, property_id=hotel.prop.pk, object_id="11")
    there = log.append(Action.STAFF_UPDATED, actor_id=None, property_id=other_hotel.prop.pk, object_id="12")
    unknown = there.seq + 1000
    if role == OUTSIDER:
        user = make_user(OUTSIDER, other_hotel.prop, *Role.values, totp_device=True)
    else:
        user = make_user(f"u-{role}", hotel.prop, role, totp_device=role in TWO_FACTOR_ROLES)
    client: Client = signed_in_client(user)
    first_seq = AuditEntry.objects.order_by("-seq").values_list("seq", flat=True).first() or 0

    def status(seq: int) -> tuple[int, bytes]:
        path = f"/p/{hotel.prop.code}/audit/{seq}/"
        response = client.get(path)
        # Pages name their own path (language switch) and carry a fresh CSRF token: the rest must be the same.
        body = re.sub(rb'name="csrfmiddlewaretoken" value="[^"]+"', b"CSRF", response.content)
        return response.status_code, body.replace(path.encode(), b"PATH")

    here_status, here_body = status(here.seq)
    there_status, there_body = status(there.seq)
    unknown_status, unknown_body = status(unknown)

    assert there_body.count(there.leaf_hash.encode()) == 0  # nothing of the other property's entry comes back
    assert there_status == unknown_status
    assert there_body == unknown_body
    if role == OUTSIDER:
        assert here_status == there_status == 404  # no role at this hotel at all
        return
    if role in READERS:
        assert here_status == 200 and there_status == 404
        expected_reason = "unknown_entry"
        asked = [there.seq, unknown]
    else:
        assert here_status == there_status == 403  # the same refusal for every number
        assert here_body == there_body
        expected_reason = "no_permission"
        asked = [here.seq, there.seq, unknown]
    denied = AuditEntry.objects.filter(
        seq__gt=first_seq, action=Action.AUDIT_ENTRY_VIEWED, outcome=Outcome.DENIED, actor=user
    ).order_by("seq")
    assert [int(e.object_id) for e in denied] == asked
    assert {e.details["reason"] for e in denied} == {expected_reason}
    assert {e.property_id for e in denied} == {hotel.prop.pk}


def test_a_number_too_large_for_the_log_is_a_plain_404(hotel: Hotel) -> None:
    auditor = make_user("aud", hotel.prop, Role.AUDITOR, totp_device=Role.AUDITOR in TWO_FACTOR_ROLES)
    response = signed_in_client(auditor).get(f"/p/{hotel.prop.code}/audit/{10**70}/")
    assert response.status_code == 404
    denied = AuditEntry.objects.filter(action=Action.AUDIT_ENTRY_VIEWED, outcome=Outcome.DENIED).get()
    assert denied.object_id == "out_of_range" and denied.details == {"reason": "unknown_entry"}
