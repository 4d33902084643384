"""Alipay OpenAPI simulator (模拟支付宝): RSA2, public-key mode, the real protocol.

It holds the Alipay key pair and, per provisioned app, only the app's *public* key, so
a request signed with any other key is refused as the real gateway refuses it
(``40002 isv.invalid-signature``). Every response is signed over the raw JSON text of
its ``<method>_response`` object; notifications are form POSTs signed with the Alipay
key and delivered by ``common.Dispatcher`` on ``ALIPAY_RETRY_SCHEDULE`` until the
receiver answers exactly ``success``. Written on ``cryptography`` only (never the
``alipay`` client package, which our adapter uses and which this checks).

Routes:
  /gateway.do                      every OpenAPI method; query string and form merged
      alipay.trade.precreate       → qr_code (the trade does not exist until scanned)
      alipay.trade.page.pay,       browser GETs → the cashier page, then the signed
      alipay.trade.wap.pay           return_url (wap: quit_url to give up)
      alipay.trade.query / close / refund / fastpay.refund.query
  /alipay/scan/<token>             "scanned the QR code" page (qr_code points here);
                                   opening it creates the trade (WAIT_BUYER_PAY),
                                   确认付款 pays it
  /alipay/cashier/<token>          page/wap cashier: 登录并付款, or give up (wap)
  /alipay/_sim/…                   JSON control for tests and the demo (see ``_control``)

Protocol choices worth knowing (they mirror the real gateway):
- Closing an unscanned precreate answers ``ACQ.TRADE_NOT_EXIST`` and changes nothing:
  the QR code stays payable until it expires (``time_expire``/``timeout_express``,
  default 2 h for precreate, 15 d otherwise). Page/wap trades likewise exist only once
  the buyer logs in and pays.
- ``timestamp`` must be within ``TIMESTAMP_WINDOW`` of the simulator's Beijing time,
  for browser methods too: generate a fresh page/wap URL for every redirect.
- A wrong ``product_code`` (e.g. ``QUICK_WAP_PAY`` for wap) is refused.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import html
import json
import os
import re
import secrets
import string
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from pathlib import Path
from urllib.parse import parse_qsl, urlencode, urlsplit

from linli.paysim.common import (
    ALIPAY_RETRY_SCHEDULE,
    Delivery,
    Dispatcher,
    Request,
    Response,
    load_private,
    load_public,
    private_pem,
    public_pem,
    rsa_generate,
    rsa_sign,
    rsa_verify,
)

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


# ---------------------------------------------------------------- state

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


# ---------------------------------------------------------------- the simulator

class AlipaySim:
    def __init__(self, *, state_dir: Path | None = None, dispatcher: Dispatcher | None = None,
                 public_url: str = "", clock: Callable[[], float] = time.time) -> None:
        self.state_dir = Path(state_dir) / "alipay" if state_dir else None
        self._dispatcher = dispatcher
        self.public_url = public_url.rstrip("/")
        self.clock = clock
        self.faults = Faults()
        self.deliveries: list[Delivery] = []
        self._delivery_info: dict[int, dict] = {}
        self._last_notification: dict[tuple[str, str], bytes] = {}
        self._lock = threading.RLock()
        self.apps: dict[str, App] = {}
        self.trades: dict[tuple[str, str], Trade] = {}
        self._alipay_key = None
        self._rogue_key = None
        self._load()

    # ------------------------------------------------------------ keys and persistence

    @property
    def dispatcher(self) -> Dispatcher:
        if self._dispatcher is None:
            self._dispatcher = Dispatcher()
        return self._dispatcher

    @property
    def alipay_key(self):
        """The Alipay private key, generated on first use (and kept in state_dir)."""
        with self._lock:
            if self._alipay_key is None:
                self._alipay_key = rsa_generate()
                self._save()
            return self._alipay_key

    @property
    def alipay_public_key_pem(self) -> str:
        return public_pem(self.alipay_key)

    def _other_key(self):
        with self._lock:
            if self._rogue_key is None:
                self._rogue_key = rsa_generate()
            return self._rogue_key

    def _load(self) -> None:
        if not self.state_dir or not (self.state_dir / "state.json").exists():
            return
        state = json.loads((self.state_dir / "state.json").read_text())
        key_path = self.state_dir / "alipay_key.pem"
        if key_path.exists():
            self._alipay_key = load_private(key_path.read_text())
        self.apps = {a["app_id"]: App(**a) for a in state.get("apps", [])}
        for t in state.get("trades", []):
            trade = Trade.from_dict(t)
            self.trades[(trade.app_id, trade.out_trade_no)] = trade

    def _save(self) -> None:
        if not self.state_dir:
            return
        with self._lock:
            self.state_dir.mkdir(parents=True, exist_ok=True)
            key_path = self.state_dir / "alipay_key.pem"
            if self._alipay_key is not None and not key_path.exists():
                key_path.write_text(private_pem(self._alipay_key))
                os.chmod(key_path, 0o600)
            state = {
                "apps": [dataclasses.asdict(a) for a in self.apps.values()],
                "trades": [dataclasses.asdict(t) for t in self.trades.values()],
            }
            tmp = self.state_dir / "state.json.tmp"
            tmp.write_text(json.dumps(state, ensure_ascii=False, indent=1))
            tmp.replace(self.state_dir / "state.json")

    def provision_merchant(self, app_id: str | None = None, seller_id: str | None = None,
                           notify_url: str = "") -> dict:
        """Open an app. Returns the fields of ``MerchantConfig`` (channel "alipay"); the
        app private key is handed out here and not kept."""
        key = rsa_generate()
        app = App(app_id=app_id or "2021" + _digits(12),
                  seller_id=seller_id or "2088" + _digits(12),
                  public_key_pem=public_pem(key), created=self.clock())
        with self._lock:
            self.apps[app.app_id] = app
            self._save()
        return {
            "channel": "alipay",
            "app_id": app.app_id,
            "merchant_id": app.seller_id,
            "private_key_pem": private_pem(key),
            "platform_public_key_pem": self.alipay_public_key_pem,
            "gateway_url": self.public_url + "/gateway.do",
            "notify_url": notify_url,
        }

    # ------------------------------------------------------------ WSGI

    def __call__(self, environ, start_response):
        request = Request.from_environ(environ)
        return self.handle(request)(environ, start_response)

    def handle(self, request: Request) -> Response:
        path = request.path
        if path == "/gateway.do":
            return self._gateway(request)
        if path.startswith("/alipay/_sim/"):
            try:
                return self._control(request)
            except AlipayError as exc:
                return Response.json(exc.body(), 400)
            except (KeyError, ValueError, TypeError) as exc:
                return Response.json({"error": str(exc)}, 400)
        m = re.fullmatch(r"/alipay/(scan|cashier)/([A-Za-z0-9_\-]+)(?:/(pay|quit))?", path)
        if m:
            return self._page(request, *m.groups())
        return Response.html(_page(_("Not found"), ""), 404)

    def _base_url(self, request: Request | None = None) -> str:
        if self.public_url or request is None:
            return self.public_url
        return f"http://{request.headers.get('host', '127.0.0.1')}"

    # ------------------------------------------------------------ the gateway

    def _gateway(self, request: Request) -> Response:
        params = request.form
        method = params.get("method", "")
        if method in BROWSER_METHODS:
            return self._browser_pay(request, params, method)
        faults = self._take_faults(method)
        if faults.get("latency"):
            time.sleep(faults["latency"])
        if faults.get("http_error"):
            status = faults["http_error"]
            return Response(status, f"<html><body><h1>{status}</h1></body></html>".encode(),
                            [("Content-Type", "text/html")])
        try:
            app, biz = self._authenticate(params)
        except AlipayError as exc:
            return self._signed_response("error_response", exc.body(), faults)
        response_key = method.replace(".", "_") + "_response"
        if faults.get("system_error"):
            return self._signed_response(response_key, AlipayError(
                "20000", "isp.unknown-error", "系统繁忙").body(), faults)
        handler = {
            "alipay.trade.precreate": self._precreate,
            "alipay.trade.query": self._query,
            "alipay.trade.close": self._close,
            "alipay.trade.refund": self._refund,
            "alipay.trade.fastpay.refund.query": self._refund_query,
        }[method]
        try:
            with self._lock:
                body = handler(app, params, biz, request)
            if method == "alipay.trade.refund" and faults.get("refund_error_after_accept"):
                raise _business("ACQ.SYSTEM_ERROR", "系统错误")
        except AlipayError as exc:
            body = exc.body()
        return self._signed_response(response_key, body, faults)

    def _take_faults(self, method: str) -> dict:
        """Consume this call's share of the injected faults."""
        f, out = self.faults, {}
        with self._lock:
            if f.latency:
                out["latency"] = f.latency
                if f.latency_next:
                    f.latency_next -= 1
                    if not f.latency_next:
                        f.latency = 0.0
            if f.only_method and method != f.only_method:
                return out
            if f.http_error_next > 0:
                f.http_error_next -= 1
                out["http_error"] = f.http_error_status
                return out
            if f.system_error_next > 0:
                f.system_error_next -= 1
                out["system_error"] = True
            if f.unsigned_next > 0:
                f.unsigned_next -= 1
                out["unsigned"] = True
            elif f.bad_signature_next > 0:
                f.bad_signature_next -= 1
                out["bad_signature"] = True
            if method == "alipay.trade.refund" and f.refund_error_after_accept_next > 0:
                f.refund_error_after_accept_next -= 1
                out["refund_error_after_accept"] = True
        return out

    def _signed_response(self, key: str, body: dict, faults: dict | None = None) -> Response:
        """``{"<key>":{…},"sign":"…"}`` signed over exactly the text sent."""
        faults = faults or {}
        inner = json.dumps(body, ensure_ascii=False, separators=(",", ":"))
        if faults.get("unsigned"):
            text = f'{{"{key}":{inner}}}'
        else:
            signer = self._other_key() if faults.get("bad_signature") else self.alipay_key
            text = f'{{"{key}":{inner},"sign":"{rsa_sign(signer, inner.encode())}"}}'
        return Response(200, text.encode(), [("Content-Type", "application/json;charset=utf-8")])

    def _authenticate(self, params: dict[str, str]) -> tuple[App, dict]:
        """Check the common parameters and the request signature; return the app and
        the parsed biz_content."""
        for name, sub in (("app_id", "isv.missing-app-id"), ("method", "isv.missing-method"),
                          ("sign", "isv.missing-signature"),
                          ("sign_type", "isv.missing-signature-type"),
                          ("timestamp", "isv.missing-timestamp"),
                          ("version", "isv.missing-version")):
            if not params.get(name):
                raise _missing(sub, f"缺少{name}参数")
        app = self.apps.get(params["app_id"])
        if app is None:
            raise _invalid("isv.invalid-app-id", "无效的AppID参数")
        method = params["method"]
        if method not in SERVER_METHODS and method not in BROWSER_METHODS:
            raise _invalid("isv.invalid-method", "不存在的方法名")
        if params.get("format", "JSON").upper() != "JSON":
            raise _invalid("isv.invalid-format", "无效的数据格式")
        if params.get("charset", "utf-8").lower() != "utf-8":
            raise _invalid("isv.invalid-charset", "字符集错误")
        if params["version"] != "1.0":
            raise _invalid("isv.invalid-version", "版本号错误")
        if params["sign_type"] != "RSA2":
            raise _invalid("isv.invalid-signature-type", "无效的签名类型")
        content = sign_content(params, exclude=("sign",))
        if not rsa_verify(load_public(app.public_key_pem), content.encode(), params["sign"]):
            raise _invalid("isv.invalid-signature", f"验签出错，建议检查签名字符串或签名私钥与"
                           f"应用公钥是否匹配，网关生成的验签字符串为：{content}")
        try:
            sent = parse_time(params["timestamp"])
        except ValueError:
            raise _invalid("isv.invalid-timestamp", "非法的时间戳参数") from None
        if abs(self.clock() - sent) > TIMESTAMP_WINDOW:
            raise _invalid("isv.invalid-timestamp", "非法的时间戳参数")
        raw = params.get("biz_content") or "{}"
        try:
            biz = json.loads(raw, parse_float=Decimal)
        except ValueError:
            raise _invalid("isv.invalid-parameter", "biz_content不是合法的JSON") from None
        if not isinstance(biz, dict):
            raise _invalid("isv.invalid-parameter", "biz_content不是合法的JSON")
        return app, biz

    # ------------------------------------------------------------ business helpers

    @staticmethod
    def _amount(biz: dict, name: str) -> int:
        value = biz.get(name)
        if value is None or value == "":
            raise _missing("isv.missing-parameter", f"缺少{name}参数")
        text = str(value)
        if isinstance(value, bool) or not AMOUNT_RE.match(text):
            raise _invalid("isv.invalid-parameter", f"{name}格式错误")
        try:
            fen = int(Decimal(text) * 100)
        except InvalidOperation:
            raise _invalid("isv.invalid-parameter", f"{name}格式错误") from None
        if not MIN_FEN <= fen <= MAX_FEN:
            raise _invalid("isv.invalid-parameter", f"{name}取值范围[0.01,100000000]")
        return fen

    def _expiry(self, biz: dict, default: int) -> float:
        now = self.clock()
        if biz.get("time_expire"):
            try:
                at = parse_time(str(biz["time_expire"]))
            except ValueError:
                raise _invalid("isv.invalid-parameter", "time_expire格式错误") from None
            if at <= now or at > now + 15 * 86400:
                raise _invalid("isv.invalid-parameter", "time_expire不合法")
            return at
        express = str(biz.get("timeout_express") or "")
        if express:
            m = TIMEOUT_EXPRESS_RE.match(express)
            if not m:
                raise _invalid("isv.invalid-parameter", "timeout_express格式错误")
            if express == "1c":
                midnight = beijing(now).replace(hour=23, minute=59, second=59)
                return midnight.timestamp()
            seconds = int(m.group(1)) * {"m": 60, "h": 3600, "d": 86400}[m.group(2)]
            if seconds > 15 * 86400:
                raise _invalid("isv.invalid-parameter", "timeout_express取值范围1m～15d")
            return now + seconds
        return now + default

    def _find(self, app: App, biz: dict) -> Trade | None:
        """The trade named by out_trade_no or trade_no, if the gateway knows it."""
        out_trade_no, trade_no = biz.get("out_trade_no"), biz.get("trade_no")
        if not out_trade_no and not trade_no:
            raise _missing("isv.missing-parameter", "out_trade_no和trade_no不能同时为空")
        trade = None
        if out_trade_no:
            trade = self.trades.get((app.app_id, str(out_trade_no)))
        else:
            trade = next((t for t in self.trades.values()
                          if t.app_id == app.app_id and t.trade_no == str(trade_no)), None)
        if trade is not None and trade_no and trade.trade_no != str(trade_no):
            trade = None
        if trade is not None:
            self._expire_if_due(trade)
        if trade is None or not trade.exists:
            return None
        return trade

    def _expire_if_due(self, trade: Trade) -> None:
        if trade.status == WAIT_BUYER_PAY and trade.exists and self.clock() >= trade.expire_at:
            self._close_trade(trade)

    def _close_trade(self, trade: Trade) -> None:
        trade.status, trade.gmt_close = TRADE_CLOSED, self.clock()
        self._save()
        if trade.product_code == BROWSER_METHODS["alipay.trade.wap.pay"]:
            self._notify(trade)  # wap notifies TRADE_CLOSED too

    def _register(self, app: App, params: dict, biz: dict, *, method: str,
                  product_code: str, default_timeout: int) -> Trade:
        """Create the merchant's order (not yet a trade at the gateway), or return the
        existing one after checking it is the same order."""
        out_trade_no = str(biz.get("out_trade_no") or "")
        if not out_trade_no:
            raise _missing("isv.missing-parameter", "缺少out_trade_no参数")
        if not OUT_TRADE_NO_RE.match(out_trade_no):
            raise _invalid("isv.invalid-parameter", "out_trade_no格式错误")
        total_fen = self._amount(biz, "total_amount")
        subject = str(biz.get("subject") or "")
        if not subject:
            raise _missing("isv.missing-parameter", "缺少subject参数")
        if len(subject) > 256:
            raise _invalid("isv.invalid-parameter", "subject过长")
        sent_product = str(biz.get("product_code") or product_code)
        if sent_product != product_code:
            raise _invalid("isv.invalid-parameter", f"product_code不合法：{sent_product}")
        seller = biz.get("seller_id")
        if seller and seller != app.seller_id:
            raise _business("ACQ.SELLER_NOT_EXIST", "卖家不存在")
        expire_at = self._expiry(biz, default_timeout)
        key = (app.app_id, out_trade_no)
        trade = self.trades.get(key)
        if trade is not None:
            self._expire_if_due(trade)
            if trade.total_fen != total_fen or trade.subject != subject:
                raise _business("ACQ.CONTEXT_INCONSISTENT", "交易信息被篡改")
            if trade.status in (TRADE_SUCCESS, TRADE_FINISHED):
                raise _business("ACQ.TRADE_HAS_SUCCESS", "交易已被支付")
            if trade.status == TRADE_CLOSED:
                raise _business("ACQ.TRADE_HAS_CLOSE", "交易已经关闭")
            if not trade.exists:  # re-created before anyone scanned: refresh its terms
                trade.expire_at = expire_at
                trade.notify_url = params.get("notify_url", trade.notify_url)
                trade.return_url = params.get("return_url", trade.return_url)
                trade.quit_url = str(biz.get("quit_url") or trade.quit_url)
                self._save()
            return trade
        trade = Trade(
            app_id=app.app_id, seller_id=app.seller_id, out_trade_no=out_trade_no,
            method=method, product_code=product_code, total_fen=total_fen, subject=subject,
            token=("bax0" + _lower_alnum(20)) if method == "alipay.trade.precreate"
            else secrets.token_urlsafe(18),
            created=self.clock(), expire_at=expire_at,
            notify_url=params.get("notify_url", ""), return_url=params.get("return_url", ""),
            quit_url=str(biz.get("quit_url") or ""),
            passback_params=str(biz.get("passback_params") or ""),
            body=str(biz.get("body") or ""),
        )
        self.trades[key] = trade
        self._save()
        return trade

    def scan_url(self, trade: Trade, request: Request | None = None) -> str:
        return f"{self._base_url(request)}/alipay/scan/{trade.token}"

    def cashier_url(self, trade: Trade, request: Request | None = None) -> str:
        return f"{self._base_url(request)}/alipay/cashier/{trade.token}"

    # ------------------------------------------------------------ methods

    def _precreate(self, app: App, params: dict, biz: dict, request: Request) -> dict:
        trade = self._register(app, params, biz, method="alipay.trade.precreate",
                               product_code=PRECREATE_PRODUCT,
                               default_timeout=PRECREATE_DEFAULT_TIMEOUT)
        return {"code": "10000", "msg": "Success", "out_trade_no": trade.out_trade_no,
                "qr_code": self.scan_url(trade, request)}

    def _trade_fields(self, trade: Trade) -> dict:
        paid = trade.gmt_payment is not None
        amount = yuan(trade.total_fen) if paid else "0.00"
        body = {
            "code": "10000", "msg": "Success",
            "trade_no": trade.trade_no, "out_trade_no": trade.out_trade_no,
            "buyer_logon_id": trade.buyer_logon_id, "trade_status": trade.status,
            "total_amount": yuan(trade.total_fen), "receipt_amount": amount,
            "buyer_pay_amount": amount, "invoice_amount": amount, "point_amount": "0.00",
            "buyer_user_id": trade.buyer_id,
        }
        if paid:
            body["send_pay_date"] = fmt_time(trade.gmt_payment)
            body["fund_bill_list"] = [{"amount": yuan(trade.total_fen),
                                       "fund_channel": "ALIPAYACCOUNT"}]
        if trade.passback_params:
            body["passback_params"] = trade.passback_params
        return body

    def _query(self, app: App, params: dict, biz: dict, request: Request) -> dict:
        trade = self._find(app, biz)
        if trade is None:
            raise _business("ACQ.TRADE_NOT_EXIST", "交易不存在")
        return self._trade_fields(trade)

    def _close(self, app: App, params: dict, biz: dict, request: Request) -> dict:
        trade = self._find(app, biz)
        if trade is None:
            raise _business("ACQ.TRADE_NOT_EXIST", "交易不存在")
        if trade.status != WAIT_BUYER_PAY:
            raise _business("ACQ.TRADE_STATUS_ERROR", "交易状态不合法")
        self._close_trade(trade)
        return {"code": "10000", "msg": "Success", "trade_no": trade.trade_no,
                "out_trade_no": trade.out_trade_no}

    def _refund(self, app: App, params: dict, biz: dict, request: Request) -> dict:
        refund_fen = self._amount(biz, "refund_amount")
        explicit = bool(biz.get("out_request_no"))
        out_request_no = str(biz.get("out_request_no") or "")
        if explicit and not OUT_REQUEST_NO_RE.match(out_request_no):
            raise _invalid("isv.invalid-parameter", "out_request_no格式错误")
        trade = self._find(app, biz)
        if trade is None:
            raise _business("ACQ.TRADE_NOT_EXIST", "交易不存在")
        out_request_no = out_request_no or trade.out_trade_no
        previous = trade.refund(out_request_no)
        if previous is not None:  # a retry: refunds once, answers fund_change N
            if previous.refund_fen != refund_fen:
                raise _business("ACQ.REFUND_AMT_NOT_EQUAL_TOTAL", "退款金额与原请求不一致")
            return self._refund_answer(trade, previous, fund_change="N")
        if trade.status == TRADE_FINISHED:
            raise _business("ACQ.TRADE_HAS_FINISHED", "交易已完结")
        if trade.status == TRADE_CLOSED:
            raise _business("ACQ.TRADE_HAS_CLOSE", "交易已经关闭")
        if trade.status != TRADE_SUCCESS:
            raise _business("ACQ.TRADE_STATUS_ERROR", "交易状态不合法")
        if not explicit and refund_fen != trade.total_fen:
            raise _business("ACQ.REFUND_AMT_NOT_EQUAL_TOTAL",
                            "部分退款需要传入out_request_no")
        if trade.refunded_fen + refund_fen > trade.total_fen:
            raise _business("ACQ.REASON_TRADE_REFUND_FEE_ERR", "退款金额超限")
        record = RefundRecord(out_request_no=out_request_no, refund_fen=refund_fen,
                              at=self.clock(), reason=str(biz.get("refund_reason") or ""),
                              explicit_request_no=explicit)
        trade.refunds.append(record)
        if trade.refunded_fen == trade.total_fen:
            trade.status, trade.gmt_close = TRADE_CLOSED, record.at
        self._save()
        self._notify(trade, refund=record)
        return self._refund_answer(trade, record, fund_change="Y")

    def _refund_answer(self, trade: Trade, record: RefundRecord, fund_change: str) -> dict:
        return {
            "code": "10000", "msg": "Success",
            "trade_no": trade.trade_no, "out_trade_no": trade.out_trade_no,
            "buyer_logon_id": trade.buyer_logon_id, "fund_change": fund_change,
            "refund_fee": yuan(trade.refunded_fen),
            "gmt_refund_pay": fmt_time(record.at), "buyer_user_id": trade.buyer_id,
            "send_back_fee": yuan(record.refund_fen),
        }

    def _refund_query(self, app: App, params: dict, biz: dict, request: Request) -> dict:
        trade = self._find(app, biz)
        if trade is None:
            raise _business("ACQ.TRADE_NOT_EXIST", "交易不存在")
        out_request_no = str(biz.get("out_request_no") or "")
        if not out_request_no:
            raise _missing("isv.missing-parameter", "缺少out_request_no参数")
        record = trade.refund(out_request_no)
        if record is None:  # 10000 with no refund_status: not refunded
            return {"code": "10000", "msg": "Success"}
        return {
            "code": "10000", "msg": "Success",
            "trade_no": trade.trade_no, "out_trade_no": trade.out_trade_no,
            "out_request_no": record.out_request_no,
            "total_amount": yuan(trade.total_fen), "refund_amount": yuan(record.refund_fen),
            "refund_status": "REFUND_SUCCESS", "gmt_refund_pay": fmt_time(record.at),
        }

    # ------------------------------------------------------------ the buyer's side

    def _trade_by_token(self, token: str) -> Trade | None:
        return next((t for t in self.trades.values() if t.token == token), None)

    def _find_trade(self, out_trade_no: str, app_id: str | None = None) -> Trade:
        matches = [t for (a, o), t in self.trades.items()
                   if o == out_trade_no and (app_id is None or a == app_id)]
        if len(matches) != 1:
            raise KeyError(f"no single trade {out_trade_no!r} (app {app_id!r})")
        return matches[0]

    def _come_into_existence(self, trade: Trade) -> None:
        """The buyer scanned the code / logged in to the cashier."""
        if trade.exists:
            return
        if self.clock() >= trade.expire_at:
            raise _business("ACQ.TRADE_HAS_CLOSE", "二维码已过期")
        trade.exists = True
        trade.gmt_create = self.clock()
        trade.trade_no = beijing(trade.gmt_create).strftime("%Y%m%d") + "22001" + _digits(15)
        trade.buyer_id = "2088" + _digits(12)
        trade.buyer_logon_id = f"138******{_digits(2)}"
        self._save()

    def scan(self, out_trade_no: str, app_id: str | None = None) -> dict:
        """The buyer scans the QR code (or logs in at the page/wap cashier): the trade
        comes into existence, WAIT_BUYER_PAY."""
        with self._lock:
            trade = self._find_trade(out_trade_no, app_id)
            self._come_into_existence(trade)
            return self.trade_info(trade)

    def pay(self, out_trade_no: str, app_id: str | None = None) -> dict:
        """The buyer scans (if needed) and pays: TRADE_SUCCESS, notification sent."""
        with self._lock:
            trade = self._find_trade(out_trade_no, app_id)
            self._pay(trade)
            return self.trade_info(trade)

    def _pay(self, trade: Trade) -> None:
        self._expire_if_due(trade)
        if trade.status != WAIT_BUYER_PAY:
            raise _business("ACQ.TRADE_STATUS_ERROR", "交易状态不合法")
        self._come_into_existence(trade)
        trade.status = TRADE_SUCCESS
        trade.gmt_payment = self.clock()
        self._save()
        self._notify(trade)

    def expire(self, out_trade_no: str, app_id: str | None = None) -> dict:
        """Time runs out now: an existing unpaid trade closes, an unscanned code dies."""
        with self._lock:
            trade = self._find_trade(out_trade_no, app_id)
            trade.expire_at = min(trade.expire_at, self.clock())
            self._expire_if_due(trade)
            self._save()
            return self.trade_info(trade)

    def finish(self, out_trade_no: str, app_id: str | None = None) -> dict:
        """The refund window has passed: TRADE_SUCCESS → TRADE_FINISHED."""
        with self._lock:
            trade = self._find_trade(out_trade_no, app_id)
            if trade.status != TRADE_SUCCESS:
                raise _business("ACQ.TRADE_STATUS_ERROR", "交易状态不合法")
            trade.status = TRADE_FINISHED
            self._save()
            return self.trade_info(trade)

    def trade_info(self, trade: Trade | str, app_id: str | None = None) -> dict:
        with self._lock:
            if isinstance(trade, str):
                trade = self._find_trade(trade, app_id)
            self._expire_if_due(trade)
            data = dataclasses.asdict(trade)
            data["refunded_fen"] = trade.refunded_fen
            data["state"] = trade.status if trade.exists else "NOT_EXIST"
            return data

    def return_params(self, trade: Trade) -> dict[str, str]:
        """The signed parameters appended to return_url after paying at the cashier."""
        params = {
            "charset": "utf-8", "out_trade_no": trade.out_trade_no,
            "method": trade.method + ".return", "total_amount": yuan(trade.total_fen),
            "trade_no": trade.trade_no, "auth_app_id": trade.app_id, "version": "1.0",
            "app_id": trade.app_id, "sign_type": "RSA2", "seller_id": trade.seller_id,
            "timestamp": fmt_time(self.clock()),
        }
        params["sign"] = rsa_sign(self.alipay_key,
                                  sign_content(params, exclude=("sign", "sign_type")).encode())
        return params

    # ------------------------------------------------------------ notifications

    def notification_params(self, trade: Trade, *, refund: RefundRecord | None = None,
                            notify_time: float | None = None) -> dict[str, str]:
        """The unsigned fields of a trade_status_sync notification for the trade now."""
        paid = trade.gmt_payment is not None
        amount = yuan(trade.total_fen)
        params = {
            "notify_time": fmt_time(self.clock() if notify_time is None else notify_time),
            "notify_type": "trade_status_sync",
            "notify_id": uuid.uuid4().hex + _digits(3),
            "app_id": trade.app_id, "auth_app_id": trade.app_id,
            "charset": "utf-8", "version": "1.0", "sign_type": "RSA2",
            "trade_no": trade.trade_no, "out_trade_no": trade.out_trade_no,
            "buyer_id": trade.buyer_id, "buyer_logon_id": trade.buyer_logon_id,
            "seller_id": trade.seller_id, "trade_status": trade.status,
            "total_amount": amount, "receipt_amount": amount if paid else "",
            "invoice_amount": amount if paid else "", "buyer_pay_amount": amount if paid else "",
            "point_amount": "0.00" if paid else "", "subject": trade.subject,
            "body": trade.body,
            "gmt_create": fmt_time(trade.gmt_create) if trade.gmt_create else "",
            "gmt_payment": fmt_time(trade.gmt_payment) if paid else "",
            "gmt_close": fmt_time(trade.gmt_close) if trade.gmt_close else "",
            "passback_params": trade.passback_params,
            "fund_bill_list": json.dumps([{"amount": amount, "fundChannel": "ALIPAYACCOUNT"}],
                                         separators=(",", ":")) if paid else "",
        }
        if refund is not None:
            at = beijing(refund.at)
            params.update(
                refund_fee=yuan(sum(r.refund_fen for r in trade.refunds
                                    if r.at <= refund.at)),
                gmt_refund=at.strftime(TIME_FORMAT) + f".{at.microsecond // 1000:03d}",
                out_biz_no=refund.out_request_no,
            )
        return {k: v for k, v in params.items() if v != ""}

    def sign_notification(self, params: dict[str, str], *, key=None) -> dict[str, str]:
        """Sign with the Alipay key: sorted non-empty fields except sign and sign_type."""
        content = sign_content(params, exclude=("sign", "sign_type"))
        return {**params, "sign": rsa_sign(key or self.alipay_key, content.encode())}

    def _notify(self, trade: Trade, *, refund: RefundRecord | None = None) -> Delivery | None:
        if not trade.notify_url:
            return None
        params = self.sign_notification(self.notification_params(trade, refund=refund))
        return self._submit(trade, urlencode(params).encode(), params)

    def _submit(self, trade: Trade, body: bytes, params: dict[str, str], *,
                genuine: bool = True) -> Delivery:
        delivery = Delivery(
            url=trade.notify_url, body=body,
            headers={"Content-Type": "application/x-www-form-urlencoded; charset=utf-8"},
            is_ack=_ack, schedule=ALIPAY_RETRY_SCHEDULE,
            label=f"alipay {params.get('trade_status', '')} {trade.out_trade_no}",
        )
        with self._lock:
            self.deliveries.append(delivery)
            if genuine:  # what "duplicate" repeats
                self._last_notification[(trade.app_id, trade.out_trade_no)] = body
        self.dispatcher.submit(delivery)
        with self._lock:
            self._delivery_info[delivery.id] = {
                "app_id": trade.app_id, "out_trade_no": trade.out_trade_no,
                "notify_id": params.get("notify_id", ""),
                "trade_status": params.get("trade_status", ""),
                "refund_fee": params.get("refund_fee", ""),
            }
        return delivery

    def send_notification(self, out_trade_no: str, variant: str = "fresh", *,
                          app_id: str | None = None, url: str = "") -> Delivery:
        """Send a notification on demand: ``fresh`` (a new one for the trade as it is),
        ``duplicate`` (the last one again, same notify_id and signature), ``stale``
        (validly signed, notify_time days ago), ``forged`` (signed with another key),
        ``tampered`` (validly signed, then total_amount changed)."""
        with self._lock:
            trade = self._find_trade(out_trade_no, app_id)
            if url:
                trade = dataclasses.replace(trade, notify_url=url)
            if not trade.notify_url:
                raise ValueError("the trade has no notify_url")
            if variant == "duplicate":
                body = self._last_notification.get((trade.app_id, trade.out_trade_no))
                if body is None:
                    raise ValueError("no notification sent yet for this trade")
                return self._submit(trade, body, dict(parse_qsl(body.decode())), genuine=False)
            refund = trade.refunds[-1] if trade.refunds else None
            notify_time = self.clock() - STALE_NOTIFY_AGE if variant == "stale" else None
            params = self.notification_params(trade, refund=refund, notify_time=notify_time)
            if variant in ("fresh", "stale"):
                params = self.sign_notification(params)
            elif variant == "forged":
                params = self.sign_notification(params, key=self._other_key())
            elif variant == "tampered":
                params = self.sign_notification(params)
                params["total_amount"] = yuan(trade.total_fen + 100)
            else:
                raise ValueError(f"unknown notification variant {variant!r}")
            return self._submit(trade, urlencode(params).encode(), params,
                                genuine=variant == "fresh")

    def hold_notifications(self) -> None:
        self.dispatcher.hold()

    def release_notifications(self, order: str = "fifo") -> None:
        """Send what is held, as queued (``fifo``) or newest first (``reverse``)."""
        self.dispatcher.release((lambda items: list(reversed(items)))
                                if order == "reverse" else None)

    def delivery_log(self, out_trade_no: str | None = None) -> list[dict]:
        with self._lock:
            deliveries = list(self.deliveries)
            info = dict(self._delivery_info)
        return [{
            "id": d.id, "label": d.label, "url": d.url, **info.get(d.id, {}),
            "acknowledged": d.acknowledged, "given_up": d.given_up,
            "attempts": [{"at": at, "status": status, "body": body.decode("utf-8", "replace")}
                         for at, status, body in d.attempts],
        } for d in deliveries
            if out_trade_no is None or info.get(d.id, {}).get("out_trade_no") == out_trade_no]

    # ------------------------------------------------------------ faults

    def inject(self, kind: str, count: int = 1, **options) -> None:
        """Fault injection on the next ``count`` server API calls (``method=`` limits it
        to one method): system_error (signed 20000) | http_error (``status``, 502) |
        unsigned | bad_signature | refund_error_after_accept (the refund is applied,
        the answer is ACQ.SYSTEM_ERROR) | latency (``seconds``; ``count=0`` → until
        cleared). Notification faults: ``send_notification`` and hold/release."""
        f = self.faults
        with self._lock:
            if options.get("method"):
                f.only_method = str(options["method"])
            if kind == "latency":
                f.latency = float(options.get("seconds", 1.0))
                f.latency_next = int(count)
            elif kind == "http_error":
                f.http_error_next = int(count)
                f.http_error_status = int(options.get("status", 502))
            elif kind in ("system_error", "unsigned", "bad_signature",
                          "refund_error_after_accept"):
                setattr(f, f"{kind}_next", int(count))
            else:
                raise ValueError(f"unknown fault {kind!r}")

    def clear_faults(self) -> None:
        with self._lock:
            self.faults = Faults()

    def recent_orders(self, limit: int = 50) -> list[dict]:
        """For the simulator's index page (server.py)."""
        with self._lock:
            trades = sorted(self.trades.values(), key=lambda t: t.created, reverse=True)[:limit]
            rows = []
            for t in trades:
                self._expire_if_due(t)
                payable = t.status == WAIT_BUYER_PAY and self.clock() < t.expire_at
                rows.append({
                    "channel": "alipay", "out_trade_no": t.out_trade_no, "app_id": t.app_id,
                    "mode": t.method, "description": t.subject, "total_fen": t.total_fen,
                    "state": t.status if t.exists else "NOT_EXIST", "created": t.created,
                    "transaction_id": t.trade_no, "token": t.token,
                    "link": (self.scan_url(t) if t.method == "alipay.trade.precreate"
                             else self.cashier_url(t)) if payable else "",
                })
            return rows

    # ------------------------------------------------------------ control (JSON)

    def _control(self, request: Request) -> Response:
        """POST merchants {app_id?, seller_id?, notify_url?} · GET trades[?limit] ·
        GET trades/<out_trade_no>[?app_id] · POST scan|pay|expire|finish
        {out_trade_no, app_id?} · POST close {out_trade_no} (as the merchant would) ·
        GET deliveries[?out_trade_no] · POST notify {out_trade_no, variant, url?} ·
        POST notifications/hold · POST notifications/release {order} ·
        GET|POST faults {kind, count, …} · POST faults/clear."""
        path = request.path.removeprefix("/alipay/_sim/").strip("/")
        post = request.method == "POST"
        data = request.json() if post else dict(request.query)
        app_id = data.get("app_id") or None
        if path == "merchants" and post:
            return Response.json(self.provision_merchant(
                data.get("app_id"), data.get("seller_id"), data.get("notify_url", "")))
        if path == "trades":
            return Response.json(self.recent_orders(int(data.get("limit", 50))))
        if path.startswith("trades/"):
            return Response.json(self.trade_info(path.removeprefix("trades/"), app_id))
        if post and path in ("scan", "pay", "expire", "finish"):
            return Response.json(getattr(self, path)(data["out_trade_no"], app_id))
        if post and path == "close":
            with self._lock:
                trade = self._find_trade(data["out_trade_no"], app_id)
                self._expire_if_due(trade)
                if not trade.exists:
                    raise _business("ACQ.TRADE_NOT_EXIST", "交易不存在")
                if trade.status != WAIT_BUYER_PAY:
                    raise _business("ACQ.TRADE_STATUS_ERROR", "交易状态不合法")
                self._close_trade(trade)
                return Response.json(self.trade_info(trade))
        if path == "deliveries":
            return Response.json(self.delivery_log(data.get("out_trade_no")))
        if post and path == "notify":
            delivery = self.send_notification(data["out_trade_no"], data.get("variant", "fresh"),
                                              app_id=app_id, url=data.get("url", ""))
            return Response.json({"id": delivery.id})
        if post and path == "notifications/hold":
            self.hold_notifications()
            return Response.json({"ok": True})
        if post and path == "notifications/release":
            self.release_notifications(data.get("order", "fifo"))
            return Response.json({"ok": True})
        if path == "faults" and post:
            options = {k: v for k, v in data.items() if k not in ("kind", "count")}
            self.inject(data["kind"], int(data.get("count", 1)), **options)
        if path == "faults/clear" and post:
            self.clear_faults()
        if path.startswith("faults"):
            return Response.json(dataclasses.asdict(self.faults))
        return Response.json({"error": "unknown control endpoint"}, 404)

    # ------------------------------------------------------------ pages

    def _browser_pay(self, request: Request, params: dict, method: str) -> Response:
        """page.pay / wap.pay: the browser arrives with the signed request; check it
        and send the buyer on to the cashier."""
        try:
            app, biz = self._authenticate(params)
            with self._lock:
                trade = self._register(app, params, biz, method=method,
                                       product_code=BROWSER_METHODS[method],
                                       default_timeout=DEFAULT_TIMEOUT)
        except AlipayError as exc:
            return Response.html(_page(_("The payment request was refused"), (
                f"<p class=error>{html.escape(exc.sub_msg)}</p>"
                f"<p class=code data-code={html.escape(exc.code)} "
                f"data-sub-code={html.escape(exc.sub_code)}>"
                f"{html.escape(exc.code)} {html.escape(exc.sub_code)}</p>")), 400)
        return Response.redirect(self.cashier_url(trade, request))

    def _page(self, request: Request, kind: str, token: str, action: str | None) -> Response:
        with self._lock:
            trade = self._trade_by_token(token)
            if trade is None or (kind == "scan") != (trade.method == "alipay.trade.precreate"):
                return Response.html(_page(_("Not found"), "<p>{}</p>".format(
                    html.escape(_("Unknown or expired payment link.")))), 404)
            self._expire_if_due(trade)
            message = ""
            if action == "quit" and request.method == "POST" and trade.quit_url:
                return Response.redirect(trade.quit_url)
            if action == "pay" and request.method == "POST":
                try:
                    self._pay(trade)
                except AlipayError as exc:
                    message = exc.sub_msg
                else:
                    if kind == "cashier" and trade.return_url:
                        return Response.redirect(_with_query(trade.return_url,
                                                             self.return_params(trade)))
            elif kind == "scan" and request.method == "GET" and trade.status == WAIT_BUYER_PAY:
                try:  # scanning creates the trade at the gateway
                    self._come_into_existence(trade)
                except AlipayError as exc:
                    message = exc.sub_msg
            return Response.html(self._render(trade, kind, message))

    def _render(self, trade: Trade, kind: str, message: str) -> str:
        esc = html.escape
        title = _("Scan to pay") if kind == "scan" else _("Alipay cashier")
        parts = [
            "<p class=merchant>{} {}</p>".format(esc(_("Payee")), esc(trade.seller_id)),
            f"<p class=desc>{esc(trade.subject)}</p>",
            f"<p class=amount>¥{yuan(trade.total_fen)}</p>",
            "<p class=order>{} {}</p>".format(esc(_("Order number")), esc(trade.out_trade_no)),
        ]
        if message:
            parts.append(f"<p class=error>{esc(message)}</p>")
        base = f"/alipay/{kind}/{trade.token}"
        expired = not trade.exists and self.clock() >= trade.expire_at
        if trade.status == WAIT_BUYER_PAY and not expired:
            if kind == "cashier":
                parts.append("<p class=login>{}: buyer@alipay-sim.example</p>".format(
                    esc(_("Demo buyer account"))))
                label = _("Log in and pay")
            else:
                label = _("Confirm payment")
            parts.append(f'<form method=post action="{base}/pay">'
                         f'<button type=submit class=pay>{esc(label)}</button></form>')
            if kind == "cashier" and trade.quit_url:
                quit_label = esc(_("Give up and return to the merchant"))
                parts.append(f'<form method=post action="{base}/quit"><button type=submit '
                             f"class=quit>{quit_label}</button></form>")
        else:
            if trade.status in (TRADE_SUCCESS, TRADE_FINISHED):
                text = _("Payment successful")
            elif expired:
                text = _("This payment code has expired.")
            else:
                text = _("This trade is closed.")
            parts.append(f"<p class=done data-state={esc(trade.status)}>{esc(text)}</p>")
            if trade.trade_no:
                parts.append("<p class=tid>{} {}</p>".format(
                    esc(_("Alipay trade number")), esc(trade.trade_no)))
            if kind == "cashier" and trade.status == TRADE_SUCCESS and trade.return_url:
                link = _with_query(trade.return_url, self.return_params(trade))
                back = esc(_("Return to the merchant"))
                parts.append(f'<a class=back href="{esc(link)}">{back}</a>')
            elif kind == "scan":
                parts.append("<p class=hint>{}</p>".format(esc(_("You can close this page."))))
        return _page(title, "\n".join(parts))


