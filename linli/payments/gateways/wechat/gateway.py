"""WeChat Pay API v3 behind our ``Gateway`` interface, on ``wechatpayv3`` (public-key mode).

What the library does not do and we add:
- point it at ``config.gateway_url`` (the real gateway or the local simulator) through
  the private ``_core._gate_way`` — pinned library version, asserted by a test;
- refuse a response whose ``Wechatpay-Serial`` is not our platform key id or whose
  ``Wechatpay-Timestamp`` is more than 5 minutes off (the library checks neither, and
  for an unknown serial would go fetching platform certificates);
- verify notifications ourselves on the raw body: header presence, SIGNTEST probes,
  serial, ±5 min window, signature (with the library's verifier), decryption, and that
  the appid / mchid are ours;
- map every library exception and HTTP status to ``GatewayError``.
"""

from __future__ import annotations

import datetime as dt
import json
import secrets
import time
from urllib.parse import quote

import requests
from django.utils.translation import gettext_lazy as _
from wechatpayv3 import WeChatPay, WeChatPayType
from wechatpayv3.utils import aes_decrypt, load_public_key, rsa_verify

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
from linli.payments.gateways.statetable import trade_status
from linli.payments.gateways.wechat.states import TABLE

SIGNATURE_TYPE = "WECHATPAY2-SHA256-RSA2048"
TIMESTAMP_WINDOW = dt.timedelta(minutes=5)
CST = dt.timezone(dt.timedelta(hours=8))
DEFAULT_TIMEOUT = (3.05, 10)  # (connect, read) seconds
RETRYABLE_CODES = {"SYSTEM_ERROR", "FREQUENCY_LIMITED", "SYSTEMERROR", "BANKERROR"}

REFUND_STATES = {
    "SUCCESS": RefundState.SUCCESS,
    "PROCESSING": RefundState.PROCESSING,
    "ABNORMAL": RefundState.ABNORMAL,
    "CLOSED": RefundState.CLOSED,
}
REFUND_REASONS = {
    RefundState.ABNORMAL: _(
        "Refund abnormal: the payer's bank card may be frozen or cancelled. "
        "Handle it in the WeChat Pay merchant platform."),
    RefundState.CLOSED: _("WeChat Pay closed the refund; no money was returned."),
}


def _parse_time(value) -> dt.datetime | None:
    if not value:
        return None
    try:
        parsed = dt.datetime.fromisoformat(value)
    except (TypeError, ValueError):
        return None
    return parsed if parsed.tzinfo else None


