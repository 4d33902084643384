"""The one interface every payment channel implements.

Adapters translate between our vocabulary (integer fen, ``out_trade_no`` per attempt,
``TradeState``) and one gateway's protocol. They verify everything the gateway sends
(response signatures, notification signatures, timestamps, app id and merchant id) and
raise ``GatewayError`` / ``NotificationRejected`` — never a library's bare exception.
What they do not know is our database: matching a notification to an order and its
amount is the payments service's job.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Protocol


@dataclass(frozen=True)
class MerchantConfig:
    """A community's merchant settings for one channel (stored encrypted; see
    ``payments.models.MerchantAccount``). Fields a channel does not use stay empty."""

    channel: str                       # "wechat" | "alipay" | "sandbox"
    app_id: str = ""                   # WeChat appid / Alipay app_id
    merchant_id: str = ""              # WeChat mchid / Alipay seller_id (PID, 2088…)
    private_key_pem: str = ""          # our key: WeChat merchant API key / Alipay app key
    merchant_serial: str = ""          # WeChat: serial of the merchant API certificate
    platform_public_key_pem: str = ""  # WeChat Pay public key / Alipay public key
    platform_public_key_id: str = ""   # WeChat: PUB_KEY_ID_… (= Wechatpay-Serial)
    api_v3_key: str = ""               # WeChat: 32-character APIv3 key (AES-256-GCM)
    gateway_url: str = ""              # base URL: the real gateway or a local simulator
    notify_url: str = ""               # our notification endpoint for this channel
    sandbox_secret: str = ""           # sandbox only: HMAC key of its notifications


class PayMode(StrEnum):
    NATIVE = "native"        # WeChat: QR code on a PC
    JSAPI = "jsapi"          # WeChat: inside WeChat's browser
    H5 = "h5"                # WeChat: other mobile browsers
    PRECREATE = "precreate"  # Alipay: QR code
    PAGE = "page"            # Alipay: PC cashier page
    WAP = "wap"              # Alipay: mobile cashier page
    SANDBOX = "sandbox"      # demo: our own "pay" page


class TradeState(StrEnum):
    NOTPAY = "notpay"      # created (or not yet existing at the gateway), not paid
    PAID = "paid"          # money received and (as far as the trade says) still held
    # Money was received and then refunded at the channel — by Linli's own refund or by
    # someone on the merchant platform: WeChat REFUND; Alipay TRADE_CLOSED carrying
    # gmt_payment / refund_fee. ``TradeStatus.refunded_fen`` says how much when the
    # channel tells (0 = not told). A PAID trade may carry ``refunded_fen`` too (Alipay
    # TRADE_SUCCESS with refund_fee: refunded in part).
    REFUNDED = "refunded"
    CLOSED = "closed"      # closed or expired unpaid
    UNKNOWN = "unknown"    # the gateway said something we cannot classify


class RefundState(StrEnum):
    PROCESSING = "processing"
    SUCCESS = "success"
    ABNORMAL = "abnormal"   # WeChat: card frozen/cancelled — needs staff
    CLOSED = "closed"       # WeChat: refund closed; Alipay: never refunded
    NOT_FOUND = "not_found"


@dataclass(frozen=True)
class CreateRequest:
    out_trade_no: str
    amount_fen: int
    description: str
    expires_at: dt.datetime           # aware
    mode: PayMode
    payer_openid: str = ""            # JSAPI
    payer_ip: str = ""                # H5
    return_url: str = ""              # Alipay page/wap, WeChat H5 redirect
    quit_url: str = ""                # Alipay wap


@dataclass(frozen=True)
class CreateResult:
    mode: PayMode
    code_url: str = ""                # what to render as a QR code (Native, precreate)
    redirect_url: str = ""            # where to send the browser (H5, page, wap, sandbox)
    jsapi_params: dict | None = None  # WeChat JSAPI: the signed getBrandWCPayRequest params
    raw: dict = field(default_factory=dict)


@dataclass(frozen=True)
class TradeStatus:
    out_trade_no: str
    state: TradeState
    transaction_id: str = ""          # the gateway's id for the trade
    amount_fen: int | None = None     # what the payer paid, in fen
    paid_at: dt.datetime | None = None
    refunded_fen: int = 0             # refunded at the channel so far, when it says
    raw: dict = field(default_factory=dict)
    # The channel's own word for the state (WeChat trade_state, Alipay trade_status),
    # e.g. "REFUND", "TRADE_CLOSED": for logs, anomaly details and staff; "" when the
    # gateway named none (an order it does not know).
    channel_state: str = ""


@dataclass(frozen=True)
class RefundRequest:
    out_trade_no: str
    out_refund_no: str                # reused on every retry of the same refund
    refund_fen: int
    total_fen: int                    # the original payment's amount
    reason: str = ""


@dataclass(frozen=True)
class RefundStatus:
    out_refund_no: str
    state: RefundState
    refund_id: str = ""
    refund_fen: int | None = None
    succeeded_at: dt.datetime | None = None
    reason: str = ""                  # the gateway's words when it failed
    raw: dict = field(default_factory=dict)


@dataclass(frozen=True)
class Notification:
    """A verified notification, in our words."""

    kind: str                         # "payment" | "refund"
    dedupe_key: str                   # WeChat notification id / Alipay notify_id
    app_id: str
    merchant_id: str
    out_trade_no: str
    trade: TradeStatus | None = None  # kind == "payment"
    refund: RefundStatus | None = None  # kind == "refund"
    raw: dict = field(default_factory=dict)


class GatewayError(Exception):
    """The gateway refused, failed, or could not be reached.

    ``retryable`` is True when the request may have been accepted (timeout, 5xx,
    SYSTEM_ERROR): retry with the same ``out_trade_no`` / ``out_refund_no``.
    """

    def __init__(self, code: str, message: str = "", *, retryable: bool = False) -> None:
        super().__init__(f"{code}: {message}" if message else code)
        self.code = code
        self.message = message
        self.retryable = retryable


class NotificationRejected(Exception):
    """A notification failed verification: bad or missing signature, unknown key serial,
    stale timestamp, undecryptable resource, wrong app id or merchant."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True)
class Ack:
    """What to answer the gateway's notification request with."""

    status: int
    body: bytes = b""
    content_type: str = "text/plain"


class Gateway(Protocol):
    channel: str

    def __init__(self, config: MerchantConfig) -> None: ...

    def create(self, request: CreateRequest) -> CreateResult: ...

    def query(self, out_trade_no: str) -> TradeStatus: ...

    def close(self, out_trade_no: str) -> TradeStatus:
        """Close an unpaid trade. Returns CLOSED, or — when the gateway answers that it
        was paid meanwhile — what a query says: PAID (a payment) or REFUNDED (paid, then
        refunded at the channel)."""
        ...

    def refund(self, request: RefundRequest) -> RefundStatus: ...

    def query_refund(self, out_trade_no: str, out_refund_no: str) -> RefundStatus: ...

    def parse_notification(self, headers: dict[str, str], body: bytes, *,
                           now: dt.datetime) -> Notification:
        """Verify and decode one notification request (``headers`` lower-case names)."""
        ...

    def acknowledge(self, ok: bool) -> Ack:
        """The protocol's answer: WeChat 204 / 4xx-5xx with {"code","message"};
        Alipay the literal ``success`` / ``fail``."""
        ...
