"""Recording money that does not fit: the flag staff see, money held in suspense, and
refunds made at the channel outside Linli.

Every anomaly says how much it holds in the suspense account (``suspense_fen``, see
``PaymentAnomaly``); the entries here put exactly that much in (or take it out), and
only a resolution (``linli.payments.resolutions``) moves it on. Callers hold the
order's row lock (or, for an unknown order, the unique gateway transaction row is the
guard) and run inside one transaction.
"""

from __future__ import annotations

import datetime as dt

from django.utils import timezone
from django.utils.translation import gettext_lazy

from linli.core.audit import audit_record
from linli.core.models import AuditEvent
from linli.ledger import postings
from linli.ledger.services import book_memo, post_entry
from linli.money import format_fen
from linli.payments.gateways.base import TradeStatus
from linli.payments.models import (
    Channel,
    GatewayTransaction,
    MerchantAccount,
    OutsideRefund,
    PaymentAnomaly,
    PaymentOrder,
)
from linli.payments.selectors import outside_refunded_fen


def anomaly_flag(community_id: int, key: str, kind: str, **fields) -> PaymentAnomaly:
    """Flag it once (by ``key``): a redelivery finds the same anomaly."""
    anomaly, _created = PaymentAnomaly.objects.get_or_create(
        key=key[:120], defaults={"community_id": community_id, "kind": kind, **fields})
    return anomaly


def suspense_receive(*, account: MerchantAccount, order: PaymentOrder | None,
                     trade: TradeStatus, amount_fen: int,
                     received_at: dt.datetime) -> GatewayTransaction:
    """Money that cannot be applied as it stands: the gateway transaction row (once, by
    the database) and its entry, channel clearing → suspense. No bill is touched."""
    channel = account.channel
    txn = GatewayTransaction.objects.create(
        community_id=account.community_id, channel=channel,
        transaction_id=trade.transaction_id, kind=GatewayTransaction.Kind.SUSPENSE,
        amount_fen=amount_fen, order=order, received_at=received_at,
    )
    post_entry(
        community_id=account.community_id,
        business_key=f"suspense:{channel}:{trade.transaction_id}",
        kind=postings.kind_of(postings.payment_to_suspense),
        lines=postings.payment_to_suspense(channel=channel, amount_fen=amount_fen),
        effective_on=timezone.localtime(received_at).date(),
        memo=book_memo(gettext_lazy("%(channel)s transaction %(transaction)s of order "
                                    "%(order)s: held until staff resolve it"),
                       channel=Channel(channel).label, transaction=trade.transaction_id,
                       order=trade.out_trade_no),
    )
    return txn


def outside_total_fen(channel: str, transaction_id: str, amount_fen: int) -> int:
    """What will have been refunded outside Linli on the trade once ``amount_fen`` more
    is recorded: it only grows, so it names each record of it (never the total the
    channel reported, which a refund of Linli's that failed meanwhile leaves the same)."""
    return outside_refunded_fen(channel=channel, transaction_id=transaction_id) + amount_fen


def outside_refund_record(*, anomaly: PaymentAnomaly, order: PaymentOrder | None,
                          reported_fen: int, amount_fen: int) -> OutsideRefund:
    """The channel refunded ``amount_fen`` more than Linli did (``reported_fen`` in all):
    the money left the channel's account; suspense holds the difference. Recorded once
    per total refunded outside Linli on the trade (``outside_total_fen``)."""
    total_fen = outside_total_fen(anomaly.channel, anomaly.transaction_id, amount_fen)
    refund = OutsideRefund.objects.create(
        community_id=anomaly.community_id, channel=anomaly.channel,
        transaction_id=anomaly.transaction_id, order=order, reported_fen=reported_fen,
        amount_fen=amount_fen, total_fen=total_fen, anomaly=anomaly,
    )
    post_entry(
        community_id=anomaly.community_id,
        business_key=f"refund_outside:{anomaly.channel}:{anomaly.transaction_id}:"
                     f"in_all:{total_fen}",
        kind=postings.kind_of(postings.channel_refunded_outside),
        lines=postings.channel_refunded_outside(channel=anomaly.channel,
                                                amount_fen=amount_fen),
        memo=book_memo(gettext_lazy("%(channel)s transaction %(transaction)s: %(amount)s "
                                    "refunded at the channel outside Linli"),
                       channel=Channel(anomaly.channel).label,
                       transaction=anomaly.transaction_id, amount=format_fen(amount_fen)),
    )
    audit_record(actor=None, action=AuditEvent.Action.SECURITY, obj=anomaly,
                 community_id=anomaly.community_id,
                 summary=f"{anomaly.channel} {anomaly.transaction_id}: "
                         f"{format_fen(amount_fen)} refunded outside Linli")
    return refund
