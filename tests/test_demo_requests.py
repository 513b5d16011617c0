"""Demo access requests: seeded through the real actions, once, with every step in a log that verifies."""

from __future__ import annotations

from io import StringIO
from typing import Any

import pytest
from django.core import mail
from django.core.management import call_command

from custody.audit.events import Action
from custody.audit.models import AuditEntry
from custody.audit.verify import stored_heads, stored_rows, verify
from custody.core.demo import PROPERTY_CODE
from custody.footage.models import Segment
from custody.requests import actions
from custody.requests.models import AccessRequest, Grant, RequestType, Status

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("fresh_keys")]


@pytest.fixture(autouse=True)
def fast_hashing(settings: Any) -> None:
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


def test_seed_demo_files_four_requests_once_and_mails_nobody() -> None:
    out = StringIO()
    call_command("seed_demo", "--quiet-logins", "--guests", "40", "--stays", "80", stdout=out)
    assert "Demo access requests: 4." in out.getvalue()
    requests = {r.request_type: r for r in AccessRequest.objects.filter(property__code=PROPERTY_CODE)}
    assert requests[RequestType.GUEST_LOOKUP].status == Status.FULFILLED
    assert requests[RequestType.FOOTAGE_VIEW].status == Status.SUBMITTED
    assert requests[RequestType.FOOTAGE_EXPORT].status == Status.FULFILLED  # details: tests/test_demo_footage.py
    # The footage request waiting for review asks for the window the demo cameras recorded.
    view = requests[RequestType.FOOTAGE_VIEW]
    recorded = Segment.objects.filter(camera__in=view.cameras.all())
    assert view.window_start <= min(s.start for s in recorded) and view.window_end >= max(s.end for s in recorded)
    window = requests[RequestType.STAY_WINDOW]
    assert window.status == Status.IN_REVIEW and window.approvals_required == 2 and window.instrument_sha256
    lookup = Grant.objects.get(request=requests[RequestType.GUEST_LOOKUP])
    assert lookup.views_used == 1
    # A guest lookup names the guest and a second identifier, and its stay window goes to the grant.
    [named] = actions.request_data(lookup.request).guests
    assert named["kind"] == "name" and named["surname"] and named["second_kind"] == "booking_reference"
    assert lookup.stay_from == lookup.request.stay_from and lookup.stay_until == lookup.request.stay_until
    assert lookup.stay_from is not None and lookup.stay_until is not None
    assert AuditEntry.objects.filter(action=Action.GUEST_RECORD_READ, grant_ref=str(lookup.pk)).exists()
    assert mail.outbox == []

    call_command("seed_demo", "--quiet-logins", stdout=StringIO())
    assert AccessRequest.objects.count() == 4
    assert verify(stored_rows(), stored_heads()).ok
