"""Invariants of online payments (run by `linli check`). They read the stored rows, not
the code paths that wrote them."""

from __future__ import annotations

import datetime as dt
from collections import defaultdict

from django.db.models import Count, F, Q, Sum
from django.utils import timezone

from linli.core.invariants import invariant
from linli.ledger import chart
from linli.ledger.models import JournalEntry, JournalLine
from linli.payments.hooks import channel_refunds_paid
from linli.payments.models import (
    CHANNEL_ACCOUNT,
    Channel,
    GatewayTransaction,
    OrderRefund,
    OutsideRefund,
    Payment,
    PaymentAnomaly,
    PaymentOrder,
    PaymentOrderBill,
)

MAX_REPORTED = 50
ONLINE = (Channel.WECHAT, Channel.ALIPAY, Channel.SANDBOX)


@invariant("payments.gateway_transactions_posted_once",
           "every gateway transaction id is one payment (or one suspense receipt), posted "
           "exactly once")
def gateway_transactions_posted_once() -> tuple[int, list[str]]:
    violations: list[str] = []
    twice = (Payment.objects.filter(channel__in=ONLINE).exclude(reference="")
             .values("channel", "reference").annotate(n=Count("id")).filter(n__gt=1)
             .order_by("channel", "reference"))
    violations += [f"{r['channel']} transaction {r['reference']}: {r['n']} payments"
                   for r in twice[:MAX_REPORTED]]
    txns = list(GatewayTransaction.objects.values_list(
        "id", "channel", "transaction_id", "kind", "payment_id", "amount_fen"))
    keys = {}
    for _pk, channel, txn_id, kind, payment_id, _amount in txns:
        if kind == GatewayTransaction.Kind.PAYMENT:
            if payment_id is None:
                violations.append(f"{channel} transaction {txn_id}: no payment")
                continue
            keys[f"payment:{payment_id}"] = (channel, txn_id)
        else:
            keys[f"suspense:{channel}:{txn_id}"] = (channel, txn_id)
    posted = set(JournalEntry.objects.filter(business_key__in=list(keys))
                 .values_list("business_key", flat=True)) if keys else set()
    violations += [f"{keys[k][0]} transaction {keys[k][1]}: not posted ({k})"
                   for k in sorted(set(keys) - posted)]
    # An online payment recorded from a gateway must have its transaction row.
    gateway_payments = Payment.objects.filter(channel__in=ONLINE).exclude(reference="").filter(
        gateway_transaction__isnull=True, idempotency_key__regex=r"^(wechat|alipay|sandbox):")
    violations += [f"payment #{pk}: gateway payment without its transaction row"
                   for pk in gateway_payments.values_list("id", flat=True)[:MAX_REPORTED]]
    mismatched = GatewayTransaction.objects.filter(
        kind=GatewayTransaction.Kind.PAYMENT, payment__isnull=False
    ).exclude(payment__reference=F("transaction_id"))
    violations += [f"{t}: payment reference differs" for t in mismatched[:MAX_REPORTED]]
    return len(txns), violations[:MAX_REPORTED]


@invariant("payments.clearing_matches_channel",
           "each online channel's clearing account equals payments + suspense receipts − "
           "refunds paid out − refunds made at the channel outside Linli, per community")
