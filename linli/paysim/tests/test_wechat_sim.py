"""The WeChat Pay simulator at the HTTP level, with requests signed and responses verified
here by hand (``cryptography``), so the protocol is checked independently of both the
simulator's code and wechatpayv3 (the adapter tests run the library against it)."""

from __future__ import annotations

import base64
import json
import re
import secrets
import time
import uuid

import pytest
import requests
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from linli.paysim.common import (
    ServerThread,
    load_private,
    load_public,
    rsa_sign,
    rsa_verify,
)
from linli.paysim.wechat import WeChatSim


def new_no() -> str:
    return "T" + uuid.uuid4().hex[:20]


def call(server, cfg, method, path, payload=None, *, key_pem=None, timestamp=None,
         serial=None, body_override=None, send_path=None):
    body = b"" if payload is None else json.dumps(payload, ensure_ascii=False).encode()
    ts = str(int(time.time()) if timestamp is None else timestamp)
    nonce = secrets.token_hex(16)
    message = f"{method}\n{path}\n{ts}\n{nonce}\n".encode() + body + b"\n"
    signature = rsa_sign(load_private(key_pem or cfg["private_key_pem"]), message)
    auth = (f'WECHATPAY2-SHA256-RSA2048 mchid="{cfg["merchant_id"]}",nonce_str="{nonce}",'
            f'signature="{signature}",timestamp="{ts}",'
            f'serial_no="{serial or cfg["merchant_serial"]}"')
    return requests.request(method, server.url + (send_path or path),
                            data=body if body_override is None else body_override,
                            headers={"Authorization": auth, "Content-Type": "application/json"},
                            timeout=5)


def signed_by_platform(sim, response) -> bool:
    h = response.headers
    if "Wechatpay-Signature" not in h:
        return False
    message = f"{h['Wechatpay-Timestamp']}\n{h['Wechatpay-Nonce']}\n".encode() \
        + response.content + b"\n"
    return (h["Wechatpay-Serial"] == sim.platform_key_id
            and h["Wechatpay-Signature-Type"] == "WECHATPAY2-SHA256-RSA2048"
            and rsa_verify(load_public(sim.platform_public_key_pem), message,
                           h["Wechatpay-Signature"]))


@pytest.fixture(scope="module")
def cfg(wechat_server, notify_sink):
    sim, _ = wechat_server
    return sim.provision_merchant(notify_url=notify_sink.url + "/notify/wechat")


@pytest.fixture
def server(wechat_server, wechat_sim):
    return wechat_server[1]


def order(cfg, no, **changes):
    body = {"appid": cfg["app_id"], "mchid": cfg["merchant_id"], "description": "物业费 2026年11月",
            "out_trade_no": no, "notify_url": cfg["notify_url"],
            "amount": {"total": 12345, "currency": "CNY"}}
    body.update(changes)
    return body


def test_provisioned_merchant_has_every_config_field(wechat_sim, cfg):
    from linli.payments.gateways.base import MerchantConfig

    config = MerchantConfig(**cfg)
    assert config.channel == "wechat"
    assert re.fullmatch(r"[0-9A-F]{40}", config.merchant_serial)
    assert re.fullmatch(r"PUB_KEY_ID_\d+", config.platform_public_key_id)
    assert len(config.api_v3_key) == 32 and config.api_v3_key.isascii()
    assert config.gateway_url == wechat_sim.public_url
    assert "PRIVATE KEY" in config.private_key_pem
    # The simulator keeps only the public half of the merchant key.
    stored = json.dumps([vars(m) for m in wechat_sim.merchants.values()])
    assert "PRIVATE" not in stored


def test_native_order_is_created_signed_and_idempotent(wechat_sim, server, cfg):
    no = new_no()
    first = call(server, cfg, "POST", "/v3/pay/transactions/native", order(cfg, no))
    assert first.status_code == 200, first.text
    assert first.json()["code_url"].startswith("weixin://wxpay/bizpayurl?pr=")
    assert signed_by_platform(wechat_sim, first)
    again = call(server, cfg, "POST", "/v3/pay/transactions/native", order(cfg, no))
    assert again.json() == first.json()
    changed = call(server, cfg, "POST", "/v3/pay/transactions/native",
                   order(cfg, no, amount={"total": 1, "currency": "CNY"}))
    assert changed.status_code == 400
    assert changed.json()["code"] == "OUT_TRADE_NO_USED"
    assert changed.json()["message"] == "商户订单号重复"


