"""Access requests, approvals and grants: the lawful way to query guest records and footage (DESIGN invariants 1, 5, 6).

A request says who asks, why (purpose and legal basis, with the legal instrument where one is needed) and for what
(cameras or areas and a time window; named guests, each with a second identifier, and the window of their stays;
stays in a date window). Someone else reviews it under the property's approval policy (``ApprovalPolicy``, defaults
in ``custody.requests.policy``). Approval creates a ``Grant`` whose scope is exactly what was approved, valid for a
limited time and a number of uses; every use goes through ``custody.requests.grants`` and the audit log with the
grant's id.

Free text, the organisation and contact who ask, and guest identifiers are personal data (a purpose may describe an
incident, a scope names a guest, a legal instrument names a suspect): they are encrypted like guest fields (DESIGN
invariant 2), under a data key per request wrapped by the key-encryption key, with AAD = (table, column, primary key).
``custody.requests.sealing`` is the only place that seals and opens them. Codes, dates, ids and counts are plain:
queues, due dates and policy need them.

An approval binds to one version of the request (``custody.requests.versions``): the approval keeps the keyed digest
of the content it saw, and only approvals of the current digest count towards a grant.
"""

from __future__ import annotations

import builtins
import uuid
from typing import Any

from django.conf import settings
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from custody.footage.models import Camera
from custody.properties.models import Area, Property


def sealed(verbose_name: Any) -> models.BinaryField:
    """An AES-256-GCM blob under the request's data key (custody.requests.sealing), never plaintext."""
    return models.BinaryField(verbose_name, editable=False)


class RequestType(models.TextChoices):
    FOOTAGE_VIEW = "footage_view", _("Footage: view")
    FOOTAGE_EXPORT = "footage_export", _("Footage: export")
    GUEST_LOOKUP = "guest_lookup", _("Guest records: named guests")
    STAY_WINDOW = "stay_window", _("Guest records: stays in a date window")
    SUBJECT_ACCESS = "subject_access", _("Data-subject access")
    ERASURE = "erasure", _("Erasure")
    RECTIFICATION = "rectification", _("Rectification")


FOOTAGE_TYPES = frozenset({RequestType.FOOTAGE_VIEW, RequestType.FOOTAGE_EXPORT})
GUEST_TYPES = frozenset(
    {RequestType.GUEST_LOOKUP, RequestType.SUBJECT_ACCESS, RequestType.ERASURE, RequestType.RECTIFICATION}
)


class Purpose(models.TextChoices):
    SECURITY_INCIDENT = "security_incident", _("Security incident")
    SERVICE_DISPUTE = "service_dispute", _("Service dispute")
    INSURANCE_CLAIM = "insurance_claim", _("Insurance claim")
    LEGAL_OBLIGATION = "legal_obligation", _("Legal obligation")
    LAW_ENFORCEMENT = "law_enforcement", _("Law-enforcement order")
    OWN_REQUEST = "own_request", _("The guest's own request")
    INTERNAL_AUDIT = "internal_audit", _("Internal audit")
    OTHER = "other", _("Other purpose")


class LegalBasis(models.TextChoices):
    CONSENT = "consent", _("Consent of the person")
    CONTRACT = "contract", _("Performance of the guest's contract")
    LEGAL_OBLIGATION = "legal_obligation", _("Legal obligation of the hotel")
    VITAL_INTERESTS = "vital_interests", _("Vital interests of a person")
    PUBLIC_TASK = "public_task", _("Public task or official authority")
    LEGITIMATE_INTERESTS = "legitimate_interests", _("Legitimate interests of the hotel")
    DATA_SUBJECT_RIGHTS = "data_subject_rights", _("The person's data-protection rights")


class Status(models.TextChoices):
    DRAFT = "draft", _("Draft")
    SUBMITTED = "submitted", _("Submitted")
    IN_REVIEW = "in_review", _("In review")
    NEEDS_INFO = "needs_info", _("Needs information")
    APPROVED = "approved", _("Approved")
    PARTLY_APPROVED = "partly_approved", _("Partly approved")
    DENIED = "denied", _("Denied")
    FULFILLED = "fulfilled", _("Fulfilled")
    EXPIRED = "expired", _("Expired")
    WITHDRAWN = "withdrawn", _("Withdrawn")


OPEN_STATUSES = frozenset({Status.SUBMITTED, Status.IN_REVIEW, Status.NEEDS_INFO})
GRANTED_STATUSES = frozenset({Status.APPROVED, Status.PARTLY_APPROVED})
CLOSED_STATUSES = frozenset({Status.DENIED, Status.FULFILLED, Status.EXPIRED, Status.WITHDRAWN})


