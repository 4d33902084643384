"""The JSON control endpoints (``/wechat/_sim/…``) for tests and the demo, and the
recent-orders list of the index page."""

from __future__ import annotations

import dataclasses
import re

from linli.paysim.common import (
    Request,
    Response,
)
from linli.paysim.wechat.common import PAYABLE_STATES, ApiError, Order


class _ControlMixin:
    """The control part of ``WeChatSim``."""

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
                     if self.trade_state(o) in PAYABLE_STATES else ""} for o in orders]

    def page_url(self, order: Order) -> str:
        """Where a payer confirms this order (scan page, H5 cashier or JSAPI sheet)."""
        if order.mode == "jsapi":
            return f"{self.public_url}/wechat/jsapi/{order.prepay_id}"
        return f"{self.public_url}/wechat/{'scan' if order.mode == 'native' else 'h5'}/" \
               f"{order.token}"

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
        if request.method == "POST" and path in ("refund-outside", "payment-code-state",
                                                 "revoke"):
            return self._control_trade(path, data)
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

    def _control_trade(self, path: str, data: dict) -> Response:
        """POST refund-outside {out_trade_no, refund_fen} (a refund on the merchant
        platform) · payment-code-state {out_trade_no, state} · revoke {out_trade_no}."""
        no, mchid = data["out_trade_no"], data.get("mchid")
        try:
            if path == "refund-outside":
                return Response.json(self.refund_outside(no, int(data["refund_fen"]), mchid))
            if path == "payment-code-state":
                return Response.json(self.payment_code_state(no, data["state"], mchid))
            return Response.json(self.revoke(no, mchid))
        except ApiError as exc:
            return Response.json({"code": exc.code, "message": exc.message}, exc.status)
