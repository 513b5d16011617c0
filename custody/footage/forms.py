"""Forms of the camera registry, watched folders and direct upload. Every error is put on the field it concerns."""

from __future__ import annotations

import json
import zoneinfo
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from django import forms
from django.core.files.uploadedfile import UploadedFile
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from custody.footage import ingest, watch
from custody.footage.models import Camera, CameraStatus, IngestLayout, WatchedFolder
from custody.properties.forms import PropertyScopedForm
from custody.properties.models import PRIVATE_KINDS, AreaClass, Property

MAX_UPLOAD_BYTES = 2 * 1024**3  # 2 GiB per file
MAX_UPLOAD_FILES = 50
# A start this far in the future is a typo (a wrong year or time zone), not a recording.
FUTURE_SLACK = timedelta(minutes=5)


class MasksField(forms.JSONField):
    """Privacy masks typed as JSON: [[[x, y], [x, y], [x, y]], ...]; empty means no mask."""

    def to_python(self, value: Any) -> Any:
        if isinstance(value, str) and not value.strip():
            return []
        return super().to_python(value)

    def prepare_value(self, value: Any) -> Any:
        if isinstance(value, list):
            return json.dumps(value)  # one line per form load; compact enough for a textarea
        return super().prepare_value(value)


class CameraForm(PropertyScopedForm):
    privacy_masks = MasksField(
        label=_("Privacy masks"),
        required=False,
        widget=forms.Textarea({"rows": 3, "spellcheck": "false"}),
        help_text=_(
            "JSON polygons with corners as fractions of the picture (0..1), e.g. "
            "[[[0,0],[0.3,0],[0.3,0.2]]]. Masked parts are always blacked out in exports and covered in the player."
        ),
    )

    class Meta:
        model = Camera
        fields = [
            "code",
            "name",
            "area",
            "status",
            "position_x",
            "position_y",
            "direction",
            "field_of_view",
            "source",
            "retention_days",
            "privacy_masks",
        ]
        labels = {"area": _("Area")}
        help_texts = {
            "position_x": _("0 is the left edge of the floor plan, 1 the right edge. Click the plan to set it."),
            "position_y": _("0 is the top edge of the floor plan, 1 the bottom edge."),
        }

    def __init__(self, *args: Any, prop: Property, **kwargs: Any) -> None:
        super().__init__(*args, prop=prop, **kwargs)
        area = self.fields["area"]
        # Every area of the property validates, so a private one is refused by the model with its own message
        # (invariant 7); only areas that may hold a camera are offered.
        areas = prop.areas.select_related("floor").order_by("floor__level", "name")
        area.queryset = areas  # type: ignore[attr-defined]
        allowed = [a for a in areas if a.area_class != AreaClass.PRIVATE and a.kind not in PRIVATE_KINDS]
        area.widget.choices = [("", "---------")] + [
            (a.pk, f"{a.name} ({a.floor})" if a.floor else a.name) for a in allowed
        ]
        self.area_floors = {a.pk: a.floor_id for a in allowed}
        for name in ("position_x", "position_y"):
            self.fields[name].widget.attrs.update({"min": 0, "max": 1, "step": "0.001"})
        self.fields["direction"].widget.attrs.update({"min": 0, "max": 359})
        self.fields["field_of_view"].widget.attrs.update({"min": 10, "max": 360})

    def clean_privacy_masks(self) -> Any:
        masks = self.cleaned_data.get("privacy_masks")
        return [] if masks is None else masks

    def clean(self) -> dict[str, Any] | None:
        cleaned = super().clean() or {}
        has_x = cleaned.get("position_x") is not None
        has_y = cleaned.get("position_y") is not None
        if has_x != has_y and not self.has_error("position_x") and not self.has_error("position_y"):
            missing = "position_y" if has_x else "position_x"
            self.add_error(missing, _("Give both coordinates of the position, or neither."))
        return cleaned


