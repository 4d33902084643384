"""Moving a bill along its state machine (documented in billing/models.py)."""

from __future__ import annotations

from linli.billing.models import Bill, BillAdjustment
from linli.billing.selectors import with_balances


def bill_status_for(bill: Bill, *, cancelled: bool) -> str:
    """The status a bill's derived balances imply. ``bill`` carries balances."""
    if bill.status in (Bill.Status.REFUNDED, Bill.Status.PARTIALLY_REFUNDED):
        return bill.status  # refunds own these; see the refunds app
    if cancelled:
        return Bill.Status.CANCELLED
    if bill.owed_fen <= 0:
        return Bill.Status.PAID if bill.paid_fen > 0 else Bill.Status.WAIVED
    return Bill.Status.PARTIALLY_PAID if bill.paid_fen > 0 else Bill.Status.UNPAID


def bills_refresh_status(bill_ids) -> None:
    """Recompute and store the status of these bills (caller holds their row locks)."""
    cancelled = set(
        BillAdjustment.objects.filter(
            bill_id__in=bill_ids,
            kind=BillAdjustment.Kind.CANCELLATION,
            status=BillAdjustment.Status.APPROVED,
        ).values_list("bill_id", flat=True)
    )
    for bill in with_balances(Bill.objects.filter(pk__in=bill_ids)):
        status = bill_status_for(bill, cancelled=bill.pk in cancelled)
        if status != bill.status:
            Bill.objects.filter(pk=bill.pk).update(status=status)


def lock_bills(bill_ids) -> list[Bill]:
    """Lock bills in id order (one order everywhere, so two payers never deadlock)."""
    return list(Bill.objects.select_for_update().filter(pk__in=bill_ids).order_by("pk"))
