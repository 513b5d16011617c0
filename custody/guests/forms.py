"""Front-desk forms. They check shape only; the vault (custody.guests.cleaning) has the last word on each value."""

from __future__ import annotations

import datetime as dt
from typing import Any

from django import forms
from django.utils.translation import gettext_lazy as _

from custody.crypto.blind_index import normalize
from custody.guests.models import DocumentType, IndexKind, Sex, Stay, StayStatus
from custody.properties.models import Property, Room

DATE_WIDGET = forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d")


class RoomChoiceField(forms.ModelChoiceField):
    """Rooms by number; a room with a guest in house says so (choosing it is refused by the vault)."""

    occupied: set[int] = set()

    def label_from_instance(self, obj: Any) -> str:
        return _("%(room)s (occupied)") % {"room": obj.number} if obj.pk in self.occupied else str(obj.number)


class CheckInForm(forms.Form):
    """A walk-in or booked guest arriving now: guest, identity document and stay, registered in one go.

    Field names are the vault's, so a GuestDataError lands on the field it names.
    """

    surname = forms.CharField(label=_("Surname"), max_length=200)
    second_surname = forms.CharField(label=_("Second surname"), max_length=200, required=False)
    given_names = forms.CharField(label=_("Given names"), max_length=200)
    sex = forms.ChoiceField(label=_("Sex"), choices=Sex.choices)
    date_of_birth = forms.DateField(label=_("Date of birth"), widget=DATE_WIDGET)
    nationality = forms.CharField(label=_("Nationality"), max_length=64)
    address = forms.CharField(label=_("Address"), max_length=500, required=False, widget=forms.Textarea({"rows": 2}))
    phone = forms.CharField(label=_("Phone"), max_length=64, required=False)
    email = forms.EmailField(label=_("E-mail"), max_length=254, required=False)
    doc_type = forms.ChoiceField(label=_("Document type"), choices=DocumentType.choices)
    number = forms.CharField(label=_("Document number"), max_length=64)
    issuing_country = forms.CharField(label=_("Issuing country"), max_length=64)
    expiry_date = forms.DateField(label=_("Document expiry date"), widget=DATE_WIDGET, required=False)
    room = RoomChoiceField(label=_("Room"), queryset=Room.objects.none())
    check_out_planned = forms.DateField(label=_("Planned check-out"), widget=DATE_WIDGET)
    booking_reference = forms.CharField(label=_("Booking reference"), max_length=64, required=False)
    special_requests = forms.CharField(
        label=_("Special requests"), max_length=4000, required=False, widget=forms.Textarea({"rows": 3})
    )

    def __init__(self, *args: Any, prop: Property, today: dt.date, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.today = today
        room_field = self.fields["room"]
        assert isinstance(room_field, RoomChoiceField)
        room_field.queryset = prop.rooms.select_related("floor").order_by("number")
        occupied = set(
            Stay.objects.filter(property=prop, status=StayStatus.IN_HOUSE, room__isnull=False).values_list(
                "room_id", flat=True
            )
        )
        room_field.occupied = occupied

    def clean_date_of_birth(self) -> dt.date:
        born: dt.date = self.cleaned_data["date_of_birth"]
        if born > self.today:
            raise forms.ValidationError(_("The date of birth is in the future."))
        return born

    def clean_expiry_date(self) -> dt.date | None:
        expiry: dt.date | None = self.cleaned_data.get("expiry_date")
        if expiry is not None and expiry < self.today:
            raise forms.ValidationError(_("This document has expired."))
        return expiry

    def clean_check_out_planned(self) -> dt.date:
        leaving: dt.date = self.cleaned_data["check_out_planned"]
        if leaving < self.today:
            raise forms.ValidationError(_("The planned check-out is before today."))
        return leaving


class ArrivalForm(CheckInForm):
    """The check-in of a stay booked for today: the booked name (correct it to the document), the document shown,
    the room and departure date. Contact fields left blank keep what the booking holds."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        del self.fields["booking_reference"]
        for name in ("second_surname", "address", "phone", "email"):
            self.fields[name].help_text = _("Leave blank to keep what the booking holds.")


class ContactForm(forms.Form):
    """What the desk may change for a guest in house: contact details, preferences, needs and requests."""

    phone = forms.CharField(label=_("Phone"), max_length=64, required=False)
    email = forms.EmailField(label=_("E-mail"), max_length=254, required=False)
    address = forms.CharField(label=_("Address"), max_length=500, required=False, widget=forms.Textarea({"rows": 2}))
    preferences = forms.CharField(
        label=_("Preferences"), max_length=4000, required=False, widget=forms.Textarea({"rows": 3})
    )
    special_needs = forms.CharField(
        label=_("Special needs"), max_length=4000, required=False, widget=forms.Textarea({"rows": 3})
    )
    special_requests = forms.CharField(
        label=_("Special requests"), max_length=4000, required=False, widget=forms.Textarea({"rows": 3})
    )


class UnmaskReason(forms.Form):
    """Why a masked identity document number is shown in full; the code goes into the audit entry."""

    REASONS = [
        ("identity_check", _("Identity check at the desk")),
        ("statutory_report", _("Statutory guest report")),
        ("guest_request", _("The guest asked for it")),
        ("other", _("Other reason")),
    ]

    reason = forms.ChoiceField(label=_("Reason"), choices=[("", "---------"), *REASONS])


class BookingLookupForm(forms.Form):
    """One exact booking reference. Sent by POST only, so it never lands in a URL, a server log or the history."""

    reference = forms.CharField(label=_("Booking reference"), max_length=64, strip=True)

    def clean_reference(self) -> str:
        reference: str = self.cleaned_data["reference"]
        try:
            normalize(IndexKind.BOOKING_REFERENCE, reference)
        except ValueError:
            raise forms.ValidationError(_("Enter a booking reference: it needs letters or digits.")) from None
        return reference
