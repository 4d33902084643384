"""Alipay OpenAPI (RSA2, public-key mode) behind our ``Gateway`` interface, on
python-alipay-sdk (``alipay.AliPay``).

What the library does not do and we add:
- point it at ``config.gateway_url`` (the real gateway or the local simulator) through
  the private ``_gateway`` — pinned library version, asserted by a test;
- send ``timestamp`` in Beijing time whatever the process's time zone (the library
  uses the naive local ``datetime.now()``);
- send ``QUICK_WAP_WAY`` for wap (the library hard-codes ``QUICK_WAP_PAY``);
- amounts: integer fen ↔ yuan strings with ``Decimal`` (2 places), never float;
- check ``code`` (the library returns business failures as dicts) and map every
  library exception, transport error and unsigned / badly signed response to
  ``GatewayError``; ``ACQ.TRADE_NOT_EXIST`` (an unscanned precreate) means unpaid;
- verify notifications on the raw body: charset, duplicate fields, sign_type, RSA2
  signature (the library's verifier), notify_time window, and that app_id and
  seller_id are ours.
"""

from __future__ import annotations

import codecs
import dataclasses
import datetime as dt
import http.client
import json
import re
import urllib.error
from urllib.parse import parse_qsl

from alipay import AliPay
from alipay.exceptions import AliPayException, AliPayValidationError
from alipay.utils import AliPayConfig

from linli.payments.gateways.alipay.amounts import fen_to_yuan, yuan_to_fen
from linli.payments.gateways.alipay.states import TABLE
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

__all__ = ["AlipayGateway", "fen_to_yuan", "yuan_to_fen"]

BEIJING = dt.timezone(dt.timedelta(hours=8))
TIME_FORMAT = "%Y-%m-%d %H:%M:%S"
REQUEST_TIMEOUT = 10  # seconds, per HTTP request (urllib)
# Alipay re-sends a notification for about 25 hours; a validly signed one older than
# this is a replay, not a retry.
NOTIFY_MAX_AGE = dt.timedelta(hours=48)
NOTIFY_MAX_AHEAD = dt.timedelta(minutes=10)
MAX_FEN = 100_000_000 * 100

PRODUCT_CODES = {
    PayMode.PRECREATE: "FACE_TO_FACE_PAYMENT",
    PayMode.PAGE: "FAST_INSTANT_TRADE_PAY",
    PayMode.WAP: "QUICK_WAP_WAY",
}
RETRYABLE_SUB_CODES = {"ACQ.SYSTEM_ERROR", "isp.unknown-error", "aop.ACQ.SYSTEM_ERROR"}


def _beijing_time(value: object) -> dt.datetime | None:
    """``yyyy-MM-dd HH:mm:ss[.SSS]`` Beijing time → aware datetime, or None."""
    if not isinstance(value, str) or not value:
        return None
    for pattern in (TIME_FORMAT, TIME_FORMAT + ".%f"):
        try:
            return dt.datetime.strptime(value, pattern).replace(tzinfo=BEIJING)
        except ValueError:
            continue
    return None


def _pem(text: str, kind: str) -> str:
    """Accept keys as PEM or as the bare base64 Alipay's key tool and portal show."""
    text = (text or "").strip()
    if not text or "-----BEGIN" in text:
        return text
    body = "".join(text.split())
    lines = "\n".join(body[i:i + 64] for i in range(0, len(body), 64))
    return f"-----BEGIN {kind}-----\n{lines}\n-----END {kind}-----\n"


class _Client(AliPay):
    """python-alipay-sdk with the request timestamp in Beijing time."""

    def build_body(self, method, biz_content=None, **kwargs):
        data = super().build_body(method, biz_content, **kwargs)
        data["timestamp"] = dt.datetime.now(BEIJING).strftime(TIME_FORMAT)
        return data


