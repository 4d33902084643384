"""WeChat Pay API v3 simulator (模拟微信支付): a WSGI application speaking the real protocol.

It holds the WeChat Pay platform key pair (public-key mode, ``PUB_KEY_ID_…``) and, per
provisioned merchant, only the merchant's *public* key, so a request signed with any
other key is refused exactly as the real gateway would refuse it (401 SIGN_ERROR).
Every API response is signed with the platform key; notifications are encrypted with
the merchant's APIv3 key (AES-256-GCM) and delivered by ``common.Dispatcher`` on the
real retry schedule. Written on ``cryptography`` only.

Routes:
  /v3/pay/transactions/{native,jsapi,h5}                      create
  /v3/pay/transactions/out-trade-no/{no}?mchid=               query
  /v3/pay/transactions/id/{transaction_id}?mchid=             query
  /v3/pay/transactions/out-trade-no/{no}/close                close (204, signed)
  /v3/refund/domestic/refunds                                 refund
  /v3/refund/domestic/refunds/{out_refund_no}                 query refund
  /wechat/scan/<token>      "scanned the QR code" page (code_url is weixin://…?pr=<token>)
  /wechat/h5/<token>        H5 cashier (``&redirect_url=`` is honoured after paying)
  /wechat/jsapi/<prepay_id> the WeChat-browser payment sheet (``?redirect_url=``)
  /wechat/_sim/…            JSON control for tests and the demo (see ``_control``)
  /connect/oauth2/authorize, /sns/oauth2/access_token
                            official-account web authorization (``wechat_oauth.py``)
"""

from __future__ import annotations

import base64
import dataclasses
import datetime as dt
import html
import ipaddress
import json
import os
import re
import secrets
import string
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote, urlencode, urlsplit

from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from linli.paysim.common import (
    WECHAT_RETRY_SCHEDULE,
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
from linli.paysim.wechat_oauth import USER_COOKIE, WeChatOAuthSim

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
}
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


# ---------------------------------------------------------------- state

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
    state: str = "NOTPAY"     # NOTPAY | SUCCESS | CLOSED  (REFUND is derived)
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


# ---------------------------------------------------------------- the simulator

