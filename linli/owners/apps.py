from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class OwnersConfig(AppConfig):
    name = "linli.owners"
    label = "owners"
    verbose_name = _("Owners")

    def ready(self) -> None:
        from linli.core.serve import startup_check_register
        from linli.owners.sms import check_configuration

        startup_check_register(check_configuration)
