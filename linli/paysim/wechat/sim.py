"""The WeChat Pay simulator: keys, persistence, merchants and the WSGI entry point;
the protocol areas are mixins (``api``, ``trades``, ``refunds``, ``notify``, ``control``,
``pages``)."""

from __future__ import annotations

import dataclasses
import json
import os
import secrets
import threading
import time
from collections.abc import Callable
from pathlib import Path

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
from linli.paysim.wechat.api import _ApiMixin
from linli.paysim.wechat.common import Faults, Merchant, Order, Refund, _alnum, _digits
from linli.paysim.wechat.control import _ControlMixin
from linli.paysim.wechat.notify import _NotifyMixin
from linli.paysim.wechat.pages import _PagesMixin
from linli.paysim.wechat.refunds import _RefundsMixin
from linli.paysim.wechat.trades import _TradesMixin
from linli.paysim.wechat_oauth import WeChatOAuthSim


class WeChatSim(_ApiMixin, _TradesMixin, _RefundsMixin, _NotifyMixin, _ControlMixin, _PagesMixin):
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
