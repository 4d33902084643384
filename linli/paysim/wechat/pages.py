"""The payer's pages: the scanned QR code, the H5 cashier and the JSAPI sheet."""

from __future__ import annotations

import html
import re
from urllib.parse import quote, urlsplit

from linli.paysim.common import (
    Request,
    Response,
)
from linli.paysim.wechat.common import _URL_SAFE, PAYABLE_STATES, TRADE_STATE_DESC, ApiError, Order
from linli.paysim.wechat_oauth import USER_COOKIE

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
.done{font-size:22px;color:#07c160}.error{color:#fa5151}"""


def _page(title: str, body: str) -> str:
    return (
        "<!doctype html><html lang=zh-CN><head><meta charset=utf-8>"
        '<meta name=viewport content="width=device-width,initial-scale=1">'
        f"<title>{html.escape(title)} · 模拟支付</title><style>{_STYLE}</style></head><body>"
        "<div class=banner>模拟支付 · 非真实资金（本地微信支付模拟器）</div>"
        f"<main><h1>{html.escape(title)}</h1>{body}</main></body></html>"
    )



class _PagesMixin:
    """The pages part of ``WeChatSim``."""

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
        if state in PAYABLE_STATES:
            action = esc(request.path + (f"?{request.query_string}" if request.query_string
                                         else ""))
            parts.append(f'<form method=post action="{action}">'
                         '<button type=submit class=pay>确认支付</button></form>')
            if redirect_url:
                parts.append(f'<a class=cancel href="{esc(redirect_url)}">取消支付</a>')
        else:
            text = {"SUCCESS": "支付成功", "REFUND": "支付成功（已申请退款）",
                    "CLOSED": "订单已关闭，无法支付"}.get(state) or TRADE_STATE_DESC.get(
                        state, state)
            parts.append(f"<p class=done data-state={state}>{text}</p>")
            if order.transaction_id:
                parts.append(f"<p class=tid>微信支付单号 {esc(order.transaction_id)}</p>")
            if redirect_url:
                parts.append(f'<a class=back href="{esc(redirect_url)}">返回商户页面</a>')
        return _page(title, "\n".join(parts))
