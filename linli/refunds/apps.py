from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class RefundsConfig(AppConfig):
    name = "linli.refunds"
    label = "refunds"
    verbose_name = _("Refunds")

    def ready(self) -> None:
        # A bill's status follows what was refunded of it: billing asks through its hook.
        from linli.billing.hooks import register_refunded_fen
        from linli.refunds.bill_hooks import refunded_fen_by_bill

        register_refunded_fen(refunded_fen_by_bill)
