"""Calls to the gateway about an order (made outside any database transaction: no row
lock is ever held over HTTP)."""

from __future__ import annotations

import logging

from django.db import transaction

from linli.payments.gateways import gateway_for
from linli.payments.gateways.base import CreateRequest, GatewayError, PayMode
from linli.payments.models import PaymentOrder
from linli.payments.order_states import order_end

logger = logging.getLogger("linli.payments")


def order_create_at_gateway(order: PaymentOrder) -> None:
    """Create the gateway order and store what it returned. Call it outside any
    transaction (``order_create`` does): no row lock may be held over HTTP."""
    gateway = gateway_for(order.account.config())
    try:
        result = gateway.create(CreateRequest(
            out_trade_no=order.out_trade_no, amount_fen=order.amount_fen,
            description=order.description, expires_at=order.expires_at,
            mode=PayMode(order.mode), payer_openid=order.client_info.get("openid", ""),
            payer_ip=order.client_ip or "", return_url=order.client_info.get("return_url", ""),
            quit_url=order.client_info.get("quit_url", ""),
        ))
    except GatewayError as exc:
        logger.warning("order %s: gateway create failed: %s", order.out_trade_no, exc)
        if exc.retryable:
            # It may exist at the gateway: leave it "created"; the janitor settles it.
            PaymentOrder.objects.filter(pk=order.pk).update(gateway_error=str(exc)[:255])
            return
        with transaction.atomic():
            locked = PaymentOrder.objects.select_for_update(no_key=True).get(pk=order.pk)
            if locked.status == PaymentOrder.Status.CREATED:
                order_end(locked, PaymentOrder.Status.FAILED, error=str(exc))
        return
    PaymentOrder.objects.filter(pk=order.pk, status=PaymentOrder.Status.CREATED).update(
        status=PaymentOrder.Status.PENDING, code_url=result.code_url,
        redirect_url=result.redirect_url, jsapi_params=result.jsapi_params, gateway_error="",
    )