class Urgency(models.TextChoices):
    NORMAL = "normal", _("Normal")
    URGENT = "urgent", _("Urgent")
    EMERGENCY = "emergency", _("Emergency")


class RequesterKind(models.TextChoices):
    STAFF = "staff", _("Member of staff")
    AUTHORITY = "authority", _("Police or other authority")
    GUEST = "guest", _("Guest (data subject)")
    OTHER = "other", _("Other party (insurer, lawyer...)")


class IdentityCheck(models.TextChoices):
    NONE = "", _("Not needed (staff)")
    DOCUMENT_SEEN = "document_seen", _("Identity document seen in person")
    OFFICIAL_CREDENTIAL = "official_credential", _("Official credential seen in person")
    CALLBACK = "callback", _("Called back on an independently found number")
    PORTAL = "portal", _("Verified through the guest portal")


class AreaSensitivity(models.TextChoices):
    """What the policy looks at for footage: the most sensitive area a request's cameras cover."""

    ANY = "any", _("Any area")
    PUBLIC = "public", _("Public areas")
    STAFF_ONLY = "staff_only", _("Staff-only areas")
    SECURITY = "security", _("Security areas")
    PRIVATE_ADJACENT = "private_adjacent", _("Next to private spaces (guest-room corridors, lifts, stairs)")