def clearing_matches_channel() -> tuple[int, list[str]]:
    expected: dict[tuple[int, str], int] = defaultdict(int)
    for row in (Payment.objects.filter(channel__in=ONLINE).values("community_id", "channel")
                .annotate(total=Sum("amount_fen")).order_by()):
        expected[(row["community_id"], row["channel"])] += row["total"]
    for row in (GatewayTransaction.objects.filter(kind=GatewayTransaction.Kind.SUSPENSE)
                .values("community_id", "channel").annotate(total=Sum("amount_fen")).order_by()):
        expected[(row["community_id"], row["channel"])] += row["total"]
    for row in (OrderRefund.objects.filter(Q(status=OrderRefund.Status.SUCCESS)
                                           | Q(late_success_at__isnull=False))
                .values("community_id", "channel").annotate(total=Sum("amount_fen"))
                .order_by()):
        expected[(row["community_id"], row["channel"])] -= row["total"]
    for row in (OutsideRefund.objects.values("community_id", "channel")
                .annotate(total=Sum("amount_fen")).order_by()):
        expected[(row["community_id"], row["channel"])] -= row["total"]
    for row in channel_refunds_paid.rows(ONLINE):  # owners' applications (refunds app)
        expected[(row["community_id"], row["channel"])] -= row["total"]
    accounts = {CHANNEL_ACCOUNT[c]: c for c in ONLINE}
    ledger: dict[tuple[int, str], int] = defaultdict(int)
    for row in (JournalLine.objects.filter(account__in=list(accounts))
                .values("community_id", "account")
                .annotate(d=Sum("amount_fen", filter=Q(side=JournalLine.DEBIT), default=0),
                          c=Sum("amount_fen", filter=Q(side=JournalLine.CREDIT), default=0))
                .order_by()):
        ledger[(row["community_id"], accounts[row["account"]])] += row["d"] - row["c"]
    violations = [
        f"community #{cid} {channel}: clearing {ledger.get((cid, channel), 0)} fen, "
        f"expected {expected.get((cid, channel), 0)} fen"
        for cid, channel in sorted(set(expected) | set(ledger))
        if ledger.get((cid, channel), 0) != expected.get((cid, channel), 0)
    ]
    return len(set(expected) | set(ledger)), violations[:MAX_REPORTED]


@invariant("payments.bill_in_one_open_order",
           "no bill is held by two open payment orders, and order lines are open exactly "
           "when their order is")
def bill_in_one_open_order() -> tuple[int, list[str]]:
    open_q = Q(order__status__in=PaymentOrder.OPEN_STATUSES)
    twice = (PaymentOrderBill.objects.filter(open_q).values("bill_id")
             .annotate(n=Count("order_id", distinct=True)).filter(n__gt=1).order_by("bill_id"))
    violations = [f"bill #{r['bill_id']}: in {r['n']} open orders" for r in twice[:MAX_REPORTED]]
    wrong = PaymentOrderBill.objects.filter((open_q & Q(open=False)) | (~open_q & Q(open=True)))
    violations += [f"order line #{pk}: open flag disagrees with its order"
                   for pk in wrong.values_list("id", flat=True)[:MAX_REPORTED]]
    return PaymentOrderBill.objects.count(), violations[:MAX_REPORTED]


def _balances(account: str, *, credit_normal: bool) -> dict[int, int]:
    """An account's balance per community, in its normal direction."""
    sign = 1 if credit_normal else -1
    return {row["community_id"]: sign * (row["c"] - row["d"]) for row in (
        JournalLine.objects.filter(account=account).values("community_id")
        .annotate(d=Sum("amount_fen", filter=Q(side=JournalLine.DEBIT), default=0),
                  c=Sum("amount_fen", filter=Q(side=JournalLine.CREDIT), default=0))
        .order_by())}


# A resolution posts under ``anomaly_resolve:<pk>`` unless it made a payment (its own
# entry) or a refund (``auto_refund:<out_refund_no>``); "keep" moves no money.
_POSTED_ELSEWHERE = (PaymentAnomaly.Resolution.APPLY_TO_BILLS,
                     PaymentAnomaly.Resolution.TO_PREPAID, PaymentAnomaly.Resolution.REFUND,
                     PaymentAnomaly.Resolution.KEEP)


@invariant("payments.suspense_held_by_open_anomalies",
           "the suspense account of each community equals the money its open anomalies "
           "hold (zero when none does), and every resolved anomaly that held money posted "
           "its resolution")
