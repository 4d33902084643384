"""AlipayGateway (python-alipay-sdk) against the live Alipay simulator."""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import re
import time
from decimal import Decimal
from urllib.parse import parse_qsl, urlencode, urlsplit

import pytest
import requests
from alipay import AliPay
from alipay.exceptions import AliPayException
from hypothesis import given
from hypothesis import strategies as st

from linli.payments.gateways import gateway_for
from linli.payments.gateways.alipay import AlipayGateway, fen_to_yuan, yuan_to_fen
from linli.payments.gateways.base import (
    CreateRequest,
    GatewayError,
    MerchantConfig,
    NotificationRejected,
    PayMode,
    RefundRequest,
    RefundState,
    TradeState,
)
from linli.paysim.common import Response, private_pem, public_pem, rsa_generate
from linli.paysim.tests.conftest import alipay_ack

BEIJING = dt.timezone(dt.timedelta(hours=8))
_seq = iter(range(1, 10**6))


def out_no(prefix: str = "A") -> str:
    return f"{prefix}{int(time.time())}{next(_seq):05d}"


@pytest.fixture
def config(alipay_merchant, alipay_sim, sink) -> MerchantConfig:
    sink.handler = alipay_ack
    return MerchantConfig(**alipay_merchant)


@pytest.fixture
def gw(config) -> AlipayGateway:
    return gateway_for(config)


def now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def create(gw: AlipayGateway, amount_fen: int = 12345, mode: PayMode = PayMode.PRECREATE,
           **kwargs):
    no = out_no()
    expires = kwargs.pop("expires_at", now() + dt.timedelta(minutes=30))
    result = gw.create(CreateRequest(out_trade_no=no, amount_fen=amount_fen,
                                     description="物业费 2026年11月", expires_at=expires,
                                     mode=mode, **kwargs))
    return no, result


def notification(sink, out_trade_no: str, index: int = 0, timeout: float = 5.0):
    """(headers, body) of the index-th notification about out_trade_no."""
    deadline = time.monotonic() + timeout
    while True:
        found = [r for r in list(sink.received)
                 if dict(parse_qsl(r.body.decode())).get("out_trade_no") == out_trade_no]
        if len(found) > index:
            return found[index].headers, found[index].body
        if time.monotonic() > deadline:
            raise AssertionError(f"no notification #{index} for {out_trade_no}")
        time.sleep(0.02)


def resign(sim, body: bytes, **changes) -> bytes:
    """A notification body changed and signed again with the simulator's Alipay key."""
    params = dict(parse_qsl(body.decode()))
    params.pop("sign")
    params.update(changes)
    return urlencode(sim.sign_notification(params)).encode()


# ------------------------------------------------------------ set-up

def test_library_keeps_the_gateway_url_in_a_private_attribute(config, gw):
    library = AliPay(appid=config.app_id, app_private_key_string=config.private_key_pem,
                     alipay_public_key_string=config.platform_public_key_pem)
    assert library._gateway == "https://openapi.alipay.com/gateway.do"
    assert isinstance(gw, AlipayGateway) and gw.channel == "alipay"
    assert gw._client._gateway == config.gateway_url


def test_bare_base64_keys_are_accepted(config, alipay_sim):
    def bare(pem: str) -> str:
        return "".join(line for line in pem.splitlines() if "-----" not in line)

    gw = AlipayGateway(dataclasses.replace(
        config, private_key_pem=bare(config.private_key_pem),
        platform_public_key_pem=bare(config.platform_public_key_pem)))
    assert gw.query("NEVER1").state == TradeState.NOTPAY


def test_unreadable_keys_are_a_configuration_error(config):
    with pytest.raises(GatewayError) as info:
        AlipayGateway(dataclasses.replace(config, private_key_pem="not a key"))
    assert info.value.code == "CONFIG_ERROR"


# ------------------------------------------------------------ amounts

@pytest.mark.parametrize(("fen", "text"), [(1, "0.01"), (10, "0.10"), (100, "1.00"),
                                           (12345, "123.45"), (10_000_000_000, "100000000.00")])
def test_amounts_on_the_wire(fen, text):
    assert fen_to_yuan(fen) == text
    assert yuan_to_fen(text) == fen


@given(st.integers(min_value=1, max_value=10_000_000_000))
def test_fen_survive_the_round_trip(fen):
    assert yuan_to_fen(fen_to_yuan(fen)) == fen