class AccessRequest(models.Model):
    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    property = models.ForeignKey(Property, on_delete=models.PROTECT, related_name="access_requests")
    number = models.CharField(_("number"), max_length=32)
    request_type = models.CharField(_("type"), max_length=32, choices=RequestType.choices)
    status = models.CharField(_("status"), max_length=16, choices=Status.choices, default=Status.DRAFT)
    urgency = models.CharField(_("urgency"), max_length=16, choices=Urgency.choices, default=Urgency.NORMAL)
    requester = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="access_requests", verbose_name=_("filed by")
    )
    requester_kind = models.CharField(
        _("requester"), max_length=16, choices=RequesterKind.choices, default=RequesterKind.STAFF
    )
    # An external requester's organisation, name, e-mail and phone (JSON), sealed: the organisation can name a person.
    external_contact = sealed(_("who asks (organisation, name, e-mail, phone)"))
    identity_check = models.CharField(
        _("identity check"), max_length=32, choices=IdentityCheck.choices, blank=True, default=IdentityCheck.NONE
    )
    purpose = models.CharField(_("purpose"), max_length=32, choices=Purpose.choices)
    purpose_text = sealed(_("purpose, in words"))
    legal_basis = models.CharField(_("legal basis"), max_length=32, choices=LegalBasis.choices)
    instrument_reference = sealed(_("legal instrument reference"))
    instrument_file = sealed(_("legal instrument file"))
    instrument_name = sealed(_("legal instrument file name"))
    instrument_content_type = models.CharField(max_length=64, blank=True)
    instrument_size = models.PositiveIntegerField(null=True, blank=True)
    instrument_sha256 = models.CharField(max_length=64, blank=True)
    # Scope: cameras and/or areas + a window (footage); guest identifiers (guest records); a stay window.
    cameras = models.ManyToManyField(Camera, blank=True, related_name="+", verbose_name=_("cameras"))
    areas = models.ManyToManyField(Area, blank=True, related_name="+", verbose_name=_("areas"))
    window_start = models.DateTimeField(_("from"), null=True, blank=True)
    window_end = models.DateTimeField(_("until"), null=True, blank=True)
    guest_scope = sealed(_("guests (identifiers)"))
    stay_from = models.DateField(_("stays from"), null=True, blank=True)
    stay_until = models.DateField(_("stays until"), null=True, blank=True)
    due_at = models.DateTimeField(_("due"), null=True, blank=True)
    # The policy as it stood when this version was submitted: later policy changes do not move the goalposts of a
    # request in review; a change of the request's content applies the policy again (actions.update_draft).
    approvals_required = models.PositiveSmallIntegerField(default=1)
    approver_roles = models.JSONField(default=list)
    instrument_required = models.BooleanField(default=False)
    grant_days = models.PositiveSmallIntegerField(_("grant valid for (days)"), null=True, blank=True)
    view_quota = models.PositiveIntegerField(_("uses allowed"), null=True, blank=True)  # None: no limit
    # The version reviewers see (custody.requests.versions): its number, keyed digest and keyed digest per field.
    version = models.PositiveIntegerField(_("version"), default=1)
    content_digest = models.CharField(max_length=64, blank=True)
    field_digests = models.JSONField(default=dict, blank=True)
    wrapped_key = models.BinaryField(editable=False)
    kek_version = models.PositiveIntegerField()
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    submitted_at = models.DateTimeField(null=True, blank=True)
    decided_at = models.DateTimeField(null=True, blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name = _("access request")
        verbose_name_plural = _("access requests")
        ordering = ["-created_at"]
        indexes = [models.Index(fields=["property", "status", "due_at"], name="requests_queue")]
        constraints = [
            models.UniqueConstraint(fields=["property", "number"], name="unique_request_number"),
            models.CheckConstraint(condition=models.Q(status__in=Status.values), name="request_status_known"),
            models.CheckConstraint(condition=models.Q(request_type__in=RequestType.values), name="request_type_known"),
            models.CheckConstraint(
                condition=models.Q(window_start__isnull=True)
                | models.Q(window_end__isnull=True)
                | models.Q(window_end__gt=models.F("window_start")),
                name="request_window_order",
            ),
            models.CheckConstraint(
                condition=models.Q(stay_from__isnull=True)
                | models.Q(stay_until__isnull=True)
                | models.Q(stay_until__gte=models.F("stay_from")),
                name="request_stay_window_order",
            ),
        ]

    def __str__(self) -> str:
        return self.number

    @builtins.property
    def key_owner(self) -> str:
        return f"requests.accessrequest:{self.pk}"

    @builtins.property
    def is_footage(self) -> bool:
        return self.request_type in FOOTAGE_TYPES

    @builtins.property
    def is_open(self) -> bool:
        return self.status in OPEN_STATUSES

    @builtins.property
    def is_granted(self) -> bool:
        return self.status in GRANTED_STATUSES


class Decision(models.TextChoices):
    APPROVE = "approve", _("Approve")
    NARROW = "narrow", _("Approve a narrower scope")
    DENY = "deny", _("Deny")
    NEEDS_INFO = "needs_info", _("Ask for information")


class Approval(models.Model):
    """One reviewer's decision on a request. Two approvals of one request are always two different people."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    request = models.ForeignKey(AccessRequest, on_delete=models.PROTECT, related_name="approvals")
    approver = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    approver_roles = models.JSONField(default=list)
    decision = models.CharField(_("decision"), max_length=16, choices=Decision.choices)
    reason = sealed(_("reason"))
    narrowed = models.JSONField(default=dict, blank=True)  # ids, dates and indexes only: see policy.narrow_scope
    # The version decided on: its keyed digest (versions.Version.digest) and number. An approval counts towards a
    # grant only while its digest is the request's current one.
    request_digest = models.CharField(max_length=64, blank=True)
    request_version = models.PositiveIntegerField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now, editable=False)

    class Meta:
        ordering = ["created_at", "id"]
        constraints = [
            models.UniqueConstraint(
                fields=["request", "approver", "request_digest"],
                condition=models.Q(decision__in=["approve", "narrow"]),
                name="one_approval_per_person_and_version",
            ),
            models.CheckConstraint(condition=models.Q(decision__in=Decision.values), name="approval_decision_known"),
        ]

    def __str__(self) -> str:
        return f"{self.decision} of {self.request_id}"


class Grant(models.Model):
    """What an approval allows: exactly the approved scope, for a limited time and number of uses, to one holder."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    request = models.ForeignKey(AccessRequest, on_delete=models.PROTECT, related_name="grants")
    property = models.ForeignKey(Property, on_delete=models.PROTECT, related_name="+")
    holder = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="grants", verbose_name=_("holder")
    )
    cameras = models.ManyToManyField(Camera, blank=True, related_name="+")
    window_start = models.DateTimeField(null=True, blank=True)
    window_end = models.DateTimeField(null=True, blank=True)
    guest_items = models.JSONField(default=list, blank=True)  # indexes into the request's guest scope
    stay_from = models.DateField(null=True, blank=True)
    stay_until = models.DateField(null=True, blank=True)
    fields = models.JSONField(default=list, blank=True)  # guest fields the purpose needs
    valid_from = models.DateTimeField(_("valid from"))
    valid_until = models.DateTimeField(_("valid until"))
    view_quota = models.PositiveIntegerField(_("uses allowed"), null=True, blank=True)
    views_used = models.PositiveIntegerField(_("uses"), default=0)
    revoked_at = models.DateTimeField(_("revoked at"), null=True, blank=True)
    revoked_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    revoke_reason = sealed(_("reason for revocation"))
    expired_at = models.DateTimeField(null=True, blank=True)  # set by the job that closes grants past valid_until
    break_glass = models.BooleanField(_("emergency grant"), default=False)
    created_at = models.DateTimeField(default=timezone.now, editable=False)

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            models.CheckConstraint(condition=models.Q(valid_until__gt=models.F("valid_from")), name="grant_validity")
        ]

    def __str__(self) -> str:
        return f"grant {self.pk}"

    @builtins.property
    def ref(self) -> str:
        return str(self.pk)

    def is_active(self, at: Any = None) -> bool:
        at = at or timezone.now()
        quota_left = self.view_quota is None or self.views_used < self.view_quota
        return self.revoked_at is None and self.valid_from <= at < self.valid_until and quota_left


