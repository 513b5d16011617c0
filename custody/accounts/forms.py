from __future__ import annotations

from django import forms
from django.contrib.auth.forms import AuthenticationForm, SetPasswordForm
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
        help_text=_(
            "Security manager, privacy officer, property manager and IT admin are given in two steps: "
            "they take effect when another reviewer at this property confirms them."
        ),
    )


class StaffCreateForm(forms.Form):
    username = forms.CharField(
        label=_("User name"),
        max_length=150,
        validators=[RegexValidator(r"^[A-Za-z0-9._-]+$", _("Use letters, digits, '.', '_' and '-' only."))],
    )
    display_name = forms.CharField(label=_("Display name"), max_length=150)
    email = forms.EmailField(label=_("Work e-mail"), required=False)
    roles = role_field(required=True)

    def clean_username(self) -> str:
        username: str = self.cleaned_data["username"]
        if User.objects.filter(username__iexact=username).exists():
            raise forms.ValidationError(_("That user name is taken."))
        return username


class StaffEditForm(forms.Form):
    display_name = forms.CharField(label=_("Display name"), max_length=150)
    email = forms.EmailField(label=_("Work e-mail"), required=False)
    roles = role_field(required=False)


class AcceptInvitationForm(SetPasswordForm):
    """The invited person's own password, checked by every password validator (with their user name and e-mail)."""
