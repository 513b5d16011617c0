from __future__ import annotations

import builtins
import zoneinfo
from typing import Any

from django.core.exceptions import ValidationError
from django.core.validators import RegexValidator
from django.db import models
from django.utils.translation import gettext_lazy as _


def validate_timezone(value: str) -> None:
    if value not in zoneinfo.available_timezones():
        raise ValidationError(
            _("%(value)s is not a known IANA time zone, e.g. Asia/Shanghai."), params={"value": value}
        )


class Jurisdiction(models.TextChoices):
    CN = "CN", _("China")
    DE = "DE", _("Germany")
    ES = "ES", _("Spain")
    FR = "FR", _("France")
    GB = "GB", _("United Kingdom")
    IT = "IT", _("Italy")
    NL = "NL", _("Netherlands")
    PT = "PT", _("Portugal")


class Property(models.Model):
    code = models.CharField(
        _("code"),
        max_length=32,
        unique=True,
        validators=[RegexValidator(r"^[a-z0-9][a-z0-9-]*$", _("Use lower-case letters, digits and hyphens."))],
        help_text=_("Short identifier used in addresses, e.g. harbour-view."),
    )
    name = models.CharField(_("name"), max_length=200)
    timezone = models.CharField(_("time zone"), max_length=64, validators=[validate_timezone])
    jurisdiction = models.CharField(_("jurisdiction"), max_length=2, choices=Jurisdiction.choices)
    address = models.CharField(_("address"), max_length=300, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        verbose_name = _("property")
        verbose_name_plural = _("properties")
        ordering = ["name"]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(jurisdiction__in=Jurisdiction.values), name="property_jurisdiction_known"
            )
        ]

    def __str__(self) -> str:
        return self.name


def floor_plan_path(instance: Floor, filename: str) -> str:
    extension = "svg" if filename.lower().endswith(".svg") else "png"
    return f"floor-plans/{instance.property_id}/level-{instance.level}.{extension}"


class Floor(models.Model):
    property = models.ForeignKey(Property, on_delete=models.PROTECT, related_name="floors")
    level = models.SmallIntegerField(_("level"), help_text=_("0 for the ground floor, negative below ground."))
    name = models.CharField(_("name"), max_length=100)
    plan = models.FileField(_("floor plan"), upload_to=floor_plan_path, blank=True)
    plan_content_type = models.CharField(max_length=32, blank=True, editable=False)

    class Meta:
        verbose_name = _("floor")
        verbose_name_plural = _("floors")
        ordering = ["property_id", "level"]
        constraints = [
            models.UniqueConstraint(fields=["property", "level"], name="unique_floor_level"),
            models.CheckConstraint(condition=models.Q(level__gte=-20, level__lte=300), name="floor_level_range"),
        ]

    def __str__(self) -> str:
        return self.name


class AreaClass(models.TextChoices):
    PUBLIC = "public", _("Public")
    STAFF_ONLY = "staff_only", _("Staff only")
    SECURITY = "security", _("Security")
    PRIVATE = "private", _("Private")


class AreaKind(models.TextChoices):
    ENTRANCE = "entrance", _("Entrance")
    LOBBY = "lobby", _("Lobby")
    CORRIDOR = "corridor", _("Corridor")
    ELEVATOR_LOBBY = "elevator_lobby", _("Elevator lobby")
    STAIRWELL = "stairwell", _("Stairwell")
    RESTAURANT = "restaurant", _("Restaurant")
    BAR = "bar", _("Bar")
    MEETING_ROOM = "meeting_room", _("Meeting room")
    GYM = "gym", _("Gym")
    POOL = "pool", _("Pool")
    CAR_PARK = "car_park", _("Car park")
    LOADING_DOCK = "loading_dock", _("Loading dock")
    KITCHEN = "kitchen", _("Kitchen")
    BACK_OFFICE = "back_office", _("Back office")
    STORAGE = "storage", _("Storage")
    SERVER_ROOM = "server_room", _("Server room")
    CASH_OFFICE = "cash_office", _("Cash office")
    SECURITY_ROOM = "security_room", _("Security room")
    GUEST_ROOM = "guest_room", _("Guest room")
    BATHROOM = "bathroom", _("Bathroom or toilet")
    CHANGING_ROOM = "changing_room", _("Changing room")
    TREATMENT_ROOM = "treatment_room", _("Spa or treatment room")
    NURSING_ROOM = "nursing_room", _("Nursing room")


