"""State changes of a property's structure; each is one transaction with the acting user named."""

from __future__ import annotations

from django.db import transaction
from django.db.models import Model, ProtectedError

from custody.accounts.models import User
from custody.properties.forms import PropertyScopedForm
from custody.properties.models import Floor, Property


class StillInUse(Exception):
    """The object is referenced by others (rooms on a floor, cameras in an area) and cannot be deleted."""


@transaction.atomic
def do_save_structure(form: PropertyScopedForm, *, acting_user: User) -> Model:
    obj: Model = form.save()
    return obj


@transaction.atomic
def do_update_property(prop: Property, *, acting_user: User, fields: dict[str, object]) -> None:
    for name, value in fields.items():
        setattr(prop, name, value)
    prop.full_clean()
    prop.save()


@transaction.atomic
def do_delete_structure(obj: Model, *, acting_user: User) -> None:
    plan = obj.plan if isinstance(obj, Floor) and obj.plan else None
    try:
        obj.delete()
    except ProtectedError as exc:
        raise StillInUse(sorted({str(o._meta.verbose_name_plural) for o in exc.protected_objects})) from None
    if plan is not None:
        transaction.on_commit(lambda: plan.delete(save=False))
