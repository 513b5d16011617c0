"""Demo access requests, so the queue, the grants page and the audit viewer have something to show.

Seeded once per property (only while it has no requests), through the same actions as the UI, so every step is in
the audit log exactly as it would be for real:

* a fulfilled guest-record lookup: the front desk asked about a guest in a service dispute (their name and booking
  reference, and the days of that stay), the privacy officer approved it, the front desk used the grant once and
  marked it fulfilled;
* a submitted footage request from the security officer, waiting in the reviewers' queue;
* a police request for the stays of three nights, filed by the security manager with its legal instrument and
  approved by the privacy officer: the property manager can give the second approval it needs;
* a fulfilled footage export with its signed evidence package (``custody.core.demo_footage``), added to a demo
  hotel that lacks one even when the other requests were seeded before.

The footage request waiting for review asks for the window the demo cameras recorded, so approving it shows footage.
"""

from __future__ import annotations

import datetime as dt

from django.utils import timezone

from custody import authority
from custody.accounts.models import User
from custody.core import demo_footage
from custody.core.pdf import PdfDocument
from custody.footage.models import Camera
from custody.guests import vault
from custody.guests.models import Stay, StayStatus
from custody.properties.models import Property
from custody.requests import actions, grants
from custody.requests.actions import RequestData
from custody.requests.models import AccessRequest, Grant, IdentityCheck, LegalBasis, Purpose, RequesterKind, RequestType


def _instrument(now: dt.datetime) -> bytes:
    pdf = PdfDocument(title="Requerimiento de información", document_id="DEMO-ORDER-2026-118", generated_at=now)
    pdf.add_title("Requerimiento de información", "Demo document: not a real order")
    pdf.add_key_values([("Reference", "DEMO-ORDER-2026-118"), ("Issued by", "Demo police station")])
    pdf.add_paragraph("This document exists only to show how a legal instrument is attached to a request.")
    return pdf.render()


def seed_demo_requests(prop: Property) -> int:
    """Create the demo requests if the property has none; returns how many requests the property has."""
    if AccessRequest.objects.filter(property=prop).exists():
        demo_footage.seed_demo_footage_export(prop)
        return AccessRequest.objects.filter(property=prop).count()
    users = {u.username: u for u in User.objects.filter(role_assignments__property=prop).distinct()}
    desk, officer, secmanager, privacy = (users.get(n) for n in ("frontdesk", "secofficer", "secmanager", "privacy"))
    if not (desk and officer and secmanager and privacy):
        return 0
    now = timezone.now().replace(microsecond=0)
    today = now.date()

    past = (
        Stay.objects.filter(property=prop, status=StayStatus.CHECKED_OUT, check_out_planned__lt=today)
        .order_by("-check_out_planned", "id")
        .first()
    )
    if past is not None:
        demo = authority.system(prop, authority.SYSTEM_DEMO)
        reference = vault.read_stay(past, ["booking_reference"], authority=demo)["booking_reference"]
        name = vault.read_guest(past.primary_guest, ["surname", "given_names"], authority=demo)
        data = RequestData(
            request_type=RequestType.GUEST_LOOKUP,
            purpose=Purpose.SERVICE_DISPUTE,
            legal_basis=LegalBasis.CONTRACT,
            purpose_text="The guest disputes a minibar charge on the final bill; we need the contact on file.",
            guests=[
                {
                    "kind": "name",
                    "surname": name["surname"],
                    "given_names": name["given_names"],
                    "second_kind": "booking_reference",
                    "second_value": reference,
                }
            ],
            stay_from=past.check_in_planned,
            stay_until=past.check_out_planned,
        )
        request = actions.create_request(prop, data, acting_user=desk)
        request = actions.submit_request(request, acting_user=desk)
        request = actions.approve_request(request, acting_user=privacy, reason="Only for the billing dispute.")
        grant = Grant.objects.get(request=request)
        grants.granted_guest_lookup(grant.pk, actor=desk, prop=prop)
        actions.fulfil_request(request, acting_user=desk)

    camera = (
        Camera.objects.filter(property=prop, area__kind="lobby").first() or Camera.objects.filter(property=prop).first()
    )
    if camera is not None:
        start = (now - dt.timedelta(hours=3)).replace(minute=0, second=0)
        end = start + dt.timedelta(minutes=45)
        recorded = demo_footage.recorded_window(camera)
        if recorded is not None:
            start, end = recorded[0].replace(second=0, microsecond=0), recorded[1]
        data = RequestData(
            request_type=RequestType.FOOTAGE_VIEW,
            purpose=Purpose.SECURITY_INCIDENT,
            legal_basis=LegalBasis.LEGITIMATE_INTERESTS,
            purpose_text="A guest reports a suitcase taken from the lobby luggage area.",
            cameras=[camera],
            window_start=start,
            window_end=end,
        )
        actions.submit_request(actions.create_request(prop, data, acting_user=officer), acting_user=officer)

    data = RequestData(
        request_type=RequestType.STAY_WINDOW,
        purpose=Purpose.LAW_ENFORCEMENT,
        legal_basis=LegalBasis.LEGAL_OBLIGATION,
        purpose_text="Police inquiry into a theft reported in the district.",
        requester_kind=RequesterKind.AUTHORITY,
        organisation="Demo police station",
        contact={"name": "Inspector Demo", "email": "inspector@police.example"},
        identity_check=IdentityCheck.OFFICIAL_CREDENTIAL,
        instrument_reference="DEMO-ORDER-2026-118",
        instrument=_instrument(now),
        instrument_name="demo-order.pdf",
        stay_from=today - dt.timedelta(days=12),
        stay_until=today - dt.timedelta(days=10),
    )
    request = actions.create_request(prop, data, acting_user=secmanager)
    request = actions.submit_request(request, acting_user=secmanager)
    actions.approve_request(request, acting_user=privacy, reason="Order checked with the station by phone.")
    demo_footage.seed_demo_footage_export(prop)
    return AccessRequest.objects.filter(property=prop).count()
