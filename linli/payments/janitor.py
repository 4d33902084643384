"""The payments janitor: settles what notifications alone never would.

Run every minute (``linli.payments.tasks``). Each order is handled in its own
transaction; a gateway error is logged and the order is tried again on the next run.
Fairness: each order it looks at is stamped ``last_checked_at`` (whatever the gateway
answered, error or not), and each run takes the least recently checked first — so
however many orders keep failing, every open order is visited in turn.

- Pending orders older than a minute: query the gateway; paid (or paid and refunded at
  the channel) → applied exactly like a notification (``trades.trade_apply``). WeChat notifies only successes, so this is also
  how lost notifications are found.
- Expired pending orders: close at the gateway (WeChat: not sooner than 5 minutes after
  creation); a close answered "paid" is a payment. Closed here → ``expired``.
- Orders closed here (superseded or cancelled) whose gateway order is still open: close
  at the gateway; "paid" → applied (flagged as late).
- Stuck orders ("created" for over 5 minutes, no gateway order): query; paid → applied;
  otherwise closed at the gateway (it may exist there) and marked ``failed``.
- Automatic refunds still to send or in progress: sent / queried again.
"""

from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass, field

from django.db import transaction
from django.db.models import F
from django.utils import timezone

from linli.payments.auto_refunds import refund_send
from linli.payments.gateways import gateway_for
from linli.payments.gateways.base import GatewayError, TradeState
from linli.payments.models import Channel, OrderRefund, PaymentOrder
from linli.payments.order_states import order_end, order_mark_checked
from linli.payments.trades import MONEY_STATES, trade_apply

logger = logging.getLogger("linli.payments")

QUERY_AFTER = dt.timedelta(minutes=1)
STUCK_AFTER = dt.timedelta(minutes=5)
WECHAT_CLOSE_AFTER = dt.timedelta(minutes=5)
BATCH = 500


@dataclass
class JanitorReport:
    queried: int = 0
    applied: int = 0
    expired: int = 0
    closed: int = 0
    failed: int = 0
    refunds: int = 0
    errors: list[str] = field(default_factory=list)


def janitor_run(now: dt.datetime | None = None) -> JanitorReport:
    now = now or timezone.now()
    report = JanitorReport()
    pending = _queue(PaymentOrder.objects.filter(
        status=PaymentOrder.Status.PENDING, created_at__lte=now - QUERY_AFTER))
    for order in pending:
        _guard(report, order, lambda o=order: _settle_pending(o, now, report))
    stuck = _queue(PaymentOrder.objects.filter(
        status=PaymentOrder.Status.CREATED, created_at__lte=now - STUCK_AFTER))
    for order in stuck:
        _guard(report, order, lambda o=order: _settle_stuck(o, report))
    to_close = _queue(PaymentOrder.objects.filter(close_at_gateway=True))
    for order in to_close:
        if _close_too_soon(order, now):
            continue
        _guard(report, order, lambda o=order: _close_superseded(o, report))
    for refund in OrderRefund.objects.filter(
        status__in=[OrderRefund.Status.PENDING, OrderRefund.Status.PROCESSING]
    ).order_by("id")[:BATCH]:
        try:
            refund_send(refund.pk)
            report.refunds += 1
        except Exception as exc:  # logged, retried next run
            logger.exception("janitor: refund %s", refund.out_refund_no)
            report.errors.append(f"refund {refund.out_refund_no}: {exc}")
    return report


def _queue(orders):
    """The next ``BATCH`` orders to visit: never checked first, then the least recently
    checked (then the oldest)."""
    return list(orders.select_related("account").order_by(
        F("last_checked_at").asc(nulls_first=True), "id")[:BATCH])


def _guard(report: JanitorReport, order: PaymentOrder, fn) -> None:
    order_mark_checked(order.pk)  # before the call: an error must not keep it first
    try:
        fn()
    except GatewayError as exc:
        logger.warning("janitor: order %s: gateway error %s", order.out_trade_no, exc)
        report.errors.append(f"{order.out_trade_no}: {exc}")
    except Exception as exc:
        logger.exception("janitor: order %s failed", order.out_trade_no)
        report.errors.append(f"{order.out_trade_no}: {type(exc).__name__}: {exc}")


def _close_too_soon(order: PaymentOrder, now: dt.datetime) -> bool:
    return order.channel == Channel.WECHAT and now - order.created_at < WECHAT_CLOSE_AFTER


def _apply(order: PaymentOrder, status, report: JanitorReport, source: str) -> None:
    result = trade_apply(order.account, status, source=source)
    report.applied += 1
    logger.info("janitor: order %s paid (%s): %s", order.out_trade_no, source, result.outcome)


def _settle_pending(order: PaymentOrder, now: dt.datetime, report: JanitorReport) -> None:
    gateway = gateway_for(order.account.config())
    report.queried += 1
    status = gateway.query(order.out_trade_no)
    if status.state in MONEY_STATES:
        _apply(order, status, report, "query")
        return
    if order.expires_at > now or _close_too_soon(order, now):
        return
    closed = gateway.close(order.out_trade_no)
    if closed.state in MONEY_STATES:
        _apply(order, closed, report, "close")
        return
    if closed.state != TradeState.CLOSED:
        raise GatewayError("CLOSE_UNCONFIRMED", f"close answered {closed.state}")
    with transaction.atomic():
        locked = PaymentOrder.objects.select_for_update(no_key=True).get(pk=order.pk)
        if locked.status == PaymentOrder.Status.PENDING:
            order_end(locked, PaymentOrder.Status.EXPIRED)
            report.expired += 1


def _settle_stuck(order: PaymentOrder, report: JanitorReport) -> None:
    gateway = gateway_for(order.account.config())
    status = gateway.query(order.out_trade_no)
    if status.state not in MONEY_STATES:
        status = gateway.close(order.out_trade_no)
    if status.state in MONEY_STATES:
        _apply(order, status, report, "query")
        return
    with transaction.atomic():
        locked = PaymentOrder.objects.select_for_update(no_key=True).get(pk=order.pk)
        if locked.status == PaymentOrder.Status.CREATED:
            order_end(locked, PaymentOrder.Status.FAILED,
                       error=locked.gateway_error or "no gateway order after 5 minutes")
            report.failed += 1


def _close_superseded(order: PaymentOrder, report: JanitorReport) -> None:
    gateway = gateway_for(order.account.config())
    closed = gateway.close(order.out_trade_no)
    if closed.state in MONEY_STATES:
        _apply(order, closed, report, "close")
    elif closed.state != TradeState.CLOSED:
        raise GatewayError("CLOSE_UNCONFIRMED", f"close answered {closed.state}")
    PaymentOrder.objects.filter(pk=order.pk).update(close_at_gateway=False)
    report.closed += 1