class WatchedFolderForm(PropertyScopedForm):
    class Meta:
        model = WatchedFolder
        fields = ["path", "layout", "pattern", "camera", "timezone", "enabled", "every_minutes"]
        help_texts = {
            "path": _("An absolute path on the server, e.g. /media/frigate/recordings. Files are never moved."),
            "pattern": _(
                "Only for the pattern layout: e.g. {camera}/%Y%m%d/%H%M%S.mp4 (%Y %m %d %H %M %S, {camera}, *)."
            ),
            "camera": _("Every file in the folder belongs to this camera (needed when the pattern has no {camera})."),
            "timezone": _("The time zone of the times in file names (Frigate names are always UTC)."),
        }

    def __init__(self, *args: Any, prop: Property, **kwargs: Any) -> None:
        super().__init__(*args, prop=prop, **kwargs)
        self.fields["camera"].queryset = prop.cameras.order_by("code")  # type: ignore[attr-defined]

    def clean_path(self) -> str:
        raw = (self.cleaned_data.get("path") or "").strip()
        path = Path(raw)
        if not path.is_absolute():
            raise forms.ValidationError(_("Give an absolute path (starting with /)."))
        if not path.is_dir():
            raise forms.ValidationError(_("There is no folder at this path on the server."))
        path = path.resolve()  # stored resolved: one folder has one spelling (no "..", no symbolic links)
        data_folder = watch.home_conflict(path)
        if data_folder is not None:
            raise forms.ValidationError(
                _("This folder is, contains or lies inside Custody's data folder %(folder)s; watch the NVR's folder.")
                % {"folder": data_folder}
            )
        other = watch.overlapping_folder(path, exclude_pk=self.instance.pk)
        if other is not None and other.property_id == self.instance.property_id:
            raise forms.ValidationError(
                _("This folder is, contains or lies inside %(folder)s, which this property already watches.")
                % {"folder": other.path}
            )
        if other is not None:
            raise forms.ValidationError(
                _(
                    "This folder is, contains or lies inside a folder another property watches: "
                    "footage is indexed for one property only."
                )
            )
        return str(path)

    def clean_timezone(self) -> str:
        name = (self.cleaned_data.get("timezone") or "").strip()
        try:
            zoneinfo.ZoneInfo(name)
        except (zoneinfo.ZoneInfoNotFoundError, ValueError):
            raise forms.ValidationError(_("Not a known time zone; use a name like UTC or Asia/Shanghai.")) from None
        return name

    def clean(self) -> dict[str, Any] | None:
        cleaned = super().clean() or {}
        layout, pattern = cleaned.get("layout"), (cleaned.get("pattern") or "").strip()
        cleaned["pattern"] = pattern
        if layout == IngestLayout.FRIGATE:
            if pattern:
                self.add_error("pattern", _("The Frigate layout takes no pattern; choose the pattern layout."))
            if cleaned.get("timezone") and cleaned["timezone"] != "UTC":
                self.add_error("timezone", _("Frigate names its files in UTC; leave the time zone as UTC."))
        elif layout == IngestLayout.PATTERN:
            if not pattern:
                self.add_error("pattern", _("The pattern layout needs a pattern."))
            else:
                try:
                    compiled = ingest.Layout.compile(pattern)
                except ingest.PatternError as exc:
                    self.add_error("pattern", _("This pattern does not work: %(reason)s.") % {"reason": exc})
                else:
                    if "camera" not in compiled.regex.groupindex and not cleaned.get("camera"):
                        self.add_error("camera", _("The pattern has no {camera}: choose the camera."))
        return cleaned


class MultipleFileInput(forms.ClearableFileInput):
    allow_multiple_selected = True


class MultipleFileField(forms.FileField):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("widget", MultipleFileInput(attrs={"accept": "video/*,.mp4,.mkv,.mov,.ts,.avi"}))
        super().__init__(*args, **kwargs)

    def clean(self, data: Any, initial: Any = None) -> list[UploadedFile]:
        single = super().clean
        files = data if isinstance(data, list | tuple) else [data]
        return [single(item, initial) for item in files if item] or [single(None, initial)]


UTC_CHOICE, PROPERTY_CHOICE = "utc", "property"


class UploadForm(forms.Form):
    camera = forms.ModelChoiceField(label=_("Camera"), queryset=Camera.objects.none())
    start = forms.DateTimeField(
        label=_("Start of the first file"),
        input_formats=["%Y-%m-%dT%H:%M:%S", "%Y-%m-%dT%H:%M", "%Y-%m-%d %H:%M:%S", "%Y-%m-%d %H:%M"],
        widget=forms.DateTimeInput(attrs={"type": "datetime-local", "step": 1}, format="%Y-%m-%dT%H:%M:%S"),
        help_text=_("Several files are taken as one after another, in name order: each starts where the last ended."),
    )
    time_zone = forms.ChoiceField(label=_("The start time is in"))
    videos = MultipleFileField(
        label=_("Video files"), help_text=_("At most 2 GiB per file and 50 files at a time. MP4 works best.")
    )

    def __init__(self, *args: Any, prop: Property, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.prop = prop
        self.fields["camera"].queryset = prop.cameras.exclude(  # type: ignore[attr-defined]
            status=CameraStatus.RETIRED
        ).order_by("code")
        self.fields["time_zone"].choices = [  # type: ignore[attr-defined]
            (PROPERTY_CHOICE, _("the property's time zone (%(tz)s)") % {"tz": prop.timezone}),
            (UTC_CHOICE, _("UTC")),
        ]
        self.fields["time_zone"].initial = PROPERTY_CHOICE

    def clean_videos(self) -> list[UploadedFile]:
        files: list[UploadedFile] = self.cleaned_data.get("videos") or []
        if len(files) > MAX_UPLOAD_FILES:
            raise forms.ValidationError(_("Upload at most 50 files at a time."))
        too_big = [f.name or "?" for f in files if (f.size or 0) > MAX_UPLOAD_BYTES]
        if too_big:
            raise forms.ValidationError(
                _("Larger than the 2 GiB limit per file: %(files)s. Add such recordings with a watched folder.")
                % {"files": ", ".join(too_big)}
            )
        empty = [f.name or "?" for f in files if not f.size]
        if empty and len(empty) == len(files):
            raise forms.ValidationError(_("The files are empty."))
        return sorted(files, key=lambda f: f.name or "")

    def clean(self) -> dict[str, Any] | None:
        cleaned = super().clean() or {}
        start: datetime | None = cleaned.get("start")
        if start is not None and cleaned.get("time_zone"):
            tz = zoneinfo.ZoneInfo(self.prop.timezone if cleaned["time_zone"] == PROPERTY_CHOICE else "UTC")
            wall_clock = timezone.make_naive(start) if timezone.is_aware(start) else start
            cleaned["start"] = aware = wall_clock.replace(tzinfo=tz)
            if aware > timezone.now() + FUTURE_SLACK:
                self.add_error("start", _("This start time is in the future; check the date and the time zone."))
        return cleaned