class WeChatSim:
    def __init__(self, *, state_dir: Path | None = None, dispatcher: Dispatcher | None = None,
                 public_url: str = "", clock: Callable[[], float] = time.time,
                 refund_delay: float | None = 2.0) -> None:
        self.state_dir = Path(state_dir) / "wechat" if state_dir else None
        self.dispatcher = dispatcher or Dispatcher()
        self.public_url = public_url.rstrip("/")
        self.clock = clock
        self.refund_delay = refund_delay  # None: refunds stay PROCESSING until controlled
        self.faults = Faults()
        self.deliveries: list[Delivery] = []
        self._lock = threading.RLock()
        self.merchants: dict[str, Merchant] = {}
        self.orders: dict[tuple[str, str], Order] = {}
        self.refunds: dict[tuple[str, str], Refund] = {}
        self.oauth_apps: dict[str, str] = {}  # official-account app id → AppSecret
        self._platform_key = None
        self.platform_key_id = ""
        self._load()
        self.oauth = WeChatOAuthSim(self)

    # ------------------------------------------------------------ keys and persistence

    def _load(self) -> None:
        if self.state_dir and (self.state_dir / "platform_key.pem").exists():
            self._platform_key = load_private((self.state_dir / "platform_key.pem").read_text())
            state = json.loads((self.state_dir / "state.json").read_text())
            self.platform_key_id = state["platform_key_id"]
            self.merchants = {m["mchid"]: Merchant(**m) for m in state["merchants"]}
            for o in state.get("orders", []):
                order = Order(**o)
                self.orders[(order.mchid, order.out_trade_no)] = order
            for r in state.get("refunds", []):
                refund = Refund(**r)
                self.refunds[(refund.mchid, refund.out_refund_no)] = refund
            self.oauth_apps = dict(state.get("oauth_apps", {}))
            return
        self._platform_key = rsa_generate()
        self.platform_key_id = "PUB_KEY_ID_" + "0116" + _digits(24)
        if self.state_dir:
            self.state_dir.mkdir(parents=True, exist_ok=True)
            path = self.state_dir / "platform_key.pem"
            path.write_text(private_pem(self._platform_key))
            os.chmod(path, 0o600)
        self._save()

    def _save(self) -> None:
        if not self.state_dir:
            return
        with self._lock:
            state = {
                "platform_key_id": self.platform_key_id,
                "merchants": [dataclasses.asdict(m) for m in self.merchants.values()],
                "orders": [dataclasses.asdict(o) for o in self.orders.values()],
                "refunds": [dataclasses.asdict(r) for r in self.refunds.values()],
                "oauth_apps": self.oauth_apps,
            }
            tmp = self.state_dir / "state.json.tmp"
            tmp.write_text(json.dumps(state, ensure_ascii=False, indent=1))
            tmp.replace(self.state_dir / "state.json")

    @property
    def platform_public_key_pem(self) -> str:
        return public_pem(self._platform_key)

    def provision_merchant(self, mchid: str | None = None, appid: str | None = None,
                           notify_url: str = "") -> dict:
        """Open a merchant account. Returns the fields of ``MerchantConfig`` (channel
        "wechat"); the merchant's private key is handed out here and not kept."""
        key = rsa_generate()
        merchant = Merchant(
            mchid=mchid or "16" + _digits(8),
            appid=appid or "wx" + secrets.token_hex(8),
            serial=secrets.token_hex(20).upper(),
            public_key_pem=public_pem(key),
            api_v3_key=_alnum(32),
            notify_url=notify_url,
        )
        with self._lock:
            self.merchants[merchant.mchid] = merchant
            self._save()
        return {
            "channel": "wechat",
            "app_id": merchant.appid,
            "merchant_id": merchant.mchid,
            "private_key_pem": private_pem(key),
            "merchant_serial": merchant.serial,
            "platform_public_key_pem": self.platform_public_key_pem,
            "platform_public_key_id": self.platform_key_id,
            "api_v3_key": merchant.api_v3_key,
            "gateway_url": self.public_url,
            "notify_url": notify_url,
        }

    def register_oauth_app(self, appid: str, secret: str | None = None) -> str:
        """Register (or re-key) the official account ``appid`` for web authorization;
        returns its AppSecret (a new one when ``secret`` is None and it is unknown)."""
        with self._lock:
            if secret is None:
                secret = self.oauth_apps.get(appid) or secrets.token_hex(16)
            if self.oauth_apps.get(appid) != secret:
                self.oauth_apps[appid] = secret
                self._save()
        return secret

    # ------------------------------------------------------------ signing

    def sign_headers(self, body: bytes, *, timestamp: int | None = None,
                     serial: str | None = None) -> dict[str, str]:
        ts = str(int(self.clock()) if timestamp is None else timestamp)
        nonce = secrets.token_hex(16).upper()
        message = f"{ts}\n{nonce}\n".encode() + body + b"\n"
        return {
            "Wechatpay-Timestamp": ts,
            "Wechatpay-Nonce": nonce,
            "Wechatpay-Serial": serial or self.platform_key_id,
            "Wechatpay-Signature": rsa_sign(self._platform_key, message),
            "Wechatpay-Signature-Type": SIGNATURE_TYPE,
        }

    def _other_key_id(self) -> str:
        return "PUB_KEY_ID_" + "0116" + _digits(24)

    def _sign_response(self, response: Response) -> Response:
        f = self.faults
        with self._lock:
            if 200 <= response.status < 300 and f.unsigned_next > 0:
                f.unsigned_next -= 1
                return response
            serial = timestamp = None
            if f.wrong_serial_next > 0:
                f.wrong_serial_next -= 1
                serial = self._other_key_id()
            if f.stale_next > 0:
                f.stale_next -= 1
                timestamp = int(self.clock()) - 2 * TIMESTAMP_WINDOW
        response.headers.extend(
            self.sign_headers(response.body, timestamp=timestamp, serial=serial).items())
        response.headers.append(("Request-ID", uuid.uuid4().hex))
        return response

    # ------------------------------------------------------------ WSGI

    def __call__(self, environ, start_response):
        request = Request.from_environ(environ)
        return self.handle(request)(environ, start_response)

    def handle(self, request: Request) -> Response:
        if request.path.startswith("/v3/"):
            return self._api(request)
        if request.path.startswith("/wechat/_sim/"):
            try:
                return self._control(request)
            except (KeyError, ValueError, TypeError) as exc:
                return Response.json({"error": str(exc)}, 400)
        if request.path.startswith("/wechat/"):
            return self._page(request)
        if request.path.startswith(("/connect/", "/sns/")):
            return self.oauth.handle(request)
        return Response.json({"code": "NOT_FOUND", "message": "无此资源"}, 404)

    def _base_url(self, request: Request) -> str:
        return self.public_url or f"http://{request.headers.get('host', '127.0.0.1')}"

    # ------------------------------------------------------------ API

    def _api(self, request: Request) -> Response:
        f = self.faults
        if f.latency:
            time.sleep(f.latency)
        with self._lock:
            failing = f.error_next > 0
            if failing:
                f.error_next -= 1
        if failing:
            return Response.json({"code": "SYSTEM_ERROR", "message": "系统错误"}, f.error_status)
        try:
            merchant = self._authenticate(request)
            status, data = self._route(request, merchant)
        except ApiError as exc:
            status, data = exc.status, {"code": exc.code, "message": exc.message}
        if (request.method == "POST" and request.path == "/v3/refund/domestic/refunds"
                and status == 200 and self._take_refund_error_after_accept()):
            return Response.json({"code": "SYSTEM_ERROR", "message": "系统错误"}, 500)
        response = Response(status) if data is None else Response.json(data, status)
        return self._sign_response(response)

    def _take_refund_error_after_accept(self) -> bool:
        with self._lock:
            if self.faults.refund_error_after_accept_next > 0:
                self.faults.refund_error_after_accept_next -= 1
                return True
        return False

    def _authenticate(self, request: Request) -> Merchant:
        auth = request.headers.get("authorization", "")
        scheme, _, params = auth.partition(" ")
        if scheme != SIGNATURE_TYPE:
            raise ApiError(401, "SIGN_ERROR", "错误的签名类型或缺少Authorization")
        fields = dict(AUTH_RE.findall(params))
        missing = {"mchid", "nonce_str", "timestamp", "serial_no", "signature"} - fields.keys()
        if missing:
            raise ApiError(401, "SIGN_ERROR", f"Authorization缺少参数：{','.join(sorted(missing))}")
        merchant = self.merchants.get(fields["mchid"])
        if merchant is None:
            raise ApiError(401, "SIGN_ERROR", "商户号不存在")
        if fields["serial_no"].upper() != merchant.serial:
            raise ApiError(401, "SIGN_ERROR", "商户证书序列号有误")
        try:
            timestamp = int(fields["timestamp"])
        except ValueError:
            raise ApiError(401, "SIGN_ERROR", "时间戳格式错误") from None
        if abs(self.clock() - timestamp) > TIMESTAMP_WINDOW:
            raise ApiError(401, "SIGN_ERROR", "请求的时间戳已过期或超前")
        target = request.path + (f"?{request.query_string}" if request.query_string else "")
        message = (f"{request.method}\n{target}\n{fields['timestamp']}\n"
                   f"{fields['nonce_str']}\n").encode() + request.body + b"\n"
        if not rsa_verify(load_public(merchant.public_key_pem), message, fields["signature"]):
            raise ApiError(401, "SIGN_ERROR", "签名错误")
        # The request names the platform key it expects responses signed with.
        wanted = request.headers.get("wechatpay-serial")
        if wanted and wanted != self.platform_key_id:
            raise ApiError(400, "PARAM_ERROR", "Wechatpay-Serial对应的微信支付公钥不存在")
        return merchant

    def _route(self, request: Request, merchant: Merchant) -> tuple[int, dict | None]:
        method, path = request.method, request.path
        m = re.fullmatch(r"/v3/pay/transactions/(native|jsapi|h5)", path)
        if m and method == "POST":
            return 200, self._create(merchant, m.group(1), self._json(request), request)
        m = re.fullmatch(r"/v3/pay/transactions/out-trade-no/([^/]+)", path)
        if m and method == "GET":
            self._check_query_mchid(request, merchant)
            return 200, self._transaction(self._order(merchant, m.group(1)))
        m = re.fullmatch(r"/v3/pay/transactions/id/([^/]+)", path)
        if m and method == "GET":
            self._check_query_mchid(request, merchant)
            order = next((o for o in self.orders.values()
                          if o.mchid == merchant.mchid and o.transaction_id == m.group(1)), None)
            if order is None:
                raise ApiError(404, "ORDER_NOT_EXIST", "订单不存在")
            return 200, self._transaction(order)
        m = re.fullmatch(r"/v3/pay/transactions/out-trade-no/([^/]+)/close", path)
        if m and method == "POST":
            body = self._json(request)
            if body.get("mchid") != merchant.mchid:
                raise ApiError(400, "PARAM_ERROR", "mchid与发起调用的商户号不一致")
            self._close(self._order(merchant, m.group(1)))
            return 204, None
        if path == "/v3/refund/domestic/refunds" and method == "POST":
            return 200, self._refund(merchant, self._json(request))
        m = re.fullmatch(r"/v3/refund/domestic/refunds/([^/]+)", path)
        if m and method == "GET":
            refund = self.refunds.get((merchant.mchid, m.group(1)))
            if refund is None:
                raise ApiError(404, "RESOURCE_NOT_EXISTS", "退款单不存在")
            self._settle_if_due(refund)
            return 200, self._refund_object(refund)
        if path == "/v3/certificates":
            # Public-key-only merchants have no platform certificate (as for real
            # merchants opened since 2024-09).
            raise ApiError(404, "RESOURCE_NOT_EXISTS", "无可用的平台证书，请使用微信支付公钥验签")
        raise ApiError(404, "NOT_FOUND", "无此接口")

    @staticmethod
    def _json(request: Request) -> dict:
        try:
            data = json.loads(request.body.decode("utf-8"))
        except (UnicodeDecodeError, ValueError):
            raise ApiError(400, "PARAM_ERROR", "请求体不是有效的JSON") from None
        if not isinstance(data, dict):
            raise ApiError(400, "PARAM_ERROR", "请求体必须是JSON对象")
        return data

    @staticmethod
    def _check_query_mchid(request: Request, merchant: Merchant) -> None:
        if request.query.get("mchid") != merchant.mchid:
            raise ApiError(400, "PARAM_ERROR", "mchid与发起调用的商户号不一致")

    def _order(self, merchant: Merchant, out_trade_no: str) -> Order:
        order = self.orders.get((merchant.mchid, out_trade_no))
        if order is None:
            raise ApiError(404, "ORDER_NOT_EXIST", "订单不存在")
        self._expire_if_due(order)
        return order

    def _expire_if_due(self, order: Order) -> None:
        if order.state == "NOTPAY" and self.clock() >= order.expires:
            order.state = "CLOSED"
            self._save()

    # ------------------------------------------------------------ create

    def _validate_notify_url(self, url) -> str:
        if not isinstance(url, str) or not url or len(url) > 255:
            raise ApiError(400, "PARAM_ERROR", "notify_url格式错误")
        parts = urlsplit(url)
        if parts.query or parts.fragment:
            raise ApiError(400, "PARAM_ERROR", "notify_url不能携带参数")
        if parts.scheme == "https" and parts.hostname:
            return url
        if parts.scheme == "http" and parts.hostname and _is_local_host(parts.hostname):
            return url
        raise ApiError(400, "PARAM_ERROR", "notify_url必须是https地址")

    def _create(self, merchant: Merchant, mode: str, body: dict, request: Request) -> dict:
        def param_error(message: str):
            raise ApiError(400, "PARAM_ERROR", message)

        if body.get("mchid") != merchant.mchid:
            param_error("mchid与发起调用的商户号不一致")
        appid = body.get("appid")
        if appid != merchant.appid:
            param_error("appid和mch_id不匹配")
        description = body.get("description")
        if not isinstance(description, str) or not description or len(description) > 127:
            param_error("description长度应为1-127个字符")
        out_trade_no = body.get("out_trade_no")
        if not isinstance(out_trade_no, str) or not OUT_TRADE_NO_RE.match(out_trade_no):
            param_error("out_trade_no应为6-32位数字、大小写字母或_-|*")
        amount = body.get("amount")
        if not isinstance(amount, dict):
            param_error("缺少amount")
        total = amount.get("total")
        if type(total) is not int or total <= 0:
            param_error("amount.total必须是大于0的整数（单位：分）")
        if amount.get("currency", "CNY") != "CNY":
            param_error("amount.currency仅支持CNY")
        notify_url = self._validate_notify_url(body.get("notify_url"))
        attach = body.get("attach", "")
        if not isinstance(attach, str) or len(attach) > 128:
            param_error("attach长度不能超过128个字符")
        now = self.clock()
        expires = now + DEFAULT_EXPIRY
        if body.get("time_expire") is not None:
            try:
                parsed = dt.datetime.fromisoformat(body["time_expire"])
            except (TypeError, ValueError):
                parsed = None
            if parsed is None or parsed.tzinfo is None:
                param_error("time_expire应为RFC 3339格式，如2018-06-08T10:34:56+08:00")
            expires = parsed.timestamp()
            if expires <= now:
                param_error("time_expire已过期")
        openid = ""
        payer_ip = ""
        if mode == "jsapi":
            payer = body.get("payer")
            openid = payer.get("openid") if isinstance(payer, dict) else None
            if not isinstance(openid, str) or not openid:
                param_error("JSAPI下单必须传payer.openid")
        if mode == "h5":
            scene = body.get("scene_info")
            h5_info = scene.get("h5_info") if isinstance(scene, dict) else None
            if not (isinstance(scene, dict) and scene.get("payer_client_ip")
                    and isinstance(h5_info, dict) and h5_info.get("type")):
                param_error("H5下单必须传scene_info.payer_client_ip和scene_info.h5_info.type")
            payer_ip = str(scene["payer_client_ip"])
        fingerprint = json.dumps([mode, appid, description, total, notify_url, attach,
                                  body.get("time_expire"), openid], ensure_ascii=False)
        with self._lock:
            order = self.orders.get((merchant.mchid, out_trade_no))
            if order is not None:
                self._expire_if_due(order)
                if order.state == "SUCCESS":
                    raise ApiError(400, "ORDERPAID", "该订单已支付")
                if order.state != "NOTPAY" or order.fingerprint != fingerprint:
                    raise ApiError(400, "OUT_TRADE_NO_USED", "商户订单号重复")
            else:
                order = Order(
                    mchid=merchant.mchid, appid=appid, out_trade_no=out_trade_no, mode=mode,
                    description=description, total=total, notify_url=notify_url,
                    created=now, expires=expires, token=secrets.token_urlsafe(12),
                    prepay_id="wx" + dt.datetime.fromtimestamp(now, CST).strftime(
                        "%d%H%M%S") + secrets.token_hex(13),
                    attach=attach, payer_openid=openid, payer_ip=payer_ip,
                    fingerprint=fingerprint,
                )
                self.orders[(merchant.mchid, out_trade_no)] = order
                self._save()
        if mode == "native":
            return {"code_url": f"weixin://wxpay/bizpayurl?pr={order.token}"}
        if mode == "jsapi":
            return {"prepay_id": order.prepay_id}
        return {"h5_url": f"{self._base_url(request)}/wechat/h5/{order.token}"
                          f"?prepay_id={order.prepay_id}&package={_digits(10)}"}

    # ------------------------------------------------------------ query / close

    def _refunds_of(self, order: Order) -> list[Refund]:
        return [r for r in self.refunds.values()
                if r.mchid == order.mchid and r.out_trade_no == order.out_trade_no]

    def trade_state(self, order: Order) -> str:
        if order.state == "SUCCESS" and any(r.status != "CLOSED" for r in self._refunds_of(order)):
            return "REFUND"
        return order.state

    def _transaction(self, order: Order) -> dict:
        state = self.trade_state(order)
        data = {
            "appid": order.appid,
            "mchid": order.mchid,
            "out_trade_no": order.out_trade_no,
            "trade_state": state,
            "trade_state_desc": TRADE_STATE_DESC[state],
            "attach": order.attach,
            "amount": {"total": order.total, "currency": "CNY", "payer_currency": "CNY"},
        }
        if order.transaction_id:
            data.update({
                "transaction_id": order.transaction_id,
                "trade_type": TRADE_TYPE[order.mode],
                "bank_type": "OTHERS",
                "success_time": rfc3339(order.success_time),
                "payer": {"openid": order.payer_openid},
                "amount": {"total": order.total, "payer_total": order.total,
                           "currency": "CNY", "payer_currency": "CNY"},
            })
        return data

    def _close(self, order: Order) -> None:
        with self._lock:
            if order.state == "SUCCESS":
                raise ApiError(400, "ORDERPAID", "订单已支付")
            if order.state == "NOTPAY":
                order.state = "CLOSED"
                self._save()

    # ------------------------------------------------------------ paying

    def pay(self, out_trade_no: str, mchid: str | None = None, *, openid: str = "") -> dict:
        """The payer confirms (the pages call this; so can tests). Returns the query
        result; raises ``ApiError`` if the order cannot be paid."""
        with self._lock:
            order = self._find_order(out_trade_no, mchid)
            self._expire_if_due(order)
            if order.state == "SUCCESS":
                raise ApiError(400, "ORDERPAID", "该订单已支付")
            if order.state != "NOTPAY":
                raise ApiError(400, "ORDER_CLOSED", "订单已关闭或已过期，无法支付")
            now = self.clock()
            order.state = "SUCCESS"
            order.success_time = now
            order.transaction_id = ("42000" + _digits(5)
                                    + dt.datetime.fromtimestamp(now, CST).strftime("%Y%m%d")
                                    + _digits(10))
            order.payer_openid = order.payer_openid or openid or "o" + _alnum(27)
            self._save()
            data = self._transaction(order)
        self._notify(order.mchid, order.notify_url, "TRANSACTION.SUCCESS", "支付成功",
                     "transaction", data, label=order.out_trade_no)
        return data

    def _find_order(self, out_trade_no: str, mchid: str | None = None) -> Order:
        for (m, no), order in self.orders.items():
            if no == out_trade_no and (mchid is None or m == mchid):
                return order
        raise ApiError(404, "ORDER_NOT_EXIST", "订单不存在")

    def _order_by_token(self, token: str) -> Order | None:
        return next((o for o in self.orders.values()
                     if token in (o.token, o.prepay_id)), None)

    def expire(self, out_trade_no: str, mchid: str | None = None) -> None:
        """Make an unpaid order's time_expire pass now (tests, the demo)."""
        with self._lock:
            order = self._find_order(out_trade_no, mchid)
            order.expires = min(order.expires, self.clock())
            self._expire_if_due(order)

    # ------------------------------------------------------------ refunds

    def _refund(self, merchant: Merchant, body: dict) -> dict:
        out_refund_no = body.get("out_refund_no")
        if not isinstance(out_refund_no, str) or not OUT_REFUND_NO_RE.match(out_refund_no):
            raise ApiError(400, "PARAM_ERROR", "out_refund_no应为1-64位数字、大小写字母或_-|*@")
        amount = body.get("amount")
        if not isinstance(amount, dict):
            raise ApiError(400, "PARAM_ERROR", "缺少amount")
        refund_fen, total = amount.get("refund"), amount.get("total")
        if type(refund_fen) is not int or refund_fen <= 0 or type(total) is not int:
            raise ApiError(400, "PARAM_ERROR", "amount.refund和amount.total必须是整数（单位：分）")
        if amount.get("currency") != "CNY":
            raise ApiError(400, "PARAM_ERROR", "amount.currency必须为CNY")
        reason = body.get("reason", "") or ""
        if not isinstance(reason, str) or len(reason) > 80:
            raise ApiError(400, "PARAM_ERROR", "reason长度不能超过80个字符")
        notify_url = body.get("notify_url")
        if notify_url is not None:
            notify_url = self._validate_notify_url(notify_url)
        with self._lock:
            if body.get("transaction_id"):
                order = next((o for o in self.orders.values()
                              if o.mchid == merchant.mchid
                              and o.transaction_id == body["transaction_id"]), None)
            elif body.get("out_trade_no"):
                order = self.orders.get((merchant.mchid, body["out_trade_no"]))
            else:
                raise ApiError(400, "PARAM_ERROR", "transaction_id和out_trade_no必须二选一")
            if order is None:
                raise ApiError(404, "RESOURCE_NOT_EXISTS", "订单不存在")
            existing = self.refunds.get((merchant.mchid, out_refund_no))
            if existing is not None:
                if (existing.out_trade_no != order.out_trade_no or existing.refund != refund_fen
                        or existing.total != total):
                    raise ApiError(400, "INVALID_REQUEST", "同一退款单号多次请求，但参数不一致")
                self._settle_if_due(existing)
                return self._refund_object(existing)
            if order.state != "SUCCESS":
                raise ApiError(400, "INVALID_REQUEST", "订单未支付，不能退款")
            if total != order.total:
                raise ApiError(400, "INVALID_REQUEST", "订单金额与原订单不一致")
            if self.clock() - order.success_time > 365 * 24 * 3600:
                raise ApiError(400, "INVALID_REQUEST", "订单已超过退款期限")
            live = [r for r in self._refunds_of(order) if r.status != "CLOSED"]
            if len(self._refunds_of(order)) >= MAX_REFUNDS_PER_ORDER:
                raise ApiError(400, "INVALID_REQUEST", "订单已退款次数超过50次，不能再退款")
            if sum(r.refund for r in live) + refund_fen > order.total:
                raise ApiError(400, "INVALID_REQUEST", "申请退款金额超过订单可退金额")
            if self.faults.refund_not_enough_next > 0:
                self.faults.refund_not_enough_next -= 1
                raise ApiError(403, "NOT_ENOUGH", "基本账户余额不足，请充值后重新发起")
            refund = Refund(
                mchid=merchant.mchid, out_trade_no=order.out_trade_no,
                transaction_id=order.transaction_id, out_refund_no=out_refund_no,
                refund_id="50" + _digits(27), refund=refund_fen, total=total, reason=reason,
                notify_url=notify_url or order.notify_url or merchant.notify_url,
                created=self.clock(),
            )
            self.refunds[(merchant.mchid, out_refund_no)] = refund
            self._save()
        if self.refund_delay is not None:
            timer = threading.Timer(self.refund_delay + 0.05, self._settle_if_due, (refund,))
            timer.daemon = True
            timer.start()
        return self._refund_object(refund)

    def _refund_object(self, refund: Refund) -> dict:
        data = {
            "refund_id": refund.refund_id,
            "out_refund_no": refund.out_refund_no,
            "transaction_id": refund.transaction_id,
            "out_trade_no": refund.out_trade_no,
            "channel": "ORIGINAL",
            "user_received_account": "支付用户零钱",
            "create_time": rfc3339(refund.created),
            "status": refund.status,
            "funds_account": "AVAILABLE",
            "amount": {"total": refund.total, "refund": refund.refund,
                       "payer_total": refund.total, "payer_refund": refund.refund,
                       "settlement_total": refund.total, "settlement_refund": refund.refund,
                       "discount_refund": 0, "currency": "CNY", "refund_fee": 0},
        }
        if refund.status == "SUCCESS":
            data["success_time"] = rfc3339(refund.success_time)
        return data

    def _settle_if_due(self, refund: Refund) -> None:
        if (refund.status == "PROCESSING" and self.refund_delay is not None
                and self.clock() >= refund.created + self.refund_delay):
            self.set_refund_status(refund.out_refund_no, "SUCCESS", refund.mchid)

    def set_refund_status(self, out_refund_no: str, status: str,
                          mchid: str | None = None) -> dict:
        """Move a refund to SUCCESS / ABNORMAL / CLOSED and notify (control)."""
        if status not in REFUND_EVENTS:
            raise ValueError(f"unknown refund status {status!r}")
        with self._lock:
            refund = next((r for (m, no), r in self.refunds.items()
                           if no == out_refund_no and (mchid is None or m == mchid)), None)
            if refund is None:
                raise KeyError(out_refund_no)
            if refund.status == status or refund.status in ("SUCCESS", "CLOSED"):
                return self._refund_object(refund)  # final states stay final
            refund.status = status
            if status == "SUCCESS":
                refund.success_time = self.clock()
            self._save()
            data = self._refund_object(refund)
        event, summary = REFUND_EVENTS[status]
        plaintext = {
            "mchid": refund.mchid, "out_trade_no": refund.out_trade_no,
            "transaction_id": refund.transaction_id, "out_refund_no": refund.out_refund_no,
            "refund_id": refund.refund_id, "refund_status": refund.status,
            "user_received_account": "支付用户零钱",
            "amount": {"total": refund.total, "refund": refund.refund,
                       "payer_total": refund.total, "payer_refund": refund.refund},
        }
        if refund.status == "SUCCESS":
            plaintext["success_time"] = rfc3339(refund.success_time)
        self._notify(refund.mchid, refund.notify_url, event, summary, "refund", plaintext,
                     label=refund.out_refund_no)
        return data

    # ------------------------------------------------------------ notifications

    def notification_body(self, mchid: str, event_type: str, summary: str,
                          original_type: str, plaintext: dict) -> bytes:
        merchant = self.merchants[mchid]
        nonce = _alnum(12)
        ciphertext = AESGCM(merchant.api_v3_key.encode()).encrypt(
            nonce.encode(),
            json.dumps(plaintext, ensure_ascii=False, separators=(",", ":")).encode(),
            original_type.encode())
        body = {
            "id": str(uuid.uuid4()),
            "create_time": rfc3339(self.clock()),
            "resource_type": "encrypt-resource",
            "event_type": event_type,
            "summary": summary,
            "resource": {
                "original_type": original_type,
                "algorithm": "AEAD_AES_256_GCM",
                "ciphertext": base64.b64encode(ciphertext).decode(),
                "associated_data": original_type,
                "nonce": nonce,
            },
        }
        return json.dumps(body, ensure_ascii=False, separators=(",", ":")).encode()

    def _notify(self, mchid: str, url: str, event_type: str, summary: str,
                original_type: str, plaintext: dict, *, label: str) -> list[Delivery]:
        url = url or self.merchants[mchid].notify_url
        if not url:
            return []
        body = self.notification_body(mchid, event_type, summary, original_type, plaintext)
        f = self.faults
        with self._lock:
            copies = 1
            if f.notify_duplicate_next > 0:
                f.notify_duplicate_next -= 1
                copies = 2
            serial = timestamp = None
            bad_signature = False
            if f.notify_wrong_serial_next > 0:
                f.notify_wrong_serial_next -= 1
                serial = self._other_key_id()
            if f.notify_stale_next > 0:
                f.notify_stale_next -= 1
                timestamp = int(self.clock()) - 2 * TIMESTAMP_WINDOW
            if f.notify_bad_signature_next > 0:
                f.notify_bad_signature_next -= 1
                bad_signature = True

        def signer(payload: bytes) -> dict[str, str]:
            headers = self.sign_headers(payload, serial=serial, timestamp=timestamp)
            if bad_signature:
                forged = bytearray(base64.b64decode(headers["Wechatpay-Signature"]))
                forged[0] ^= 0xFF
                headers["Wechatpay-Signature"] = base64.b64encode(bytes(forged)).decode()
            return {"Content-Type": "application/json", "User-Agent": "Mozilla/4.0", **headers}

        return [self._submit(url, body, signer, f"{event_type} {label}") for _ in range(copies)]

    def _submit(self, url: str, body: bytes, signer, label: str) -> Delivery:
        delivery = _SignedDelivery(url=url, body=body, headers={},
                                   is_ack=lambda status, _body: status in (200, 204),
                                   schedule=WECHAT_RETRY_SCHEDULE, label=label)
        delivery.signer = signer
        with self._lock:
            self.deliveries.append(delivery)
        return self.dispatcher.submit(delivery)

    def send_signtest_probe(self, mchid: str, url: str = "") -> Delivery:
        """WeChat's probe traffic: a notification signed ``WECHATPAY/SIGNTEST/…`` that a
        receiver must refuse."""
        url = url or self.merchants[mchid].notify_url
        body = self.notification_body(mchid, "TRANSACTION.SUCCESS", "支付成功", "transaction",
                                      {"probe": True})

        def signer(payload: bytes) -> dict[str, str]:
            headers = self.sign_headers(payload)
            headers["Wechatpay-Signature"] = "WECHATPAY/SIGNTEST/" + base64.b64encode(
                secrets.token_bytes(64)).decode()
            return {"Content-Type": "application/json", **headers}

        return self._submit(url, body, signer, "SIGNTEST")

    def hold_notifications(self) -> None:
        self.dispatcher.hold()

    def release_notifications(self, order: str = "fifo") -> None:
        """Send what is held, as queued (``fifo``) or newest first (``reverse``)."""
        self.dispatcher.release((lambda items: list(reversed(items)))
                                if order == "reverse" else None)

    def inject(self, kind: str, count: int = 1, **options) -> None:
        """Fault injection: kind is error | unsigned | wrong_serial | stale_timestamp |
        notify_wrong_serial | notify_stale_timestamp | notify_bad_signature |
        notify_duplicate | refund_not_enough | refund_error_after_accept (the refund is
        applied, the answer is a 500) (next ``count``), or latency (``seconds``)."""
        f = self.faults
        with self._lock:
            if kind == "latency":
                f.latency = float(options.get("seconds", count))
            elif kind == "error":
                f.error_next, f.error_status = count, int(options.get("status", 500))
            else:
                attr = {
                    "unsigned": "unsigned_next", "wrong_serial": "wrong_serial_next",
                    "stale_timestamp": "stale_next",
                    "notify_wrong_serial": "notify_wrong_serial_next",
                    "notify_stale_timestamp": "notify_stale_next",
                    "notify_bad_signature": "notify_bad_signature_next",
                    "notify_duplicate": "notify_duplicate_next",
                    "refund_not_enough": "refund_not_enough_next",
                    "refund_error_after_accept": "refund_error_after_accept_next",
                }.get(kind)
                if attr is None:
                    raise ValueError(f"unknown fault {kind!r}")
                setattr(f, attr, count)

    def clear_faults(self) -> None:
        with self._lock:
            self.faults = Faults()

    def delivery_log(self) -> list[dict]:
        with self._lock:
            deliveries = list(self.deliveries)
        return [{
            "id": d.id, "label": d.label, "url": d.url,
            "acknowledged": d.acknowledged, "given_up": d.given_up,
            "attempts": [{"at": at, "status": status, "body": body.decode("utf-8", "replace")}
                         for at, status, body in d.attempts],
        } for d in deliveries]

    def recent_orders(self, limit: int = 50) -> list[dict]:
        with self._lock:
            orders = sorted(self.orders.values(), key=lambda o: o.created, reverse=True)[:limit]
            for o in orders:
                self._expire_if_due(o)
            return [{"channel": "wechat", "out_trade_no": o.out_trade_no, "mchid": o.mchid,
                     "mode": o.mode, "description": o.description, "total_fen": o.total,
                     "state": self.trade_state(o), "created": o.created,
                     "transaction_id": o.transaction_id, "token": o.token,
                     "prepay_id": o.prepay_id, "link": self.page_url(o)
                     if self.trade_state(o) == "NOTPAY" else ""} for o in orders]

    def page_url(self, order: Order) -> str:
        """Where a payer confirms this order (scan page, H5 cashier or JSAPI sheet)."""
        if order.mode == "jsapi":
            return f"{self.public_url}/wechat/jsapi/{order.prepay_id}"
        return f"{self.public_url}/wechat/{'scan' if order.mode == 'native' else 'h5'}/" \
               f"{order.token}"

    # ------------------------------------------------------------ control (JSON)

    def _control(self, request: Request) -> Response:
        path = request.path.removeprefix("/wechat/_sim/").strip("/")
        data = request.json() if request.method == "POST" else dict(request.query)
        if path == "merchants" and request.method == "POST":
            return Response.json(self.provision_merchant(
                data.get("mchid"), data.get("appid"), data.get("notify_url", "")))
        if path == "orders":
            return Response.json(self.recent_orders(int(data.get("limit", 50))))
        if path == "oauth-apps" and request.method == "POST":
            appid = data["appid"]
            return Response.json({"appid": appid,
                                  "secret": self.register_oauth_app(appid, data.get("secret"))})
        if path == "pay" and request.method == "POST":
            try:
                return Response.json(self.pay(data["out_trade_no"], data.get("mchid"),
                                              openid=data.get("openid", "")))
            except ApiError as exc:
                return Response.json({"code": exc.code, "message": exc.message}, exc.status)
        if path == "expire" and request.method == "POST":
            self.expire(data["out_trade_no"], data.get("mchid"))
            return Response.json({"ok": True})
        m = re.fullmatch(r"refunds/([^/]+)/(success|abnormal|closed)", path)
        if m and request.method == "POST":
            return Response.json(self.set_refund_status(m.group(1), m.group(2).upper(),
                                                        data.get("mchid")))
        if path == "deliveries":
            return Response.json(self.delivery_log())
        if path == "faults" and request.method == "POST":
            options = {k: v for k, v in data.items() if k not in ("kind", "count")}
            self.inject(data["kind"], int(data.get("count", 1)), **options)
            return Response.json(dataclasses.asdict(self.faults))
        if path == "faults":
            return Response.json(dataclasses.asdict(self.faults))
        if path == "faults/clear" and request.method == "POST":
            self.clear_faults()
            return Response.json({"ok": True})
        if path == "notifications/hold" and request.method == "POST":
            self.hold_notifications()
            return Response.json({"ok": True})
        if path == "notifications/release" and request.method == "POST":
            self.release_notifications(data.get("order", "fifo"))
            return Response.json({"ok": True})
        if path == "probe" and request.method == "POST":
            delivery = self.send_signtest_probe(data["mchid"], data.get("url", ""))
            return Response.json({"id": delivery.id})
        if path == "settings" and request.method == "POST":
            if "refund_delay" in data:
                value = data["refund_delay"]
                self.refund_delay = None if value is None else float(value)
            return Response.json({"refund_delay": self.refund_delay})
        return Response.json({"error": "unknown control endpoint"}, 404)

    # ------------------------------------------------------------ pages

    def _page(self, request: Request) -> Response:
        m = re.fullmatch(r"/wechat/(scan|h5|jsapi)/([A-Za-z0-9_\-]+)", request.path)
        if not m:
            return Response.html(_page("未找到", "<p>页面不存在。</p>"), 404)
        kind, token = m.groups()
        with self._lock:
            order = self._order_by_token(token)
            if order is not None:
                self._expire_if_due(order)
        if order is None or (kind == "jsapi" and token != order.prepay_id) or (
                kind != "jsapi" and token != order.token):
            return Response.html(_page("订单不存在", "<p>订单不存在或链接已失效。</p>"), 404)
        redirect_url = request.query.get("redirect_url", "")
        if redirect_url and urlsplit(redirect_url).scheme not in ("http", "https"):
            redirect_url = ""
        message = ""
        if request.method == "POST" and kind == "jsapi" and not self._payer_matches(
                order, request):
            message = "当前微信用户与下单用户不一致，无法支付"
        elif request.method == "POST":
            try:
                self.pay(order.out_trade_no, order.mchid)
            except ApiError as exc:
                message = exc.message
            else:
                if redirect_url and kind != "scan":
                    # Header values are Latin-1: percent-encode anything else (RFC 3986).
                    return Response.redirect(quote(redirect_url, safe=_URL_SAFE))
        return Response.html(self._render_order(order, kind, request, redirect_url, message))

    def _payer_matches(self, order: Order, request: Request) -> bool:
        """The JSAPI sheet pays only for the WeChat user the order was made for
        (``payer.openid``), when the browser has a simulated user (the cookie the
        authorize page sets); a browser without one is taken to be that payer."""
        if USER_COOKIE not in request.headers.get("cookie", ""):
            return True
        user = self.oauth.user_of(request)
        return self.oauth.openid(order.appid, user) == order.payer_openid

    def _render_order(self, order: Order, kind: str, request: Request, redirect_url: str,
                      message: str) -> str:
        state = self.trade_state(order)
        title = {"scan": "微信扫码支付", "h5": "微信支付", "jsapi": "微信支付"}[kind]
        yuan = f"¥{order.total // 100}.{order.total % 100:02d}"
        esc = html.escape
        parts = [
            f"<p class=merchant>商户号 {esc(order.mchid)}</p>",
            f"<p class=desc>{esc(order.description)}</p>",
            f"<p class=amount>{yuan}</p>",
        ]
        if message:
            parts.append(f"<p class=error>{esc(message)}</p>")
        if state == "NOTPAY":
            action = esc(request.path + (f"?{request.query_string}" if request.query_string
                                         else ""))
            parts.append(f'<form method=post action="{action}">'
                         '<button type=submit class=pay>确认支付</button></form>')
            if redirect_url:
                parts.append(f'<a class=cancel href="{esc(redirect_url)}">取消支付</a>')
        else:
            text = {"SUCCESS": "支付成功", "REFUND": "支付成功（已申请退款）",
                    "CLOSED": "订单已关闭，无法支付"}[state]
            parts.append(f"<p class=done data-state={state}>{text}</p>")
            if order.transaction_id:
                parts.append(f"<p class=tid>微信支付单号 {esc(order.transaction_id)}</p>")
            if redirect_url:
                parts.append(f'<a class=back href="{esc(redirect_url)}">返回商户页面</a>')
        return _page(title, "\n".join(parts))


