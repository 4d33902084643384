"""Which payment flow fits where the portal runs.

Inside WeChat's browser (User-Agent contains ``MicroMessenger``) WeChat Pay is JSAPI
(the in-browser payment sheet) and Alipay is not offered (WeChat blocks it); in another
mobile browser WeChat H5 or Alipay wap; on a PC a QR code to scan with the phone
(WeChat Native, Alipay precreate) or Alipay's web cashier. The sandbox channel (demo,
not real money) is offered wherever a community has a sandbox account.

JSAPI needs the payer's openid under the merchant's app id. The portal learns it through
WeChat's web authorization (``linli.payments.wechat_oauth``; the views in ``views_pay``)
and keeps it in the session by app id (``OPENIDS_KEY``). JSAPI is offered when the
session has that openid or the account can obtain one (its AppSecret is set); otherwise,
or when the owner chose to scan instead (``?via=qr``, offered after a failed
authorization), WeChat's browser gets the Native QR code (long-press recognises it).
"""

from __future__ import annotations

from dataclasses import dataclass

from django.utils.translation import pgettext_lazy

from linli.payments.gateways.base import PayMode
from linli.payments.models import Channel, MerchantAccount
from linli.payments.wechat_oauth import oauth_ready

OPENIDS_KEY = "wechat_openids"  # session: {app id: the payer's openid under it}
VIA_QR = "qr"  # ``via=qr``: in WeChat, pay by the QR code instead of the JSAPI sheet

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
    """The payer's openid under the account's app id, or "" when the session has none."""
    if account is None or not account.app_id:
        return ""
    return request.session.get(OPENIDS_KEY, {}).get(account.app_id, "")


def remember_openid(request, app_id: str, openid: str) -> None:
    openids = dict(request.session.get(OPENIDS_KEY, {}))
    openids[app_id] = openid
    request.session[OPENIDS_KEY] = openids


def wants_qr(request) -> bool:
    return VIA_QR in (request.GET.get("via"), request.POST.get("via"))


def jsapi_possible(request, account: MerchantAccount | None) -> bool:
    """May WeChat's browser pay by the JSAPI sheet here (now, or after authorizing)?"""
    if account is None or wants_qr(request):
        return False
    return bool(wechat_openid(request, account)) or oauth_ready(account)


def pay_options(accounts: dict[str, MerchantAccount], kind: str, *,
                jsapi: bool = False) -> list[PayOption]:
    """The flows to offer, best first, for the community's enabled ``accounts``."""
    modes: list[tuple[str, str]] = []
    if Channel.WECHAT in accounts:
        if kind == "wechat":
            modes.append((Channel.WECHAT, PayMode.JSAPI if jsapi else PayMode.NATIVE))
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
