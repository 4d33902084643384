from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class StaffConfig(AppConfig):
    name = "linli.staff"
    label = "staff"
    verbose_name = _("Staff")

    def ready(self) -> None:
        from axes.signals import user_locked_out
        from django.db.models.signals import post_migrate

        from linli.estate.access import community_scope_register
        from linli.staff.roles import sync_role_groups
        from linli.staff.scope import community_ids_for
        from linli.staff.signin import record_lockout

        post_migrate.connect(sync_role_groups, sender=self)
        user_locked_out.connect(record_lockout, dispatch_uid="linli.staff.record_lockout")
        # The estate sits below staff: its services ask for scope through this hook.
        community_scope_register(community_ids_for)
