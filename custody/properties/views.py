"""Floors, areas and rooms of a property, managed by its property managers and IT admins."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django.contrib import messages
from django.db.models import Count, Model
from django.http import FileResponse, Http404, HttpResponse, HttpResponseBase
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_http_methods, require_POST, require_safe

from custody.access import AuthedRequest, get_area_for_user, get_floor_for_user, get_room_for_user, property_view
from custody.properties import actions
from custody.properties.forms import AreaForm, FloorForm, PropertyForm, PropertyScopedForm, RoomForm
from custody.properties.models import Property

MANAGE = "properties.manage_structure"


def _edit(
    request: AuthedRequest,
    prop: Property,
    form_class: type[PropertyScopedForm],
    instance: Model | None,
    list_url: str,
    title: Any,
) -> HttpResponse:
    form = form_class(request.POST or None, request.FILES or None, instance=instance, prop=prop)
    if request.method == "POST" and form.is_valid():
        obj = actions.do_save_structure(form, acting_user=request.user)
        messages.success(request, _("%(object)s saved.") % {"object": obj})
        return redirect(list_url, code=prop.code)
    context = {"form": form, "title": title, "cancel_url": list_url, "object": instance}
    return render(request, "properties/form.html", context, status=400 if form.errors else 200)


def _delete(request: AuthedRequest, prop: Property, obj: Model, list_url: str) -> HttpResponse:
    try:
        actions.do_delete_structure(obj, acting_user=request.user)
    except actions.StillInUse as exc:
        messages.error(
            request,
            _("%(object)s is still in use by: %(users)s. Move or delete those first.")
            % {"object": obj, "users": ", ".join(exc.args[0])},
        )
        return redirect(list_url, code=prop.code)
    messages.success(request, _("%(object)s deleted.") % {"object": obj})
    return redirect(list_url, code=prop.code)


@require_http_methods(["GET", "POST"])
@property_view(MANAGE)
def property_edit(request: AuthedRequest, prop: Property) -> HttpResponse:
    form = PropertyForm(request.POST or None, instance=Property.objects.get(pk=prop.pk))
    if request.method == "POST" and form.is_valid():
        actions.do_update_property(prop, acting_user=request.user, fields=form.cleaned_data)
        messages.success(request, _("Property settings saved."))
        return redirect("core:home", code=prop.code)
    context = {"form": form, "title": _("Property settings"), "cancel_url": "core:home"}
    return render(request, "properties/form.html", context, status=400 if form.errors else 200)


@require_safe
@property_view(MANAGE)
def floor_list(request: AuthedRequest, prop: Property) -> HttpResponse:
    floors = prop.floors.annotate(room_count=Count("rooms", distinct=True), area_count=Count("areas", distinct=True))
    return render(request, "properties/floor_list.html", {"floors": floors})


def _crud_views(
    model_label: str,
    form_class: type[PropertyScopedForm],
    getter: Callable[[Property, int], Any],
    create_title: Any,
    edit_title: Any,
) -> tuple[Callable[..., HttpResponseBase], Callable[..., HttpResponseBase], Callable[..., HttpResponseBase]]:
    list_url = f"properties:{model_label}_list"

    @require_http_methods(["GET", "POST"])
    @property_view(MANAGE)
    def create(request: AuthedRequest, prop: Property) -> HttpResponse:
        return _edit(request, prop, form_class, None, list_url, create_title)

    @require_http_methods(["GET", "POST"])
    @property_view(MANAGE)
    def edit(request: AuthedRequest, prop: Property, pk: int) -> HttpResponse:
        return _edit(request, prop, form_class, getter(prop, pk), list_url, edit_title)

    @require_POST
    @property_view(MANAGE)
    def delete(request: AuthedRequest, prop: Property, pk: int) -> HttpResponse:
        return _delete(request, prop, getter(prop, pk), list_url)

    return create, edit, delete


floor_create, floor_edit, floor_delete = _crud_views(
    "floor", FloorForm, get_floor_for_user, gettext_lazy("New floor"), gettext_lazy("Edit floor")
)
area_create, area_edit, area_delete = _crud_views(
    "area", AreaForm, get_area_for_user, gettext_lazy("New area"), gettext_lazy("Edit area")
)
room_create, room_edit, room_delete = _crud_views(
    "room", RoomForm, get_room_for_user, gettext_lazy("New room"), gettext_lazy("Edit room")
)


@require_safe
@property_view(MANAGE)
def floor_plan(request: AuthedRequest, prop: Property, pk: int) -> HttpResponseBase:
    floor = get_floor_for_user(prop, pk)
    if not floor.plan:
        raise Http404("This floor has no plan.")
    response = FileResponse(floor.plan.open("rb"), content_type=floor.plan_content_type or "application/octet-stream")
    # An SVG opened on its own must not run anything, whatever slipped past validation.
    response.headers["Content-Security-Policy"] = "default-src 'none'; style-src 'unsafe-inline'; sandbox"
    response.headers["Content-Disposition"] = "inline"
    return response


@require_safe
@property_view(MANAGE)
def area_list(request: AuthedRequest, prop: Property) -> HttpResponse:
    areas = prop.areas.select_related("floor").annotate(camera_count=Count("cameras"))
    return render(request, "properties/area_list.html", {"areas": areas})


@require_safe
@property_view(MANAGE)
def room_list(request: AuthedRequest, prop: Property) -> HttpResponse:
    rooms = prop.rooms.select_related("floor").order_by("floor__level", "number")
    return render(request, "properties/room_list.html", {"rooms": rooms})
