"""The Alipay simulator, driven by the real python-alipay-sdk client over HTTP."""

from __future__ import annotations

import datetime as dt
import json
import re
import time
import urllib.error
from urllib.parse import parse_qsl, urlsplit

import pytest
import requests
from alipay import AliPay
from alipay.exceptions import AliPayException, AliPayValidationError

from linli.paysim.alipay import AlipaySim
from linli.paysim.common import (
    ServerThread,
    load_public,
    private_pem,
    rsa_generate,
    rsa_verify,
)
from linli.paysim.tests.conftest import NotifySink, alipay_ack

BEIJING = dt.timezone(dt.timedelta(hours=8))
_seq = iter(range(1, 10**6))


def client(merchant: dict, *, private_key_pem: str | None = None) -> AliPay:
    ali = AliPay(appid=merchant["app_id"], app_notify_url=merchant["notify_url"],
                 app_private_key_string=private_key_pem or merchant["private_key_pem"],
                 alipay_public_key_string=merchant["platform_public_key_pem"])
    ali._gateway = merchant["gateway_url"]
    return ali


def out_no(prefix: str = "T") -> str:
    return f"{prefix}{int(time.time())}{next(_seq):05d}"


def verify_form(ali: AliPay, params: dict[str, str]) -> bool:
    """Verify a notification / return URL the way Alipay documents: without sign and
    sign_type, empty values dropped."""
    params = dict(params)
    signature = params.pop("sign")
    params.pop("sign_type", None)
    return ali.verify({k: v for k, v in params.items() if v != ""}, signature)


def notifications_for(sink: NotifySink, out_trade_no: str, count: int) -> list[dict]:
    deadline = time.monotonic() + 5
    while True:
        found = [dict(parse_qsl(r.body.decode())) for r in list(sink.received)]
        found = [f for f in found if f.get("out_trade_no") == out_trade_no]
        if len(found) >= count:
            return found
        if time.monotonic() > deadline:
            raise AssertionError(f"expected {count} notifications for {out_trade_no}, "
                                 f"got {len(found)}")
        time.sleep(0.02)


@pytest.fixture
def ali(alipay_merchant, alipay_sim, sink):
    sink.handler = alipay_ack
    return client(alipay_merchant)


def precreate(ali: AliPay, amount: str = "88.88", **kwargs) -> tuple[str, dict]:
    no = out_no()
    result = ali.api_alipay_trade_precreate(subject="物业费 2026年11月", out_trade_no=no,
                                            total_amount=amount, **kwargs)
    return no, result


# ------------------------------------------------------------ request verification

def test_request_signed_with_another_key_is_refused(alipay_merchant, alipay_sim):
    forger = client(alipay_merchant, private_key_pem=private_pem(rsa_generate()))
    with pytest.raises(AliPayException) as info:
        forger.api_alipay_trade_query(out_trade_no="NOPE1")
    assert "isv.invalid-signature" in str(info.value)
    # The raw answer: an error_response, 40002.
    url = forger._gateway + "?" + forger.sign_data(
        forger.build_body("alipay.trade.query", {"out_trade_no": "NOPE1"}))
    body = requests.get(url, timeout=5).json()
    assert body["error_response"]["code"] == "40002"
    assert body["error_response"]["msg"] == "Invalid Arguments"
    assert body["error_response"]["sub_code"] == "isv.invalid-signature"


def test_every_parameter_including_sign_type_is_signed(ali):
    signed = ali.sign_data(ali.build_body("alipay.trade.query", {"out_trade_no": "X1"}))
    ok = requests.get(f"{ali._gateway}?{signed}", timeout=5).json()
    assert ok["alipay_trade_query_response"]["sub_code"] == "ACQ.TRADE_NOT_EXIST"
    added = requests.get(f"{ali._gateway}?{signed}&return_url=http%3A%2F%2Fevil", timeout=5)
    assert added.json()["error_response"]["sub_code"] == "isv.invalid-signature"
    # Signed without sign_type (as notifications are) is not how requests are signed.
    data = ali.build_body("alipay.trade.query", {"out_trade_no": "X1"})
    items = sorted((k, v if isinstance(v, str) else json.dumps(v, separators=(",", ":")))
                   for k, v in data.items() if k != "sign_type")
    sign = ali._sign("&".join(f"{k}={v}" for k, v in items))
    body = requests.get(ali._gateway, params={**dict(items), "sign_type": "RSA2",
                                              "sign": sign}, timeout=5).json()
    assert body["error_response"]["sub_code"] == "isv.invalid-signature"