@pytest.mark.parametrize("bad", ["1.234", "1e3", "-1.00", " 1.00", "", None, 1.5,
                                 Decimal("1.00")])
def test_only_plain_yuan_strings_are_read(bad):
    with pytest.raises(ValueError):
        yuan_to_fen(bad)


def test_float_amount_is_refused():
    with pytest.raises(TypeError):
        fen_to_yuan(1.0)


# ------------------------------------------------------------ precreate end to end

def test_precreate_query_scan_pay_notify(gw, alipay_sim, sink, config):
    no, result = create(gw, 12345)
    assert result.mode == PayMode.PRECREATE and result.code_url.startswith(
        alipay_sim.public_url + "/alipay/scan/")
    unscanned = gw.query(no)
    assert unscanned.state == TradeState.NOTPAY and unscanned.amount_fen is None
    assert unscanned.raw["sub_code"] == "ACQ.TRADE_NOT_EXIST"

    requests.get(result.code_url, timeout=5)  # the buyer scans
    assert gw.query(no).state == TradeState.NOTPAY  # WAIT_BUYER_PAY
    page = requests.post(result.code_url + "/pay", timeout=5)
    assert page.status_code == 200

    paid = gw.query(no)
    assert paid.state == TradeState.PAID and paid.amount_fen == 12345
    assert re.fullmatch(r"20\d{26}", paid.transaction_id)
    assert paid.paid_at is not None and abs(paid.paid_at - now()) < dt.timedelta(minutes=1)

    headers, body = notification(sink, no)
    note = gw.parse_notification(headers, body, now=now())
    assert note.kind == "payment" and note.out_trade_no == no
    assert note.dedupe_key == dict(parse_qsl(body.decode()))["notify_id"]
    assert (note.app_id, note.merchant_id) == (config.app_id, config.merchant_id)
    assert note.trade.state == TradeState.PAID and note.trade.amount_fen == 12345
    assert note.trade.transaction_id == paid.transaction_id
    assert note.trade.paid_at == paid.paid_at
    assert "refund_fee_fen" not in note.raw
    ack = gw.acknowledge(True)
    assert (ack.status, ack.body) == (200, b"success")
    assert gw.acknowledge(False).body == b"fail"


def test_time_expire_is_sent_in_beijing_time(gw, alipay_sim):
    expires = now().replace(microsecond=0) + dt.timedelta(hours=3)
    no, _ = create(gw, 100, expires_at=expires)
    assert alipay_sim.trade_info(no)["expire_at"] == expires.timestamp()
    with pytest.raises(GatewayError):  # naive datetimes are refused
        create(gw, 100, expires_at=dt.datetime(2030, 1, 1))


def test_wrong_amount_for_an_existing_order_is_refused(gw):
    no, _ = create(gw, 500)
    with pytest.raises(GatewayError) as info:
        gw.create(CreateRequest(out_trade_no=no, amount_fen=501, description="物业费 2026年11月",
                                expires_at=now() + dt.timedelta(minutes=30),
                                mode=PayMode.PRECREATE))
    assert info.value.code == "ACQ.CONTEXT_INCONSISTENT" and not info.value.retryable


# ------------------------------------------------------------ page and wap

def test_page_pay_cashier_and_signed_return(gw, config, sink):
    no, result = create(gw, 2000, PayMode.PAGE, return_url="http://shop.example/back")
    assert result.redirect_url.startswith(config.gateway_url + "?")
    biz = json.loads(dict(parse_qsl(urlsplit(result.redirect_url).query))["biz_content"])
    assert (biz["product_code"], biz["total_amount"]) == ("FAST_INSTANT_TRADE_PAY", "20.00")
    page = requests.get(result.redirect_url, timeout=5)
    assert page.status_code == 200 and "class=pay" in page.text
    assert gw.query(no).state == TradeState.NOTPAY
    paid = requests.post(page.url + "/pay", allow_redirects=False, timeout=5)
    location = urlsplit(paid.headers["Location"])
    assert location.netloc == "shop.example"
    params = dict(parse_qsl(location.query))
    assert gw.verify_return(params)
    assert not gw.verify_return(dict(params, total_amount="0.01"))
    assert gw.query(no).state == TradeState.PAID
    note = gw.parse_notification(*notification(sink, no), now=now())
    assert note.trade.amount_fen == 2000


