"""Invariant 7: an area of a private kind can never hold a camera, at the model layer and in the database."""

from __future__ import annotations

import pytest
from django.core.exceptions import ValidationError
from django.db import IntegrityError, connection, transaction

from custody.footage.models import Camera
from custody.properties.models import PRIVATE_KINDS, Area, AreaClass, AreaKind
from tests.conftest import Hotel


@pytest.mark.parametrize("kind", sorted(PRIVATE_KINDS))
def test_camera_refused_in_every_private_kind(hotel: Hotel, kind: str) -> None:
    area = Area.objects.create(
        property=hotel.prop, floor=hotel.floor, name=f"A {kind}", kind=kind, area_class=AreaClass.PRIVATE
    )
    with pytest.raises(ValidationError, match="private area"):
        Camera(property=hotel.prop, area=area, code="X1", name="x").save()
    assert not Camera.objects.filter(area=area).exists()


def test_private_kind_must_have_private_class(hotel: Hotel) -> None:
    with pytest.raises(IntegrityError), transaction.atomic():
        Area.objects.create(property=hotel.prop, name="Room 9", kind=AreaKind.GUEST_ROOM, area_class=AreaClass.PUBLIC)


def test_camera_cannot_be_moved_into_private_area(hotel: Hotel) -> None:
    hotel.camera.area = hotel.bathroom
    with pytest.raises(ValidationError):
        hotel.camera.save()
    hotel.camera.refresh_from_db()
    assert hotel.camera.area == hotel.lobby


def test_area_with_camera_cannot_become_private(hotel: Hotel) -> None:
    hotel.lobby.kind = AreaKind.CHANGING_ROOM
    hotel.lobby.area_class = AreaClass.PRIVATE
    with pytest.raises(ValidationError):
        hotel.lobby.save()
    hotel.lobby.refresh_from_db()
    assert hotel.lobby.area_class == AreaClass.PUBLIC


def test_database_trigger_refuses_raw_insert(hotel: Hotel) -> None:
    with pytest.raises(IntegrityError, match="invariant 7"), transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(
            "INSERT INTO footage_camera (property_id, area_id, code, name, status) VALUES (%s, %s, %s, %s, %s)",
            [hotel.prop.pk, hotel.bathroom.pk, "RAW", "raw", "active"],
        )
    assert not Camera.objects.filter(code="RAW").exists()


def test_database_trigger_refuses_bulk_move(hotel: Hotel) -> None:
    with pytest.raises(IntegrityError, match="invariant 7"), transaction.atomic():
        Camera.objects.filter(pk=hotel.camera.pk).update(area=hotel.bathroom)
    assert Camera.objects.get(pk=hotel.camera.pk).area_id == hotel.lobby.pk


def test_database_trigger_refuses_bulk_reclassification(hotel: Hotel) -> None:
    with pytest.raises(IntegrityError, match="invariant 7"), transaction.atomic():
        Area.objects.filter(pk=hotel.lobby.pk).update(area_class=AreaClass.PRIVATE)
    assert Area.objects.get(pk=hotel.lobby.pk).area_class == AreaClass.PUBLIC


def test_camera_allowed_in_public_staff_and_security_areas(hotel: Hotel) -> None:
    for area_class, kind in [(AreaClass.STAFF_ONLY, AreaKind.KITCHEN), (AreaClass.SECURITY, AreaKind.SECURITY_ROOM)]:
        area = Area.objects.create(property=hotel.prop, name=kind, kind=kind, area_class=area_class)
        Camera(property=hotel.prop, area=area, code=f"C-{kind}", name=kind).save()
    assert Camera.objects.filter(property=hotel.prop).count() == 3
