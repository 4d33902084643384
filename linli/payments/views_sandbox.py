"""The sandbox channel's "pay" page, ``/pay/sandbox/<out_trade_no>/``, clearly labelled
模拟支付（非真实资金）. Paying makes the sandbox gateway mark its trade paid and deliver
its signed notification to the notification view — the same verification and apply
code as a real gateway's notification."""

from __future__ import annotations

from django.http import Http404
from django.shortcuts import render
from django.test import RequestFactory
from django.utils.translation import gettext as _
from django.views.decorators.http import require_http_methods

from linli.money import format_fen
from linli.payments.gateways import gateway_for, sandbox_enabled
from linli.payments.gateways.base import GatewayError
from linli.payments.models import Channel, PaymentOrder
from linli.payments.views_notify import notify


def sandbox_deliver(order: PaymentOrder, headers: dict[str, str], body: bytes) -> int:
    """Deliver a sandbox notification to the notification view; returns its status."""
    meta = {f"HTTP_{k.upper().replace('-', '_')}": v for k, v in headers.items()
            if k != "content-type"}
    request = RequestFactory().post(
        order.account.notify_path(), data=body, content_type=headers.get("content-type", ""),
        REMOTE_ADDR="127.0.0.1", **meta,
    )
    response = notify(request, Channel.SANDBOX, order.account_id)
    return response.status_code


@require_http_methods(["GET", "POST"])
def sandbox_page(request, out_trade_no: str):
    order = (PaymentOrder.objects.select_related("account")
             .filter(out_trade_no=out_trade_no, channel=Channel.SANDBOX).first())
    if order is None or not sandbox_enabled():
        raise Http404("no such order")
    message = ""
    if request.method == "POST":
        gateway = gateway_for(order.account.config())
        try:
            status = gateway.pay(order.out_trade_no)
            headers, body = gateway.notification_for(status)
            code = sandbox_deliver(order, headers, body)
            message = (_("Paid (simulated).") if code == 200
                       else _("Paid; the notification was not accepted yet."))
        except GatewayError as exc:
            message = _("The payment failed: %(error)s") % {"error": exc.code}
        order.refresh_from_db()
    return render(request, "payments/sandbox_pay.html", {
        "order": order, "amount": format_fen(order.amount_fen, symbol=False), "message": message,
        "can_pay": order.status == PaymentOrder.Status.PENDING,
    })
