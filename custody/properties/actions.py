"""State changes of a property's structure; each is one transaction with the acting user named."""

from __future__ import annotations

from django.db import transaction
from django.db.models import Model, ProtectedError

from custody.accounts.models import User
from custody.audit.events import Action
from custody.audit.gate import record
from custody.properties.forms import PropertyScopedForm
from custody.properties.models import Area, Floor, Property, Room

SAVED = {Floor: Action.FLOOR_SAVED, Area: Action.AREA_SAVED, Room: Action.ROOM_SAVED}
DELETED = {Floor: Action.FLOOR_DELETED, Area: Action.AREA_DELETED, Room: Action.ROOM_DELETED}


class StillInUse(Exception):
    """The object is referenced by others (rooms on a floor, cameras in an area) and cannot be deleted."""


@transaction.atomic
def do_save_structure(form: PropertyScopedForm, *, acting_user: User) -> Model:
    created = form.instance.pk is None
    obj: Model = form.save()
    record(SAVED[type(obj)], actor=acting_user, prop=form.instance.property, obj=obj,
           details={"created": created, "fields": sorted(form.changed_data)})
    return obj


@transaction.atomic
def do_update_property(prop: Property, *, acting_user: User, fields: dict[str, object]) -> None:
    changed = sorted(name for name, value in fields.items() if getattr(prop, name) != value)
    for name, value in fields.items():
        setattr(prop, name, value)
    prop.full_clean()
    prop.save()
    record(Action.PROPERTY_UPDATED, actor=acting_user, prop=prop, obj=prop, details={"fields": changed})


@transaction.atomic
def do_delete_structure(obj: Model, *, acting_user: User) -> None:
    plan = obj.plan if isinstance(obj, Floor) and obj.plan else None
    record(DELETED[type(obj)], actor=acting_user, prop=obj.property, obj=obj)  # type: ignore[attr-defined]
    try:
        obj.delete()
    except ProtectedError as exc:
        raise StillInUse(sorted({str(o._meta.verbose_name_plural) for o in exc.protected_objects})) from None
    if plan is not None:
        transaction.on_commit(lambda: plan.delete(save=False))
