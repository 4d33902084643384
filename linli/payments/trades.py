"""Applying what a gateway reports about a trade — from a notification, a query, or a
close answered "paid". ``trade_apply`` is the one way such money becomes a payment.

It locks the order row, and the unique ``GatewayTransaction`` (channel, transaction id)
makes "one gateway transaction → one payment" hold in the database. Money is never
refused once received. What it does for each state the channel can report:

==========================  ==================================================================
``NOTPAY`` / ``CLOSED``     Nothing: no money moved. The janitor closes or expires the order.
``UNKNOWN``                 Nothing now; the janitor asks again on its next visit.
``PAID``, amount as order   A payment: the bills are settled, excess kept as prepaid (or
                            refunded, by community setting); late or duplicate → flagged.
``PAID``, other amount      Held in suspense, order → ``mismatch`` (金额不符，物业正在处理),
                            flagged ``amount_mismatch`` for staff to resolve.
``PAID`` for no order ours  Held in suspense, acknowledged, flagged ``unknown_order``.
``REFUNDED``, or ``PAID``   Refunds Linli made (its own and those other apps report through
with ``refunded_fen``       ``hooks``) are expected; a REFUNDED report without an amount is
                            Linli's when Linli refunded on it, else a full refund. Beyond
                            Linli's refunds, money refunded outside Linli:
                            not yet recorded → the money into suspense and the outside
                            refund out of it, bills untouched, order → ``refunded``
                            (已在支付渠道退款); already applied → the outflow posted (suspense
                            owes it). Flagged ``refunded_outside``. Never a clean payment.
==========================  ==================================================================
"""

from __future__ import annotations

from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext_lazy

from linli.core.audit import audit_record
from linli.core.models import AuditEvent
from linli.ledger.services import book_memo
from linli.money import format_fen
from linli.payments.anomalies import (
    anomaly_flag,
    outside_refund_record,
    outside_total_fen,
    suspense_receive,
)
from linli.payments.auto_refunds import excess_refund_reserve
from linli.payments.gateways.base import GatewayError, TradeState, TradeStatus
from linli.payments.models import (
    GatewayNotification,
    GatewayTransaction,
    MerchantAccount,
    PaymentAnomaly,
    PaymentOrder,
    PaymentOrderBill,
    PrepaidMovement,
)
from linli.payments.order_states import order_end
from linli.payments.selectors import linli_refunded_fen, outside_refunded_fen
from linli.payments.services import payment_record

MONEY_STATES = (TradeState.PAID, TradeState.REFUNDED)


class Applied:
    """What ``trade_apply`` did. ``recorded`` says whether it is safely stored (the only
    thing we may acknowledge): everything it returns is."""

    APPLIED = "applied"
    DUPLICATE = "duplicate"
    ANOMALY = "anomaly"
    UNKNOWN_ORDER = "unknown_order"
    NOT_PAID = "ignored"

    def __init__(self, outcome: str, order: PaymentOrder | None = None, payment=None,
                 anomaly: PaymentAnomaly | None = None):
        self.outcome, self.order, self.payment, self.anomaly = outcome, order, payment, anomaly

    @property
    def recorded(self) -> bool:
        return True

    def __repr__(self) -> str:
        return f"Applied({self.outcome!r})"


def trade_apply(account: MerchantAccount, trade: TradeStatus, *, source: str,
                notification: GatewayNotification | None = None) -> Applied:
    """Record what the gateway reports about a trade — exactly once, in one transaction."""
    if trade.state not in MONEY_STATES:
        return Applied(Applied.NOT_PAID)
    if not trade.transaction_id:
        raise GatewayError("BAD_TRADE", "a paid trade without transaction id")
    with transaction.atomic():
        order = (PaymentOrder.objects.select_for_update(no_key=True, of=("self",)).select_related("unit")
                 .filter(out_trade_no=trade.out_trade_no, account=account).first())
        amount_fen = _trade_amount(trade, order)
        if order is not None:
            applied = _apply_to_order(account, order, trade, amount_fen, source=source,
                                      notification=notification)
        else:
            applied = _apply_unknown(account, trade, amount_fen, notification)
        _note_outcome(notification, applied.outcome, trade)  # same commit
        return applied


