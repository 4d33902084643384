"""The portal's hand-over to the real gateway adapters, against the live WeChat Pay and
Alipay simulators: which flow each browser gets, what the result page shows for it, and
"I have paid — check now" settling an order by querying the gateway (no notification
needed: these merchant accounts notify an address nobody listens on)."""

from __future__ import annotations

import re

import pytest
import requests
from django.urls import reverse

from linli.payments.models import Channel, MerchantAccount, PaymentOrder
from linli.paysim.tests.conftest import (  # noqa: F401 - fixtures
    alipay_server,
    paysim_dispatcher,
    wechat_server,
)
from linli.portal.tests.test_browser import PC_UA, PHONE_UA, WECHAT_UA

NOWHERE = "http://127.0.0.1:9"


def account_on(sim, community, channel) -> MerchantAccount:
    cfg = sim.provision_merchant(notify_url=NOWHERE + "/notify")
    return MerchantAccount.objects.create(
        community=community, channel=channel, app_id=cfg["app_id"],
        merchant_id=cfg["merchant_id"], merchant_serial=cfg.get("merchant_serial", ""),
        platform_public_key_id=cfg.get("platform_public_key_id", ""),
        platform_public_key_pem=cfg["platform_public_key_pem"],
        private_key_pem=cfg["private_key_pem"], api_v3_key=cfg.get("api_v3_key", ""),
        gateway_url=cfg["gateway_url"], notify_base_url=NOWHERE,
    )


@pytest.fixture
def sims(world, wechat_server, alipay_server):  # noqa: F811
    wechat, _ = wechat_server
    alipay, _ = alipay_server
    account = account_on(wechat, world.community, Channel.WECHAT)
    account.app_secret = wechat.register_oauth_app(account.app_id)  # JSAPI needs OAuth
    account.save()
    account_on(alipay, world.community, Channel.ALIPAY)
    wechat.dispatcher.hold()  # nobody listens at NOWHERE: keep the retries quiet
    yield wechat, alipay
    wechat.dispatcher.release(lambda _held: [])  # drop them unsent


def start(world, ua: str, option: str | None = None):
    client, url = world.a.client, reverse("portal:pay", args=[world.a.unit.pk])
    page = client.get(url, HTTP_USER_AGENT=ua)
    options = [o.key for o in page.context["options"]]
    if option is None:
        return options
    key = re.search(rb'name="key" value="([^"]+)"', page.content).group(1).decode()
    response = client.post(url, {"key": key, "bill": [b.pk for b in world.a.bills],
                                 "option": option}, HTTP_USER_AGENT=ua)
    return response, PaymentOrder.objects.order_by("pk").last()


def test_each_browser_gets_its_flows(world, sims):
    assert start(world, WECHAT_UA) == ["wechat:jsapi", "sandbox:sandbox"]
    assert start(world, PHONE_UA) == ["wechat:h5", "alipay:wap", "sandbox:sandbox"]
    assert start(world, PC_UA) == ["wechat:native", "alipay:precreate", "alipay:page",
                                   "sandbox:sandbox"]


def test_wechat_qr_then_check_now(world, sims):
    wechat, _alipay = sims
    response, order = start(world, PC_UA, "wechat:native")
    assert response["Location"] == reverse("portal:order", args=[order.pk])
    page = world.a.client.get(response["Location"])
    assert b"<svg" in page.content and page.context["scan_url"].startswith(wechat.public_url)
    wechat.pay(order.out_trade_no)
    world.a.client.post(reverse("portal:order-check", args=[order.pk]))
    order.refresh_from_db()
    assert order.status == PaymentOrder.Status.PAID and order.amount_fen == 20000
    assert b'id="receipt-pdf"' in world.a.client.get(response["Location"]).content


def test_alipay_qr_then_check_now(world, sims):
    _wechat, alipay = sims
    response, order = start(world, PC_UA, "alipay:precreate")
    page = world.a.client.get(response["Location"])
    assert b"<svg" in page.content and order.code_url.startswith(alipay.public_url)
    alipay.pay(order.out_trade_no)
    world.a.client.post(reverse("portal:order-check", args=[order.pk]))
    order.refresh_from_db()
    assert order.status == PaymentOrder.Status.PAID


@pytest.mark.parametrize("ua, option", [
    (PHONE_UA, "alipay:wap"), (PC_UA, "alipay:page"), (PHONE_UA, "wechat:h5")])
def test_redirect_flows_go_straight_to_the_cashier(world, sims, ua, option):
    response, order = start(world, ua, option)
    assert response.status_code == 302 and response["Location"] == order.redirect_url
    cashier = requests.get(order.redirect_url, timeout=5)
    assert cashier.status_code == 200
    # The gateway sends the payer back to the order's page through its request key.
    back = order.client_info["return_url"].replace("http://testserver", "")
    assert world.a.client.get(back)["Location"] == reverse("portal:order", args=[order.pk])


def test_wechat_browser_gets_the_payment_sheet(world, sims):
    wechat, _alipay = sims
    authorize, _none = start(world, WECHAT_UA, "wechat:jsapi")
    # WeChat's web authorization first (see test_wechat_oauth), then the order.
    at_wechat = requests.get(authorize["Location"].split("#")[0], allow_redirects=False,
                             timeout=5)
    back = at_wechat.headers["Location"].replace("http://testserver", "")
    response = world.a.client.get(back, HTTP_USER_AGENT=WECHAT_UA)
    order = PaymentOrder.objects.latest("pk")
    page = world.a.client.get(response["Location"], HTTP_USER_AGENT=WECHAT_UA)
    assert b'id="jsapi-params"' in page.content
    assert order.jsapi_params["package"].startswith("prepay_id=")
    assert page.context["jsapi_sheet_url"].startswith(wechat.public_url + "/wechat/jsapi/")
    assert order.client_info["openid"]
