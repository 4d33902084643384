"""The portal in a real browser: Playwright driving Debian's Chromium against the live
test server, with the WeChat Pay simulator running in-process and a merchant account
provisioned on it (its notifications go to the live server).

Each flow: sign in by SMS code → see the bills → pay everything due through the
simulator → the result page turns paid → the receipt PDF downloads and its verify page
says genuine. Three flows: a phone browser (WeChat H5), WeChat's own browser (JSAPI,
after WeChat's web authorization gives the portal the payer's openid) and a PC (Native QR code, paid on the simulator's scan-and-pay page as a phone would).
Screenshots of each step go to ``$LINLI_TEST_ARTIFACTS`` (default ``test-artifacts/``).
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest

from linli import testing as t
from linli.estate.models import Company
from linli.payments.models import Channel, MerchantAccount, PaymentOrder
from linli.payments.tests.helpers import billed_unit
from linli.paysim.tests.conftest import paysim_dispatcher, wechat_server  # noqa: F401

CHROMIUM = "/usr/bin/chromium"
pytestmark = [
    pytest.mark.skipif(not os.path.exists(CHROMIUM),
                       reason=f"Debian's Chromium is not installed at {CHROMIUM} "
                              "(apt-get install chromium fonts-noto-cjk)"),
]
# Playwright's sync API runs an event loop in this thread; the ORM calls the test makes
# between browser steps are ordinary blocking calls and safe here.
os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")

PHONE = {"width": 375, "height": 812}
PC = {"width": 1280, "height": 800}
PHONE_UA = ("Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) "
            "Chrome/126.0 Mobile Safari/537.36")
WECHAT_UA = ("Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) AppleWebKit/605.1.15 "
             "(KHTML, like Gecko) Mobile/15E148 MicroMessenger/8.0.47(0x18002f2c) "
             "NetType/WIFI Language/zh_CN")
PC_UA = ("Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) "
         "Chrome/126.0 Safari/537.36")
TIMEOUT_MS = 15_000


def artifacts_dir() -> Path:
    default = Path(__file__).resolve().parents[3] / "test-artifacts"
    path = Path(os.environ.get("LINLI_TEST_ARTIFACTS") or default)
    path.mkdir(parents=True, exist_ok=True)
    return path


@pytest.fixture(scope="module")
def browser():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=[
            "--no-sandbox",
            # Off the network: every name resolves to nothing except the local servers.
            "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1, EXCLUDE localhost",
            "--no-first-run", "--disable-background-networking", "--disable-sync",
            "--disable-component-update", "--disable-default-apps",
        ])
        yield browser
        browser.close()


class Shots:
    """Numbered screenshots of one flow."""

    def __init__(self, name: str):
        self.name, self.n, self.dir = name, 0, artifacts_dir()

    def __call__(self, page, step: str) -> None:
        self.n += 1
        page.screenshot(path=str(self.dir / f"{self.name}-{self.n:02d}-{step}.png"),
                        full_page=True)


@pytest.fixture
def owner(live_server, wechat_server, settings):  # noqa: F811 - fixture
    """An owner (a phone number on an occupancy, no account yet) with two unpaid bills,
    in a community whose WeChat merchant account lives on the simulator."""
    settings.LINLI_SMS_BACKEND = "linli.owners.sms.MemoryBackend"
    sim, _server = wechat_server
    company = Company.objects.create(name="翠湖物业")
    community = t.make_community(company, "翠湖花园")
    unit, bills = billed_unit(community, room="1801", periods=("2024-01", "2024-02"))
    person = t.make_person(community, name="王秀英")
    t.make_occupancy(unit, person)
    cfg = sim.provision_merchant(notify_url=live_server.url + "/pay/notify/wechat/0/")
    MerchantAccount.objects.create(
        community=community, channel=Channel.WECHAT, app_id=cfg["app_id"],
        merchant_id=cfg["merchant_id"], merchant_serial=cfg["merchant_serial"],
        platform_public_key_id=cfg["platform_public_key_id"],
        platform_public_key_pem=cfg["platform_public_key_pem"],
        private_key_pem=cfg["private_key_pem"], api_v3_key=cfg["api_v3_key"],
        gateway_url=cfg["gateway_url"], notify_base_url=live_server.url,
        app_secret=sim.register_oauth_app(cfg["app_id"]),  # web authorization for JSAPI
    )
    return {"mobile": person.mobile, "unit": unit, "bills": bills, "url": live_server.url,
            "sim": sim, "app_id": cfg["app_id"]}


def new_page(browser, viewport, user_agent):
    context = browser.new_context(viewport=viewport, user_agent=user_agent,
                                  accept_downloads=True, locale="zh-CN")
    context.set_default_timeout(TIMEOUT_MS)
    return context, context.new_page()


def sign_in(page, owner, shot) -> None:
    from linli.owners import sms

    page.goto(owner["url"] + "/m/")
    assert "/m/account/signin/" in page.url  # the portal sends strangers to sign in
    page.fill("#mobile", owner["mobile"])
    shot(page, "signin")
    page.click("#send-code")
    page.wait_for_selector("#code")
    codes = [m.code for m in sms.outbox if m.mobile == owner["mobile"]]
    assert codes, "no SMS code was sent"
    page.fill("#code", codes[-1])
    shot(page, "code")
    page.click("#signin-submit")
    page.wait_for_url(re.compile(r"/m/$"))
    assert "¥200.00" in page.inner_text("#main")  # two bills of 100 yuan
    shot(page, "home")


def see_bills_and_start_paying(page, owner, shot) -> None:
    page.click(".bottomnav a[href='/m/bills/']")
    page.wait_for_url(re.compile(r"/m/bills/$"))
    text = page.inner_text("#main")
    assert "2024-01" in text and "2024-02" in text
    shot(page, "bills")
    page.click(f"a[href='/m/bills/{owner['bills'][0].pk}/']")
    page.wait_for_selector("dl.facts")
    assert "2024-01-31" in page.inner_text("dl.facts")  # its due date
    shot(page, "bill")
    page.goto(owner["url"] + "/m/")
    page.click(f"a[href='/m/pay/{owner['unit'].pk}/']")  # "pay everything due"
    page.wait_for_selector("#pay-submit")
    assert page.inner_text("#total") == "¥200.00"
    shot(page, "pay")


def wait_paid(page, shot) -> None:
    page.wait_for_selector("#receipt-pdf", timeout=TIMEOUT_MS)  # the page follows the order
    assert page.get_attribute("#order", "data-status") == "paid"
    shot(page, "paid")


def receipt_checks(page, owner, shot) -> None:
    with page.expect_download() as info:
        page.click("#receipt-pdf")
    pdf = Path(info.value.path()).read_bytes()
    assert pdf.startswith(b"%PDF")
    page.click("#receipt-verify")
    page.wait_for_selector("#verdict")
    assert page.inner_text("#verdict").startswith("✔")
    assert page.inner_text("#total").endswith("200.00")
    shot(page, "verify")
    order = PaymentOrder.objects.get(unit=owner["unit"])
    assert order.status == PaymentOrder.Status.PAID
    assert PaymentOrder.objects.filter(unit=owner["unit"]).count() == 1


def test_phone_browser_pays_by_wechat_h5(browser, owner):
    context, page = new_page(browser, PHONE, PHONE_UA)
    shot = Shots("phone-h5")
    try:
        sign_in(page, owner, shot)
        see_bills_and_start_paying(page, owner, shot)
        assert page.is_checked("input[name=option][value='wechat:h5']")
        page.click("#pay-submit")
        page.wait_for_url(re.compile(r"/wechat/h5/"))  # the simulator's H5 cashier
        shot(page, "cashier")
        page.click("button.pay")
        page.wait_for_url(re.compile(r"/m/orders/\d+/$"))  # redirect_url brings us back
        wait_paid(page, shot)
        receipt_checks(page, owner, shot)
    finally:
        context.close()


def test_wechat_browser_pays_by_jsapi(browser, owner):
    context, page = new_page(browser, PHONE, WECHAT_UA)
    shot = Shots("wechat-jsapi")
    try:
        sign_in(page, owner, shot)
        see_bills_and_start_paying(page, owner, shot)
        assert page.is_checked("input[name=option][value='wechat:jsapi']")
        visited = []
        page.on("request", lambda request: visited.append(request.url))
        page.click("#pay-submit")
        # WeChat's web authorization (snsapi_base: no prompt) learns the payer's openid,
        # then the portal starts the payment the owner chose. (Chromium carries the
        # authorize URL's "#wechat_redirect" over the redirects; WeChat's client eats it.)
        page.wait_for_url(re.compile(r"/m/orders/\d+/(#wechat_redirect)?$"))
        assert any("/connect/oauth2/authorize?" in url for url in visited)
        assert any("/m/wechat/oauth/?code=" in url for url in visited)
        order = PaymentOrder.objects.get(unit=owner["unit"])
        assert order.client_info["openid"] == owner["sim"].oauth.openid(owner["app_id"],
                                                                        "wxuser")
        assert page.get_attribute("#order", "data-status") == "pending"
        shot(page, "order")
        page.click("#jsapi-pay")  # no WeixinJSBridge here: the simulator's payment sheet
        page.wait_for_url(re.compile(r"/wechat/jsapi/"))
        shot(page, "sheet")
        page.click("button.pay")
        page.wait_for_url(re.compile(r"/m/orders/\d+/$"))
        wait_paid(page, shot)
        receipt_checks(page, owner, shot)
    finally:
        context.close()


def test_pc_pays_by_scanning_the_qr_code(browser, owner):
    context, page = new_page(browser, PC, PC_UA)
    shot = Shots("pc-qr")
    phone_context, phone = new_page(browser, PHONE, WECHAT_UA)
    try:
        sign_in(page, owner, shot)
        see_bills_and_start_paying(page, owner, shot)
        assert page.is_checked("input[name=option][value='wechat:native']")
        page.click("#pay-submit")
        page.wait_for_url(re.compile(r"/m/orders/\d+/$"))
        assert page.query_selector(".qr svg") is not None
        shot(page, "qr")
        # The phone scans the code: the simulator's scan-and-pay page.
        phone.goto(page.get_attribute("#sim-scan", "href"))
        shot(phone, "scan-page")
        phone.click("button.pay")
        phone.wait_for_selector(".done")
        shot(phone, "scan-paid")
        wait_paid(page, shot)  # the PC's result page turns paid by itself
        receipt_checks(page, owner, shot)
    finally:
        phone_context.close()
        context.close()
