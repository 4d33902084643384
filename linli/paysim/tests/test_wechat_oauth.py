"""The simulator's official-account web authorization (网页授权): authorize → code →
access_token exchange, with WeChat's errors, and the JSAPI sheet paying only for the
WeChat user the order was made for."""

from __future__ import annotations

from urllib.parse import parse_qs, urlencode, urlsplit

import pytest
import requests

from linli.paysim.common import Dispatcher, Request
from linli.paysim.tests.conftest import paysim_dispatcher, wechat_server  # noqa: F401
from linli.paysim.wechat import WeChatSim
from linli.paysim.wechat_oauth import CODE_TTL_S, USER_COOKIE

BACK = "https://portal.example.com/m/wechat/oauth/?x=1"


class Clock:
    def __init__(self) -> None:
        self.now = 1_800_000_000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def sim():
    dispatcher = Dispatcher(time_scale=0.001)
    clock = Clock()
    simulator = WeChatSim(dispatcher=dispatcher, public_url="http://sim.test", clock=clock)
    simulator.clock_ = clock
    yield simulator
    dispatcher.stop()


def get(sim, path: str, params: dict, *, cookie: str = "", method: str = "GET",
        body: bytes = b""):
    headers = {"cookie": cookie} if cookie else {}
    if body:
        headers["content-type"] = "application/x-www-form-urlencoded"
    return sim.handle(Request(method=method, path=path, query_string=urlencode(params),
                              headers=headers, body=body))


def authorize(sim, appid: str, *, scope: str = "snsapi_base", state: str = "abc123",
              cookie: str = ""):
    return get(sim, "/connect/oauth2/authorize", {
        "appid": appid, "redirect_uri": BACK, "response_type": "code", "scope": scope,
        "state": state}, cookie=cookie)


def location(response) -> dict:
    assert response.status == 302, response.body
    url = dict(response.headers)["Location"]
    assert url.startswith("https://portal.example.com/m/wechat/oauth/?x=1&")
    return {k: v[0] for k, v in parse_qs(urlsplit(url).query).items()}


def exchange(sim, appid: str, secret: str, code: str, grant: str = "authorization_code"):
    response = get(sim, "/sns/oauth2/access_token", {
        "appid": appid, "secret": secret, "code": code, "grant_type": grant})
    assert response.status == 200  # WeChat answers errors with 200 and errcode
    import json

    return json.loads(response.body)


def test_snsapi_base_redirects_at_once_and_the_code_gives_a_stable_openid(sim):
    secret = sim.register_oauth_app("wx1111222233334444")
    back = location(authorize(sim, "wx1111222233334444", state="s1"))
    assert back["state"] == "s1" and len(back["code"]) == 32
    token = exchange(sim, "wx1111222233334444", secret, back["code"])
    assert token["scope"] == "snsapi_base" and token["expires_in"] == 7200
    assert token["openid"].startswith("o") and token["access_token"]
    again = exchange(sim, "wx1111222233334444", secret,
                     location(authorize(sim, "wx1111222233334444"))["code"])
    assert again["openid"] == token["openid"]  # the same WeChat user, the same openid
    # another simulated WeChat user, or another official account: another openid
    other_user = location(authorize(sim, "wx1111222233334444", cookie=f"{USER_COOKIE}=lisi"))
    assert exchange(sim, "wx1111222233334444", secret,
                    other_user["code"])["openid"] != token["openid"]
    other_secret = sim.register_oauth_app("wx9999")
    other_app = exchange(sim, "wx9999", other_secret, location(authorize(sim, "wx9999"))["code"])
    assert other_app["openid"] != token["openid"]


def test_a_code_is_single_use(sim):
    secret = sim.register_oauth_app("wxa")
    code = location(authorize(sim, "wxa"))["code"]
    assert "openid" in exchange(sim, "wxa", secret, code)
    assert exchange(sim, "wxa", secret, code)["errcode"] == 40163


def test_a_code_expires_after_five_minutes(sim):
    secret = sim.register_oauth_app("wxa")
    code = location(authorize(sim, "wxa"))["code"]
    sim.clock_.now += CODE_TTL_S
    answer = exchange(sim, "wxa", secret, code)
    assert answer["errcode"] == 40029 and answer["errmsg"].startswith("invalid code")


