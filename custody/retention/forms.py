"""Forms of the legal hold and backup register pages. They check shape; custody.retention.holds has the last word on
a hold (its HoldError lands on the field it names). Date-times are the property's wall-clock time (the views run in
``timezone.override`` of it)."""

from __future__ import annotations

import re
from typing import Any

from django import forms
from django.db.models import QuerySet
from django.utils.translation import gettext_lazy as _

from custody.accounts.models import User
from custody.evidence.models import Export, ExportStatus
from custody.properties.models import Property
from custody.requests.forms import DATE_WIDGET, camera_choices, moment_field, property_cameras
from custody.retention.holds import REASON_LIMIT
from custody.retention.models import BackupContent, BackupMedium, BackupRecord

SHA256 = re.compile(r"^[0-9a-f]{64}$")


class HoldForm(forms.Form):
    cameras = forms.TypedMultipleChoiceField(label=_("Cameras"), coerce=int, widget=forms.CheckboxSelectMultiple)
    window_start = moment_field(_("Footage from"), required=True)
    window_end = moment_field(_("Footage until"), required=True)
    case_reference = forms.CharField(
        label=_("Case reference"),
        max_length=64,
        help_text=_("The case, claim or order number: letters, digits and - / . _ only; never a name."),
    )
    reason = forms.CharField(
        label=_("Reason"),
        max_length=REASON_LIMIT,
        widget=forms.Textarea(attrs={"rows": 4}),
        help_text=_(
            "Why this footage must be kept. Stored encrypted; only the roles that set and release holds read it."
        ),
    )

    def __init__(self, *args: Any, prop: Property, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["cameras"].choices = camera_choices(property_cameras(prop))  # type: ignore[attr-defined]

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        start, end = data.get("window_start"), data.get("window_end")
        if start and end and end <= start:
            self.add_error("window_end", _("The end must be after the start."))
        return data


class ReleaseForm(forms.Form):
    reason = forms.CharField(
        label=_("Reason for release"),
        max_length=REASON_LIMIT,
        widget=forms.Textarea(attrs={"rows": 3}),
        help_text=_("Why the footage no longer needs to be kept (stored encrypted)."),
    )


def staff_of(prop: Property) -> QuerySet[User]:
    return User.objects.filter(role_assignments__property=prop, is_active=True).distinct().order_by("username")


class BackupForm(forms.ModelForm):
    """Record one copy of footage or packages made outside Custody (the backup register)."""

    window_start = moment_field(_("Footage from"))
    window_end = moment_field(_("Footage until"))
    cameras = forms.TypedMultipleChoiceField(
        label=_("Cameras"), coerce=int, required=False, widget=forms.CheckboxSelectMultiple
    )

    class Meta:
        model = BackupRecord
        fields = [
            "made_on", "content", "description", "export", "window_start", "window_end", "keep_until",
            "medium", "location", "sha256", "made_by", "destroyed_on",
        ]  # fmt: skip
        widgets = {"made_on": DATE_WIDGET, "keep_until": DATE_WIDGET, "destroyed_on": DATE_WIDGET}
        help_texts = {
            "location": _("Where the copy is kept, e.g. the safe in the security office."),
            "sha256": _("Optional: the SHA-256 of the copy (64 hexadecimal characters)."),
        }

    def __init__(self, *args: Any, prop: Property, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.prop = prop
        self.fields["cameras"].choices = camera_choices(property_cameras(prop))  # type: ignore[attr-defined]
        if self.instance.pk:
            self.initial.setdefault("cameras", list(self.instance.cameras.values_list("pk", flat=True)))
        export_field: Any = self.fields["export"]
        export_field.queryset = Export.objects.filter(property=prop, status=ExportStatus.DONE).order_by("-created_at")
        export_field.label_from_instance = lambda e: f"{e.package_name or e.pk} ({e.created_at:%Y-%m-%d})"
        made_by: Any = self.fields["made_by"]
        made_by.queryset = staff_of(prop)
        made_by.label_from_instance = lambda u: f"{u.username} ({u})"
        content: Any = self.fields["content"]
        content.choices = BackupContent.choices  # no empty choice: one is required
        medium: Any = self.fields["medium"]
        medium.choices = BackupMedium.choices
        for name in ("made_on", "keep_until", "destroyed_on"):
            date_field: Any = self.fields[name]
            date_field.input_formats = ["%Y-%m-%d"]

    def clean_sha256(self) -> str:
        value = (self.cleaned_data.get("sha256") or "").strip().lower()
        if value and not SHA256.match(value):
            raise forms.ValidationError(_("A SHA-256 is 64 hexadecimal characters (0-9, a-f)."))
        return value

    def clean_description(self) -> str:
        return (self.cleaned_data.get("description") or "").strip()

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        start, end = data.get("window_start"), data.get("window_end")
        if (start is None) != (end is None):
            self.add_error("window_end" if end is None else "window_start", _("Give both ends of the window, or none."))
        elif start and end and end <= start:
            self.add_error("window_end", _("The end must be after the start."))
        made_on, keep_until, destroyed_on = data.get("made_on"), data.get("keep_until"), data.get("destroyed_on")
        if made_on and keep_until and keep_until < made_on:
            self.add_error("keep_until", _("A copy cannot be kept until before the day it was made."))
        if made_on and destroyed_on and destroyed_on < made_on:
            self.add_error("destroyed_on", _("A copy cannot be destroyed before the day it was made."))
        if data.get("content") == BackupContent.FOOTAGE and not data.get("cameras"):
            self.add_error("cameras", _("Name the cameras whose footage was copied."))
        return data

    def _save_m2m(self) -> None:
        # Cameras come from a choice field of ids (limited to this property's cameras), not the model's own field.
        super()._save_m2m()  # type: ignore[misc]
        self.instance.cameras.set(self.cleaned_data.get("cameras") or [])


class BackupFilterForm(forms.Form):
    content = forms.ChoiceField(label=_("Content"), required=False, choices=[("", _("All")), *BackupContent.choices])
    made_from = forms.DateField(label=_("Made from"), required=False, widget=DATE_WIDGET, input_formats=["%Y-%m-%d"])
    made_until = forms.DateField(label=_("Made until"), required=False, widget=DATE_WIDGET, input_formats=["%Y-%m-%d"])

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        start, end = data.get("made_from"), data.get("made_until")
        if start and end and end < start:
            self.add_error("made_until", _("The end must be on or after the start."))
        return data

    def filter(self, rows: QuerySet[BackupRecord]) -> QuerySet[BackupRecord]:
        if not self.is_bound or not self.is_valid():
            return rows
        data = self.cleaned_data
        if data.get("content"):
            rows = rows.filter(content=data["content"])
        if data.get("made_from"):
            rows = rows.filter(made_on__gte=data["made_from"])
        if data.get("made_until"):
            rows = rows.filter(made_on__lte=data["made_until"])
        return rows
