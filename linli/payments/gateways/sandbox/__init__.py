"""The sandbox channel: not real money, for the demo and tests (模拟支付（非真实资金）).

It behaves like a gateway: ``create`` returns our own "pay" page
(``/pay/sandbox/<out_trade_no>/``); paying there makes this "gateway" mark its trade
paid and send a notification signed with HMAC-SHA256 (key ``config.sandbox_secret``)
to the same notification endpoint and code path as WeChat Pay and Alipay. Its state
(trades, refunds) is kept in ``payments.SandboxTrade``, as a real gateway keeps its own.

Notification: a JSON body and the headers ``X-Sandbox-Timestamp`` (unix seconds),
``X-Sandbox-Nonce`` and ``X-Sandbox-Signature`` = hex HMAC-SHA256 over
``timestamp\\nnonce\\nbody\\n``. Timestamps more than 5 minutes off are refused; app id
and merchant id must be this account's. Acknowledge: 200 ``success`` / 400 ``fail``.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import json
import secrets

from django.db import transaction
from django.utils import timezone

from linli.payments.gateways.base import (
    Ack,
    CreateRequest,
    CreateResult,
    GatewayError,
    MerchantConfig,
    Notification,
    NotificationRejected,
    PayMode,
    RefundRequest,
    RefundState,
    RefundStatus,
    TradeState,
    TradeStatus,
)

MAX_SKEW = dt.timedelta(minutes=5)


def sign(secret: str, timestamp: str, nonce: str, body: bytes) -> str:
    message = timestamp.encode() + b"\n" + nonce.encode() + b"\n" + body + b"\n"
    return hmac.new(secret.encode(), message, hashlib.sha256).hexdigest()


def build_notification(config: MerchantConfig, *, out_trade_no: str, transaction_id: str,
                       amount_fen: int, paid_at: dt.datetime | None = None,
                       now: dt.datetime | None = None) -> tuple[dict[str, str], bytes]:
    """The signed notification the sandbox sends for a paid trade: (headers, body)."""
    now = now or timezone.now()
    paid_at = paid_at or now
    body = json.dumps({
        "id": secrets.token_hex(8), "event_type": "TRANSACTION.SUCCESS",
        "app_id": config.app_id, "merchant_id": config.merchant_id,
        "out_trade_no": out_trade_no, "transaction_id": transaction_id,
        "amount_fen": amount_fen, "paid_at": paid_at.isoformat(), "trade_state": "paid",
    }, sort_keys=True).encode()
    timestamp, nonce = str(int(now.timestamp())), secrets.token_hex(8)
    headers = {
        "content-type": "application/json",
        "x-sandbox-timestamp": timestamp,
        "x-sandbox-nonce": nonce,
        "x-sandbox-signature": sign(config.sandbox_secret, timestamp, nonce, body),
    }
    return headers, body


class SandboxGateway:
    channel = "sandbox"

    def __init__(self, config: MerchantConfig) -> None:
        self.config = config

    # --- its "server" state ------------------------------------------------------
    def _trade(self, out_trade_no: str, *, lock: bool = False):
        from linli.payments.models import SandboxTrade

        qs = SandboxTrade.objects.select_for_update(no_key=True) if lock else SandboxTrade.objects
        return qs.filter(out_trade_no=out_trade_no).first()

    def _status(self, trade) -> TradeStatus:
        if trade is None:
            return TradeStatus(out_trade_no="", state=TradeState.NOTPAY)
        return TradeStatus(
            out_trade_no=trade.out_trade_no, state=TradeState(trade.state),
            transaction_id=trade.transaction_id,
            amount_fen=trade.amount_fen if trade.state == TradeState.PAID else None,
            paid_at=trade.paid_at, raw={"state": trade.state},
        )

    def _account_id(self) -> int:
        # The notify URL ends with /<channel>/<account id>/.
        try:
            return int(self.config.notify_url.rstrip("/").rsplit("/", 1)[1])
        except (IndexError, ValueError):
            raise GatewayError("CONFIG", "sandbox notify_url has no account id") from None

    def _check_secret(self) -> None:
        if not self.config.sandbox_secret:
            raise GatewayError("CONFIG", "no sandbox secret configured")

    # --- the Gateway protocol ----------------------------------------------------
    def create(self, request: CreateRequest) -> CreateResult:
        from django.urls import reverse

        from linli.payments.models import SandboxTrade

        self._check_secret()
        if request.amount_fen <= 0:
            raise GatewayError("PARAM_ERROR", "amount must be positive")
        trade, created = SandboxTrade.objects.get_or_create(
            out_trade_no=request.out_trade_no,
            defaults={"account_id": self._account_id(), "amount_fen": request.amount_fen,
                      "description": request.description[:127],
                      "expires_at": request.expires_at},
        )
        if not created and (trade.amount_fen != request.amount_fen or trade.state != "notpay"):
            raise GatewayError("OUT_TRADE_NO_USED", "order number already used")
        base = self.config.notify_url.split("/pay/notify/")[0]
        url = base + reverse("pay:sandbox-page", args=[request.out_trade_no])
        return CreateResult(mode=PayMode.SANDBOX, redirect_url=url,
                            raw={"out_trade_no": request.out_trade_no})

    def query(self, out_trade_no: str) -> TradeStatus:
        trade = self._trade(out_trade_no)
        status = self._status(trade)
        return status if trade else TradeStatus(out_trade_no=out_trade_no, state=TradeState.NOTPAY)

    def close(self, out_trade_no: str) -> TradeStatus:
        with transaction.atomic():
            trade = self._trade(out_trade_no, lock=True)
            if trade is None:
                return TradeStatus(out_trade_no=out_trade_no, state=TradeState.CLOSED)
            if trade.state == TradeState.NOTPAY:
                trade.state = TradeState.CLOSED
                trade.save(update_fields=["state"])
            return self._status(trade)

    def pay(self, out_trade_no: str) -> TradeStatus:
        """What the payer does on the sandbox page. Idempotent for a paid trade."""
        with transaction.atomic():
            trade = self._trade(out_trade_no, lock=True)
            if trade is None:
                raise GatewayError("ORDER_NOT_EXIST", "no such order")
            if trade.state == TradeState.CLOSED:
                raise GatewayError("ORDER_CLOSED", "the order is closed")
            if trade.state == TradeState.NOTPAY:
                trade.state = TradeState.PAID
                trade.transaction_id = "SBX" + secrets.token_hex(12).upper()
                trade.paid_at = timezone.now()
                trade.save(update_fields=["state", "transaction_id", "paid_at"])
            return self._status(trade)

    def notification_for(self, status: TradeStatus) -> tuple[dict[str, str], bytes]:
        return build_notification(self.config, out_trade_no=status.out_trade_no,
                                  transaction_id=status.transaction_id,
                                  amount_fen=status.amount_fen, paid_at=status.paid_at)

    def refund(self, request: RefundRequest) -> RefundStatus:
        with transaction.atomic():
            trade = self._trade(request.out_trade_no, lock=True)
            if trade is None or trade.state != TradeState.PAID:
                raise GatewayError("ORDER_NOT_PAID", "the order is not paid")
            done = trade.refunds.get(request.out_refund_no)
            if done is not None:
                if done["fen"] != request.refund_fen:
                    raise GatewayError("PARAM_ERROR", "refund number reused with other amount")
                return self._refund_status(request.out_refund_no, done)
            if trade.refunded_fen + request.refund_fen > trade.amount_fen:
                raise GatewayError("NOT_ENOUGH", "refund exceeds the payment")
            done = {"fen": request.refund_fen, "id": "SBR" + secrets.token_hex(10).upper(),
                    "at": timezone.now().isoformat()}
            trade.refunds[request.out_refund_no] = done
            trade.refunded_fen += request.refund_fen
            trade.save(update_fields=["refunds", "refunded_fen"])
            return self._refund_status(request.out_refund_no, done)

    def _refund_status(self, out_refund_no: str, done: dict) -> RefundStatus:
        return RefundStatus(out_refund_no=out_refund_no, state=RefundState.SUCCESS,
                            refund_id=done["id"], refund_fen=done["fen"],
                            succeeded_at=dt.datetime.fromisoformat(done["at"]))

    def query_refund(self, out_trade_no: str, out_refund_no: str) -> RefundStatus:
        trade = self._trade(out_trade_no)
        done = trade.refunds.get(out_refund_no) if trade else None
        if done is None:
            return RefundStatus(out_refund_no=out_refund_no, state=RefundState.NOT_FOUND)
        return self._refund_status(out_refund_no, done)

    def parse_notification(self, headers: dict[str, str], body: bytes, *,
                           now: dt.datetime) -> Notification:
        timestamp = headers.get("x-sandbox-timestamp", "")
        nonce = headers.get("x-sandbox-nonce", "")
        signature = headers.get("x-sandbox-signature", "")
        if not (timestamp and nonce and signature and self.config.sandbox_secret):
            raise NotificationRejected("missing signature headers")
        expected = sign(self.config.sandbox_secret, timestamp, nonce, body)
        if not hmac.compare_digest(expected, signature):
            raise NotificationRejected("bad signature")
        try:
            sent = dt.datetime.fromtimestamp(int(timestamp), tz=dt.UTC)
        except (ValueError, OverflowError):
            raise NotificationRejected("bad timestamp") from None
        if abs(now - sent) > MAX_SKEW:
            raise NotificationRejected("stale timestamp")
        try:
            data = json.loads(body)
            amount = data["amount_fen"]
            if not isinstance(amount, int) or isinstance(amount, bool):
                raise ValueError("amount")
            paid_at = dt.datetime.fromisoformat(data["paid_at"])
            out_trade_no, transaction_id = str(data["out_trade_no"]), str(data["transaction_id"])
        except (ValueError, KeyError, TypeError):
            raise NotificationRejected("malformed body") from None
        if data.get("app_id") != self.config.app_id:
            raise NotificationRejected("wrong app id")
        if data.get("merchant_id") != self.config.merchant_id:
            raise NotificationRejected("wrong merchant id")
        state = TradeState.PAID if data.get("trade_state") == "paid" else TradeState.UNKNOWN
        return Notification(
            kind="payment", dedupe_key=str(data.get("id", "")), app_id=data["app_id"],
            merchant_id=data["merchant_id"], out_trade_no=out_trade_no,
            trade=TradeStatus(out_trade_no=out_trade_no, state=state,
                              transaction_id=transaction_id, amount_fen=amount,
                              paid_at=paid_at, raw=data),
            raw=data,
        )

    def acknowledge(self, ok: bool) -> Ack:
        return Ack(200, b"success") if ok else Ack(400, b"fail")
