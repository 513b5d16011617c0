"""Legal holds, destruction records and the backup register.

A legal hold (evidence lock) keeps footage of some cameras in a window from ever being destroyed, by the daily
retention job or when the disk fills, until an authorised person releases it. Its reason is free text and may name
people, so it is sealed under the hold's own data key, like a request's text. A destruction record is written for
every retention run that deleted anything: what, how many, how many bytes, and a digest over the destroyed segments'
SHA-256s (each destroyed ``Segment`` row keeps its own hash and points at the record). The backup register lists
every copy made of footage or packages outside Custody.
"""

from __future__ import annotations

import builtins
import uuid

from django.conf import settings
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from custody.footage.models import Camera
from custody.properties.models import Property


class LegalHold(models.Model):
    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    property = models.ForeignKey(Property, on_delete=models.PROTECT, related_name="legal_holds")
    cameras = models.ManyToManyField(Camera, related_name="legal_holds", verbose_name=_("cameras"))
    window_start = models.DateTimeField(_("from"))
    window_end = models.DateTimeField(_("until"))
    case_reference = models.CharField(
        _("case reference"), max_length=64, help_text=_("The case, claim or order number; no names.")
    )
    request = models.ForeignKey(
        "requests.AccessRequest",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="legal_holds",
        verbose_name=_("access request"),
    )
    wrapped_key = models.BinaryField(editable=False)  # the hold's data key, wrapped by the KEK
    kek_version = models.PositiveIntegerField(default=1, editable=False)
    reason = models.BinaryField(_("reason"), editable=False)  # sealed
    set_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    set_at = models.DateTimeField(default=timezone.now)
    released_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    released_at = models.DateTimeField(null=True, blank=True)
    release_reason = models.BinaryField(_("reason for release"), editable=False, null=True)  # sealed

    class Meta:
        verbose_name = _("legal hold")
        verbose_name_plural = _("legal holds")
        ordering = ["-set_at"]
        constraints = [
            models.CheckConstraint(condition=models.Q(window_end__gt=models.F("window_start")), name="hold_window"),
            models.CheckConstraint(
                condition=models.Q(released_at__isnull=True) | models.Q(released_by__isnull=False),
                name="hold_release_has_person",
            ),
        ]
        indexes = [models.Index(fields=["property", "released_at"], name="retention_hold_active")]

    def __str__(self) -> str:
        return f"legal hold {self.case_reference}"

    @builtins.property
    def key_owner(self) -> str:
        return f"retention.legalhold:{self.pk}"

    @builtins.property
    def is_active(self) -> bool:
        return self.released_at is None


class DestructionKind(models.TextChoices):
    FOOTAGE_RETENTION = "footage_retention", _("Footage past its camera's retention")
    DISK_PRESSURE = "disk_pressure", _("Footage destroyed early: storage nearly full")


class DestructionRecord(models.Model):
    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    property = models.ForeignKey(Property, on_delete=models.PROTECT, related_name="destruction_records")
    kind = models.CharField(_("kind"), max_length=32, choices=DestructionKind.choices)
    started_at = models.DateTimeField(_("started"), default=timezone.now)
    finished_at = models.DateTimeField(_("finished"), null=True, blank=True)
    run_by = models.ForeignKey(  # null: the scheduled job
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    segments_destroyed = models.PositiveIntegerField(_("segments destroyed"), default=0)
    bytes_destroyed = models.BigIntegerField(_("bytes destroyed"), default=0)
    segments_held = models.PositiveIntegerField(_("segments kept (held)"), default=0)
    segments_failed = models.PositiveIntegerField(_("segments that could not be deleted"), default=0)
    # SHA-256 over the sorted hex SHA-256s of the destroyed segments, one per line: lets anyone check the list.
    hashes_digest = models.CharField(_("digest of destroyed hashes"), max_length=64, blank=True)
    details = models.JSONField(default=dict, blank=True)  # per camera: code, retention days, cutoff, counts

    class Meta:
        verbose_name = _("destruction record")
        verbose_name_plural = _("destruction records")
        ordering = ["-started_at"]

    def __str__(self) -> str:
        return f"destruction {self.started_at:%Y-%m-%d} ({self.segments_destroyed})"


class BackupContent(models.TextChoices):
    FOOTAGE = "footage", _("Footage segments")
    EVIDENCE_PACKAGE = "evidence_package", _("Evidence package")
    DATABASE = "database", _("Database backup")
    AUDIT_LOG = "audit_log", _("Audit log export")


class BackupMedium(models.TextChoices):
    DISK = "disk", _("External disk")
    USB = "usb", _("USB stick")
    OPTICAL = "optical", _("Optical disc")
    TAPE = "tape", _("Tape")
    NAS = "nas", _("Network storage")
    CLOUD = "cloud", _("Cloud storage")
    OTHER = "other", _("Other")


class BackupRecord(models.Model):
    """One copy made of footage or packages outside Custody: the backup register."""

    property = models.ForeignKey(Property, on_delete=models.PROTECT, related_name="backup_records")
    made_on = models.DateField(_("date made"))
    content = models.CharField(_("content"), max_length=32, choices=BackupContent.choices)
    description = models.CharField(
        _("description"), max_length=300, help_text=_("What was copied, e.g. cameras and dates; no names.")
    )
    export = models.ForeignKey(
        "evidence.Export",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="backups",
        verbose_name=_("evidence package"),
    )
    cameras = models.ManyToManyField(Camera, blank=True, related_name="+", verbose_name=_("cameras"))
    window_start = models.DateTimeField(_("footage from"), null=True, blank=True)
    window_end = models.DateTimeField(_("footage until"), null=True, blank=True)
    keep_until = models.DateField(_("kept until"), null=True, blank=True)
    medium = models.CharField(_("medium"), max_length=16, choices=BackupMedium.choices)
    location = models.CharField(_("location"), max_length=200)
    sha256 = models.CharField(_("SHA-256"), max_length=64, blank=True)
    made_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+", verbose_name=_("made by")
    )
    recorded_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    recorded_at = models.DateTimeField(default=timezone.now)
    destroyed_on = models.DateField(_("copy destroyed on"), null=True, blank=True)

    class Meta:
        verbose_name = _("backup record")
        verbose_name_plural = _("backup register")
        ordering = ["-made_on", "-recorded_at"]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(window_start__isnull=True)
                | models.Q(window_end__isnull=True)
                | models.Q(window_end__gt=models.F("window_start")),
                name="backup_window",
            )
        ]

    def __str__(self) -> str:
        return f"backup {self.made_on} {self.content}"

    @builtins.property
    def duration_seconds(self) -> float | None:
        """How much footage the copy holds (its window), where it holds footage."""
        if self.window_start is None or self.window_end is None:
            return None
        return (self.window_end - self.window_start).total_seconds()