_STYLE = """
body{font-family:system-ui,-apple-system,"PingFang SC","Microsoft YaHei",sans-serif;
margin:0;background:#ededed;color:#111;text-align:center}
.banner{background:#fa9d3b;color:#fff;padding:10px;font-weight:bold;font-size:15px}
main{max-width:480px;margin:0 auto;padding:24px 16px}
h1{font-size:20px;color:#07c160}
.amount{font-size:44px;font-weight:600;margin:16px 0}
.desc{font-size:17px}.merchant,.tid{color:#777;font-size:14px}
button.pay{width:100%;font-size:20px;padding:16px;border:0;border-radius:8px;
background:#07c160;color:#fff;cursor:pointer}
a.cancel,a.back{display:block;margin-top:18px;font-size:17px;color:#576b95}
.done{font-size:22px;color:#07c160}.error{color:#fa5151}
"""


def _page(title: str, body: str) -> str:
    return (
        "<!doctype html><html lang=zh-CN><head><meta charset=utf-8>"
        '<meta name=viewport content="width=device-width,initial-scale=1">'
        f"<title>{html.escape(title)} · 模拟支付</title><style>{_STYLE}</style></head><body>"
        "<div class=banner>模拟支付 · 非真实资金（本地微信支付模拟器）</div>"
        f"<main><h1>{html.escape(title)}</h1>{body}</main></body></html>"
    )
