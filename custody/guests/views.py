"""Front-desk pages: today's lists, check-in (walk-in or booked arrival), in-house stay detail with audited unmask,
contact and preferences edit, check-out, booking-reference lookup (by POST: a reference never appears in a URL).

What each page may show and every decryption live in custody.guests.desk and custody.guests.vault; these views
validate and render. Pages that show guest data are never cached.
"""

from __future__ import annotations

import uuid
from typing import Any

from django import forms
from django.contrib import messages
from django.http import HttpResponse
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.utils.translation import ngettext
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_http_methods, require_POST, require_safe

from custody.access import AuthedRequest, property_view
from custody.guests import desk
from custody.guests.cleaning import GuestDataError
from custody.guests.forms import ArrivalForm, BookingLookupForm, CheckInForm, ContactForm, UnmaskReason
from custody.guests.models import Stay
from custody.guests.vault import ROOM_OCCUPIED
from custody.properties.models import Property

FRONT_DESK = "guests.front_desk"


@require_safe
@never_cache
@property_view(FRONT_DESK)
def today(request: AuthedRequest, prop: Property) -> HttpResponse:
    lists = desk.todays_lists(prop, actor=request.user)
    context = {**lists, "today": desk.property_today(prop), "lookup_form": BookingLookupForm()}
    return render(request, "guests/today.html", context)


@require_http_methods(["GET", "POST"])
@never_cache
@property_view(FRONT_DESK)
def check_in(request: AuthedRequest, prop: Property) -> HttpResponse:
    form = CheckInForm(request.POST or None, prop=prop, today=desk.property_today(prop))
    if request.method == "POST" and form.is_valid():
        try:
            stay = desk.do_check_in(prop, form.cleaned_data, acting_user=request.user)
        except GuestDataError as exc:
            _add_error(form, exc)
        else:
            messages.success(request, _("Guest checked in."))
            return redirect("desk:stay", code=prop.code, stay_id=stay.pk)
    return render(request, "guests/check_in.html", {"form": form}, status=400 if form.errors else 200)


def _add_error(form: forms.Form, exc: GuestDataError) -> None:
    """Put a vault refusal on the field it names (the room one in the user's language)."""
    message = _("This room already has a guest in house.") if exc.message == ROOM_OCCUPIED else exc.message
    form.add_error(exc.field if exc.field in form.fields else None, message)


@require_http_methods(["GET", "POST"])
@never_cache
@property_view(FRONT_DESK)
def arrive(request: AuthedRequest, prop: Property, stay_id: uuid.UUID) -> HttpResponse:
    """Check in a guest whose stay was booked for today."""
    stay = desk.get_arriving_stay(prop, stay_id)
    today = desk.property_today(prop)
    initial = desk.arrival_initial(stay, actor=request.user, prop=prop) if request.method == "GET" else None
    form = ArrivalForm(request.POST or None, initial=initial, prop=prop, today=today)
    if request.method == "POST" and form.is_valid():
        try:
            stay = desk.do_arrival(stay, form.cleaned_data, acting_user=request.user)
        except GuestDataError as exc:
            _add_error(form, exc)
        else:
            messages.success(request, _("Guest checked in."))
            return redirect("desk:stay", code=prop.code, stay_id=stay.pk)
    context = {"form": form, "stay": stay}
    return render(request, "guests/arrive.html", context, status=400 if form.errors else 200)


@require_http_methods(["GET", "POST"])
@never_cache
@property_view(FRONT_DESK)
def edit_contact(request: AuthedRequest, prop: Property, stay_id: uuid.UUID) -> HttpResponse:
    """Change an in-house guest's contact details, preferences, needs and the stay's requests."""
    stay = desk.get_in_house_stay_for_user(prop, stay_id)
    before = desk.contact_initial(stay, actor=request.user, prop=prop)
    form = ContactForm(request.POST or None, initial=before)
    if request.method == "POST" and form.is_valid():
        try:
            changed = desk.update_contact(stay, form.cleaned_data, before, acting_user=request.user)
        except GuestDataError as exc:
            _add_error(form, exc)
        else:
            messages.success(request, _("Details saved.") if changed else _("Nothing was changed."))
            return redirect("desk:stay", code=prop.code, stay_id=stay.pk)
    context = {"form": form, "stay": stay}
    return render(request, "guests/edit_contact.html", context, status=400 if form.errors else 200)


@require_POST
@never_cache
@property_view(FRONT_DESK)
def check_out(request: AuthedRequest, prop: Property, stay_id: uuid.UUID) -> HttpResponse:
    stay = desk.get_in_house_stay_for_user(prop, stay_id)
    desk.do_check_out(stay, acting_user=request.user)
    messages.success(request, _("Guest checked out; the room is free."))
    return redirect("desk:today", code=prop.code)


def _stay_page(
    request: AuthedRequest, prop: Property, stay: Stay, form: UnmaskReason, unmasked: list[dict[str, str]] | None
) -> HttpResponse:
    context = {
        "stay": stay,
        "detail": desk.stay_detail(stay, actor=request.user, prop=prop),
        "unmask_form": form,
        "unmasked": unmasked,
    }
    return render(request, "guests/stay.html", context, status=400 if form.errors else 200)


@require_safe
@never_cache
@property_view(FRONT_DESK)
def stay_detail(request: AuthedRequest, prop: Property, stay_id: uuid.UUID) -> HttpResponse:
    stay = desk.get_in_house_stay_for_user(prop, stay_id)
    return _stay_page(request, prop, stay, UnmaskReason(), None)


@require_POST
@never_cache
@property_view(FRONT_DESK)
def unmask(request: AuthedRequest, prop: Property, stay_id: uuid.UUID) -> HttpResponse:
    stay = desk.get_in_house_stay_for_user(prop, stay_id)
    form = UnmaskReason(request.POST)
    unmasked = None
    if form.is_valid():
        unmasked = desk.unmask_document(stay, actor=request.user, prop=prop, reason=form.cleaned_data["reason"])
    return _stay_page(request, prop, stay, form, unmasked)


@require_http_methods(["GET", "POST"])
@never_cache
@property_view(FRONT_DESK)
def lookup(request: AuthedRequest, prop: Property) -> HttpResponse:
    """The booking-reference lookup: the form (GET, which never reads a reference from the URL) and the lookup
    itself (POST, CSRF-protected, limited per user and per property: 429 with Retry-After)."""
    form = BookingLookupForm(request.POST if request.method == "POST" else None)
    context: dict[str, Any] = {"form": form, "rows": None, "today": desk.property_today(prop)}
    if not form.is_bound:
        return render(request, "guests/lookup.html", context)
    if not form.is_valid():
        return render(request, "guests/lookup.html", context, status=400)
    # A fresh form: the page does not repeat the reference (nor does it differ by what was typed).
    context["form"] = BookingLookupForm()
    try:
        context["rows"] = desk.lookup_by_booking_reference(prop, form.cleaned_data["reference"], actor=request.user)
    except desk.LookupLimited as exc:
        minutes = max(1, -(-exc.retry_after // 60))
        context["limited"] = ngettext(
            "Too many lookups. Try again in %(minutes)s minute.",
            "Too many lookups. Try again in %(minutes)s minutes.",
            minutes,
        ) % {"minutes": minutes}
        response = render(request, "guests/lookup.html", context, status=429)
        response["Retry-After"] = str(exc.retry_after)
        return response
    return render(request, "guests/lookup.html", context)
