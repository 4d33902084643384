"""Paying by WeChat JSAPI from WeChat's browser goes through WeChat's web authorization
(网页授权, snsapi_base) at the live simulator: the portal learns the payer's openid,
checks its ``state``, and then starts exactly the payment the owner chose."""

from __future__ import annotations

import re
from urllib.parse import parse_qs, urlsplit

import pytest
import requests
from django.urls import reverse

from linli.payments.models import Channel, PaymentOrder
from linli.paysim.tests.conftest import paysim_dispatcher, wechat_server  # noqa: F401
from linli.portal.paymodes import OPENIDS_KEY
from linli.portal.tests.test_browser import PC_UA, WECHAT_UA
from linli.portal.tests.test_gateway_flows import account_on

CALLBACK = reverse("portal:wechat-oauth")


@pytest.fixture
def wechat(world, wechat_server):  # noqa: F811
    sim, _server = wechat_server
    account = account_on(sim, world.community, Channel.WECHAT)
    account.app_secret = sim.register_oauth_app(account.app_id)
    account.save()
    sim.dispatcher.hold()  # nobody listens for notifications here
    yield sim, account
    sim.dispatcher.release(lambda _held: [])


def pay_form(owner, **extra):
    url = reverse("portal:pay", args=[owner.unit.pk])
    page = owner.client.get(url, extra, HTTP_USER_AGENT=WECHAT_UA)
    key = re.search(rb'name="key" value="([^"]+)"', page.content).group(1).decode()
    return url, key, [o.key for o in page.context["options"]]


def choose_jsapi(owner, key=None, bills=None):
    url, fresh_key, options = pay_form(owner)
    assert options[0] == "wechat:jsapi"
    bills = bills if bills is not None else [b.pk for b in owner.bills]
    return owner.client.post(url, {"key": key or fresh_key, "bill": bills,
                                   "option": "wechat:jsapi"}, HTTP_USER_AGENT=WECHAT_UA)


def at_wechat(authorize: str, cookies: dict | None = None) -> str:
    """What WeChat does with the authorize URL: the callback path and query it sends
    the browser back to."""
    response = requests.get(authorize.split("#", 1)[0], allow_redirects=False,
                            cookies=cookies, timeout=5)
    assert response.status_code == 302, response.text
    back = urlsplit(response.headers["Location"])
    assert f"{back.scheme}://{back.netloc}" == "http://testserver"
    return f"{back.path}?{back.query}"


def test_jsapi_goes_through_authorization_and_the_openid_reaches_the_order(world, wechat):
    sim, account = wechat
    owner = world.a
    first_bill = owner.bills[0].pk
    url, key, _options = pay_form(owner)
    response = owner.client.post(url, {"key": key, "bill": [first_bill],
                                       "option": "wechat:jsapi"}, HTTP_USER_AGENT=WECHAT_UA)
    authorize = response["Location"]
    assert authorize.startswith(sim.public_url + "/connect/oauth2/authorize?appid="
                                + account.app_id + "&redirect_uri=http%3A%2F%2Ftestserver"
                                "%2Fm%2Fwechat%2Foauth%2F&response_type=code"
                                "&scope=snsapi_base&state=")
    assert authorize.endswith("#wechat_redirect")
    assert not PaymentOrder.objects.exists()  # nothing is charged before WeChat answers

    back = owner.client.get(at_wechat(authorize), HTTP_USER_AGENT=WECHAT_UA)
    order = PaymentOrder.objects.get()
    assert back["Location"] == reverse("portal:order", args=[order.pk])
    assert order.mode == "jsapi" and order.idempotency_key.endswith(":" + key)
    assert list(order.lines.values_list("bill_id", flat=True)) == [first_bill]
    assert order.amount_fen == 10000
    openid = sim.oauth.openid(account.app_id, "wxuser")
    assert order.client_info["openid"] == openid
    assert sim.orders[(account.merchant_id, order.out_trade_no)].payer_openid == openid
    assert owner.client.session[OPENIDS_KEY] == {account.app_id: openid}

    # The next payment knows the openid already: straight to the order.
    again = choose_jsapi(owner, bills=[owner.bills[1].pk])
    second = PaymentOrder.objects.latest("pk")
    assert again["Location"] == reverse("portal:order", args=[second.pk])
    assert second.client_info["openid"] == openid


def test_a_double_tap_before_wechat_answers_still_makes_one_order(world, wechat):
    owner = world.a
    _url, key, _options = pay_form(owner)
    first, second = choose_jsapi(owner, key), choose_jsapi(owner, key)
    orders = set()
    for response in (first, second):
        back = owner.client.get(at_wechat(response["Location"]), HTTP_USER_AGENT=WECHAT_UA)
        orders.add(back["Location"])
    assert len(orders) == 1 and PaymentOrder.objects.count() == 1