class ReviewOutcome(models.TextChoices):
    JUSTIFIED = "justified", _("Justified")
    NOT_JUSTIFIED = "not_justified", _("Not justified")


class BreakGlassReview(models.Model):
    """The privacy officer's after-the-fact review of an emergency grant (the queue: grants with no review)."""

    grant = models.OneToOneField(Grant, on_delete=models.PROTECT, related_name="review")
    reviewer = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    outcome = models.CharField(max_length=16, choices=ReviewOutcome.choices)
    notes = sealed(_("notes"))
    reviewed_at = models.DateTimeField(default=timezone.now)

    def __str__(self) -> str:
        return f"review of {self.grant_id}"


class ApprovalPolicy(models.Model):
    """One rule of a property's approval policy; where no row matches, the defaults in policy.py apply."""

    property = models.ForeignKey(Property, on_delete=models.PROTECT, related_name="approval_policies")
    request_type = models.CharField(_("request type"), max_length=32, choices=RequestType.choices)
    area_sensitivity = models.CharField(
        _("areas"), max_length=32, choices=AreaSensitivity.choices, default=AreaSensitivity.ANY
    )
    approvals_required = models.PositiveSmallIntegerField(_("approvers needed"), default=1)
    approver_roles = models.JSONField(_("roles that may approve"), default=list)
    instrument_required = models.BooleanField(_("legal instrument required"), default=False)
    max_window_minutes = models.PositiveIntegerField(_("longest footage window (minutes)"), default=120)
    grant_days = models.PositiveSmallIntegerField(_("grant valid for (days)"), default=7)
    view_quota = models.PositiveIntegerField(_("uses allowed per grant"), null=True, blank=True)
    due_days = models.PositiveSmallIntegerField(
        _("answer due in (days)"), null=True, blank=True, help_text=_("Empty: one calendar month.")
    )
    updated_at = models.DateTimeField(auto_now=True)
    updated_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )

    class Meta:
        verbose_name = _("approval policy rule")
        ordering = ["request_type", "area_sensitivity"]
        constraints = [
            models.UniqueConstraint(fields=["property", "request_type", "area_sensitivity"], name="unique_policy_rule"),
            models.CheckConstraint(
                condition=models.Q(approvals_required__gte=1, approvals_required__lte=3), name="policy_approvers_1_3"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.request_type}/{self.area_sensitivity}"


class Preservation(models.Model):
    """Footage held from retention deletion: while a footage request is undecided, or while its grant runs."""

    request = models.ForeignKey(AccessRequest, on_delete=models.PROTECT, related_name="preservations")
    property = models.ForeignKey(Property, on_delete=models.PROTECT, related_name="+")
    cameras = models.ManyToManyField(Camera, related_name="+")
    window_start = models.DateTimeField()
    window_end = models.DateTimeField()
    created_at = models.DateTimeField(default=timezone.now)
    released_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        indexes = [models.Index(fields=["property", "released_at"], name="requests_preservation_active")]

    def __str__(self) -> str:
        return f"preservation for {self.request_id}"


class AlertKind(models.TextChoices):
    BREAK_GLASS = "break_glass", _("Emergency grant opened")
    OVERDUE = "overdue", _("Request overdue")
    DISK_LOW = "disk_low", _("Footage storage nearly full")
    EXPORT_FAILED = "export_failed", _("Footage export failed")


class Alert(models.Model):
    property = models.ForeignKey(Property, on_delete=models.PROTECT, related_name="alerts")
    kind = models.CharField(max_length=32, choices=AlertKind.choices)
    request = models.ForeignKey(AccessRequest, on_delete=models.PROTECT, null=True, blank=True, related_name="+")
    grant = models.ForeignKey(Grant, on_delete=models.PROTECT, null=True, blank=True, related_name="+")
    created_at = models.DateTimeField(default=timezone.now)
    acknowledged_at = models.DateTimeField(null=True, blank=True)
    acknowledged_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"{self.kind} alert"


class RequestCounter(models.Model):
    """The last request number given at a property in a year (numbers are gap-free and human-readable)."""

    property = models.ForeignKey(Property, on_delete=models.PROTECT, related_name="+")
    year = models.PositiveSmallIntegerField()
    last = models.PositiveIntegerField(default=0)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["property", "year"], name="unique_request_counter")]

    def __str__(self) -> str:
        return f"{self.property_id}/{self.year}: {self.last}"
