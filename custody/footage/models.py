from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import MaxValueValidator, MinValueValidator, RegexValidator
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


def validate_privacy_masks(value: Any) -> None:
    """Masks are polygons of at least three [x, y] points, each coordinate a fraction (0..1) of the frame."""
    if not isinstance(value, list):
        raise ValidationError(_("Privacy masks must be a list of polygons."))
    for number, polygon in enumerate(value, start=1):
        if not isinstance(polygon, list) or len(polygon) < 3:
            raise ValidationError(_("Mask %(n)s needs at least three points.") % {"n": number})
        for point in polygon:
            if (
                not isinstance(point, list)
                or len(point) != 2
                or not all(isinstance(c, (int, float)) and not isinstance(c, bool) and 0 <= c <= 1 for c in point)
            ):
                raise ValidationError(_("Mask %(n)s: every point is [x, y] with both between 0 and 1.") % {"n": number})


class Camera(models.Model):
    """A camera at a property: where it is on the floor plan, where its recordings come from, how long they are
    kept, and the parts of its picture that are always masked."""

    property = models.ForeignKey(Property, on_delete=models.PROTECT, related_name="cameras")
    area = models.ForeignKey(Area, on_delete=models.PROTECT, related_name="cameras")
    code = models.CharField(
        _("code"),
        max_length=32,
        validators=[RegexValidator(r"^[A-Za-z0-9][A-Za-z0-9_-]*$", _("Use letters, digits, '-' and '_'."))],
    )
    name = models.CharField(_("name"), max_length=100)
    status = models.CharField(_("status"), max_length=16, choices=CameraStatus.choices, default=CameraStatus.ACTIVE)
    # Position on the area's floor plan, as fractions of the plan's width and height (0..1): the camera point map.
    position_x = models.FloatField(
        _("position across the plan"), null=True, blank=True, validators=[MinValueValidator(0), MaxValueValidator(1)]
    )
    position_y = models.FloatField(
        _("position down the plan"), null=True, blank=True, validators=[MinValueValidator(0), MaxValueValidator(1)]
    )
    direction = models.PositiveSmallIntegerField(
        _("direction (degrees)"),
        null=True,
        blank=True,
        validators=[MaxValueValidator(359)],
        help_text=_("Where the camera looks on the plan: 0 is up, 90 is right."),
    )
    field_of_view = models.PositiveSmallIntegerField(
        _("field of view (degrees)"), default=90, validators=[MinValueValidator(10), MaxValueValidator(360)]
    )
    source = models.CharField(
        _("source"), max_length=200, blank=True, help_text=_("The recorder or stream the footage comes from.")
    )
    retention_days = models.PositiveIntegerField(
        _("retention (days)"),
        default=30,
        validators=[MinValueValidator(1), MaxValueValidator(3650)],
        help_text=_("Segments older than this are destroyed unless a request or a legal hold keeps them."),
    )
    privacy_masks = models.JSONField(
        _("privacy masks"),
        default=list,
        blank=True,
        validators=[validate_privacy_masks],
        help_text=_("Polygons always blacked out in exports and covered in the player."),
    )

    class Meta:
        verbose_name = _("camera")
        verbose_name_plural = _("cameras")
        ordering = ["property_id", "code"]
        constraints = [
            models.UniqueConstraint(fields=["property", "code"], name="unique_camera_code"),
            models.CheckConstraint(
                condition=models.Q(retention_days__gte=1, retention_days__lte=3650), name="camera_retention_days"
            ),
            models.CheckConstraint(
                condition=models.Q(direction__isnull=True) | models.Q(direction__lte=359), name="camera_direction"
            ),
        ]

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
    # Retention: the file is deleted, the row stays (with its hash) as the record of what existed and when it went.
    destroyed_at = models.DateTimeField(_("destroyed at"), null=True, blank=True)
    destruction = models.ForeignKey(
        "retention.DestructionRecord", on_delete=models.PROTECT, null=True, blank=True, related_name="segments"
    )

    objects = SegmentQuerySet.as_manager()

    class Meta:
        verbose_name = _("segment")
        verbose_name_plural = _("segments")
        ordering = ["camera_id", "start"]
        constraints = [
            models.UniqueConstraint(fields=["camera", "start"], name="unique_segment_start"),
            models.UniqueConstraint(fields=["camera", "sha256"], name="unique_segment_sha256"),
        ]
        indexes = [models.Index(fields=["camera", "destroyed_at", "start"], name="footage_segment_live")]

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


class IngestLayout(models.TextChoices):
    FRIGATE = "frigate", _("Frigate (recordings/YYYY-MM-DD/HH/<camera>/MM.SS.mp4, UTC)")
    PATTERN = "pattern", _("Pattern (strftime-style)")


class WatchedFolder(models.Model):
    """A recorder's folder the worker indexes on a schedule (``custody ingest`` in watch mode)."""

    property = models.ForeignKey(Property, on_delete=models.PROTECT, related_name="watched_folders")
    path = models.CharField(_("folder"), max_length=1024)
    layout = models.CharField(_("layout"), max_length=16, choices=IngestLayout.choices, default=IngestLayout.FRIGATE)
    pattern = models.CharField(_("pattern"), max_length=300, blank=True)
    camera = models.ForeignKey(
        Camera, on_delete=models.PROTECT, null=True, blank=True, related_name="+", verbose_name=_("camera")
    )
    timezone = models.CharField(_("time zone of file names"), max_length=64, default="UTC")
    enabled = models.BooleanField(_("enabled"), default=True)
    every_minutes = models.PositiveIntegerField(
        _("scan every (minutes)"), default=5, validators=[MinValueValidator(1), MaxValueValidator(1440)]
    )
    last_scan_at = models.DateTimeField(_("last scan"), null=True, blank=True)
    last_result = models.JSONField(default=dict, blank=True)  # counts of the last scan: added, skipped, quarantined
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        verbose_name = _("watched folder")
        verbose_name_plural = _("watched folders")
        ordering = ["property_id", "path"]
        constraints = [models.UniqueConstraint(fields=["property", "path"], name="unique_watched_folder")]

    def __str__(self) -> str:
        return self.path


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
