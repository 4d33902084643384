"""Channel state tables: every trade state a channel's notification or query can report,
and what it means in our words (``TradeState`` and how ``refunded_fen`` is read).

Each channel keeps its table in code (``wechat/states.py``, ``alipay/states.py``); its
adapter classifies what the gateway says with ``classify`` on that table, so the table
*is* the mapping, not a description of it. ``docs/channel-states.md`` is rendered from
the same tables (``linli.payments.gateways.channel_states``).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from linli.payments.gateways.base import TradeState, TradeStatus

NOTIFICATION = "notification"
QUERY = "query"
BOTH = (NOTIFICATION, QUERY)

# What Linli does with a trade in each state (docs; trade_apply and the janitor act on it).
LINLI_DOES: dict[TradeState, str] = {
    TradeState.PAID: (
        "Apply the money to the order's bills once (a repeat of the same transaction is a "
        "duplicate, a different amount goes to suspense as an anomaly). A PAID trade that "
        "carries refunded_fen was refunded in part at the channel: the payment is applied "
        "and the refund made outside Linli is recorded and flagged for staff."),
    TradeState.REFUNDED: (
        "Money was received and then refunded at the channel. Record the payment if it is "
        "not yet recorded and the refund made at the channel, and flag it for staff; never "
        "a clean payment, never 'closed unpaid'."),
    TradeState.NOTPAY: (
        "Nothing received yet: keep the order waiting; the janitor queries it again and "
        "closes it at the channel once it has expired."),
    TradeState.CLOSED: (
        "Closed or expired without money: end the order unpaid (the owner may start a new "
        "payment)."),
    TradeState.UNKNOWN: (
        "A state we cannot classify: leave the order open, log it, and query again later; "
        "never treated as paid."),
}


def _always(_data: Mapping) -> bool:
    return True


def _not_told(_data: Mapping, _amount_fen: int | None) -> int:
    return 0


@dataclass(frozen=True)
class StateRow:
    """One row: the channel's word (``channel_state``), under a condition, means
    ``state``; ``refunded_fen`` reads the refunded amount from the gateway's fields
    (``data``) and the trade's amount in fen. ``when`` and ``refunded`` say the same in
    words for the docs."""

    key: str                          # unique in its table, e.g. "TRADE_CLOSED+refund_fee"
    channel_state: str                # the channel's own state word
    state: TradeState
    refunded: str = "0 (nothing refunded)"
    when: str = ""                    # the condition in words; "" = always
    seen_in: tuple[str, ...] = BOTH   # where the channel can report it
    note: str = ""
    applies: Callable[[Mapping], bool] = _always
    refunded_fen: Callable[[Mapping, int | None], int] = _not_told


@dataclass(frozen=True)
class ChannelTable:
    channel: str                      # "wechat" | "alipay"
    title: str                        # heading in the docs
    field: str                        # the field that carries the state word
    rows: tuple[StateRow, ...]
    unknown: StateRow                 # what any other word means
    intro: str = ""

    def __post_init__(self) -> None:
        keys = [row.key for row in (*self.rows, self.unknown)]
        if len(keys) != len(set(keys)):
            raise ValueError(f"duplicate row keys in the {self.channel} table")
        if self.unknown.state != TradeState.UNKNOWN:
            raise ValueError("an unknown word must mean UNKNOWN")

    def row(self, key: str) -> StateRow:
        return next(row for row in (*self.rows, self.unknown) if row.key == key)

    def classify(self, channel_state: str, data: Mapping) -> StateRow:
        """The first row for ``channel_state`` whose condition holds; ``unknown`` for a
        word the table does not have (or no condition holding)."""
        for row in self.rows:
            if row.channel_state == channel_state and row.applies(data):
                return row
        return self.unknown


MONEY_STATES = (TradeState.PAID, TradeState.REFUNDED)


def trade_status(row: StateRow, data: Mapping, *, out_trade_no: str, channel_state: str,
                 transaction_id: str, amount_fen: int | None, paid_at: dt.datetime | None,
                 raw: dict) -> TradeStatus:
    """The ``TradeStatus`` a row means. Amount, payment time and refunded amount are
    kept only where money was received (PAID, REFUNDED); ``refunded_fen`` is read by
    the row (ValueError when its field is malformed)."""
    money = row.state in MONEY_STATES
    return TradeStatus(
        out_trade_no=out_trade_no, state=row.state, transaction_id=transaction_id,
        amount_fen=amount_fen if money else None, paid_at=paid_at if money else None,
        refunded_fen=row.refunded_fen(data, amount_fen) if money else 0,
        raw=raw, channel_state=channel_state)
