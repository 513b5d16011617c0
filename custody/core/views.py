from __future__ import annotations

from datetime import timedelta

from django.conf import settings
from django.contrib.auth.decorators import login_required
from django.db.models import Count
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseBadRequest
from django.shortcuts import redirect, render
from django.utils import timezone
from django.utils.translation import gettext
from django.views.decorators.http import require_POST, require_safe
from django.views.i18n import set_language as django_set_language
from django_otp.plugins.otp_totp.models import TOTPDevice
from django_tasks_db.models import DBTaskResult

from custody.access import AuthedRequest, get_property_for_user, properties_for_user, property_view
from custody.accounts.models import User
from custody.accounts.roles import ROLE_DUTIES, Role
from custody.core.models import WorkerHeartbeat
from custody.properties.models import AreaClass, Property, RoomType


@require_safe
@login_required
def root(request: HttpRequest) -> HttpResponse:
    """Send the user to the home page of their current (or first) property."""
    mine = properties_for_user(request.user)
    if not mine:
        return render(request, "core/no_property.html", status=403)
    wanted = request.session.get("current_property")
    prop = next((p for p in mine if p.code == wanted), mine[0])
    return redirect("core:home", code=prop.code)


@require_POST
@login_required
def switch_property(request: HttpRequest) -> HttpResponse:
    code = request.POST.get("property", "")
    try:
        prop = get_property_for_user(request, code)
    except Http404:
        return render(request, "core/no_property.html", status=404)
    request.session["current_property"] = prop.code
    return redirect("core:home", code=prop.code)


@require_safe
@property_view("properties.view_property")
def home(request: AuthedRequest, prop: Property) -> HttpResponse:
    roles = request.user.roles_at(prop)
    context: dict[str, object] = {
        "property": prop,
        "role_cards": [(Role(r), ROLE_DUTIES[Role(r)]) for r in Role.values if r in roles],
        "floors": prop.floors.annotate(
            room_count=Count("rooms", distinct=True), area_count=Count("areas", distinct=True)
        ),
        "counts": {
            "floors": prop.floors.count(),
            "areas": prop.areas.count(),
            "rooms": prop.rooms.count(),
            "cameras": prop.cameras.count(),
        },
    }
    areas_by_class = dict(prop.areas.values_list("area_class").annotate(n=Count("id")).values_list("area_class", "n"))
    context["areas_by_class"] = [(value, label, areas_by_class.get(value, 0)) for value, label in AreaClass.choices]
    if Role.FRONT_DESK in roles:
        by_type = dict(prop.rooms.values_list("room_type").annotate(n=Count("id")).values_list("room_type", "n"))
        context["rooms_by_type"] = [(label, by_type[value]) for value, label in RoomType.choices if value in by_type]
    if roles & {Role.SECURITY_OFFICER, Role.SECURITY_MANAGER}:
        cameras = dict(
            prop.cameras.values_list("area__area_class").annotate(n=Count("id")).values_list("area__area_class", "n")
        )
        context["cameras_by_class"] = [(value, label, cameras.get(value, 0)) for value, label in AreaClass.choices]
    if roles & {Role.PROPERTY_MANAGER, Role.IT_ADMIN, Role.AUDITOR, Role.PRIVACY_OFFICER}:
        staff = User.objects.filter(role_assignments__property=prop).distinct()
        with_totp = TOTPDevice.objects.filter(user__in=staff, confirmed=True).values("user").distinct().count()
        context["staff"] = {
            "total": staff.count(),
            "active": staff.filter(is_active=True).count(),
            "with_two_factor": with_totp,
        }
    if Role.IT_ADMIN in roles:
        fresh = timezone.now() - timedelta(minutes=2)
        context["workers"] = WorkerHeartbeat.objects.all()[:10]
        context["workers_alive"] = WorkerHeartbeat.objects.filter(last_seen__gte=fresh).count()
        context["jobs"] = {
            "ready": DBTaskResult.objects.ready().count(),
            "running": DBTaskResult.objects.running().count(),
            "failed": DBTaskResult.objects.failed().count(),
        }
    return render(request, "core/home.html", context)


@require_POST
def set_language(request: HttpRequest) -> HttpResponse:
    """Django's set_language, but an unknown language is a 400 naming the field instead of a silent no-op."""
    codes = [code for code, _name in settings.LANGUAGES]
    if request.POST.get("language") not in codes:
        return HttpResponseBadRequest(
            gettext("The field 'language' must be one of: %(codes)s.") % {"codes": ", ".join(codes)}
        )
    return django_set_language(request)
