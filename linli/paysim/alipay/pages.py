"""The buyer's pages: the scanned QR code and the page/wap cashier."""

from __future__ import annotations

import html
from urllib.parse import urlencode, urlsplit

from linli.paysim.alipay.common import (
    BROWSER_METHODS,
    DEFAULT_TIMEOUT,
    TRADE_FINISHED,
    TRADE_SUCCESS,
    WAIT_BUYER_PAY,
    AlipayError,
    Trade,
    yuan,
)
from linli.paysim.common import (
    Request,
    Response,
)


def _with_query(url: str, params: dict[str, str]) -> str:
    separator = "&" if urlsplit(url).query else ("" if url.endswith("?") else "?")
    return url + separator + urlencode(params)


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
.done{font-size:22px;color:#1677ff}.error{color:#ff4d4f}"""


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



class _PagesMixin:
    """The pages part of ``AlipaySim``."""

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
