"""Shared pieces of the WeChat Pay simulator: protocol constants, id helpers, the
state records (merchant, order, refund), fault switches and the signed delivery."""

from __future__ import annotations

import datetime as dt
import ipaddress
import re
import secrets
import string
from collections.abc import Callable
from dataclasses import dataclass
from urllib.parse import urlencode

from linli.paysim.common import Delivery

SIGNATURE_TYPE = "WECHATPAY2-SHA256-RSA2048"


TIMESTAMP_WINDOW = 300  # seconds either way


DEFAULT_EXPIRY = 7 * 24 * 3600


MAX_REFUNDS_PER_ORDER = 50


CST = dt.timezone(dt.timedelta(hours=8))


OUT_TRADE_NO_RE = re.compile(r"^[0-9A-Za-z_\-|*]{6,32}$")


OUT_REFUND_NO_RE = re.compile(r"^[0-9A-Za-z_\-|*@]{1,64}$")


_URL_SAFE = ":/?#[]@!$&'()*+,;=%~"


AUTH_RE = re.compile(r'(\w+)="([^"]*)"')


TRADE_STATE_DESC = {
    "NOTPAY": "订单未支付",
    "SUCCESS": "支付成功",
    "CLOSED": "订单已关闭",
    "REFUND": "转入退款",
    "USERPAYING": "用户支付中（付款码支付）",
    "ACCEPT": "已接收，等待扣款",
    "PAYERROR": "支付失败（其他原因，如银行返回失败）",
    "REVOKED": "已撤销（付款码支付）",
}
# Unpaid states the payer can still pay from; PAYERROR and REVOKED are final failures.
PAYABLE_STATES = ("NOTPAY", "USERPAYING", "ACCEPT")
# What ``payment_code_state`` can put an unpaid order in (付款码 trades pass through them).
PAYMENT_CODE_STATES = ("USERPAYING", "ACCEPT", "PAYERROR")


TRADE_TYPE = {"native": "NATIVE", "jsapi": "JSAPI", "h5": "MWEB"}


REFUND_EVENTS = {
    "SUCCESS": ("REFUND.SUCCESS", "退款成功"),
    "ABNORMAL": ("REFUND.ABNORMAL", "退款异常"),
    "CLOSED": ("REFUND.CLOSED", "退款关闭"),
}


def rfc3339(epoch: float) -> str:
    return dt.datetime.fromtimestamp(int(epoch), CST).isoformat()


def _digits(n: int) -> str:
    return "".join(secrets.choice(string.digits) for _ in range(n))


def _alnum(n: int) -> str:
    return "".join(secrets.choice(string.ascii_letters + string.digits) for _ in range(n))


def _is_local_host(host: str) -> bool:
    if host in ("localhost",) or host.endswith((".localhost", ".local", ".internal")):
        return True
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return False
    return address.is_loopback or address.is_private


def scan_page_url(public_url: str, code_url: str) -> str:
    """The simulator page a phone would open after scanning ``code_url`` (demo links)."""
    token = code_url.rsplit("pr=", 1)[-1]
    return f"{public_url.rstrip('/')}/wechat/scan/{token}"


def jsapi_page_url(public_url: str, prepay_id: str, redirect_url: str = "") -> str:
    """The simulator's stand-in for WeChat's in-browser payment sheet (JSAPI outside
    WeChat, e.g. the demo portal in an ordinary browser)."""
    url = f"{public_url.rstrip('/')}/wechat/jsapi/{prepay_id}"
    return f"{url}?{urlencode({'redirect_url': redirect_url})}" if redirect_url else url


@dataclass
class Merchant:
    mchid: str
    appid: str
    serial: str
    public_key_pem: str
    api_v3_key: str
    notify_url: str = ""


@dataclass
class Order:
    mchid: str
    appid: str
    out_trade_no: str
    mode: str                 # native | jsapi | h5
    description: str
    total: int
    notify_url: str
    created: float
    expires: float
    token: str
    prepay_id: str
    attach: str = ""
    payer_openid: str = ""
    payer_ip: str = ""
    fingerprint: str = ""
    # NOTPAY | SUCCESS | CLOSED | USERPAYING | ACCEPT | PAYERROR | REVOKED (REFUND is
    # derived from the refunds; a REVOKED order keeps its transaction when it was paid)
    state: str = "NOTPAY"
    transaction_id: str = ""
    success_time: float = 0.0


@dataclass
class Refund:
    mchid: str
    out_trade_no: str
    transaction_id: str
    out_refund_no: str
    refund_id: str
    refund: int
    total: int
    reason: str
    notify_url: str
    created: float
    status: str = "PROCESSING"  # PROCESSING | SUCCESS | ABNORMAL | CLOSED
    success_time: float = 0.0


@dataclass
class Faults:
    """Fault injection. Counters apply to the next N API calls / notifications."""

    latency: float = 0.0            # seconds added to every API call
    error_next: int = 0             # next N API calls fail with ``error_status`` (not processed)
    error_status: int = 500
    unsigned_next: int = 0          # next N API 2xx responses carry no signature
    wrong_serial_next: int = 0      # next N API responses name another Wechatpay-Serial
    stale_next: int = 0             # next N API responses signed with a 10-minute-old timestamp
    notify_wrong_serial_next: int = 0
    notify_stale_next: int = 0
    notify_bad_signature_next: int = 0
    notify_duplicate_next: int = 0  # next N notifications are delivered twice
    refund_not_enough_next: int = 0  # next N refunds: 403 NOT_ENOUGH (merchant balance)
    # next N refund requests are applied, then answered 500 SYSTEM_ERROR: the merchant
    # sees a failure (or a timeout) for a refund the gateway did accept
    refund_error_after_accept_next: int = 0


class _SignedDelivery(Delivery):
    """A delivery re-signed at every attempt with a fresh timestamp, as the real gateway
    does (a retry hours later must still pass the receiver's ±5 min check)."""

    signer: Callable[[bytes], dict[str, str]] | None = None

    @property
    def headers(self) -> dict[str, str]:  # type: ignore[override]
        return self.signer(self.body) if self.signer else self._headers

    @headers.setter
    def headers(self, value: dict[str, str]) -> None:
        self._headers = value


class ApiError(Exception):
    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status, self.code, self.message = status, code, message
