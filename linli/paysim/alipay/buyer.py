"""The buyer's side and the trade's life: scanning, paying, expiry, finishing."""

from __future__ import annotations

import dataclasses

from linli.paysim.alipay.common import (
    TRADE_FINISHED,
    TRADE_SUCCESS,
    WAIT_BUYER_PAY,
    Trade,
    _business,
    _digits,
    beijing,
    fmt_time,
    sign_content,
    yuan,
)
from linli.paysim.common import rsa_sign


class _BuyerMixin:
    """The buyer part of ``AlipaySim``."""

    def _trade_by_token(self, token: str) -> Trade | None:
        return next((t for t in self.trades.values() if t.token == token), None)

    def _find_trade(self, out_trade_no: str, app_id: str | None = None) -> Trade:
        matches = [t for (a, o), t in self.trades.items()
                   if o == out_trade_no and (app_id is None or a == app_id)]
        if len(matches) != 1:
            raise KeyError(f"no single trade {out_trade_no!r} (app {app_id!r})")
        return matches[0]

    def _come_into_existence(self, trade: Trade) -> None:
        """The buyer scanned the code / logged in to the cashier."""
        if trade.exists:
            return
        if self.clock() >= trade.expire_at:
            raise _business("ACQ.TRADE_HAS_CLOSE", "二维码已过期")
        trade.exists = True
        trade.gmt_create = self.clock()
        trade.trade_no = beijing(trade.gmt_create).strftime("%Y%m%d") + "22001" + _digits(15)
        trade.buyer_id = "2088" + _digits(12)
        trade.buyer_logon_id = f"138******{_digits(2)}"
        self._save()

    def scan(self, out_trade_no: str, app_id: str | None = None) -> dict:
        """The buyer scans the QR code (or logs in at the page/wap cashier): the trade
        comes into existence, WAIT_BUYER_PAY."""
        with self._lock:
            trade = self._find_trade(out_trade_no, app_id)
            self._come_into_existence(trade)
            return self.trade_info(trade)

    def pay(self, out_trade_no: str, app_id: str | None = None) -> dict:
        """The buyer scans (if needed) and pays: TRADE_SUCCESS, notification sent."""
        with self._lock:
            trade = self._find_trade(out_trade_no, app_id)
            self._pay(trade)
            return self.trade_info(trade)

    def _pay(self, trade: Trade) -> None:
        self._expire_if_due(trade)
        if trade.status != WAIT_BUYER_PAY:
            raise _business("ACQ.TRADE_STATUS_ERROR", "交易状态不合法")
        self._come_into_existence(trade)
        trade.status = TRADE_SUCCESS
        trade.gmt_payment = self.clock()
        self._save()
        self._notify(trade)

    def expire(self, out_trade_no: str, app_id: str | None = None) -> dict:
        """Time runs out now: an existing unpaid trade closes, an unscanned code dies."""
        with self._lock:
            trade = self._find_trade(out_trade_no, app_id)
            trade.expire_at = min(trade.expire_at, self.clock())
            self._expire_if_due(trade)
            self._save()
            return self.trade_info(trade)

    def finish(self, out_trade_no: str, app_id: str | None = None) -> dict:
        """The refund window has passed: TRADE_SUCCESS → TRADE_FINISHED, notified (with
        ``refund_fee`` when it was refunded in part before)."""
        with self._lock:
            trade = self._find_trade(out_trade_no, app_id)
            if trade.status != TRADE_SUCCESS:
                raise _business("ACQ.TRADE_STATUS_ERROR", "交易状态不合法")
            trade.status = TRADE_FINISHED
            self._save()
            self._notify(trade, refund=trade.refunds[-1] if trade.refunds else None)
            return self.trade_info(trade)

    def trade_info(self, trade: Trade | str, app_id: str | None = None) -> dict:
        with self._lock:
            if isinstance(trade, str):
                trade = self._find_trade(trade, app_id)
            self._expire_if_due(trade)
            data = dataclasses.asdict(trade)
            data["refunded_fen"] = trade.refunded_fen
            data["state"] = trade.status if trade.exists else "NOT_EXIST"
            return data

    def return_params(self, trade: Trade) -> dict[str, str]:
        """The signed parameters appended to return_url after paying at the cashier."""
        params = {
            "charset": "utf-8", "out_trade_no": trade.out_trade_no,
            "method": trade.method + ".return", "total_amount": yuan(trade.total_fen),
            "trade_no": trade.trade_no, "auth_app_id": trade.app_id, "version": "1.0",
            "app_id": trade.app_id, "sign_type": "RSA2", "seller_id": trade.seller_id,
            "timestamp": fmt_time(self.clock()),
        }
        params["sign"] = rsa_sign(self.alipay_key,
                                  sign_content(params, exclude=("sign", "sign_type")).encode())
        return params
