"""Moving a payment order to an end state, and the words its owner reads for each.

Every change of ``PaymentOrder.status`` goes through ``order_end`` (or ``trade_apply``
for "paid"), under the order's row lock held by the caller.
"""

from __future__ import annotations

from django.utils import timezone

from linli.payments.models import PaymentOrder, PaymentOrderBill


def order_end(order: PaymentOrder, status: str, *, close_at_gateway: bool = False,
              superseded_by: PaymentOrder | None = None, error: str = "") -> None:
    """Move an open order to an end state (caller holds its row lock); its bills are
    free for another order at once."""
    order.status = status
    order.finished_at = timezone.now()
    order.close_at_gateway = close_at_gateway
    fields = ["status", "finished_at", "close_at_gateway"]
    if superseded_by is not None:
        order.superseded_by = superseded_by
        fields.append("superseded_by")
    if error:
        order.gateway_error = error[:255]
        fields.append("gateway_error")
    order.save(update_fields=fields)
    PaymentOrderBill.objects.filter(order=order, open=True).update(open=False)


def order_mark_checked(order_id: int) -> None:
    """The janitor looked at this order now (whatever the gateway said): it goes to the
    back of the janitor's queue, so every open order is visited in turn."""
    PaymentOrder.objects.filter(pk=order_id).update(last_checked_at=timezone.now())
