"""Refunds Linli sends through the channel by itself (``OrderRefund``): money a payment's
bills no longer needed (community setting "refund"), or held money staff chose to give
back (an anomaly's resolution).

Life of one refund::

    pending ──sent──▶ processing ──channel: success──▶ success (refunds payable → clearing)
       │                  ╰──channel: abnormal/closed──▶ failed (needs staff, channel's reason)
    failed ──retry (same out_refund_no)──▶ pending
    failed ──settle another way──▶ settled (refunds payable → prepaid, or → cash/bank)
    settled ──channel: success after all──▶ recorded (clearing out, suspense owing) + flagged

The money sits in refunds payable from the moment the refund is recorded until it is
paid out or settled: ``selectors.order_refunds_payable_fen``.
"""

from __future__ import annotations

import logging

from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from linli.core.audit import audit_record
from linli.core.models import AuditEvent
from linli.ledger import postings
from linli.ledger.services import book_memo, post_entry
from linli.money import format_fen
from linli.payments.anomalies import anomaly_flag
from linli.payments.gateways import gateway_for
from linli.payments.gateways.base import GatewayError, RefundRequest, RefundState
from linli.payments.models import (
    Channel,
    CommunityPaymentSettings,
    GatewayTransaction,
    OrderRefund,
    PaymentAnomaly,
    PaymentOrder,
    PrepaidMovement,
)
from linli.payments.permissions import ResolutionError, require_reason, require_resolver
from linli.payments.services import prepaid_move

logger = logging.getLogger("linli.payments")

FINISHED = (OrderRefund.Status.SUCCESS, OrderRefund.Status.SETTLED)


# --- recording a refund ----------------------------------------------------------------


def excess_refund_reserve(order: PaymentOrder, payment, excess_fen: int) -> OrderRefund | None:
    """Community setting "refund": take the excess out of the prepaid balance into
    refunds payable now (so it cannot be spent), and send the refund after commit."""
    settings_ = CommunityPaymentSettings.for_community(order.community_id)
    if settings_.excess_handling != CommunityPaymentSettings.Excess.REFUND:
        return None
    return refund_from_prepaid(
        order=order, payment=payment, anomaly=None, amount_fen=excess_fen, acting_user=None,
        out_refund_no=f"RF{payment.pk:08d}{order.out_trade_no[-8:]}")


def refund_from_prepaid(*, order: PaymentOrder, payment, anomaly, amount_fen: int,
                        acting_user, out_refund_no: str) -> OrderRefund:
    """Money of ``payment`` kept in the unit's prepaid balance goes back to the payer
    through the order's channel: prepaid → refunds payable now, sent after commit."""
    refund = OrderRefund.objects.create(
        community_id=order.community_id, order=order, payment=payment, anomaly=anomaly,
        unit_id=order.unit_id, account_id=order.account_id, channel=order.channel,
        out_trade_no=order.out_trade_no, trade_fen=payment.amount_fen,
        out_refund_no=out_refund_no, amount_fen=amount_fen,
    )
    prepaid_move(unit=order.unit, delta_fen=-amount_fen, kind=PrepaidMovement.Kind.REFUND,
                 payment=payment, acting_user=acting_user,
                 business_key=f"auto_refund:{refund.out_refund_no}")
    post_entry(
        community_id=order.community_id, business_key=f"auto_refund:{refund.out_refund_no}",
        kind=postings.kind_of(postings.refund_reserved),
        lines=postings.refund_reserved(unit_id=order.unit_id, amount_fen=amount_fen),
        memo=book_memo(gettext_lazy("Refund %(refund)s of order %(order)s"),
                       refund=refund.out_refund_no, order=order.out_trade_no),
        posted_by=acting_user,
    )
    transaction.on_commit(lambda: _queue_refund(refund.pk))
    return refund


