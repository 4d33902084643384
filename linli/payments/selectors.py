"""Reads of payments that other code (and ``linli check``) relies on."""

from __future__ import annotations

from django.db.models import Q, Sum

from linli.payments.hooks import order_refunds_made_by
from linli.payments.models import OrderRefund, OutsideRefund, PaymentAnomaly, PaymentOrder


def order_refunds_payable_fen(community_id: int) -> int:
    """What the payments app's own channel refunds (``OrderRefund``) still hold in
    refunds payable: set aside, not yet paid out nor settled another way."""
    return OrderRefund.objects.filter(
        community_id=community_id, status__in=OrderRefund.HOLDING,
    ).aggregate(s=Sum("amount_fen"))["s"] or 0


def suspense_held_fen(community_id: int) -> int:
    """What open anomalies hold in the suspense account (signed, see ``PaymentAnomaly``)."""
    return PaymentAnomaly.objects.filter(
        community_id=community_id, status=PaymentAnomaly.Status.OPEN,
    ).aggregate(s=Sum("suspense_fen"))["s"] or 0


def linli_refunded_fen(*, channel: str, out_trade_no: str,
                       order: PaymentOrder | None) -> int:
    """Refunds Linli made (or is making) through the channel on one trade: the payments
    app's own refunds that went or may go to the channel, and those other apps report
    through ``hooks.order_refunds_made_by``."""
    own = OrderRefund.objects.filter(channel=channel, out_trade_no=out_trade_no).filter(
        Q(status__in=[OrderRefund.Status.PENDING, OrderRefund.Status.PROCESSING,
                      OrderRefund.Status.SUCCESS])
        | Q(late_success_at__isnull=False)
    ).aggregate(s=Sum("amount_fen"))["s"] or 0
    return own + (order_refunds_made_by.total(order) if order is not None else 0)


def outside_refunded_fen(*, channel: str, transaction_id: str) -> int:
    """Refunds at the channel outside Linli already recorded for one transaction."""
    return OutsideRefund.objects.filter(
        channel=channel, transaction_id=transaction_id,
    ).aggregate(s=Sum("amount_fen"))["s"] or 0
