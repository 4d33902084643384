"""Which payment flow fits where the portal runs.

Inside WeChat's browser (User-Agent contains ``MicroMessenger``) WeChat Pay is JSAPI
(the in-browser payment sheet) and Alipay is not offered (WeChat blocks it); in another
mobile browser WeChat H5 or Alipay wap; on a PC a QR code to scan with the phone
(WeChat Native, Alipay precreate) or Alipay's web cashier. The sandbox channel (demo,
not real money) is offered wherever a community has a sandbox account.

JSAPI needs the payer's openid for the merchant's app id, which a production site gets
through WeChat's OAuth (stored in the session as ``wechat_openid``). Against a local
simulator any stable string will do, so one is derived from the user; without either,
WeChat's browser gets the Native QR code instead (long-press recognises it).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

from django.utils.translation import pgettext_lazy

from linli.payments.gateways.base import PayMode
from linli.payments.models import Channel, MerchantAccount
from linli.payments.qr import is_simulated

MOBILE_MARKERS = ("Mobile", "Android", "iPhone", "iPad", "HarmonyOS")


@dataclass(frozen=True)
class PayOption:
    channel: str
    mode: str
    label: str

    @property
    def key(self) -> str:
        return f"{self.channel}:{self.mode}"


LABELS = {
    (Channel.WECHAT, PayMode.JSAPI): pgettext_lazy("portal", "WeChat Pay"),
    (Channel.WECHAT, PayMode.H5): pgettext_lazy("portal", "WeChat Pay"),
    (Channel.WECHAT, PayMode.NATIVE): pgettext_lazy("portal", "WeChat Pay (scan a QR code)"),
    (Channel.ALIPAY, PayMode.WAP): pgettext_lazy("portal", "Alipay"),
    (Channel.ALIPAY, PayMode.PRECREATE): pgettext_lazy("portal", "Alipay (scan a QR code)"),
    (Channel.ALIPAY, PayMode.PAGE): pgettext_lazy("portal", "Alipay (web cashier)"),
    (Channel.SANDBOX, PayMode.SANDBOX): pgettext_lazy("portal", "Sandbox (not real money)"),
}


def client_kind(user_agent: str) -> str:
    """"wechat", "mobile" or "pc"."""
    if "MicroMessenger" in user_agent:
        return "wechat"
    if any(marker in user_agent for marker in MOBILE_MARKERS):
        return "mobile"
    return "pc"


def wechat_openid(request, account: MerchantAccount | None) -> str:
    """The payer's openid for JSAPI, or "" when we have none (see module docstring)."""
    openid = request.session.get("wechat_openid", "")
    if openid:
        return openid
    if account is not None and is_simulated(account):
        digest = hashlib.sha256(f"{account.app_id}:{request.user.pk}".encode()).hexdigest()
        return "o" + digest[:27]
    return ""


def pay_options(accounts: dict[str, MerchantAccount], kind: str, *,
                openid: str = "") -> list[PayOption]:
    """The flows to offer, best first, for the community's enabled ``accounts``."""
    modes: list[tuple[str, str]] = []
    if Channel.WECHAT in accounts:
        if kind == "wechat":
            modes.append((Channel.WECHAT, PayMode.JSAPI if openid else PayMode.NATIVE))
        elif kind == "mobile":
            modes.append((Channel.WECHAT, PayMode.H5))
        else:
            modes.append((Channel.WECHAT, PayMode.NATIVE))
    if Channel.ALIPAY in accounts and kind != "wechat":
        if kind == "mobile":
            modes.append((Channel.ALIPAY, PayMode.WAP))
        else:
            modes += [(Channel.ALIPAY, PayMode.PRECREATE), (Channel.ALIPAY, PayMode.PAGE)]
    if Channel.SANDBOX in accounts:
        modes.append((Channel.SANDBOX, PayMode.SANDBOX))
    return [PayOption(str(c), str(m), str(LABELS[(c, m)])) for c, m in modes]
