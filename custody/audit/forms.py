from __future__ import annotations

from typing import Any

from django import forms
from django.utils.translation import gettext_lazy as _

from custody.audit.events import Action, Outcome


class AuditFilterForm(forms.Form):
    actor = forms.CharField(label=_("Actor (user name)"), max_length=150, required=False)
    action = forms.ChoiceField(label=_("Action"), required=False, choices=[("", _("Any")), *list(Action.choices)])
    outcome = forms.ChoiceField(label=_("Outcome"), required=False, choices=[("", _("Any")), *list(Outcome.choices)])
    object_type = forms.CharField(label=_("Object type"), max_length=64, required=False)
    object_id = forms.CharField(label=_("Object id"), max_length=64, required=False)
    request = forms.CharField(label=_("Request"), max_length=64, required=False)
    date_from = forms.DateField(label=_("From (UTC date)"), required=False,
                                widget=forms.DateInput(attrs={"type": "date"}))
    date_to = forms.DateField(label=_("To (UTC date)"), required=False, widget=forms.DateInput(attrs={"type": "date"}))

    def clean(self) -> dict[str, Any] | None:
        cleaned = super().clean() or {}
        start, end = cleaned.get("date_from"), cleaned.get("date_to")
        if start and end and start > end:
            self.add_error("date_to", _("The end date is before the start date."))
        return cleaned

    def used_filters(self) -> list[str]:
        return sorted(name for name, value in self.cleaned_data.items() if value not in (None, ""))
