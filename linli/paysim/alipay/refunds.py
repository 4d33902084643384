"""Refunds: ``alipay.trade.refund`` (synchronous, idempotent ``out_request_no``) and
``alipay.trade.fastpay.refund.query``."""

from __future__ import annotations

from linli.paysim.alipay.common import (
    OUT_REQUEST_NO_RE,
    TRADE_CLOSED,
    TRADE_FINISHED,
    TRADE_SUCCESS,
    App,
    RefundRecord,
    Trade,
    _business,
    _digits,
    _invalid,
    _missing,
    fmt_time,
    yuan,
)
from linli.paysim.common import Request


class _RefundsMixin:
    """The refunds part of ``AlipaySim``."""

    def _refund(self, app: App, params: dict, biz: dict, request: Request) -> dict:
        refund_fen = self._amount(biz, "refund_amount")
        explicit = bool(biz.get("out_request_no"))
        out_request_no = str(biz.get("out_request_no") or "")
        if explicit and not OUT_REQUEST_NO_RE.match(out_request_no):
            raise _invalid("isv.invalid-parameter", "out_request_no格式错误")
        trade = self._find(app, biz)
        if trade is None:
            raise _business("ACQ.TRADE_NOT_EXIST", "交易不存在")
        out_request_no = out_request_no or trade.out_trade_no
        previous = trade.refund(out_request_no)
        if previous is not None:  # a retry: refunds once, answers fund_change N
            if previous.refund_fen != refund_fen:
                raise _business("ACQ.REFUND_AMT_NOT_EQUAL_TOTAL", "退款金额与原请求不一致")
            return self._refund_answer(trade, previous, fund_change="N")
        if not explicit and refund_fen != trade.total_fen and trade.status == TRADE_SUCCESS:
            raise _business("ACQ.REFUND_AMT_NOT_EQUAL_TOTAL",
                            "部分退款需要传入out_request_no")
        record = self._add_refund(trade, out_request_no, refund_fen,
                                  reason=str(biz.get("refund_reason") or ""), explicit=explicit)
        return self._refund_answer(trade, record, fund_change="Y")

    def _add_refund(self, trade: Trade, out_request_no: str, refund_fen: int, *,
                    reason: str, explicit: bool) -> RefundRecord:
        """Refund part or all of a paid trade: a trade refunded in full closes
        (TRADE_CLOSED, keeping its payment time); a notification carries the refund."""
        if trade.status == TRADE_FINISHED:
            raise _business("ACQ.TRADE_HAS_FINISHED", "交易已完结")
        if trade.status == TRADE_CLOSED:
            raise _business("ACQ.TRADE_HAS_CLOSE", "交易已经关闭")
        if trade.status != TRADE_SUCCESS:
            raise _business("ACQ.TRADE_STATUS_ERROR", "交易状态不合法")
        if trade.refunded_fen + refund_fen > trade.total_fen:
            raise _business("ACQ.REASON_TRADE_REFUND_FEE_ERR", "退款金额超限")
        record = RefundRecord(out_request_no=out_request_no, refund_fen=refund_fen,
                              at=self.clock(), reason=reason, explicit_request_no=explicit)
        trade.refunds.append(record)
        if trade.refunded_fen == trade.total_fen:
            trade.status, trade.gmt_close = TRADE_CLOSED, record.at
        self._save()
        self._notify(trade, refund=record)
        return record

    def refund_outside(self, out_trade_no: str, refund_fen: int, app_id: str | None = None, *,
                       reason: str = "商家中心退款") -> dict:
        """Someone refunds on the merchant platform (商家中心), outside Linli, with an
        ``out_request_no`` Linli never made: in part (the trade stays TRADE_SUCCESS) or
        in full (TRADE_CLOSED); the notification carries ``refund_fee``. Returns the
        trade as ``trade_info`` shows it."""
        if type(refund_fen) is not int or refund_fen <= 0:
            raise ValueError("refund_fen must be a positive integer")
        with self._lock:
            trade = self._find_trade(out_trade_no, app_id)
            self._expire_if_due(trade)
            self._add_refund(trade, "HZ" + _digits(22), refund_fen, reason=reason,
                             explicit=True)
            return self.trade_info(trade)

    def _refund_answer(self, trade: Trade, record: RefundRecord, fund_change: str) -> dict:
        return {
            "code": "10000", "msg": "Success",
            "trade_no": trade.trade_no, "out_trade_no": trade.out_trade_no,
            "buyer_logon_id": trade.buyer_logon_id, "fund_change": fund_change,
            "refund_fee": yuan(trade.refunded_fen),
            "gmt_refund_pay": fmt_time(record.at), "buyer_user_id": trade.buyer_id,
            "send_back_fee": yuan(record.refund_fen),
        }

    def _refund_query(self, app: App, params: dict, biz: dict, request: Request) -> dict:
        trade = self._find(app, biz)
        if trade is None:
            raise _business("ACQ.TRADE_NOT_EXIST", "交易不存在")
        out_request_no = str(biz.get("out_request_no") or "")
        if not out_request_no:
            raise _missing("isv.missing-parameter", "缺少out_request_no参数")
        record = trade.refund(out_request_no)
        if record is None:  # 10000 with no refund_status: not refunded
            return {"code": "10000", "msg": "Success"}
        return {
            "code": "10000", "msg": "Success",
            "trade_no": trade.trade_no, "out_trade_no": trade.out_trade_no,
            "out_request_no": record.out_request_no,
            "total_amount": yuan(trade.total_fen), "refund_amount": yuan(record.refund_fen),
            "refund_status": "REFUND_SUCCESS", "gmt_refund_pay": fmt_time(record.at),
        }
