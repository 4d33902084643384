"""The WeChat Pay adapter: the real wechatpayv3 client against the live simulator."""

from __future__ import annotations

import base64
import dataclasses
import datetime as dt
import json
import re
import time
import uuid
from urllib.parse import parse_qs, unquote, urlsplit

import pytest
import requests
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from wechatpayv3 import WeChatPay, WeChatPayType

from linli.payments.gateways import gateway_for
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
from linli.payments.gateways.wechat import WeChatPayGateway
from linli.paysim.common import Response, load_public, rsa_verify


def new_no() -> str:
    return "L" + uuid.uuid4().hex[:24]


def now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def create_request(mode=PayMode.NATIVE, amount_fen=10000, **extra) -> CreateRequest:
    return CreateRequest(out_trade_no=new_no(), amount_fen=amount_fen,
                         description="翠湖花园 1-2-301 物业费 2026年11月",
                         expires_at=now() + dt.timedelta(minutes=30), mode=mode, **extra)


@pytest.fixture(scope="module")
def config(wechat_server, notify_sink) -> MerchantConfig:
    sim, _ = wechat_server
    return MerchantConfig(**sim.provision_merchant(
        notify_url=notify_sink.url + "/notify/wechat"))


@pytest.fixture
def gw(config, wechat_sim) -> WeChatPayGateway:
    return gateway_for(config)


def paid_order(gw, sim, sink, amount_fen=10000):
    """Create a Native order, pay it in the simulator, return (request, notification)."""
    request = create_request(amount_fen=amount_fen)
    gw.create(request)
    sim.pay(request.out_trade_no)
    received = sink.wait_for(1)[-1]
    return request, gw.parse_notification(received.headers, received.body, now=now())


def test_library_private_gateway_attribute_still_exists(config):
    """We reach two private attributes of wechatpayv3 (pinned <2.1); an upgrade that
    renames them must fail here, loudly."""
    client = WeChatPay(wechatpay_type=WeChatPayType.NATIVE, mchid=config.merchant_id,
                       private_key=config.private_key_pem, cert_serial_no=config.merchant_serial,
                       appid=config.app_id, apiv3_key=config.api_v3_key,
                       public_key=config.platform_public_key_pem,
                       public_key_id=config.platform_public_key_id)
    assert client._core._gate_way == "https://api.mch.weixin.qq.com"
    assert callable(client._core._verify_signature)
    gateway = WeChatPayGateway(config)
    assert gateway._wx._core._gate_way == config.gateway_url


def test_native_create_pay_notify_query_close(gw, wechat_sim, sink):
    request = create_request()
    result = gw.create(request)
    assert result.mode == PayMode.NATIVE
    assert result.code_url.startswith("weixin://wxpay/bizpayurl?pr=")
    assert gw.create(request).code_url == result.code_url  # same attempt, same QR code
    assert gw.query(request.out_trade_no).state == TradeState.NOTPAY

    token = result.code_url.split("pr=")[1]
    requests.post(f"{wechat_sim.public_url}/wechat/scan/{token}", timeout=5)
    (received,) = sink.wait_for(1)
    note = gw.parse_notification(received.headers, received.body, now=now())
    assert note.kind == "payment" and note.out_trade_no == request.out_trade_no
    assert note.app_id == gw.config.app_id and note.merchant_id == gw.config.merchant_id
    assert note.trade.state == TradeState.PAID and note.trade.amount_fen == 10000
    assert re.fullmatch(r"\d{28}", note.trade.transaction_id)
    assert note.dedupe_key

    status = gw.query(request.out_trade_no)
    assert status.state == TradeState.PAID and status.amount_fen == 10000
    assert status.transaction_id == note.trade.transaction_id
    assert abs(status.paid_at - now()) < dt.timedelta(minutes=1)
    # Closing a paid order reports the payment (the gateway answers ORDERPAID).
    closed = gw.close(request.out_trade_no)
    assert closed.state == TradeState.PAID and closed.transaction_id == status.transaction_id
    assert gw.acknowledge(True).status == 204


