"""Notifications: encrypted resources, signed deliveries on the real retry schedule,
SIGNTEST probes, holding and releasing, and fault injection."""

from __future__ import annotations

import base64
import json
import secrets
import uuid

from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from linli.paysim.common import (
    WECHAT_RETRY_SCHEDULE,
    Delivery,
)
from linli.paysim.wechat.common import TIMESTAMP_WINDOW, Faults, _alnum, _SignedDelivery, rfc3339


class _NotifyMixin:
    """The notify part of ``WeChatSim``."""

    def notification_body(self, mchid: str, event_type: str, summary: str,
                          original_type: str, plaintext: dict) -> bytes:
        merchant = self.merchants[mchid]
        nonce = _alnum(12)
        ciphertext = AESGCM(merchant.api_v3_key.encode()).encrypt(
            nonce.encode(),
            json.dumps(plaintext, ensure_ascii=False, separators=(",", ":")).encode(),
            original_type.encode())
        body = {
            "id": str(uuid.uuid4()),
            "create_time": rfc3339(self.clock()),
            "resource_type": "encrypt-resource",
            "event_type": event_type,
            "summary": summary,
            "resource": {
                "original_type": original_type,
                "algorithm": "AEAD_AES_256_GCM",
                "ciphertext": base64.b64encode(ciphertext).decode(),
                "associated_data": original_type,
                "nonce": nonce,
            },
        }
        return json.dumps(body, ensure_ascii=False, separators=(",", ":")).encode()

    def transaction_notification(self, out_trade_no: str,
                                 mchid: str | None = None) -> tuple[dict[str, str], bytes]:
        """The ``TRANSACTION.SUCCESS`` notification for the order as it is now, as
        (headers, body), signed and encrypted but not sent. WeChat notifies payments
        only, so a notification carrying another trade_state reaches a receiver only
        this way (tests of how every state would be read)."""
        with self._lock:
            order = self._find_order(out_trade_no, mchid)
            self._expire_if_due(order)
            data = self._transaction(order)
        body = self.notification_body(order.mchid, "TRANSACTION.SUCCESS", "支付成功",
                                      "transaction", data)
        return {"Content-Type": "application/json", **self.sign_headers(body)}, body

    def _notify(self, mchid: str, url: str, event_type: str, summary: str,
                original_type: str, plaintext: dict, *, label: str) -> list[Delivery]:
        url = url or self.merchants[mchid].notify_url
        if not url:
            return []
        body = self.notification_body(mchid, event_type, summary, original_type, plaintext)
        f = self.faults
        with self._lock:
            copies = 1
            if f.notify_duplicate_next > 0:
                f.notify_duplicate_next -= 1
                copies = 2
            serial = timestamp = None
            bad_signature = False
            if f.notify_wrong_serial_next > 0:
                f.notify_wrong_serial_next -= 1
                serial = self._other_key_id()
            if f.notify_stale_next > 0:
                f.notify_stale_next -= 1
                timestamp = int(self.clock()) - 2 * TIMESTAMP_WINDOW
            if f.notify_bad_signature_next > 0:
                f.notify_bad_signature_next -= 1
                bad_signature = True

        def signer(payload: bytes) -> dict[str, str]:
            headers = self.sign_headers(payload, serial=serial, timestamp=timestamp)
            if bad_signature:
                forged = bytearray(base64.b64decode(headers["Wechatpay-Signature"]))
                forged[0] ^= 0xFF
                headers["Wechatpay-Signature"] = base64.b64encode(bytes(forged)).decode()
            return {"Content-Type": "application/json", "User-Agent": "Mozilla/4.0", **headers}

        return [self._submit(url, body, signer, f"{event_type} {label}") for _ in range(copies)]

    def _submit(self, url: str, body: bytes, signer, label: str) -> Delivery:
        delivery = _SignedDelivery(url=url, body=body, headers={},
                                   is_ack=lambda status, _body: status in (200, 204),
                                   schedule=WECHAT_RETRY_SCHEDULE, label=label)
        delivery.signer = signer
        with self._lock:
            self.deliveries.append(delivery)
        return self.dispatcher.submit(delivery)

    def send_signtest_probe(self, mchid: str, url: str = "") -> Delivery:
        """WeChat's probe traffic: a notification signed ``WECHATPAY/SIGNTEST/…`` that a
        receiver must refuse."""
        url = url or self.merchants[mchid].notify_url
        body = self.notification_body(mchid, "TRANSACTION.SUCCESS", "支付成功", "transaction",
                                      {"probe": True})

        def signer(payload: bytes) -> dict[str, str]:
            headers = self.sign_headers(payload)
            headers["Wechatpay-Signature"] = "WECHATPAY/SIGNTEST/" + base64.b64encode(
                secrets.token_bytes(64)).decode()
            return {"Content-Type": "application/json", **headers}

        return self._submit(url, body, signer, "SIGNTEST")

    def hold_notifications(self) -> None:
        self.dispatcher.hold()

    def release_notifications(self, order: str = "fifo") -> None:
        """Send what is held, as queued (``fifo``) or newest first (``reverse``)."""
        self.dispatcher.release((lambda items: list(reversed(items)))
                                if order == "reverse" else None)

    def inject(self, kind: str, count: int = 1, **options) -> None:
        """Fault injection: kind is error | unsigned | wrong_serial | stale_timestamp |
        notify_wrong_serial | notify_stale_timestamp | notify_bad_signature |
        notify_duplicate | refund_not_enough | refund_error_after_accept (the refund is
        applied, the answer is a 500) (next ``count``), or latency (``seconds``)."""
        f = self.faults
        with self._lock:
            if kind == "latency":
                f.latency = float(options.get("seconds", count))
            elif kind == "error":
                f.error_next, f.error_status = count, int(options.get("status", 500))
            else:
                attr = {
                    "unsigned": "unsigned_next", "wrong_serial": "wrong_serial_next",
                    "stale_timestamp": "stale_next",
                    "notify_wrong_serial": "notify_wrong_serial_next",
                    "notify_stale_timestamp": "notify_stale_next",
                    "notify_bad_signature": "notify_bad_signature_next",
                    "notify_duplicate": "notify_duplicate_next",
                    "refund_not_enough": "refund_not_enough_next",
                    "refund_error_after_accept": "refund_error_after_accept_next",
                }.get(kind)
                if attr is None:
                    raise ValueError(f"unknown fault {kind!r}")
                setattr(f, attr, count)

    def clear_faults(self) -> None:
        with self._lock:
            self.faults = Faults()

    def delivery_log(self) -> list[dict]:
        with self._lock:
            deliveries = list(self.deliveries)
        return [{
            "id": d.id, "label": d.label, "url": d.url,
            "acknowledged": d.acknowledged, "given_up": d.given_up,
            "attempts": [{"at": at, "status": status, "body": body.decode("utf-8", "replace")}
                         for at, status, body in d.attempts],
        } for d in deliveries]
