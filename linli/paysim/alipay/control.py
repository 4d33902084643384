"""Fault injection and the JSON control endpoints (``/alipay/_sim/…``) for tests
and the demo, and the recent-orders list of the index page."""

from __future__ import annotations

import dataclasses

from linli.paysim.alipay.common import WAIT_BUYER_PAY, Faults, _business
from linli.paysim.common import (
    Request,
    Response,
)


class _ControlMixin:
    """The control part of ``AlipaySim``."""

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

    def _control(self, request: Request) -> Response:
        """POST merchants {app_id?, seller_id?, notify_url?} · GET trades[?limit] ·
        GET trades/<out_trade_no>[?app_id] · POST scan|pay|expire|finish
        {out_trade_no, app_id?} · POST refund-outside {out_trade_no, refund_fen} (a refund on
        the merchant platform) · POST close {out_trade_no} (as the merchant would) ·
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
        if post and path == "refund-outside":
            return Response.json(self.refund_outside(data["out_trade_no"],
                                                     int(data["refund_fen"]), app_id))
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
