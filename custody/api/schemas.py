"""What goes in and out of /api/v1/: pydantic schemas, so the OpenAPI document describes every field.

Codes are spelled out as Literal types (tests/test_api.py checks they equal the model choices). Input models
forbid unknown fields; datetimes must carry a time zone; every string and list has an upper bound.
"""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Annotated, Any, Literal

from ninja import Schema
from pydantic import AfterValidator, AwareDatetime, ConfigDict, Field, StringConstraints

from custody.requests.actions import INSTRUMENT_MAX_BYTES, TEXT_LIMIT

RequestTypeCode = Literal[
    "footage_view", "footage_export", "guest_lookup", "stay_window", "subject_access", "erasure", "rectification"
]
PurposeCode = Literal[
    "security_incident", "service_dispute", "insurance_claim", "legal_obligation", "law_enforcement",
    "own_request", "internal_audit", "other",
]  # fmt: skip
LegalBasisCode = Literal[
    "consent", "contract", "legal_obligation", "vital_interests", "public_task", "legitimate_interests",
    "data_subject_rights",
]  # fmt: skip
StatusCode = Literal[
    "draft", "submitted", "in_review", "needs_info", "approved", "partly_approved", "denied", "fulfilled", "expired",
    "withdrawn",
]  # fmt: skip
UrgencyCode = Literal["normal", "urgent", "emergency"]
RequesterKindCode = Literal["staff", "authority", "guest", "other"]
IdentityCheckCode = Literal["", "document_seen", "official_credential", "callback", "portal"]
DecisionCode = Literal["approve", "narrow", "deny", "needs_info"]
SecondKind = Literal["date_of_birth", "id_number", "booking_reference", "stay_date"]

YEARS = (1900, 2100)


def _moment_in_range(value: dt.datetime) -> dt.datetime:
    if not YEARS[0] <= value.year <= YEARS[1]:
        raise ValueError(f"must lie between the years {YEARS[0]} and {YEARS[1]}")
    return value


def _day_in_range(value: dt.date) -> dt.date:
    if not YEARS[0] <= value.year <= YEARS[1]:
        raise ValueError(f"must lie between the years {YEARS[0]} and {YEARS[1]}")
    return value