def test_wap_sends_quick_wap_way_and_quit_url(gw):
    no, result = create(gw, 300, PayMode.WAP, return_url="http://shop.example/back",
                        quit_url="http://shop.example/quit")
    biz = json.loads(dict(parse_qsl(urlsplit(result.redirect_url).query))["biz_content"])
    assert biz["product_code"] == "QUICK_WAP_WAY" and biz["quit_url"] == \
        "http://shop.example/quit"
    page = requests.get(result.redirect_url, timeout=5)
    assert page.status_code == 200 and "class=quit" in page.text
    quit_ = requests.post(page.url + "/quit", allow_redirects=False, timeout=5)
    assert quit_.headers["Location"] == "http://shop.example/quit"
    paid = requests.post(page.url + "/pay", allow_redirects=False, timeout=5)
    assert gw.verify_return(dict(parse_qsl(urlsplit(paid.headers["Location"]).query)))
    assert gw.query(no).state == TradeState.PAID


def test_modes_of_other_channels_are_refused(gw):
    with pytest.raises(GatewayError) as info:
        create(gw, 100, PayMode.NATIVE)
    assert info.value.code == "UNSUPPORTED_MODE"


# ------------------------------------------------------------ close

def test_close_semantics(gw, alipay_sim):
    unscanned, _ = create(gw)
    closed = gw.close(unscanned)
    assert closed.state == TradeState.CLOSED and closed.raw["sub_code"] == "ACQ.TRADE_NOT_EXIST"

    scanned, result = create(gw)
    requests.get(result.code_url, timeout=5)
    assert gw.close(scanned).state == TradeState.CLOSED
    assert gw.query(scanned).state == TradeState.CLOSED
    assert gw.close(scanned).state == TradeState.CLOSED  # again: still closed

    paid, _ = create(gw, 700)
    alipay_sim.pay(paid)
    status = gw.close(paid)
    assert status.state == TradeState.PAID and status.amount_fen == 700
    assert status.transaction_id


def test_wap_close_after_login_is_notified_as_closed(gw, alipay_sim, sink):
    no, result = create(gw, 1500, PayMode.WAP, return_url="http://shop.example/back")
    requests.get(result.redirect_url, timeout=5)
    alipay_sim.scan(no)  # the buyer logged in at the cashier and left
    assert gw.close(no).state == TradeState.CLOSED
    note = gw.parse_notification(*notification(sink, no), now=now())
    assert note.raw["trade_status"] == "TRADE_CLOSED" and "refund_fee_fen" not in note.raw
    assert note.trade.state == TradeState.CLOSED and note.trade.paid_at is None
    # No money moved: no amount in our words (the order's total stays in raw).
    assert note.trade.amount_fen is None and note.raw["total_amount"] == "15.00"


# ------------------------------------------------------------ refunds

def test_refunds(gw, alipay_sim, sink):
    no, _ = create(gw, 10000)
    alipay_sim.pay(no)
    first = gw.refund(RefundRequest(no, "RF1", 3000, 10000, reason="退租"))
    assert first.state == RefundState.SUCCESS and first.refund_fen == 3000
    assert first.raw["fund_change"] == "Y" and first.succeeded_at is not None
    repeat = gw.refund(RefundRequest(no, "RF1", 3000, 10000))
    assert repeat.state == RefundState.SUCCESS and repeat.raw["fund_change"] == "N"
    assert alipay_sim.trade_info(no)["refunded_fen"] == 3000  # refunded once

    with pytest.raises(GatewayError) as info:
        gw.refund(RefundRequest(no, "RF2", 7001, 10000))
    assert info.value.code == "ACQ.REASON_TRADE_REFUND_FEE_ERR" and not info.value.retryable
    assert gw.query(no).state == TradeState.PAID

    assert gw.query_refund(no, "RF1").state == RefundState.SUCCESS
    assert gw.query_refund(no, "RF1").refund_fen == 3000
    assert gw.query_refund(no, "RF2").state == RefundState.NOT_FOUND
    assert gw.query_refund(out_no(), "RF1").state == RefundState.NOT_FOUND

    partial = gw.parse_notification(*notification(sink, no, 1), now=now())
    assert partial.kind == "payment" and partial.trade.state == TradeState.PAID
    assert (partial.raw["refund_fee_fen"], partial.raw["out_biz_no"]) == (3000, "RF1")
    assert partial.trade.amount_fen == 10000

    gw.refund(RefundRequest(no, "RF3", 7000, 10000))
    full = gw.parse_notification(*notification(sink, no, 2), now=now())
    assert full.raw["trade_status"] == "TRADE_CLOSED" and full.raw["refund_fee_fen"] == 10000
    # Closed by a full refund is neither "closed unpaid" nor a clean payment: the money
    # was received and went back.
    assert full.trade.state == TradeState.REFUNDED and full.trade.refunded_fen == 10000
    assert partial.trade.refunded_fen == 3000
    after = gw.query(no)
    assert after.raw["trade_status"] == "TRADE_CLOSED" and after.state == TradeState.REFUNDED
    assert (after.amount_fen, after.refunded_fen) == (10000, 10000)