def refund_from_suspense(*, anomaly: PaymentAnomaly, acting_user) -> OrderRefund:
    """Held money (an anomaly's) goes back to the payer through the channel it came by:
    suspense → refunds payable now, sent after commit."""
    txn = GatewayTransaction.objects.get(channel=anomaly.channel,
                                         transaction_id=anomaly.transaction_id)
    order = anomaly.order
    account_id = anomaly.account_id or (order.account_id if order else None)
    out_trade_no = anomaly.out_trade_no or (order.out_trade_no if order else "")
    if account_id is None or not out_trade_no:
        raise ResolutionError(_("The channel's order for this money is not known; it "
                                "cannot be refunded through the channel."))
    refund = OrderRefund.objects.create(
        community_id=anomaly.community_id, order=order, anomaly=anomaly,
        unit_id=order.unit_id if order else None, account_id=account_id,
        channel=anomaly.channel, out_trade_no=out_trade_no, trade_fen=txn.amount_fen,
        out_refund_no=f"RS{anomaly.pk:08d}{anomaly.transaction_id[-8:]}",
        amount_fen=anomaly.suspense_fen,
    )
    post_entry(
        community_id=anomaly.community_id, business_key=f"auto_refund:{refund.out_refund_no}",
        kind=postings.kind_of(postings.suspense_refund_reserved),
        lines=postings.suspense_refund_reserved(amount_fen=refund.amount_fen),
        memo=book_memo(gettext_lazy("Refund %(refund)s of held money (%(channel)s "
                                    "transaction %(transaction)s)"),
                       refund=refund.out_refund_no, channel=Channel(anomaly.channel).label,
                       transaction=anomaly.transaction_id),
        posted_by=acting_user,
    )
    transaction.on_commit(lambda: _queue_refund(refund.pk))
    return refund


def _queue_refund(refund_id: int) -> None:
    try:
        from linli.payments.tasks import send_order_refund

        send_order_refund(refund_id)
    except Exception:  # the janitor sends it on its next run
        logger.exception("could not queue refund #%s", refund_id)


# --- sending and settling with the channel ------------------------------------------------


def _account(refund: OrderRefund):
    return refund.account if refund.account_id else refund.order.account


def _trade_no(refund: OrderRefund) -> str:
    return refund.out_trade_no or refund.order.out_trade_no


def refund_send(refund_id: int) -> OrderRefund:
    """Send (or re-send, same out_refund_no) a refund; book it when done. Called outside
    any transaction (no row lock over HTTP)."""
    refund = OrderRefund.objects.select_related("order__account", "account", "payment").get(
        pk=refund_id)
    if refund.status in (*FINISHED, OrderRefund.Status.FAILED):
        return refund
    total_fen = refund.trade_fen or refund.payment.amount_fen
    try:
        gateway = gateway_for(_account(refund).config())  # may refuse: switched off
        if refund.status == OrderRefund.Status.PENDING:
            result = gateway.refund(RefundRequest(
                out_trade_no=_trade_no(refund), out_refund_no=refund.out_refund_no,
                refund_fen=refund.amount_fen, total_fen=total_fen, reason="overpayment"))
        else:
            result = gateway.query_refund(_trade_no(refund), refund.out_refund_no)
    except GatewayError as exc:
        logger.warning("refund %s: %s", refund.out_refund_no, exc)
        if not exc.retryable and refund.status == OrderRefund.Status.PENDING:
            # Refused outright (not "try later"): it needs staff, with the channel's words.
            return refund_settle(refund.pk, RefundState.CLOSED, reason=str(exc))
        OrderRefund.objects.filter(pk=refund.pk).update(error=str(exc)[:255])
        return refund
    return refund_settle(refund.pk, result.state, refund_id_at_gateway=result.refund_id,
                         reason=result.reason)


