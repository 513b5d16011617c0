from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class FootageConfig(AppConfig):
    name = "custody.footage"
    label = "footage"
    verbose_name = _("Footage")
