from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class AccountsConfig(AppConfig):
    name = "custody.accounts"
    label = "accounts"
    verbose_name = _("Accounts")

    def ready(self) -> None:
        from axes.signals import user_locked_out

        from custody.accounts.signals import record_lockout

        user_locked_out.connect(record_lockout, dispatch_uid="custody.accounts.record_lockout")