def test_refund_system_error_after_accept_is_retryable(gw, alipay_sim):
    no, _ = create(gw, 2000)
    alipay_sim.pay(no)
    alipay_sim.inject("refund_error_after_accept")
    with pytest.raises(GatewayError) as info:
        gw.refund(RefundRequest(no, "RS1", 500, 2000))
    assert info.value.code == "ACQ.SYSTEM_ERROR" and info.value.retryable
    assert gw.query_refund(no, "RS1").state == RefundState.SUCCESS
    retried = gw.refund(RefundRequest(no, "RS1", 500, 2000))
    assert retried.state == RefundState.SUCCESS and retried.raw["fund_change"] == "N"
    assert alipay_sim.trade_info(no)["refunded_fen"] == 500


def test_refund_of_unpaid_trade_is_refused(gw):
    no, _ = create(gw, 2000)
    with pytest.raises(GatewayError) as info:
        gw.refund(RefundRequest(no, "RU1", 500, 2000))
    assert info.value.code == "ACQ.TRADE_NOT_EXIST"


# ------------------------------------------------------------ errors

def test_request_signed_with_the_wrong_key(config):
    gw = AlipayGateway(dataclasses.replace(config, private_key_pem=private_pem(rsa_generate())))
    with pytest.raises(GatewayError) as info:
        gw.query("ANY1")
    assert info.value.code == "isv.invalid-signature" and not info.value.retryable


@pytest.mark.parametrize(("fault", "options", "code"), [
    ("unsigned", {}, "RESPONSE_NOT_SIGNED"),
    ("bad_signature", {}, "RESPONSE_NOT_VERIFIED"),
    ("system_error", {}, "isp.unknown-error"),
    ("http_error", {"status": 502}, "HTTP_502"),
])
def test_untrustworthy_or_failed_answers_are_retryable_errors(gw, alipay_sim, fault, options,
                                                             code):
    no, _ = create(gw, 900)
    alipay_sim.pay(no)
    alipay_sim.inject(fault, **options)
    with pytest.raises(GatewayError) as info:
        gw.refund(RefundRequest(no, "RE1", 100, 900))
    assert info.value.code == code and info.value.retryable
    assert gw.refund(RefundRequest(no, "RE1", 100, 900)).state == RefundState.SUCCESS


def test_platform_key_mismatch_is_an_error(config, alipay_sim):
    other = rsa_generate().public_key()
    gw = AlipayGateway(dataclasses.replace(config, platform_public_key_pem=public_pem(other)))
    with pytest.raises(GatewayError) as info:
        gw.query("ANY2")
    assert info.value.code == "RESPONSE_NOT_VERIFIED"


def test_request_timeout(config, alipay_sim):
    gw = AlipayGateway(config, timeout=0.3)
    alipay_sim.inject("latency", count=1, seconds=1.0)
    started = time.monotonic()
    with pytest.raises(GatewayError) as info:
        gw.query("ANY3")
    assert info.value.code == "NETWORK_ERROR" and info.value.retryable
    assert time.monotonic() - started < 0.9


def test_unreachable_gateway(config):
    gw = AlipayGateway(dataclasses.replace(config, gateway_url="http://127.0.0.1:9/gateway.do"))
    with pytest.raises(GatewayError) as info:
        gw.query("ANY4")
    assert info.value.retryable


def test_timestamp_is_beijing_time_whatever_the_process_zone(config, monkeypatch):
    monkeypatch.setenv("TZ", "UTC")
    time.tzset()
    try:
        plain = AliPay(appid=config.app_id, app_private_key_string=config.private_key_pem,
                       alipay_public_key_string=config.platform_public_key_pem)
        plain._gateway = config.gateway_url
        # The library alone sends UTC wall time and is refused…
        with pytest.raises(AliPayException) as info:
            plain.api_alipay_trade_query(out_trade_no="TZ1")
        assert "isv.invalid-timestamp" in str(info.value)
        # …the adapter sends Beijing time.
        assert AlipayGateway(config).query("TZ1").state == TradeState.NOTPAY
    finally:
        monkeypatch.undo()
        time.tzset()


