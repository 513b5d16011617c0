from __future__ import annotations

from typing import Any

from django.http import HttpRequest
from django.urls import reverse
from django.utils.translation import gettext_lazy as _

from custody.access import properties_for_user
from custody.accounts.roles import Role

# (permission, url name, label): the navigation a user sees at the current property.
NAVIGATION = [
    ("properties.view_property", "core:home", _("Home")),
    ("guests.front_desk", "desk:today", _("Front desk")),
    ("properties.manage_structure", "properties:floor_list", _("Floors")),
    ("properties.manage_structure", "properties:area_list", _("Areas")),
    ("properties.manage_structure", "properties:room_list", _("Rooms")),
    ("accounts.manage_staff", "staff:list", _("Staff")),
    ("audit.view_log", "audit:log", _("Audit log")),
    ("properties.manage_structure", "properties:property_edit", _("Settings")),
]


def custody(request: HttpRequest) -> dict[str, Any]:
    user = getattr(request, "user", None)
    current = getattr(request, "current_property", None)
    if user is None or not user.is_authenticated:
        return {"current_property": None, "my_properties": [], "my_roles": [], "navigation": []}
    navigation = []
    if current is not None:
        for permission, url_name, label in NAVIGATION:
            if user.has_perm(permission, current):
                url = reverse(url_name, kwargs={"code": current.code})
                navigation.append({"url": url, "label": label, "active": request.path == url})
    return {
        "current_property": current,
        "my_properties": properties_for_user(user),
        "my_roles": [Role(r).label for r in sorted(user.roles_at(current))] if current is not None else [],
        "navigation": navigation,
    }
