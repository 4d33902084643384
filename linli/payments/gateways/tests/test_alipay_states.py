"""Every row of the Alipay state table (``alipay/states.py``), through the real adapter:
the simulator puts a real trade in each state, and the adapter reads it from a signed
``alipay.trade.query`` answer and from the signed ``trade_status_sync`` notification the
simulator sends.

Rows the real gateway does not produce on a path (a notification of a trade refunded in
full that still says TRADE_SUCCESS, a closed paid trade without refund_fee in a
notification, a state word Alipay might add) are read from notifications built from the
simulator's own sent ones and signed again with its Alipay key."""

from __future__ import annotations

import datetime as dt
import time
from urllib.parse import parse_qsl, urlencode

import pytest

from linli.payments.gateways import gateway_for
from linli.payments.gateways.alipay.states import TABLE
from linli.payments.gateways.base import (
    CreateRequest,
    MerchantConfig,
    NotificationRejected,
    PayMode,
    TradeState,
)
from linli.payments.gateways.statetable import NOTIFICATION, QUERY
from linli.paysim.tests.conftest import alipay_ack

AMOUNT = 2500
PART = 1000
_seq = iter(range(1, 10**6))


def now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


@pytest.fixture
def config(alipay_merchant, alipay_sim, sink) -> MerchantConfig:
    sink.handler = alipay_ack
    return MerchantConfig(**alipay_merchant)


@pytest.fixture
def gw(config):
    return gateway_for(config)


def created(gw, sim) -> str:
    no = f"ST{int(time.time())}{next(_seq):05d}"
    gw.create(CreateRequest(out_trade_no=no, amount_fen=AMOUNT, description="物业费",
                            expires_at=now() + dt.timedelta(minutes=30),
                            mode=PayMode.PRECREATE))
    return no


def scanned(gw, sim) -> str:
    no = created(gw, sim)
    sim.scan(no)
    return no


def paid(gw, sim) -> str:
    no = created(gw, sim)
    sim.pay(no)
    return no


def refunded_in_part(gw, sim) -> str:
    no = paid(gw, sim)
    sim.refund_outside(no, PART)
    return no


def refunded_in_full(gw, sim) -> str:
    no = paid(gw, sim)
    sim.refund_outside(no, AMOUNT)
    return no


def finished(gw, sim) -> str:
    no = paid(gw, sim)
    sim.finish(no)
    return no


def refunded_in_part_then_finished(gw, sim) -> str:
    no = refunded_in_part(gw, sim)
    sim.finish(no)
    return no


def closed_unpaid(gw, sim) -> str:
    no = scanned(gw, sim)
    assert gw.close(no).state == TradeState.CLOSED
    return no


def a_new_word(gw, sim) -> str:
    no = paid(gw, sim)
    sim._find_trade(no).status = "TRADE_FROZEN"  # a word Alipay might add one day
    return no


def notified(sink, no: str, count: int, timeout: float = 5.0) -> tuple[dict, bytes]:
    """(headers, body) of the last of ``count`` notifications about ``no``."""
    deadline = time.monotonic() + timeout
    while True:
        found = [r for r in list(sink.received)
                 if dict(parse_qsl(r.body.decode())).get("out_trade_no") == no]
        if len(found) >= count:
            return found[count - 1].headers, found[count - 1].body
        if time.monotonic() > deadline:
            raise AssertionError(f"fewer than {count} notifications for {no}")
        time.sleep(0.02)


def resigned(sim, headers: dict, body: bytes, *, drop=(), **changes) -> tuple[dict, bytes]:
    params = dict(parse_qsl(body.decode()))
    params.pop("sign")
    for name in drop:
        params.pop(name, None)
    params.update(changes)
    return headers, urlencode(sim.sign_notification(params)).encode()


def sent(scenario, count: int, *, fresh: bool = False, **resign):
    """A notification scenario: run ``scenario`` (``fresh``: then have the simulator
    send a notification for the trade as it is, for states it does not notify by
    itself) and take the ``count``-th notification about the trade, re-signed with
    ``resign`` changes when the gateway would not send it as is."""
    def run(gw, sim, sink):
        no = scenario(gw, sim)
        if fresh:
            sim.send_notification(no, "fresh")
        headers, body = notified(sink, no, count)
        return resigned(sim, headers, body, **resign) if resign else (headers, body)
    return run


