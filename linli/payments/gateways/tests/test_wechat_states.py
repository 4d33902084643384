"""Every row of the WeChat Pay state table (``wechat/states.py``), through the real
adapter: the simulator puts a real order in each state, and the adapter reads it from a
signed query answer and from a signed, encrypted notification.

WeChat notifies payments only; a notification carrying any other trade_state is made
by the simulator's own ``transaction_notification`` (signed and encrypted exactly as a
sent one) so that every row is read on both paths."""

from __future__ import annotations

import datetime as dt
import uuid

import pytest

from linli.payments.gateways import gateway_for
from linli.payments.gateways.base import (
    CreateRequest,
    MerchantConfig,
    PayMode,
    RefundState,
    TradeState,
)
from linli.payments.gateways.statetable import NOTIFICATION, QUERY
from linli.payments.gateways.wechat.states import TABLE

AMOUNT = 2500
PART = 1000


def now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


@pytest.fixture(scope="module")
def config(wechat_server, notify_sink) -> MerchantConfig:
    sim, _ = wechat_server
    return MerchantConfig(**sim.provision_merchant(
        notify_url=notify_sink.url + "/notify/wechat"))


@pytest.fixture
def gw(config, wechat_sim):
    return gateway_for(config)


def unpaid(gw, sim) -> str:
    no = "S" + uuid.uuid4().hex[:24]
    gw.create(CreateRequest(out_trade_no=no, amount_fen=AMOUNT, description="物业费",
                            expires_at=now() + dt.timedelta(minutes=30), mode=PayMode.NATIVE))
    return no


def paid(gw, sim) -> str:
    no = unpaid(gw, sim)
    sim.pay(no)
    return no


def refunded_on_the_platform(gw, sim) -> str:
    no = paid(gw, sim)
    sim.refund_outside(no, PART)
    return no


def payment_code(state: str):
    def scenario(gw, sim) -> str:
        no = unpaid(gw, sim)
        sim.payment_code_state(no, state)
        return no
    return scenario


def closed(gw, sim) -> str:
    no = unpaid(gw, sim)
    assert gw.close(no).state == TradeState.CLOSED
    return no


def revoked_after_payment(gw, sim) -> str:
    no = paid(gw, sim)
    sim.revoke(no)
    return no


def revoked_unpaid(gw, sim) -> str:
    no = unpaid(gw, sim)
    sim.revoke(no)
    return no


def never_sent(gw, sim) -> str:
    return "NEVER" + uuid.uuid4().hex[:20]


def a_new_word(gw, sim) -> str:
    no = unpaid(gw, sim)
    sim._find_order(no).state = "FROZEN"  # a word WeChat might add one day
    return no


# row key → (how the simulator gets a real order there, (state, amount_fen, refunded_fen))
ROWS = {
    "SUCCESS": (paid, (TradeState.PAID, AMOUNT, 0)),
    "REFUND": (refunded_on_the_platform, (TradeState.REFUNDED, AMOUNT, 0)),
    "NOTPAY": (unpaid, (TradeState.NOTPAY, None, 0)),
    "USERPAYING": (payment_code("USERPAYING"), (TradeState.NOTPAY, None, 0)),
    "ACCEPT": (payment_code("ACCEPT"), (TradeState.NOTPAY, None, 0)),
    "PAYERROR": (payment_code("PAYERROR"), (TradeState.NOTPAY, None, 0)),
    "CLOSED": (closed, (TradeState.CLOSED, None, 0)),
    "REVOKED+paid": (revoked_after_payment, (TradeState.REFUNDED, AMOUNT, AMOUNT)),
    "REVOKED": (revoked_unpaid, (TradeState.CLOSED, None, 0)),
    "ORDER_NOT_EXIST": (never_sent, (TradeState.NOTPAY, None, 0)),
    "other": (a_new_word, (TradeState.UNKNOWN, None, 0)),
}
QUERY_ONLY = {"ORDER_NOT_EXIST"}  # an order the gateway never saw is never notified


def test_every_row_is_tested_on_every_path_that_reports_it():
    """Every row is read from a query and (but where it cannot be notified) from a
    notification; a row added to the table without a scenario here fails."""
    assert set(ROWS) == {row.key for row in (*TABLE.rows, TABLE.unknown)}
    assert all(QUERY in TABLE.row(key).seen_in for key in QUERY_ONLY)
    assert not any(NOTIFICATION in TABLE.row(key).seen_in for key in QUERY_ONLY)


def read(status) -> tuple:
    return status.state, status.amount_fen, status.refunded_fen


@pytest.mark.parametrize("key", list(ROWS))
def test_query(gw, wechat_sim, sink, key):
    scenario, expected = ROWS[key]
    no = scenario(gw, wechat_sim)
    status = gw.query(no)
    assert read(status) == expected
    assert status.state == TABLE.row(key).state
    if key != "ORDER_NOT_EXIST":
        assert status.channel_state == TABLE.row(key).channel_state or key == "other"
        assert status.channel_state == status.raw["trade_state"]
    if status.state in (TradeState.PAID, TradeState.REFUNDED):
        assert status.transaction_id and status.paid_at is not None
    else:
        assert status.paid_at is None


@pytest.mark.parametrize("key", sorted(set(ROWS) - QUERY_ONLY))
def test_notification(gw, wechat_sim, sink, key):
    scenario, expected = ROWS[key]
    no = scenario(gw, wechat_sim)
    headers, body = wechat_sim.transaction_notification(no)
    note = gw.parse_notification(headers, body, now=now())
    assert note.kind == "payment" and note.out_trade_no == no
    assert read(note.trade) == expected
    assert note.trade.channel_state == note.raw["resource"]["trade_state"]


def test_the_payment_notification_actually_sent_says_success(gw, wechat_sim, sink):
    no = paid(gw, wechat_sim)
    (received,) = sink.wait_for(1)
    note = gw.parse_notification(received.headers, received.body, now=now())
    assert read(note.trade) == (TradeState.PAID, AMOUNT, 0)
    assert note.trade.channel_state == "SUCCESS" and note.out_trade_no == no


def test_a_refund_on_the_merchant_platform(gw, wechat_sim, sink):
    """Refunded outside Linli: the trade reads REFUNDED (never a clean payment), a
    REFUND.SUCCESS arrives for a refund number Linli never made, and closing the
    trade reports the money rather than "closed"."""
    no = paid(gw, wechat_sim)
    sink.wait_for(1)
    sink.reset()
    refund = wechat_sim.refund_outside(no, PART)
    (received,) = sink.wait_for(1)
    note = gw.parse_notification(received.headers, received.body, now=now())
    assert note.kind == "refund" and note.out_trade_no == no
    assert note.refund.out_refund_no == refund["out_refund_no"]
    assert note.refund.state == RefundState.SUCCESS and note.refund.refund_fen == PART
    closing = gw.close(no)
    assert read(closing) == (TradeState.REFUNDED, AMOUNT, 0)


def test_payment_code_states_can_still_be_paid_or_closed(gw, wechat_sim):
    paying = payment_code("USERPAYING")(gw, wechat_sim)
    wechat_sim.pay(paying)
    assert gw.query(paying).state == TradeState.PAID
    failed = payment_code("PAYERROR")(gw, wechat_sim)
    assert gw.close(failed).state == TradeState.CLOSED
    assert gw.query(failed).channel_state == "CLOSED"