def test_form_post_is_accepted_like_the_query_string(ali):
    data = ali.build_body("alipay.trade.query", {"out_trade_no": "X2"})
    form = dict(parse_qsl(ali.sign_data(data)))
    body = requests.post(ali._gateway, data=form, timeout=5).json()
    assert body["alipay_trade_query_response"]["sub_code"] == "ACQ.TRADE_NOT_EXIST"


@pytest.mark.parametrize("offset_minutes", [-60, 30])
def test_timestamp_far_off_is_refused(ali, offset_minutes):
    data = ali.build_body("alipay.trade.query", {"out_trade_no": "X3"})
    data["timestamp"] = (dt.datetime.now(BEIJING) + dt.timedelta(minutes=offset_minutes)
                         ).strftime("%Y-%m-%d %H:%M:%S")
    body = requests.get(f"{ali._gateway}?{ali.sign_data(data)}", timeout=5).json()
    assert body["error_response"]["sub_code"] == "isv.invalid-timestamp"


def test_unknown_app_is_refused(alipay_merchant, alipay_sim):
    other = client(dict(alipay_merchant, app_id="2021000000000001"))
    with pytest.raises(AliPayException) as info:
        other.api_alipay_trade_query(out_trade_no="X4")
    assert "isv.invalid-app-id" in str(info.value)


def test_response_is_signed_over_its_raw_text(ali, alipay_merchant):
    signed = ali.sign_data(ali.build_body("alipay.trade.query", {"out_trade_no": "X5"}))
    text = requests.get(f"{ali._gateway}?{signed}", timeout=5).content.decode()
    m = re.fullmatch(r'\{"alipay_trade_query_response":(\{.*\}),"sign":"([^"]+)"\}', text)
    assert m, text
    key = load_public(alipay_merchant["platform_public_key_pem"])
    assert rsa_verify(key, m.group(1).encode(), m.group(2))
    assert "交易不存在" in m.group(1)  # raw UTF-8, signed as sent
    assert not rsa_verify(key, m.group(1).replace("40004", "10000").encode(), m.group(2))


# ------------------------------------------------------------ precreate and scanning

