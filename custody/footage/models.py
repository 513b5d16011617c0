from __future__ import annotations

from typing import Any

from django.core.exceptions import ValidationError
from django.core.validators import RegexValidator
from django.db import models
from django.utils.translation import gettext_lazy as _

from custody.properties.models import Area, Property


class PrivateAreaCamera(ValidationError):
    """Invariant 7: a camera may never be placed in a private area."""


def ensure_area_may_hold_camera(area: Area) -> None:
    if area.is_private:
        raise PrivateAreaCamera(
            {"area": _("%(area)s is a private area; a camera can never be placed there.") % {"area": area.name}}
        )


class CameraStatus(models.TextChoices):
    ACTIVE = "active", _("Active")
    OFFLINE = "offline", _("Offline")
    RETIRED = "retired", _("Retired")


class Camera(models.Model):
    """A camera at a property. Placement rules live here; footage, maps and masks come with footage ingest."""

    property = models.ForeignKey(Property, on_delete=models.PROTECT, related_name="cameras")
    area = models.ForeignKey(Area, on_delete=models.PROTECT, related_name="cameras")
    code = models.CharField(
        _("code"),
        max_length=32,
        validators=[RegexValidator(r"^[A-Za-z0-9][A-Za-z0-9_-]*$", _("Use letters, digits, '-' and '_'."))],
    )
    name = models.CharField(_("name"), max_length=100)
    status = models.CharField(_("status"), max_length=16, choices=CameraStatus.choices, default=CameraStatus.ACTIVE)

    class Meta:
        verbose_name = _("camera")
        verbose_name_plural = _("cameras")
        ordering = ["property_id", "code"]
        constraints = [models.UniqueConstraint(fields=["property", "code"], name="unique_camera_code")]

    def __str__(self) -> str:
        return f"{self.code} {self.name}"

    def clean(self) -> None:
        if self.area_id:
            ensure_area_may_hold_camera(self.area)
            if self.property_id and self.area.property_id != self.property_id:
                raise ValidationError({"area": _("That area belongs to another property.")})

    def save(self, *args: Any, **kwargs: Any) -> None:
        # Checked on every save, not only in forms; database triggers back this up for bulk writes.
        ensure_area_may_hold_camera(Area.objects.get(pk=self.area_id))
        super().save(*args, **kwargs)


class SegmentQuerySet(models.QuerySet["Segment"]):
    def gaps(self, camera: Camera, *, min_gap_seconds: float = 2.0) -> list[RecordingGap]:
        """Stretches longer than min_gap_seconds between one segment's end and the next one's start."""
        found: list[RecordingGap] = []
        previous_end = None
        for start, end in self.filter(camera=camera).order_by("start").values_list("start", "end"):
            if previous_end is not None and (start - previous_end).total_seconds() > min_gap_seconds:
                found.append(RecordingGap(camera=camera, start=previous_end, end=start))
            previous_end = end if previous_end is None else max(previous_end, end)
        return found


class Segment(models.Model):
    """One recorded file, indexed where the NVR left it. The file itself is never moved or changed (invariant 4)."""

    camera = models.ForeignKey(Camera, on_delete=models.PROTECT, related_name="segments")
    start = models.DateTimeField(_("start"), help_text=_("UTC, from the file's name"))
    end = models.DateTimeField(_("end"))
    duration = models.FloatField(_("duration (seconds)"))
    path = models.CharField(_("storage path"), max_length=1024, unique=True)
    size = models.BigIntegerField(_("size (bytes)"))
    mtime_ns = models.BigIntegerField(_("modification time (ns)"))
    codec = models.CharField(_("codec"), max_length=32)
    width = models.PositiveIntegerField(_("width"))
    height = models.PositiveIntegerField(_("height"))
    sha256 = models.CharField(_("SHA-256"), max_length=64)
    note = models.CharField(_("note"), max_length=200, blank=True)
    ingested_at = models.DateTimeField(_("ingested at"), auto_now_add=True)

    objects = SegmentQuerySet.as_manager()

    class Meta:
        verbose_name = _("segment")
        verbose_name_plural = _("segments")
        ordering = ["camera_id", "start"]
        constraints = [
            models.UniqueConstraint(fields=["camera", "start"], name="unique_segment_start"),
            models.UniqueConstraint(fields=["camera", "sha256"], name="unique_segment_sha256"),
        ]

    def __str__(self) -> str:
        return f"{self.camera_id} {self.start.isoformat()}"


class QuarantineReason(models.TextChoices):
    EMPTY = "empty", _("Empty file")
    TRUNCATED = "truncated", _("Truncated file")
    NOT_VIDEO = "not_video", _("Not a video file")
    CORRUPT = "corrupt", _("Corrupt video")
    UNREADABLE = "unreadable", _("File cannot be read")
    UNKNOWN_CAMERA = "unknown_camera", _("Unknown camera")
    NO_TIMESTAMP = "no_timestamp", _("No start time in the file name")
    DUPLICATE_START = "duplicate_start", _("Another file has the same camera and start")


class QuarantinedFile(models.Model):
    """A file ingest could not index. It stays where it is; the reason says why."""

    property = models.ForeignKey(Property, on_delete=models.PROTECT, related_name="quarantined_files", null=True)
    path = models.CharField(_("path"), max_length=1024, unique=True)
    reason_code = models.CharField(_("reason"), max_length=32, choices=QuarantineReason.choices)
    reason = models.CharField(_("details"), max_length=300)
    size = models.BigIntegerField(_("size (bytes)"), null=True)
    mtime_ns = models.BigIntegerField(_("modification time (ns)"), null=True)
    sha256 = models.CharField(_("SHA-256"), max_length=64, blank=True)
    found_at = models.DateTimeField(_("found at"), auto_now=True)

    class Meta:
        verbose_name = _("quarantined file")
        verbose_name_plural = _("quarantined files")
        ordering = ["path"]

    def __str__(self) -> str:
        return f"{self.path} ({self.reason_code})"


class RecordingGap:
    """A stretch with no recording for a camera; computed from segments, never stored."""

    def __init__(self, *, camera: Camera, start: Any, end: Any) -> None:
        self.camera = camera
        self.start = start
        self.end = end

    @property
    def seconds(self) -> float:
        return float((self.end - self.start).total_seconds())

    def __repr__(self) -> str:
        return f"RecordingGap({self.camera.code}, {self.start.isoformat()} -> {self.end.isoformat()})"