Moment = Annotated[AwareDatetime, AfterValidator(_moment_in_range)]
Day = Annotated[dt.date, AfterValidator(_day_in_range)]
LongText = Annotated[str, StringConstraints(max_length=TEXT_LIMIT)]
ShortText = Annotated[str, StringConstraints(max_length=200)]
ContactText = Annotated[str, StringConstraints(max_length=254)]
CameraCode = Annotated[str, StringConstraints(min_length=1, max_length=32)]
RowId = Annotated[int, Field(ge=1, le=2**31 - 1)]
Count = Annotated[int, Field(ge=0, le=2**31 - 1)]
# Twice the base64 of the largest instrument: a bound before decoding; check_instrument checks the decoded size,
# and the request body limit (DATA_UPLOAD_MAX_MEMORY_SIZE) may be lower still (docs/api.md).
BASE64_MAX = 2 * (-(-INSTRUMENT_MAX_BYTES // 3) * 4)


def _omit_default(schema: dict[str, Any]) -> None:
    schema.pop("default", None)


def unset(**constraints: Any) -> Any:
    """A PATCH field: absent means "keep"; its schema shows no default."""
    return Field(None, json_schema_extra=_omit_default, **constraints)


class Strict(Schema):
    model_config = ConfigDict(extra="forbid")


# --- errors -------------------------------------------------------------------------------------------------------


class ErrorItem(Schema):
    field: str = Field(
        description='The input at fault: a body field ("purpose", "guests.0.surname"), a query or path parameter, '
        '"body" for the body as a whole, "Authorization", or "" for the call as a whole.'
    )
    message: str


class ErrorOut(Schema):
    code: str = Field(
        description="invalid, unauthorized, missing_scope, role_not_allowed, not_found, conflict, too_large, "
        "unavailable, or why a grant refused the use (revoked, expired, quota_used, ...)."
    )
    detail: list[ErrorItem]


# --- requests: input ----------------------------------------------------------------------------------------------


class ContactIn(Strict):
    name: ContactText = ""
    email: ContactText = ""
    phone: ContactText = ""


class InstrumentIn(Strict):
    name: Annotated[str, StringConstraints(min_length=1, max_length=200)] = Field(
        description="File name, e.g. order.pdf."
    )
    content_base64: Annotated[str, StringConstraints(min_length=1, max_length=BASE64_MAX)] = Field(
        description="The file, base64 (RFC 4648). PDF, PNG or JPEG, at most 10 MB."
    )


class GuestIn(Strict):
    """A guest named by name and one more identifier, so that a granted lookup finds that person and not everyone
    of the same name. A name alone, or an identifier alone, is refused."""

    kind: Literal["name"] = Field(description='Always "name".')
    surname: Annotated[str, StringConstraints(min_length=1, max_length=200)]
    given_names: ShortText = ""
    second_kind: SecondKind = Field(description="What the second identifier is.")
    second_value: Annotated[str, StringConstraints(min_length=1, max_length=200)] = Field(
        description="Its value; a date of birth or a date of the stay as YYYY-MM-DD (a stay date lies inside the "
        "request's stay window)."
    )


class RequestIn(Strict):
    """A new draft. What a draft may still lack is checked when it is submitted."""

    request_type: RequestTypeCode
    purpose: PurposeCode
    legal_basis: LegalBasisCode
    purpose_text: LongText = ""
    urgency: UrgencyCode = "normal"
    requester_kind: RequesterKindCode = "staff"
    organisation: ShortText = ""
    contact: ContactIn | None = None
    identity_check: IdentityCheckCode = ""
    instrument_reference: ShortText = ""
    instrument: InstrumentIn | None = None
    cameras: list[CameraCode] = Field(default_factory=list, max_length=100, description="Camera codes.")
    areas: list[RowId] = Field(default_factory=list, max_length=100, description="Area ids.")
    window_start: Moment | None = None
    window_end: Moment | None = None
    guests: list[GuestIn] = Field(default_factory=list, max_length=50)
    stay_from: Day | None = Field(
        None, description="First day of the stay window: of a stays-in-a-window request, or (required) of a guest "
        "lookup, whose grant shows only the guests' stays in the window."
    )  # fmt: skip
    stay_until: Day | None = Field(None, description="Last day of the stay window (at most 92 days in all).")


class RequestPatch(Strict):
    """Changes to a draft (or a request that needs information): only the fields sent change; null clears a
    window, a stay window or the contact."""

    request_type: RequestTypeCode = unset()
    purpose: PurposeCode = unset()
    legal_basis: LegalBasisCode = unset()
    purpose_text: LongText = unset()
    urgency: UrgencyCode = unset()
    requester_kind: RequesterKindCode = unset()
    organisation: ShortText = unset()
    contact: ContactIn | None = unset()
    identity_check: IdentityCheckCode = unset()
    instrument_reference: ShortText = unset()
    instrument: InstrumentIn = unset()
    cameras: list[CameraCode] = unset(max_length=100)
    areas: list[RowId] = unset(max_length=100)
    window_start: Moment | None = unset()
    window_end: Moment | None = unset()
    guests: list[GuestIn] = unset(max_length=50)
    stay_from: Day | None = unset()
    stay_until: Day | None = unset()


class NarrowingIn(Strict):
    """A narrower scope than the request's: each field left out keeps the request's."""

    cameras: list[CameraCode] | None = Field(None, max_length=100)
    window_start: Moment | None = None
    window_end: Moment | None = None
    guest_items: list[Annotated[int, Field(ge=0, le=999)]] | None = Field(
        None, max_length=50, description="Indexes into the request's guests."
    )
    stay_from: Day | None = None
    stay_until: Day | None = None
    grant_days: Annotated[int, Field(ge=1, le=30)] | None = None
    view_quota: Annotated[int, Field(ge=1, le=2**31 - 1)] | None = None


class ApproveIn(Strict):
    reason: LongText = ""
    narrowing: NarrowingIn | None = None


class DenyIn(Strict):
    reason: LongText = Field(description="Required: a denial carries a reason.")


class AskIn(Strict):
    question: LongText


class AnswerIn(Strict):
    text: LongText


class RevokeIn(Strict):
    reason: LongText


class RequestFilters(Schema):
    queue: bool = Field(False, description="The property's open requests (needs requests:review) instead of yours.")
    status: StatusCode | None = None
    type: RequestTypeCode | None = None
    page: Annotated[int, Field(ge=1, le=100_000)] = 1
    page_size: Annotated[int, Field(ge=1, le=100)] = 25


# --- requests: output ---------------------------------------------------------------------------------------------


class InstrumentOut(Schema):
    content_type: str
    size: int
    sha256: str


class RequestOut(Schema):
    """A request's codes, dates and scope ids: no free text, no guest identifiers."""

    id: uuid.UUID
    number: str
    property: str
    request_type: RequestTypeCode
    status: StatusCode
    urgency: UrgencyCode
    purpose: PurposeCode
    legal_basis: LegalBasisCode
    requester_kind: RequesterKindCode
    requester: int
    requester_name: str
    cameras: list[str]
    areas: list[int]
    window_start: dt.datetime | None
    window_end: dt.datetime | None
    stay_from: dt.date | None
    stay_until: dt.date | None
    approvals_required: int
    approver_roles: list[str]
    instrument: InstrumentOut | None
    created_at: dt.datetime
    submitted_at: dt.datetime | None
    decided_at: dt.datetime | None
    due_at: dt.datetime | None
    updated_at: dt.datetime


class RequestPage(Schema):
    count: int
    page: int
    page_size: int
    items: list[RequestOut]


class ContactOut(Schema):
    name: str = ""
    email: str = ""
    phone: str = ""


class GuestScopeOut(Schema):
    index: int
    kind: str
    surname: str
    given_names: str
    second_kind: str
    second_value: str


class ApprovalOut(Schema):
    id: uuid.UUID
    approver: int
    approver_name: str
    roles: list[str]
    decision: DecisionCode
    reason: str
    narrowed: dict[str, Any]
    created_at: dt.datetime


class GrantOut(Schema):
    id: uuid.UUID
    request: uuid.UUID
    request_number: str
    request_type: RequestTypeCode
    cameras: list[str]
    window_start: dt.datetime | None
    window_end: dt.datetime | None
    guest_items: list[int]
    stay_from: dt.date | None
    stay_until: dt.date | None
    fields: list[str]
    valid_from: dt.datetime
    valid_until: dt.datetime
    view_quota: int | None
    views_used: int
    revoked_at: dt.datetime | None
    expired_at: dt.datetime | None
    break_glass: bool
    active: bool


class RequestDetailOut(RequestOut):
    """The whole request, decrypted for someone entitled to it (the read is audited)."""

    purpose_text: str
    organisation: str
    contact: ContactOut
    identity_check: IdentityCheckCode
    instrument_reference: str
    instrument_name: str
    guests: list[GuestScopeOut]
    approvals: list[ApprovalOut]
    grants: list[GrantOut]


# --- granted reads ------------------------------------------------------------------------------------------------


class StayOut(Schema):
    id: uuid.UUID
    room: str
    check_in: dt.date
    check_out: dt.date
    status: str


class FoundGuestOut(Schema):
    id: uuid.UUID
    fields: dict[str, str] = Field(description="Only the fields the request's purpose needs.")
    documents: list[dict[str, str]] = Field(default_factory=list)
    stays: list[StayOut]


class GuestResultOut(Schema):
    index: int = Field(description="Index of the identifier in the request's guests.")
    kind: str
    guests: list[FoundGuestOut]


class GuestLookupOut(Schema):
    grant: uuid.UUID
    results: list[GuestResultOut]


class WindowRowOut(Schema):
    stay: StayOut
    guests: list[dict[str, str]] = Field(description="Only the fields the request's purpose needs.")


class StayWindowOut(Schema):
    grant: uuid.UUID
    stay_from: dt.date
    stay_until: dt.date
    rows: list[WindowRowOut]