def test_requests_are_verified_strictly(wechat_sim, server, cfg):
    path = "/v3/pay/transactions/native"
    mchid = cfg["merchant_id"]
    other_key = wechat_sim.provision_merchant()["private_key_pem"]
    cases = {
        "wrong key": call(server, cfg, "POST", path, order(cfg, new_no()), key_pem=other_key),
        "stale": call(server, cfg, "POST", path, order(cfg, new_no()),
                      timestamp=int(time.time()) - 301),
        "future": call(server, cfg, "POST", path, order(cfg, new_no()),
                       timestamp=int(time.time()) + 400),
        "wrong serial": call(server, cfg, "POST", path, order(cfg, new_no()),
                             serial="0" * 40),
        "body changed after signing": call(
            server, cfg, "POST", path, order(cfg, new_no()),
            body_override=json.dumps(order(cfg, new_no())).encode()),
        "query changed after signing": call(
            server, cfg, "GET", f"/v3/pay/transactions/out-trade-no/X123456?mchid={mchid}",
            send_path=f"/v3/pay/transactions/out-trade-no/X123456?mchid={mchid}&x=1"),
    }
    for name, response in cases.items():
        assert response.status_code == 401, name
        assert response.json()["code"] == "SIGN_ERROR", name
    missing = requests.post(server.url + path, json=order(cfg, new_no()), timeout=5)
    assert missing.status_code == 401 and missing.json()["code"] == "SIGN_ERROR"
    # A request signed within the window is fine.
    ok = call(server, cfg, "POST", path, order(cfg, new_no()), timestamp=int(time.time()) - 200)
    assert ok.status_code == 200


@pytest.mark.parametrize("changes", [
    {"out_trade_no": "12345"},                                   # too short
    {"out_trade_no": "A" * 33},                                  # too long
    {"out_trade_no": "订单123456"},                               # bad characters
    {"amount": {"total": 0, "currency": "CNY"}},
    {"amount": {"total": 12.5, "currency": "CNY"}},
    {"amount": {"total": "100", "currency": "CNY"}},
    {"amount": {"total": 100, "currency": "USD"}},
    {"notify_url": "http://pay.example.com/notify"},              # http, not local
    {"notify_url": "https://pay.example.com/notify?x=1"},         # query string
    {"description": "长" * 128},
    {"appid": "wx0000000000000000"},
    {"mchid": "1234567890"},
    {"time_expire": "2026-11-27 10:00:00"},
])
def test_invalid_orders_are_refused_with_param_error(server, cfg, changes):
    body = order(cfg, new_no())
    body.update(changes)
    response = call(server, cfg, "POST", "/v3/pay/transactions/native", body)
    assert response.status_code == 400, response.text
    assert response.json()["code"] == "PARAM_ERROR"


def test_jsapi_needs_openid_and_h5_needs_scene(server, cfg):
    no = new_no()
    assert call(server, cfg, "POST", "/v3/pay/transactions/jsapi",
                order(cfg, no)).json()["code"] == "PARAM_ERROR"
    assert call(server, cfg, "POST", "/v3/pay/transactions/h5",
                order(cfg, no)).json()["code"] == "PARAM_ERROR"
    jsapi = call(server, cfg, "POST", "/v3/pay/transactions/jsapi",
                 order(cfg, no, payer={"openid": "oUpF8uMuAJO_M2pxb1Q9zNjWeS6o"}))
    assert jsapi.status_code == 200 and jsapi.json()["prepay_id"].startswith("wx")


def test_query_close_and_expiry(wechat_sim, server, cfg):
    no = new_no()
    call(server, cfg, "POST", "/v3/pay/transactions/native", order(cfg, no))
    query = f"/v3/pay/transactions/out-trade-no/{no}?mchid={cfg['merchant_id']}"
    response = call(server, cfg, "GET", query)
    assert response.json()["trade_state"] == "NOTPAY" and signed_by_platform(wechat_sim, response)
    closed = call(server, cfg, "POST", f"/v3/pay/transactions/out-trade-no/{no}/close",
                  {"mchid": cfg["merchant_id"]})
    assert closed.status_code == 204 and closed.content == b""
    assert signed_by_platform(wechat_sim, closed)
    assert call(server, cfg, "GET", query).json()["trade_state"] == "CLOSED"
    reuse = call(server, cfg, "POST", "/v3/pay/transactions/native", order(cfg, no))
    assert reuse.json()["code"] == "OUT_TRADE_NO_USED"
    unknown = call(server, cfg, "GET", f"/v3/pay/transactions/out-trade-no/NOPE123456"
                                       f"?mchid={cfg['merchant_id']}")
    assert unknown.status_code == 404 and unknown.json()["code"] == "ORDER_NOT_EXIST"

    # time_expire: after it the order is closed and cannot be paid.
    expiring = new_no()
    soon = time.strftime("%Y-%m-%dT%H:%M:%S+08:00", time.gmtime(time.time() + 8 * 3600 + 60))
    assert call(server, cfg, "POST", "/v3/pay/transactions/native",
                order(cfg, expiring, time_expire=soon)).status_code == 200
    real_clock = wechat_sim.clock
    wechat_sim.clock = lambda: real_clock() + 61
    try:
        state = call(server, cfg, "GET", f"/v3/pay/transactions/out-trade-no/{expiring}"
                                         f"?mchid={cfg['merchant_id']}").json()["trade_state"]
        token = wechat_sim._find_order(expiring).token
        page = requests.post(f"{server.url}/wechat/scan/{token}", timeout=5)
    finally:
        wechat_sim.clock = real_clock
    assert state == "CLOSED"
    assert "无法支付" in page.text and "确认支付" not in page.text