def test_close_unpaid_then_the_number_is_used(gw):
    # Every character WeChat allows in out_trade_no, some of them escaped in the URL.
    request = dataclasses.replace(create_request(),
                                  out_trade_no="L|*_-" + uuid.uuid4().hex[:16])
    gw.create(request)
    assert gw.close(request.out_trade_no).state == TradeState.CLOSED
    assert gw.query(request.out_trade_no).state == TradeState.CLOSED
    with pytest.raises(GatewayError) as err:
        gw.create(request)
    assert err.value.code == "OUT_TRADE_NO_USED" and not err.value.retryable
    # An attempt the gateway never received (create timed out) is unpaid; closing it
    # succeeds.
    never = "NEVER" + new_no()[:20]
    assert gw.query(never).state == TradeState.NOTPAY
    assert gw.close(never).state == TradeState.CLOSED


def test_jsapi_pay_sign_verifies_with_the_merchant_key(gw, wechat_sim, config):
    request = create_request(PayMode.JSAPI, payer_openid="oUpF8uMuAJO_M2pxb1Q9zNjWeS6o")
    params = gw.create(request).jsapi_params
    assert set(params) == {"appId", "timeStamp", "nonceStr", "package", "signType", "paySign"}
    assert params["appId"] == config.app_id and params["signType"] == "RSA"
    assert params["package"].startswith("prepay_id=wx")
    merchant_public = load_public(wechat_sim.merchants[config.merchant_id].public_key_pem)
    message = "".join(f"{params[k]}\n" for k in ("appId", "timeStamp", "nonceStr", "package"))
    assert rsa_verify(merchant_public, message.encode(), params["paySign"])
    assert not rsa_verify(merchant_public, message.replace("prepay_id=", "prepay_id=x").encode(),
                          params["paySign"])
    prepay_id = params["package"].removeprefix("prepay_id=")
    sheet = requests.get(f"{wechat_sim.public_url}/wechat/jsapi/{prepay_id}", timeout=5)
    assert "确认支付" in sheet.text
    with pytest.raises(GatewayError):
        gw.create(create_request(PayMode.JSAPI))  # no openid


def test_h5_redirect_url_carries_the_return_url(gw, wechat_sim):
    back = "http://127.0.0.1:8000/portal/pay/return?o=1&x=中"
    request = create_request(PayMode.H5, payer_ip="203.0.113.9", return_url=back)
    result = gw.create(request)
    assert parse_qs(urlsplit(result.redirect_url).query)["redirect_url"] == [back]
    response = requests.post(result.redirect_url, allow_redirects=False, timeout=5)
    assert response.status_code == 302
    assert unquote(response.headers["Location"]) == back
    assert gw.query(request.out_trade_no).state == TradeState.PAID
    plain = gw.create(create_request(PayMode.H5))
    assert "redirect_url" not in plain.redirect_url


def test_refunds_partial_repeated_idempotent_and_limited(gw, wechat_sim, sink):
    request, _ = paid_order(gw, wechat_sim, sink, amount_fen=1000)
    sink.reset()
    no = request.out_trade_no
    first = gw.refund(RefundRequest(no, "R" + no, 300, 1000, reason="多缴"))
    assert first.state == RefundState.PROCESSING and first.refund_fen == 300 and first.refund_id
    again = gw.refund(RefundRequest(no, "R" + no, 300, 1000, reason="多缴"))
    assert again.refund_id == first.refund_id  # same out_refund_no: the same refund
    with pytest.raises(GatewayError) as err:
        gw.refund(RefundRequest(no, "S" + no, 701, 1000))
    assert err.value.code == "INVALID_REQUEST" and not err.value.retryable
    second = gw.refund(RefundRequest(no, "S" + no, 700, 1000))
    assert second.state == RefundState.PROCESSING and second.refund_id != first.refund_id
    assert gw.query(no).raw["trade_state"] == "REFUND"
    refunded = gw.query(no)  # money received, then (some of it) refunded at the channel
    assert refunded.state == TradeState.REFUNDED and refunded.channel_state == "REFUND"
    assert (refunded.amount_fen, refunded.refunded_fen) == (1000, 0)  # how much: not told
    with pytest.raises(GatewayError):
        gw.refund(RefundRequest(no, "T" + no, 1, 1000))  # nothing left

    wechat_sim.set_refund_status("R" + no, "SUCCESS")
    wechat_sim.set_refund_status("S" + no, "ABNORMAL")
    received = sink.wait_for(2)
    notes = {n.refund.out_refund_no: n for n in (
        gw.parse_notification(r.headers, r.body, now=now()) for r in received)}
    assert notes["R" + no].kind == "refund" and notes["R" + no].out_trade_no == no
    assert notes["R" + no].refund.state == RefundState.SUCCESS
    assert notes["R" + no].refund.succeeded_at is not None
    assert notes["S" + no].refund.state == RefundState.ABNORMAL
    assert notes["S" + no].refund.reason
    assert json.loads(received[0].body)["resource"]["original_type"] == "refund"

    assert gw.query_refund(no, "R" + no).state == RefundState.SUCCESS
    assert gw.query_refund(no, "S" + no).state == RefundState.ABNORMAL
    assert gw.query_refund(no, "NOPE" + no).state == RefundState.NOT_FOUND
    # A repeat of a finished refund still does not refund twice.
    assert gw.refund(RefundRequest(no, "R" + no, 300, 1000)).state == RefundState.SUCCESS
    # A closed refund gives its amount back.
    wechat_sim.set_refund_status("S" + no, "CLOSED")
    assert gw.query_refund(no, "S" + no).state == RefundState.CLOSED
    assert gw.refund(RefundRequest(no, "U" + no, 700, 1000)).state == RefundState.PROCESSING