# ------------------------------------------------------------ notifications

@pytest.fixture
def paid_notification(gw, alipay_sim, sink):
    no, _ = create(gw, 4200)
    alipay_sim.pay(no)
    headers, body = notification(sink, no)
    return no, headers, body


def test_tampered_notifications_are_rejected(gw, config, alipay_sim, paid_notification):
    no, headers, body = paid_notification
    assert gw.parse_notification(headers, body, now=now()).trade.amount_fen == 4200

    def reason(body: bytes, gateway=gw, when=None) -> str:
        with pytest.raises(NotificationRejected) as info:
            gateway.parse_notification(headers, body, now=when or now())
        return info.value.reason

    changed = body.replace(b"total_amount=42.00", b"total_amount=0.42")
    assert changed != body and reason(changed) == "bad_signature"
    params = dict(parse_qsl(body.decode()))
    forged = urlencode(alipay_sim.sign_notification(
        {k: v for k, v in params.items() if k != "sign"}, key=rsa_generate())).encode()
    assert reason(forged) == "bad_signature"
    assert reason(urlencode({k: v for k, v in params.items() if k != "sign"}).encode()) == \
        "missing_signature"
    assert reason(body + b"&total_amount=0.42") == "malformed_body"
    assert reason(b"\xff\xfe") == "malformed_body"

    other_app = AlipayGateway(dataclasses.replace(config, app_id="2021000000000009"))
    assert reason(body, other_app) == "app_id_mismatch"
    other_seller = AlipayGateway(dataclasses.replace(config, merchant_id="2088000000000009"))
    assert reason(body, other_seller) == "merchant_id_mismatch"
    assert reason(resign(alipay_sim, body, app_id="2021000000000009")) == "app_id_mismatch"
    assert reason(body, when=now() + dt.timedelta(days=3)) == "stale_timestamp"


def test_simulator_notification_faults_are_rejected(gw, alipay_sim, sink, paid_notification):
    no, _headers, _body = paid_notification
    for index, variant in enumerate(("stale", "forged", "tampered"), start=1):
        alipay_sim.send_notification(no, variant)
        with pytest.raises(NotificationRejected) as info:
            gw.parse_notification(*notification(sink, no, index), now=now())
        assert info.value.reason == ("stale_timestamp" if variant == "stale"
                                     else "bad_signature"), variant
    alipay_sim.send_notification(no, "duplicate")
    first = gw.parse_notification(*notification(sink, no, 0), now=now())
    again = gw.parse_notification(*notification(sink, no, 4), now=now())
    assert again.dedupe_key == first.dedupe_key  # the service deduplicates on this


def test_notification_in_gbk_is_decoded_by_its_charset(gw, alipay_sim, paid_notification):
    _no, headers, body = paid_notification
    params = dict(parse_qsl(body.decode()))
    params.pop("sign")
    params["charset"] = "gbk"
    signed = alipay_sim.sign_notification(params)
    gbk_body = urlencode(signed, encoding="gbk").encode()
    note = gw.parse_notification({"content-type": "application/x-www-form-urlencoded"},
                                 gbk_body, now=now())
    assert note.raw["subject"] == "物业费 2026年11月"


def test_acknowledging_stops_the_retries(gw, alipay_sim, sink):
    answers = []

    def handler(received):
        # The first attempt is "refused" by our endpoint, the retry accepted.
        ok = bool(answers)
        note = gw.parse_notification(received.headers, received.body, now=now())
        answers.append(note.dedupe_key)
        ack = gw.acknowledge(ok)
        return Response(ack.status, ack.body, [("Content-Type", ack.content_type)])

    sink.handler = handler
    no, _ = create(gw, 100)
    alipay_sim.pay(no)
    deadline = time.monotonic() + 5
    while not alipay_sim.delivery_log(no)[0]["acknowledged"]:
        assert time.monotonic() < deadline
        time.sleep(0.02)
    [delivery] = alipay_sim.delivery_log(no)
    assert [a["body"] for a in delivery["attempts"]] == ["fail", "success"]
    assert len(set(answers)) == 1  # the same notify_id both times
