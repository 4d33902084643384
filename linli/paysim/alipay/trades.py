"""Trades as the merchant sees them: precreate, query, close, expiry."""

from __future__ import annotations

import secrets
from decimal import Decimal, InvalidOperation

from linli.paysim.alipay.common import (
    AMOUNT_RE,
    BROWSER_METHODS,
    MAX_FEN,
    MIN_FEN,
    OUT_TRADE_NO_RE,
    PRECREATE_DEFAULT_TIMEOUT,
    PRECREATE_PRODUCT,
    TIMEOUT_EXPRESS_RE,
    TRADE_CLOSED,
    TRADE_FINISHED,
    TRADE_SUCCESS,
    WAIT_BUYER_PAY,
    App,
    Trade,
    _business,
    _invalid,
    _lower_alnum,
    _missing,
    beijing,
    fmt_time,
    parse_time,
    yuan,
)
from linli.paysim.common import Request


class _TradesMixin:
    """The trades part of ``AlipaySim``."""

    @staticmethod
    def _amount(biz: dict, name: str) -> int:
        value = biz.get(name)
        if value is None or value == "":
            raise _missing("isv.missing-parameter", f"缺少{name}参数")
        text = str(value)
        if isinstance(value, bool) or not AMOUNT_RE.match(text):
            raise _invalid("isv.invalid-parameter", f"{name}格式错误")
        try:
            fen = int(Decimal(text) * 100)
        except InvalidOperation:
            raise _invalid("isv.invalid-parameter", f"{name}格式错误") from None
        if not MIN_FEN <= fen <= MAX_FEN:
            raise _invalid("isv.invalid-parameter", f"{name}取值范围[0.01,100000000]")
        return fen

    def _expiry(self, biz: dict, default: int) -> float:
        now = self.clock()
        if biz.get("time_expire"):
            try:
                at = parse_time(str(biz["time_expire"]))
            except ValueError:
                raise _invalid("isv.invalid-parameter", "time_expire格式错误") from None
            if at <= now or at > now + 15 * 86400:
                raise _invalid("isv.invalid-parameter", "time_expire不合法")
            return at
        express = str(biz.get("timeout_express") or "")
        if express:
            m = TIMEOUT_EXPRESS_RE.match(express)
            if not m:
                raise _invalid("isv.invalid-parameter", "timeout_express格式错误")
            if express == "1c":
                midnight = beijing(now).replace(hour=23, minute=59, second=59)
                return midnight.timestamp()
            seconds = int(m.group(1)) * {"m": 60, "h": 3600, "d": 86400}[m.group(2)]
            if seconds > 15 * 86400:
                raise _invalid("isv.invalid-parameter", "timeout_express取值范围1m～15d")
            return now + seconds
        return now + default

    def _find(self, app: App, biz: dict) -> Trade | None:
        """The trade named by out_trade_no or trade_no, if the gateway knows it."""
        out_trade_no, trade_no = biz.get("out_trade_no"), biz.get("trade_no")
        if not out_trade_no and not trade_no:
            raise _missing("isv.missing-parameter", "out_trade_no和trade_no不能同时为空")
        trade = None
        if out_trade_no:
            trade = self.trades.get((app.app_id, str(out_trade_no)))
        else:
            trade = next((t for t in self.trades.values()
                          if t.app_id == app.app_id and t.trade_no == str(trade_no)), None)
        if trade is not None and trade_no and trade.trade_no != str(trade_no):
            trade = None
        if trade is not None:
            self._expire_if_due(trade)
        if trade is None or not trade.exists:
            return None
        return trade

    def _expire_if_due(self, trade: Trade) -> None:
        if trade.status == WAIT_BUYER_PAY and trade.exists and self.clock() >= trade.expire_at:
            self._close_trade(trade)

    def _close_trade(self, trade: Trade) -> None:
        trade.status, trade.gmt_close = TRADE_CLOSED, self.clock()
        self._save()
        if trade.product_code == BROWSER_METHODS["alipay.trade.wap.pay"]:
            self._notify(trade)  # wap notifies TRADE_CLOSED too

    def _register(self, app: App, params: dict, biz: dict, *, method: str,
                  product_code: str, default_timeout: int) -> Trade:
        """Create the merchant's order (not yet a trade at the gateway), or return the
        existing one after checking it is the same order."""
        out_trade_no = str(biz.get("out_trade_no") or "")
        if not out_trade_no:
            raise _missing("isv.missing-parameter", "缺少out_trade_no参数")
        if not OUT_TRADE_NO_RE.match(out_trade_no):
            raise _invalid("isv.invalid-parameter", "out_trade_no格式错误")
        total_fen = self._amount(biz, "total_amount")
        subject = str(biz.get("subject") or "")
        if not subject:
            raise _missing("isv.missing-parameter", "缺少subject参数")
        if len(subject) > 256:
            raise _invalid("isv.invalid-parameter", "subject过长")
        sent_product = str(biz.get("product_code") or product_code)
        if sent_product != product_code:
            raise _invalid("isv.invalid-parameter", f"product_code不合法：{sent_product}")
        seller = biz.get("seller_id")
        if seller and seller != app.seller_id:
            raise _business("ACQ.SELLER_NOT_EXIST", "卖家不存在")
        expire_at = self._expiry(biz, default_timeout)
        key = (app.app_id, out_trade_no)
        trade = self.trades.get(key)
        if trade is not None:
            self._expire_if_due(trade)
            if trade.total_fen != total_fen or trade.subject != subject:
                raise _business("ACQ.CONTEXT_INCONSISTENT", "交易信息被篡改")
            if trade.status in (TRADE_SUCCESS, TRADE_FINISHED):
                raise _business("ACQ.TRADE_HAS_SUCCESS", "交易已被支付")
            if trade.status == TRADE_CLOSED:
                raise _business("ACQ.TRADE_HAS_CLOSE", "交易已经关闭")
            if not trade.exists:  # re-created before anyone scanned: refresh its terms
                trade.expire_at = expire_at
                trade.notify_url = params.get("notify_url", trade.notify_url)
                trade.return_url = params.get("return_url", trade.return_url)
                trade.quit_url = str(biz.get("quit_url") or trade.quit_url)
                self._save()
            return trade
        trade = Trade(
            app_id=app.app_id, seller_id=app.seller_id, out_trade_no=out_trade_no,
            method=method, product_code=product_code, total_fen=total_fen, subject=subject,
            token=("bax0" + _lower_alnum(20)) if method == "alipay.trade.precreate"
            else secrets.token_urlsafe(18),
            created=self.clock(), expire_at=expire_at,
            notify_url=params.get("notify_url", ""), return_url=params.get("return_url", ""),
            quit_url=str(biz.get("quit_url") or ""),
            passback_params=str(biz.get("passback_params") or ""),
            body=str(biz.get("body") or ""),
        )
        self.trades[key] = trade
        self._save()
        return trade

    def scan_url(self, trade: Trade, request: Request | None = None) -> str:
        return f"{self._base_url(request)}/alipay/scan/{trade.token}"

    def cashier_url(self, trade: Trade, request: Request | None = None) -> str:
        return f"{self._base_url(request)}/alipay/cashier/{trade.token}"

    def _precreate(self, app: App, params: dict, biz: dict, request: Request) -> dict:
        trade = self._register(app, params, biz, method="alipay.trade.precreate",
                               product_code=PRECREATE_PRODUCT,
                               default_timeout=PRECREATE_DEFAULT_TIMEOUT)
        return {"code": "10000", "msg": "Success", "out_trade_no": trade.out_trade_no,
                "qr_code": self.scan_url(trade, request)}

    def _trade_fields(self, trade: Trade) -> dict:
        paid = trade.gmt_payment is not None
        amount = yuan(trade.total_fen) if paid else "0.00"
        body = {
            "code": "10000", "msg": "Success",
            "trade_no": trade.trade_no, "out_trade_no": trade.out_trade_no,
            "buyer_logon_id": trade.buyer_logon_id, "trade_status": trade.status,
            "total_amount": yuan(trade.total_fen), "receipt_amount": amount,
            "buyer_pay_amount": amount, "invoice_amount": amount, "point_amount": "0.00",
            "buyer_user_id": trade.buyer_id,
        }
        if paid:
            body["send_pay_date"] = fmt_time(trade.gmt_payment)
            body["fund_bill_list"] = [{"amount": yuan(trade.total_fen),
                                       "fund_channel": "ALIPAYACCOUNT"}]
        if trade.passback_params:
            body["passback_params"] = trade.passback_params
        return body

    def _query(self, app: App, params: dict, biz: dict, request: Request) -> dict:
        trade = self._find(app, biz)
        if trade is None:
            raise _business("ACQ.TRADE_NOT_EXIST", "交易不存在")
        return self._trade_fields(trade)

    def _close(self, app: App, params: dict, biz: dict, request: Request) -> dict:
        trade = self._find(app, biz)
        if trade is None:
            raise _business("ACQ.TRADE_NOT_EXIST", "交易不存在")
        if trade.status != WAIT_BUYER_PAY:
            raise _business("ACQ.TRADE_STATUS_ERROR", "交易状态不合法")
        self._close_trade(trade)
        return {"code": "10000", "msg": "Success", "trade_no": trade.trade_no,
                "out_trade_no": trade.out_trade_no}