def test_scan_page_pays_and_notifies_encrypted(wechat_sim, server, cfg, sink):
    no = new_no()
    code_url = call(server, cfg, "POST", "/v3/pay/transactions/native",
                    order(cfg, no)).json()["code_url"]
    token = code_url.split("pr=")[1]
    page = requests.get(f"{server.url}/wechat/scan/{token}", timeout=5)
    assert "模拟支付" in page.text and "确认支付" in page.text and "123.45" in page.text
    paid = requests.post(f"{server.url}/wechat/scan/{token}", timeout=5)
    assert "支付成功" in paid.text

    (received,) = sink.wait_for(1)
    assert received.path == "/notify/wechat"
    h = received.headers
    message = f"{h['wechatpay-timestamp']}\n{h['wechatpay-nonce']}\n".encode() \
        + received.body + b"\n"
    assert h["wechatpay-serial"] == wechat_sim.platform_key_id
    assert rsa_verify(load_public(wechat_sim.platform_public_key_pem), message,
                      h["wechatpay-signature"])
    envelope = json.loads(received.body)
    assert envelope["event_type"] == "TRANSACTION.SUCCESS"
    assert envelope["resource_type"] == "encrypt-resource"
    resource = envelope["resource"]
    assert resource["algorithm"] == "AEAD_AES_256_GCM"
    assert resource["associated_data"] == resource["original_type"] == "transaction"
    plaintext = AESGCM(cfg["api_v3_key"].encode()).decrypt(
        resource["nonce"].encode(), base64.b64decode(resource["ciphertext"]),
        resource["associated_data"].encode())
    transaction = json.loads(plaintext)
    assert transaction["out_trade_no"] == no and transaction["trade_state"] == "SUCCESS"
    assert re.fullmatch(r"\d{28}", transaction["transaction_id"])
    assert transaction["amount"]["total"] == 12345
    assert transaction["payer"]["openid"]

    by_id = call(server, cfg, "GET", f"/v3/pay/transactions/id/{transaction['transaction_id']}"
                                     f"?mchid={cfg['merchant_id']}")
    assert by_id.json()["out_trade_no"] == no
    closing = call(server, cfg, "POST", f"/v3/pay/transactions/out-trade-no/{no}/close",
                   {"mchid": cfg["merchant_id"]})
    assert closing.status_code == 400 and closing.json()["code"] == "ORDERPAID"
    assert wechat_sim.delivery_log()[-1]["acknowledged"] is True


def test_h5_and_jsapi_pages_redirect_after_paying(wechat_sim, server, cfg):
    h5 = call(server, cfg, "POST", "/v3/pay/transactions/h5",
              order(cfg, new_no(), scene_info={"payer_client_ip": "1.2.3.4",
                                               "h5_info": {"type": "Wap"}})).json()["h5_url"]
    assert h5.startswith(server.url + "/wechat/h5/")
    back = "https://owner.example.com/pay/done?order=1"
    url = h5 + "&redirect_url=" + requests.utils.quote(back, safe="")
    assert "确认支付" in requests.get(url, timeout=5).text
    paid = requests.post(url, allow_redirects=False, timeout=5)
    assert paid.status_code == 302 and paid.headers["Location"] == back

    no = new_no()
    prepay_id = call(server, cfg, "POST", "/v3/pay/transactions/jsapi",
                     order(cfg, no, payer={"openid": "o-test"})).json()["prepay_id"]
    sheet = f"{server.url}/wechat/jsapi/{prepay_id}?redirect_url=" + requests.utils.quote(back)
    assert "确认支付" in requests.get(sheet, timeout=5).text
    assert requests.post(sheet, allow_redirects=False, timeout=5).status_code == 302
    assert wechat_sim._find_order(no).payer_openid == "o-test"
    assert requests.get(f"{server.url}/wechat/scan/nonexistent", timeout=5).status_code == 404


