"""Every retention URL (legal holds, destruction records, backup register) for every role."""

# The fixtures `world` and `client_as` come from tests.test_permissions; the tests name them as arguments.
# ruff: noqa: F811

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from django.urls import reverse
from django.utils import timezone
from django_tasks_db.models import DBTaskResult

from custody.accounts.roles import Role
from custody.retention import holds
from custody.retention.models import (
    BackupContent,
    BackupMedium,
    BackupRecord,
    DestructionKind,
    DestructionRecord,
    LegalHold,
)
from tests.test_permissions import (  # noqa: F401  (fixtures)
    METHOD_NOT_ALLOWED,
    WHO,
    Post,
    Redirect,
    Row,
    World,
    at_hotel,
    client_as,
    fast_hashing,
    post_rows,
    prop_kwargs,
    run_get,
    run_post,
    world,
)

SM, PO, PM, IT, AU = (
    Role.SECURITY_MANAGER.value,
    Role.PRIVACY_OFFICER.value,
    Role.PROPERTY_MANAGER.value,
    Role.IT_ADMIN.value,
    Role.AUDITOR.value,
)
SETTERS = {SM, PO, PM}
RELEASERS = {PO, PM}
HOLD_READERS = {SM, PO, PM, AU}
DESTRUCTION_READERS = {PO, PM, AU, IT}
BACKUP_WRITERS = {IT, SM}
BACKUP_READERS = {IT, SM, PO, PM, AU}
START = dt.datetime(2026, 1, 10, 9, 0, tzinfo=dt.UTC)


def the_hold(w: World, hotel: Any = None) -> LegalHold:
    hotel = hotel or w.hotel
    key = f"hold-{hotel.prop.code}"
    if key not in w.requests:
        w.requests[key] = holds.set_hold(
            hotel.prop, cameras=[hotel.camera], start=START, end=START + dt.timedelta(hours=1),
            case_reference="MATRIX-1", reason="Matrix reason",
            acting_user=w.target if hotel is w.hotel else w.other_target,
        )  # fmt: skip
    return w.requests[key]


def the_record(w: World, hotel: Any = None) -> DestructionRecord:
    hotel = hotel or w.hotel
    key = f"record-{hotel.prop.code}"
    if key not in w.requests:
        w.requests[key] = DestructionRecord.objects.create(
            property=hotel.prop, kind=DestructionKind.FOOTAGE_RETENTION, finished_at=timezone.now()
        )
    return w.requests[key]


def the_backup(w: World, hotel: Any = None) -> BackupRecord:
    hotel = hotel or w.hotel
    key = f"backup-{hotel.prop.code}"
    user = w.target if hotel is w.hotel else w.other_target
    if key not in w.requests:
        w.requests[key] = BackupRecord.objects.create(
            property=hotel.prop, made_on=dt.date(2026, 1, 11), content=BackupContent.DATABASE,
            description="Nightly database copy", medium=BackupMedium.DISK, location="Safe", made_by=user,
            recorded_by=user,
        )  # fmt: skip
    return w.requests[key]


def hold_kwargs(w: World) -> dict[str, Any]:
    return {"code": w.hotel.prop.code, "pk": the_hold(w).pk}


def record_kwargs(w: World) -> dict[str, Any]:
    return {"code": w.hotel.prop.code, "pk": the_record(w).pk}


def backup_kwargs(w: World) -> dict[str, Any]:
    return {"code": w.hotel.prop.code, "pk": the_backup(w).pk}


def hold_data(w: World) -> dict[str, Any]:
    return {
        "cameras": [w.hotel.camera.pk], "window_start": "2026-01-10T09:00", "window_end": "2026-01-10T10:00",
        "case_reference": "NEW-HOLD-1", "reason": "Incident in the lobby",
    }  # fmt: skip


def backup_data(w: World) -> dict[str, Any]:
    return {
        "made_on": "2026-01-12", "content": BackupContent.AUDIT_LOG, "description": "Audit export copy",
        "medium": BackupMedium.USB, "location": "Office safe", "made_by": w.target.pk,
    }  # fmt: skip


def edited_backup_data(w: World) -> dict[str, Any]:
    return {**backup_data(w), "description": "Nightly database copy", "destroyed_on": "2026-02-01"}


def backup_changed(w: World) -> bool:
    the_backup(w).refresh_from_db()
    return the_backup(w).destroyed_on is not None


