"""Scan to pay at the counter (扫码收款): the cashier ticks bills, chooses WeChat Pay or
Alipay (or, in the demo, the sandbox), and the owner scans the QR code shown on the
screen with their phone. The order is an ordinary payment order (``order_create``,
payer = the cashier, so the cashier's scope and permission decide); the money arrives
by the gateway's notification like any online payment, and the page follows the order
until it is paid, then links to the payment and its receipt.
"""

from __future__ import annotations

from django.contrib import admin, messages
from django.contrib.admin.views.decorators import staff_member_required
from django.contrib.auth.decorators import permission_required
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect, JsonResponse
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_POST

from linli.billing.selectors import bill_label
from linli.core.http import client_ip
from linli.counter import selectors as sel
from linli.counter.forms import KEY_RE
from linli.money import format_fen
from linli.payments.gateways import sandbox_enabled
from linli.payments.gateways.base import PayMode
from linli.payments.models import Channel, MerchantAccount, PaymentOrder
from linli.payments.orders import OrderError, order_cancel, order_create
from linli.payments.qr import qr_svg, scan_page_url
from linli.staff.scope import community_ids_for

PAY_PERMISSION = "payments.add_payment"
# The QR-code mode of each channel a phone can scan.
SCAN_MODES = {Channel.WECHAT: PayMode.NATIVE, Channel.ALIPAY: PayMode.PRECREATE,
              Channel.SANDBOX: PayMode.SANDBOX}


def scan_channels(community_id: int) -> list[tuple[str, str]]:
    """(channel, label) of the community's enabled accounts a phone can pay by scanning."""
    found = set(MerchantAccount.objects.filter(community_id=community_id, enabled=True,
                                               channel__in=list(SCAN_MODES))
                .values_list("channel", flat=True))
    if not sandbox_enabled():
        found.discard(Channel.SANDBOX)
    return [(c.value, c.label) for c in SCAN_MODES if c in found]


@staff_member_required
@permission_required(PAY_PERMISSION, raise_exception=True)
@require_POST
def scan_start(request: HttpRequest, unit_id: int) -> HttpResponse:
    unit = sel.unit_in_scope(community_ids_for(request.user), unit_id)
    if unit is None:
        raise Http404("unit not found")
    back = reverse("counter:unit", args=[unit.pk])
    channel = request.POST.get("scan_channel", "")
    key = request.POST.get("key", "")
    try:
        bill_ids = sorted({int(v) for v in request.POST.getlist("bills")})
    except ValueError:
        bill_ids = []
    if channel not in dict(scan_channels(unit.community_id)):
        messages.error(request, _("This community does not take payments by this channel."))
        return HttpResponseRedirect(back)
    if not KEY_RE.match(key):
        messages.error(request, _("The form was incomplete; nothing was recorded. Try again."))
        return HttpResponseRedirect(back)
    if not bill_ids:
        messages.error(request, _("Tick at least one bill to pay."))
        return HttpResponseRedirect(back)
    try:
        order = order_create(
            payer=request.user, channel=channel, mode=SCAN_MODES[Channel(channel)],
            idempotency_key=f"counter-scan:u{unit.pk}:{key}:{channel}", unit=unit,
            bill_ids=bill_ids, client_ip=client_ip(request),
        )
    except OrderError as exc:
        messages.error(request, " ".join(exc.messages))
        return HttpResponseRedirect(back)
    return HttpResponseRedirect(reverse("counter:order", args=[order.pk]))


def _order_or_404(request: HttpRequest, pk: int) -> PaymentOrder:
    order = (PaymentOrder.objects.filter(pk=pk, community_id__in=community_ids_for(request.user))
             .select_related("unit__building", "unit__community", "account", "payment").first())
    if order is None:
        raise Http404("order not found")
    return order


def _state(order: PaymentOrder) -> dict:
    payment_url = (reverse("counter:payment", args=[order.payment_id])
                   if order.payment_id else "")
    return {"status": order.status, "label": order.get_status_display(),
            "open": order.is_open, "payment_url": payment_url}


def _scan_target(order: PaymentOrder) -> tuple[str, str]:
    """(what the QR code holds, a link a demo user can open instead of scanning)."""
    if order.channel == Channel.SANDBOX:
        return order.redirect_url, order.redirect_url
    return order.code_url, scan_page_url(order)


@staff_member_required
@permission_required(PAY_PERMISSION, raise_exception=True)
@require_GET
def order_page(request: HttpRequest, pk: int) -> HttpResponse:
    order = _order_or_404(request, pk)
    code, demo_link = _scan_target(order)
    context = {
        **admin.site.each_context(request),
        "title": _("Scan to pay · %(unit)s") % {"unit": order.unit},
        "order": order,
        "amount": format_fen(order.amount_fen),
        "qr": qr_svg(code, title=order.out_trade_no) if code and order.is_open else "",
        "demo_link": demo_link if order.is_open else "",
        "sandbox": order.channel == Channel.SANDBOX,
        "state": _state(order),
        "status_url": reverse("counter:order-status", args=[order.pk]),
        "unit_url": reverse("counter:unit", args=[order.unit_id]),
        "lines": [
            {"label": bill_label(line.bill), "due": line.bill.due_date,
             "amount": format_fen(line.principal_fen + line.late_fee_fen)}
            for line in order.lines.select_related("bill__fee_item", "bill__parking_space")
            .order_by("bill__due_date", "bill_id")
        ],
    }
    return TemplateResponse(request, "counter/order.html", context)


@staff_member_required
@permission_required(PAY_PERMISSION, raise_exception=True)
@require_GET
def order_status(request: HttpRequest, pk: int) -> JsonResponse:
    return JsonResponse(_state(_order_or_404(request, pk)))


@staff_member_required
@permission_required(PAY_PERMISSION, raise_exception=True)
@require_POST
def order_close(request: HttpRequest, pk: int) -> HttpResponse:
    order = order_cancel(_order_or_404(request, pk), acting_user=request.user)
    if order.status == PaymentOrder.Status.PAID:
        messages.info(request, _("This order was paid before it could be cancelled."))
    return HttpResponseRedirect(reverse("counter:order", args=[order.pk]))
