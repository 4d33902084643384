"""The Alipay simulator: keys, persistence, apps and the WSGI entry point; the
protocol areas are mixins (``gateway``, ``trades``, ``refunds``, ``buyer``, ``notify``,
``control``, ``pages``)."""

from __future__ import annotations

import dataclasses
import json
import os
import re
import threading
import time
from collections.abc import Callable
from pathlib import Path

from linli.paysim.alipay.buyer import _BuyerMixin
from linli.paysim.alipay.common import AlipayError, App, Faults, Trade, _digits
from linli.paysim.alipay.control import _ControlMixin
from linli.paysim.alipay.gateway import _GatewayMixin
from linli.paysim.alipay.notify import _NotifyMixin
from linli.paysim.alipay.pages import _, _page, _PagesMixin
from linli.paysim.alipay.refunds import _RefundsMixin
from linli.paysim.alipay.trades import _TradesMixin
from linli.paysim.common import (
    Delivery,
    Dispatcher,
    Request,
    Response,
    load_private,
    private_pem,
    public_pem,
    rsa_generate,
)


class AlipaySim(_GatewayMixin, _TradesMixin, _RefundsMixin, _BuyerMixin, _NotifyMixin, _ControlMixin, _PagesMixin):
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