def hold_released(w: World) -> bool:
    the_hold(w).refresh_from_db()
    return the_hold(w).released_at is not None


MATRIX: dict[str, Row] = {
    "retention:holds": Row(prop_kwargs, at_hotel(HOLD_READERS)),
    "retention:hold_new": Row(
        prop_kwargs,
        at_hotel(SETTERS),
        Post(
            hold_data,
            lambda w: LegalHold.objects.filter(case_reference="NEW-HOLD-1").exists(),
            at_hotel(SETTERS, ok=Redirect("/p/seaside/retention/holds/")),
        ),
    ),
    "retention:hold": Row(hold_kwargs, at_hotel(HOLD_READERS)),
    "retention:hold_release": Row(
        hold_kwargs,
        at_hotel(RELEASERS),
        Post(
            lambda w: {"reason": "Case closed"},
            hold_released,
            at_hotel(RELEASERS, ok=Redirect("/p/seaside/retention/holds/")),
        ),
    ),
    "retention:records": Row(prop_kwargs, at_hotel(DESTRUCTION_READERS)),
    "retention:record": Row(record_kwargs, at_hotel(DESTRUCTION_READERS)),
    "retention:run_now": Row(
        prop_kwargs,
        METHOD_NOT_ALLOWED,
        Post(
            lambda w: {},
            lambda w: DBTaskResult.objects.filter(args_kwargs__kwargs__property_code="seaside").exists(),
            at_hotel(RELEASERS, ok=Redirect("/p/seaside/retention/destruction/")),
        ),
    ),
    "retention:backups": Row(prop_kwargs, at_hotel(BACKUP_READERS)),
    "retention:backups_csv": Row(prop_kwargs, at_hotel(BACKUP_READERS)),
    "retention:backup_new": Row(
        prop_kwargs,
        at_hotel(BACKUP_WRITERS),
        Post(
            backup_data,
            lambda w: BackupRecord.objects.filter(description="Audit export copy").exists(),
            at_hotel(BACKUP_WRITERS, ok=Redirect("/p/seaside/retention/backups/")),
        ),
    ),
    "retention:backup_edit": Row(
        backup_kwargs,
        at_hotel(BACKUP_WRITERS),
        Post(
            edited_backup_data, backup_changed, at_hotel(BACKUP_WRITERS, ok=Redirect("/p/seaside/retention/backups/"))
        ),
    ),
}


@pytest.mark.parametrize("who", WHO)
@pytest.mark.parametrize("name", sorted(MATRIX))
def test_get(world: World, client_as: Any, name: str, who: str) -> None:
    run_get(world, client_as, MATRIX, name, who)


@pytest.mark.parametrize("who", WHO)
@pytest.mark.parametrize("name", post_rows(MATRIX))
def test_post(world: World, client_as: Any, name: str, who: str) -> None:
    run_post(world, client_as, MATRIX, name, who)


OTHER_OBJECTS = [
    ("retention:hold", "get", PO, lambda w: {"pk": the_hold(w, w.other).pk}),
    ("retention:hold_release", "get", PM, lambda w: {"pk": the_hold(w, w.other).pk}),
    ("retention:hold_release", "post", PM, lambda w: {"pk": the_hold(w, w.other).pk}),
    ("retention:record", "get", IT, lambda w: {"pk": the_record(w, w.other).pk}),
    ("retention:backup_edit", "get", IT, lambda w: {"pk": the_backup(w, w.other).pk}),
    ("retention:backup_edit", "post", SM, lambda w: {"pk": the_backup(w, w.other).pk}),
]


@pytest.mark.parametrize(
    ("name", "method", "role", "kwargs"), OTHER_OBJECTS, ids=[f"{n}-{m}" for n, m, _, _ in OTHER_OBJECTS]
)
def test_another_propertys_object_is_a_404(
    world: World, client_as: Any, name: str, method: str, role: str, kwargs: Any
) -> None:
    url = reverse(name, kwargs={"code": world.hotel.prop.code, **kwargs(world)})
    client = client_as(role)
    data = {**edited_backup_data(world), "reason": "Closed"}
    response = client.get(url) if method == "get" else client.post(url, data)
    assert response.status_code == 404
    assert the_hold(world, world.other).released_at is None
    assert the_backup(world, world.other).destroyed_on is None
