"""Trades: create (Native, JSAPI, H5), query, close, expiry and paying."""

from __future__ import annotations

import datetime as dt
import json
import secrets
from urllib.parse import urlsplit

from linli.paysim.common import Request
from linli.paysim.wechat.common import (
    CST,
    DEFAULT_EXPIRY,
    OUT_TRADE_NO_RE,
    PAYABLE_STATES,
    PAYMENT_CODE_STATES,
    TRADE_STATE_DESC,
    TRADE_TYPE,
    ApiError,
    Merchant,
    Order,
    Refund,
    _alnum,
    _digits,
    _is_local_host,
    rfc3339,
)


class _TradesMixin:
    """The trades part of ``WeChatSim``."""

    def _order(self, merchant: Merchant, out_trade_no: str) -> Order:
        order = self.orders.get((merchant.mchid, out_trade_no))
        if order is None:
            raise ApiError(404, "ORDER_NOT_EXIST", "订单不存在")
        self._expire_if_due(order)
        return order

    def _expire_if_due(self, order: Order) -> None:
        if order.state in (*PAYABLE_STATES, "PAYERROR") and self.clock() >= order.expires:
            order.state = "CLOSED"
            self._save()

    def _validate_notify_url(self, url) -> str:
        if not isinstance(url, str) or not url or len(url) > 255:
            raise ApiError(400, "PARAM_ERROR", "notify_url格式错误")
        parts = urlsplit(url)
        if parts.query or parts.fragment:
            raise ApiError(400, "PARAM_ERROR", "notify_url不能携带参数")
        if parts.scheme == "https" and parts.hostname:
            return url
        if parts.scheme == "http" and parts.hostname and _is_local_host(parts.hostname):
            return url
        raise ApiError(400, "PARAM_ERROR", "notify_url必须是https地址")

    def _create(self, merchant: Merchant, mode: str, body: dict, request: Request) -> dict:
        terms = self._order_terms(merchant, mode, body)
        with self._lock:
            order = self.orders.get((merchant.mchid, terms["out_trade_no"]))
            if order is not None:
                self._expire_if_due(order)
                if order.state == "SUCCESS":
                    raise ApiError(400, "ORDERPAID", "该订单已支付")
                if order.state not in PAYABLE_STATES or order.fingerprint != terms["fingerprint"]:
                    raise ApiError(400, "OUT_TRADE_NO_USED", "商户订单号重复")
            else:
                now = self.clock()
                order = Order(
                    mchid=merchant.mchid, mode=mode, created=now,
                    token=secrets.token_urlsafe(12),
                    prepay_id="wx" + dt.datetime.fromtimestamp(now, CST).strftime(
                        "%d%H%M%S") + secrets.token_hex(13), **terms)
                self.orders[(merchant.mchid, order.out_trade_no)] = order
                self._save()
        if mode == "native":
            return {"code_url": f"weixin://wxpay/bizpayurl?pr={order.token}"}
        if mode == "jsapi":
            return {"prepay_id": order.prepay_id}
        return {"h5_url": f"{self._base_url(request)}/wechat/h5/{order.token}"
                          f"?prepay_id={order.prepay_id}&package={_digits(10)}"}

    def _order_terms(self, merchant: Merchant, mode: str, body: dict) -> dict:
        """The checked fields of a create request, as ``Order`` fields (PARAM_ERROR for
        anything the real gateway refuses)."""
        def param_error(message: str):
            raise ApiError(400, "PARAM_ERROR", message)

        if body.get("mchid") != merchant.mchid:
            param_error("mchid与发起调用的商户号不一致")
        appid = body.get("appid")
        if appid != merchant.appid:
            param_error("appid和mch_id不匹配")
        description = body.get("description")
        if not isinstance(description, str) or not description or len(description) > 127:
            param_error("description长度应为1-127个字符")
        out_trade_no = body.get("out_trade_no")
        if not isinstance(out_trade_no, str) or not OUT_TRADE_NO_RE.match(out_trade_no):
            param_error("out_trade_no应为6-32位数字、大小写字母或_-|*")
        amount = body.get("amount")
        if not isinstance(amount, dict):
            param_error("缺少amount")
        total = amount.get("total")
        if type(total) is not int or total <= 0:
            param_error("amount.total必须是大于0的整数（单位：分）")
        if amount.get("currency", "CNY") != "CNY":
            param_error("amount.currency仅支持CNY")
        notify_url = self._validate_notify_url(body.get("notify_url"))
        attach = body.get("attach", "")
        if not isinstance(attach, str) or len(attach) > 128:
            param_error("attach长度不能超过128个字符")
        openid, payer_ip = self._payer_terms(mode, body)
        fingerprint = json.dumps([mode, appid, description, total, notify_url, attach,
                                  body.get("time_expire"), openid], ensure_ascii=False)
        return {"appid": appid, "out_trade_no": out_trade_no, "description": description,
                "total": total, "notify_url": notify_url, "attach": attach,
                "expires": self._expiry(body), "payer_openid": openid, "payer_ip": payer_ip,
                "fingerprint": fingerprint}

    def _expiry(self, body: dict) -> float:
        now = self.clock()
        if body.get("time_expire") is None:
            return now + DEFAULT_EXPIRY
        try:
            parsed = dt.datetime.fromisoformat(body["time_expire"])
        except (TypeError, ValueError):
            parsed = None
        if parsed is None or parsed.tzinfo is None:
            raise ApiError(400, "PARAM_ERROR",
                           "time_expire应为RFC 3339格式，如2018-06-08T10:34:56+08:00")
        if parsed.timestamp() <= now:
            raise ApiError(400, "PARAM_ERROR", "time_expire已过期")
        return parsed.timestamp()

    @staticmethod
    def _payer_terms(mode: str, body: dict) -> tuple[str, str]:
        """(payer openid for JSAPI, payer IP for H5)."""
        if mode == "jsapi":
            payer = body.get("payer")
            openid = payer.get("openid") if isinstance(payer, dict) else None
            if not isinstance(openid, str) or not openid:
                raise ApiError(400, "PARAM_ERROR", "JSAPI下单必须传payer.openid")
            return openid, ""
        if mode == "h5":
            scene = body.get("scene_info")
            h5_info = scene.get("h5_info") if isinstance(scene, dict) else None
            if not (isinstance(scene, dict) and scene.get("payer_client_ip")
                    and isinstance(h5_info, dict) and h5_info.get("type")):
                raise ApiError(400, "PARAM_ERROR",
                               "H5下单必须传scene_info.payer_client_ip和scene_info.h5_info.type")
            return "", str(scene["payer_client_ip"])
        return "", ""

    def _refunds_of(self, order: Order) -> list[Refund]:
        return [r for r in self.refunds.values()
                if r.mchid == order.mchid and r.out_trade_no == order.out_trade_no]

    def trade_state(self, order: Order) -> str:
        if order.state == "SUCCESS" and any(r.status != "CLOSED" for r in self._refunds_of(order)):
            return "REFUND"
        return order.state

    def _transaction(self, order: Order) -> dict:
        state = self.trade_state(order)
        data = {
            "appid": order.appid,
            "mchid": order.mchid,
            "out_trade_no": order.out_trade_no,
            "trade_state": state,
            "trade_state_desc": TRADE_STATE_DESC.get(state, state),
            "attach": order.attach,
            "amount": {"total": order.total, "currency": "CNY", "payer_currency": "CNY"},
        }
        if order.transaction_id:
            data.update({
                "transaction_id": order.transaction_id,
                "trade_type": TRADE_TYPE[order.mode],
                "bank_type": "OTHERS",
                "success_time": rfc3339(order.success_time),
                "payer": {"openid": order.payer_openid},
                "amount": {"total": order.total, "payer_total": order.total,
                           "currency": "CNY", "payer_currency": "CNY"},
            })
        return data

    def _close(self, order: Order) -> None:
        with self._lock:
            if order.state == "SUCCESS":
                raise ApiError(400, "ORDERPAID", "订单已支付")
            if order.state in (*PAYABLE_STATES, "PAYERROR"):
                order.state = "CLOSED"
                self._save()

    def pay(self, out_trade_no: str, mchid: str | None = None, *, openid: str = "") -> dict:
        """The payer confirms (the pages call this; so can tests). Returns the query
        result; raises ``ApiError`` if the order cannot be paid."""
        with self._lock:
            order = self._find_order(out_trade_no, mchid)
            self._expire_if_due(order)
            if order.state == "SUCCESS":
                raise ApiError(400, "ORDERPAID", "该订单已支付")
            if order.state not in PAYABLE_STATES:
                raise ApiError(400, "ORDER_CLOSED", "订单已关闭或已过期，无法支付")
            now = self.clock()
            order.state = "SUCCESS"
            order.success_time = now
            order.transaction_id = ("42000" + _digits(5)
                                    + dt.datetime.fromtimestamp(now, CST).strftime("%Y%m%d")
                                    + _digits(10))
            order.payer_openid = order.payer_openid or openid or "o" + _alnum(27)
            self._save()
            data = self._transaction(order)
        self._notify(order.mchid, order.notify_url, "TRANSACTION.SUCCESS", "支付成功",
                     "transaction", data, label=order.out_trade_no)
        return data

    def _find_order(self, out_trade_no: str, mchid: str | None = None) -> Order:
        for (m, no), order in self.orders.items():
            if no == out_trade_no and (mchid is None or m == mchid):
                return order
        raise ApiError(404, "ORDER_NOT_EXIST", "订单不存在")

    def _order_by_token(self, token: str) -> Order | None:
        return next((o for o in self.orders.values()
                     if token in (o.token, o.prepay_id)), None)

    def expire(self, out_trade_no: str, mchid: str | None = None) -> None:
        """Make an unpaid order's time_expire pass now (tests, the demo)."""
        with self._lock:
            order = self._find_order(out_trade_no, mchid)
            order.expires = min(order.expires, self.clock())
            self._expire_if_due(order)

    def payment_code_state(self, out_trade_no: str, state: str,
                           mchid: str | None = None) -> dict:
        """Put an unpaid order in a state a payment-code (付款码) trade passes through:
        USERPAYING (the payer is entering the password), ACCEPT (received, waiting for
        the debit) or PAYERROR (the payment failed). Returns the query result."""
        if state not in PAYMENT_CODE_STATES:
            raise ValueError(f"not a payment-code state: {state!r}")
        with self._lock:
            order = self._find_order(out_trade_no, mchid)
            self._expire_if_due(order)
            if order.state not in PAYABLE_STATES:
                raise ApiError(400, "ORDER_CLOSED", "订单已支付、关闭或撤销")
            order.state = state
            self._save()
            return self._transaction(order)

    def revoke(self, out_trade_no: str, mchid: str | None = None) -> dict:
        """Revoke (撤销) a payment-code trade: an unpaid one just ends; a paid one has all
        its money returned to the payer and keeps its transaction id and time.
        Returns the query result (trade_state REVOKED)."""
        with self._lock:
            order = self._find_order(out_trade_no, mchid)
            self._expire_if_due(order)
            if any(r.status != "CLOSED" for r in self._refunds_of(order)):
                raise ApiError(400, "INVALID_REQUEST", "订单已发生退款，不能撤销")
            order.state = "REVOKED"
            self._save()
            return self._transaction(order)