@transaction.atomic
def refund_settle(refund_pk: int, state, *, refund_id_at_gateway: str = "",
                  reason: str = "") -> OrderRefund:
    """What the channel says about a refund (a query or a notification), applied once."""
    refund = OrderRefund.objects.select_for_update(no_key=True).get(pk=refund_pk)
    if state == RefundState.SUCCESS:
        if refund.status == OrderRefund.Status.SETTLED:
            return _late_success(refund, refund_id_at_gateway)
        if refund.status != OrderRefund.Status.SUCCESS:
            _book_paid(refund)
            refund.status, refund.finished_at = OrderRefund.Status.SUCCESS, timezone.now()
            refund.error = ""
    elif state in (RefundState.ABNORMAL, RefundState.CLOSED):
        if refund.status in (OrderRefund.Status.PENDING, OrderRefund.Status.PROCESSING):
            refund.status = OrderRefund.Status.FAILED
            refund.error = (reason or str(state))[:255]
            audit_record(actor=None, action=AuditEvent.Action.ACTION, obj=refund,
                         community_id=refund.community_id,
                         summary=f"refund {format_fen(refund.amount_fen)} failed at the "
                                 f"channel: {refund.error}"[:255])
    elif refund.status == OrderRefund.Status.PENDING:
        refund.status = OrderRefund.Status.PROCESSING
    refund.refund_id = refund_id_at_gateway or refund.refund_id
    refund.save()
    return refund


def _book_paid(refund: OrderRefund) -> None:
    post_entry(
        community_id=refund.community_id,
        business_key=f"auto_refund_paid:{refund.out_refund_no}",
        kind=postings.kind_of(postings.refund_paid_from_payable),
        lines=postings.refund_paid_from_payable(channel=refund.channel,
                                                amount_fen=refund.amount_fen),
        memo=book_memo(gettext_lazy("Refund %(refund)s paid back"),
                       refund=refund.out_refund_no),
    )


def _late_success(refund: OrderRefund, refund_id_at_gateway: str) -> OrderRefund:
    """The channel paid a refund staff had already settled another way: the money left
    the channel's account all the same. Post that outflow (suspense owes it) and flag it
    for staff to recover or write off."""
    if refund.late_success_at is not None:
        return refund
    refund.late_success_at = timezone.now()
    refund.refund_id = refund_id_at_gateway or refund.refund_id
    refund.save(update_fields=["late_success_at", "refund_id"])
    anomaly = anomaly_flag(
        refund.community_id, f"late_refund:{refund.out_refund_no}",
        PaymentAnomaly.Kind.LATE_REFUND, order=refund.order, payment=refund.payment,
        account_id=refund.account_id, channel=refund.channel,
        transaction_id=refund.refund_id[:64], out_trade_no=refund.out_trade_no,
        amount_fen=refund.amount_fen, suspense_fen=-refund.amount_fen,
        resolution_unit_id=refund.unit_id,
        detail=book_memo(gettext_lazy("Refund %(refund)s of %(amount)s succeeded at the "
                                      "channel after it was settled another way"),
                         refund=refund.out_refund_no, amount=format_fen(refund.amount_fen))[:255],
    )
    post_entry(
        community_id=refund.community_id,
        business_key=f"auto_refund_late:{refund.out_refund_no}",
        kind=postings.kind_of(postings.channel_refunded_outside),
        lines=postings.channel_refunded_outside(channel=refund.channel,
                                                amount_fen=refund.amount_fen),
        memo=book_memo(gettext_lazy("Refund %(refund)s paid by the channel after it was "
                                    "settled another way"), refund=refund.out_refund_no),
    )
    audit_record(actor=None, action=AuditEvent.Action.SECURITY, obj=anomaly,
                 community_id=refund.community_id,
                 summary=f"refund {refund.out_refund_no} paid twice: "
                         f"{format_fen(refund.amount_fen)} owed back")
    return refund


# --- staff: a refund the channel refused ---------------------------------------------------


def _locked_failed(refund: OrderRefund, acting_user) -> OrderRefund:
    require_resolver(acting_user, refund.community_id)
    locked = OrderRefund.objects.select_for_update(no_key=True).get(pk=refund.pk)
    if locked.status != OrderRefund.Status.FAILED:
        raise ResolutionError(_("Only a refund that failed at the channel can be retried "
                                "or settled another way."))
    return locked


