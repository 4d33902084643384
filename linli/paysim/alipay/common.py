"""Shared pieces of the Alipay simulator: protocol constants, time and amount
helpers, the signing content, the state records (app, trade, refund), errors and fault
switches."""

from __future__ import annotations

import datetime as dt
import re
import secrets
import string
from dataclasses import dataclass, field
from decimal import Decimal

BEIJING = dt.timezone(dt.timedelta(hours=8), "Asia/Shanghai")


TIME_FORMAT = "%Y-%m-%d %H:%M:%S"


TIMESTAMP_WINDOW = 900  # seconds either way


PRECREATE_DEFAULT_TIMEOUT = 2 * 3600


DEFAULT_TIMEOUT = 15 * 86400


MIN_FEN, MAX_FEN = 1, 100_000_000 * 100


STALE_NOTIFY_AGE = 3 * 86400  # the "stale notification" fault: this old


SERVER_METHODS = (
    "alipay.trade.precreate",
    "alipay.trade.query",
    "alipay.trade.close",
    "alipay.trade.refund",
    "alipay.trade.fastpay.refund.query",
)


BROWSER_METHODS = {  # method → the one product_code it accepts
    "alipay.trade.page.pay": "FAST_INSTANT_TRADE_PAY",
    "alipay.trade.wap.pay": "QUICK_WAP_WAY",
}


PRECREATE_PRODUCT = "FACE_TO_FACE_PAYMENT"


CODE_MSG = {
    "10000": "Success",
    "20000": "Service Currently Unavailable",
    "20001": "Insufficient Token Permissions",
    "40001": "Missing Required Arguments",
    "40002": "Invalid Arguments",
    "40004": "Business Failed",
    "40006": "Insufficient Permissions",
}


WAIT_BUYER_PAY = "WAIT_BUYER_PAY"


TRADE_SUCCESS = "TRADE_SUCCESS"


TRADE_CLOSED = "TRADE_CLOSED"


TRADE_FINISHED = "TRADE_FINISHED"


OUT_TRADE_NO_RE = re.compile(r"^[0-9A-Za-z_]{1,64}$")


OUT_REQUEST_NO_RE = re.compile(r"^[0-9A-Za-z_\-]{1,64}$")


AMOUNT_RE = re.compile(r"^[0-9]{1,9}(\.[0-9]{1,2})?$")


TIMEOUT_EXPRESS_RE = re.compile(r"^([1-9][0-9]*)([mhd])$|^1c$")


def beijing(epoch: float) -> dt.datetime:
    return dt.datetime.fromtimestamp(epoch, BEIJING)


def fmt_time(epoch: float) -> str:
    return beijing(epoch).strftime(TIME_FORMAT)


def parse_time(text: str) -> float:
    """``yyyy-MM-dd HH:mm:ss`` (or ``HH:mm``) Beijing time → epoch; ValueError if not."""
    for pattern in (TIME_FORMAT, "%Y-%m-%d %H:%M"):
        try:
            return dt.datetime.strptime(text, pattern).replace(tzinfo=BEIJING).timestamp()
        except ValueError:
            continue
    raise ValueError(f"not a time: {text!r}")


def yuan(fen: int) -> str:
    return str((Decimal(fen) / 100).quantize(Decimal("0.01")))


def _digits(n: int) -> str:
    return "".join(secrets.choice(string.digits) for _ in range(n))


def _lower_alnum(n: int) -> str:
    return "".join(secrets.choice(string.ascii_lowercase + string.digits) for _ in range(n))


def sign_content(params: dict[str, str], *, exclude: tuple[str, ...]) -> str:
    """Sorted ``k=v&…`` with raw values. Requests: exclude ``sign`` (``sign_type`` is
    signed, empty values too); notifications and return URLs: exclude ``sign`` and
    ``sign_type`` and drop empty values."""
    items = sorted((k, v) for k, v in params.items() if k not in exclude)
    if "sign_type" in exclude:
        items = [(k, v) for k, v in items if v != ""]
    return "&".join(f"{k}={v}" for k, v in items)


@dataclass
class App:
    app_id: str
    seller_id: str
    public_key_pem: str
    created: float = 0.0


@dataclass
class RefundRecord:
    out_request_no: str
    refund_fen: int
    at: float
    reason: str = ""
    explicit_request_no: bool = True


@dataclass
class Trade:
    app_id: str
    seller_id: str
    out_trade_no: str
    method: str
    product_code: str
    total_fen: int
    subject: str
    token: str
    created: float                    # when the merchant created it (precreate / page URL)
    expire_at: float
    notify_url: str = ""
    return_url: str = ""
    quit_url: str = ""
    passback_params: str = ""
    body: str = ""
    exists: bool = False              # at the gateway: after scan / login
    status: str = WAIT_BUYER_PAY
    trade_no: str = ""
    buyer_id: str = ""
    buyer_logon_id: str = ""
    gmt_create: float | None = None   # when it came into existence
    gmt_payment: float | None = None
    gmt_close: float | None = None
    refunds: list[RefundRecord] = field(default_factory=list)

    @property
    def refunded_fen(self) -> int:
        return sum(r.refund_fen for r in self.refunds)

    def refund(self, out_request_no: str) -> RefundRecord | None:
        return next((r for r in self.refunds if r.out_request_no == out_request_no), None)

    @classmethod
    def from_dict(cls, data: dict) -> Trade:
        data = dict(data)
        data["refunds"] = [RefundRecord(**r) for r in data.get("refunds", [])]
        return cls(**data)


class AlipayError(Exception):
    """An answer other than 10000: ``code`` / ``sub_code`` / ``sub_msg``."""

    def __init__(self, code: str, sub_code: str, sub_msg: str) -> None:
        super().__init__(f"{code} {sub_code}: {sub_msg}")
        self.code, self.sub_code, self.sub_msg = code, sub_code, sub_msg

    def body(self) -> dict:
        return {"code": self.code, "msg": CODE_MSG[self.code], "sub_code": self.sub_code,
                "sub_msg": self.sub_msg}


def _business(sub_code: str, sub_msg: str) -> AlipayError:
    return AlipayError("40004", sub_code, sub_msg)


def _invalid(sub_code: str, sub_msg: str) -> AlipayError:
    return AlipayError("40002", sub_code, sub_msg)


def _missing(sub_code: str, sub_msg: str) -> AlipayError:
    return AlipayError("40001", sub_code, sub_msg)


@dataclass
class Faults:
    """What goes wrong on the next server API calls (``inject``)."""

    latency: float = 0.0              # seconds before every answer, until cleared
    latency_next: int = 0             # … or only the next N answers (0: every answer)
    system_error_next: int = 0        # signed 20000 isp.unknown-error
    http_error_next: int = 0          # bare HTTP error page
    http_error_status: int = 502
    unsigned_next: int = 0            # response without "sign"
    bad_signature_next: int = 0       # response signed with a key that is not Alipay's
    refund_error_after_accept_next: int = 0  # refund applied, answer ACQ.SYSTEM_ERROR
    only_method: str = ""             # restrict the counted faults to one method


def _ack(status: int, body: bytes) -> bool:
    return status == 200 and body == b"success"
