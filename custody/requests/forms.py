"""Forms of the access-request pages. They check shape only (types, lengths, choices that exist at this property);
custody.requests.actions has the last word on every rule, and its RequestError lands on the field it names.

Date-times are entered and shown in the property's time zone: the views run inside ``timezone.override`` of it,
so a ``datetime-local`` value is read as the property's wall-clock time.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from django import forms
from django.core.files.uploadedfile import UploadedFile
from django.utils.translation import gettext_lazy as _

from custody.accounts.roles import Role
from custody.footage.models import Camera
from custody.properties.models import Area, AreaClass, Property
from custody.requests import policy
from custody.requests.actions import (
    INSTRUMENT_MAX_BYTES,
    Narrowing,
    RequestData,
    RequestError,
    check_instrument,
)
from custody.requests.guest_scope import SECOND_KIND_LABELS, SECOND_KINDS, check_guest_item, guest_label
from custody.requests.models import (
    FOOTAGE_TYPES,
    GUEST_TYPES,
    AccessRequest,
    AreaSensitivity,
    IdentityCheck,
    LegalBasis,
    Purpose,
    RequesterKind,
    RequestType,
    ReviewOutcome,
    Status,
    Urgency,
)

DATE_WIDGET = forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d")
MOMENT_FORMATS = ["%Y-%m-%dT%H:%M", "%Y-%m-%dT%H:%M:%S", "%Y-%m-%d %H:%M", "%Y-%m-%d %H:%M:%S"]
GUEST_ROWS = 5
MAX_GUEST_ROWS = 50
TEXT_LIMIT = 4000

# How the kind of a guest of a scope reads: always a name (with a second identifier, see guest_scope.SECOND_KINDS).
GUEST_KIND_LABELS = {"name": _("Guest")}
EMERGENCY_KINDS = [
    ("fire", _("Fire")),
    ("violence", _("Violence or threat")),
    ("missing_person", _("Missing person")),
    ("medical", _("Medical emergency")),
    ("other", _("Other emergency")),
]


def moment_field(label: Any, *, required: bool = False) -> forms.DateTimeField:
    return forms.DateTimeField(
        label=label,
        required=required,
        input_formats=MOMENT_FORMATS,
        widget=forms.DateTimeInput(attrs={"type": "datetime-local"}, format="%Y-%m-%dT%H:%M"),
    )


def camera_choices(cameras: Iterable[Camera]) -> list[tuple[str, list[tuple[int, str]]]]:
    """Cameras grouped by their area (the group label names the area and its class)."""
    groups: dict[int, tuple[str, list[tuple[int, str]]]] = {}
    for camera in cameras:
        area = camera.area
        label = f"{area.name} · {AreaClass(area.area_class).label}" if area.area_class else area.name
        groups.setdefault(area.pk, (label, []))[1].append((camera.pk, f"{camera.code} {camera.name}"))
    return sorted(groups.values(), key=lambda group: str(group[0]))


def property_cameras(prop: Property) -> list[Camera]:
    return list(Camera.objects.filter(property=prop).select_related("area").order_by("area__name", "code"))


# How a refusal names a field that the form at hand does not show (e.g. the scope, re-checked when answering).
FIELD_LABELS = {
    "request_type": _("Type of request"),
    "purpose": _("Purpose"),
    "purpose_text": _("Purpose, in words"),
    "legal_basis": _("Legal basis"),
    "organisation": _("Organisation"),
    "contact_name": _("Contact name"),
    "contact_email": _("Contact e-mail"),
    "contact_phone": _("Contact phone"),
    "identity_check": _("How the requester's identity was checked"),
    "instrument": _("Legal instrument (copy)"),
    "instrument_reference": _("Legal instrument reference"),
    "cameras": _("Cameras"),
    "areas": _("Areas"),
    "window_start": _("Footage from"),
    "window_end": _("Footage until"),
    "guests": _("Guests"),
    "stay_from": _("Stays from"),
    "stay_until": _("Stays until"),
    "requester_kind": _("Kind of requester"),
    "contact": _("Contact"),
    "fields": _("Guest fields shown"),
    "grant_days": _("Grant valid for (days)"),
    "view_quota": _("Uses allowed"),
    "reason": _("Reason"),
    "text": _("Your answer"),
    "outcome": _("Outcome"),
    "notes": _("Notes"),
}


def put_error(form: forms.Form, exc: RequestError, aliases: dict[str, str] | None = None) -> None:
    """Show an action's refusal on the field it names; one the form does not show goes above it, named."""
    name = (aliases or {}).get(exc.field, exc.field)
    if name in form.fields:
        form.add_error(name, exc.message)
    elif exc.field:
        form.add_error(None, f"{FIELD_LABELS.get(exc.field, exc.field)}: {exc.message}")
    else:
        form.add_error(None, exc.message)


