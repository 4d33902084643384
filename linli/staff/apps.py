from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class StaffConfig(AppConfig):
    name = "linli.staff"
    label = "staff"
    verbose_name = _("Staff")

    def ready(self) -> None:
        from django.db.models.signals import post_migrate

        from linli.staff.roles import sync_role_groups

        post_migrate.connect(sync_role_groups, sender=self)