class WeChatPayGateway:
    channel = "wechat"

    def __init__(self, config: MerchantConfig, *, timeout=DEFAULT_TIMEOUT) -> None:
        self.config = config
        if not (config.platform_public_key_pem and config.platform_public_key_id):
            # Without them the library falls back to platform-certificate mode and
            # downloads certificates inside its constructor.
            raise GatewayError("CONFIG_ERROR", "the WeChat Pay public key and its id are required")
        try:
            self._platform_key = load_public_key(config.platform_public_key_pem)
            self._wx = WeChatPay(
                wechatpay_type=WeChatPayType.NATIVE,
                mchid=config.merchant_id,
                private_key=config.private_key_pem,
                cert_serial_no=config.merchant_serial,
                appid=config.app_id,
                apiv3_key=config.api_v3_key,
                notify_url=config.notify_url or None,
                timeout=timeout,
                public_key=config.platform_public_key_pem,
                public_key_id=config.platform_public_key_id,
            )
        except Exception as exc:  # noqa: BLE001 - the library raises bare Exception
            raise GatewayError("CONFIG_ERROR", str(exc)) from exc
        core = self._wx._core
        if config.gateway_url:
            core._gate_way = config.gateway_url.rstrip("/")
        # The library's own verifier (signature only), wrapped with the serial and
        # timestamp checks it lacks.
        self._library_verify = core._verify_signature
        core._verify_signature = self._verify_response

    # ------------------------------------------------------------ transport

    def _verify_response(self, headers, body) -> bool:
        if headers.get("Wechatpay-Signature-Type") != SIGNATURE_TYPE:
            return False
        if headers.get("Wechatpay-Serial") != self.config.platform_public_key_id:
            return False
        timestamp = headers.get("Wechatpay-Timestamp", "")
        if not timestamp.isdigit() or abs(time.time() - int(timestamp)) > \
                TIMESTAMP_WINDOW.total_seconds():
            return False
        return bool(self._library_verify(headers, body))

    def _call(self, fn, *args, allow: tuple[int, ...] = (), **kwargs) -> tuple[int, dict]:
        """Run one library call; return (status, JSON body) for a 2xx or an allowed
        status, raise GatewayError for anything else."""
        try:
            status, text = fn(*args, **kwargs)
        except requests.Timeout as exc:
            raise GatewayError("TIMEOUT", str(exc), retryable=True) from exc
        except requests.ConnectionError as exc:
            raise GatewayError("CONNECTION_ERROR", str(exc), retryable=True) from exc
        except requests.RequestException as exc:
            raise GatewayError("NETWORK_ERROR", str(exc), retryable=True) from exc
        except Exception as exc:  # noqa: BLE001 - the library raises bare Exception
            if "verify the signature" in str(exc):
                # Unsigned, wrongly signed, stale or foreign-key 2xx: treated as forged.
                # The request itself may have been accepted, so it is retryable with
                # the same out_trade_no / out_refund_no.
                raise GatewayError("RESPONSE_NOT_VERIFIED",
                                   "the gateway's response signature did not verify",
                                   retryable=True) from exc
            raise GatewayError("CLIENT_ERROR", str(exc)) from exc
        if isinstance(text, bytes):
            text = text.decode("utf-8", "replace")
        try:
            data = json.loads(text) if text else {}
        except ValueError:
            data = {}
        if not isinstance(data, dict):
            data = {}
        if 200 <= status < 300 or status in allow:
            return status, data
        code = str(data.get("code") or f"HTTP_{status}")
        retryable = status >= 500 or status == 429 or code in RETRYABLE_CODES
        raise GatewayError(code, str(data.get("message", "")), retryable=retryable)

    # ------------------------------------------------------------ orders

    def create(self, request: CreateRequest) -> CreateResult:
        if type(request.amount_fen) is not int or request.amount_fen <= 0:
            raise GatewayError("PARAM_ERROR", "amount_fen must be a positive integer")
        if not self.config.notify_url:
            raise GatewayError("CONFIG_ERROR", "notify_url is not configured")
        if request.expires_at.tzinfo is None:
            raise GatewayError("PARAM_ERROR", "expires_at must be timezone-aware")
        kwargs = {
            "description": request.description[:127],
            "out_trade_no": request.out_trade_no,
            "amount": {"total": request.amount_fen, "currency": "CNY"},
            "time_expire": request.expires_at.astimezone(CST).isoformat(timespec="seconds"),
        }
        if request.mode == PayMode.NATIVE:
            _, data = self._call(self._wx.pay, pay_type=WeChatPayType.NATIVE, **kwargs)
            if not data.get("code_url"):
                raise GatewayError("BAD_RESPONSE", "no code_url in the response")
            return CreateResult(mode=request.mode, code_url=data["code_url"], raw=data)
        if request.mode == PayMode.JSAPI:
            if not request.payer_openid:
                raise GatewayError("PARAM_ERROR", "JSAPI needs payer_openid")
            _, data = self._call(self._wx.pay, pay_type=WeChatPayType.JSAPI,
                                 payer={"openid": request.payer_openid}, **kwargs)
            prepay_id = data.get("prepay_id", "")
            if not prepay_id:
                raise GatewayError("BAD_RESPONSE", "no prepay_id in the response")
            return CreateResult(mode=request.mode, jsapi_params=self.jsapi_params(prepay_id),
                                raw=data)
        if request.mode == PayMode.H5:
            scene = {"payer_client_ip": request.payer_ip or "127.0.0.1",
                     "h5_info": {"type": "Wap"}}
            _, data = self._call(self._wx.pay, pay_type=WeChatPayType.H5, scene_info=scene,
                                 **kwargs)
            url = data.get("h5_url", "")
            if not url:
                raise GatewayError("BAD_RESPONSE", "no h5_url in the response")
            if request.return_url:
                url += ("&" if "?" in url else "?") + "redirect_url=" + quote(
                    request.return_url, safe="")
            return CreateResult(mode=request.mode, redirect_url=url, raw=data)
        raise GatewayError("UNSUPPORTED_MODE", f"WeChat Pay cannot pay by {request.mode}")

    def jsapi_params(self, prepay_id: str) -> dict:
        """The signed parameters of ``WeixinJSBridge.invoke('getBrandWCPayRequest', …)``."""
        params = {
            "appId": self.config.app_id,
            "timeStamp": str(int(time.time())),
            "nonceStr": secrets.token_hex(16),
            "package": f"prepay_id={prepay_id}",
            "signType": "RSA",
        }
        params["paySign"] = self._wx.sign(
            [params["appId"], params["timeStamp"], params["nonceStr"], params["package"]])
        return params

    def _trade_status(self, data: dict, out_trade_no: str) -> TradeStatus:
        """The transaction object (query answer or notification resource) in our words,
        by the state table (``wechat/states.py``)."""
        if data.get("mchid") != self.config.merchant_id or (
                data.get("out_trade_no") != out_trade_no):
            raise GatewayError("BAD_RESPONSE", "the response is about another merchant or order")
        word = data.get("trade_state", "")
        word = word if isinstance(word, str) else ""
        row = TABLE.classify(word, data)
        total = (data.get("amount") or {}).get("total")
        return trade_status(
            row, data, out_trade_no=out_trade_no, channel_state=word,
            transaction_id=data.get("transaction_id", "") or "",
            amount_fen=total if type(total) is int else None,
            paid_at=_parse_time(data.get("success_time")), raw=data)

    def query(self, out_trade_no: str) -> TradeStatus:
        """An order the gateway does not know (e.g. its create timed out before it
        arrived) is NOTPAY, as ``TradeState`` defines it."""
        status, data = self._call(self._wx.query, out_trade_no=out_trade_no, allow=(404,))
        if status == 404:
            return self._not_found(out_trade_no, data, TABLE.row("ORDER_NOT_EXIST").state)
        return self._trade_status(data, out_trade_no)

    @staticmethod
    def _not_found(out_trade_no: str, data: dict, state: TradeState) -> TradeStatus:
        """An order the gateway never received: the table's ORDER_NOT_EXIST row for a
        query (NOTPAY); CLOSED for a close."""
        if data.get("code") not in ("ORDER_NOT_EXIST", "ORDERNOTEXIST", "RESOURCE_NOT_EXISTS"):
            raise GatewayError(str(data.get("code") or "HTTP_404"), str(data.get("message", "")))
        return TradeStatus(out_trade_no=out_trade_no, state=state, raw=data)

    def close(self, out_trade_no: str) -> TradeStatus:
        """CLOSED (also for an order the gateway never saw), or PAID when it was paid."""
        status, data = self._call(self._wx.close, out_trade_no, allow=(400, 404))
        if status == 404:
            return self._not_found(out_trade_no, data, TradeState.CLOSED)
        if status == 400:
            code = data.get("code", "")
            if code == "ORDERPAID":
                return self.query(out_trade_no)
            if code not in ("ORDER_CLOSED", "ORDERCLOSED"):
                raise GatewayError(code or "HTTP_400", str(data.get("message", "")))
        return TradeStatus(out_trade_no=out_trade_no, state=TradeState.CLOSED, raw=data)

    # ------------------------------------------------------------ refunds

    def _refund_status(self, data: dict, out_refund_no: str) -> RefundStatus:
        if data.get("out_refund_no") != out_refund_no:
            raise GatewayError("BAD_RESPONSE", "the response is about another refund")
        state = REFUND_STATES.get(data.get("status") or data.get("refund_status", ""))
        if state is None:
            raise GatewayError("BAD_RESPONSE", f"unknown refund status {data.get('status')!r}")
        amount = data.get("amount") or {}
        refund = amount.get("refund")
        return RefundStatus(
            out_refund_no=out_refund_no,
            state=state,
            refund_id=data.get("refund_id", "") or "",
            refund_fen=refund if type(refund) is int else None,
            succeeded_at=_parse_time(data.get("success_time"))
            if state == RefundState.SUCCESS else None,
            reason=str(REFUND_REASONS.get(state, "")),
            raw=data,
        )

    def refund(self, request: RefundRequest) -> RefundStatus:
        if type(request.refund_fen) is not int or request.refund_fen <= 0:
            raise GatewayError("PARAM_ERROR", "refund_fen must be a positive integer")
        _, data = self._call(
            self._wx.refund, out_refund_no=request.out_refund_no,
            amount={"refund": request.refund_fen, "total": request.total_fen, "currency": "CNY"},
            out_trade_no=request.out_trade_no, reason=request.reason[:80] or None)
        if data.get("out_trade_no") not in (None, request.out_trade_no):
            raise GatewayError("BAD_RESPONSE", "the response is about another order")
        return self._refund_status(data, request.out_refund_no)

    def query_refund(self, out_trade_no: str, out_refund_no: str) -> RefundStatus:
        status, data = self._call(self._wx.query_refund, out_refund_no, allow=(404,))
        if status == 404:
            return RefundStatus(out_refund_no=out_refund_no, state=RefundState.NOT_FOUND,
                                raw=data)
        if data.get("out_trade_no") != out_trade_no:
            raise GatewayError("BAD_RESPONSE", "the refund belongs to another order")
        return self._refund_status(data, out_refund_no)

    # ------------------------------------------------------------ notifications

    def _verified_body(self, headers: dict[str, str], body: bytes, *,
                       now: dt.datetime) -> str:
        """The notification body as text, once its headers and signature verify."""
        h = {k.lower(): v for k, v in headers.items()}
        signature = h.get("wechatpay-signature", "")
        timestamp = h.get("wechatpay-timestamp", "")
        nonce = h.get("wechatpay-nonce", "")
        serial = h.get("wechatpay-serial", "")
        if not (signature and timestamp and nonce and serial):
            raise NotificationRejected("missing_signature")
        if signature.startswith("WECHATPAY/SIGNTEST/"):
            raise NotificationRejected("signtest")
        if h.get("wechatpay-signature-type", SIGNATURE_TYPE) != SIGNATURE_TYPE:
            raise NotificationRejected("unsupported_signature_type")
        if serial != self.config.platform_public_key_id:
            raise NotificationRejected("unknown_serial")
        if not timestamp.isdigit():
            raise NotificationRejected("bad_timestamp")
        sent = dt.datetime.fromtimestamp(int(timestamp), dt.UTC)
        if abs(now - sent) > TIMESTAMP_WINDOW:
            raise NotificationRejected("stale_timestamp")
        try:
            text = body.decode("utf-8")
        except UnicodeDecodeError:
            raise NotificationRejected("malformed_body") from None
        # The library's verifier on the exact body (decoded and re-encoded UTF-8 is the
        # same bytes).
        if not rsa_verify(timestamp, nonce, text, signature, self._platform_key):
            raise NotificationRejected("bad_signature")
        return text

    def parse_notification(self, headers: dict[str, str], body: bytes, *,
                           now: dt.datetime) -> Notification:
        text = self._verified_body(headers, body, now=now)
        try:
            envelope = json.loads(text)
            resource = envelope["resource"]
            event_type = envelope["event_type"]
            event_id = envelope["id"]
        except (ValueError, KeyError, TypeError):
            raise NotificationRejected("malformed_body") from None
        if envelope.get("resource_type") != "encrypt-resource" or not isinstance(
                resource, dict) or resource.get("algorithm") != "AEAD_AES_256_GCM":
            raise NotificationRejected("unsupported_resource")
        try:
            plaintext = aes_decrypt(nonce=resource["nonce"], ciphertext=resource["ciphertext"],
                                    associated_data=resource.get("associated_data") or "",
                                    apiv3_key=self.config.api_v3_key)
            data = json.loads(plaintext) if plaintext else None
        except Exception:  # noqa: BLE001 - bad base64, wrong key/nonce, bad JSON
            data = None
        if not isinstance(data, dict):
            raise NotificationRejected("undecryptable")
        if data.get("mchid") != self.config.merchant_id:
            raise NotificationRejected("merchant_id_mismatch")
        if "appid" in data and data["appid"] != self.config.app_id:
            raise NotificationRejected("app_id_mismatch")
        out_trade_no = data.get("out_trade_no")
        if not isinstance(out_trade_no, str) or not out_trade_no:
            raise NotificationRejected("malformed_resource")
        raw = dict(envelope, resource=data)
        common = {"dedupe_key": str(event_id), "app_id": data.get("appid", self.config.app_id),
                  "merchant_id": data["mchid"], "out_trade_no": out_trade_no, "raw": raw}
        if event_type == "TRANSACTION.SUCCESS":
            if data.get("appid") != self.config.app_id:
                raise NotificationRejected("app_id_mismatch")
            trade = self._trade_status(data, out_trade_no)
            return Notification(kind="payment", trade=trade, **common)
        if event_type.startswith("REFUND."):
            if not isinstance(data.get("out_refund_no"), str):
                raise NotificationRejected("malformed_resource")
            try:
                refund = self._refund_status(data, data["out_refund_no"])
            except GatewayError:
                raise NotificationRejected("malformed_resource") from None
            return Notification(kind="refund", refund=refund, **common)
        raise NotificationRejected("unknown_event")

    def acknowledge(self, ok: bool, message: str = "") -> Ack:
        if ok:
            return Ack(status=204)
        body = json.dumps({"code": "FAIL", "message": message or "失败"},
                          ensure_ascii=False).encode()
        return Ack(status=500, body=body, content_type="application/json")