def test_precreate_trade_exists_only_after_scan(ali, alipay_sim, sink, alipay_merchant):
    no, result = precreate(ali, passback_params="bill%3D42")
    assert result["code"] == "10000"
    qr = result["qr_code"]
    assert qr.startswith(alipay_sim.public_url + "/alipay/scan/bax0")
    for call in (ali.api_alipay_trade_query, ali.api_alipay_trade_close):
        answer = call(out_trade_no=no)
        assert (answer["code"], answer["sub_code"]) == ("40004", "ACQ.TRADE_NOT_EXIST")

    page = requests.get(qr, timeout=5)  # the buyer scans: the trade comes into existence
    assert page.status_code == 200 and "class=pay" in page.text
    assert "¥88.88" in page.text and "banner" in page.text
    waiting = ali.api_alipay_trade_query(out_trade_no=no)
    assert waiting["trade_status"] == "WAIT_BUYER_PAY"
    assert re.fullmatch(r"20\d{26}", waiting["trade_no"])
    assert not notifications_for_now(sink, no)

    paid_page = requests.post(qr + "/pay", timeout=5)
    assert "data-state=TRADE_SUCCESS" in paid_page.text
    paid = ali.api_alipay_trade_query(out_trade_no=no)
    assert paid["trade_status"] == "TRADE_SUCCESS"
    assert paid["total_amount"] == paid["buyer_pay_amount"] == "88.88"
    assert paid["trade_no"] == waiting["trade_no"]
    assert re.fullmatch(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d", paid["send_pay_date"])

    [note] = notifications_for(sink, no, 1)
    for name in ("notify_time", "notify_type", "notify_id", "app_id", "charset", "version",
                 "sign_type", "sign", "trade_no", "out_trade_no", "buyer_id", "seller_id",
                 "trade_status", "total_amount", "receipt_amount", "buyer_pay_amount",
                 "subject", "gmt_create", "gmt_payment", "passback_params", "fund_bill_list"):
        assert note.get(name), name
    assert note["notify_type"] == "trade_status_sync" and note["sign_type"] == "RSA2"
    assert note["seller_id"] == alipay_merchant["merchant_id"]
    assert note["subject"] == "物业费 2026年11月" and note["passback_params"] == "bill%3D42"
    assert json.loads(note["fund_bill_list"])[0]["amount"] == "88.88"
    assert verify_form(ali, note)
    assert not verify_form(ali, dict(note, total_amount="1.00"))
    [request] = [r for r in sink.received if f"out_trade_no={no}" in r.body.decode()]
    assert request.headers["content-type"] == "application/x-www-form-urlencoded; charset=utf-8"
    log = alipay_sim.delivery_log(no)
    assert log[0]["acknowledged"] and log[0]["attempts"][0]["body"] == "success"


def notifications_for_now(sink: NotifySink, out_trade_no: str) -> list:
    return [r for r in list(sink.received) if f"out_trade_no={out_trade_no}" in r.body.decode()]


def test_same_out_trade_no_must_be_the_same_order(ali):
    no, first = precreate(ali, "10.00")
    again = ali.api_alipay_trade_precreate(subject="物业费 2026年11月", out_trade_no=no,
                                           total_amount="10.00")
    assert again["qr_code"] == first["qr_code"]
    for amount, subject in (("10.01", "物业费 2026年11月"), ("10.00", "停车费")):
        answer = ali.api_alipay_trade_precreate(subject=subject, out_trade_no=no,
                                                total_amount=amount)
        assert (answer["code"], answer["sub_code"]) == ("40004", "ACQ.CONTEXT_INCONSISTENT")


@pytest.mark.parametrize("amount", ["0.00", "100000000.01", "1.234", "abc", "-1.00", ""])
def test_amount_must_be_a_yuan_string_in_range(ali, amount):
    answer = ali.api_alipay_trade_precreate(subject="x", out_trade_no=out_no(),
                                            total_amount=amount)
    assert answer["code"] in ("40001", "40002"), answer


@pytest.mark.parametrize("amount", ["0.01", "100000000", "100000000.00", "5.5"])
def test_amount_limits_are_accepted(ali, amount):
    assert ali.api_alipay_trade_precreate(subject="x", out_trade_no=out_no(),
                                          total_amount=amount)["code"] == "10000"


def test_close_only_while_waiting_for_the_buyer(ali, alipay_sim):
    no, result = precreate(ali)
    requests.get(result["qr_code"], timeout=5)
    closed = ali.api_alipay_trade_close(out_trade_no=no)
    assert closed["code"] == "10000" and closed["out_trade_no"] == no
    assert ali.api_alipay_trade_query(out_trade_no=no)["trade_status"] == "TRADE_CLOSED"
    page = requests.post(result["qr_code"] + "/pay", timeout=5)
    assert "data-state=TRADE_CLOSED" in page.text
    again = ali.api_alipay_trade_close(out_trade_no=no)
    assert again["sub_code"] == "ACQ.TRADE_STATUS_ERROR"

    paid_no, _ = precreate(ali)
    alipay_sim.pay(paid_no)
    assert ali.api_alipay_trade_close(out_trade_no=paid_no)["sub_code"] == \
        "ACQ.TRADE_STATUS_ERROR"


def test_timeouts_are_honoured(alipay_merchant, paysim_dispatcher):
    offset = [0.0]
    sim = AlipaySim(dispatcher=paysim_dispatcher, clock=lambda: time.time() + offset[0])
    with ServerThread(sim) as server:
        sim.public_url = server.url
        merchant = sim.provision_merchant()
        ali = client(merchant)
        scanned, result = precreate(ali, timeout_express="1m")
        requests.get(result["qr_code"], timeout=5)
        unscanned, result2 = precreate(ali, time_expire=(
            dt.datetime.now(BEIJING) + dt.timedelta(minutes=2)).strftime("%Y-%m-%d %H:%M:%S"))
        offset[0] = 61
        assert ali.api_alipay_trade_query(out_trade_no=scanned)["trade_status"] == "TRADE_CLOSED"
        page = requests.get(result2["qr_code"], timeout=5)
        assert "class=pay" in page.text  # 2 minutes not over yet
        offset[0] = 121
        unscanned2, result3 = precreate(ali, time_expire=(
            dt.datetime.now(BEIJING) + dt.timedelta(minutes=4)).strftime("%Y-%m-%d %H:%M:%S"))
        offset[0] = 300
        page = requests.get(result3["qr_code"], timeout=5)
        assert "class=pay" not in page.text and "class=done" in page.text
        assert ali.api_alipay_trade_query(out_trade_no=unscanned2)["sub_code"] == \
            "ACQ.TRADE_NOT_EXIST"
        for bad in ({"timeout_express": "16d"}, {"timeout_express": "5x"},
                    {"time_expire": "2020-01-01 00:00:00"}):
            assert precreate(ali, **bad)[1]["code"] == "40002"


# ------------------------------------------------------------ refunds

def test_refund_rules(ali, alipay_sim, sink):
    no, _ = precreate(ali, "100.00")
    alipay_sim.pay(no)
    no_request_no = ali.api_alipay_trade_refund("30.00", out_trade_no=no)
    assert no_request_no["sub_code"] == "ACQ.REFUND_AMT_NOT_EQUAL_TOTAL"

    first = ali.api_alipay_trade_refund("30.00", out_trade_no=no, out_request_no="R1")
    assert (first["code"], first["fund_change"], first["refund_fee"]) == ("10000", "Y", "30.00")
    repeat = ali.api_alipay_trade_refund("30.00", out_trade_no=no, out_request_no="R1")
    assert (repeat["code"], repeat["fund_change"], repeat["refund_fee"]) == ("10000", "N", "30.00")
    changed = ali.api_alipay_trade_refund("31.00", out_trade_no=no, out_request_no="R1")
    assert changed["code"] == "40004"
    over = ali.api_alipay_trade_refund("70.01", out_trade_no=no, out_request_no="R2")
    assert over["sub_code"] == "ACQ.REASON_TRADE_REFUND_FEE_ERR"
    assert ali.api_alipay_trade_query(out_trade_no=no)["trade_status"] == "TRADE_SUCCESS"

    found = ali.api_alipay_trade_fastpay_refund_query("R1", out_trade_no=no)
    assert (found["refund_status"], found["refund_amount"]) == ("REFUND_SUCCESS", "30.00")
    missing = ali.api_alipay_trade_fastpay_refund_query("R2", out_trade_no=no)
    assert missing["code"] == "10000" and "refund_status" not in missing

    rest = ali.api_alipay_trade_refund("70.00", out_trade_no=no, out_request_no="R3")
    assert (rest["fund_change"], rest["refund_fee"]) == ("Y", "100.00")
    assert ali.api_alipay_trade_query(out_trade_no=no)["trade_status"] == "TRADE_CLOSED"
    assert ali.api_alipay_trade_refund("70.00", out_trade_no=no,
                                       out_request_no="R3")["fund_change"] == "N"
    assert ali.api_alipay_trade_refund("0.01", out_trade_no=no,
                                       out_request_no="R4")["sub_code"] == "ACQ.TRADE_HAS_CLOSE"

    paid, partial, full = notifications_for(sink, no, 3)
    assert paid["trade_status"] == "TRADE_SUCCESS" and "refund_fee" not in paid
    assert (partial["trade_status"], partial["refund_fee"], partial["out_biz_no"]) == \
        ("TRADE_SUCCESS", "30.00", "R1")
    assert (full["trade_status"], full["refund_fee"], full["out_biz_no"]) == \
        ("TRADE_CLOSED", "100.00", "R3")
    assert re.fullmatch(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d{3}", full["gmt_refund"])
    assert all(verify_form(ali, n) for n in (paid, partial, full))


def test_refund_before_payment_or_of_unknown_trade(ali):
    no, result = precreate(ali)
    assert ali.api_alipay_trade_refund("1.00", out_trade_no=no,
                                       out_request_no="R1")["sub_code"] == "ACQ.TRADE_NOT_EXIST"
    requests.get(result["qr_code"], timeout=5)
    assert ali.api_alipay_trade_refund("1.00", out_trade_no=no, out_request_no="R1"
                                       )["sub_code"] == "ACQ.TRADE_STATUS_ERROR"


def test_refund_applied_then_system_error(ali, alipay_sim):
    no, _ = precreate(ali, "20.00")
    alipay_sim.pay(no)
    alipay_sim.inject("refund_error_after_accept")
    answer = ali.api_alipay_trade_refund("5.00", out_trade_no=no, out_request_no="R1")
    assert answer["sub_code"] == "ACQ.SYSTEM_ERROR"
    assert ali.api_alipay_trade_fastpay_refund_query(
        "R1", out_trade_no=no)["refund_status"] == "REFUND_SUCCESS"
    retry = ali.api_alipay_trade_refund("5.00", out_trade_no=no, out_request_no="R1")
    assert (retry["code"], retry["fund_change"], retry["refund_fee"]) == ("10000", "N", "5.00")
    assert alipay_sim.trade_info(no)["refunded_fen"] == 500


# ------------------------------------------------------------ page and wap

def test_page_pay_cashier_redirects_to_signed_return_url(ali, alipay_sim, sink):
    no = out_no("P")
    url = ali._gateway + "?" + ali.api_alipay_trade_page_pay(
        subject="物业费", out_trade_no=no, total_amount="12.34",
        return_url="http://shop.example/return?order=7")
    page = requests.get(url, timeout=5)
    assert page.status_code == 200 and "/alipay/cashier/" in page.url
    assert "class=pay" in page.text and "¥12.34" in page.text
    assert ali.api_alipay_trade_query(out_trade_no=no)["sub_code"] == "ACQ.TRADE_NOT_EXIST"
    paid = requests.post(page.url + "/pay", allow_redirects=False, timeout=5)
    assert paid.status_code == 302
    location = urlsplit(paid.headers["Location"])
    assert (location.scheme, location.netloc, location.path) == ("http", "shop.example",
                                                                   "/return")
    params = dict(parse_qsl(location.query))
    assert params.pop("order") == "7"
    assert params["out_trade_no"] == no and params["total_amount"] == "12.34"
    assert params["method"] == "alipay.trade.page.pay.return"
    assert verify_form(ali, params)
    assert not verify_form(ali, dict(params, total_amount="0.01"))
    assert ali.api_alipay_trade_query(out_trade_no=no)["trade_status"] == "TRADE_SUCCESS"
    assert notifications_for(sink, no, 1)[0]["trade_status"] == "TRADE_SUCCESS"
    again = requests.get(page.url, timeout=5)
    assert "data-state=TRADE_SUCCESS" in again.text and "class=pay" not in again.text


def test_wap_needs_quick_wap_way_and_offers_quit(ali):
    no = out_no("W")
    wrong = ali._gateway + "?" + ali.api_alipay_trade_wap_pay(
        subject="停车费", out_trade_no=no, total_amount="3.00",
        return_url="http://shop.example/r")  # the library's QUICK_WAP_PAY
    refused = requests.get(wrong, timeout=5)
    assert refused.status_code == 400 and "isv.invalid-parameter" in refused.text
    url = ali._gateway + "?" + ali.api_alipay_trade_wap_pay(
        subject="停车费", out_trade_no=no, total_amount="3.00",
        return_url="http://shop.example/r", product_code="QUICK_WAP_WAY",
        quit_url="http://shop.example/quit")
    page = requests.get(url, timeout=5)
    assert "class=quit" in page.text
    quit_ = requests.post(page.url + "/quit", allow_redirects=False, timeout=5)
    assert quit_.headers["Location"] == "http://shop.example/quit"
    assert ali.api_alipay_trade_query(out_trade_no=no)["sub_code"] == "ACQ.TRADE_NOT_EXIST"
    paid = requests.post(page.url + "/pay", allow_redirects=False, timeout=5)
    params = dict(parse_qsl(urlsplit(paid.headers["Location"]).query))
    assert params["method"] == "alipay.trade.wap.pay.return" and verify_form(ali, params)


def test_browser_request_with_bad_signature_shows_an_error_page(ali):
    url = ali._gateway + "?" + ali.api_alipay_trade_page_pay(
        subject="x", out_trade_no=out_no("P"), total_amount="1.00")
    page = requests.get(url.replace("total_amount%22%3A%221.00", "total_amount%22%3A%220.01"),
                        timeout=5)
    assert page.status_code == 400 and "isv.invalid-signature" in page.text


# ------------------------------------------------------------ faults

def test_fault_injection(ali, alipay_sim):
    alipay_sim.inject("system_error")
    answer = ali.api_alipay_trade_query(out_trade_no="F1")  # signed, so returned as a dict
    assert answer["code"] == "20000"
    alipay_sim.inject("http_error", status=503)
    with pytest.raises(urllib.error.HTTPError) as info:
        ali.api_alipay_trade_query(out_trade_no="F1")
    assert info.value.code == 503
    alipay_sim.inject("unsigned")
    with pytest.raises(AliPayException):
        ali.api_alipay_trade_query(out_trade_no="F1")
    alipay_sim.inject("bad_signature")
    with pytest.raises(AliPayValidationError):
        ali.api_alipay_trade_query(out_trade_no="F1")
    assert ali.api_alipay_trade_query(out_trade_no="F1")["code"] == "40004"  # all used up
    alipay_sim.inject("latency", seconds=0.3)
    started = time.monotonic()
    ali.api_alipay_trade_query(out_trade_no="F1")
    assert time.monotonic() - started >= 0.3
    alipay_sim.inject("system_error", method="alipay.trade.refund")
    assert ali.api_alipay_trade_query(out_trade_no="F1")["code"] == "40004"
