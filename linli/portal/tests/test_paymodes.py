"""Choosing the payment flow for where the portal runs."""

from __future__ import annotations

import pytest

from linli.payments.models import MerchantAccount
from linli.payments.qr import is_simulated
from linli.portal.paymodes import client_kind, pay_options

WECHAT_UA = ("Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) AppleWebKit/605.1.15 "
             "(KHTML, like Gecko) Mobile/15E148 MicroMessenger/8.0.47(0x18002f2c) NetType/WIFI")
PHONE_UA = ("Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) "
            "Chrome/126.0 Mobile Safari/537.36")
PC_UA = ("Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
         "Chrome/126.0 Safari/537.36")


def accounts(*channels):
    return {c: MerchantAccount(channel=c, gateway_url="http://127.0.0.1:8100")
            for c in channels}


@pytest.mark.parametrize("ua, kind", [(WECHAT_UA, "wechat"), (PHONE_UA, "mobile"),
                                      (PC_UA, "pc")])
def test_client_kind(ua, kind):
    assert client_kind(ua) == kind


@pytest.mark.parametrize("kind, jsapi, expected", [
    ("wechat", True, ["wechat:jsapi", "sandbox:sandbox"]),
    ("wechat", False, ["wechat:native", "sandbox:sandbox"]),
    ("mobile", False, ["wechat:h5", "alipay:wap", "sandbox:sandbox"]),
    ("pc", False, ["wechat:native", "alipay:precreate", "alipay:page", "sandbox:sandbox"]),
])
def test_options_fit_the_browser(kind, jsapi, expected):
    options = pay_options(accounts("wechat", "alipay", "sandbox"), kind, jsapi=jsapi)
    assert [o.key for o in options] == expected


def test_only_the_communitys_channels_are_offered():
    assert [o.key for o in pay_options(accounts("alipay"), "wechat")] == []
    assert [o.key for o in pay_options(accounts("alipay"), "pc")] == [
        "alipay:precreate", "alipay:page"]


def test_real_gateways_are_not_simulators():
    assert is_simulated(MerchantAccount(channel="wechat", gateway_url="http://127.0.0.1:8100"))
    assert not is_simulated(MerchantAccount(channel="wechat",
                                            gateway_url="https://api.mch.weixin.qq.com"))
    assert not is_simulated(MerchantAccount(channel="alipay",
                                            gateway_url="https://openapi.alipay.com/gateway.do"))
    assert not is_simulated(MerchantAccount(channel="wechat", gateway_url=""))
