"""Refunds: apply (limits, idempotent ``out_refund_no``), settle, query, notify."""

from __future__ import annotations

import threading

from linli.paysim.wechat.common import (
    MAX_REFUNDS_PER_ORDER,
    OUT_REFUND_NO_RE,
    REFUND_EVENTS,
    ApiError,
    Merchant,
    Order,
    Refund,
    _digits,
    rfc3339,
)


class _RefundsMixin:
    """The refunds part of ``WeChatSim``."""

    def _refund(self, merchant: Merchant, body: dict) -> dict:
        out_refund_no, refund_fen, total, reason, notify_url = self._refund_terms(body)
        with self._lock:
            if body.get("transaction_id"):
                order = next((o for o in self.orders.values()
                              if o.mchid == merchant.mchid
                              and o.transaction_id == body["transaction_id"]), None)
            elif body.get("out_trade_no"):
                order = self.orders.get((merchant.mchid, body["out_trade_no"]))
            else:
                raise ApiError(400, "PARAM_ERROR", "transaction_id和out_trade_no必须二选一")
            if order is None:
                raise ApiError(404, "RESOURCE_NOT_EXISTS", "订单不存在")
            existing = self.refunds.get((merchant.mchid, out_refund_no))
            if existing is not None:
                if (existing.out_trade_no != order.out_trade_no or existing.refund != refund_fen
                        or existing.total != total):
                    raise ApiError(400, "INVALID_REQUEST", "同一退款单号多次请求，但参数不一致")
                self._settle_if_due(existing)
                return self._refund_object(existing)
            self._check_refundable(order, refund_fen, total)
            if self.faults.refund_not_enough_next > 0:
                self.faults.refund_not_enough_next -= 1
                raise ApiError(403, "NOT_ENOUGH", "基本账户余额不足，请充值后重新发起")
            refund = self._new_refund(merchant, order, out_refund_no, refund_fen, reason,
                                      notify_url)
        if self.refund_delay is not None:
            timer = threading.Timer(self.refund_delay + 0.05, self._settle_if_due, (refund,))
            timer.daemon = True
            timer.start()
        return self._refund_object(refund)

    def _refund_terms(self, body: dict) -> tuple[str, int, int, str, str | None]:
        """(out_refund_no, refund fen, total fen, reason, notify_url) of a refund request."""
        out_refund_no = body.get("out_refund_no")
        if not isinstance(out_refund_no, str) or not OUT_REFUND_NO_RE.match(out_refund_no):
            raise ApiError(400, "PARAM_ERROR", "out_refund_no应为1-64位数字、大小写字母或_-|*@")
        amount = body.get("amount")
        if not isinstance(amount, dict):
            raise ApiError(400, "PARAM_ERROR", "缺少amount")
        refund_fen, total = amount.get("refund"), amount.get("total")
        if type(refund_fen) is not int or refund_fen <= 0 or type(total) is not int:
            raise ApiError(400, "PARAM_ERROR", "amount.refund和amount.total必须是整数（单位：分）")
        if amount.get("currency") != "CNY":
            raise ApiError(400, "PARAM_ERROR", "amount.currency必须为CNY")
        reason = body.get("reason", "") or ""
        if not isinstance(reason, str) or len(reason) > 80:
            raise ApiError(400, "PARAM_ERROR", "reason长度不能超过80个字符")
        notify_url = body.get("notify_url")
        if notify_url is not None:
            notify_url = self._validate_notify_url(notify_url)
        return out_refund_no, refund_fen, total, reason, notify_url

    def _check_refundable(self, order: Order, refund_fen: int, total: int) -> None:
        if order.state != "SUCCESS":
            raise ApiError(400, "INVALID_REQUEST", "订单未支付，不能退款")
        if total != order.total:
            raise ApiError(400, "INVALID_REQUEST", "订单金额与原订单不一致")
        if self.clock() - order.success_time > 365 * 24 * 3600:
            raise ApiError(400, "INVALID_REQUEST", "订单已超过退款期限")
        live = [r for r in self._refunds_of(order) if r.status != "CLOSED"]
        if len(self._refunds_of(order)) >= MAX_REFUNDS_PER_ORDER:
            raise ApiError(400, "INVALID_REQUEST", "订单已退款次数超过50次，不能再退款")
        if sum(r.refund for r in live) + refund_fen > order.total:
            raise ApiError(400, "INVALID_REQUEST", "申请退款金额超过订单可退金额")

    def _new_refund(self, merchant: Merchant, order: Order, out_refund_no: str,
                    refund_fen: int, reason: str, notify_url: str | None) -> Refund:
        refund = Refund(
            mchid=merchant.mchid, out_trade_no=order.out_trade_no,
            transaction_id=order.transaction_id, out_refund_no=out_refund_no,
            refund_id="50" + _digits(27), refund=refund_fen, total=order.total, reason=reason,
            notify_url=notify_url or order.notify_url or merchant.notify_url,
            created=self.clock(),
        )
        self.refunds[(merchant.mchid, out_refund_no)] = refund
        self._save()
        return refund

    def refund_outside(self, out_trade_no: str, refund_fen: int, mchid: str | None = None, *,
                       reason: str = "商户平台退款") -> dict:
        """Someone refunds on the merchant platform (商户平台), outside Linli: the refund
        is applied and succeeds at once (REFUND.SUCCESS is notified to the order's
        notify_url, with an ``out_refund_no`` Linli never made); the trade then reads
        ``REFUND``. Returns the refund object."""
        if type(refund_fen) is not int or refund_fen <= 0:
            raise ValueError("refund_fen must be a positive integer")
        with self._lock:
            order = self._find_order(out_trade_no, mchid)
            self._check_refundable(order, refund_fen, order.total)
            refund = self._new_refund(self.merchants[order.mchid], order,
                                      "MP" + _digits(24), refund_fen, reason, None)
        return self.set_refund_status(refund.out_refund_no, "SUCCESS", order.mchid)

    def _refund_object(self, refund: Refund) -> dict:
        data = {
            "refund_id": refund.refund_id,
            "out_refund_no": refund.out_refund_no,
            "transaction_id": refund.transaction_id,
            "out_trade_no": refund.out_trade_no,
            "channel": "ORIGINAL",
            "user_received_account": "支付用户零钱",
            "create_time": rfc3339(refund.created),
            "status": refund.status,
            "funds_account": "AVAILABLE",
            "amount": {"total": refund.total, "refund": refund.refund,
                       "payer_total": refund.total, "payer_refund": refund.refund,
                       "settlement_total": refund.total, "settlement_refund": refund.refund,
                       "discount_refund": 0, "currency": "CNY", "refund_fee": 0},
        }
        if refund.status == "SUCCESS":
            data["success_time"] = rfc3339(refund.success_time)
        return data

    def _settle_if_due(self, refund: Refund) -> None:
        if (refund.status == "PROCESSING" and self.refund_delay is not None
                and self.clock() >= refund.created + self.refund_delay):
            self.set_refund_status(refund.out_refund_no, "SUCCESS", refund.mchid)

    def set_refund_status(self, out_refund_no: str, status: str,
                          mchid: str | None = None) -> dict:
        """Move a refund to SUCCESS / ABNORMAL / CLOSED and notify (control)."""
        if status not in REFUND_EVENTS:
            raise ValueError(f"unknown refund status {status!r}")
        with self._lock:
            refund = next((r for (m, no), r in self.refunds.items()
                           if no == out_refund_no and (mchid is None or m == mchid)), None)
            if refund is None:
                raise KeyError(out_refund_no)
            if refund.status == status or refund.status in ("SUCCESS", "CLOSED"):
                return self._refund_object(refund)  # final states stay final
            refund.status = status
            if status == "SUCCESS":
                refund.success_time = self.clock()
            self._save()
            data = self._refund_object(refund)
        event, summary = REFUND_EVENTS[status]
        plaintext = {
            "mchid": refund.mchid, "out_trade_no": refund.out_trade_no,
            "transaction_id": refund.transaction_id, "out_refund_no": refund.out_refund_no,
            "refund_id": refund.refund_id, "refund_status": refund.status,
            "user_received_account": "支付用户零钱",
            "amount": {"total": refund.total, "refund": refund.refund,
                       "payer_total": refund.total, "payer_refund": refund.refund},
        }
        if refund.status == "SUCCESS":
            plaintext["success_time"] = rfc3339(refund.success_time)
        self._notify(refund.mchid, refund.notify_url, event, summary, "refund", plaintext,
                     label=refund.out_refund_no)
        return data