def test_refund_count_limit_and_merchant_balance(gw, wechat_sim, sink):
    request, _ = paid_order(gw, wechat_sim, sink, amount_fen=100)
    no = request.out_trade_no
    for i in range(50):
        gw.refund(RefundRequest(no, f"{no}-{i}", 1, 100))
    with pytest.raises(GatewayError) as err:
        gw.refund(RefundRequest(no, f"{no}-50", 1, 100))
    assert err.value.code == "INVALID_REQUEST"
    request, _ = paid_order(gw, wechat_sim, sink, amount_fen=100)
    wechat_sim.inject("refund_not_enough")
    with pytest.raises(GatewayError) as err:
        gw.refund(RefundRequest(request.out_trade_no, "N" + request.out_trade_no, 1, 100))
    assert err.value.code == "NOT_ENOUGH"


def test_refund_succeeds_by_itself_after_the_delay(gw, wechat_sim, sink):
    request, _ = paid_order(gw, wechat_sim, sink)
    sink.reset()
    wechat_sim.refund_delay = 0.2
    refund = gw.refund(RefundRequest(request.out_trade_no, "D" + request.out_trade_no, 1, 10000))
    assert refund.state == RefundState.PROCESSING
    (received,) = sink.wait_for(1)
    note = gw.parse_notification(received.headers, received.body, now=now())
    assert note.refund.state == RefundState.SUCCESS
    assert gw.query_refund(request.out_trade_no, refund.out_refund_no).state == RefundState.SUCCESS


# ---------------------------------------------------------------- notifications refused

def reason(gw, received, at=None) -> str:
    with pytest.raises(NotificationRejected) as err:
        gw.parse_notification(received.headers, received.body, now=at or now())
    return err.value.reason


def test_forged_wrong_serial_stale_and_probe_notifications_are_rejected(gw, wechat_sim, sink):
    expected = {"notify_bad_signature": "bad_signature", "notify_wrong_serial": "unknown_serial",
                "notify_stale_timestamp": "stale_timestamp"}
    for count, (fault, why) in enumerate(expected.items(), start=1):
        wechat_sim.inject(fault)
        gw.create(request := create_request())
        wechat_sim.pay(request.out_trade_no)
        assert reason(gw, sink.wait_for(count)[-1]) == why, fault
    wechat_sim.send_signtest_probe(gw.config.merchant_id)
    probe = sink.wait_for(4)[-1]
    assert probe.headers["wechatpay-signature"].startswith("WECHATPAY/SIGNTEST/")
    assert reason(gw, probe) == "signtest"
    assert gw.acknowledge(False).status >= 400
    assert json.loads(gw.acknowledge(False, "bad_signature").body)["code"] == "FAIL"


