"""The simulators' states beyond a plain pay / close: refunds made on the merchant
platform outside the merchant's own system, WeChat payment-code states and revoking,
Alipay TRADE_FINISHED — through the control endpoints the demo and tests use."""

from __future__ import annotations

import uuid

import pytest
import requests

from linli.paysim.common import Request
from linli.paysim.tests.conftest import alipay_ack
from linli.paysim.tests.test_alipay_sim import client, notifications_for, precreate


def post(base: str, path: str, payload: dict) -> requests.Response:
    return requests.post(base + path, json=payload, timeout=5)


# ------------------------------------------------------------ WeChat Pay

@pytest.fixture(scope="module")
def wx_cfg(wechat_server, notify_sink):
    sim, _ = wechat_server
    return sim.provision_merchant(notify_url=notify_sink.url + "/notify/wechat")


def wx_order(sim, cfg, total: int = 5000) -> str:
    no = "O" + uuid.uuid4().hex[:20]
    body = {"appid": cfg["app_id"], "mchid": cfg["merchant_id"], "description": "物业费",
            "out_trade_no": no, "notify_url": cfg["notify_url"],
            "amount": {"total": total, "currency": "CNY"}}
    sim._create(sim.merchants[cfg["merchant_id"]], "native", body,
                Request("POST", "/", "", {}, b""))
    return no


def test_wechat_refund_on_the_merchant_platform(wechat_sim, wx_cfg, sink):
    no = wx_order(wechat_sim, wx_cfg)
    base = wechat_sim.public_url + "/wechat/_sim/"
    refused = post(base, "refund-outside", {"out_trade_no": no, "refund_fen": 100})
    assert refused.status_code == 400 and refused.json()["code"] == "INVALID_REQUEST"
    wechat_sim.pay(no)
    answer = post(base, "refund-outside", {"out_trade_no": no, "refund_fen": 1200})
    assert answer.status_code == 200 and answer.json()["status"] == "SUCCESS"
    assert answer.json()["amount"]["refund"] == 1200
    assert wechat_sim._transaction(wechat_sim._find_order(no))["trade_state"] == "REFUND"
    events = [r for r in sink.wait_for(2) if b"REFUND.SUCCESS" in r.body]
    assert len(events) == 1  # notified, like any refund
    too_much = post(base, "refund-outside", {"out_trade_no": no, "refund_fen": 3801})
    assert too_much.status_code == 400


@pytest.mark.parametrize("state", ["USERPAYING", "ACCEPT", "PAYERROR"])
def test_wechat_payment_code_states(wechat_sim, wx_cfg, state):
    no = wx_order(wechat_sim, wx_cfg)
    base = wechat_sim.public_url + "/wechat/_sim/"
    answer = post(base, "payment-code-state", {"out_trade_no": no, "state": state})
    assert answer.status_code == 200 and answer.json()["trade_state"] == state
    assert answer.json()["trade_state_desc"]
    page = requests.get(wechat_sim.page_url(wechat_sim._find_order(no)), timeout=5)
    assert ("确认支付" in page.text) == (state != "PAYERROR")
    if state == "PAYERROR":
        with pytest.raises(Exception, match="订单已关闭"):
            wechat_sim.pay(no)
    else:
        assert wechat_sim.pay(no)["trade_state"] == "SUCCESS"
    assert post(base, "payment-code-state", {"out_trade_no": no, "state": "SUCCESS"}
                ).status_code == 400


def test_wechat_revoke_keeps_the_payment_of_a_paid_trade(wechat_sim, wx_cfg):
    base = wechat_sim.public_url + "/wechat/_sim/"
    unpaid, paid = wx_order(wechat_sim, wx_cfg), wx_order(wechat_sim, wx_cfg)
    wechat_sim.pay(paid)
    first = post(base, "revoke", {"out_trade_no": unpaid}).json()
    assert first["trade_state"] == "REVOKED" and "success_time" not in first
    second = post(base, "revoke", {"out_trade_no": paid}).json()
    assert second["trade_state"] == "REVOKED" and second["success_time"]
    assert second["transaction_id"]


def test_wechat_unsent_notification_is_signed_and_encrypted(wechat_sim, wx_cfg):
    no = wx_order(wechat_sim, wx_cfg)
    headers, body = wechat_sim.transaction_notification(no)
    assert headers["Wechatpay-Serial"] == wechat_sim.platform_key_id
    assert b'"event_type":"TRANSACTION.SUCCESS"' in body and b"NOTPAY" not in body


# ------------------------------------------------------------ Alipay

@pytest.fixture
def ali(alipay_merchant, alipay_sim, sink):
    sink.handler = alipay_ack
    return client(alipay_merchant)


def test_alipay_refund_on_the_merchant_platform(ali, alipay_sim, sink):
    no, _ = precreate(ali, "50.00")
    base = alipay_sim.public_url + "/alipay/_sim/"
    assert post(base, "refund-outside", {"out_trade_no": no, "refund_fen": 100}
                ).status_code == 400  # nothing paid yet
    alipay_sim.pay(no)
    part = post(base, "refund-outside", {"out_trade_no": no, "refund_fen": 1200}).json()
    assert part["status"] == "TRADE_SUCCESS" and part["refunded_fen"] == 1200
    full = post(base, "refund-outside", {"out_trade_no": no, "refund_fen": 3800}).json()
    assert full["status"] == "TRADE_CLOSED" and full["gmt_payment"]
    paid, partial, closed = notifications_for(sink, no, 3)
    assert "refund_fee" not in paid
    assert (partial["trade_status"], partial["refund_fee"]) == ("TRADE_SUCCESS", "12.00")
    assert (closed["trade_status"], closed["refund_fee"]) == ("TRADE_CLOSED", "50.00")
    assert closed["out_biz_no"].startswith("HZ") and closed["gmt_payment"]
    query = ali.api_alipay_trade_query(out_trade_no=no)
    assert query["trade_status"] == "TRADE_CLOSED" and query["send_pay_date"]


def test_alipay_finish_is_notified(ali, alipay_sim, sink):
    no, _ = precreate(ali, "30.00")
    alipay_sim.pay(no)
    alipay_sim.refund_outside(no, 500)
    assert post(alipay_sim.public_url + "/alipay/_sim/", "finish",
                {"out_trade_no": no}).json()["status"] == "TRADE_FINISHED"
    finished = notifications_for(sink, no, 3)[-1]
    assert finished["trade_status"] == "TRADE_FINISHED" and finished["refund_fee"] == "5.00"
    with pytest.raises(Exception, match="ACQ.TRADE_HAS_FINISHED"):
        alipay_sim.refund_outside(no, 100)
