"""What refunds tells the apps below it through their hooks (registered in apps.py):
billing what was refunded of each bill, payments what Linli refunded on each order."""

from __future__ import annotations

from collections.abc import Collection

from django.db.models import Sum

from linli.refunds.models import RefundApplication, RefundLine, RefundPayout
from linli.refunds.payouts import payout_by_number, payout_settle


def refunded_fen_by_bill(bill_ids: Collection[int] | None) -> dict[int, int]:
    """Principal refunded (the money has gone) per bill; None = every refunded bill."""
    lines = RefundLine.objects.filter(application__status=RefundApplication.Status.REFUNDED,
                                      bill_id__isnull=False)
    if bill_ids is not None:
        lines = lines.filter(bill_id__in=list(bill_ids))
    return dict(lines.values("bill_id").annotate(s=Sum("amount_fen")).order_by()
                .values_list("bill_id", "s"))


# Payouts sent to the channel that have taken, or may take, money back on the order.
SENT_TO_CHANNEL = tuple({*RefundPayout.HOLDING, *RefundPayout.CHANNEL_PAID})


def refunded_fen_for_order(order) -> int:
    """What owners' refund applications sent back through the channel on ``order``: when
    the channel reports the trade refunded, this much of it was Linli's own doing."""
    return RefundPayout.objects.filter(order=order, status__in=SENT_TO_CHANNEL).aggregate(
        s=Sum("amount_fen"))["s"] or 0


# Applications whose money is set aside and not yet paid out.
SET_ASIDE_UNPAID = (RefundApplication.Status.APPROVED, RefundApplication.Status.PAYING,
                    RefundApplication.Status.ATTENTION)


def claimed_bill_ids(bill_ids: Collection[int]) -> set[int]:
    """Bills a refund approved (set aside) but not yet paid out claims."""
    return set(RefundLine.objects.filter(bill_id__in=list(bill_ids),
                                         application__status__in=SET_ASIDE_UNPAID)
               .values_list("bill_id", flat=True))


def payout_notified(parsed) -> bool:
    """A channel's refund result for a payout of an owner's application: settled (True),
    or not one of ours on that order (False)."""
    payout = payout_by_number(parsed.refund.out_refund_no)
    if payout is None or payout.order is None or payout.order.out_trade_no != parsed.out_trade_no:
        return False
    payout_settle(payout.pk, parsed.refund, source="notification")
    return True


def payouts_paid_by_channel(channels) -> list[dict]:
    """Payouts the channel paid, per community and channel (for payments' clearing
    invariant)."""
    return list(RefundPayout.objects.filter(status__in=RefundPayout.CHANNEL_PAID,
                                            channel__in=list(channels))
                .values("community_id", "channel").annotate(total=Sum("amount_fen"))
                .order_by())