def suspense_held_by_open_anomalies() -> tuple[int, list[str]]:
    ledger = _balances(chart.SUSPENSE, credit_normal=True)
    held = {row["community_id"]: row["s"] for row in (
        PaymentAnomaly.objects.filter(status=PaymentAnomaly.Status.OPEN)
        .values("community_id").annotate(s=Sum("suspense_fen")).order_by())}
    violations = [
        f"community #{cid}: suspense {ledger.get(cid, 0)} fen, open anomalies hold "
        f"{held.get(cid, 0)} fen"
        for cid in sorted(set(ledger) | set(held)) if ledger.get(cid, 0) != held.get(cid, 0)
    ]
    resolved = PaymentAnomaly.objects.filter(status=PaymentAnomaly.Status.RESOLVED).exclude(
        suspense_fen=0)
    posted = set(JournalEntry.objects.filter(business_key__startswith="anomaly_resolve:")
                 .values_list("business_key", flat=True))
    refunded = set(OrderRefund.objects.filter(anomaly__isnull=False)
                   .values_list("anomaly_id", flat=True))
    for pk, resolution, payment_id in resolved.values_list("pk", "resolution",
                                                           "resolution_payment_id"):
        if resolution in (PaymentAnomaly.Resolution.APPLY_TO_BILLS,
                          PaymentAnomaly.Resolution.TO_PREPAID):
            ok = payment_id is not None
        elif resolution == PaymentAnomaly.Resolution.REFUND:
            ok = pk in refunded
        else:
            ok = resolution not in _POSTED_ELSEWHERE and f"anomaly_resolve:{pk}" in posted
        if not ok:
            violations.append(f"anomaly #{pk}: resolved ({resolution or 'no resolution'}) "
                              f"without posting it")
    return len(held) + resolved.count(), violations[:MAX_REPORTED]


@invariant("payments.paid_orders_have_payments",
           "every paid order has its payment and gateway transaction, and every payment of "
           "held money comes from a resolved anomaly")
def paid_orders_have_payments() -> tuple[int, list[str]]:
    paid = PaymentOrder.objects.filter(status=PaymentOrder.Status.PAID)
    violations = [f"order {no}: paid without a payment" for no in
                  paid.filter(payment__isnull=True).values_list("out_trade_no", flat=True)]
    txn_payments = set(GatewayTransaction.objects.filter(
        kind=GatewayTransaction.Kind.PAYMENT, order__status=PaymentOrder.Status.PAID,
    ).values_list("order_id", "payment_id"))
    for pk, no, payment_id in paid.filter(payment__isnull=False).values_list(
            "pk", "out_trade_no", "payment_id"):
        if (pk, payment_id) not in txn_payments:
            violations.append(f"order {no}: its payment #{payment_id} has no gateway "
                              f"transaction of this order")
    sourced = set(PaymentAnomaly.objects.filter(
        status=PaymentAnomaly.Status.RESOLVED, resolution_payment__isnull=False,
    ).values_list("resolution_payment_id", flat=True))
    held_payments = Payment.objects.filter(channel=Channel.SUSPENSE)
    violations += [f"payment #{pk}: paid from suspense, but no resolved anomaly made it"
                   for pk in held_payments.values_list("pk", flat=True) if pk not in sourced]
    return paid.count() + held_payments.count(), violations[:MAX_REPORTED]


# The janitor runs every minute; an open order past its expiry it has not looked at for
# this long means it is not running, or is not reaching every order.
JANITOR_GRACE = dt.timedelta(hours=1)


@invariant("payments.janitor_visits_open_orders",
           "no order stays created or pending an hour past its expiry without the janitor "
           "having looked at it in the last hour")
def janitor_visits_open_orders() -> tuple[int, list[str]]:
    cutoff = timezone.now() - JANITOR_GRACE
    stale = PaymentOrder.objects.filter(
        status__in=PaymentOrder.OPEN_STATUSES, expires_at__lt=cutoff,
    ).filter(Q(last_checked_at__isnull=True) | Q(last_checked_at__lt=cutoff))
    violations = [f"order {no}: open, expired at {expires:%Y-%m-%d %H:%M}, not visited by "
                  f"the janitor since" for no, expires in
                  stale.values_list("out_trade_no", "expires_at")[:MAX_REPORTED]]
    return PaymentOrder.objects.filter(status__in=PaymentOrder.OPEN_STATUSES).count(), \
        violations