def test_the_state_must_be_ours_and_works_once(world, wechat):
    owner = world.a
    callback = at_wechat(choose_jsapi(owner)["Location"])
    code = parse_qs(urlsplit(callback).query)["code"][0]
    forged = owner.client.get(CALLBACK, {"code": code, "state": "0" * 32},
                              HTTP_USER_AGENT=WECHAT_UA)
    assert forged.status_code == 400 and forged.context["reason"] == "state"
    # Another owner cannot finish this owner's authorization (the state is per session).
    stolen = world.b.client.get(callback, HTTP_USER_AGENT=WECHAT_UA)
    assert stolen.status_code == 400 and not PaymentOrder.objects.exists()
    assert owner.client.get(callback, HTTP_USER_AGENT=WECHAT_UA).status_code == 302
    replay = owner.client.get(callback, HTTP_USER_AGENT=WECHAT_UA)
    assert replay.status_code == 400 and replay.context["reason"] == "state"
    assert PaymentOrder.objects.count() == 1


def test_a_refusal_offers_the_qr_code_instead(world, wechat):
    owner = world.a
    callback = at_wechat(choose_jsapi(owner, bills=[owner.bills[1].pk])["Location"])
    state = parse_qs(urlsplit(callback).query)["state"][0]
    refused = owner.client.get(CALLBACK, {"state": state}, HTTP_USER_AGENT=WECHAT_UA)
    assert refused.status_code == 200 and refused.context["reason"] == "cancelled"
    assert "二维码" in refused.content.decode() or "QR" in refused.content.decode()
    assert not PaymentOrder.objects.exists()
    qr_url = refused.context["qr_url"]
    page = owner.client.get(qr_url, HTTP_USER_AGENT=WECHAT_UA)
    assert [o.key for o in page.context["options"]] == ["wechat:native", "sandbox:sandbox"]
    assert page.context["selected_ids"] == {owner.bills[1].pk}  # the bills chosen before
    key = re.search(rb'name="key" value="([^"]+)"', page.content).group(1).decode()
    assert b'name="via" value="qr"' in page.content
    paid = owner.client.post(reverse("portal:pay", args=[owner.unit.pk]), {
        "key": key, "bill": [owner.bills[1].pk], "option": "wechat:native", "via": "qr"},
        HTTP_USER_AGENT=WECHAT_UA)
    order = PaymentOrder.objects.get()
    assert paid["Location"] == reverse("portal:order", args=[order.pk])
    assert order.mode == "native" and order.code_url


def test_an_exchange_error_is_shown_and_nothing_is_charged(world, wechat):
    sim, account = wechat
    owner = world.a
    callback = at_wechat(choose_jsapi(owner)["Location"])
    sim.register_oauth_app(account.app_id, "rotated-at-wechat")  # our AppSecret is stale
    failed = owner.client.get(callback, HTTP_USER_AGENT=WECHAT_UA)
    assert failed.status_code == 400 and failed.context["reason"] == "exchange"
    assert failed.context["qr_url"].endswith("via=qr")
    assert OPENIDS_KEY not in owner.client.session and not PaymentOrder.objects.exists()


def test_a_top_up_goes_through_authorization_too(world, wechat):
    owner = world.a
    url = reverse("portal:topup", args=[owner.unit.pk])
    page = owner.client.get(url, HTTP_USER_AGENT=WECHAT_UA)
    key = re.search(rb'name="key" value="([^"]+)"', page.content).group(1).decode()
    response = owner.client.post(url, {"key": key, "amount": "50", "option": "wechat:jsapi"},
                                 HTTP_USER_AGENT=WECHAT_UA)
    back = owner.client.get(at_wechat(response["Location"]), HTTP_USER_AGENT=WECHAT_UA)
    order = PaymentOrder.objects.get()
    assert back["Location"] == reverse("portal:order", args=[order.pk])
    assert order.amount_fen == 5000 and not order.lines.exists()


def test_without_an_app_secret_wechat_gets_the_qr_code(world, wechat):
    _sim, account = wechat
    account.app_secret = ""
    account.save()
    assert pay_form(world.a)[2] == ["wechat:native", "sandbox:sandbox"]


def test_outside_wechat_jsapi_is_refused_without_a_detour(world, wechat):
    owner = world.a
    url = reverse("portal:pay", args=[owner.unit.pk])
    page = owner.client.get(url, HTTP_USER_AGENT=PC_UA)
    key = re.search(rb'name="key" value="([^"]+)"', page.content).group(1).decode()
    response = owner.client.post(url, {"key": key, "bill": [owner.bills[0].pk],
                                       "option": "wechat:jsapi"}, HTTP_USER_AGENT=PC_UA)
    assert response.status_code == 400 and not PaymentOrder.objects.exists()
    assert owner.client.session.get("wechat_oauth") is None
