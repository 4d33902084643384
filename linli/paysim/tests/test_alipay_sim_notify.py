"""The Alipay simulator: notification delivery (retry schedule, holding, duplicates,
forged and stale variants), persistence and the JSON control endpoints."""

from __future__ import annotations

import datetime as dt
import re
import time
from itertools import pairwise
from urllib.parse import parse_qsl

import pytest
import requests

from linli.paysim.alipay import AlipaySim
from linli.paysim.common import (
    ALIPAY_RETRY_SCHEDULE,
    Dispatcher,
    Response,
    ServerThread,
)
from linli.paysim.tests.conftest import NotifySink, alipay_ack
from linli.paysim.tests.test_alipay_sim import (
    BEIJING,
    client,
    notifications_for,
    notifications_for_now,
    out_no,
    precreate,
    verify_form,
)


@pytest.fixture
def ali(alipay_merchant, alipay_sim, sink):
    sink.handler = alipay_ack
    return client(alipay_merchant)


# ------------------------------------------------------------ notifications

def test_retries_follow_the_schedule_and_stop_at_success():
    scale = 0.00001
    dispatcher = Dispatcher(time_scale=scale, timeout=2.0)
    answers = {"never": 0, "third": 0}

    def handler(received):
        no = dict(parse_qsl(received.body.decode()))["out_trade_no"]
        key = "never" if no.startswith("N") else "third"
        answers[key] += 1
        if key == "third" and answers[key] >= 3:
            return Response(200, b"success")
        # Not exactly "success": a retry each time.
        return Response(200, b"success\n" if answers[key] == 1 else b"fail")

    sink = NotifySink(handler=handler)
    sim = AlipaySim(dispatcher=dispatcher)
    try:
        with ServerThread(sink) as sink_server, ServerThread(sim) as server:
            sim.public_url = server.url
            ali = client(sim.provision_merchant(notify_url=sink_server.url + "/n"))
            never, third = out_no("N"), out_no("Q")
            for no in (never, third):
                ali.api_alipay_trade_precreate(subject="x", out_trade_no=no, total_amount="1.00")
            sim.pay(never)
            sim.pay(third)
            assert dispatcher.wait_idle(timeout=10)
            [given_up] = sim.delivery_log(never)
            assert given_up["given_up"] and not given_up["acknowledged"]
            assert len(given_up["attempts"]) == len(ALIPAY_RETRY_SCHEDULE) + 1 == 8
            times = [a["at"] for a in given_up["attempts"]]
            for gap, interval in zip([b - a for a, b in pairwise(times)],
                                     ALIPAY_RETRY_SCHEDULE, strict=True):
                assert gap >= interval * scale * 0.9
            [acked] = sim.delivery_log(third)
            assert acked["acknowledged"] and len(acked["attempts"]) == 3
            time.sleep(0.1)
            assert answers["third"] == 3  # nothing after "success"
    finally:
        dispatcher.stop()


def test_held_notifications_arrive_out_of_order_and_duplicates(ali, alipay_sim, sink):
    no, _ = precreate(ali, "50.00")
    alipay_sim.hold_notifications()
    alipay_sim.pay(no)
    ali.api_alipay_trade_refund("10.00", out_trade_no=no, out_request_no="R1")
    time.sleep(0.05)
    assert not notifications_for_now(sink, no)
    alipay_sim.release_notifications("reverse")
    refund_note, paid_note = notifications_for(sink, no, 2)
    assert refund_note["refund_fee"] == "10.00" and "refund_fee" not in paid_note
    alipay_sim.send_notification(no, "duplicate")
    duplicate = notifications_for(sink, no, 3)[2]
    assert duplicate == refund_note  # same notify_id, same signature


def test_stale_forged_and_tampered_notifications(ali, alipay_sim, sink):
    no, _ = precreate(ali)
    alipay_sim.pay(no)
    notifications_for(sink, no, 1)
    for variant in ("stale", "forged", "tampered"):
        alipay_sim.send_notification(no, variant)
    _paid, stale, forged, tampered = notifications_for(sink, no, 4)
    sent = dt.datetime.strptime(stale["notify_time"], "%Y-%m-%d %H:%M:%S").replace(
        tzinfo=BEIJING)
    assert dt.datetime.now(BEIJING) - sent > dt.timedelta(days=2)
    assert verify_form(ali, stale)
    assert not verify_form(ali, forged)
    assert not verify_form(ali, tampered)


# ------------------------------------------------------------ state and control

def test_keys_apps_and_trades_survive_a_restart(tmp_path, paysim_dispatcher):
    sim = AlipaySim(state_dir=tmp_path, dispatcher=paysim_dispatcher)
    with ServerThread(sim) as server:
        sim.public_url = server.url
        merchant = sim.provision_merchant(app_id="2021000011112222",
                                          seller_id="2088000011112222")
        no, _ = precreate(client(merchant))
        sim.pay(no)
    assert merchant["gateway_url"] == server.url + "/gateway.do"
    assert re.fullmatch(r"2021\d{12}", sim.provision_merchant()["app_id"])
    assert re.fullmatch(r"2088\d{12}", sim.provision_merchant()["merchant_id"])
    again = AlipaySim(state_dir=tmp_path, dispatcher=paysim_dispatcher)
    assert again.alipay_public_key_pem == merchant["platform_public_key_pem"]
    with ServerThread(again) as server:
        again.public_url = server.url
        ali = client(dict(merchant, gateway_url=server.url + "/gateway.do"))
        assert ali.api_alipay_trade_query(out_trade_no=no)["trade_status"] == "TRADE_SUCCESS"


def test_json_control(alipay_server, sink):
    sim, server = alipay_server
    sink.handler = alipay_ack
    merchant = requests.post(server.url + "/alipay/_sim/merchants",
                             json={"notify_url": sink.url + "/n"}, timeout=5).json()
    assert set(merchant) == {"channel", "app_id", "merchant_id", "private_key_pem",
                             "platform_public_key_pem", "gateway_url", "notify_url"}
    ali = client(merchant)
    no, _ = precreate(ali)
    paid = requests.post(server.url + "/alipay/_sim/pay", json={"out_trade_no": no},
                         timeout=5).json()
    assert paid["status"] == "TRADE_SUCCESS"
    notifications_for(sink, no, 1)
    assert sim.dispatcher.wait_idle(5)  # the sink answers before the attempt is recorded
    log = requests.get(server.url + "/alipay/_sim/deliveries", params={"out_trade_no": no},
                       timeout=5).json()
    assert log[0]["trade_status"] == "TRADE_SUCCESS" and log[0]["attempts"]
    faults = requests.post(server.url + "/alipay/_sim/faults",
                           json={"kind": "system_error", "count": 2}, timeout=5).json()
    assert faults["system_error_next"] == 2
    requests.post(server.url + "/alipay/_sim/faults/clear", timeout=5)
    assert ali.api_alipay_trade_query(out_trade_no=no)["code"] == "10000"
    listed = requests.get(server.url + "/alipay/_sim/trades", timeout=5).json()
    assert any(row["out_trade_no"] == no and row["state"] == "TRADE_SUCCESS" for row in listed)
    unknown = requests.post(server.url + "/alipay/_sim/pay", json={"out_trade_no": "nope"},
                            timeout=5)
    assert unknown.status_code == 400
