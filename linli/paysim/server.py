"""Both simulators on one port: ``/v3/``, ``/wechat/`` and the official-account OAuth
(``/connect/``, ``/sns/``) → WeChat, ``/gateway.do`` and
``/alipay/`` → Alipay (when ``linli.paysim.alipay`` exists), ``/`` → an index of recent
orders. ``main()`` runs it on 127.0.0.1 with a threaded server (``linli paysim``).
"""

from __future__ import annotations

import argparse
import datetime as dt
import html
import importlib.util
import os
import signal
import threading
from pathlib import Path

from linli.paysim.common import Dispatcher, Request, Response, ServerThread
from linli.paysim.wechat import CST, WeChatSim

DEFAULT_PORT = 8100


class PaySimApp:
    """The WSGI application; ``.wechat``, ``.alipay`` (or None) and ``.dispatcher`` are
    the simulators and their shared notification dispatcher."""

    def __init__(self, state_dir: Path | None, public_url: str, time_scale: float = 1.0) -> None:
        self.dispatcher = Dispatcher(time_scale=time_scale)
        self.wechat = WeChatSim(state_dir=state_dir, dispatcher=self.dispatcher,
                                public_url=public_url)
        self.alipay = None
        if importlib.util.find_spec("linli.paysim.alipay") is not None:
            from linli.paysim.alipay import AlipaySim

            self.alipay = AlipaySim(state_dir=state_dir, dispatcher=self.dispatcher,
                                    public_url=public_url)

    def __call__(self, environ, start_response):
        path = environ.get("PATH_INFO", "/")
        if path.startswith(("/v3/", "/wechat/", "/connect/", "/sns/")):
            return self.wechat(environ, start_response)
        if self.alipay is not None and (path == "/gateway.do" or path.startswith("/alipay/")):
            return self.alipay(environ, start_response)
        if path == "/":
            return self._index(Request.from_environ(environ))(environ, start_response)
        return Response.html("<p>404</p>", 404)(environ, start_response)

    def _index(self, request: Request) -> Response:
        rows = list(self.wechat.recent_orders(50))
        recent = getattr(self.alipay, "recent_orders", None)
        if callable(recent):
            rows += [dict(r, channel=r.get("channel", "alipay")) for r in recent(50)]
        rows.sort(key=lambda r: r.get("created", 0), reverse=True)
        esc = html.escape
        lines = []
        for r in rows[:100]:
            link = f'<a href="{esc(r["link"])}">去支付</a>' if r.get("link") else ""
            created = dt.datetime.fromtimestamp(r.get("created", 0), CST).strftime("%m-%d %H:%M")
            total = r.get("total_fen")
            amount = f"{total // 100}.{total % 100:02d}" if isinstance(total, int) else ""
            lines.append(
                f"<tr><td>{esc(created)}</td><td>{esc(str(r.get('channel', '')))}</td>"
                f"<td>{esc(str(r.get('out_trade_no', '')))}</td>"
                f"<td>{esc(str(r.get('description', '')))}</td><td>{amount}</td>"
                f"<td>{esc(str(r.get('state', '')))}</td><td>{link}</td></tr>")
        body = (
            "<!doctype html><html lang=zh-CN><head><meta charset=utf-8>"
            '<meta name=viewport content="width=device-width,initial-scale=1">'
            "<title>支付模拟器（非真实资金）</title><style>body{font-family:system-ui,"
            'sans-serif;margin:16px}table{border-collapse:collapse}td,th{border:1px solid #ccc;'
            "padding:4px 8px}.banner{background:#fa9d3b;color:#fff;padding:8px}</style>"
            "</head><body><div class=banner>模拟支付 · 非真实资金</div><h1>支付模拟器</h1>"
            f"<p>微信支付平台公钥ID：{esc(self.wechat.platform_key_id)}</p>"
            "<table><tr><th>创建时间</th><th>渠道</th><th>商户订单号</th><th>描述</th>"
            "<th>金额（元）</th><th>状态</th><th></th></tr>"
            + "".join(lines) + "</table></body></html>")
        return Response.html(body)


def make_app(state_dir: Path | None, public_url: str, time_scale: float = 1.0) -> PaySimApp:
    return PaySimApp(Path(state_dir) if state_dir else None, public_url, time_scale)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="linli paysim",
        description="Local WeChat Pay / Alipay simulators (模拟支付, not real money).")
    parser.add_argument("--port", type=int, default=DEFAULT_PORT)
    parser.add_argument("--home", default=os.environ.get("LINLI_HOME", "linli-data"),
                        help="data directory; keys and orders are kept in <home>/paysim")
    parser.add_argument("--time-scale", type=float, default=1.0,
                        help="multiply notification retry intervals (e.g. 0.01)")
    parser.add_argument("--public-url", default="",
                        help="base URL pages are reached at (default http://127.0.0.1:PORT)")
    args = parser.parse_args(argv)
    public_url = args.public_url or f"http://127.0.0.1:{args.port}"
    app = make_app(Path(args.home) / "paysim", public_url, args.time_scale)
    server = ServerThread(app, host="127.0.0.1", port=args.port)
    print(f"paysim (模拟支付, not real money) listening on {server.url}", flush=True)
    stop = threading.Event()
    if threading.current_thread() is threading.main_thread():
        for sig in (signal.SIGINT, signal.SIGTERM):
            signal.signal(sig, lambda *_: stop.set())
    server.start()
    try:
        stop.wait()
    finally:
        server.stop()
        app.dispatcher.stop()


if __name__ == "__main__":
    main()
