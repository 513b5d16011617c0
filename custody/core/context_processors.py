from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.http import HttpRequest
from django.urls import reverse
from django.utils.translation import gettext_lazy as _

from custody.access import properties_for_user
from custody.accounts.roles import Role


@dataclass(frozen=True)
class NavItem:
    label: Any
    pages: tuple[tuple[str, str], ...]  # (permission, url name): the link goes to the first one the user may see
    section: str = ""  # a path under /p/<code>/ whose pages all mark the item current; default: the page itself


def nav(label: Any, permission: str, url_name: str, section: str = "") -> NavItem:
    return NavItem(label, ((permission, url_name),), section)


# The navigation a user sees at the current property.
NAVIGATION = [
    nav(_("Home"), "properties.view_property", "core:home"),
    nav(_("Front desk"), "guests.front_desk", "desk:today"),
    nav(_("Floors"), "properties.manage_structure", "properties:floor_list"),
    nav(_("Areas"), "properties.manage_structure", "properties:area_list"),
    nav(_("Rooms"), "properties.manage_structure", "properties:room_list"),
    # Reviewers who do not administer staff still confirm proposed roles: for them Staff opens the proposals.
    NavItem(
        _("Staff"),
        (("accounts.manage_staff", "staff:list"), ("accounts.view_role_proposals", "staff:proposals")),
        section="staff/",
    ),
    nav(_("Cameras"), "footage.view_cameras", "footage:camera_list", section="footage/"),
    nav(_("Exports"), "evidence.view_exports", "evidence:list", section="evidence/"),
    NavItem(
        _("Retention"),
        (
            ("retention.view_holds", "retention:holds"),
            ("retention.view_destruction", "retention:records"),
            ("retention.view_backups", "retention:backups"),
        ),
        section="retention/",
    ),
    nav(_("Audit log"), "audit.view_log", "audit:log"),
    nav(_("Settings"), "properties.manage_structure", "properties:property_edit"),
]


def custody(request: HttpRequest) -> dict[str, Any]:
    user = getattr(request, "user", None)
    current = getattr(request, "current_property", None)
    if user is None or not user.is_authenticated:
        return {"current_property": None, "my_properties": [], "my_roles": [], "navigation": []}
    navigation = []
    if current is not None:
        for item in NAVIGATION:
            allowed = [url_name for permission, url_name in item.pages if user.has_perm(permission, current)]
            if not allowed:
                continue
            url = reverse(allowed[0], kwargs={"code": current.code})
            if item.section:
                active = request.path.startswith(f"/p/{current.code}/{item.section}")
            else:
                active = request.path == url
            navigation.append({"url": url, "label": item.label, "active": active})
    return {
        "current_property": current,
        "my_properties": properties_for_user(user),
        "my_roles": [Role(r).label for r in sorted(user.roles_at(current))] if current is not None else [],
        "navigation": navigation,
    }
