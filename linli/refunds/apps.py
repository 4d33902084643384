from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class RefundsConfig(AppConfig):
    name = "linli.refunds"
    label = "refunds"
    verbose_name = _("Refunds")

    def ready(self) -> None:
        # A bill's status follows what was refunded of it: billing asks through its hook.
        # Payments tells Linli's own channel refunds from refunds made outside Linli.
        from linli.billing.hooks import register_refund_claims, register_refunded_fen
        from linli.payments.hooks import (
            channel_refunds_paid,
            order_refunds_made_by,
            refund_notified,
        )
        from linli.refunds.hooks import (
            claimed_bill_ids,
            payout_notified,
            payouts_paid_by_channel,
            refunded_fen_by_bill,
            refunded_fen_for_order,
        )

        register_refunded_fen(refunded_fen_by_bill)
        register_refund_claims(claimed_bill_ids)
        order_refunds_made_by.register(refunded_fen_for_order)
        refund_notified.register(payout_notified)
        channel_refunds_paid.register(payouts_paid_by_channel)
