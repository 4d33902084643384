"""Notifications: ``trade_status_sync`` form POSTs signed with the Alipay key,
delivered until the receiver answers ``success``; on-demand variants for tests."""

from __future__ import annotations

import dataclasses
import json
import uuid
from urllib.parse import parse_qsl, urlencode

from linli.paysim.alipay.common import (
    STALE_NOTIFY_AGE,
    TIME_FORMAT,
    RefundRecord,
    Trade,
    _ack,
    _digits,
    beijing,
    fmt_time,
    sign_content,
    yuan,
)
from linli.paysim.common import (
    ALIPAY_RETRY_SCHEDULE,
    Delivery,
    rsa_sign,
)


class _NotifyMixin:
    """The notify part of ``AlipaySim``."""

    def notification_params(self, trade: Trade, *, refund: RefundRecord | None = None,
                            notify_time: float | None = None) -> dict[str, str]:
        """The unsigned fields of a trade_status_sync notification for the trade now."""
        paid = trade.gmt_payment is not None
        amount = yuan(trade.total_fen)
        params = {
            "notify_time": fmt_time(self.clock() if notify_time is None else notify_time),
            "notify_type": "trade_status_sync",
            "notify_id": uuid.uuid4().hex + _digits(3),
            "app_id": trade.app_id, "auth_app_id": trade.app_id,
            "charset": "utf-8", "version": "1.0", "sign_type": "RSA2",
            "trade_no": trade.trade_no, "out_trade_no": trade.out_trade_no,
            "buyer_id": trade.buyer_id, "buyer_logon_id": trade.buyer_logon_id,
            "seller_id": trade.seller_id, "trade_status": trade.status,
            "total_amount": amount, "receipt_amount": amount if paid else "",
            "invoice_amount": amount if paid else "", "buyer_pay_amount": amount if paid else "",
            "point_amount": "0.00" if paid else "", "subject": trade.subject,
            "body": trade.body,
            "gmt_create": fmt_time(trade.gmt_create) if trade.gmt_create else "",
            "gmt_payment": fmt_time(trade.gmt_payment) if paid else "",
            "gmt_close": fmt_time(trade.gmt_close) if trade.gmt_close else "",
            "passback_params": trade.passback_params,
            "fund_bill_list": json.dumps([{"amount": amount, "fundChannel": "ALIPAYACCOUNT"}],
                                         separators=(",", ":")) if paid else "",
        }
        if refund is not None:
            at = beijing(refund.at)
            params.update(
                refund_fee=yuan(sum(r.refund_fen for r in trade.refunds
                                    if r.at <= refund.at)),
                gmt_refund=at.strftime(TIME_FORMAT) + f".{at.microsecond // 1000:03d}",
                out_biz_no=refund.out_request_no,
            )
        return {k: v for k, v in params.items() if v != ""}

    def sign_notification(self, params: dict[str, str], *, key=None) -> dict[str, str]:
        """Sign with the Alipay key: sorted non-empty fields except sign and sign_type."""
        content = sign_content(params, exclude=("sign", "sign_type"))
        return {**params, "sign": rsa_sign(key or self.alipay_key, content.encode())}

    def _notify(self, trade: Trade, *, refund: RefundRecord | None = None) -> Delivery | None:
        if not trade.notify_url:
            return None
        params = self.sign_notification(self.notification_params(trade, refund=refund))
        return self._submit(trade, urlencode(params).encode(), params)

    def _submit(self, trade: Trade, body: bytes, params: dict[str, str], *,
                genuine: bool = True) -> Delivery:
        delivery = Delivery(
            url=trade.notify_url, body=body,
            headers={"Content-Type": "application/x-www-form-urlencoded; charset=utf-8"},
            is_ack=_ack, schedule=ALIPAY_RETRY_SCHEDULE,
            label=f"alipay {params.get('trade_status', '')} {trade.out_trade_no}",
        )
        with self._lock:
            self.deliveries.append(delivery)
            if genuine:  # what "duplicate" repeats
                self._last_notification[(trade.app_id, trade.out_trade_no)] = body
        self.dispatcher.submit(delivery)
        with self._lock:
            self._delivery_info[delivery.id] = {
                "app_id": trade.app_id, "out_trade_no": trade.out_trade_no,
                "notify_id": params.get("notify_id", ""),
                "trade_status": params.get("trade_status", ""),
                "refund_fee": params.get("refund_fee", ""),
            }
        return delivery

    def send_notification(self, out_trade_no: str, variant: str = "fresh", *,
                          app_id: str | None = None, url: str = "") -> Delivery:
        """Send a notification on demand: ``fresh`` (a new one for the trade as it is),
        ``duplicate`` (the last one again, same notify_id and signature), ``stale``
        (validly signed, notify_time days ago), ``forged`` (signed with another key),
        ``tampered`` (validly signed, then total_amount changed)."""
        with self._lock:
            trade = self._find_trade(out_trade_no, app_id)
            if url:
                trade = dataclasses.replace(trade, notify_url=url)
            if not trade.notify_url:
                raise ValueError("the trade has no notify_url")
            if variant == "duplicate":
                body = self._last_notification.get((trade.app_id, trade.out_trade_no))
                if body is None:
                    raise ValueError("no notification sent yet for this trade")
                return self._submit(trade, body, dict(parse_qsl(body.decode())), genuine=False)
            refund = trade.refunds[-1] if trade.refunds else None
            notify_time = self.clock() - STALE_NOTIFY_AGE if variant == "stale" else None
            params = self.notification_params(trade, refund=refund, notify_time=notify_time)
            if variant in ("fresh", "stale"):
                params = self.sign_notification(params)
            elif variant == "forged":
                params = self.sign_notification(params, key=self._other_key())
            elif variant == "tampered":
                params = self.sign_notification(params)
                params["total_amount"] = yuan(trade.total_fen + 100)
            else:
                raise ValueError(f"unknown notification variant {variant!r}")
            return self._submit(trade, urlencode(params).encode(), params,
                                genuine=variant == "fresh")

    def hold_notifications(self) -> None:
        self.dispatcher.hold()

    def release_notifications(self, order: str = "fifo") -> None:
        """Send what is held, as queued (``fifo``) or newest first (``reverse``)."""
        self.dispatcher.release((lambda items: list(reversed(items)))
                                if order == "reverse" else None)

    def delivery_log(self, out_trade_no: str | None = None) -> list[dict]:
        with self._lock:
            deliveries = list(self.deliveries)
            info = dict(self._delivery_info)
        return [{
            "id": d.id, "label": d.label, "url": d.url, **info.get(d.id, {}),
            "acknowledged": d.acknowledged, "given_up": d.given_up,
            "attempts": [{"at": at, "status": status, "body": body.decode("utf-8", "replace")}
                         for at, status, body in d.attempts],
        } for d in deliveries
            if out_trade_no is None or info.get(d.id, {}).get("out_trade_no") == out_trade_no]
