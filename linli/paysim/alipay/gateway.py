"""``/gateway.do``: request authentication (RSA2 over the sorted parameters),
dispatch to the methods, signed responses and the injected faults."""

from __future__ import annotations

import json
import time
from decimal import Decimal

from linli.paysim.alipay.common import (
    BROWSER_METHODS,
    SERVER_METHODS,
    TIMESTAMP_WINDOW,
    AlipayError,
    App,
    _business,
    _invalid,
    _missing,
    parse_time,
    sign_content,
)
from linli.paysim.common import (
    Request,
    Response,
    load_public,
    rsa_sign,
    rsa_verify,
)


class _GatewayMixin:
    """The gateway part of ``AlipaySim``."""

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
