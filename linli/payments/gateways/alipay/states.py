"""Alipay ``trade_status``: every word (and the fields that change its meaning) a query
(``alipay.trade.query``) or a ``trade_status_sync`` notification can carry, and what it
means to us (``TradeStatus.state`` and ``refunded_fen``). The adapter classifies with
this table; the docs are rendered from it (``docs/channel-states.md``).

A malformed amount in ``refund_fee`` / ``total_amount`` raises ValueError from the
conditions; the adapter turns that into a refused answer or notification."""

from __future__ import annotations

from collections.abc import Mapping

from linli.payments.gateways.alipay.amounts import yuan_to_fen
from linli.payments.gateways.base import TradeState
from linli.payments.gateways.statetable import NOTIFICATION, QUERY, ChannelTable, StateRow


def refund_fee_fen(data: Mapping) -> int:
    """``refund_fee`` (cumulative, yuan) in fen; 0 when absent or empty."""
    value = data.get("refund_fee")
    return yuan_to_fen(value) if value not in (None, "") else 0


def _total_fen(data: Mapping) -> int:
    return yuan_to_fen(data.get("total_amount"))


def _was_paid(data: Mapping) -> bool:
    return bool(data.get("gmt_payment") or data.get("send_pay_date"))


def _refunded_in_full(data: Mapping) -> bool:
    refunded = refund_fee_fen(data)
    return refunded > 0 and refunded >= _total_fen(data)


def _refunded_in_part(data: Mapping) -> bool:
    return refund_fee_fen(data) > 0


def _read_refund_fee(data: Mapping, _amount_fen: int | None) -> int:
    return refund_fee_fen(data)


def _whole_amount(data: Mapping, amount_fen: int | None) -> int:
    return amount_fen if amount_fen is not None else _total_fen(data)


REFUND_FEE = "refund_fee (cumulative, yuan → fen)"
IN_FULL_NOTE = ("not seen in practice (Alipay closes a trade refunded in full); read "
                "defensively: all the money went back")

N = (NOTIFICATION,)  # refund_fee comes in notifications only; a query never carries it

TABLE = ChannelTable(
    channel="alipay",
    title="Alipay (OpenAPI, RSA2)",
    field="trade_status",
    intro=("The state word is `trade_status`, in an `alipay.trade.query` answer and in a "
           "`trade_status_sync` notification. The amount is `total_amount` (yuan, read "
           "exactly into fen). A refund re-sends the notification with `refund_fee` (the "
           "total refunded so far), `gmt_refund` and `out_biz_no`; a query does not say "
           "how much was refunded. A trade refunded in full becomes `TRADE_CLOSED` and "
           "keeps its payment time (`gmt_payment` in notifications, `send_pay_date` in "
           "queries): that is a payment and a refund, never an unpaid close. Rows are "
           "tried top to bottom; the first whose condition holds applies."),
    rows=(
        StateRow("WAIT_BUYER_PAY", "WAIT_BUYER_PAY", TradeState.NOTPAY,
                 note="the buyer scanned or logged in but has not paid; not notified by "
                      "default"),
        StateRow("TRADE_SUCCESS+refund_fee=total", "TRADE_SUCCESS", TradeState.REFUNDED,
                 when="refund_fee at least total_amount", refunded=REFUND_FEE,
                 applies=_refunded_in_full, refunded_fen=_read_refund_fee, seen_in=N,
                 note=IN_FULL_NOTE),
        StateRow("TRADE_SUCCESS+refund_fee", "TRADE_SUCCESS", TradeState.PAID,
                 when="refund_fee above 0 (refunded in part)", refunded=REFUND_FEE,
                 applies=_refunded_in_part, refunded_fen=_read_refund_fee, seen_in=N,
                 note="by Linli's own refund or on the merchant platform"),
        StateRow("TRADE_SUCCESS", "TRADE_SUCCESS", TradeState.PAID,
                 when="no refund_fee", note="paid and still refundable"),
        StateRow("TRADE_FINISHED+refund_fee=total", "TRADE_FINISHED", TradeState.REFUNDED,
                 when="refund_fee at least total_amount", refunded=REFUND_FEE,
                 applies=_refunded_in_full, refunded_fen=_read_refund_fee, seen_in=N,
                 note=IN_FULL_NOTE),
        StateRow("TRADE_FINISHED+refund_fee", "TRADE_FINISHED", TradeState.PAID,
                 when="refund_fee above 0 (refunded in part before it finished)",
                 refunded=REFUND_FEE, applies=_refunded_in_part,
                 refunded_fen=_read_refund_fee, seen_in=N),
        StateRow("TRADE_FINISHED", "TRADE_FINISHED", TradeState.PAID,
                 when="no refund_fee",
                 note="paid; the refund window has passed, no refund is possible"),
        StateRow("TRADE_CLOSED+refund_fee", "TRADE_CLOSED", TradeState.REFUNDED,
                 when="refund_fee above 0 (refunded in full)", refunded=REFUND_FEE,
                 applies=_refunded_in_part, refunded_fen=_read_refund_fee, seen_in=N,
                 note="by Linli's own refund or on the merchant platform"),
        StateRow("TRADE_CLOSED+paid", "TRADE_CLOSED", TradeState.REFUNDED,
                 when="gmt_payment / send_pay_date, no refund_fee (a query of a trade "
                      "refunded in full)",
                 refunded="total_amount: a paid trade closes only when all of it is "
                          "refunded",
                 applies=_was_paid, refunded_fen=_whole_amount, seen_in=(QUERY,)),
        StateRow("TRADE_CLOSED", "TRADE_CLOSED", TradeState.CLOSED,
                 when="no gmt_payment / send_pay_date, no refund_fee",
                 note="closed or expired unpaid"),
        StateRow("TRADE_NOT_EXIST", "(40004 ACQ.TRADE_NOT_EXIST)", TradeState.NOTPAY,
                 seen_in=(QUERY,),
                 note="a QR code nobody scanned yet, a cashier nobody logged in to: "
                      "unpaid (closing it answers CLOSED)"),
    ),
    unknown=StateRow("other", "any other word", TradeState.UNKNOWN, refunded="0",
                     seen_in=(NOTIFICATION, QUERY)),
)
