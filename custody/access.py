"""Load objects for the signed-in user.

Views never fetch a property's objects directly: they go through these helpers, so an object of a
property the user holds no role at is a 404 (its existence never leaks) and a missing role is a 403.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Any, TypeVar

from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.db.models import Model
from django.http import Http404, HttpRequest
from django.http.response import HttpResponseBase
from django.shortcuts import get_object_or_404

from custody.accounts.models import User
from custody.audit import gate
from custody.audit.events import Action
from custody.properties.models import Area, Floor, Property, Room


class AuthedRequest(HttpRequest):
    """A request from a signed-in staff member (views behind login_required / property_view)."""

    user: User
    current_property: Property


M = TypeVar("M", bound=Model)
View = Callable[..., HttpResponseBase]


def get_property_for_user(request: HttpRequest, code: str) -> Property:
    prop = Property.objects.filter(code=code).first()
    if prop is None or not request.user.has_perm("properties.view_property", prop):
        # Logged with the property's id when it exists; the user sees the same 404 either way.
        gate.record_denied(Action.ACCESS_DENIED, actor=request.user, prop=prop,
                           details={"reason": "no_role" if prop else "unknown_property"})
        raise Http404("No such property.")
    return prop


def property_view(permission: str | None = None) -> Callable[[View], View]:
    """Decorate a view under /p/<code>/: sign-in required, property resolved, permission checked.

    The view receives the Property as its second argument instead of the code.
    """

    def decorator(view: View) -> View:
        @login_required
        @wraps(view)
        def wrapper(request: HttpRequest, code: str, *args: Any, **kwargs: Any) -> HttpResponseBase:
            prop = get_property_for_user(request, code)
            if permission and not request.user.has_perm(permission, prop):
                gate.record_denied(Action.ACCESS_DENIED, actor=request.user, prop=prop,
                                   details={"permission": permission})
                raise PermissionDenied
            request.session["current_property"] = prop.code
            request.current_property = prop  # type: ignore[attr-defined]  # set for templates
            return view(request, prop, *args, **kwargs)

        return wrapper

    return decorator


def _get_in_property(model: type[M], prop: Property, pk: int) -> M:
    return get_object_or_404(model, pk=pk, property=prop)


def get_floor_for_user(prop: Property, pk: int) -> Floor:
    return _get_in_property(Floor, prop, pk)


def get_area_for_user(prop: Property, pk: int) -> Area:
    return _get_in_property(Area, prop, pk)


def get_room_for_user(prop: Property, pk: int) -> Room:
    return _get_in_property(Room, prop, pk)


def properties_for_user(user: Any) -> list[Property]:
    if not getattr(user, "is_authenticated", False):
        return []
    return list(Property.objects.filter(role_assignments__user=user).distinct().order_by("name"))