FULL = "25.00"
# row key → (notification scenario, query scenario or None, (state, amount, refunded))
ROWS = {
    "WAIT_BUYER_PAY": (sent(scanned, 1, fresh=True), scanned, (TradeState.NOTPAY, None, 0)),
    "TRADE_SUCCESS+refund_fee=total": (
        sent(paid, 1, refund_fee=FULL, out_biz_no="HZ1", gmt_refund="2026-12-07 10:00:00"),
        None, (TradeState.REFUNDED, AMOUNT, AMOUNT)),
    "TRADE_SUCCESS+refund_fee": (sent(refunded_in_part, 2), None,
                                 (TradeState.PAID, AMOUNT, PART)),
    "TRADE_SUCCESS": (sent(paid, 1), paid, (TradeState.PAID, AMOUNT, 0)),
    "TRADE_FINISHED+refund_fee=total": (
        sent(finished, 2, refund_fee=FULL, out_biz_no="HZ1", gmt_refund="2026-12-07 10:00:00"),
        None, (TradeState.REFUNDED, AMOUNT, AMOUNT)),
    "TRADE_FINISHED+refund_fee": (sent(refunded_in_part_then_finished, 3), None,
                                  (TradeState.PAID, AMOUNT, PART)),
    "TRADE_FINISHED": (sent(finished, 2), finished, (TradeState.PAID, AMOUNT, 0)),
    "TRADE_CLOSED+refund_fee": (sent(refunded_in_full, 2), None,
                                (TradeState.REFUNDED, AMOUNT, AMOUNT)),
    "TRADE_CLOSED+paid": (
        sent(refunded_in_full, 2, drop=("refund_fee", "gmt_refund", "out_biz_no")),
        refunded_in_full, (TradeState.REFUNDED, AMOUNT, AMOUNT)),
    "TRADE_CLOSED": (sent(closed_unpaid, 1, fresh=True), closed_unpaid, (TradeState.CLOSED, None, 0)),
    "TRADE_NOT_EXIST": (None, created, (TradeState.NOTPAY, None, 0)),
    "other": (sent(a_new_word, 2, fresh=True), a_new_word, (TradeState.UNKNOWN, None, 0)),
}


def test_every_row_is_tested_on_every_path_that_reports_it():
    """A row added to the table without its scenarios here fails; so does a row the
    table says a path reports that has no test on that path."""
    assert set(ROWS) == {row.key for row in (*TABLE.rows, TABLE.unknown)}
    for key, (notification, query, _expected) in ROWS.items():
        seen_in = TABLE.row(key).seen_in
        assert (notification is not None) >= (NOTIFICATION in seen_in), key
        assert (query is not None) == (QUERY in seen_in), key


def read(status) -> tuple:
    return status.state, status.amount_fen, status.refunded_fen


@pytest.mark.parametrize("key", [k for k, v in ROWS.items() if v[0] is not None])
def test_notification(gw, alipay_sim, sink, key):
    scenario, _query, expected = ROWS[key]
    headers, body = scenario(gw, alipay_sim, sink)
    note = gw.parse_notification(headers, body, now=now())
    assert note.kind == "payment"
    assert read(note.trade) == expected
    assert note.trade.state == TABLE.row(key).state
    assert note.trade.channel_state == note.raw["trade_status"]
    money = note.trade.state in (TradeState.PAID, TradeState.REFUNDED)
    assert (note.trade.paid_at is not None) == money


@pytest.mark.parametrize("key", [k for k, v in ROWS.items() if v[1] is not None])
def test_query(gw, alipay_sim, sink, key):
    _notification, scenario, expected = ROWS[key]
    status = gw.query(scenario(gw, alipay_sim))
    assert read(status) == expected
    assert status.state == TABLE.row(key).state
    assert status.channel_state == status.raw.get("trade_status", "")
    money = status.state in (TradeState.PAID, TradeState.REFUNDED)
    assert (status.paid_at is not None) == money


def test_closing_a_trade_refunded_in_full_reports_the_money(gw, alipay_sim):
    """Closing fails at Alipay for a paid trade; the adapter asks and reports what the
    trade is: paid and refunded, never "closed unpaid"."""
    no = refunded_in_full(gw, alipay_sim)
    assert read(gw.close(no)) == (TradeState.REFUNDED, AMOUNT, AMOUNT)


def test_a_malformed_refund_fee_is_refused(gw, alipay_sim, sink):
    headers, body = sent(paid, 1, refund_fee="1.2.3")(gw, alipay_sim, sink)
    with pytest.raises(NotificationRejected) as info:
        gw.parse_notification(headers, body, now=now())
    assert info.value.reason == "malformed_body"