def _trade_amount(trade: TradeStatus, order: PaymentOrder | None) -> int:
    """What the payer paid. A refunded trade whose report leaves the amount out paid
    what was refunded, or else (a full refund) the order's amount."""
    amount = trade.amount_fen
    if isinstance(amount, int) and not isinstance(amount, bool) and amount > 0:
        return amount
    if trade.state == TradeState.REFUNDED:
        if trade.refunded_fen > 0:
            return trade.refunded_fen
        if order is not None:
            return order.amount_fen
    raise GatewayError("BAD_TRADE", "a paid trade without its amount")


def _reported_refund_fen(trade: TradeStatus, amount_fen: int, linli_fen: int) -> int:
    """What the channel says was refunded on the trade. A refunded trade that does not
    say how much (WeChat REFUND says so after any refund) was refunded by Linli when
    Linli made refunds on it, and in full otherwise."""
    if trade.refunded_fen > 0:
        return min(trade.refunded_fen, amount_fen)
    if trade.state != TradeState.REFUNDED:
        return 0
    return min(linli_fen, amount_fen) if linli_fen else amount_fen


def _note_outcome(notification: GatewayNotification | None, outcome: str,
                  trade: TradeStatus) -> None:
    if notification is not None:
        GatewayNotification.objects.filter(pk=notification.pk).update(
            outcome=outcome, out_trade_no=trade.out_trade_no[:64],
            transaction_id=trade.transaction_id[:64])


def _apply_to_order(account, order, trade, amount_fen, *, source, notification) -> Applied:
    done = GatewayTransaction.objects.filter(channel=account.channel,
                                             transaction_id=trade.transaction_id).first()
    linli_fen = linli_refunded_fen(channel=account.channel, out_trade_no=trade.out_trade_no,
                                   order=order)
    reported = _reported_refund_fen(trade, amount_fen, linli_fen)
    if reported:
        outside = max(0, reported - linli_fen)
        if done is None:
            return _refunded_before_recorded(account, order, trade, amount_fen, reported,
                                             outside, notification)
        new = outside - outside_refunded_fen(channel=account.channel,
                                             transaction_id=trade.transaction_id)
        if new > 0:
            return _refunded_after_recorded(account, order, trade, reported, new, done,
                                            notification)
    if done is not None:
        if done.kind == GatewayTransaction.Kind.SUSPENSE and order.is_open:
            order_end(order, PaymentOrder.Status.MISMATCH)  # held before this rule existed
        return Applied(Applied.DUPLICATE, order, done.payment)
    if amount_fen != order.amount_fen:
        return _mismatch(account, order, trade, amount_fen, notification)
    return _pay(account, order, trade, source=source, notification=notification)