# Invariant 7: these kinds are private by nature and can never hold a camera.
PRIVATE_KINDS: frozenset[str] = frozenset(
    {AreaKind.GUEST_ROOM, AreaKind.BATHROOM, AreaKind.CHANGING_ROOM, AreaKind.TREATMENT_ROOM, AreaKind.NURSING_ROOM}
)
DEFAULT_CLASS_FOR_KIND: dict[str, str] = {
    **{kind: AreaClass.PRIVATE for kind in PRIVATE_KINDS},
    AreaKind.KITCHEN: AreaClass.STAFF_ONLY,
    AreaKind.BACK_OFFICE: AreaClass.STAFF_ONLY,
    AreaKind.STORAGE: AreaClass.STAFF_ONLY,
    AreaKind.LOADING_DOCK: AreaClass.STAFF_ONLY,
    AreaKind.SERVER_ROOM: AreaClass.SECURITY,
    AreaKind.CASH_OFFICE: AreaClass.SECURITY,
    AreaKind.SECURITY_ROOM: AreaClass.SECURITY,
}


class Area(models.Model):
    property = models.ForeignKey(Property, on_delete=models.PROTECT, related_name="areas")
    floor = models.ForeignKey(
        Floor,
        on_delete=models.PROTECT,
        related_name="areas",
        null=True,
        blank=True,
        help_text=_("Leave empty for outdoor areas."),
    )
    name = models.CharField(_("name"), max_length=100)
    kind = models.CharField(_("kind"), max_length=32, choices=AreaKind.choices)
    area_class = models.CharField(_("class"), max_length=16, choices=AreaClass.choices)

    class Meta:
        verbose_name = _("area")
        verbose_name_plural = _("areas")
        ordering = ["property_id", "floor__level", "name"]
        constraints = [
            models.UniqueConstraint(fields=["property", "name"], name="unique_area_name"),
            models.CheckConstraint(condition=models.Q(kind__in=AreaKind.values), name="area_kind_known"),
            models.CheckConstraint(condition=models.Q(area_class__in=AreaClass.values), name="area_class_known"),
            # A private kind is always of class private, so the camera rule can rest on the class alone.
            models.CheckConstraint(
                condition=~models.Q(kind__in=sorted(PRIVATE_KINDS)) | models.Q(area_class=AreaClass.PRIVATE),
                name="private_kind_is_private_class",
            ),
        ]

    def __str__(self) -> str:
        return self.name

    @builtins.property
    def is_private(self) -> bool:
        return self.area_class == AreaClass.PRIVATE or self.kind in PRIVATE_KINDS

    def clean(self) -> None:
        errors: dict[str, Any] = {}
        if self.kind in PRIVATE_KINDS and self.area_class != AreaClass.PRIVATE:
            errors["area_class"] = _("A %(kind)s is a private space; its class must be Private.") % {
                "kind": self.get_kind_display()
            }
        if self.floor is not None and self.property_id and self.floor.property_id != self.property_id:
            errors["floor"] = _("That floor belongs to another property.")
        if self.pk and self.is_private and self.cameras.exists():
            errors["area_class"] = _("This area holds cameras; a private area can never hold a camera.")
        if errors:
            raise ValidationError(errors)

    def save(self, *args: Any, **kwargs: Any) -> None:
        # Invariant 7 at the model layer: an area that holds cameras cannot become private.
        if self.pk and self.is_private and self.cameras.exists():
            raise ValidationError({"area_class": _("This area holds cameras; a private area can never hold a camera.")})
        super().save(*args, **kwargs)


class RoomType(models.TextChoices):
    SINGLE = "single", _("Single")
    DOUBLE = "double", _("Double")
    TWIN = "twin", _("Twin")
    FAMILY = "family", _("Family")
    SUITE = "suite", _("Suite")
    ACCESSIBLE = "accessible", _("Accessible")


class Room(models.Model):
    property = models.ForeignKey(Property, on_delete=models.PROTECT, related_name="rooms")
    floor = models.ForeignKey(Floor, on_delete=models.PROTECT, related_name="rooms")
    number = models.CharField(
        _("number"),
        max_length=16,
        validators=[RegexValidator(r"^[A-Za-z0-9][A-Za-z0-9-]*$", _("Use letters, digits and hyphens."))],
    )
    room_type = models.CharField(_("type"), max_length=16, choices=RoomType.choices)

    class Meta:
        verbose_name = _("room")
        verbose_name_plural = _("rooms")
        ordering = ["property_id", "number"]
        constraints = [
            models.UniqueConstraint(fields=["property", "number"], name="unique_room_number"),
            models.CheckConstraint(condition=models.Q(room_type__in=RoomType.values), name="room_type_known"),
        ]

    def __str__(self) -> str:
        return self.number

    def clean(self) -> None:
        if self.floor_id and self.property_id and self.floor.property_id != self.property_id:
            raise ValidationError({"floor": _("That floor belongs to another property.")})
