from __future__ import annotations

from typing import Any

from django import forms
from django.contrib.auth import password_validation
from django.contrib.auth.forms import AuthenticationForm
from django.core.validators import RegexValidator
from django.utils.translation import gettext_lazy as _

from custody.accounts.models import User
from custody.accounts.roles import Role


class LoginForm(AuthenticationForm):
    error_messages = {
        "invalid_login": _("That user name and password do not match. Both fields are case-sensitive."),
        "inactive": _("This account is disabled. Ask your IT admin."),
    }


class TokenForm(forms.Form):
    token = forms.CharField(
        label=_("Code"),
        max_length=32,
        widget=forms.TextInput(attrs={"autocomplete": "one-time-code", "inputmode": "text", "autofocus": True}),
        help_text=_("The 6-digit code from your authenticator app, or one of your recovery codes."),
    )

    def clean_token(self) -> str:
        token = "".join(self.cleaned_data["token"].split()).replace("-", "")
        if not token.isalnum():
            raise forms.ValidationError(_("Codes contain only letters and digits."))
        return token


class SetupTokenForm(TokenForm):
    token = forms.CharField(
        label=_("Code from your app"),
        max_length=8,
        widget=forms.TextInput(attrs={"autocomplete": "one-time-code", "inputmode": "numeric", "autofocus": True}),
        help_text=_("Enter the 6-digit code your authenticator app shows now."),
    )

    def clean_token(self) -> str:
        token = "".join(self.cleaned_data["token"].split())
        if not (token.isdigit() and len(token) == 6):
            raise forms.ValidationError(_("Enter the 6 digits your app shows."))
        return token


def role_field(required: bool) -> forms.MultipleChoiceField:
    return forms.MultipleChoiceField(
        label=_("Roles at this property"),
        choices=Role.choices,
        widget=forms.CheckboxSelectMultiple,
        required=required,
    )


class StaffCreateForm(forms.Form):
    username = forms.CharField(
        label=_("User name"),
        max_length=150,
        validators=[RegexValidator(r"^[A-Za-z0-9._-]+$", _("Use letters, digits, '.', '_' and '-' only."))],
    )
    display_name = forms.CharField(label=_("Display name"), max_length=150)
    email = forms.EmailField(label=_("Work e-mail"), required=False)
    password1 = forms.CharField(
        label=_("Temporary password"),
        widget=forms.PasswordInput,
        strip=False,
        help_text=_("At least 12 characters. The user must change it at first sign-in."),
    )
    password2 = forms.CharField(label=_("Temporary password again"), widget=forms.PasswordInput, strip=False)
    roles = role_field(required=True)

    def clean_username(self) -> str:
        username: str = self.cleaned_data["username"]
        if User.objects.filter(username__iexact=username).exists():
            raise forms.ValidationError(_("That user name is taken."))
        return username

    def clean(self) -> dict[str, Any] | None:
        cleaned = super().clean() or {}
        first, second = cleaned.get("password1"), cleaned.get("password2")
        if first and second and first != second:
            self.add_error("password2", _("The two passwords differ."))
        elif first:
            candidate = User(username=cleaned.get("username", ""), email=cleaned.get("email", ""))
            try:
                password_validation.validate_password(first, candidate)
            except forms.ValidationError as exc:
                self.add_error("password1", exc)
        return cleaned


class StaffEditForm(forms.Form):
    display_name = forms.CharField(label=_("Display name"), max_length=150)
    email = forms.EmailField(label=_("Work e-mail"), required=False)
    roles = role_field(required=False)