def test_wrong_secret_other_app_and_bad_requests_are_refused(sim):
    secret = sim.register_oauth_app("wxa")
    sim.register_oauth_app("wxb")
    code = location(authorize(sim, "wxa"))["code"]
    assert exchange(sim, "wxa", secret + "0", code)["errcode"] == 40125
    assert exchange(sim, "wxb", sim.oauth_apps["wxb"], code)["errcode"] == 40029
    assert exchange(sim, "wxnope", secret, code)["errcode"] == 40013
    assert exchange(sim, "wxa", secret, code, grant="client_credential")["errcode"] == 40002
    assert exchange(sim, "wxa", secret, "")["errcode"] == 41008
    assert exchange(sim, "wxa", secret, "no-such-code")["errcode"] == 40029
    # the refused attempts did not use the code up
    assert "openid" in exchange(sim, "wxa", secret, code)


def test_authorize_refuses_unknown_apps_and_bad_parameters(sim):
    sim.register_oauth_app("wxa")
    assert authorize(sim, "wxunknown").status == 400
    assert authorize(sim, "wxa", scope="snsapi_login").status == 400
    bad_redirect = get(sim, "/connect/oauth2/authorize", {
        "appid": "wxa", "redirect_uri": "javascript:alert(1)", "response_type": "code",
        "scope": "snsapi_base", "state": "s"})
    assert bad_redirect.status == 400


def test_snsapi_userinfo_asks_and_a_refusal_comes_back_without_a_code(sim):
    sim.register_oauth_app("wxa")
    page = authorize(sim, "wxa", scope="snsapi_userinfo", state="s2")
    assert page.status == 200 and "授权登录 (模拟)" in page.body.decode()
    assert "wxa" in page.body.decode()
    params = {"appid": "wxa", "redirect_uri": BACK, "response_type": "code",
              "scope": "snsapi_userinfo", "state": "s2"}
    denied = get(sim, "/connect/oauth2/authorize", params, method="POST",
                 body=b"consent=deny")
    assert location(denied) == {"x": "1", "state": "s2"}  # no code
    allowed = get(sim, "/connect/oauth2/authorize", params, method="POST",
                  body=b"consent=allow")
    assert set(location(allowed)) == {"x", "code", "state"}


def test_the_app_secret_survives_a_restart(tmp_path):
    dispatcher = Dispatcher()
    try:
        first = WeChatSim(state_dir=tmp_path, dispatcher=dispatcher)
        secret = first.register_oauth_app("wxkeep")
        again = WeChatSim(state_dir=tmp_path, dispatcher=dispatcher)
        assert again.register_oauth_app("wxkeep") == secret
    finally:
        dispatcher.stop()


def test_live_round_trip_and_the_jsapi_sheet_pays_only_for_that_user(wechat_server):  # noqa: F811
    sim, server = wechat_server
    cfg = sim.provision_merchant(notify_url="http://127.0.0.1:9/n")
    secret = sim.register_oauth_app(cfg["app_id"])
    browser = requests.Session()
    response = browser.get(server.url + "/connect/oauth2/authorize", params={
        "appid": cfg["app_id"], "redirect_uri": BACK, "response_type": "code",
        "scope": "snsapi_base", "state": "st"}, allow_redirects=False)
    code = location_of(response)["code"]
    token = requests.get(server.url + "/sns/oauth2/access_token", params={
        "appid": cfg["app_id"], "secret": secret, "code": code,
        "grant_type": "authorization_code"}).json()
    openid = token["openid"]
    sim.dispatcher.hold()
    try:
        mine = jsapi_order(sim, cfg, openid)
        theirs = jsapi_order(sim, cfg, "o-someone-else")
        refused = browser.post(f"{server.url}/wechat/jsapi/{theirs.prepay_id}")
        assert "与下单用户不一致" in refused.text and theirs.state == "NOTPAY"
        paid = browser.post(f"{server.url}/wechat/jsapi/{mine.prepay_id}")
        assert "支付成功" in paid.text and mine.state == "SUCCESS"
        assert mine.payer_openid == openid
    finally:
        sim.dispatcher.release(lambda _held: [])


def location_of(response) -> dict:
    assert response.status_code == 302
    return {k: v[0] for k, v in parse_qs(urlsplit(response.headers["Location"]).query).items()}


def jsapi_order(sim, cfg, openid: str):
    import secrets as random

    body = {"appid": cfg["app_id"], "mchid": cfg["merchant_id"], "description": "物业费",
            "out_trade_no": "T" + random.token_hex(8), "notify_url": "https://x.test/n",
            "amount": {"total": 100}, "payer": {"openid": openid}}
    merchant = sim.merchants[cfg["merchant_id"]]
    sim._create(merchant, "jsapi", body, Request("POST", "/", "", {}, b""))
    return sim.orders[(cfg["merchant_id"], body["out_trade_no"])]
