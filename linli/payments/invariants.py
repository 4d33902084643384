"""Invariants of online payments (run by `linli check`). They read the stored rows, not
the code paths that wrote them."""

from __future__ import annotations

from collections import defaultdict

from django.db.models import Count, F, Q, Sum

from linli.core.invariants import invariant
from linli.ledger.models import JournalEntry, JournalLine
from linli.payments.models import (
    CHANNEL_ACCOUNT,
    Channel,
    GatewayTransaction,
    OrderRefund,
    Payment,
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
           "refunds paid out, per community")
def clearing_matches_channel() -> tuple[int, list[str]]:
    expected: dict[tuple[int, str], int] = defaultdict(int)
    for row in (Payment.objects.filter(channel__in=ONLINE).values("community_id", "channel")
                .annotate(total=Sum("amount_fen")).order_by()):
        expected[(row["community_id"], row["channel"])] += row["total"]
    for row in (GatewayTransaction.objects.filter(kind=GatewayTransaction.Kind.SUSPENSE)
                .values("community_id", "channel").annotate(total=Sum("amount_fen")).order_by()):
        expected[(row["community_id"], row["channel"])] += row["total"]
    for row in (OrderRefund.objects.filter(status=OrderRefund.Status.SUCCESS)
                .values("community_id", "order__channel").annotate(total=Sum("amount_fen"))
                .order_by()):
        expected[(row["community_id"], row["order__channel"])] -= row["total"]
    for row in _refund_payouts_paid():  # refunds of owners' applications (refunds app)
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


def _refund_payouts_paid():
    """Online refunds paid out by the refunds app, per community and channel."""
    from django.apps import apps

    if not apps.is_installed("linli.refunds"):
        return []
    from linli.refunds.models import RefundPayout

    return (RefundPayout.objects.filter(status__in=RefundPayout.CHANNEL_PAID, channel__in=ONLINE)
            .values("community_id", "channel").annotate(total=Sum("amount_fen")).order_by())


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