def test_good_notification_rejected_when_stale_replayed_tampered_or_foreign(
        gw, wechat_sim, sink, config):
    request, note = paid_order(gw, wechat_sim, sink)
    received = sink.received[-1]
    assert note.out_trade_no == request.out_trade_no
    # The same, valid request ten minutes later (a replay) or from the future.
    assert reason(gw, received, now() + dt.timedelta(minutes=6)) == "stale_timestamp"
    assert reason(gw, received, now() - dt.timedelta(minutes=6)) == "stale_timestamp"
    # Headers missing.
    stripped = {k: v for k, v in received.headers.items() if k != "wechatpay-signature"}
    with pytest.raises(NotificationRejected, match="missing_signature"):
        gw.parse_notification(stripped, received.body, now=now())
    # One byte of the body changed.
    tampered = received.body.replace(b'"summary":"', b'"summary":"x')
    assert tampered != received.body
    with pytest.raises(NotificationRejected, match="bad_signature"):
        gw.parse_notification(received.headers, tampered, now=now())
    # Validly signed by the platform but the ciphertext does not decrypt with our key.
    envelope = json.loads(received.body)
    ciphertext = bytearray(base64.b64decode(envelope["resource"]["ciphertext"]))
    ciphertext[0] ^= 1
    envelope["resource"]["ciphertext"] = base64.b64encode(bytes(ciphertext)).decode()
    body = json.dumps(envelope).encode()
    headers = {k.lower(): v for k, v in wechat_sim.sign_headers(body).items()}
    with pytest.raises(NotificationRejected, match="undecryptable"):
        gw.parse_notification(headers, body, now=now())
    # Genuine, but for another app id or merchant.
    for field, expected in (("app_id", "app_id_mismatch"),
                            ("merchant_id", "merchant_id_mismatch")):
        other = WeChatPayGateway(dataclasses.replace(config, **{field: "wxffffffffffffffff"}))
        assert reason(other, received) == expected
    # Encrypted with another merchant's APIv3 key.
    wrong_key = WeChatPayGateway(dataclasses.replace(config, api_v3_key="0" * 32))
    assert reason(wrong_key, received) == "undecryptable"


def test_a_forged_resource_for_our_merchant_with_the_wrong_appid(gw, wechat_sim, config):
    plaintext = {"mchid": config.merchant_id, "appid": "wx_someone_else", "out_trade_no": "X" * 10,
                 "trade_state": "SUCCESS", "amount": {"total": 1}}
    body = wechat_sim.notification_body(config.merchant_id, "TRANSACTION.SUCCESS", "支付成功",
                                        "transaction", plaintext)
    headers = {k.lower(): v for k, v in wechat_sim.sign_headers(body).items()}
    with pytest.raises(NotificationRejected, match="app_id_mismatch"):
        gw.parse_notification(headers, body, now=now())
    resource = json.loads(body)["resource"]
    assert json.loads(AESGCM(config.api_v3_key.encode()).decrypt(
        resource["nonce"].encode(), base64.b64decode(resource["ciphertext"]),
        b"transaction"))["appid"] == "wx_someone_else"


# ---------------------------------------------------------------- transport failures

def test_a_wrong_platform_key_id_is_noticed(config):
    with pytest.raises(GatewayError) as err:
        WeChatPayGateway(dataclasses.replace(
            config, platform_public_key_id="PUB_KEY_ID_0000000000000000000000000000",
        )).create(create_request())
    assert err.value.code == "PARAM_ERROR"


def test_request_signed_with_the_wrong_key_is_refused(wechat_sim, config):
    impostor = dataclasses.replace(
        config, private_key_pem=wechat_sim.provision_merchant()["private_key_pem"])
    with pytest.raises(GatewayError) as err:
        WeChatPayGateway(impostor).create(create_request())
    assert err.value.code == "SIGN_ERROR" and not err.value.retryable


@pytest.mark.parametrize("fault", ["unsigned", "wrong_serial", "stale_timestamp"])
def test_unverifiable_2xx_is_treated_as_forged(gw, wechat_sim, fault):
    request = create_request()
    wechat_sim.inject(fault)
    with pytest.raises(GatewayError) as err:
        gw.create(request)
    assert err.value.code == "RESPONSE_NOT_VERIFIED" and err.value.retryable
    # The order did reach the gateway: retrying the same attempt is safe and works.
    assert gw.create(request).code_url
    wechat_sim.inject(fault)
    with pytest.raises(GatewayError):
        gw.close(request.out_trade_no)  # an unsigned 204 too


