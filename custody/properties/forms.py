from __future__ import annotations

from typing import Any

from django import forms
from django.core.files.uploadedfile import UploadedFile
from django.core.validators import MaxValueValidator, MinValueValidator
from django.utils.translation import gettext_lazy as _

from custody.lib.images import ImageRejected, check_png, check_svg
from custody.properties.models import DEFAULT_CLASS_FOR_KIND, PRIVATE_KINDS, Area, AreaClass, Floor, Property, Room

MAX_PLAN_BYTES = 5 * 1024 * 1024
MIN_FLOOR_LEVEL, MAX_FLOOR_LEVEL = -20, 300


class PropertyForm(forms.ModelForm):
    class Meta:
        model = Property
        fields = ["name", "timezone", "jurisdiction", "address"]


class PropertyScopedForm(forms.ModelForm):
    """A form for an object of one property; the property is fixed, never a form field."""

    def __init__(self, *args: Any, prop: Property, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.instance.property = prop
        if "floor" in self.fields:
            self.fields["floor"].queryset = prop.floors.all()  # type: ignore[attr-defined]

    def _get_validation_exclusions(self) -> set[str]:
        # Keep the property in model validation so per-property uniqueness is a form error, not a crash.
        excluded: set[str] = super()._get_validation_exclusions()  # type: ignore[misc]  # not in django-stubs
        excluded.discard("property")
        return excluded


class FloorForm(PropertyScopedForm):
    plan = forms.FileField(
        label=_("Floor plan"),
        required=False,
        help_text=_("PNG or SVG, at most 5 MB. SVG files may not contain scripts or outside links."),
        widget=forms.ClearableFileInput(attrs={"accept": ".png,.svg,image/png,image/svg+xml"}),
    )

    class Meta:
        model = Floor
        fields = ["level", "name", "plan"]

    def __init__(self, *args: Any, prop: Property, **kwargs: Any) -> None:
        super().__init__(*args, prop=prop, **kwargs)
        self.plan_content_type: str | None = None
        # The same range as the floor_level_range constraint, so a bad level is an error on the field
        # rather than an anonymous "constraint violated" message.
        level = self.fields["level"]
        level.validators += [MinValueValidator(MIN_FLOOR_LEVEL), MaxValueValidator(MAX_FLOOR_LEVEL)]
        level.widget.attrs.update({"min": MIN_FLOOR_LEVEL, "max": MAX_FLOOR_LEVEL})

    def clean_plan(self) -> Any:
        upload = self.cleaned_data.get("plan")
        if not isinstance(upload, UploadedFile):
            return upload
        if upload.size is None or upload.size > MAX_PLAN_BYTES:
            raise forms.ValidationError(_("The plan is larger than 5 MB."))
        data = upload.read()
        upload.seek(0)
        name = (upload.name or "").lower()
        try:
            if name.endswith(".png"):
                check_png(data)
                self.plan_content_type = "image/png"
            elif name.endswith(".svg"):
                check_svg(data)
                self.plan_content_type = "image/svg+xml"
            else:
                raise forms.ValidationError(_("Upload a .png or .svg file."))
        except ImageRejected as exc:
            raise forms.ValidationError(_("This file was refused: %(reason)s.") % {"reason": exc}) from None
        return upload

    def save(self, commit: bool = True) -> Floor:
        floor: Floor = super().save(commit=False)
        if self.plan_content_type:
            floor.plan_content_type = self.plan_content_type
        elif not floor.plan:
            floor.plan_content_type = ""
        if commit:
            floor.save()
        return floor


class AreaForm(PropertyScopedForm):
    class Meta:
        model = Area
        fields = ["name", "floor", "kind", "area_class"]
        labels = {"floor": _("Floor")}

    def __init__(self, *args: Any, prop: Property, **kwargs: Any) -> None:
        super().__init__(*args, prop=prop, **kwargs)
        self.fields["area_class"].required = False
        self.fields["area_class"].help_text = _(
            "Guest rooms, bathrooms, changing, treatment and nursing rooms are always private: no camera may "
            "ever be placed there. Leave empty to use the usual class for the kind."
        )

    def clean(self) -> dict[str, Any] | None:
        cleaned = super().clean() or {}
        kind = cleaned.get("kind")
        # An empty class means "the usual class for the kind", which is Private for these kinds.
        if kind in PRIVATE_KINDS and cleaned.get("area_class") not in (None, "", AreaClass.PRIVATE):
            self.add_error("area_class", _("This kind of area is private; choose the class Private."))
        if kind and not cleaned.get("area_class"):
            cleaned["area_class"] = DEFAULT_CLASS_FOR_KIND.get(kind, AreaClass.PUBLIC)
        return cleaned


class RoomForm(PropertyScopedForm):
    class Meta:
        model = Room
        fields = ["number", "floor", "room_type"]
        labels = {"floor": _("Floor")}