class AlipayGateway:
    channel = "alipay"

    def __init__(self, config: MerchantConfig, *, timeout: float = REQUEST_TIMEOUT) -> None:
        self.config = config
        try:
            self._client = _Client(
                appid=config.app_id,
                app_notify_url=config.notify_url or None,
                app_private_key_string=_pem(config.private_key_pem, "PRIVATE KEY"),
                alipay_public_key_string=_pem(config.platform_public_key_pem, "PUBLIC KEY"),
                sign_type="RSA2",
                config=AliPayConfig(timeout=timeout),
            )
        except Exception as exc:  # noqa: BLE001 - key parsing raises ValueError/IndexError/…
            raise GatewayError("CONFIG_ERROR", f"cannot load the Alipay keys: {exc}") from exc
        if not hasattr(self._client, "_gateway"):  # the one private attribute we rely on
            raise GatewayError("CONFIG_ERROR", "python-alipay-sdk has no _gateway attribute")
        if config.gateway_url:
            self._client._gateway = config.gateway_url

    @property
    def gateway_url(self) -> str:
        return self._client._gateway

    # ------------------------------------------------------------ transport

    def _call(self, fn, *args, **kwargs) -> dict:
        """One library call → the verified ``_response`` object (any ``code``), or
        GatewayError when there is no trustworthy answer."""
        try:
            data = fn(*args, **kwargs)
        except AliPayValidationError as exc:
            # A response whose signature does not verify is treated as forged. The
            # request may have been accepted: retry with the same numbers.
            raise GatewayError("RESPONSE_NOT_VERIFIED",
                               "the gateway's response signature did not verify",
                               retryable=True) from exc
        except AliPayException as exc:
            raise self._library_refusal(exc) from exc
        except urllib.error.HTTPError as exc:
            raise GatewayError(f"HTTP_{exc.code}", str(exc.reason),
                               retryable=exc.code >= 500 or exc.code == 429) from exc
        except (urllib.error.URLError, TimeoutError, ConnectionError,
                http.client.HTTPException) as exc:
            raise GatewayError("NETWORK_ERROR", str(exc), retryable=True) from exc
        except (ValueError, KeyError, AttributeError, TypeError) as exc:
            # Not JSON, or JSON without the expected shape (e.g. an HTML error page).
            raise GatewayError("BAD_RESPONSE", f"unreadable gateway response: {exc}",
                               retryable=True) from exc
        except OSError as exc:
            raise GatewayError("NETWORK_ERROR", str(exc), retryable=True) from exc
        if not isinstance(data, dict) or not data.get("code"):
            raise GatewayError("BAD_RESPONSE", "the response has no code", retryable=True)
        return data

    @staticmethod
    def _library_refusal(exc: AliPayException) -> GatewayError:
        """The library raises AliPayException for an ``error_response`` and for a
        response without ``sign``; tell the two apart from the raw text it keeps."""
        raw = getattr(exc, "_AliPayException__message", "") or ""
        try:
            response = json.loads(raw)
        except (TypeError, ValueError):
            response = None
        if isinstance(response, dict):
            error = response.get("error_response")
            if isinstance(error, dict):
                code = str(error.get("code", ""))
                sub_code = str(error.get("sub_code", "")) or code
                return GatewayError(sub_code, str(error.get("sub_msg") or error.get("msg", "")),
                                    retryable=code == "20000" or sub_code in RETRYABLE_SUB_CODES)
            if "sign" not in response:
                return GatewayError("RESPONSE_NOT_SIGNED", "the gateway's response is unsigned",
                                    retryable=True)
        return GatewayError("CLIENT_ERROR", str(exc), retryable=True)

    @staticmethod
    def _failure(data: dict) -> GatewayError:
        code = str(data.get("code", ""))
        sub_code = str(data.get("sub_code") or code)
        return GatewayError(sub_code, str(data.get("sub_msg") or data.get("msg") or ""),
                            retryable=code == "20000" or sub_code in RETRYABLE_SUB_CODES)

    def _check_order(self, data: dict, out_trade_no: str) -> None:
        if data.get("out_trade_no") not in (None, "", out_trade_no):
            raise GatewayError("BAD_RESPONSE", "the response is about another order")

    # ------------------------------------------------------------ orders

    def create(self, request: CreateRequest) -> CreateResult:
        if type(request.amount_fen) is not int or not 0 < request.amount_fen <= MAX_FEN:
            raise GatewayError("PARAM_ERROR", "amount_fen must be a positive integer "
                                              "(at most 100000000 yuan)")
        if request.expires_at.tzinfo is None:
            raise GatewayError("PARAM_ERROR", "expires_at must be timezone-aware")
        if request.mode not in PRODUCT_CODES:
            raise GatewayError("UNSUPPORTED_MODE", f"Alipay cannot pay by {request.mode}")
        common = {
            "subject": request.description[:256],
            "out_trade_no": request.out_trade_no,
            "total_amount": fen_to_yuan(request.amount_fen),
            "time_expire": request.expires_at.astimezone(BEIJING).strftime(TIME_FORMAT),
            "product_code": PRODUCT_CODES[request.mode],
        }
        if request.mode == PayMode.PRECREATE:
            data = self._call(self._client.api_alipay_trade_precreate, **common)
            if data.get("code") != "10000":
                raise self._failure(data)
            self._check_order(data, request.out_trade_no)
            if not data.get("qr_code"):
                raise GatewayError("BAD_RESPONSE", "no qr_code in the response")
            return CreateResult(mode=request.mode, code_url=data["qr_code"], raw=data)
        if request.mode == PayMode.PAGE:
            signed = self._client.api_alipay_trade_page_pay(
                return_url=request.return_url or None, **common)
        else:
            extra = {"quit_url": request.quit_url} if request.quit_url else {}
            signed = self._client.api_alipay_trade_wap_pay(
                return_url=request.return_url or None, **common, **extra)
        return CreateResult(mode=request.mode, redirect_url=f"{self.gateway_url}?{signed}")

    def _trade_status(self, data: dict, out_trade_no: str) -> TradeStatus:
        """A query answer or a notification in our words, by the state table
        (``alipay/states.py``); GatewayError for an unreadable amount."""
        self._check_order(data, out_trade_no)
        word = data.get("trade_status", "")
        word = word if isinstance(word, str) else ""
        try:
            row = TABLE.classify(word, data)
            amount_fen = yuan_to_fen(data.get("total_amount")) if row.state in (
                TradeState.PAID, TradeState.REFUNDED) else None
            return trade_status(
                row, data, out_trade_no=out_trade_no, channel_state=word,
                transaction_id=str(data.get("trade_no") or ""), amount_fen=amount_fen,
                paid_at=_beijing_time(data.get("send_pay_date") or data.get("gmt_payment")),
                raw=data)
        except ValueError:
            raise GatewayError("BAD_RESPONSE", "unreadable total_amount or refund_fee") from None

    def query(self, out_trade_no: str) -> TradeStatus:
        data = self._call(self._client.api_alipay_trade_query, out_trade_no=out_trade_no)
        if data.get("code") == "40004" and data.get("sub_code") == "ACQ.TRADE_NOT_EXIST":
            # A precreate nobody scanned yet, a page/wap nobody logged in to: unpaid.
            return TradeStatus(out_trade_no=out_trade_no, raw=data,
                               state=TABLE.row("TRADE_NOT_EXIST").state)
        if data.get("code") != "10000":
            raise self._failure(data)
        return self._trade_status(data, out_trade_no)

    def close(self, out_trade_no: str) -> TradeStatus:
        data = self._call(self._client.api_alipay_trade_close, out_trade_no=out_trade_no)
        if data.get("code") == "10000":
            self._check_order(data, out_trade_no)
            return TradeStatus(out_trade_no=out_trade_no, state=TradeState.CLOSED,
                               transaction_id=str(data.get("trade_no") or ""), raw=data)
        if data.get("code") == "40004" and data.get("sub_code") == "ACQ.TRADE_NOT_EXIST":
            # Nothing to close at the gateway. NB: an unscanned QR code stays payable
            # until its time_expire; a payment after this is still a payment.
            return TradeStatus(out_trade_no=out_trade_no, state=TradeState.CLOSED, raw=data)
        if data.get("code") == "40004":
            # Typically ACQ.TRADE_STATUS_ERROR: paid meanwhile, or already closed.
            status = self.query(out_trade_no)
            if status.state in (TradeState.PAID, TradeState.REFUNDED, TradeState.CLOSED):
                return status
        raise self._failure(data)

    # ------------------------------------------------------------ refunds

    def refund(self, request: RefundRequest) -> RefundStatus:
        if type(request.refund_fen) is not int or request.refund_fen <= 0:
            raise GatewayError("PARAM_ERROR", "refund_fen must be a positive integer")
        if not request.out_refund_no:
            raise GatewayError("PARAM_ERROR", "out_refund_no is required")
        extra = {"refund_reason": request.reason[:256]} if request.reason else {}
        data = self._call(self._client.api_alipay_trade_refund,
                          refund_amount=fen_to_yuan(request.refund_fen),
                          out_trade_no=request.out_trade_no,
                          out_request_no=request.out_refund_no, **extra)
        if data.get("code") != "10000":
            raise self._failure(data)
        self._check_order(data, request.out_trade_no)
        # Synchronous: 10000 means refunded (fund_change "N" on a repeat of the same
        # out_request_no: refunded once, earlier).
        return RefundStatus(out_refund_no=request.out_refund_no, state=RefundState.SUCCESS,
                            refund_id=str(data.get("trade_no") or ""),
                            refund_fen=request.refund_fen,
                            succeeded_at=_beijing_time(data.get("gmt_refund_pay")), raw=data)

    def query_refund(self, out_trade_no: str, out_refund_no: str) -> RefundStatus:
        data = self._call(self._client.api_alipay_trade_fastpay_refund_query,
                          out_refund_no, out_trade_no=out_trade_no)
        if data.get("code") == "40004" and data.get("sub_code") == "ACQ.TRADE_NOT_EXIST":
            return RefundStatus(out_refund_no=out_refund_no, state=RefundState.NOT_FOUND,
                                raw=data)
        if data.get("code") != "10000":
            raise self._failure(data)
        self._check_order(data, out_trade_no)
        if data.get("out_request_no") not in (None, "", out_refund_no):
            raise GatewayError("BAD_RESPONSE", "the response is about another refund")
        status = data.get("refund_status")
        if not status:  # 10000 without refund_status: not refunded
            return RefundStatus(out_refund_no=out_refund_no, state=RefundState.NOT_FOUND,
                                raw=data)
        if status != "REFUND_SUCCESS":
            return RefundStatus(out_refund_no=out_refund_no, state=RefundState.PROCESSING,
                                raw=data)
        try:
            refund_fen = yuan_to_fen(data.get("refund_amount"))
        except ValueError:
            refund_fen = None
        return RefundStatus(out_refund_no=out_refund_no, state=RefundState.SUCCESS,
                            refund_id=str(data.get("trade_no") or ""), refund_fen=refund_fen,
                            succeeded_at=_beijing_time(data.get("gmt_refund_pay")), raw=data)

    # ------------------------------------------------------------ notifications

    def parse_notification(self, headers: dict[str, str], body: bytes, *,
                           now: dt.datetime) -> Notification:
        params = self._decode_form(headers, body)
        signature = params.pop("sign", "")
        if not signature:
            raise NotificationRejected("missing_signature")
        if params.pop("sign_type", "RSA2") != "RSA2":
            raise NotificationRejected("unsupported_signature_type")
        signed = {k: v for k, v in params.items() if v != ""}
        try:
            verified = self._client.verify(signed, signature)
        except Exception:  # noqa: BLE001 - bad base64 and the like: not a signature
            verified = False
        if not verified:
            raise NotificationRejected("bad_signature")
        sent = _beijing_time(params.get("notify_time"))
        if sent is None:
            raise NotificationRejected("bad_timestamp")
        if now - sent > NOTIFY_MAX_AGE or sent - now > NOTIFY_MAX_AHEAD:
            raise NotificationRejected("stale_timestamp")
        if params.get("app_id") != self.config.app_id:
            raise NotificationRejected("app_id_mismatch")
        if self.config.merchant_id and params.get("seller_id") != self.config.merchant_id:
            raise NotificationRejected("merchant_id_mismatch")
        if params.get("notify_type") != "trade_status_sync":
            raise NotificationRejected("unknown_event")
        out_trade_no = params.get("out_trade_no", "")
        notify_id = params.get("notify_id", "")
        if not out_trade_no or not notify_id or not params.get("trade_status"):
            raise NotificationRejected("malformed_body")
        raw: dict = dict(params)
        if params.get("refund_fee"):
            try:
                raw["refund_fee_fen"] = yuan_to_fen(params["refund_fee"])
            except ValueError:
                raise NotificationRejected("malformed_body") from None
            raw["out_biz_no"] = params.get("out_biz_no", "")
        try:
            trade = self._trade_status(params, out_trade_no)
        except GatewayError:
            raise NotificationRejected("malformed_body") from None
        try:
            yuan_to_fen(params.get("total_amount"))  # readable whatever the state
        except ValueError:
            raise NotificationRejected("malformed_body") from None
        trade = dataclasses.replace(trade, raw=raw)
        return Notification(kind="payment", dedupe_key=notify_id, app_id=params["app_id"],
                            merchant_id=params.get("seller_id", ""), out_trade_no=out_trade_no,
                            trade=trade, raw=raw)

    @staticmethod
    def _decode_form(headers: dict[str, str], body: bytes) -> dict[str, str]:
        """The form body decoded by its ``charset`` field (or the Content-Type's)."""
        try:
            text = body.decode("ascii")  # urlencoded: ASCII only
            pairs = parse_qsl(text, keep_blank_values=True, strict_parsing=bool(text),
                              encoding="latin-1")
        except (UnicodeDecodeError, ValueError):
            raise NotificationRejected("malformed_body") from None
        h = {k.lower(): v for k, v in headers.items()}
        match = re.search(r"charset=([\w-]+)", h.get("content-type", ""), re.I)
        charset = dict(pairs).get("charset") or (match.group(1) if match else "utf-8")
        try:
            codecs.lookup(charset)
            pairs = parse_qsl(text, keep_blank_values=True, encoding=charset, errors="strict")
        except (LookupError, UnicodeDecodeError, ValueError):
            raise NotificationRejected("malformed_body") from None
        params = dict(pairs)
        if len(params) != len(pairs):  # a field given twice: which one was signed?
            raise NotificationRejected("malformed_body")
        return params

    def verify_return(self, params: dict[str, str]) -> bool:
        """Check the signature of the parameters Alipay appends to ``return_url`` (the
        browser coming back after page/wap pay). Not authoritative: only a query or
        a notification says the trade is paid."""
        params = dict(params)
        signature = params.pop("sign", "")
        if not signature or params.pop("sign_type", "RSA2") != "RSA2":
            return False
        if params.get("app_id") != self.config.app_id:
            return False
        try:
            return bool(self._client.verify({k: v for k, v in params.items() if v != ""},
                                            signature))
        except Exception:  # noqa: BLE001 - bad base64 and the like
            return False

    def acknowledge(self, ok: bool) -> Ack:
        return Ack(status=200, body=b"success" if ok else b"fail")