def test_server_errors_timeouts_and_refused_connections_are_retryable(
        gw, wechat_sim, config):
    wechat_sim.inject("error", 1, status=500)
    with pytest.raises(GatewayError) as err:
        gw.query("L" + "0" * 10)
    assert err.value.code == "SYSTEM_ERROR" and err.value.retryable
    wechat_sim.inject("error", 1, status=502)
    with pytest.raises(GatewayError) as err:
        gw.create(create_request())
    assert err.value.retryable

    wechat_sim.inject("latency", seconds=0.5)
    slow = WeChatPayGateway(config, timeout=(1, 0.2))
    with pytest.raises(GatewayError) as err:
        slow.create(create_request())
    assert err.value.code == "TIMEOUT" and err.value.retryable
    wechat_sim.inject("latency", seconds=0)

    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    nowhere = WeChatPayGateway(dataclasses.replace(config, gateway_url=f"http://127.0.0.1:{port}"))
    with pytest.raises(GatewayError) as err:
        nowhere.query("L" + "0" * 10)
    assert err.value.code == "CONNECTION_ERROR" and err.value.retryable


def test_bad_configuration_is_a_gateway_error(config):
    for change in ({"private_key_pem": "not a key"}, {"platform_public_key_pem": ""},
                   {"platform_public_key_id": ""}, {"platform_public_key_pem": "junk"}):
        with pytest.raises(GatewayError) as err:
            WeChatPayGateway(dataclasses.replace(config, **change))
        assert err.value.code == "CONFIG_ERROR", change
    with pytest.raises(GatewayError) as err:
        WeChatPayGateway(dataclasses.replace(config, notify_url="")).create(create_request())
    assert err.value.code == "CONFIG_ERROR"


# ---------------------------------------------------------------- delivery

def test_retries_follow_the_schedule_and_stop_at_acknowledgement(gw, wechat_sim, sink):
    answers = iter([500, 400, 200] + [204] * 10)
    sink.handler = lambda _item: Response(next(answers))
    request = create_request()
    gw.create(request)
    wechat_sim.pay(request.out_trade_no)
    received = sink.wait_for(3)
    assert wechat_sim.dispatcher.wait_idle(5)
    time.sleep(0.1)
    assert len(sink.received) == 3  # acknowledged by the 200: no fourth attempt
    gaps = [b.at - a.at for a, b in zip(received, received[1:], strict=False)]
    scale = wechat_sim.dispatcher.time_scale
    assert gaps[0] >= 15 * scale * 0.9 and gaps[1] >= 15 * scale * 0.9
    (delivery,) = [d for d in wechat_sim.deliveries if request.out_trade_no in d.label]
    assert [status for _, status, _ in delivery.attempts] == [500, 400, 200]
    assert delivery.acknowledged and not delivery.given_up
    # Every attempt is freshly signed and valid on its own.
    assert len({item.headers["wechatpay-nonce"] for item in received}) == 3
    for item in received:
        assert gw.parse_notification(item.headers, item.body, now=now()).trade.state == "paid"


def test_unacknowledged_notification_is_given_up_after_the_whole_schedule(
        gw, wechat_sim, sink):
    from linli.paysim.common import WECHAT_RETRY_SCHEDULE

    sink.handler = lambda _item: Response(500, b'{"code":"FAIL","message":"x"}')
    dispatcher = wechat_sim.dispatcher
    scale, dispatcher.time_scale = dispatcher.time_scale, 0.00001  # a day in ~0.9 s
    try:
        request = create_request()
        gw.create(request)
        wechat_sim.pay(request.out_trade_no)
        sink.wait_for(len(WECHAT_RETRY_SCHEDULE) + 1, timeout=10)
        assert dispatcher.wait_idle(5)
    finally:
        dispatcher.time_scale = scale
    (delivery,) = [d for d in wechat_sim.deliveries if request.out_trade_no in d.label]
    assert len(delivery.attempts) == 16 and delivery.given_up and not delivery.acknowledged


def test_duplicate_and_out_of_order_notifications(gw, wechat_sim, sink):
    wechat_sim.inject("notify_duplicate")
    request, _ = paid_order(gw, wechat_sim, sink)
    received = sink.wait_for(2)
    keys = {gw.parse_notification(r.headers, r.body, now=now()).dedupe_key for r in received}
    assert len(received) == 2 and len(keys) == 1  # the same notification twice
    sink.reset()

    wechat_sim.hold_notifications()
    first, second = create_request(), create_request()
    for r in (first, second):
        gw.create(r)
        wechat_sim.pay(r.out_trade_no)
    time.sleep(0.05)
    assert sink.received == []
    wechat_sim.release_notifications("reverse")
    received = sink.wait_for(2)
    order = [gw.parse_notification(r.headers, r.body, now=now()).out_trade_no for r in received]
    assert order == [second.out_trade_no, first.out_trade_no]