class RequestForm(forms.Form):
    """The application form: who asks, why, under which legal basis, with which instrument, for what scope."""

    request_type = forms.ChoiceField(label=_("Type of request"), choices=RequestType.choices)
    purpose = forms.ChoiceField(label=_("Purpose"), choices=Purpose.choices)
    purpose_text = forms.CharField(
        label=_("Purpose, in words"),
        required=False,
        max_length=TEXT_LIMIT,
        widget=forms.Textarea({"rows": 3}),
        help_text=_("What happened or what case this serves. Required for “Other purpose”."),
    )
    legal_basis = forms.ChoiceField(label=_("Legal basis"), choices=LegalBasis.choices)
    urgency = forms.ChoiceField(label=_("Urgency"), choices=Urgency.choices, initial=Urgency.NORMAL)
    requester_kind = forms.ChoiceField(
        label=_("Kind of requester"), choices=RequesterKind.choices, initial=RequesterKind.STAFF
    )
    organisation = forms.CharField(label=_("Organisation"), required=False, max_length=200)
    contact_name = forms.CharField(label=_("Contact name"), required=False, max_length=254)
    contact_email = forms.EmailField(label=_("Contact e-mail"), required=False, max_length=254)
    contact_phone = forms.CharField(label=_("Contact phone"), required=False, max_length=64)
    identity_check = forms.ChoiceField(
        label=_("How the requester's identity was checked"), choices=IdentityCheck.choices, required=False
    )
    instrument_reference = forms.CharField(
        label=_("Legal instrument reference"),
        required=False,
        max_length=200,
        help_text=_("Case, order or warrant number."),
    )
    instrument = forms.FileField(
        label=_("Legal instrument (copy)"),
        required=False,
        help_text=_("PDF, PNG or JPEG, at most 10 MB."),
        widget=forms.ClearableFileInput(attrs={"accept": "application/pdf,image/png,image/jpeg"}),
    )
    cameras = forms.TypedMultipleChoiceField(
        label=_("Cameras"), coerce=int, required=False, widget=forms.CheckboxSelectMultiple
    )
    areas = forms.TypedMultipleChoiceField(
        label=_("Areas (every camera in them)"), coerce=int, required=False, widget=forms.CheckboxSelectMultiple
    )
    window_start = moment_field(_("Footage from"))
    window_end = moment_field(_("Footage until"))
    # Refusals of the guest rows as a whole land here; the rows themselves are guest_<n>_<part> fields.
    guests = forms.CharField(
        required=False,
        widget=forms.HiddenInput,
        help_text=_(
            "Name each guest and add one more identifier: a date of birth, an ID document number, a booking reference "
            "or a date of their stay. A name alone is not enough: many people share one, and the grant must find "
            "this person and no one else. Give the stays' window below too: only the guest's stays inside it are "
            "shown."
        ),
    )
    guest_rows = forms.IntegerField(required=False, widget=forms.HiddenInput, min_value=1, max_value=MAX_GUEST_ROWS)
    stay_from = forms.DateField(label=_("Stays from"), required=False, widget=DATE_WIDGET)
    stay_until = forms.DateField(label=_("Stays until"), required=False, widget=DATE_WIDGET)

    def __init__(self, *args: Any, prop: Property, guest_rows: int = GUEST_ROWS, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.prop = prop
        self.instrument_on_file = False
        self.cameras_by_pk = {c.pk: c for c in property_cameras(prop)}
        self.fields["cameras"].choices = camera_choices(self.cameras_by_pk.values())  # type: ignore[attr-defined]
        areas = Area.objects.filter(property=prop).exclude(area_class=AreaClass.PRIVATE).order_by("name")
        self.areas_by_pk = {a.pk: a for a in areas if not a.is_private}
        self.fields["areas"].choices = [  # type: ignore[attr-defined]
            (a.pk, f"{a.name} · {AreaClass(a.area_class).label}") for a in self.areas_by_pk.values()
        ]
        if self.is_bound:
            try:
                guest_rows = int(self.data.get("guest_rows") or GUEST_ROWS)
            except ValueError:
                guest_rows = GUEST_ROWS
        self.guest_row_count = min(max(guest_rows, GUEST_ROWS), MAX_GUEST_ROWS)
        self.fields["guest_rows"].initial = self.guest_row_count
        kinds = [("", "---------"), *((k, SECOND_KIND_LABELS[k]) for k in SECOND_KINDS)]
        for n in range(self.guest_row_count):
            self.fields[f"guest_{n}_surname"] = forms.CharField(label=_("Surname"), required=False, max_length=200)
            self.fields[f"guest_{n}_given_names"] = forms.CharField(
                label=_("Given names"), required=False, max_length=200
            )
            self.fields[f"guest_{n}_second_kind"] = forms.ChoiceField(
                label=_("Second identifier"), choices=kinds, required=False
            )
            self.fields[f"guest_{n}_second_value"] = forms.CharField(
                label=_("Its value"), required=False, max_length=200
            )

    # -- presentation ---------------------------------------------------------------------------------------------

    def guest_row_fields(self) -> list[tuple[int, list[forms.BoundField]]]:
        parts = ("surname", "given_names", "second_kind", "second_value")
        return [(n + 1, [self[f"guest_{n}_{part}"] for part in parts]) for n in range(self.guest_row_count)]

    def main_fields(self, *names: str) -> list[forms.BoundField]:
        return [self[name] for name in names]

    @property
    def about_fields(self) -> list[forms.BoundField]:
        return self.main_fields("request_type", "purpose", "purpose_text", "legal_basis", "urgency")

    @property
    def requester_fields(self) -> list[forms.BoundField]:
        return self.main_fields(
            "requester_kind", "organisation", "contact_name", "contact_email", "contact_phone", "identity_check"
        )

    @property
    def instrument_fields(self) -> list[forms.BoundField]:
        return self.main_fields("instrument_reference", "instrument")

    @property
    def footage_fields(self) -> list[forms.BoundField]:
        return self.main_fields("cameras", "areas", "window_start", "window_end")

    @property
    def stay_fields(self) -> list[forms.BoundField]:
        return self.main_fields("stay_from", "stay_until")

    # -- cleaning -------------------------------------------------------------------------------------------------

    def clean_instrument(self) -> tuple[bytes, str] | None:
        upload: UploadedFile | None = self.cleaned_data.get("instrument")
        if not upload:
            return None
        if upload.size is not None and upload.size > INSTRUMENT_MAX_BYTES:
            raise forms.ValidationError(_("The file is larger than 10 MB."))
        data = upload.read(INSTRUMENT_MAX_BYTES + 1)
        try:
            check_instrument(data, upload.name or "")
        except RequestError as exc:
            raise forms.ValidationError(exc.message) from None
        return data, (upload.name or "instrument")[-200:]

    def _guest_items(self) -> list[dict[str, str]]:
        """The filled guest rows in the stored shape (guest_scope.check_guest_item); row gaps on their fields."""
        items = []
        for n in range(self.guest_row_count):
            surname = (self.cleaned_data.get(f"guest_{n}_surname") or "").strip()
            given = (self.cleaned_data.get(f"guest_{n}_given_names") or "").strip()
            second_kind = self.cleaned_data.get(f"guest_{n}_second_kind") or ""
            second = (self.cleaned_data.get(f"guest_{n}_second_value") or "").strip()
            if not (surname or given or second):
                continue  # a blank row
            item = {"kind": "name", "surname": surname, "given_names": given, "second_kind": second_kind,
                    "second_value": second}  # fmt: skip
            if not surname:
                self.add_error(f"guest_{n}_surname", _("A surname is required."))
            elif not second_kind:
                self.add_error(f"guest_{n}_second_kind", _("Choose the second identifier."))
            elif not second:
                self.add_error(f"guest_{n}_second_value", _("Give the second identifier."))
            else:
                try:
                    item = check_guest_item(item, n + 1)
                except RequestError as exc:
                    self.add_error(f"guest_{n}_second_value", exc.message)
            items.append(item)
        return items

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean() or {}
        request_type = cleaned.get("request_type", "")
        cleaned["guest_items"] = self._guest_items() if request_type in GUEST_TYPES else []
        # Only the scope that belongs to the type is kept (a form shows every section without JavaScript).
        if request_type not in FOOTAGE_TYPES:
            cleaned["cameras"], cleaned["areas"] = [], []
            cleaned["window_start"] = cleaned["window_end"] = None
        if request_type != RequestType.STAY_WINDOW and request_type not in GUEST_TYPES:
            cleaned["stay_from"] = cleaned["stay_until"] = None
        return cleaned

    def to_data(self) -> RequestData:
        c = self.cleaned_data
        instrument = c.get("instrument")
        kind = c["requester_kind"]
        return RequestData(
            request_type=c["request_type"],
            purpose=c["purpose"],
            legal_basis=c["legal_basis"],
            purpose_text=c.get("purpose_text", ""),
            urgency=c["urgency"],
            requester_kind=kind,
            organisation=c.get("organisation", "") if kind != RequesterKind.STAFF else "",
            contact={
                "name": c.get("contact_name", ""),
                "email": c.get("contact_email", ""),
                "phone": c.get("contact_phone", ""),
            }
            if kind != RequesterKind.STAFF
            else {},
            identity_check=c.get("identity_check", "") if kind != RequesterKind.STAFF else "",
            instrument_reference=c.get("instrument_reference", ""),
            instrument=instrument[0] if instrument else None,
            instrument_name=instrument[1] if instrument else "",
            cameras=[self.cameras_by_pk[pk] for pk in c.get("cameras") or []],
            areas=[self.areas_by_pk[pk] for pk in c.get("areas") or []],
            window_start=c.get("window_start"),
            window_end=c.get("window_end"),
            guests=c["guest_items"],
            stay_from=c.get("stay_from"),
            stay_until=c.get("stay_until"),
        )


# RequestError field names that are not form fields of the same name.
REQUEST_FIELD_ALIASES = {"instrument_name": "instrument"}


def initial_from(data: RequestData) -> tuple[dict[str, Any], int]:
    """The form's initial values for a draft being edited, and how many guest rows it needs."""
    initial: dict[str, Any] = {
        "request_type": data.request_type,
        "purpose": data.purpose,
        "purpose_text": data.purpose_text,
        "legal_basis": data.legal_basis,
        "urgency": data.urgency,
        "requester_kind": data.requester_kind,
        "organisation": data.organisation,
        "contact_name": data.contact.get("name", ""),
        "contact_email": data.contact.get("email", ""),
        "contact_phone": data.contact.get("phone", ""),
        "identity_check": data.identity_check,
        "instrument_reference": data.instrument_reference,
        "cameras": [c.pk for c in data.cameras],
        "areas": [a.pk for a in data.areas],
        "window_start": data.window_start,
        "window_end": data.window_end,
        "stay_from": data.stay_from,
        "stay_until": data.stay_until,
    }
    for n, item in enumerate(data.guests):
        initial[f"guest_{n}_surname"] = item.get("surname", "")
        initial[f"guest_{n}_given_names"] = item.get("given_names", "")
        initial[f"guest_{n}_second_kind"] = item.get("second_kind", "")
        initial[f"guest_{n}_second_value"] = item.get("second_value", "")
    return initial, max(GUEST_ROWS, len(data.guests) + 2)


# --- review ---------------------------------------------------------------------------------------------------------


class ReasonForm(forms.Form):
    """A note with an approval, the reason of a denial or revocation, or a reviewer's question."""

    reason = forms.CharField(
        label=_("Reason"), required=False, max_length=TEXT_LIMIT, widget=forms.Textarea({"rows": 2})
    )

    def __init__(self, *args: Any, label: Any = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if label is not None:
            self.fields["reason"].label = label


class AnswerForm(forms.Form):
    text = forms.CharField(
        label=_("Your answer"), required=False, max_length=TEXT_LIMIT, widget=forms.Textarea({"rows": 3})
    )


class ScopeChoiceField(forms.TypedMultipleChoiceField):
    """Ids or indexes chosen among the request's scope. A number outside the choices is not a form error: whether
    a narrowing lies inside the request is the action's to decide, and its refusal is audited (NarrowingRefused)."""

    def valid_value(self, value: Any) -> bool:
        return True


class NarrowingForm(forms.Form):
    """An approval of less than was asked: a subset of cameras or guests, a shorter window, validity or quota.

    Every field starts at what the request asks for; what is left unchanged is not narrowed.
    """

    cameras = ScopeChoiceField(label=_("Cameras"), coerce=int, required=False, widget=forms.CheckboxSelectMultiple)
    window_start = moment_field(_("Footage from"))
    window_end = moment_field(_("Footage until"))
    guest_items = ScopeChoiceField(label=_("Guests"), coerce=int, required=False, widget=forms.CheckboxSelectMultiple)
    stay_from = forms.DateField(label=_("Stays from"), required=False, widget=DATE_WIDGET)
    stay_until = forms.DateField(label=_("Stays until"), required=False, widget=DATE_WIDGET)
    grant_days = forms.IntegerField(
        label=_("Grant valid for (days)"), required=False, min_value=1, max_value=30, help_text=_("1 to 30 days.")
    )
    view_quota = forms.IntegerField(label=_("Uses allowed"), required=False, min_value=1, max_value=100000)
    reason = forms.CharField(label=_("Note"), required=False, max_length=TEXT_LIMIT, widget=forms.Textarea({"rows": 2}))

    def __init__(
        self,
        *args: Any,
        request: AccessRequest,
        scope_cameras: Sequence[Camera],
        guests: Sequence[dict[str, str]],
        **kwargs: Any,
    ) -> None:
        super().__init__(*args, **kwargs)
        self.access_request = request
        self.scope_camera_ids = [c.pk for c in scope_cameras]
        self.guest_count = len(guests)
        if request.is_footage:
            self.fields["cameras"].choices = camera_choices(scope_cameras)  # type: ignore[attr-defined]
            self.fields["cameras"].initial = self.scope_camera_ids
            self.fields["window_start"].initial = request.window_start
            self.fields["window_end"].initial = request.window_end
        else:
            for name in ("cameras", "window_start", "window_end"):
                del self.fields[name]
        if guests:
            self.fields["guest_items"].choices = [  # type: ignore[attr-defined]
                (n, f"{n + 1}. {guest_label(item)}")
                for n, item in enumerate(guests)
            ]
            self.fields["guest_items"].initial = list(range(len(guests)))
        else:
            del self.fields["guest_items"]
        if request.stay_from and request.stay_until:  # a stay window, or the window of a guest lookup
            self.fields["stay_from"].initial = request.stay_from
            self.fields["stay_until"].initial = request.stay_until
        else:
            del self.fields["stay_from"], self.fields["stay_until"]

    def to_narrowing(self) -> Narrowing:
        c, r = self.cleaned_data, self.access_request

        def changed(name: str, requested: Any) -> Any:
            value = c.get(name)
            return value if value is not None and value != requested else None

        cameras: list[int] = c.get("cameras") or []
        guest_items: list[int] = c.get("guest_items") or []
        return Narrowing(
            cameras=sorted(cameras) if "cameras" in c and set(cameras) != set(self.scope_camera_ids) else None,
            window_start=changed("window_start", r.window_start),
            window_end=changed("window_end", r.window_end),
            guest_items=sorted(guest_items)
            if "guest_items" in c and set(guest_items) != set(range(self.guest_count))
            else None,
            stay_from=changed("stay_from", r.stay_from),
            stay_until=changed("stay_until", r.stay_until),
            grant_days=c.get("grant_days"),
            view_quota=c.get("view_quota"),
        )


# --- lists ----------------------------------------------------------------------------------------------------------

OPEN = "open"
ALL = "all"


class QueueFilterForm(forms.Form):
    status = forms.ChoiceField(
        label=_("Status"),
        required=False,
        choices=[(OPEN, _("Waiting for review")), (ALL, _("Any status")), *Status.choices],
    )
    request_type = forms.ChoiceField(
        label=_("Request type"), required=False, choices=[("", _("Any type")), *RequestType.choices]
    )


# --- grants and break-glass -----------------------------------------------------------------------------------------


class BreakGlassForm(forms.Form):
    emergency = forms.ChoiceField(label=_("Emergency"), choices=[("", "---------"), *EMERGENCY_KINDS])
    cameras = forms.TypedMultipleChoiceField(label=_("Cameras"), coerce=int, widget=forms.CheckboxSelectMultiple)
    window_start = moment_field(_("Footage from"), required=True)
    window_end = moment_field(_("Footage until"), required=True)
    reason = forms.CharField(
        label=_("Reason"),
        max_length=TEXT_LIMIT,
        widget=forms.Textarea({"rows": 3}),
        help_text=_("What is happening and why the footage cannot wait for a review."),
    )

    def __init__(self, *args: Any, prop: Property, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.cameras_by_pk = {c.pk: c for c in property_cameras(prop)}
        self.fields["cameras"].choices = camera_choices(self.cameras_by_pk.values())  # type: ignore[attr-defined]

    def chosen_cameras(self) -> list[Camera]:
        return [self.cameras_by_pk[pk] for pk in self.cleaned_data["cameras"]]


class BreakGlassReviewForm(forms.Form):
    outcome = forms.ChoiceField(
        label=_("Outcome"), choices=ReviewOutcome.choices, widget=forms.RadioSelect, required=False
    )
    notes = forms.CharField(
        label=_("Notes"),
        required=False,
        max_length=TEXT_LIMIT,
        widget=forms.Textarea({"rows": 2}),
        help_text=_("Required when the grant was not justified."),
    )


# --- approval policy ------------------------------------------------------------------------------------------------

REVIEWER_ROLE_CHOICES = [(role, Role(role).label) for role in policy.REVIEWERS]


class PolicyRuleForm(forms.Form):
    approvals_required = forms.TypedChoiceField(
        label=_("Approvers needed"), coerce=int, choices=[(1, "1"), (2, "2"), (3, "3")]
    )
    approver_roles = forms.MultipleChoiceField(
        label=_("Roles that may approve"), choices=REVIEWER_ROLE_CHOICES, widget=forms.CheckboxSelectMultiple
    )
    instrument_required = forms.BooleanField(label=_("Legal instrument required"), required=False)
    max_window_minutes = forms.IntegerField(label=_("Longest footage window (minutes)"), min_value=1, max_value=24 * 60)
    grant_days = forms.IntegerField(label=_("Grant valid for (days)"), min_value=1, max_value=30)
    view_quota = forms.IntegerField(
        label=_("Uses allowed per grant"),
        required=False,
        min_value=1,
        max_value=100000,
        help_text=_("Empty: no limit on uses while the grant is valid."),
    )
    due_days = forms.IntegerField(
        label=_("Answer due in (days)"),
        required=False,
        min_value=1,
        max_value=365,
        help_text=_("Empty: one calendar month."),
    )

    def __init__(self, *args: Any, request_type: str, sensitivity: str, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.request_type = request_type
        self.sensitivity = sensitivity

    @property
    def needs_two(self) -> bool:
        return self.request_type in policy.ALWAYS_TWO or self.sensitivity == AreaSensitivity.PRIVATE_ADJACENT

    def clean_approvals_required(self) -> int:
        value: int = self.cleaned_data["approvals_required"]
        if self.needs_two and value < 2:
            raise forms.ValidationError(_("This kind of request always needs at least two approvers."))
        return value


def policy_initial(rule: policy.Requirement) -> dict[str, Any]:
    return {
        "approvals_required": rule.approvals_required,
        "approver_roles": list(rule.approver_roles),
        "instrument_required": rule.instrument_required,
        "max_window_minutes": rule.max_window_minutes,
        "grant_days": rule.grant_days,
        "view_quota": rule.view_quota,
        "due_days": rule.due_days,
    }
