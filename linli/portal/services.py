"""The portal's writes: starting a payment (bills or a prepaid top-up) and asking the
gateway about an order the owner says they paid. Both go through the payments app's
services (``order_create``, ``trade_apply``); nothing here moves money by itself."""

from __future__ import annotations

import logging
import re

from django.urls import reverse
from django.utils.translation import pgettext

from linli.core.http import client_ip
from linli.estate.models import Unit
from linli.payments.gateways import gateway_for
from linli.payments.gateways.base import GatewayError, TradeState
from linli.payments.models import MerchantAccount, PaymentOrder
from linli.payments.orders import OrderError, order_create, trade_apply
from linli.portal.paymodes import (
    PayOption,
    client_kind,
    jsapi_possible,
    pay_options,
    wechat_openid,
)

logger = logging.getLogger("linli.portal")
# What ``views_pay.new_request_key`` writes into a form (token_urlsafe); anything else was
# not sent by our page.
REQUEST_KEY = re.compile(r"[A-Za-z0-9_-]{8,64}")


def options_for(request, community_id: int) -> tuple[list[PayOption], dict]:
    """The flows this browser may use for the community, and its accounts by channel."""
    accounts = {a.channel: a for a in MerchantAccount.objects.filter(
        community_id=community_id, enabled=True)}
    kind = client_kind(request.META.get("HTTP_USER_AGENT", ""))
    jsapi = kind == "wechat" and jsapi_possible(request, accounts.get("wechat"))
    return pay_options(accounts, kind, jsapi=jsapi), accounts


def portal_order_create(request, *, unit: Unit, option_key: str, request_key: str,
                        bill_ids: list[int] | None = None,
                        topup_fen: int | None = None) -> PaymentOrder:
    """Start (or, for a repeated ``request_key``, find again) the owner's order.

    ``request_key`` is the random key rendered into the form, so a double tap, the back
    button or a reload re-sends the same key and gets the same order back."""
    if not REQUEST_KEY.fullmatch(request_key or ""):
        raise OrderError(pgettext("portal", "This page is out of date. Please open it again."))
    options, accounts = options_for(request, unit.community_id)
    option = next((o for o in options if o.key == option_key), None)
    if option is None:
        raise OrderError(pgettext("portal", "Choose a way to pay."))
    return_url = request.build_absolute_uri(reverse("portal:order-return", args=[request_key]))
    client_info = {"return_url": return_url,
                   "quit_url": request.build_absolute_uri(reverse("portal:home"))}
    if option.mode == "jsapi":
        client_info["openid"] = wechat_openid(request, accounts.get(option.channel))
        if not client_info["openid"]:  # the views authorize first (views_pay)
            raise OrderError(pgettext("portal", "WeChat has not confirmed who is paying. "
                                                "Please try again."))
    return order_create(
        payer=request.user, channel=option.channel, mode=option.mode,
        idempotency_key=request_key, unit=unit,
        bill_ids=None if topup_fen is not None else bill_ids,
        client_ip=client_ip(request), client_info=client_info,
        topup_fen=topup_fen,
    )


def order_refresh(order: PaymentOrder) -> PaymentOrder:
    """Ask the gateway whether an open order was paid (the owner pressed "I have paid"
    and the notification has not come); record the payment if so. Errors are logged:
    the janitor asks again within a minute."""
    if not order.is_open or order.status == PaymentOrder.Status.CREATED:
        return order
    try:
        status = gateway_for(order.account.config()).query(order.out_trade_no)
        if status.state == TradeState.PAID:
            trade_apply(order.account, status, source="query")
    except GatewayError as exc:
        logger.warning("portal: query of %s failed: %s", order.out_trade_no, exc)
    order.refresh_from_db()
    return order