def _pay(account, order, trade, *, source, notification) -> Applied:
    channel = account.channel
    received_at = trade.paid_at or timezone.now()
    was_status = order.status
    bill_ids = list(order.lines.values_list("bill_id", flat=True).order_by("bill_id"))
    topup = not bill_ids  # a prepaid top-up: all of it is the point, never "excess"
    payment = payment_record(
        acting_user=None, unit=order.unit, channel=channel, amount_fen=trade.amount_fen,
        bill_ids=bill_ids, idempotency_key=f"{channel}:{trade.transaction_id}",
        received_at=received_at, reference=trade.transaction_id,
        note=f"order {order.out_trade_no} ({source})",
        excess_kind=PrepaidMovement.Kind.DEPOSIT if topup else PrepaidMovement.Kind.EXCESS,
    )
    GatewayTransaction.objects.create(
        community_id=order.community_id, channel=channel, transaction_id=trade.transaction_id,
        kind=GatewayTransaction.Kind.PAYMENT, amount_fen=trade.amount_fen, order=order,
        payment=payment, received_at=received_at,
    )
    second = was_status == PaymentOrder.Status.PAID  # the order was already paid once
    if not second:
        order.status = PaymentOrder.Status.PAID
        order.finished_at = timezone.now()
        order.transaction_id = trade.transaction_id
        order.payment = payment
        order.save(update_fields=["status", "finished_at", "transaction_id", "payment"])
        PaymentOrderBill.objects.filter(order=order, open=True).update(open=False)
    excess_fen = 0 if topup else getattr(payment, "excess_fen", None)
    if excess_fen is None:  # an existing payment returned by its idempotency key
        excess_fen = sum(m.amount_fen for m in payment.prepaid_movements.all()
                         if m.kind == PrepaidMovement.Kind.EXCESS)
    if was_status in PaymentOrder.OPEN_STATUSES and not excess_fen:
        return Applied(Applied.APPLIED, order, payment)
    kind = (PaymentAnomaly.Kind.DUPLICATE
            if second or (excess_fen and was_status in PaymentOrder.OPEN_STATUSES)
            else PaymentAnomaly.Kind.LATE)
    detail = f"order was {was_status}"
    if excess_fen:
        detail += f"; {format_fen(excess_fen)} not needed by its bills"
    anomaly = anomaly_flag(order.community_id, f"{kind}:{channel}:{trade.transaction_id}",
                           kind, order=order, payment=payment, notification=notification,
                           account=account, channel=channel,
                           transaction_id=trade.transaction_id,
                           out_trade_no=order.out_trade_no,
                           amount_fen=excess_fen or trade.amount_fen, excess_fen=excess_fen,
                           resolution_unit_id=order.unit_id, detail=detail)
    if excess_fen:
        excess_refund_reserve(order, payment, excess_fen)
    return Applied(Applied.ANOMALY, order, payment, anomaly)


def _end_with(order: PaymentOrder, status: str) -> None:
    """An order whose money did not fit ends in a state its owner reads in words — unless
    another transaction already paid it."""
    if order.status != PaymentOrder.Status.PAID:
        order_end(order, status)


def _mismatch(account, order, trade, amount_fen, notification) -> Applied:
    """Money whose amount differs from the order: held in suspense; no bill is paid;
    staff resolve it."""
    received_at = trade.paid_at or timezone.now()
    txn = suspense_receive(account=account, order=order, trade=trade, amount_fen=amount_fen,
                           received_at=received_at)
    anomaly = anomaly_flag(
        order.community_id, f"amount:{account.channel}:{trade.transaction_id}",
        PaymentAnomaly.Kind.AMOUNT_MISMATCH, order=order, notification=notification,
        account=account, channel=account.channel, transaction_id=trade.transaction_id,
        out_trade_no=order.out_trade_no, amount_fen=amount_fen, suspense_fen=amount_fen,
        resolution_unit_id=order.unit_id,
        detail=book_memo(gettext_lazy("Paid %(paid)s, the order was for %(order)s"),
                         paid=format_fen(amount_fen), order=format_fen(order.amount_fen)))
    _end_with(order, PaymentOrder.Status.MISMATCH)
    audit_record(actor=None, action=AuditEvent.Action.SECURITY, obj=order,
                 summary=f"amount mismatch: paid {format_fen(amount_fen)}, order "
                         f"{format_fen(order.amount_fen)} ({txn})")
    return Applied(Applied.ANOMALY, order, None, anomaly)


