"""Footage exports and the evidence packages they produce.

An ``Export`` is one background job run under a footage-export grant: the requested cameras and window (always
inside the grant), options, status and progress, and once done the signed package (path, size, SHA-256, the
Ed25519 signature over manifest.json). Each camera's clip is an ``ExportClip``; a clip marked complete is not cut
again when a killed job resumes. A package is never deleted by footage retention. Downloads go through
``DownloadLink``: a random token (only its hash is stored), bound to one user, usable once, expiring.
"""

from __future__ import annotations

import uuid

from django.conf import settings
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from custody.footage.models import Camera
from custody.properties.models import Property


class ExportStatus(models.TextChoices):
    QUEUED = "queued", _("Queued")
    RUNNING = "running", _("Running")
    DONE = "done", _("Done")
    FAILED = "failed", _("Failed")


class Export(models.Model):
    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    property = models.ForeignKey(Property, on_delete=models.PROTECT, related_name="exports")
    request = models.ForeignKey("requests.AccessRequest", on_delete=models.PROTECT, related_name="exports")
    grant = models.ForeignKey("requests.Grant", on_delete=models.PROTECT, related_name="exports")
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    created_at = models.DateTimeField(default=timezone.now)
    cameras = models.ManyToManyField(Camera, related_name="+", verbose_name=_("cameras"))
    requested_start = models.DateTimeField(_("from"))
    requested_end = models.DateTimeField(_("until"))
    watermark = models.BooleanField(_("burn in a watermark"), default=False)
    status = models.CharField(max_length=16, choices=ExportStatus.choices, default=ExportStatus.QUEUED)
    progress = models.PositiveSmallIntegerField(default=0)  # percent
    step = models.CharField(max_length=32, blank=True)  # code of what the job is doing now
    error_code = models.CharField(max_length=32, blank=True)
    attempts = models.PositiveIntegerField(default=0)
    task_result_id = models.CharField(max_length=64, blank=True)
    started_at = models.DateTimeField(null=True, blank=True)
    heartbeat_at = models.DateTimeField(null=True, blank=True)  # a running job touches this; stale = worker died
    finished_at = models.DateTimeField(null=True, blank=True)
    actual_start = models.DateTimeField(null=True, blank=True)  # earliest clip start (keyframe-aligned)
    actual_end = models.DateTimeField(null=True, blank=True)
    package_name = models.CharField(max_length=200, blank=True)  # file under the packages folder
    package_size = models.BigIntegerField(null=True, blank=True)
    package_sha256 = models.CharField(max_length=64, blank=True)
    manifest_sha256 = models.CharField(max_length=64, blank=True)
    signature = models.CharField(max_length=200, blank=True)  # base64 Ed25519 over manifest.json
    signer_key_id = models.CharField(max_length=64, blank=True)

    class Meta:
        verbose_name = _("export")
        verbose_name_plural = _("exports")
        ordering = ["-created_at"]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(requested_end__gt=models.F("requested_start")), name="export_window"
            ),
            models.CheckConstraint(condition=models.Q(progress__lte=100), name="export_progress"),
            models.CheckConstraint(
                condition=~models.Q(status="done") | ~models.Q(package_sha256=""), name="export_done_has_package"
            ),
        ]

    def __str__(self) -> str:
        return f"export {self.pk}"


class ExportClip(models.Model):
    export = models.ForeignKey(Export, on_delete=models.PROTECT, related_name="clips")
    camera = models.ForeignKey(Camera, on_delete=models.PROTECT, related_name="+")
    path = models.CharField(max_length=200)  # inside the package, e.g. clips/LOBBY-1.mp4
    requested_start = models.DateTimeField()
    requested_end = models.DateTimeField()
    actual_start = models.DateTimeField(null=True, blank=True)
    actual_end = models.DateTimeField(null=True, blank=True)
    size = models.BigIntegerField(null=True, blank=True)
    sha256 = models.CharField(max_length=64, blank=True)
    source_sha256s = models.JSONField(default=list, blank=True)
    watermarked = models.BooleanField(default=False)
    redacted = models.BooleanField(default=False)
    completed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["export_id", "path"]
        constraints = [models.UniqueConstraint(fields=["export", "camera"], name="unique_export_clip")]

    def __str__(self) -> str:
        return self.path


class DownloadLink(models.Model):
    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    export = models.ForeignKey(Export, on_delete=models.PROTECT, related_name="links")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    token_hash = models.CharField(max_length=64, unique=True)  # SHA-256 of the token in the link
    created_at = models.DateTimeField(default=timezone.now)
    expires_at = models.DateTimeField()
    used_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"download link {self.pk}"
