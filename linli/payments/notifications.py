"""Receiving gateway notifications: verify, store, apply, then answer.

The order of steps is the point:

1. The request was read bounded (``notify_limits.delivery_read``): a body larger than
   any real notification is refused unread.
2. The channel's adapter verifies it (``parse_notification``) before anything is
   written. A refused one is stored truncated (``notify_limits.rejected_store``: the
   start of the body, size, hash, sender, reason; deleted after a retention period;
   only counted once its sender has sent too many), logged as a security event and
   answered with the protocol's failure (a 4xx: the operator's log is for our own
   errors, not for what strangers send); nothing else changes. Whatever the body holds
   (NUL bytes, bad encodings, the wrong content type, nothing), the answer is the
   protocol's, never a server error.
3. A verified one is stored whole, in its own small transaction (the gateway's evidence,
   kept for ever), then a payment is applied by ``orders.trade_apply`` in one
   transaction.
4. Only after that transaction has committed do we acknowledge. A crash between commit
   and answer makes the gateway deliver again, and the redelivery finds the transaction
   already applied and is simply acknowledged.

We acknowledge only what is safely recorded. A validly signed payment for an order we
never made is money in our merchant account all the same: it is held in suspense,
flagged for staff, and acknowledged.
"""

from __future__ import annotations

import logging

from django.conf import settings
from django.db import transaction
from django.dispatch import Signal
from django.utils import timezone

from linli.core.audit import audit_record
from linli.core.models import AuditEvent
from linli.payments.auto_refunds import refund_settle
from linli.payments.gateways import failure_answer, gateway_for
from linli.payments.gateways.base import Ack, Gateway, MerchantConfig, NotificationRejected
from linli.payments.hooks import refund_notified
from linli.payments.models import GatewayNotification, MerchantAccount, OrderRefund
from linli.payments.notify_limits import (
    Delivery,
    rejected_store,
    request_headers,  # noqa: F401 - re-exported for callers
    verified_fields,
)
from linli.payments.trades import Applied, trade_apply

logger = logging.getLogger("linli.payments")

# Sent after a notification's changes committed and before the answer is written.
notification_applied = Signal()

Outcome = GatewayNotification.Outcome


# Adapters by merchant configuration, kept across requests: building a WeChat adapter
# loads the merchant's RSA private key (the library's constructor does), which costs
# ~50 ms of CPU (key checks) — more than verifying, decrypting and applying a
# notification together.
# The key is the whole configuration, so a changed key or secret makes a new adapter.
_GATEWAYS: dict[MerchantConfig, Gateway] = {}
_GATEWAYS_MAX = 64


def _gateway(account: MerchantAccount) -> Gateway:
    config = account.config()
    gateway = _GATEWAYS.get(config)
    if gateway is None:
        if len(_GATEWAYS) >= _GATEWAYS_MAX:
            _GATEWAYS.clear()
        gateway = _GATEWAYS[config] = gateway_for(config)
    return gateway


def notification_receive(account: MerchantAccount, *, headers: dict[str, str], body: bytes,
                         remote_addr: str | None, size: int | None = None,
                         complete: bool = True) -> Ack:
    """Handle one notification request for ``account``; returns the answer to send.

    ``complete=False``: the body was too large and ``body`` is only its start
    (``size`` as declared); it is refused unverified."""
    delivery = Delivery(headers, body, len(body) if size is None else size, complete)
    if not complete or len(body) > settings.LINLI_NOTIFY_MAX_BYTES:
        return _rejected(account, delivery, remote_addr, "too_large",
                         failure_answer(account.channel, 413, "body too large"))
    try:
        gateway = _gateway(account)
    except Exception:  # a merchant account that cannot be used: ours to fix
        logger.exception("merchant account %s: its gateway adapter cannot be built", account)
        return failure_answer(account.channel, 503, "merchant account unavailable")
    refused = failure_answer(account.channel, 400, "notification not verified")
    try:
        parsed = gateway.parse_notification(headers, body, now=timezone.now())
    except NotificationRejected as exc:
        return _rejected(account, delivery, remote_addr, exc.reason, refused)
    except Exception as exc:  # noqa: BLE001 - a library choking on input it never expected
        return _rejected(account, delivery, remote_addr, f"unreadable: {type(exc).__name__}",
                         refused, trace=True)
    with transaction.atomic():
        note = GatewayNotification.objects.create(
            channel=account.channel, account=account, community_id=account.community_id,
            remote_addr=remote_addr, **verified_fields(headers, body),
        )
    try:
        if parsed.kind == "refund" and parsed.refund is not None:
            outcome = _refund(parsed)
            recorded = True
        elif parsed.trade is not None:
            applied = trade_apply(account, parsed.trade, source="notification", notification=note)
            outcome, recorded = applied.outcome, applied.recorded
        else:
            outcome, recorded = Outcome.IGNORED, True
    except Exception as exc:  # stored raw; the gateway will deliver again
        logger.exception("notification #%s for %s failed", note.pk, account)
        _finish(note, Outcome.ERROR, error=f"{type(exc).__name__}: {exc}",
                out_trade_no=parsed.out_trade_no)
        return gateway.acknowledge(False)
    if outcome not in (Outcome.APPLIED, Outcome.DUPLICATE, Outcome.ANOMALY,
                       Outcome.UNKNOWN_ORDER):  # those were written with the money
        _finish(note, outcome, out_trade_no=parsed.out_trade_no)
    notification_applied.send(sender=GatewayNotification, notification=note, outcome=outcome)
    return gateway.acknowledge(recorded)


def _rejected(account: MerchantAccount, delivery: Delivery, remote_addr: str | None,
              reason: str, answer: Ack, *, trace: bool = False) -> Ack:
    """Store (truncated), audit and log a refused delivery, unless its sender is over
    the limit (then it is only counted); answer the protocol's failure either way."""
    note = rejected_store(account, delivery, remote_addr=remote_addr, reason=reason)
    if note is None:
        return answer
    audit_record(actor=None, action=AuditEvent.Action.SECURITY, obj=note,
                 community_id=account.community_id, ip=remote_addr,
                 summary=f"{account.channel} notification rejected: {reason}")
    logger.warning("notification #%s for %s rejected: %s", note.pk, account, reason,
                   exc_info=trace)
    return answer


def _finish(note: GatewayNotification, outcome: str, *, error: str = "", out_trade_no: str = "",
            transaction_id: str = "") -> None:
    GatewayNotification.objects.filter(pk=note.pk).update(
        outcome=outcome, error=error[:255], out_trade_no=out_trade_no[:64],
        transaction_id=(transaction_id or "")[:64],
    )


def _refund(parsed) -> str:
    """A refund result for one of our automatic refunds, or for a payout of the refunds
    app (owners' applications); anything else is stored only."""
    refund = OrderRefund.objects.filter(out_refund_no=parsed.refund.out_refund_no).first()
    if refund is None:
        return _application_refund(parsed)
    refund_settle(refund.pk, parsed.refund.state, refund_id_at_gateway=parsed.refund.refund_id,
                  reason=parsed.refund.reason)
    return Outcome.APPLIED


def _application_refund(parsed) -> str:
    """A refund result for a payout of the refunds app (owners' applications), offered
    through ``hooks.refund_notified``."""
    return Outcome.APPLIED if refund_notified.first_true(parsed) else Outcome.IGNORED


assert Applied.UNKNOWN_ORDER == Outcome.UNKNOWN_ORDER
