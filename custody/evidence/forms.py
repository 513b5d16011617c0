"""The "new export" form: cameras limited to the grant's, the window defaulting to the grant's, a watermark option.

Times are read in the property's time zone (the views run under it) and may carry seconds.
"""

from __future__ import annotations

from typing import Any

from django import forms
from django.utils.translation import gettext_lazy as _

from custody.footage.models import Camera
from custody.requests.forms import moment_field
from custody.requests.models import Grant

WIDGET_FORMAT = "%Y-%m-%dT%H:%M:%S"


def _moment(label: Any) -> forms.DateTimeField:
    field = moment_field(label, required=True)
    field.widget = forms.DateTimeInput(attrs={"type": "datetime-local", "step": "1"}, format=WIDGET_FORMAT)
    return field


class ExportForm(forms.Form):
    cameras = forms.ModelMultipleChoiceField(
        label=_("Cameras"),
        queryset=Camera.objects.none(),
        widget=forms.CheckboxSelectMultiple,
        error_messages={"required": _("Choose at least one camera.")},
    )
    start = _moment(_("From"))
    end = _moment(_("Until"))
    watermark = forms.BooleanField(
        label=_("Burn in a watermark"),
        required=False,
        help_text=_(
            "Re-encodes the clips with the request number, the export and your name on every frame. Without it the "
            "clips are exact stream copies of the recordings (cameras with privacy masks are always re-encoded)."
        ),
    )

    def __init__(self, *args: Any, grant: Grant, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.grant = grant
        cameras = self.fields["cameras"]
        assert isinstance(cameras, forms.ModelMultipleChoiceField)
        cameras.queryset = grant.cameras.select_related("area").order_by("code")
        cameras.label_from_instance = lambda obj: f"{obj.code} · {obj.name}"  # type: ignore[method-assign]
        if not self.is_bound:
            self.initial.setdefault("cameras", list(cameras.queryset))
            self.initial.setdefault("start", grant.window_start)
            self.initial.setdefault("end", grant.window_end)

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean() or {}
        start, end = cleaned.get("start"), cleaned.get("end")
        if start and end and end <= start:
            self.add_error("end", _("The window ends before it starts."))
        # Whether the window lies inside the grant is checked by the grant itself, so a refusal is logged.
        return cleaned
