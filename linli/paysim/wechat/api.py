"""The simulator's API transport: request authentication (WECHATPAY2-SHA256-RSA2048
over the exact path, query and body), routing, and signed responses with their faults."""

from __future__ import annotations

import json
import re
import secrets
import time
import uuid

from linli.paysim.common import (
    Request,
    Response,
    load_public,
    rsa_sign,
    rsa_verify,
)
from linli.paysim.wechat.common import (
    AUTH_RE,
    SIGNATURE_TYPE,
    TIMESTAMP_WINDOW,
    ApiError,
    Merchant,
    _digits,
)


class _ApiMixin:
    """The api part of ``WeChatSim``."""

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
