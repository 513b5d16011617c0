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