def test_faults_5xx_unsigned_wrong_serial_stale(wechat_sim, server, cfg):
    path = "/v3/pay/transactions/native"
    wechat_sim.inject("error", 2, status=503)
    assert call(server, cfg, "POST", path, order(cfg, new_no())).status_code == 503
    assert call(server, cfg, "POST", path, order(cfg, new_no())).status_code == 503
    assert call(server, cfg, "POST", path, order(cfg, new_no())).status_code == 200
    wechat_sim.inject("unsigned")
    unsigned = call(server, cfg, "POST", path, order(cfg, new_no()))
    assert unsigned.status_code == 200 and "Wechatpay-Signature" not in unsigned.headers
    wechat_sim.inject("wrong_serial")
    wrong = call(server, cfg, "POST", path, order(cfg, new_no()))
    assert wrong.headers["Wechatpay-Serial"] != wechat_sim.platform_key_id
    wechat_sim.inject("stale_timestamp")
    stale = call(server, cfg, "POST", path, order(cfg, new_no()))
    assert int(stale.headers["Wechatpay-Timestamp"]) < time.time() - 300
    assert signed_by_platform(wechat_sim, call(server, cfg, "POST", path, order(cfg, new_no())))


def test_control_endpoints_over_http(wechat_sim, server, cfg, sink):
    no = new_no()
    call(server, cfg, "POST", "/v3/pay/transactions/native", order(cfg, no))
    paid = requests.post(f"{server.url}/wechat/_sim/pay", json={"out_trade_no": no}, timeout=5)
    assert paid.json()["trade_state"] == "SUCCESS"
    again = requests.post(f"{server.url}/wechat/_sim/pay", json={"out_trade_no": no}, timeout=5)
    assert again.status_code == 400 and again.json()["code"] == "ORDERPAID"
    sink.wait_for(1)
    assert wechat_sim.dispatcher.wait_idle(5)
    log = requests.get(f"{server.url}/wechat/_sim/deliveries", timeout=5).json()
    mine = [d for d in log if no in d["label"]]
    assert mine and mine[0]["acknowledged"] and mine[0]["attempts"][0]["status"] == 204
    faults = requests.post(f"{server.url}/wechat/_sim/faults",
                           json={"kind": "error", "count": 3}, timeout=5).json()
    assert faults["error_next"] == 3
    requests.post(f"{server.url}/wechat/_sim/faults/clear", timeout=5)
    assert wechat_sim.faults.error_next == 0
    orders = requests.get(f"{server.url}/wechat/_sim/orders", timeout=5).json()
    assert any(o["out_trade_no"] == no and o["state"] == "SUCCESS" for o in orders)


def test_state_persists_across_restarts(tmp_path, notify_sink):
    first = WeChatSim(state_dir=tmp_path)
    cfg = first.provision_merchant(notify_url=notify_sink.url + "/n")
    first.dispatcher.stop()
    second = WeChatSim(state_dir=tmp_path)
    second.dispatcher.stop()
    assert second.platform_key_id == first.platform_key_id
    assert second.platform_public_key_pem == first.platform_public_key_pem
    assert cfg["merchant_id"] in second.merchants
    with ServerThread(second) as server:
        response = call(server, cfg, "POST", "/v3/pay/transactions/native",
                        order(cfg, new_no()))
    assert response.status_code == 200 and signed_by_platform(second, response)


def test_server_mounts_wechat_and_lists_orders(tmp_path):
    from linli.paysim.server import make_app

    app = make_app(tmp_path, "", time_scale=0.001)
    try:
        with ServerThread(app) as server:
            app.wechat.public_url = server.url
            cfg = app.wechat.provision_merchant(notify_url="http://127.0.0.1:9/n")
            no = new_no()
            assert call(server, cfg, "POST", "/v3/pay/transactions/native",
                        order(cfg, no)).status_code == 200
            index = requests.get(server.url + "/", timeout=5)
            assert no in index.text and "模拟支付" in index.text
            token = app.wechat._find_order(no).token
            assert f'href="{server.url}/wechat/scan/{token}"' in index.text
            assert requests.get(server.url + "/nowhere", timeout=5).status_code == 404
    finally:
        app.dispatcher.stop()


def test_main_serves_on_the_given_port_with_keys_in_home(tmp_path):
    import socket
    import subprocess
    import sys

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    process = subprocess.Popen(
        [sys.executable, "-m", "linli.paysim.server", "--port", str(port), "--home",
         str(tmp_path)], stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        assert "listening on" in process.stdout.readline().decode()
        for _ in range(50):
            try:
                page = requests.get(f"http://127.0.0.1:{port}/", timeout=1)
                break
            except requests.ConnectionError:
                time.sleep(0.05)
        assert "支付模拟器" in page.text
        created = requests.post(f"http://127.0.0.1:{port}/wechat/_sim/merchants",
                                json={"notify_url": "http://127.0.0.1:9/n"}, timeout=5).json()
        assert created["gateway_url"] == f"http://127.0.0.1:{port}"
    finally:
        process.terminate()
        process.wait(5)
    assert (tmp_path / "paysim" / "wechat" / "platform_key.pem").exists()
