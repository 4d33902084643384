"""WeChat Pay v3 ``trade_state``: every word a query or a ``TRANSACTION.SUCCESS``
notification can carry, and what it means to us (``TradeStatus.state`` and
``refunded_fen``). The adapter classifies with this table; the docs are rendered from
it (``docs/channel-states.md``)."""

from __future__ import annotations

from collections.abc import Mapping

from linli.payments.gateways.base import TradeState
from linli.payments.gateways.statetable import BOTH, QUERY, ChannelTable, StateRow

PAYMENT_CODE = ("payment-code (付款码) trades only; Linli creates Native, JSAPI and H5 "
                "trades, so this is read defensively")


def _total(data: Mapping, amount_fen: int | None) -> int:
    return amount_fen or 0


def _was_paid(data: Mapping) -> bool:
    return bool(data.get("success_time") or data.get("transaction_id"))


def _not_paid(data: Mapping) -> bool:
    return not _was_paid(data)


Q = (QUERY,)  # WeChat notifies payments only: every other word comes from a query

TABLE = ChannelTable(
    channel="wechat",
    title="WeChat Pay (API v3)",
    field="trade_state",
    intro=("The state word is `trade_state` of the transaction object: in a query "
           "(`GET /v3/pay/transactions/out-trade-no/{no}`) and in the encrypted resource "
           "of a `TRANSACTION.SUCCESS` notification (WeChat notifies only payments, so in "
           "practice a notification says `SUCCESS`; any other word is read by the same "
           "table). The amount is `amount.total` in fen. WeChat never says how much of a "
           "trade was refunded: `REFUND` means some or all of it was."),
    rows=(
        StateRow("SUCCESS", "SUCCESS", TradeState.PAID,
                 refunded="0 (a trade refunded in any part says REFUND instead)",
                 seen_in=BOTH),
        StateRow("REFUND", "REFUND", TradeState.REFUNDED, seen_in=Q,
                 refunded="not told (0): some or all of it was refunded, WeChat does not "
                          "say how much",
                 note="refunded by Linli's own refund or on the merchant platform"),
        StateRow("NOTPAY", "NOTPAY", TradeState.NOTPAY, seen_in=Q),
        StateRow("USERPAYING", "USERPAYING", TradeState.NOTPAY, seen_in=Q,
                 note="the payer is entering the password; " + PAYMENT_CODE),
        StateRow("ACCEPT", "ACCEPT", TradeState.NOTPAY, seen_in=Q,
                 note="received, waiting for the debit; " + PAYMENT_CODE),
        StateRow("PAYERROR", "PAYERROR", TradeState.NOTPAY, seen_in=Q,
                 note="the payment failed (e.g. the bank refused); no money arrived and "
                      "the order stays open until it expires and is closed; "
                      + PAYMENT_CODE),
        StateRow("CLOSED", "CLOSED", TradeState.CLOSED, seen_in=Q),
        StateRow("REVOKED+paid", "REVOKED", TradeState.REFUNDED, seen_in=Q,
                 when="carrying success_time or transaction_id (it was paid, then revoked)",
                 refunded="amount.total: revoking a paid trade returns all of it",
                 applies=_was_paid, refunded_fen=_total, note=PAYMENT_CODE),
        StateRow("REVOKED", "REVOKED", TradeState.CLOSED, seen_in=Q,
                 when="without payment fields", applies=_not_paid, note=PAYMENT_CODE),
        StateRow("ORDER_NOT_EXIST", "(404 ORDER_NOT_EXIST)", TradeState.NOTPAY,
                 seen_in=(QUERY,),
                 note="the gateway never received the order (its create timed out): "
                      "unpaid; closing it answers CLOSED"),
    ),
    unknown=StateRow("other", "any other word", TradeState.UNKNOWN, refunded="0"),
)