def _with_query(url: str, params: dict[str, str]) -> str:
    separator = "&" if urlsplit(url).query else ("" if url.endswith("?") else "?")
    return url + separator + urlencode(params)


# ---------------------------------------------------------------- page text

def _(message: str) -> str:
    """gettext in Simplified Chinese (the simulated Alipay speaks Chinese), or the
    English msgid when Django is not set up (the simulator also runs stand-alone)."""
    from django.apps import apps
    from django.conf import settings

    if not (settings.configured and apps.ready):
        return message
    from django.utils import translation

    with translation.override("zh-hans"):
        return translation.gettext(message)


_STYLE = """
body{font-family:system-ui,-apple-system,"PingFang SC","Microsoft YaHei",sans-serif;
margin:0;background:#f5f5f5;color:#111;text-align:center}
.banner{background:#fa9d3b;color:#fff;padding:10px;font-weight:bold;font-size:16px}
main{max-width:480px;margin:0 auto;padding:24px 16px}
h1{font-size:22px;color:#1677ff}
.amount{font-size:44px;font-weight:600;margin:16px 0}
.desc{font-size:18px}.merchant,.order,.tid,.login,.hint{color:#777;font-size:14px}
button{width:100%;font-size:20px;padding:16px;border:0;border-radius:8px;cursor:pointer}
button.pay{background:#1677ff;color:#fff}
button.quit{background:#fff;color:#1677ff;border:1px solid #1677ff;margin-top:16px}
a.back{display:block;margin-top:18px;font-size:18px;color:#1677ff}
.done{font-size:22px;color:#1677ff}.error{color:#ff4d4f}
"""


def _page(title: str, body: str) -> str:
    esc = html.escape
    simulated = esc(_("Simulated payment"))
    banner = esc(_("Simulated payment · no real money (local Alipay simulator)"))
    return (
        "<!doctype html><html lang=zh-CN><head><meta charset=utf-8>"
        '<meta name=viewport content="width=device-width,initial-scale=1">'
        f"<title>{esc(title)} · {simulated}</title>"
        f"<style>{_STYLE}</style></head><body>"
        f"<div class=banner>{banner}</div><main><h1>{esc(title)}</h1>{body}</main></body></html>"
    )