@transaction.atomic
def order_refund_retry(*, acting_user, refund: OrderRefund, reason: str) -> OrderRefund:
    """Send it again with the same refund number: the channel refunds it at most once."""
    reason = require_reason(reason)
    locked = _locked_failed(refund, acting_user)
    locked.status = OrderRefund.Status.PENDING
    locked.save(update_fields=["status"])
    audit_record(actor=acting_user, action=AuditEvent.Action.ACTION, obj=locked,
                 community_id=locked.community_id,
                 summary=f"retry refund {locked.out_refund_no} "
                         f"({format_fen(locked.amount_fen)}): {reason}"[:255])
    transaction.on_commit(lambda: _queue_refund(locked.pk))
    return locked


@transaction.atomic
def order_refund_settle_to_prepaid(*, acting_user, refund: OrderRefund,
                                   reason: str) -> OrderRefund:
    """Put the money back into the unit's prepaid balance (refunds payable → prepaid)."""
    reason = require_reason(reason)
    locked = _locked_failed(refund, acting_user)
    unit = locked.unit or (locked.order.unit if locked.order_id else None)
    if unit is None:
        raise ResolutionError(_("This money belongs to no unit; refund it or pay it at "
                                "the counter."))
    key = f"auto_refund_settled:{locked.out_refund_no}"
    prepaid_move(unit=unit, delta_fen=locked.amount_fen, kind=PrepaidMovement.Kind.REFUND,
                 payment=locked.payment, acting_user=acting_user, business_key=key)
    post_entry(
        community_id=locked.community_id, business_key=key,
        kind=postings.kind_of(postings.refund_returned_to_prepaid),
        lines=postings.refund_returned_to_prepaid(unit_id=unit.pk,
                                                  amount_fen=locked.amount_fen),
        memo=book_memo(gettext_lazy("Refund %(refund)s put back into the prepaid balance"),
                       refund=locked.out_refund_no),
        posted_by=acting_user,
    )
    return _settled(locked, OrderRefund.SettledBy.PREPAID, acting_user, reason)


@transaction.atomic
def order_refund_settle_at_counter(*, acting_user, refund: OrderRefund, channel: str,
                                   reason: str) -> OrderRefund:
    """The payer was paid in cash or by bank transfer (refunds payable → cash / bank)."""
    reason = require_reason(reason)
    if channel not in (OrderRefund.SettledBy.CASH, OrderRefund.SettledBy.TRANSFER):
        raise ResolutionError(_("Pay it back in cash or by bank transfer."))
    locked = _locked_failed(refund, acting_user)
    post_entry(
        community_id=locked.community_id,
        business_key=f"auto_refund_settled:{locked.out_refund_no}",
        kind=postings.kind_of(postings.refund_paid_from_payable),
        lines=postings.refund_paid_from_payable(channel=channel, amount_fen=locked.amount_fen),
        memo=book_memo(gettext_lazy("Refund %(refund)s paid back by %(channel)s"),
                       refund=locked.out_refund_no, channel=Channel(channel).label),
        posted_by=acting_user,
    )
    return _settled(locked, channel, acting_user, reason)


def _settled(refund: OrderRefund, settled_by: str, acting_user, reason: str) -> OrderRefund:
    refund.status, refund.finished_at = OrderRefund.Status.SETTLED, timezone.now()
    refund.settled_by, refund.settled_by_user, refund.settle_note = settled_by, acting_user, reason
    refund.save(update_fields=["status", "finished_at", "settled_by", "settled_by_user",
                               "settle_note"])
    audit_record(actor=acting_user, action=AuditEvent.Action.ACTION, obj=refund,
                 community_id=refund.community_id,
                 summary=f"refund {refund.out_refund_no} ({format_fen(refund.amount_fen)}) "
                         f"settled by {settled_by}: {reason}"[:255])
    return refund
