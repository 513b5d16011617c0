from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class GuestsConfig(AppConfig):
    name = "custody.guests"
    label = "guests"
    verbose_name = _("Guests")
