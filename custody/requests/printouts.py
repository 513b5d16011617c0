"""Printable A4 PDFs of an access request: the application form and the decision (custody.core.pdf).

They are printed in the reader's language, with times in the property's time zone, from text the caller has
already decrypted and audited (custody.requests.reading). They hold the request's personal data: the views serve
them only to people entitled to see the request, never cached.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence

from django.utils import timezone, translation
from django.utils.translation import gettext as _

from custody.core.pdf import PdfDocument, Signatory
from custody.footage.models import Camera
from custody.guests.vault import name_text
from custody.requests.guest_scope import SECOND_KIND_LABELS
from custody.requests.models import (
    AccessRequest,
    Decision,
    IdentityCheck,
    LegalBasis,
    Purpose,
    RequesterKind,
    RequestType,
    Status,
    Urgency,
)
from custody.requests.reading import OpenedRequest

__all__ = ["application_form", "decision"]


def _when(moment: dt.datetime | None) -> str:
    if moment is None:
        return "—"
    local = timezone.localtime(moment)
    return f"{local:%Y-%m-%d %H:%M} {local.tzname() or ''}".strip()


def _day(day: dt.date | None) -> str:
    return day.isoformat() if day else "—"


def _label(choices: type, value: str) -> str:
    try:
        return str(choices(value).label)
    except ValueError:
        return value or "—"


def _document(access: AccessRequest, title: str, suffix: str) -> PdfDocument:
    language = translation.get_language() or "en"
    doc = PdfDocument(
        title=f"{title} {access.number}",
        document_id=f"{access.property.code}/{access.number}/{suffix}",
        generated_at=timezone.now(),
        subject=access.property.name,
        language="zh-CN" if language.startswith("zh") else "en",
        footer_note=_("Confidential: contains personal data"),
        page_label=_("Page {page} of {pages}"),
    )
    doc.add_title(f"{title} {access.number}", subtitle=access.property.name)
    return doc


def _scope(doc: PdfDocument, access: AccessRequest, opened: OpenedRequest, cameras: Sequence[Camera]) -> None:
    doc.add_heading(_("Scope"))
    if access.is_footage:
        doc.add_key_values(
            [(_("Footage from"), _when(access.window_start)), (_("Footage until"), _when(access.window_end))]
        )
        areas = ", ".join(area.name for area in access.areas.order_by("name"))
        if areas:
            doc.add_key_values([(_("Areas (every camera in them)"), areas)])
        if cameras:
            doc.add_table(
                [_("Camera"), _("Name"), _("Area")],
                [[c.code, c.name, c.area.name] for c in cameras],
                col_widths=(1, 2, 2),
            )
    if access.stay_from or access.stay_until:  # a stay window, or the window of a guest lookup
        doc.add_key_values([(_("Stays from"), _day(access.stay_from)), (_("Stays until"), _day(access.stay_until))])
    if opened.guests:
        doc.add_table(
            ["#", _("Guest"), _("Second identifier")],
            [
                [
                    str(n),
                    name_text(item.get("surname", ""), item.get("given_names", "")),
                    f"{SECOND_KIND_LABELS.get(item.get('second_kind', ''), '')} {item.get('second_value', '')}".strip(),
                ]
                for n, item in enumerate(opened.guests, start=1)
            ],
            col_widths=(0.4, 3, 3),
        )


def application_form(access: AccessRequest, opened: OpenedRequest, *, cameras: Sequence[Camera]) -> bytes:
    doc = _document(access, _("Access request"), "form")
    doc.add_key_values(
        [
            (_("Request number"), access.number),
            (_("Type of request"), _label(RequestType, access.request_type)),
            (_("Status"), _label(Status, access.status)),
            (_("Urgency"), _label(Urgency, access.urgency)),
            (_("Filed by"), str(access.requester)),
            (_("Filed on"), _when(access.created_at)),
            (_("Submitted"), _when(access.submitted_at)),
            (_("Answer due"), _when(access.due_at)),
        ]
    )
    doc.add_heading(_("Who asks"))
    who = [(_("Kind of requester"), _label(RequesterKind, access.requester_kind))]
    if access.requester_kind != RequesterKind.STAFF:
        who += [
            (_("Organisation"), opened.contact.get("organisation", "") or "—"),
            (_("Contact name"), opened.contact.get("name", "") or "—"),
            (_("Contact e-mail"), opened.contact.get("email", "") or "—"),
            (_("Contact phone"), opened.contact.get("phone", "") or "—"),
            (_("How the requester's identity was checked"), _label(IdentityCheck, access.identity_check)),
        ]
    doc.add_key_values(who)
    doc.add_heading(_("Purpose and legal basis"))
    rows = [
        (_("Purpose"), _label(Purpose, access.purpose)),
        (_("Purpose, in words"), opened.purpose_text or "—"),
        (_("Legal basis"), _label(LegalBasis, access.legal_basis)),
        (_("Legal instrument reference"), opened.instrument_reference or "—"),
    ]
    if access.instrument_sha256:
        rows.append(
            (
                _("Legal instrument (copy)"),
                f"{opened.instrument_name} · {access.instrument_size or 0} B · SHA-256 {access.instrument_sha256}",
            )
        )
    doc.add_key_values(rows)
    _scope(doc, access, opened, cameras)
    doc.add_heading(_("Signatures"))
    doc.add_signatures(
        [
            Signatory(role=_("Requester"), name=str(access.requester), detail=_when(access.submitted_at)),
            *[Signatory(role=_("Reviewer"), name="", detail="") for _n in range(max(1, access.approvals_required))],
        ]
    )
    return doc.render()


DECISION_LABELS = {
    Decision.APPROVE: Decision.APPROVE.label,
    Decision.NARROW: Decision.NARROW.label,
    Decision.DENY: Decision.DENY.label,
    Decision.NEEDS_INFO: Decision.NEEDS_INFO.label,
}


def decision(access: AccessRequest, opened: OpenedRequest) -> bytes:
    doc = _document(access, _("Decision on access request"), "decision")
    doc.add_key_values(
        [
            (_("Request number"), access.number),
            (_("Type of request"), _label(RequestType, access.request_type)),
            (_("Purpose"), _label(Purpose, access.purpose)),
            (_("Filed by"), str(access.requester)),
            (_("Decision"), _label(Status, access.status)),
            (_("Decided on"), _when(access.decided_at)),
        ]
    )
    decisions = [view for view in opened.approvals if not view.is_answer]
    if decisions:
        doc.add_heading(_("Reviews"))
        doc.add_table(
            [_("Time"), _("Reviewer"), _("Decision"), _("Reason")],
            [
                [
                    _when(v.approval.created_at),
                    str(v.approval.approver),
                    str(DECISION_LABELS.get(Decision(v.approval.decision), v.approval.decision)),
                    v.reason or "—",
                ]
                for v in decisions
            ],
            col_widths=(1.3, 1.5, 1.5, 2.5),
        )
    for grant in access.grants.order_by("created_at"):
        doc.add_heading(_("Grant"))
        cameras = ", ".join(grant.cameras.order_by("code").values_list("code", flat=True))
        rows = [
            (_("Holder"), str(grant.holder)),
            (_("Valid from"), _when(grant.valid_from)),
            (_("Valid until"), _when(grant.valid_until)),
            (_("Uses allowed"), str(grant.view_quota) if grant.view_quota is not None else _("No limit")),
        ]
        if grant.break_glass:
            rows.append((_("Emergency grant"), _("Opened without prior approval; reviewed after the fact.")))
        if cameras:
            rows += [
                (_("Cameras"), cameras),
                (_("Footage from"), _when(grant.window_start)),
                (_("Footage until"), _when(grant.window_end)),
            ]
        if grant.guest_items or opened.guests:
            labels = opened.guest_labels
            granted = [labels[i][1] for i in grant.guest_items if i < len(labels)]
            rows.append((_("Guests"), "; ".join(granted) or "—"))
        if grant.stay_from:
            rows.append((_("Stays"), f"{_day(grant.stay_from)} – {_day(grant.stay_until)}"))
        if grant.revoked_at:
            rows.append((_("Revoked at"), _when(grant.revoked_at)))
        doc.add_key_values(rows)
    doc.add_heading(_("Signatures"))
    signatories = [
        Signatory(
            role=str(DECISION_LABELS.get(Decision(v.approval.decision), "")),
            name=str(v.approval.approver),
            detail=_when(v.approval.created_at),
        )
        for v in decisions
        if v.approval.decision != Decision.NEEDS_INFO
    ] or [Signatory(role=_("Reviewer"))]
    doc.add_signatures(signatories)
    return doc.render()