def _apply_unknown(account, trade, amount_fen, notification) -> Applied:
    """A validly signed trade for an order we never made: the money is in our merchant
    account all the same. Held in suspense (acknowledged), flagged for staff."""
    done = GatewayTransaction.objects.filter(channel=account.channel,
                                             transaction_id=trade.transaction_id).first()
    linli_fen = linli_refunded_fen(channel=account.channel, out_trade_no=trade.out_trade_no,
                                   order=None)
    reported = _reported_refund_fen(trade, amount_fen, linli_fen)
    if done is None:
        suspense_receive(account=account, order=None, trade=trade, amount_fen=amount_fen,
                         received_at=trade.paid_at or timezone.now())
        anomaly = anomaly_flag(
            account.community_id, f"unknown:{account.channel}:{trade.transaction_id}",
            PaymentAnomaly.Kind.UNKNOWN_ORDER, notification=notification, account=account,
            channel=account.channel, transaction_id=trade.transaction_id,
            out_trade_no=trade.out_trade_no[:64], amount_fen=amount_fen,
            suspense_fen=amount_fen, detail=book_memo(gettext_lazy("Order number %(number)s is not one of ours"),
                                            number=trade.out_trade_no[:64]))
        if anomaly.suspense_fen != amount_fen:  # flagged before such money was held
            anomaly.suspense_fen, anomaly.status = amount_fen, PaymentAnomaly.Status.OPEN
            anomaly.account, anomaly.out_trade_no = account, trade.out_trade_no[:64]
            anomaly.save(update_fields=["suspense_fen", "status", "account", "out_trade_no"])
        audit_record(actor=None, action=AuditEvent.Action.SECURITY, obj=account,
                     summary=f"{format_fen(amount_fen)} for unknown order "
                             f"{trade.out_trade_no!r} ({trade.transaction_id})")
    else:
        anomaly = None
    if reported:
        new = max(0, reported - linli_fen) - outside_refunded_fen(
            channel=account.channel, transaction_id=trade.transaction_id)
        if new > 0:
            return _refunded_after_recorded(account, None, trade, reported, new,
                                            done, notification)
    if anomaly is None:
        return Applied(Applied.DUPLICATE)
    return Applied(Applied.UNKNOWN_ORDER, None, None, anomaly)


def _refunded_before_recorded(account, order, trade, amount_fen, reported, outside,
                              notification) -> Applied:
    """Paid and refunded at the channel before Linli recorded the money: record exactly
    that — the money into suspense, the outside refund out of it; no bill is touched.
    What was not refunded stays held for staff."""
    suspense_receive(account=account, order=order, trade=trade, amount_fen=amount_fen,
                     received_at=trade.paid_at or timezone.now())
    anomaly = anomaly_flag(
        account.community_id, f"refunded:{account.channel}:{trade.transaction_id}",
        PaymentAnomaly.Kind.REFUNDED_OUTSIDE, order=order, notification=notification,
        account=account, channel=account.channel, transaction_id=trade.transaction_id,
        out_trade_no=trade.out_trade_no[:64], amount_fen=amount_fen,
        suspense_fen=amount_fen - outside, resolution_unit_id=order.unit_id,
        detail=book_memo(gettext_lazy("Paid %(paid)s; %(refunded)s refunded at the channel "
                                      "outside Linli before it was recorded"),
                         paid=format_fen(amount_fen), refunded=format_fen(outside)))
    if outside:
        outside_refund_record(anomaly=anomaly, order=order, reported_fen=reported,
                              amount_fen=outside)
    _end_with(order, PaymentOrder.Status.REFUNDED)
    return Applied(Applied.ANOMALY, order, None, anomaly)


def _refunded_after_recorded(account, order, trade, reported, new_fen, done,
                             notification) -> Applied:
    """Money Linli had recorded was (also) refunded at the channel outside Linli: post
    the outflow (suspense owes it) and flag it for staff to recover or write off."""
    payment = done.payment if done is not None else None
    total = outside_total_fen(account.channel, trade.transaction_id, new_fen)
    anomaly = anomaly_flag(  # one per increase: an earlier one may be resolved already
        account.community_id, f"refunded:{account.channel}:{trade.transaction_id}:in_all:{total}",
        PaymentAnomaly.Kind.REFUNDED_OUTSIDE, order=order, payment=payment,
        notification=notification, account=account, channel=account.channel,
        transaction_id=trade.transaction_id, out_trade_no=trade.out_trade_no[:64],
        amount_fen=new_fen, suspense_fen=-new_fen,
        resolution_unit_id=order.unit_id if order else None,
        detail=book_memo(gettext_lazy("%(refunded)s refunded at the channel outside Linli "
                                      "after it was recorded"), refunded=format_fen(new_fen)))
    outside_refund_record(anomaly=anomaly, order=order, reported_fen=reported,
                          amount_fen=new_fen)
    return Applied(Applied.ANOMALY, order, payment, anomaly)
